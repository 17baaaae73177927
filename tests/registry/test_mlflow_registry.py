"""``MlflowRegistry`` against a real SQLite MLflow store, beyond the contract it shares with the fake
(tests/registry/test_contract.py): what others wrote to MLflow, paging, call counts, one request
per new version, MLflow 3 logged models, and MLflow's errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qspec import tags as tag
from qspec.errors import TrackingError
from qspec.plan import diff
from qspec.plan.testing import H1, H2, H3, desired, model
from qspec.registry.mlflow import MlflowRegistry
from qspec.registry.testing import seed_run, seed_version


def experiment(client: Any, tmp_path: Path, name: str = "exp") -> str:
    return str(client.create_experiment(name, artifact_location=(tmp_path / "artifacts" / name).as_uri()))


def test_snapshot_reads_models_versions_aliases_and_managed_runs(client: Any, tmp_path: Path) -> None:
    exp = experiment(client, tmp_path)
    r1 = seed_run(client, exp, H1, metrics={"test_accuracy": 0.95})
    r2 = seed_run(client, exp, H2, status="FAILED")
    client.create_run(exp, tags={"someone": "else"})  # not managed: not in the snapshot
    client.create_registered_model("m", tags={tag.MANAGED: "true", tag.alias_record("staging"): "1"})
    seed_version(client, "m", r1, H1)
    client.set_registered_model_alias("m", "staging", "1")
    client.create_registered_model("theirs")

    state = MlflowRegistry(client).snapshot()

    assert set(state.models) == {"m", "theirs"}
    m = state.models["m"]
    assert m.managed and not state.models["theirs"].managed
    assert m.aliases == {"staging": 1} and m.alias_records() == {"staging": "1"}
    (v1,) = m.versions
    assert (v1.version, v1.run_id, v1.tags[tag.SPEC_HASH], v1.status) == (1, r1, H1, "READY")
    assert {r.run_id for r in state.runs} == {r1, r2}
    run1 = state.runs_by_id[r1]
    assert run1.finished and run1.spec_hash == H1 and run1.metrics == {"test_accuracy": 0.95}
    assert state.runs_by_id[r2].status == "FAILED"
    # The snapshot feeds diff directly: in sync for the HEAD spec, a move for another one.
    assert diff(desired(model()), state).items == ()
    assert [i.action.value for i in diff(desired(model(head_hash=H3)), state).items] == [
        "train", "register", "move-alias"]


def test_snapshot_pages_and_makes_o_pages_calls(client: Any, tmp_path: Path) -> None:
    exps = [experiment(client, tmp_path, f"exp{i}") for i in range(3)]
    for i in range(7):
        client.create_registered_model(f"m{i}", tags={tag.MANAGED: "true"})
        for j in range(2):
            spec_hash = f"{i}{j}".ljust(64, "0")
            run_id = seed_run(client, exps[i % 3], spec_hash, metrics={"test_accuracy": 0.9})
            seed_version(client, f"m{i}", run_id, spec_hash)

    paged = MlflowRegistry(client, page_size=3)
    state = paged.snapshot()
    assert len(state.models) == 7 and sum(len(m.versions) for m in state.models.values()) == 14
    assert len(state.runs) == 14
    assert paged.calls == {
        "search_experiments": 2,  # 4 experiments (Default + 3) in pages of 3
        "search_runs": 5,  # 14 runs
        "search_registered_models": 3,  # 7 models
        "search_model_versions": 5,  # 14 versions
    }

    whole = MlflowRegistry(client)
    assert whole.snapshot() == state
    assert whole.call_count == 4  # one page of each: independent of the number of models


def test_a_version_is_tagged_in_the_request_that_creates_it(client: Any, tmp_path: Path) -> None:
    """No version exists without its spec hash, even for a moment: a crash cannot leave one unidentified."""
    run_id = seed_run(client, experiment(client, tmp_path), H1)

    def from_the_run(_client: Any, _run_id: str) -> dict[str, str]:
        return {"qspec.spec_name": "exp", tag.SPEC_HASH: "what the run says"}

    registry = MlflowRegistry(client, version_metadata=from_the_run)
    registry.create_model("m", {tag.MANAGED: "true"})
    run = registry.get_run(run_id)
    assert run is not None
    registry.calls.clear()
    assert registry.register_version("m", run, {tag.SPEC_HASH: H1}) == 1
    assert registry.calls == {"create_model_version": 1}
    # The run's descriptive tags are added; the reconciler's own tags win.
    assert client.get_model_version("m", "1").tags == {"qspec.spec_name": "exp", tag.SPEC_HASH: H1}


def test_register_links_the_mlflow3_logged_model_the_run_names(client: Any, tmp_path: Path) -> None:
    exp = experiment(client, tmp_path)
    run_id = seed_run(client, exp, H1)
    logged = client.create_logged_model(exp, source_run_id=run_id, name="model")
    client.set_tag(run_id, tag.MODEL_ID, logged.model_id)  # as qspec.tracking tags its runs
    registry = MlflowRegistry(client)
    registry.create_model("m", {tag.MANAGED: "true"})
    run = registry.get_run(run_id)
    assert run is not None and run.model_uri == f"models:/{logged.model_id}"
    registry.register_version("m", run, {tag.SPEC_HASH: H1})
    mv = client.get_model_version("m", "1")
    assert mv.source == f"models:/{logged.model_id}" and mv.run_id == run_id


def test_errors_become_tracking_errors(client: Any) -> None:
    registry = MlflowRegistry(client)
    with pytest.raises(TrackingError, match="set_registered_model_alias"):
        registry.set_alias("missing", "staging", 1)
