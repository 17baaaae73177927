"""GitOps end to end: a real git repository, a real SQLite MLflow store, real Aer training.

The story of issue 5's "Must show" is ``tests/e2e/lifecycle.py`` (shared with the PostgreSQL-backed
server of test_postgres.py); the rest are its edges: dirty specs, invalid specs, blocked items,
budgets, adoption, csv data at a ref.
"""

from __future__ import annotations

import json

import pytest

from qspec.registry.testing import client_for
from tests.e2e.lifecycle import SPECS, aliases, gitops_lifecycle, run_count


@pytest.fixture
def workspace(spec_repo):
    return spec_repo({"specs/iris.yaml": SPECS}, tag="v1.0")


def test_gitops_lifecycle(workspace, run_cli) -> None:
    repo, uri = workspace
    gitops_lifecycle(repo, uri, run_cli)


def test_apply_refuses_uncommitted_spec_changes(workspace, run_cli) -> None:
    repo, uri = workspace
    repo.write("specs/iris.yaml", SPECS.replace("maxiter: 8", "maxiter: 9"))
    refused = run_cli("apply", "--auto-approve")
    assert refused.code == 1
    assert "uncommitted" in refused.err and "--allow-dirty" in refused.err
    client = client_for(uri)
    assert client.search_registered_models() == []


def test_invalid_specs_change_nothing(workspace, run_cli) -> None:
    repo, uri = workspace
    repo.write("specs/iris.yaml", SPECS + "---\napiVersion: qspec/v1\nkind: Model\nmetadata: {name: x}\n"
               "spec: {experiment: nope}\n")
    repo.commit("a broken model")
    result = run_cli("apply", "--auto-approve")
    assert result.code == 1
    assert "specs/iris.yaml:" in result.err and "no Experiment named 'nope'" in result.err
    assert client_for(uri).search_registered_models() == []


def test_blocked_items_do_not_stop_the_rest(workspace, run_cli) -> None:
    repo, uri = workspace
    client = client_for(uri)
    # production's gate cannot pass, and a second deployment stage names a ref that does not exist.
    repo.write("specs/iris.yaml", SPECS.replace("production: {test_accuracy: {min: 0.5}}",
                                                "production: {test_accuracy: {min: 1.01}}")
               .replace("    production: {ref: v1.0}\n", "    production: {ref: v1.0}\n    canary: {ref: v9.9}\n"))
    repo.commit("an impossible gate and a missing tag")
    plan = run_cli("plan")
    assert plan.code == 0, plan.err
    assert "v9.9" in plan.out
    result = run_cli("apply", "--auto-approve", "--format", "json")
    assert result.code == 1  # blocked items are not reconciled: apply says so in its exit code
    assert "stayed blocked" in result.err and "iris-classifier@canary" in result.err, result.err
    outcomes = json.loads(result.out)["outcomes"]
    blocked = {o["item"]["subject"]: o["detail"] for o in outcomes if o["status"] == "blocked"}
    assert any("v9.9" in detail for detail in blocked.values()), blocked
    assert any("1.01" in detail for detail in blocked.values()), blocked
    assert aliases(client, "iris-classifier") == {"staging": 1}  # the rest of the plan applied
    # Nothing left to change, but apply must still say what is blocked, not that all matches; with
    # --allow-blocked that is accepted.
    again = run_cli("apply", "--auto-approve", "--allow-blocked")
    assert again.code == 0, again.err
    assert "matches" not in again.out
    assert "v9.9" in again.out and "1.01" in again.out


def test_budget_blocks_training(workspace, run_cli) -> None:
    repo, uri = workspace
    repo.write("specs/iris.yaml", SPECS.replace("backend: {target: aer, shots: null, seed: 1}",
                                                "backend: {target: aer, shots: 1000, seed: 1}\n"
                                                "  budget: {max_shots: 1000}"))
    repo.commit("sampled, on a tight budget")
    result = run_cli("apply", "--auto-approve")
    assert result.code == 1
    assert "budget exceeded: an estimated" in result.out and "stayed blocked" in result.err
    # HEAD's sampled spec is blocked; production, pinned to v1.0 (exact, no budget), still trains.
    client = client_for(uri)
    assert run_count(client) == 1
    assert aliases(client, "iris-classifier") == {"production": 1}


def test_adopting_a_version_and_healing_an_edited_tag(workspace, run_cli) -> None:
    repo, uri = workspace
    client = client_for(uri)
    assert run_cli("apply", "--auto-approve").code == 0
    repo.write("specs/iris.yaml", SPECS.replace("seed: 1}\n---", "seed: 2}\n---", 1)
               .replace("production: {ref: v1.0}", "production: {version: 1}"))
    repo.commit("production adopts v1 explicitly")
    assert run_cli("apply", "--auto-approve").code == 0
    assert aliases(client, "iris-classifier") == {"staging": 2, "production": 1}

    # Someone edits a tag qspec manages: drift, healed by apply.
    client.set_model_version_tag("iris-classifier", "1", "qspec.spec_path", "somewhere/else.yaml")
    drift = run_cli("plan", "--detailed-exitcode")
    assert drift.code == 2 and "drift" in drift.out.lower()
    assert run_cli("apply", "--auto-approve").code == 0
    assert client.get_model_version("iris-classifier", "1").tags["qspec.spec_path"] == "specs/iris.yaml"
    assert run_cli("plan", "--detailed-exitcode").code == 0


