"""Every declared Experiment is a resource (issue 12, item 1), and qspec means the same from any folder
of the repository (item 2). A real git repository, a real SQLite MLflow store, real Aer training
(a one-second iris circuit), the CLI in-process.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qspec.registry.testing import client_for

SPECS = (Path(__file__).parent / "specs" / "iris.yaml").read_text()
# The experiment alone: the first thing a team tracks, before any Model registers it.
EXPERIMENT = SPECS.split("---\n")[0]
SOLO = EXPERIMENT.replace("name: iris-vqc", "name: iris-solo").replace("seed: 1}\n", "seed: 3}\n", 1)


def runs(uri: str) -> list[tuple[str, str, str]]:
    """(experiment tag, status, spec hash) of every run in the store."""
    client = client_for(uri)
    found = client.search_runs([e.experiment_id for e in client.search_experiments()], max_results=1000)
    return sorted((r.data.tags.get("qspec.spec_name", ""), r.info.status, r.data.tags.get("qspec.spec_hash", ""))
                  for r in found)


def test_an_experiment_without_a_model_is_trained_once_and_then_registered_from_that_run(
        spec_repo, run_cli) -> None:
    repo, uri = spec_repo({"specs/iris.yaml": EXPERIMENT})
    client = client_for(uri)

    plan = run_cli("plan", "--detailed-exitcode")
    assert plan.code == 2, plan.err
    assert "+ train" in plan.out and "iris-vqc#" in plan.out and "an Experiment of its own" in plan.out
    assert "1 to train, 0 to register" in plan.out

    applied = run_cli("apply", "--auto-approve")
    assert applied.code == 0, applied.err
    ((name, status, spec_hash),) = runs(uri)
    assert (name, status) == ("iris-vqc", "FINISHED") and len(spec_hash) == 64
    assert client.search_registered_models() == []  # tracked, not registered: no Model names it

    assert run_cli("plan", "--detailed-exitcode").code == 0
    status = run_cli("status", "--check", "--format", "json")
    assert status.code == 0, status.out
    (experiment,) = json.loads(status.out)["experiments"]
    assert experiment["name"] == "iris-vqc" and experiment["state"] == "in sync" and experiment["run_id"]
    assert "iris-vqc" in run_cli("status").out

    # An edited experiment is retrained, and the plan says what changed against the run it replaces.
    repo.write("specs/iris.yaml", EXPERIMENT.replace("maxiter: 8", "maxiter: 9"))
    repo.commit("one more iteration")
    edited = run_cli("plan")
    assert f"changes since run {experiment['run_id']}" in edited.out, edited.out
    assert "training.optimizer.maxiter: 8 -> 9" in edited.out
    repo.write("specs/iris.yaml", EXPERIMENT)
    repo.commit("back to 8")
    assert run_cli("plan", "--detailed-exitcode").code == 0  # that spec has its run already

    # A Model added later registers the run that exists: one training per hash, never two.
    repo.write("specs/iris.yaml", SPECS.replace("production: {ref: v1.0}", "production: {track: HEAD}"))
    repo.commit("register the experiment")
    registered = run_cli("apply", "--auto-approve")
    assert registered.code == 0, registered.err
    assert len(runs(uri)) == 1
    version = client.get_model_version("iris-classifier", "1")
    assert version.run_id == experiment["run_id"] and version.tags["qspec.spec_hash"] == spec_hash


def test_only_an_experiment_name_reconciles_that_experiment_alone(spec_repo, run_cli) -> None:
    _, uri = spec_repo({"specs/iris.yaml": SPECS.replace("production: {ref: v1.0}", "production: {track: HEAD}"),
                        "specs/solo.yaml": SOLO})
    plan = run_cli("plan", "--only", "iris-solo", "--format", "json")
    assert plan.code == 0, plan.err
    items = json.loads(plan.out)["items"]
    assert [(i["action"], i["experiment"], i["model"]) for i in items] == [("train", "iris-solo", None)]

    applied = run_cli("apply", "--auto-approve", "--only", "iris-solo")
    assert applied.code == 0, applied.err
    assert [(n, s) for n, s, _ in runs(uri)] == [("iris-solo", "FINISHED")]
    assert client_for(uri).search_registered_models() == []

    unknown = run_cli("plan", "--only", "nope")
    assert unknown.code == 1
    assert "--only nope: no Experiment or Model of that name" in unknown.err and "iris-solo" in unknown.err

    # The rest converges in one more apply; the solo experiment is not trained again.
    assert run_cli("apply", "--auto-approve").code == 0
    assert [(n, s) for n, s, _ in runs(uri)] == [("iris-solo", "FINISHED"), ("iris-vqc", "FINISHED")]
    assert run_cli("status", "--check").code == 0


def test_a_model_description_is_synced_to_the_registered_model(spec_repo, run_cli) -> None:
    described = SPECS.replace("metadata: {name: iris-classifier}\nspec:\n  experiment",
                              "metadata: {name: iris-classifier, description: Iris setosa vs versicolor}\n"
                              "spec:\n  experiment", 1)
    repo, uri = spec_repo({"specs/iris.yaml": described}, tag="v1.0")
    client = client_for(uri)
    assert run_cli("apply", "--auto-approve").code == 0
    assert client.get_registered_model("iris-classifier").description == "Iris setosa vs versicolor"

    repo.write("specs/iris.yaml", described.replace("Iris setosa vs versicolor", "'Two iris species, 4 qubits'"))
    repo.commit("a better description")
    plan = run_cli("plan")
    assert "~ update-description" in plan.out and "'Two iris species, 4 qubits'" in plan.out
    assert "0 to train" in plan.out  # a description is not a retraining
    assert run_cli("apply", "--auto-approve").code == 0
    assert client.get_registered_model("iris-classifier").description == "Two iris species, 4 qubits"
    assert run_cli("status", "--check").code == 0


@pytest.mark.parametrize("where", [".", "specs", "docs/notes"])
def test_the_gitops_lifecycle_is_the_same_from_any_folder_of_the_repository(spec_repo, run_cli, where) -> None:
    repo, uri = spec_repo({"specs/iris.yaml": SPECS, "docs/notes/README.md": "notes\n"}, tag="v1.0")
    client = client_for(uri)
    here = repo.path / where
    at_root = run_cli("plan", "--format", "json", cwd=repo.path)
    assert at_root.code == 0, at_root.err
    inside = run_cli("plan", "--format", "json", cwd=here)
    assert inside.code == 0, inside.err
    assert json.loads(inside.out) == json.loads(at_root.out)  # the same plan, from anywhere in the repository
    assert run_cli("validate", cwd=here).out == run_cli("validate", cwd=repo.path).out
    assert run_cli("apply", "--auto-approve", cwd=here).code == 0
    assert client.get_registered_model("iris-classifier").aliases == {"staging": 1, "production": 1}

    # An uncommitted edit is refused from a sub-folder as from the root (the dirty guard).
    repo.write("specs/iris.yaml", SPECS.replace("seed: 1}\n---", "seed: 2}\n---", 1))
    refused = run_cli("apply", "--auto-approve", cwd=here)
    assert refused.code == 1 and "uncommitted spec changes: specs/iris.yaml" in refused.err

    # Committed: staging (HEAD) moves, production stays where ref v1.0 says, read from git at the tag.
    repo.commit("another initial point")
    moved = run_cli("apply", "--auto-approve", cwd=here)
    assert moved.code == 0, moved.err
    assert client.get_registered_model("iris-classifier").aliases == {"staging": 2, "production": 1}
    assert run_cli("status", "--check", cwd=here).code == 0
    assert run_cli("plan", "--detailed-exitcode", cwd=here).code == 0


def test_a_spec_directory_named_from_a_sub_folder_is_relative_to_it(spec_repo, run_cli, monkeypatch) -> None:
    repo, uri = spec_repo({"specs/iris.yaml": SPECS}, tag="v1.0")
    here = repo.path / "specs"
    # With no URI, the embedded store is the repository's .qspec/, whichever folder qspec runs in.
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    embedded = run_cli("plan", cwd=here)
    assert embedded.code == 0, embedded.err
    assert f"registry: sqlite:///{repo.path.resolve() / '.qspec' / 'mlflow.db'}" in embedded.err
    assert not (here / ".qspec").exists()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    named = run_cli("validate", ".", cwd=here)
    assert named.code == 0 and "3 resources in 1 files" in named.out, named.err
    missing = run_cli("validate", "--specs", "specs", cwd=here)
    assert missing.code == 1 and "specs does not exist" in missing.err
    plan = run_cli("plan", "--specs", ".", "--format", "json", cwd=here)
    assert plan.code == 0 and json.loads(plan.out)["counts"]["train"] == 1, plan.err
