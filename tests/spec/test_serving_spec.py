"""``stages.<stage>.serving``: validated like every other field (units, ranges, max >= min, a target
the model can run on), each problem with its line, key path and a hint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qspec.spec.models import ServingSpec
from tests.spec.test_validate import DEPLOYMENT, EXPERIMENT, MODEL, edit

SERVED = edit(DEPLOYMENT, "production: {ref: v1.0}",
              'production:\n      ref: v1.0\n      serving: {target: aer, shots: 1024, replicas: {min: 1, max: 5}, '
              'resources: {cpu: "2", memory: 4Gi}}')


def validate(run_cli, tmp_path: Path, deployment: str) -> tuple[int, list[dict[str, object]]]:
    (tmp_path / "specs").mkdir(exist_ok=True)
    (tmp_path / "specs" / "iris.yaml").write_text("---\n".join([EXPERIMENT, MODEL, deployment]))
    result = run_cli("validate", "--format", "json", cwd=tmp_path)
    return result.code, json.loads(result.out)["problems"] if result.code else []


def test_the_issue_example_validates(run_cli, tmp_path: Path) -> None:
    code, problems = validate(run_cli, tmp_path, SERVED)
    assert code == 0, problems


def serving(text: str) -> str:
    return edit(SERVED, '{target: aer, shots: 1024, replicas: {min: 1, max: 5}, resources: {cpu: "2", memory: 4Gi}}',
                text)


# The serving block, then (key path under spec.stages.production.serving, message, hint) of one problem.
BAD = {
    "max below min": ("{replicas: {min: 3, max: 2}}", "replicas", "max 2 is less than min 3", "set max to 3"),
    "autoscaling without a cpu request": ("{replicas: {min: 1, max: 3}}", "", "autoscale on CPU, but resources.cpu",
                                          'resources: {cpu: "1"}'),
    "zero replicas": ("{replicas: {min: 0, max: 2}}", "replicas.min", "greater than or equal to 1", "1 to 1000"),
    "too many replicas": ("{replicas: {max: 100000}}", "replicas.max", "less than or equal to 1000", "1 to 1000"),
    "memory in GB": ("{resources: {memory: 4GB}}", "resources.memory", "'4GB' is not a memory quantity",
                     "write the unit G or Gi"),
    "memory in lower case": ("{resources: {memory: 4gi}}", "resources.memory", "'4gi' is not a memory quantity",
                             "write the unit Gi;"),
    "memory in millibytes": ("{resources: {memory: 512m}}", "resources.memory", "not a memory quantity",
                             "write the unit M or Mi"),
    "memory without unit": ("{resources: {memory: 4}}", "resources.memory", "has no unit", "4Gi"),
    "negative cpu": ('{resources: {cpu: "-1"}}', "resources.cpu", "not a CPU quantity", "500m"),
    "cpu in cores word": ('{resources: {cpu: "2 cores"}}', "resources.cpu", "not a CPU quantity", "millicores"),
    "zero cpu": ('{resources: {cpu: "0"}}', "resources.cpu", "not a CPU quantity", "500m"),
    "unknown target": ("{target: aer2}", "target", "unknown backend target", "fake:<device>"),
    "unknown fake device": ("{target: 'fake:manilla'}", "target", "unknown fake device", "did you mean fake:manila"),
    "too many shots": ("{shots: 10000000}", "shots", "less than or equal to 1000000", "1 to 1,000,000"),
    "zero shots": ("{shots: 0}", "shots", "greater than or equal to 1", "null for exact"),
    "unknown key": ("{replica: {min: 1}}", "replica", "unknown key", "replicas"),
}

# Cross-resource: the target against the model's circuit (4 qubits), on a stage that tracks HEAD. A
# ref stage serves the Experiment at its ref, which validation (reading no git) cannot see: the plan
# checks it there (tests/plan/test_desired.py).
ACROSS = {
    "device too small for the model": ("{target: 'fake:armonk'}", "target",
                                       "the model's circuit (iris-vqc) needs 4 qubits, fake:armonk has 1",
                                       "larger device"),
    "hardware without shots": ("{target: 'ibm:ibm_torino'}", "shots", "shots cannot be null", "shots: 4096"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_serving_is_reported_with_its_key_and_a_hint(run_cli, tmp_path: Path, case: str) -> None:
    block, path, message, hint = BAD[case]
    code, problems = validate(run_cli, tmp_path, serving(block))
    assert code == 1
    full = "spec.stages.production.serving" + (f".{path}" if path else "")
    found = [p for p in problems if p["path"] == full and message in str(p["message"])]
    assert found, problems
    assert hint in str(found[0]["hint"]), found[0]
    assert found[0]["line"] == 41, found[0]  # the serving block's line in the file


def test_defaults_and_canonical_form() -> None:
    spec = ServingSpec.model_validate({"resources": {"cpu": 0.5, "memory": "512Mi"}}, strict=False)
    assert spec.target == "aer" and spec.shots is None
    assert (spec.replicas.min, spec.replicas.max) == (1, 1)
    assert spec.resources.cpu == "0.5"
    assert json.loads(spec.canonical()) == {"target": "aer", "shots": None, "replicas": {"min": 1, "max": 1},
                                            "resources": {"cpu": "0.5", "memory": "512Mi"}}
    assert ServingSpec(target="fake:fake_manila").target == "fake:manila"


@pytest.mark.parametrize("case", list(ACROSS), ids=list(ACROSS))
def test_a_head_stage_is_served_by_the_circuit_at_head(run_cli, tmp_path: Path, case: str) -> None:
    block, path, message, hint = ACROSS[case]
    tracked = edit(serving(block), "      ref: v1.0\n", "      track: HEAD\n")
    code, problems = validate(run_cli, tmp_path, tracked)
    assert code == 1
    full = f"spec.stages.production.serving.{path}"
    found = [p for p in problems if p["path"] == full and message in str(p["message"])]
    assert found, problems
    assert hint in str(found[0]["hint"]), found[0]
    # the same block on the ref stage is left to the plan, which reads the Experiment at the ref
    code, problems = validate(run_cli, tmp_path, serving(block))
    assert code == 0, problems
