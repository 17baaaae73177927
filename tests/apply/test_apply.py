"""``apply(plan, registry, trainer)`` on the in-memory registry with a fake trainer: what a user sees
in the registry after each apply (idempotence, crashes, races, gates, drift, prune)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from qspec import tags as tag
from qspec.apply import ApplyResult, Status, TrainRequest, apply, render_result
from qspec.plan import Action, DesiredState, Plan, diff
from qspec.plan.state import RunInfo, Stage, versions_with_hash
from qspec.plan.testing import H1, H2, bound, desired, head, model
from qspec.registry import MemoryRegistry
from qspec.registry.memory import FakeTrainer


def reconcile(state: DesiredState, registry: MemoryRegistry, trainer: FakeTrainer, *,
              prune: bool = False) -> tuple[Plan, ApplyResult]:
    plan = diff(state, registry.snapshot(), prune=prune)
    return plan, apply(plan, registry, trainer)


GATED = desired(model(requirements={"test_accuracy": bound(min=0.9)},
                      stages=[head("staging"), head("production", gates={"test_accuracy": bound(min=0.93)})]))


def test_first_apply_trains_registers_and_sets_aliases() -> None:
    registry = MemoryRegistry()
    trainer = FakeTrainer(registry)
    plan, result = reconcile(GATED, registry, trainer)
    assert result.ok and [o.status for o in result.outcomes] == [Status.DONE] * len(plan.items)
    assert [r.spec_hash for r in trainer.requests] == [H1]
    m = registry.models["m"]
    assert m.tags["qspec.managed"] == "true"
    assert m.aliases == {"staging": 1, "production": 1}
    assert m.tags[tag.alias_record("staging")] == "1"
    assert m.versions[1].tags[tag.SPEC_HASH] == H1 and m.versions[1].tags["qspec.spec_name"] == "exp"
    assert "registered v1 from run run1" in render_result(result)


def test_second_apply_is_a_no_op_and_a_stale_plan_changes_nothing() -> None:
    registry = MemoryRegistry()
    trainer = FakeTrainer(registry)
    first_plan, _ = reconcile(GATED, registry, trainer)
    assert diff(GATED, registry.snapshot()).items == ()
    writes_before = [c for c in registry.calls if not c.startswith(("snapshot", "get_", "runs_for"))]
    again = apply(first_plan, registry, trainer)  # the same plan twice, as after a crash-and-retry
    assert [o.status for o in again.outcomes] == [Status.SKIPPED] * len(first_plan.items)
    assert not again.changed and len(trainer.requests) == 1
    writes_after = [c for c in registry.calls if not c.startswith(("snapshot", "get_", "runs_for"))]
    assert writes_after == writes_before


def test_an_edited_spec_retrains_and_moves_head_while_a_pinned_stage_stays() -> None:
    registry = MemoryRegistry()
    trainer = FakeTrainer(registry)
    reconcile(desired(model(stages=[head("staging"), head("production")])), registry, trainer)
    edited = desired(model(head_hash=H2, stages=[head("staging", H2)]))
    pinned = edited.models["m"]
    state = desired(replace(pinned, builds={**pinned.builds, **GATED.models["m"].builds},
                            stages={**pinned.stages, "production": Stage("production", "ref v1.0", spec_hash=H1)}))
    _, result = reconcile(state, registry, trainer)
    assert result.ok
    assert registry.models["m"].aliases == {"staging": 2, "production": 1}


def test_requirements_are_checked_on_the_new_run_before_registering() -> None:
    registry = MemoryRegistry()
    trainer = FakeTrainer(registry, metrics={H1: {"test_accuracy": 0.5}})
    _, result = reconcile(GATED, registry, trainer)
    statuses = {o.item.action: o.status for o in result.outcomes}
    assert statuses[Action.TRAIN] is Status.DONE and statuses[Action.REGISTER] is Status.BLOCKED
    assert all(o.status is Status.SKIPPED for o in result.outcomes if o.item.alias)
    assert result.ok and registry.models["m"].versions == {}
    # The next plan does not retrain the same spec: it says why it is blocked.
    nxt = diff(GATED, registry.snapshot())
    assert [i.action for i in nxt.items] == [Action.BLOCKED, Action.BLOCKED, Action.BLOCKED]
    assert "test_accuracy = 0.5 (needs >= 0.9)" in nxt.items[0].reason


def test_gates_are_checked_before_an_alias_moves() -> None:
    registry = MemoryRegistry()
    trainer = FakeTrainer(registry, metrics={H1: {"test_accuracy": 0.91}})
    _, result = reconcile(GATED, registry, trainer)
    by_subject = {o.item.subject: o for o in result.outcomes}
    assert by_subject["m@staging"].status is Status.DONE
    assert by_subject["m@production"].status is Status.BLOCKED
    assert "gate failed for v1: test_accuracy = 0.91 (needs >= 0.93)" in by_subject["m@production"].detail
    assert registry.models["m"].aliases == {"staging": 1}


def test_a_failure_stops_only_what_depends_on_it() -> None:
    registry = MemoryRegistry()
    trainer = FakeTrainer(registry, fail={H1})
    state = desired(model("a"), model("b", head_hash=H2, experiment="exp2"))
    _, result = reconcile(state, registry, trainer)
    assert not result.ok
    status = {(o.item.action, o.item.subject): o.status for o in result.outcomes}
    assert status[(Action.TRAIN, f"exp#{H1[:12]}")] is Status.FAILED
    assert status[(Action.REGISTER, "a")] is Status.SKIPPED
    assert status[(Action.SET_ALIAS, "a@staging")] is Status.SKIPPED
    assert registry.models["b"].aliases == {"staging": 1}
    assert "RuntimeError: the simulator crashed" in result.failed[0].detail
    assert [o.item.subject for o in result.outcomes if o.not_attempted] == ["a", "a@staging"]
    assert "0 already in place, 2 not attempted" in render_result(result)


def test_not_attempted_is_a_flag_on_the_outcome_not_a_wording() -> None:
    registry = MemoryRegistry()
    _, result = reconcile(desired(model("a")), registry, FakeTrainer(registry, fail={H1}))
    reworded = ApplyResult(tuple(replace(o, detail="waits for the training") for o in result.outcomes))
    assert "0 already in place, 2 not attempted" in render_result(reworded)
    in_place = ApplyResult(tuple(replace(o, not_attempted=False) for o in result.outcomes))
    assert "2 already in place, 0 not attempted" in render_result(in_place)
    assert [o.as_dict()["not_attempted"] for o in result.outcomes] == [False, False, True, True]


def test_a_run_left_running_by_a_crash_is_marked_failed_and_retrained() -> None:
    registry = MemoryRegistry()
    dead = registry.add_run(H1, status="RUNNING")
    registry.add_model("m")
    _, result = reconcile(GATED, registry, FakeTrainer(registry))
    assert registry.runs[dead.run_id].status == "FAILED"
    assert any("left RUNNING by a dead apply" in c for c in result.cleanups)
    assert registry.models["m"].aliases == {"staging": 1, "production": 1}


def test_a_crash_between_registering_and_aliasing_converges() -> None:
    registry = MemoryRegistry()
    trainer = FakeTrainer(registry)
    plan = diff(GATED, registry.snapshot())
    upto = [i for i in plan.items if i.action not in (Action.SET_ALIAS, Action.MOVE_ALIAS)]
    apply(Plan(tuple(upto)), registry, trainer)  # "killed" before the aliases
    nxt = diff(GATED, registry.snapshot())
    assert [i.action for i in nxt.items] == [Action.SET_ALIAS, Action.SET_ALIAS]
    apply(nxt, registry, trainer)
    assert registry.models["m"].aliases == {"staging": 1, "production": 1} and len(trainer.requests) == 1


def test_a_crash_between_alias_and_its_record_is_not_drift() -> None:
    registry = MemoryRegistry()
    reconcile(GATED, registry, FakeTrainer(registry))
    del registry.models["m"].tags[tag.alias_record("staging")]
    plan = diff(GATED, registry.snapshot())
    assert [i.action for i in plan.items] == [Action.UPDATE_TAGS]
    apply(plan, registry, FakeTrainer(registry))
    assert diff(GATED, registry.snapshot()).in_sync


class RacingRegistry(MemoryRegistry):
    """Another apply registers the same hash just before ours does."""

    def register_version(self, name: str, run: RunInfo, tags: Mapping[str, str]) -> int:
        if not getattr(self, "raced", False):
            self.raced = True
            super().register_version(name, run, tags)
        return super().register_version(name, run, tags)


def test_a_race_leaves_one_version_per_hash_and_says_what_it_cleaned() -> None:
    registry = RacingRegistry()
    _, result = reconcile(GATED, registry, FakeTrainer(registry))
    assert sorted(registry.models["m"].versions) == [1]
    assert registry.models["m"].aliases == {"staging": 1, "production": 1}
    assert result.cleanups == ("m/v2: deleted, a duplicate of v1 registered by a concurrent apply",)


def test_a_version_registered_since_the_plan_is_reused() -> None:
    registry = MemoryRegistry()
    trainer = FakeTrainer(registry)
    stale = diff(GATED, registry.snapshot())
    reconcile(GATED, registry, trainer)  # another apply finished in between
    result = apply(stale, registry, trainer)
    assert len(trainer.requests) == 1 and sorted(registry.models["m"].versions) == [1]
    assert all(o.status is Status.SKIPPED for o in result.outcomes)


def test_duplicates_left_by_an_old_race_are_cleaned_up() -> None:
    registry = MemoryRegistry()
    reconcile(GATED, registry, FakeTrainer(registry))
    registry.register_version("m", registry.runs["run1"], dict(registry.models["m"].versions[1].tags))
    registry.set_alias("m", "staging", 2)
    registry.set_model_tags("m", {tag.alias_record("staging"): "2"})
    plan, result = reconcile(GATED, registry, FakeTrainer(registry))
    assert [i.action for i in plan.items] == [Action.MOVE_ALIAS, Action.DELETE_VERSION]
    assert sorted(registry.models["m"].versions) == [1] and registry.models["m"].aliases["staging"] == 1
    assert result.cleanups == ("m/v2: deleted, a duplicate of v1",)


def test_a_hand_edited_spec_hash_tag_does_not_make_apply_register_a_duplicate() -> None:
    registry = MemoryRegistry()
    trainer = FakeTrainer(registry)
    stale = diff(GATED, registry.snapshot())  # planned before another apply registered v1
    reconcile(GATED, registry, trainer)
    registry.edit_version_tag("m", 1, tag.SPEC_HASH, "tampered")
    mark = len(registry.calls)
    result = apply(stale, registry, trainer)
    assert result.ok and sorted(registry.models["m"].versions) == [1]
    assert registry.models["m"].aliases == {"staging": 1, "production": 1}
    register = next(o for o in result.outcomes if o.item.action is Action.REGISTER)
    assert (register.status, register.detail) == (Status.SKIPPED, "v1 already holds this spec")
    assert registry.calls[mark:].count("get_run run1") == 1  # each version's run is read once per apply
    # What is left is what the plan says: the edited tag, as drift repaired by update-tags.
    plan, _ = reconcile(GATED, registry, trainer)
    assert [i.action for i in plan.items] == [Action.DRIFT, Action.UPDATE_TAGS]
    assert diff(GATED, registry.snapshot()).in_sync


def test_a_tag_edited_to_another_spec_does_not_put_an_alias_on_the_wrong_version() -> None:
    registry = MemoryRegistry()
    trainer = FakeTrainer(registry)
    reconcile(desired(model()), registry, trainer)  # v1 from run1, spec H1
    registry.edit_version_tag("m", 1, tag.SPEC_HASH, H2)  # a person relabels v1 as spec H2
    trained = registry.add_run(H2, metrics={"test_accuracy": 0.95})  # H2 trained, not yet registered
    edited = desired(model(head_hash=H2, stages=[head("staging", H2)]))
    plan = diff(edited, registry.snapshot())
    assert [(i.action, i.subject) for i in plan.items] == [
        (Action.REGISTER, "m"), (Action.DRIFT, "m/v1"), (Action.UPDATE_TAGS, "m/v1"), (Action.MOVE_ALIAS, "m@staging")]
    # Plan and apply see the same versions for each spec: by the run, not by the edited tag.
    model_now, snapshot = registry.get_model("m"), registry.snapshot()
    assert model_now is not None
    for spec_hash in (H1, H2):
        assert (versions_with_hash(model_now, spec_hash, snapshot.runs_by_id.get)
                == versions_with_hash(model_now, spec_hash, registry.get_run))
    result = apply(plan, registry, trainer)
    assert result.ok
    m = registry.models["m"]
    assert sorted(m.versions) == [1, 2] and m.versions[2].run_id == trained.run_id
    assert m.aliases == {"staging": 2} and m.versions[1].tags[tag.SPEC_HASH] == H1
    assert diff(edited, registry.snapshot()).in_sync


def test_drift_is_healed() -> None:
    registry = MemoryRegistry()
    state = desired(model(head_hash=H2, stages=[head("staging", H2)]))
    registry.add_model("m")
    old = registry.add_run(H1)
    registry.register_version("m", old, {tag.SPEC_HASH: H1})
    reconcile(state, registry, FakeTrainer(registry))
    registry.set_alias("m", "staging", 1)  # moved by hand
    registry.edit_version_tag("m", 2, tag.SPEC_HASH, "tampered")
    plan, result = reconcile(state, registry, FakeTrainer(registry))
    assert Action.DRIFT in {i.action for i in plan.items} and result.ok
    assert registry.models["m"].aliases == {"staging": 2}
    assert registry.models["m"].versions[2].tags[tag.SPEC_HASH] == H2
    assert diff(state, registry.snapshot()).in_sync


def test_prune_deletes_undeclared_aliases_and_their_records_only() -> None:
    registry = MemoryRegistry()
    reconcile(GATED, registry, FakeTrainer(registry))
    registry.add_model("theirs", managed=False)
    registry.register_version("theirs", registry.runs["run1"], {})
    registry.set_alias("theirs", "champion", 1)
    only_staging = desired(model(stages=[head("staging")]))
    mark = len(registry.calls)
    plan, _ = reconcile(only_staging, registry, FakeTrainer(registry))
    assert [i.action for i in plan.items] == [Action.DRIFT]
    assert registry.models["m"].aliases == {"staging": 1, "production": 1}
    plan, result = reconcile(only_staging, registry, FakeTrainer(registry), prune=True)
    assert [i.action for i in plan.items] == [Action.DELETE_ALIAS] and result.ok
    assert registry.models["m"].aliases == {"staging": 1}
    assert tag.alias_record("production") not in registry.models["m"].tags
    assert registry.models["theirs"].aliases == {"champion": 1}
    assert not [c for c in registry.calls[mark:] if "theirs" in c and not c.startswith("get_")]


def test_a_trainer_that_ran_another_spec_fails_the_item() -> None:
    registry = MemoryRegistry()

    def wrong(request: TrainRequest) -> RunInfo:
        return registry.add_run(H2)

    plan = diff(GATED, registry.snapshot())
    result = apply(plan, registry, wrong)
    assert "the specs changed since the plan; plan again" in result.failed[0].detail
    assert registry.models["m"].versions == {}


def test_apply_without_a_trainer_fails_training_items_only() -> None:
    registry = MemoryRegistry()
    result = apply(diff(GATED, registry.snapshot()), registry)
    assert [o.status for o in result.outcomes][:2] == [Status.DONE, Status.FAILED]
    assert "no trainer" in result.failed[0].detail


def test_report_is_called_for_each_outcome() -> None:
    registry = MemoryRegistry()
    seen: list[str] = []
    plan = diff(GATED, registry.snapshot())
    apply(plan, registry, FakeTrainer(registry), report=lambda o: seen.append(o.item.subject))
    assert seen == [i.subject for i in plan.items]
