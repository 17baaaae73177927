"""Pre-flight: a training that cannot run here is blocked in the plan, and apply writes nothing for it
(issue 12: validate and pre-flight everything before the first change). Real git repository, real
SQLite store, the CLI in-process; nothing trains."""

from __future__ import annotations

import json

import pytest

from qspec.registry.testing import client_for

IBM = """\
apiVersion: qspec/v1
kind: Experiment
metadata: {name: h2-hardware}
spec:
  task: vqe
  hamiltonian: {terms: {ZZ: 1.0, XX: 0.5}}
  circuit: {qubits: 2, ansatz: {type: real_amplitudes, reps: 1}}
  backend: {target: "ibm:ibm_torino", shots: 100}
---
apiVersion: qspec/v1
kind: Model
metadata: {name: h2-hardware}
spec: {experiment: h2-hardware}
---
apiVersion: qspec/v1
kind: Deployment
metadata: {name: h2-hardware}
spec: {model: h2-hardware, stages: {staging: {track: HEAD}}}
"""

# 28 qubits, exact: every training sample's state is 4 GiB on the numpy path.
WIDE = """\
apiVersion: qspec/v1
kind: Experiment
metadata: {name: cancer-28}
spec:
  task: classification
  data: {source: "sklearn:breast_cancer", classes: [0, 1], features: 28}
  circuit: {qubits: 28, feature_map: {type: angle}, ansatz: {type: real_amplitudes, reps: 1}}
  training: {optimizer: {name: cobyla, maxiter: 5}}
---
apiVersion: qspec/v1
kind: Model
metadata: {name: cancer-28}
spec: {experiment: cancer-28}
"""


def registry_is_empty(uri: str) -> bool:
    client = client_for(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    return not client.search_registered_models() and not runs


def test_an_ibm_target_without_a_token_is_blocked_in_the_plan_and_apply_writes_nothing(
        spec_repo, run_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QISKIT_IBM_TOKEN", raising=False)  # and HOME is an empty test home: no saved account
    _, uri = spec_repo({"specs/hw.yaml": IBM})
    plan = run_cli("plan")
    assert plan.code == 0, plan.err
    assert "! blocked" in plan.out and "no IBM Quantum account" in plan.out and "QISKIT_IBM_TOKEN" in plan.out
    assert "create-model" not in plan.out and "(2 blocked)" in plan.out  # the build, and staging's alias
    applied = run_cli("apply", "--auto-approve")
    assert applied.code == 1  # blocked: apply did not reconcile what it was asked to
    assert "0 done" in applied.out and "blocked" in applied.out
    assert "error: 2 items stayed blocked: h2-hardware#" in applied.err and "--allow-blocked" in applied.err
    assert registry_is_empty(uri)  # no registered model, no FAILED run


def test_a_training_past_the_memory_budget_is_blocked_with_the_figure(spec_repo, run_cli) -> None:
    _, uri = spec_repo({"specs/wide.yaml": WIDE})
    plan = run_cli("plan", "--max-memory", "8GiB", "--format", "json")
    assert plan.code == 0, plan.err
    (item,) = json.loads(plan.out)["items"]
    assert (item["action"], item["code"]) == ("blocked", "memory-exceeded")
    assert "TiB of memory at its peak, more than the 8.0 GiB it may use" in item["reason"]
    assert "fewer qubits" in item["reason"]
    applied = run_cli("apply", "--auto-approve", "--max-memory", "8GiB", "--allow-blocked")
    assert applied.code == 0 and "memory" in applied.out
    assert registry_is_empty(uri)


def test_the_memory_budget_comes_from_the_environment_and_bad_sizes_are_errors(
        spec_repo, run_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    spec_repo({"specs/wide.yaml": WIDE})
    monkeypatch.setenv("QSPEC_MAX_MEMORY", "64TiB")  # roomy enough: the training is planned
    assert "+ train" in run_cli("plan").out
    monkeypatch.setenv("QSPEC_MAX_MEMORY", "1GiB")
    assert "more than the 1.0 GiB it may use" in run_cli("plan").out
    bad = run_cli("plan", "--max-memory", "lots")
    assert bad.code == 1 and "--max-memory: 'lots' is not a memory size" in bad.err and "Traceback" not in bad.err
