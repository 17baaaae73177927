"""Issue 12's lifecycle against a real ``mlflow server`` on 127.0.0.1 (the SQLite-store versions are in
test_experiments.py, test_preflight.py, test_plan_review.py and test_saved_plan.py).

One story, as a team lives it over a shared server: an Experiment tracked on its own; a Model and
Deployment added later that register that same run, with its description; a retraining planned
from inside ``specs/`` and saved, whose plan names the fields it changes, applied from the file;
a saved plan refused once the registry moved; and a retraining whose run misses the Model's
requirement, which leaves an item blocked: apply exits 1 (0 with ``--allow-blocked``), and
``plan --detailed-exitcode`` agrees with ``status --check``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qspec.registry.testing import client_for

pytestmark = pytest.mark.slow

SPECS = (Path(__file__).parent / "specs" / "iris.yaml").read_text()
EXPERIMENT = SPECS.split("---\n")[0]
DESCRIBED = SPECS.replace("metadata: {name: iris-classifier}\nspec:\n  experiment",
                          "metadata: {name: iris-classifier, description: Iris setosa vs versicolor}\n"
                          "spec:\n  experiment", 1)
MODEL = "iris-classifier"


def finished_runs(uri: str) -> list[str]:
    client = client_for(uri)
    found = client.search_runs([e.experiment_id for e in client.search_experiments()], max_results=1000)
    return sorted(r.info.run_id for r in found if r.info.status == "FINISHED")


def test_the_issue_12_lifecycle_over_a_tracking_server(spec_repo, run_cli, server, monkeypatch, tmp_path) -> None:
    repo, _ = spec_repo({"specs/iris.yaml": EXPERIMENT})
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    client = client_for(server)

    # 1. An Experiment of its own is trained and tracked; nothing is registered.
    assert run_cli("plan", "--detailed-exitcode").code == 2
    tracked = run_cli("apply", "--auto-approve")
    assert tracked.code == 0, tracked.err
    (run_id,) = finished_runs(server)
    assert client.search_registered_models() == []
    assert run_cli("status", "--check").code == 0

    # 2. A Model and Deployment added later register that run (no second training), described.
    repo.write("specs/iris.yaml", DESCRIBED)
    repo.commit("register it")
    repo.git("tag", "v1.0")
    registered = run_cli("apply", "--auto-approve")
    assert registered.code == 0, registered.err
    assert finished_runs(server) == [run_id]
    assert client.get_model_version(MODEL, "1").run_id == run_id
    assert client.get_registered_model(MODEL).description == "Iris setosa vs versicolor"
    assert {a: int(v) for a, v in client.get_registered_model(MODEL).aliases.items()} == \
        {"staging": 1, "production": 1}

    # 3. From inside specs/: a retraining, planned and saved; the plan names the field it changes.
    repo.write("specs/iris.yaml", DESCRIBED.replace("maxiter: 8", "maxiter: 9"))
    repo.commit("one more iteration")
    inside = repo.path / "specs"
    planfile = tmp_path / "plan.json"
    planned = run_cli("plan", "-out", str(planfile), cwd=inside)
    assert planned.code == 0, planned.err
    assert "changes since v1" in planned.out and "training.optimizer.maxiter: 8 -> 9" in planned.out
    applied = run_cli("apply", str(planfile), cwd=inside)
    assert applied.code == 0, applied.err
    assert {a: int(v) for a, v in client.get_registered_model(MODEL).aliases.items()} == \
        {"staging": 2, "production": 1}  # production stays at ref v1.0, read from git at the tag
    assert run_cli("status", "--check", cwd=inside).code == 0

    # A saved plan is refused once the registry moved under it; nothing is written.
    repo.write("specs/iris.yaml", DESCRIBED.replace("maxiter: 8", "maxiter: 10"))
    repo.commit("two more")
    assert run_cli("plan", "-out", str(planfile)).code == 0
    client.set_registered_model_alias(MODEL, "staging", "1")
    stale = run_cli("apply", str(planfile))
    assert stale.code == 1 and "the registry changed since the plan was saved" in stale.err
    assert len(finished_runs(server)) == 2

    # 4. A run that misses the requirement leaves the build blocked: exit codes say so.
    strict = DESCRIBED.replace("maxiter: 8", "maxiter: 10").replace("test_accuracy: {min: 0.5}}\n---",
                                                                     "test_accuracy: {min: 1.01}}\n---", 1)
    repo.write("specs/iris.yaml", strict)
    repo.commit("an impossible requirement")
    blocked = run_cli("apply", "--auto-approve")
    assert blocked.code == 1, blocked.out
    assert "stayed blocked" in blocked.err
    assert run_cli("apply", "--auto-approve", "--allow-blocked").code == 0
    plan = run_cli("plan", "--detailed-exitcode", "--format", "json")
    assert plan.code == 2 and json.loads(plan.out)["counts"]["blocked"] >= 1
    assert run_cli("status", "--check").code == 2
    assert len(finished_runs(server)) == 3  # the blocked spec was trained once, and not again