@pytest.fixture
def csv_workspace(spec_repo):
    """Iris from a csv file in the repository: 60 rows at tag v1.0, all 100 at HEAD."""
    import numpy as np
    from sklearn.datasets import load_iris

    iris = load_iris()
    rows = [",".join(f"{v:.1f}" for v in x) + f",{y}" for x, y in zip(iris.data, iris.target, strict=True)
            if y in (0, 1)]
    header = "sepal_length,sepal_width,petal_length,petal_width,label\n"
    order = np.random.default_rng(0).permutation(len(rows))
    csv_spec = SPECS.replace("source: sklearn:iris", "source: csv:data/iris.csv")
    repo, uri = spec_repo({"specs/iris.yaml": csv_spec,
                           "data/iris.csv": header + "\n".join(rows[i] for i in order[:60]) + "\n"}, tag="v1.0")
    repo.write("data/iris.csv", header + "\n".join(rows[i] for i in order) + "\n")
    repo.commit("all 100 rows")
    return repo, uri


def data_sizes(client) -> dict[str, int]:
    """Rows (train + test) each alias's version was trained on."""
    sizes = {}
    for alias in aliases(client, "iris-classifier"):
        params = client.get_run(client.get_model_version_by_alias("iris-classifier", alias).run_id).data.params
        sizes[alias] = int(params["quantum.data.n_train"]) + int(params["quantum.data.n_test"])
    return sizes


def test_a_ref_stage_trains_on_the_data_at_that_ref(csv_workspace, run_cli) -> None:
    _, uri = csv_workspace
    planned = json.loads(run_cli("plan", "--format", "json").out)
    # The plan prices each build on the rows it will train on: 60 at v1.0, 100 at HEAD.
    priced = {i["rev"]: i["estimate"]["circuits"] for i in planned["items"] if i["action"] == "train"}
    assert set(priced) == {None, "v1.0"} and priced["v1.0"] < priced[None]
    result = run_cli("apply", "--auto-approve")
    assert result.code == 0, result.err
    client = client_for(uri)
    assert sorted(aliases(client, "iris-classifier").values()) == [1, 2]  # two builds, one per stage
    assert data_sizes(client) == {"staging": 100, "production": 60}
    # ... and each run logs the estimate the plan computed, not one priced again.
    logged = {alias: client.get_run(client.get_model_version_by_alias("iris-classifier", alias).run_id)
              .data.metrics["quantum.cost.circuits"] for alias in ("staging", "production")}
    assert logged == {"staging": priced[None], "production": priced["v1.0"]}


def test_apply_at_a_revision_reads_the_data_at_that_revision(csv_workspace, run_cli) -> None:
    _, uri = csv_workspace
    result = run_cli("apply", "--auto-approve", "--rev", "v1.0")
    assert result.code == 0, result.err
    assert data_sizes(client_for(uri)) == {"staging": 60, "production": 60}


def test_adopting_a_version_built_outside_qspec_checks_its_gate_on_apply(workspace, run_cli) -> None:
    repo, uri = workspace
    client = client_for(uri)
    assert run_cli("apply", "--auto-approve").code == 0
    source = client.get_model_version("iris-classifier", "1").source
    outside = {}
    for accuracy in (0.99, 0.2):  # one passes production's gate (min 0.5), one does not
        (experiment,) = client.search_experiments(filter_string="name = 'iris-vqc'")
        run = client.create_run(experiment.experiment_id)  # a plain MLflow run, not tagged by qspec
        client.log_metric(run.info.run_id, "test_accuracy", accuracy)
        client.set_terminated(run.info.run_id)
        outside[accuracy] = int(client.create_model_version("iris-classifier", source, run_id=run.info.run_id).version)

    for accuracy, expected in ((0.99, outside[0.99]), (0.2, outside[0.99])):
        repo.write("specs/iris.yaml", SPECS.replace("production: {ref: v1.0}",
                                                    f"production: {{version: {outside[accuracy]}}}"))
        repo.commit(f"adopt v{outside[accuracy]}")
        plan = run_cli("plan")
        assert "gate checked on apply" in plan.out, plan.out
        result = run_cli("apply", "--auto-approve")
        assert result.code == (0 if accuracy == 0.99 else 1), result.err
        assert aliases(client, "iris-classifier")["production"] == expected
    assert "test_accuracy = 0.2" in result.out  # the second adoption was blocked by its gate
