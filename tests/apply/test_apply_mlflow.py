"""The reconciler against a real SQLite MLflow store: plan, apply, a no-op second apply, drift
healed, prune, and an unmanaged model never touched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qspec import tags as tag
from qspec.apply import TrainRequest, apply
from qspec.plan import Action, diff
from qspec.plan.state import RunInfo
from qspec.plan.testing import H1, H2, bound, desired, head, model
from qspec.registry.mlflow import MlflowRegistry
from qspec.registry.testing import seed_run


class MlflowFakeTrainer:
    """Logs a finished run into the real store, as the tracked trainer does (without training)."""

    def __init__(self, client: Any, tmp_path: Path) -> None:
        self.client = client
        self.experiments: dict[str, str] = {}
        self.tmp_path = tmp_path
        self.trained: list[str] = []

    def __call__(self, request: TrainRequest) -> RunInfo:
        if request.experiment not in self.experiments:
            location = (self.tmp_path / "artifacts" / request.experiment).as_uri()
            self.experiments[request.experiment] = self.client.create_experiment(request.experiment,
                                                                                  artifact_location=location)
        run_id = seed_run(self.client, self.experiments[request.experiment], request.spec_hash,
                          experiment=request.experiment, metrics={"test_accuracy": 0.95})
        self.trained.append(request.spec_hash)
        run = MlflowRegistry(self.client).get_run(run_id)
        assert run is not None
        return run


def counts(client: Any) -> tuple[int, int]:
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    versions = client.search_model_versions()
    return len(runs), len(versions)


def test_reconcile_against_mlflow(client: Any, tmp_path: Path) -> None:
    client.create_registered_model("theirs", tags={"owner": "someone"})
    trainer = MlflowFakeTrainer(client, tmp_path)
    stages = [head("staging"), head("production", gates={"test_accuracy": bound(min=0.93)})]
    state = desired(model("iris", requirements={"test_accuracy": bound(min=0.9)}, stages=stages))

    registry = MlflowRegistry(client)
    plan = diff(state, registry.snapshot())
    assert [i.action for i in plan.items] == [Action.CREATE_MODEL, Action.TRAIN, Action.REGISTER,
                                              Action.SET_ALIAS, Action.SET_ALIAS]
    result = apply(plan, registry, trainer)
    assert result.ok, result.failed
    assert client.get_model_version_by_alias("iris", "production").version == 1
    assert client.get_registered_model("iris").tags[tag.MANAGED] == "true"

    # A second apply: nothing to train, register or move; no new runs or versions.
    before = counts(client)
    registry = MlflowRegistry(client)
    again = diff(state, registry.snapshot())
    assert again.items == () and registry.call_count == 4
    assert apply(again, registry, trainer).outcomes == ()
    assert counts(client) == before and trainer.trained == [H1]

    # An edited spec retrains and moves staging; production follows only through its gate.
    edited = desired(model("iris", head_hash=H2, requirements={"test_accuracy": bound(min=0.9)},
                           stages=[head("staging", H2)]))
    result = apply(diff(edited, MlflowRegistry(client).snapshot()), MlflowRegistry(client), trainer)
    assert result.ok and client.get_model_version_by_alias("iris", "staging").version == 2

    # A person moves staging by hand: drift in the plan, healed by apply.
    client.set_registered_model_alias("iris", "staging", "1")
    plan = diff(edited, MlflowRegistry(client).snapshot())
    assert [(i.action, i.subject) for i in plan.items] == [
        (Action.DRIFT, "iris@staging"), (Action.MOVE_ALIAS, "iris@staging"), (Action.DRIFT, "iris@production")]
    apply(plan, MlflowRegistry(client), trainer)
    assert client.get_model_version_by_alias("iris", "staging").version == 2

    # production is no longer declared: reported, then deleted with prune. "theirs" is untouched.
    assert client.get_model_version_by_alias("iris", "production").version == 1
    plan = diff(edited, MlflowRegistry(client).snapshot(), prune=True)
    assert [(i.action, i.subject) for i in plan.items] == [(Action.DELETE_ALIAS, "iris@production")]
    assert apply(plan, MlflowRegistry(client), trainer).ok
    assert client.get_registered_model("iris").aliases == {"staging": 2}
    assert diff(edited, MlflowRegistry(client).snapshot(), prune=True).in_sync
    theirs = client.get_registered_model("theirs")
    assert theirs.tags == {"owner": "someone"} and theirs.aliases == {}


def test_a_hand_edited_version_tag_does_not_fool_apply_against_mlflow(client: Any, tmp_path: Path) -> None:
    """MlflowRegistry.get_run, as apply reads it, decides which version holds a spec just as the
    snapshot does in the plan: a relabelled version is neither re-registered nor aliased wrongly."""
    trainer = MlflowFakeTrainer(client, tmp_path)
    state = desired(model("iris", stages=[head("staging")]))
    stale = diff(state, MlflowRegistry(client).snapshot())  # planned before another apply registered v1
    assert apply(diff(state, MlflowRegistry(client).snapshot()), MlflowRegistry(client), trainer).ok
    client.set_model_version_tag("iris", "1", tag.SPEC_HASH, "tampered")
    result = apply(stale, MlflowRegistry(client), trainer)
    assert result.ok and [v.version for v in client.search_model_versions("name='iris'")] == [1]
    assert client.get_model_version_by_alias("iris", "staging").version == 1 and trainer.trained == [H1]
    plan = diff(state, MlflowRegistry(client).snapshot())
    assert [(i.action, i.subject) for i in plan.items] == [(Action.DRIFT, "iris/v1"), (Action.UPDATE_TAGS, "iris/v1")]
