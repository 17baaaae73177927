"""The ``Registry`` contract: ``MemoryRegistry`` (the fake) and ``MlflowRegistry`` on a real SQLite store
behave the same through every protocol method, failures included. The MLflow adapter is the reference.

Only seeding differs per backend (runs are the trainer's, not the protocol's): each backend gives a
``seed(spec_hash, ...)`` that leaves a run as qspec's trainer does and returns it as the registry
reads it back. Models and versions are made through the protocol itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from qspec import tags as tag
from qspec.apply.ports import ClaimInfo, Registry
from qspec.errors import TrackingError
from qspec.plan.state import RunInfo
from qspec.plan.testing import H1, H2, H3
from qspec.registry import MemoryRegistry

MANAGED = {tag.MANAGED: "true"}


@dataclass
class Backend:
    registry: Any  # a Registry
    seed: Callable[..., RunInfo]


def memory_backend() -> Backend:
    registry = MemoryRegistry()

    def seed(spec_hash: str, *, status: str = "FINISHED", metrics: dict[str, float] | None = None,
             tags: dict[str, str] | None = None) -> RunInfo:
        return registry.add_run(spec_hash, status=status, metrics=metrics, tags=tags)

    return Backend(registry, seed)


def mlflow_backend(client: Any, tmp_path: Path) -> Backend:
    from qspec.registry.mlflow import MlflowRegistry
    from qspec.registry.testing import seed_run

    experiment = client.create_experiment("exp", artifact_location=(tmp_path / "artifacts").as_uri())
    registry = MlflowRegistry(client)
    clock = count(1_700_000_000_000)  # distinct start times: "oldest first" is then well defined

    def seed(spec_hash: str, *, status: str = "FINISHED", metrics: dict[str, float] | None = None,
             tags: dict[str, str] | None = None) -> RunInfo:
        run_id = seed_run(client, experiment, spec_hash, metrics=metrics, status=status, tags=tags,
                          start_time=next(clock))
        run = registry.get_run(run_id)
        assert run is not None
        return run

    return Backend(registry, seed)


@pytest.fixture(params=["memory", "mlflow"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "memory":
        return memory_backend()
    return mlflow_backend(request.getfixturevalue("client"), tmp_path)


def test_is_a_registry(backend: Backend) -> None:
    assert isinstance(backend.registry, Registry)


def test_an_empty_registry_has_nothing_and_says_so_with_none(backend: Backend) -> None:
    registry = backend.registry
    state = registry.snapshot()
    assert dict(state.models) == {} and state.runs == ()
    assert registry.get_model("m") is None
    assert registry.runs_for(H1) == []
    assert registry.get_run("0" * 32) is None


def test_snapshot_reads_models_versions_aliases_and_managed_runs(backend: Backend) -> None:
    registry = backend.registry
    r1 = backend.seed(H1, metrics={"test_accuracy": 0.95})
    r2 = backend.seed(H2, status="FAILED")
    backend.seed(H3, tags={tag.MANAGED: "false"})  # a run qspec does not manage: not in the snapshot
    registry.create_model("m", {**MANAGED, tag.alias_record("staging"): "1"})
    registry.register_version("m", r1, {tag.SPEC_HASH: H1})
    registry.set_alias("m", "staging", 1)
    registry.create_model("theirs", {})

    state = registry.snapshot()

    assert set(state.models) == {"m", "theirs"}
    m = state.models["m"]
    assert m.managed and not state.models["theirs"].managed
    assert m.aliases == {"staging": 1} and m.alias_records() == {"staging": "1"}
    (v1,) = m.versions
    assert (v1.version, v1.run_id, dict(v1.tags), v1.status) == (1, r1.run_id, {tag.SPEC_HASH: H1}, "READY")
    assert v1.source == f"runs:/{r1.run_id}/model"
    assert {r.run_id for r in state.runs} == {r1.run_id, r2.run_id}
    run1 = state.runs_by_id[r1.run_id]
    assert run1.finished and run1.spec_hash == H1 and run1.metrics == {"test_accuracy": 0.95}
    assert state.runs_by_id[r2.run_id].status == "FAILED"
    assert registry.get_model("m") == m


def test_runs_for_returns_the_managed_runs_of_one_spec_oldest_first(backend: Backend) -> None:
    registry = backend.registry
    first = backend.seed(H1, status="FAILED")
    backend.seed(H2)
    backend.seed(H1, tags={tag.MANAGED: "false"})
    second = backend.seed(H1, metrics={"loss": 0.25})
    runs = registry.runs_for(H1)
    assert [r.run_id for r in runs] == [first.run_id, second.run_id]
    assert [r.status for r in runs] == ["FAILED", "FINISHED"] and runs[1].metrics == {"loss": 0.25}
    assert registry.get_run(second.run_id) == runs[1]
    assert runs[0].tags[tag.SPEC_HASH] == H1 and runs[0].tags[tag.MANAGED] == "true"


def test_create_model_sets_its_tags_and_refuses_an_existing_name(backend: Backend) -> None:
    registry = backend.registry
    registry.create_model("m", {**MANAGED, "qspec.note": "x"})
    found = registry.get_model("m")
    assert found is not None and dict(found.tags) == {**MANAGED, "qspec.note": "x"}
    assert found.versions == () and dict(found.aliases) == {}
    with pytest.raises(TrackingError):
        registry.create_model("m", MANAGED)


def test_version_numbers_grow_per_model_and_are_never_reused(backend: Backend) -> None:
    registry = backend.registry
    run = backend.seed(H1)
    registry.create_model("m", MANAGED)
    registry.create_model("other", MANAGED)
    assert registry.register_version("m", run, {tag.SPEC_HASH: H1}) == 1
    assert registry.register_version("m", run, {}) == 2
    assert registry.register_version("other", run, {}) == 1
    registry.delete_version("m", 2)
    assert registry.register_version("m", run, {}) == 3
    found = registry.get_model("m")
    assert found is not None and [v.version for v in found.versions] == [1, 3]
    assert dict(found.versions[0].tags) == {tag.SPEC_HASH: H1} and dict(found.versions[1].tags) == {}
    assert {v.run_id for v in found.versions} == {run.run_id}


def test_aliases_are_set_moved_and_deleted_and_go_with_their_version(backend: Backend) -> None:
    registry = backend.registry
    run = backend.seed(H1)
    registry.create_model("m", MANAGED)
    for _ in range(2):
        registry.register_version("m", run, {})
    registry.set_alias("m", "staging", 1)
    registry.set_alias("m", "production", 1)
    registry.set_alias("m", "staging", 2)  # moves it
    assert dict(_model(registry, "m").aliases) == {"staging": 2, "production": 1}

    registry.delete_alias("m", "production")
    registry.delete_alias("m", "production")  # an alias that is not there: no error, as in MLflow
    assert dict(_model(registry, "m").aliases) == {"staging": 2}

    registry.delete_version("m", 2)  # deleting a version drops the aliases that point at it
    assert dict(_model(registry, "m").aliases) == {}


def test_model_tags_are_merged_and_deleted(backend: Backend) -> None:
    registry = backend.registry
    registry.create_model("m", {**MANAGED, "qspec.a": "1"})
    registry.set_model_tags("m", {"qspec.a": "2", "qspec.b": "3"})
    assert dict(_model(registry, "m").tags) == {**MANAGED, "qspec.a": "2", "qspec.b": "3"}
    registry.delete_model_tag("m", "qspec.a")
    registry.delete_model_tag("m", "qspec.missing")  # a tag that is not there: no error, as in MLflow
    assert dict(_model(registry, "m").tags) == {**MANAGED, "qspec.b": "3"}


def test_a_model_description_is_set_and_read_back(backend: Backend) -> None:
    registry = backend.registry
    registry.create_model("m", MANAGED)
    assert _model(registry, "m").description is None
    registry.set_model_description("m", "Iris on 4 qubits\nsecond line")
    assert _model(registry, "m").description == "Iris on 4 qubits\nsecond line"
    assert registry.snapshot().models["m"].description == "Iris on 4 qubits\nsecond line"


def test_version_tags_are_merged(backend: Backend) -> None:
    registry = backend.registry
    run = backend.seed(H1)
    registry.create_model("m", MANAGED)
    registry.register_version("m", run, {tag.SPEC_HASH: H1, "qspec.a": "1"})
    registry.set_version_tags("m", 1, {"qspec.a": "2", "qspec.b": "3"})
    (version,) = _model(registry, "m").versions
    assert dict(version.tags) == {tag.SPEC_HASH: H1, "qspec.a": "2", "qspec.b": "3"}


def test_mark_run_failed_ends_a_run_left_running(backend: Backend) -> None:
    registry = backend.registry
    dead = backend.seed(H2, status="RUNNING")
    assert [r.status for r in registry.runs_for(H2)] == ["RUNNING"]
    registry.mark_run_failed(dead.run_id)
    assert [r.status for r in registry.runs_for(H2)] == ["FAILED"]
    assert _run(registry, dead.run_id).status == "FAILED"


# --- claims: the primitives of one training per spec hash (qspec.apply.claims) ------------------------


def test_creating_a_claim_is_atomic_a_second_of_one_name_is_refused(backend: Backend) -> None:
    registry = backend.registry
    first = ClaimInfo(H1, 1, "host-a pid 1 id aa", 1_700_000_120.5, "m|1|2")
    assert registry.create_claim(first) is True
    assert registry.create_claim(ClaimInfo(H1, 1, "host-b pid 2 id bb", 1_700_000_999.0)) is False
    assert registry.create_claim(ClaimInfo(H1, 2, "host-b pid 2 id bb", 1_700_000_999.0)) is True
    assert registry.create_claim(ClaimInfo(H2, 1, "host-b pid 2 id bb", 1_700_000_999.0)) is True
    claims = registry.claims_for(H1)
    assert [(c.generation, c.holder) for c in claims] == [(1, "host-a pid 1 id aa"), (2, "host-b pid 2 id bb")]
    assert claims[0] == first  # every field read back as written
    assert registry.claims_for(H3) == []


def test_a_claim_is_renewed_with_its_run_and_deleted_and_a_missing_one_says_so(backend: Backend) -> None:
    registry = backend.registry
    registry.create_claim(ClaimInfo(H1, 1, "a", 100.0))
    assert registry.renew_claim(H1, 1, expires=200.0) is True
    assert registry.renew_claim(H1, 1, expires=300.0, run_id="r1") is True
    assert registry.renew_claim(H1, 1, expires=400.0) is True  # the run stays recorded
    (claim,) = registry.claims_for(H1)
    assert (claim.expires, claim.run_id) == (400.0, "r1")
    registry.delete_claim(H1, 1)
    registry.delete_claim(H1, 1)  # gone already: no error
    assert registry.claims_for(H1) == []
    assert registry.renew_claim(H1, 1, expires=500.0) is False


def test_claims_are_not_models_snapshot_and_get_model_never_show_them(backend: Backend) -> None:
    registry = backend.registry
    registry.create_model("m", MANAGED)
    registry.create_claim(ClaimInfo(H1, 1, "a", 100.0))
    assert set(registry.snapshot().models) == {"m"}
    assert registry.get_model(tag.claim_model_name(H2, 1)) is None


# --- failures: every write that names something missing raises TrackingError -------------------------

WRITES_ON_A_MODEL: dict[str, Callable[[Any, RunInfo, str], Any]] = {
    "register_version": lambda registry, run, name: registry.register_version(name, run, {}),
    "delete_version": lambda registry, run, name: registry.delete_version(name, 1),
    "set_alias": lambda registry, run, name: registry.set_alias(name, "staging", 1),
    "delete_alias": lambda registry, run, name: registry.delete_alias(name, "staging"),
    "set_model_tags": lambda registry, run, name: registry.set_model_tags(name, {"qspec.a": "1"}),
    "delete_model_tag": lambda registry, run, name: registry.delete_model_tag(name, "qspec.a"),
    "set_model_description": lambda registry, run, name: registry.set_model_description(name, "text"),
    "set_version_tags": lambda registry, run, name: registry.set_version_tags(name, 1, {"qspec.a": "1"}),
}

WRITES_ON_A_VERSION: dict[str, Callable[[Any, int], Any]] = {
    "delete_version": lambda registry, version: registry.delete_version("m", version),
    "set_alias": lambda registry, version: registry.set_alias("m", "staging", version),
    "set_version_tags": lambda registry, version: registry.set_version_tags("m", version, {"qspec.a": "1"}),
}


@pytest.mark.parametrize("write", sorted(WRITES_ON_A_MODEL))
def test_a_write_on_a_missing_model_raises(backend: Backend, write: str) -> None:
    run = backend.seed(H1)
    with pytest.raises(TrackingError):
        WRITES_ON_A_MODEL[write](backend.registry, run, "missing")
    assert backend.registry.get_model("missing") is None


@pytest.mark.parametrize("write", sorted(WRITES_ON_A_VERSION))
@pytest.mark.parametrize("which", ["never made", "deleted"])
def test_a_write_on_a_missing_version_raises(backend: Backend, write: str, which: str) -> None:
    registry = backend.registry
    run = backend.seed(H1)
    registry.create_model("m", MANAGED)
    for _ in range(2):
        registry.register_version("m", run, {})
    registry.delete_version("m", 2)
    with pytest.raises(TrackingError):
        WRITES_ON_A_VERSION[write](registry, 9 if which == "never made" else 2)
    assert [v.version for v in _model(registry, "m").versions] == [1]


def test_marking_a_missing_run_failed_raises(backend: Backend) -> None:
    with pytest.raises(TrackingError):
        backend.registry.mark_run_failed("0" * 32)


def _model(registry: Any, name: str) -> Any:
    found = registry.get_model(name)
    assert found is not None, name
    return found


def _run(registry: Any, run_id: str) -> RunInfo:
    found = registry.get_run(run_id)
    assert found is not None, run_id
    return found


def test_a_serving_record_round_trips_through_snapshot_and_get_model(backend: Backend) -> None:
    from qspec import tags as tag
    from qspec.spec.models import ServingSpec

    record = ServingSpec.model_validate({"target": "fake:manila", "shots": 1024, "replicas": {"min": 1, "max": 5},
                                         "resources": {"cpu": "500m", "memory": "4Gi"}}, strict=False).canonical()
    registry = backend.registry
    registry.create_model("m", MANAGED)
    registry.set_model_tags("m", {tag.serving_record("production"): record})
    assert _model(registry, "m").serving_records() == {"production": record}
    assert registry.snapshot().models["m"].serving_records() == {"production": record}
    registry.delete_model_tag("m", tag.serving_record("production"))
    assert registry.snapshot().models["m"].serving_records() == {}
