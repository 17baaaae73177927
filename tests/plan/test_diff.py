"""``diff(desired, actual)``, table-style: one row per situation, covering every action."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from qspec import tags as tag
from qspec.plan import Action, ActualState, Budget, DesiredState, Estimate, Reason, Stage, VersionInfo, diff
from qspec.plan.actions import (
    Cost,
    NewVersion,
    PendingVersion,
    Recorded,
    TagValue,
    TagValues,
    Text,
    Value,
    describe,
)
from qspec.plan.state import Blocker
from qspec.plan.testing import (
    EST,
    H1,
    H2,
    H3,
    actual,
    bound,
    build,
    desired,
    head,
    model,
    registered,
    run,
    version,
)

A = Action
R = Reason


@dataclass(frozen=True)
class Case:
    id: str
    desired: DesiredState
    actual: ActualState
    expected: list[tuple[Action, str, Reason]]  # each item's action, subject and reason code
    prune: bool = False
    reasons: dict[int, str] = field(default_factory=dict)  # item index -> a phrase its reason holds


def gated(spec_hash: str = H1) -> list[Stage]:
    return [head("staging", spec_hash), head("production", spec_hash, gates={"test_accuracy": bound(min=0.93)})]


GATED = gated()
UNRESOLVED = Stage("production", "ref v9", error="ref v9: git revision 'v9' does not resolve")
TWICE = Stage("production", "track HEAD", error="stage 'production' of Model 'm' is declared by Deployments 'a' "
              "and 'b'; keep it in one", error_code=Reason.STAGE_DECLARED_TWICE)

CASES = [
    Case("nothing in the registry: create, train, register, set alias",
         desired(model()), actual(),
         [(A.CREATE_MODEL, "m", R.MODEL_MISSING), (A.TRAIN, f"exp#{H1[:12]}", R.NO_RUN),
          (A.REGISTER, "m", R.AFTER_TRAINING), (A.SET_ALIAS, "m@staging", R.ALIAS_DECLARED)],
         reasons={1: "no run of spec", 2: "after training"}),
    Case("in sync: no items",
         desired(model()), actual(registered(versions=[version(1, "r1")], aliases={"staging": 1}), runs=[run("r1")]),
         []),
    Case("a finished run that met the requirements is registered, not retrained",
         desired(model(requirements={"test_accuracy": bound(min=0.9)})),
         actual(registered(), runs=[run("r1")]),
         [(A.REGISTER, "m", R.RUN_PASSED), (A.SET_ALIAS, "m@staging", R.ALIAS_DECLARED)],
         reasons={0: "met the requirements"}),
    Case("a finished run that missed the requirements blocks the build and its stage",
         desired(model(requirements={"test_accuracy": bound(min=0.99)})),
         actual(registered(), runs=[run("r1")]),
         [(A.BLOCKED, f"m: exp#{H1[:12]}", R.REQUIREMENT_NOT_MET), (A.BLOCKED, "m@staging", R.BUILD_BLOCKED)],
         reasons={0: "requirement not met by run r1: test_accuracy = 0.95 (needs >= 0.99)"}),
    Case("a requirement on a metric the run never logged blocks",
         desired(model(requirements={"energy_error": bound(max=0.01)})),
         actual(registered(), runs=[run("r1")]),
         [(A.BLOCKED, f"m: exp#{H1[:12]}", R.REQUIREMENT_NOT_MET), (A.BLOCKED, "m@staging", R.BUILD_BLOCKED)],
         reasons={0: "energy_error was not recorded"}),
    Case("a failed run is retrained",
         desired(model()), actual(registered(), runs=[run("r1", status="FAILED")]),
         [(A.TRAIN, f"exp#{H1[:12]}", R.LAST_RUN_FAILED), (A.REGISTER, "m", R.AFTER_TRAINING),
          (A.SET_ALIAS, "m@staging", R.ALIAS_DECLARED)],
         reasons={0: "the last run (r1) failed"}),
    Case("a RUNNING run: apply waits for it while it is claimed, else retrains",
         desired(model()), actual(registered(), runs=[run("r1", status="RUNNING")]),
         [(A.TRAIN, f"exp#{H1[:12]}", R.RUN_RUNNING), (A.REGISTER, "m", R.AFTER_TRAINING),
          (A.SET_ALIAS, "m@staging", R.ALIAS_DECLARED)],
         reasons={0: "waits for it while another apply's claim on the spec is live"}),
    Case("a RUNNING run beside a FINISHED one of its spec (a retried runs/create) is closed",
         desired(model()),
         actual(registered(versions=[version(1, "r1")], aliases={"staging": 1}),
                runs=[run("r0", status="RUNNING"), run("r1", start=2)]),
         [(A.CLOSE_RUN, f"exp#{H1[:12]} run r0", R.RUN_ABANDONED)],
         reasons={0: "run r1 of spec"}),
    Case("a RUNNING run of a spec git no longer declares is closed; a TRAIN's own RUNNING runs are not",
         desired(model(head_hash=H2)),
         actual(registered(versions=[version(1, "r1")], aliases={"staging": 1}),
                runs=[run("r1"), run("r3", H3, status="RUNNING"), run("r2", H2, status="RUNNING")]),
         [(A.TRAIN, f"exp#{H2[:12]}", R.RUN_RUNNING), (A.REGISTER, "m", R.AFTER_TRAINING),
          (A.MOVE_ALIAS, "m@staging", R.ALIAS_DECLARED), (A.CLOSE_RUN, f"exp#{H3[:12]} run r3", R.RUN_ABANDONED)],
         reasons={3: "not trained by this plan"}),
    Case("a version without its alias: set the alias",
         desired(model()), actual(registered(versions=[version(1, "r1")]), runs=[run("r1")]),
         [(A.SET_ALIAS, "m@staging", R.ALIAS_DECLARED)]),
    Case("git moved HEAD to a new spec: train, register, move the alias",
         desired(model(head_hash=H2)),
         actual(registered(versions=[version(1, "r1")], aliases={"staging": 1}), runs=[run("r1")]),
         [(A.TRAIN, f"exp#{H2[:12]}", R.NO_RUN), (A.REGISTER, "m", R.AFTER_TRAINING),
          (A.MOVE_ALIAS, "m@staging", R.ALIAS_DECLARED)],
         reasons={2: "git declares track HEAD, once the version exists"}),
    Case("git moved HEAD back to a spec that has a version: move the alias only",
         desired(model(head_hash=H1)),
         actual(registered(versions=[version(1, "r1"), version(2, "r2", H2)], aliases={"staging": 2}),
                runs=[run("r1"), run("r2", H2)]),
         [(A.MOVE_ALIAS, "m@staging", R.ALIAS_DECLARED)]),
    Case("an alias moved by hand is drift, healed by moving it back",
         desired(model()),
         actual(registered(versions=[version(1, "r1"), version(2, "r2", H2)], aliases={"staging": 2},
                           records={"staging": 1}), runs=[run("r1"), run("r2", H2)]),
         [(A.DRIFT, "m@staging", R.ALIAS_MOVED_BY_HAND), (A.MOVE_ALIAS, "m@staging", R.HEAL_DRIFT)],
         reasons={0: "moved by hand", 1: "heal drift"}),
    Case("an alias deleted by hand is drift, healed by setting it",
         desired(model()),
         actual(registered(versions=[version(1, "r1")], aliases={}, records={"staging": 1}), runs=[run("r1")]),
         [(A.DRIFT, "m@staging", R.ALIAS_DELETED_BY_HAND), (A.SET_ALIAS, "m@staging", R.HEAL_DRIFT)],
         reasons={0: "deleted by hand"}),
    Case("a gate that passes on the version's metrics lets the alias move",
         desired(model(stages=GATED)),
         actual(registered(versions=[version(1, "r1")], aliases={"staging": 1}), runs=[run("r1")]),
         [(A.SET_ALIAS, "m@production", R.ALIAS_DECLARED)], reasons={0: "gate passed (test_accuracy >= 0.93)"}),
    Case("a gate that fails on known metrics blocks the alias",
         desired(model(stages=GATED)),
         actual(registered(versions=[version(1, "r1")], aliases={"staging": 1}),
                runs=[run("r1", metrics={"test_accuracy": 0.91})]),
         [(A.BLOCKED, "m@production", R.GATE_FAILED)],
         reasons={0: "gate failed for v1: test_accuracy = 0.91 (needs >= 0.93)"}),
    Case("a gate on a version still to be trained is checked by apply",
         desired(model(head_hash=H2, stages=gated(H2))),
         actual(registered(versions=[version(1, "r1")], aliases={"staging": 1, "production": 1}), runs=[run("r1")]),
         [(A.TRAIN, f"exp#{H2[:12]}", R.NO_RUN), (A.REGISTER, "m", R.AFTER_TRAINING),
          (A.MOVE_ALIAS, "m@production", R.ALIAS_DECLARED),
          (A.MOVE_ALIAS, "m@staging", R.ALIAS_DECLARED)],
         reasons={2: "passes the gate (test_accuracy >= 0.93)"}),
    Case("an alias git does not declare is reported",
         desired(model()),
         actual(registered(versions=[version(1, "r1")], aliases={"staging": 1, "old": 1}), runs=[run("r1")]),
         [(A.DRIFT, "m@old", R.UNDECLARED_ALIAS)], reasons={0: "would be deleted with --prune"}),
    Case("... and deleted with prune",
         desired(model()),
         actual(registered(versions=[version(1, "r1")], aliases={"staging": 1, "old": 1}), runs=[run("r1")]),
         [(A.DELETE_ALIAS, "m@old", R.UNDECLARED_ALIAS)], prune=True),
    Case("a registered model qspec does not manage is never touched",
         desired(model()),
         actual(registered(versions=[version(1, "r1")], aliases={"champion": 1}, managed=False), runs=[run("r1")]),
         [(A.BLOCKED, "m", R.MODEL_UNMANAGED)], prune=True, reasons={0: "does not manage"}),
    Case("an unmanaged model git does not declare is left alone, even with prune",
         desired(), actual(registered("other", versions=[version(1, "r1")], aliases={"x": 1}, managed=False)),
         [], prune=True),
    Case("a managed model git no longer declares: its aliases are reported",
         desired(), actual(registered("gone", versions=[version(1, "r1")], aliases={"staging": 1}), runs=[run("r1")]),
         [(A.DRIFT, "gone@staging", R.MODEL_UNDECLARED)], reasons={0: "no longer declared"}),
    Case("... and pruned; with no aliases left it is in sync (versions are history)",
         desired(), actual(registered("gone", versions=[version(1, "r1")], aliases={"staging": 1}), runs=[run("r1")]),
         [(A.DELETE_ALIAS, "gone@staging", R.MODEL_UNDECLARED)], prune=True),
    Case("a managed model without aliases that git no longer declares is in sync",
         desired(), actual(registered("gone", versions=[version(1, "r1")]), runs=[run("r1")]), []),
    Case("an estimate over max_shots blocks training",
         desired(model(builds=[build(budget=Budget(max_shots=1000))])), actual(registered()),
         [(A.BLOCKED, f"exp#{H1[:12]}", R.BUDGET_EXCEEDED), (A.BLOCKED, "m@staging", R.BUILD_BLOCKED)],
         reasons={0: "budget exceeded: an estimated 1,228,800 shots > max_shots 1,000"}),
    Case("an estimate over max_cost_usd blocks training",
         desired(model(builds=[build(estimate=Estimate(10, 100, 12.5, 7.8), budget=Budget(max_cost_usd=10))])),
         actual(registered()),
         [(A.BLOCKED, f"exp#{H1[:12]}", R.BUDGET_EXCEEDED), (A.BLOCKED, "m@staging", R.BUILD_BLOCKED)],
         reasons={0: "$12.50 > max_cost_usd $10.00"}),
    Case("a target without credentials blocks training, and a missing model is not created for nothing",
         desired(model(builds=[build(blocker=Blocker(R.CREDENTIALS_MISSING, "no IBM Quantum account"))])), actual(),
         [(A.BLOCKED, f"exp#{H1[:12]}", R.CREDENTIALS_MISSING), (A.BLOCKED, "m@staging", R.BUILD_BLOCKED)],
         reasons={0: "no IBM Quantum account", 1: "(credentials missing)"}),
    Case("a training that needs more memory than it may use is blocked",
         desired(model(builds=[build(blocker=Blocker(R.MEMORY_EXCEEDED, "needs 48 GiB"))])), actual(registered()),
         [(A.BLOCKED, f"exp#{H1[:12]}", R.MEMORY_EXCEEDED), (A.BLOCKED, "m@staging", R.BUILD_BLOCKED)]),
    Case("a pre-flight does not block a spec that already has a run",
         desired(model(builds=[build(blocker=Blocker(R.MEMORY_EXCEEDED, "needs 48 GiB"))])),
         actual(registered(), runs=[run("r1")]),
         [(A.REGISTER, "m", R.RUN_PASSED), (A.SET_ALIAS, "m@staging", R.ALIAS_DECLARED)]),
    Case("a budget does not block a spec that already has a run",
         desired(model(builds=[build(budget=Budget(max_shots=1))])), actual(registered(), runs=[run("r1")]),
         [(A.REGISTER, "m", R.RUN_PASSED), (A.SET_ALIAS, "m@staging", R.ALIAS_DECLARED)]),
    Case("a ref that does not resolve blocks its stage, and only it",
         desired(model(stages=[head(), UNRESOLVED])),
         actual(registered(versions=[version(1, "r1")], aliases={"staging": 1}), runs=[run("r1")]),
         [(A.BLOCKED, "m@production", R.REF_UNRESOLVED)], reasons={0: "does not resolve"}),
    Case("a stage two Deployments declare blocks, and only it",
         desired(model(stages=[head(), TWICE])),
         actual(registered(versions=[version(1, "r1")], aliases={"staging": 1}), runs=[run("r1")]),
         [(A.BLOCKED, "m@production", R.STAGE_DECLARED_TWICE)], reasons={0: "keep it in one"}),
    Case("a ref stage pins an older spec: both builds, each alias on its own",
         desired(model(head_hash=H2, builds=[build(H2), build(H1, rev="v1.0")],
                       stages=[head(spec_hash=H2), Stage("production", "ref v1.0", spec_hash=H1)])),
         actual(registered(versions=[version(1, "r1")], aliases={"staging": 1, "production": 1}), runs=[run("r1")]),
         [(A.TRAIN, f"exp#{H2[:12]}", R.NO_RUN), (A.REGISTER, "m", R.AFTER_TRAINING),
          (A.MOVE_ALIAS, "m@staging", R.ALIAS_DECLARED)]),
    Case("a ref stage whose spec was never trained trains it at that ref",
         desired(model(head_hash=H2, builds=[build(H2), build(H1, rev="v1.0")],
                       stages=[Stage("production", "ref v1.0", spec_hash=H1)])),
         actual(registered(versions=[version(1, "r2", H2)]), runs=[run("r2", H2)]),
         [(A.TRAIN, f"exp#{H1[:12]}", R.NO_RUN), (A.REGISTER, "m", R.AFTER_TRAINING),
          (A.SET_ALIAS, "m@production", R.ALIAS_DECLARED)],
         reasons={0: "at v1.0"}),
    Case("version: N adopts an existing version",
         desired(model(stages=[Stage("production", "version 1", version=1)])),
         actual(registered(versions=[version(1, "r1")]), runs=[run("r1")]),
         [(A.SET_ALIAS, "m@production", R.ALIAS_DECLARED)]),
    Case("version: N that does not exist blocks",
         desired(model(stages=[Stage("production", "version 7", version=7)])),
         actual(registered(versions=[version(1, "r1")]), runs=[run("r1")]),
         [(A.BLOCKED, "m@production", R.VERSION_MISSING)], reasons={0: "version 7 of 'm' does not exist"}),
    Case("a managed tag edited by hand is drift, healed by update-tags",
         desired(model()),
         actual(registered(versions=[version(1, "r1", **{tag.SPEC_HASH: "edited"})], aliases={"staging": 1}),
                runs=[run("r1")]),
         [(A.DRIFT, "m/v1", R.MANAGED_TAGS_EDITED), (A.UPDATE_TAGS, "m/v1", R.RESTORE_TAGS)],
         reasons={0: "managed tags edited by hand"}),
    Case("an alias in place without qspec's record: record it",
         desired(model()),
         actual(registered(versions=[version(1, "r1")], aliases={"staging": 1}, records={}), runs=[run("r1")]),
         [(A.UPDATE_TAGS, "m", R.ALIAS_RECORD_MISSING)], reasons={0: "record that qspec manages @staging"}),
    Case("two versions for one hash (a race): keep the lowest, delete the other",
         desired(model()),
         actual(registered(versions=[version(1, "r1"), version(2, "r2")], aliases={"staging": 1}),
                runs=[run("r1"), run("r2", start=2)]),
         [(A.DELETE_VERSION, "m/v2", R.DUPLICATE_VERSION)], reasons={0: "duplicate of v1"}),
    Case("a version a person registered from a qspec run is not a duplicate to delete",
         desired(model()),
         actual(registered(versions=[version(1, "r1"), VersionInfo(2, "r1", {})], aliases={"staging": 1}),
                runs=[run("r1")]),
         []),
    Case("a duplicate an alias still serves: move the alias first, then delete",
         desired(model()),
         actual(registered(versions=[version(1, "r1"), version(2, "r2")], aliases={"staging": 2}),
                runs=[run("r1"), run("r2", start=2)]),
         [(A.MOVE_ALIAS, "m@staging", R.ALIAS_DECLARED), (A.DELETE_VERSION, "m/v2", R.DUPLICATE_VERSION)]),
    Case("two models on one experiment train it once",
         desired(model("a"), model("b")), actual(),
         [(A.CREATE_MODEL, "a", R.MODEL_MISSING), (A.TRAIN, f"exp#{H1[:12]}", R.NO_RUN),
          (A.REGISTER, "a", R.AFTER_TRAINING), (A.SET_ALIAS, "a@staging", R.ALIAS_DECLARED),
          (A.CREATE_MODEL, "b", R.MODEL_MISSING), (A.REGISTER, "b", R.AFTER_TRAINING),
          (A.SET_ALIAS, "b@staging", R.ALIAS_DECLARED)]),
    Case("an Experiment no Model registers is trained and tracked, nothing registered",
         desired(experiments=[build(H3, "solo")]), actual(),
         [(A.TRAIN, f"solo#{H3[:12]}", R.EXPERIMENT_UNTRAINED)], reasons={0: "an Experiment of its own"}),
    Case("an Experiment with a finished run is in sync; a failed one is trained again",
         desired(experiments=[build(H3, "solo"), build(H2, "other")]),
         actual(runs=[run("r3", H3), run("r2", H2, status="FAILED")]),
         [(A.TRAIN, f"other#{H2[:12]}", R.LAST_RUN_FAILED)]),
    Case("an Experiment over its budget is blocked, with nothing written",
         desired(experiments=[build(H3, "solo", budget=Budget(max_shots=10))]), actual(),
         [(A.BLOCKED, f"solo#{H3[:12]}", R.BUDGET_EXCEEDED)]),
    Case("an Experiment a Model consumes is trained once, by the model's plan",
         desired(model(stages=[])), actual(),
         [(A.CREATE_MODEL, "m", R.MODEL_MISSING), (A.TRAIN, f"exp#{H1[:12]}", R.NO_RUN),
          (A.REGISTER, "m", R.AFTER_TRAINING)]),
    Case("a Model's description is synced to the registered model",
         desired(model(description="Iris, 4 qubits")),
         actual(registered(versions=[version(1, "r1")], aliases={"staging": 1}, description="old"), runs=[run("r1")]),
         [(A.UPDATE_DESCRIPTION, "m", R.DESCRIPTION_CHANGED)]),
    Case("a description git does not declare is left to the registry",
         desired(model()),
         actual(registered(versions=[version(1, "r1")], aliases={"staging": 1}, description="a person's"),
                runs=[run("r1")]),
         []),
    Case("a new model gets its description after it is created",
         desired(model(stages=[], description="Iris")), actual(),
         [(A.CREATE_MODEL, "m", R.MODEL_MISSING), (A.UPDATE_DESCRIPTION, "m", R.DESCRIPTION_CHANGED),
          (A.TRAIN, f"exp#{H1[:12]}", R.NO_RUN), (A.REGISTER, "m", R.AFTER_TRAINING)]),
    Case("a Model without a Deployment gets versions and no alias",
         desired(model(stages=[])), actual(),
         [(A.CREATE_MODEL, "m", R.MODEL_MISSING), (A.TRAIN, f"exp#{H1[:12]}", R.NO_RUN),
          (A.REGISTER, "m", R.AFTER_TRAINING)]),
    Case("a stage's new serving block is recorded, nothing trains",
         desired(model(stages=[head(serving='{"shots":1024}')])),
         actual(registered(versions=[version(1, "r1")], aliases={"staging": 1}), runs=[run("r1")]),
         [(A.UPDATE_SERVING, "m@staging", R.SERVING_DECLARED)], reasons={0: "no retraining"}),
    Case("a changed serving block updates the record",
         desired(model(stages=[head(serving='{"shots":2048}')])),
         actual(registered(versions=[version(1, "r1")], aliases={"staging": 1}, servings={"staging": '{"shots":1024}'}),
                runs=[run("r1")]),
         [(A.UPDATE_SERVING, "m@staging", R.SERVING_CHANGED)]),
    Case("a removed serving block removes the record",
         desired(model()),
         actual(registered(versions=[version(1, "r1")], aliases={"staging": 1}, servings={"staging": '{"shots":1024}'}),
                runs=[run("r1")]),
         [(A.UPDATE_SERVING, "m@staging", R.SERVING_REMOVED)], reasons={0: "declares no serving block"}),
    Case("a ref stage whose version cannot run on its serving target blocks the serving item only",
         desired(model(stages=[Stage("staging", "ref v1", spec_hash=H1, serving='{"target":"fake:manila"}',
                                     serving_error="ref v1: serving.target: the model's circuit needs 6 qubits")])),
         actual(registered(versions=[version(1, "r1")], aliases={"staging": 1}), runs=[run("r1")]),
         [(A.BLOCKED, "m@staging", R.SERVING_UNSERVABLE)], reasons={0: "cannot serve as declared: ref v1"}),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_diff(case: Case) -> None:
    plan = diff(case.desired, case.actual, prune=case.prune)
    assert [(i.action, i.subject, i.code) for i in plan.items] == case.expected
    for index, phrase in case.reasons.items():
        assert phrase in plan.items[index].reason, plan.items[index]


def test_every_action_is_covered_by_the_table() -> None:
    seen = {action for case in CASES for action, _, _ in case.expected}
    assert seen == set(Action)


def test_every_reason_code_is_covered_by_the_table() -> None:
    seen = {code for case in CASES for _, _, code in case.expected}
    assert seen == set(Reason)



def test_diff_is_pure_and_deterministic() -> None:
    d, a = CASES[0].desired, CASES[0].actual
    assert diff(d, a) == diff(d, a)


def test_train_item_carries_what_apply_and_the_pr_comment_need() -> None:
    plan = diff(desired(model(requirements={"test_accuracy": bound(min=0.9)})), actual())
    train, register = plan.items[1], plan.items[2]
    assert train.estimate == EST and train.experiment == "exp" and train.spec_hash == H1
    assert train.new == Cost(EST) and describe(train.new) == "1,200 circuits, 1,228,800 shots, $0.00"
    assert register.new == NewVersion(f"exp#{H1[:12]}")
    assert register.pending and register.checks == {"test_accuracy": bound(min=0.9)}
    assert register.tags["qspec.spec_hash"] == H1 and register.tags["qspec.managed"] == "true"


def test_alias_items_name_old_and_new() -> None:
    plan = diff(desired(model()), actual(registered(versions=[version(1, "r1"), version(2, "r2", H2)],
                                                    aliases={"staging": 2}), runs=[run("r1"), run("r2", H2)]))
    (item,) = plan.items
    assert (item.old, item.new, item.version, item.alias) == (2, 1, 1, "staging")


def test_old_and_new_are_values_that_describe_renders() -> None:
    """What each kind of item holds in ``old`` and ``new``, and the text plans show for it."""
    label = f"exp#{H1[:12]}"
    moved = diff(desired(model()), actual(registered(versions=[version(1, "r1"), version(2, "r2", H2)],
                                                     aliases={"staging": 2}, records={"staging": 1}),
                                          runs=[run("r1"), run("r2", H2)])).items[0]
    assert (moved.old, moved.new) == (Recorded("1"), 2)
    edited = diff(desired(model()), actual(registered(versions=[version(1, "r1", **{tag.SPEC_HASH: "edited"})],
                                                      aliases={"staging": 1}), runs=[run("r1")])).items
    tags_were, tags_wanted = TagValues({tag.SPEC_HASH: "edited"}), TagValues({tag.SPEC_HASH: H1})
    assert [(i.old, i.new) for i in edited] == [(tags_were, tags_wanted)] * 2  # the drift, and its repair
    unrecorded = diff(desired(model()), actual(registered(versions=[version(1, "r1")], aliases={"staging": 1},
                                                          records={}), runs=[run("r1")])).items[0]
    assert (unrecorded.old, unrecorded.new) == (None, TagValue("1"))
    registers = diff(desired(model()), actual(registered(), runs=[run("r1")])).items[0]
    assert registers.new == NewVersion(label, "r1")
    unpriced = diff(desired(model(builds=[build(estimate=None)])), actual()).items[1]
    assert unpriced.new == Cost(None)
    pending = diff(desired(model(head_hash=H2)), actual(registered(versions=[version(1, "r1")], aliases={"staging": 1}),
                                                        runs=[run("r1")])).items[2]
    assert (pending.old, pending.new) == (1, PendingVersion(f"exp#{H2[:12]}"))
    texts: list[tuple[Value, str]] = [
        (3, "v3"), (Recorded("7"), "v7"), (Recorded("x"), "vx"), (TagValue("2"), "2"),
        (TagValues({"b": "2", "a": None}), "a=None, b='2'"), (NewVersion(label), f"version of {label}"),
        (NewVersion(label, "r1"), f"version of {label} from run r1"),
        (PendingVersion(label), f"the new version of {label}"),
        (Cost(EST), "1,200 circuits, 1,228,800 shots, $0.00"), (Cost(None), "cost unknown"),
        (Text("Iris\n  on 4 qubits"), "'Iris on 4 qubits'"), (Text("x" * 80), repr("x" * 57 + "...")),
    ]
    assert [(value, describe(value)) for value, _ in texts] == texts


def test_only_limits_the_plan_to_named_models() -> None:
    plan = diff(desired(model("a"), model("b"), experiments=[build(H3, "solo")]), actual(), only={"b"})
    assert {i.model for i in plan.items} == {"b"}


def test_an_experiment_of_its_own_carries_its_budget_as_a_models_build_does() -> None:
    budget = Budget(max_shots=2_000_000)
    solo = diff(desired(experiments=[build(H3, "solo", budget=budget)]), actual()).items
    registered_by_model = diff(desired(model(builds=[build(budget=budget)], stages=[])), actual()).items
    assert [(i.action, i.budget) for i in solo] == [(A.TRAIN, budget)]
    assert [i.budget for i in registered_by_model if i.action is A.TRAIN] == [budget]


def test_only_experiments_selects_experiments_of_their_own() -> None:
    state = desired(model("a"), experiments=[build(H3, "solo"), build(H2, "other")])
    plan = diff(state, actual(), only=set(), only_experiments={"solo"})
    assert [(i.action, i.experiment, i.model) for i in plan.items] == [(A.TRAIN, "solo", None)]


def test_counts_has_changes_and_in_sync() -> None:
    plan = diff(CASES[0].desired, CASES[0].actual)
    assert plan.counts == {"train": 1, "register": 1, "change": 2, "delete": 0, "blocked": 0, "drift": 0}
    assert plan.has_changes and not plan.in_sync
    # An alias git does not declare, without prune: kept and reported, not out of sync ...
    kept = diff(desired(model()), actual(registered(versions=[version(1, "r1")], aliases={"staging": 1, "x": 1}),
                                         runs=[run("r1")]))
    assert not kept.has_changes and kept.in_sync and [i.subject for i in kept.kept] == ["m@x"]
    # ... with prune it is a deletion, which is.
    pruned = diff(desired(model()), actual(registered(versions=[version(1, "r1")], aliases={"staging": 1, "x": 1}),
                                           runs=[run("r1")]), prune=True)
    assert pruned.has_changes and not pruned.in_sync and pruned.kept == []
    # Tags edited by hand: drift, out of sync.
    edited = diff(desired(model()), actual(registered(versions=[version(1, "r1", **{"qspec.spec_path": "x.yaml"})],
                                                      aliases={"staging": 1}), runs=[run("r1")]))
    assert edited.counts["drift"] == 1 and not edited.in_sync
    blocked_only = diff(*[CASES[3].desired, CASES[3].actual])
    assert not blocked_only.has_changes and not blocked_only.in_sync
    synced = diff(CASES[1].desired, CASES[1].actual)
    assert not synced.has_changes and synced.in_sync


def test_a_prune_that_empties_a_model_is_named_and_one_that_leaves_an_alias_is_not() -> None:
    from qspec.plan.diff import emptied_models

    serving = registered(versions=[version(1, "r1")], aliases={"staging": 1, "production": 1})
    nothing_declared = actual(serving, runs=[run("r1")])
    assert emptied_models(diff(desired(), nothing_declared, prune=True), nothing_declared) == ["m"]
    assert emptied_models(diff(desired(), nothing_declared), nothing_declared) == []  # nothing deleted
    one_left = diff(desired(model(stages=[head("staging")])), nothing_declared, prune=True)
    assert [i.action for i in one_left.items] == [Action.DELETE_ALIAS]
    assert emptied_models(one_left, nothing_declared) == []
    renamed = diff(desired(model(stages=[head("canary")])), nothing_declared, prune=True)
    assert emptied_models(renamed, nothing_declared) == []  # every old alias goes, a new one comes
