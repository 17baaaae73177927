"""Saved plans, pure: every item and value round-trips through JSON, the registry fingerprint
changes exactly when what the plan read changes, and URIs lose their credentials."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import get_args

import pytest

from qspec.errors import QspecError
from qspec.plan.actions import (
    Action,
    Cost,
    NewVersion,
    PendingVersion,
    Plan,
    PlanItem,
    Reason,
    Recorded,
    Serving,
    TagValue,
    TagValues,
    Text,
    Value,
    value_from_dict,
    value_to_dict,
)
from qspec.plan.fields import FieldChange, SpecChanges
from qspec.plan.saved import SavedPlan, redact_uri, registry_fingerprint
from qspec.plan.state import Budget, Estimate, RunInfo
from qspec.plan.testing import H1, H2, actual, bound, registered, run, version

VALUES: list[Value] = [
    3, Recorded("7"), TagValue("2"), Text("Iris\nsetosa vs versicolor"), Serving('{"shots":1024}'),
    TagValues({"qspec.spec_path": "a.yaml", "qspec.git_dirty": None}),
    NewVersion("exp#1a2b", "r1"), NewVersion("exp#1a2b"), PendingVersion("exp#1a2b"), Cost(None),
    Cost(Estimate(1200, None, 1.5, qpu_seconds=3.0, per_iteration_circuits=12, primitive_calls=100,
                  assumptions=("one row per sample",))),
]


def test_every_value_type_round_trips() -> None:
    # Every member of the Value union is among the cases (int is the version number).
    assert {type(v) for v in VALUES} == set(get_args(Value))
    for value in VALUES:
        assert value_from_dict(json.loads(json.dumps(value_to_dict(value)))) == value


def full_item(action: Action, value: Value) -> PlanItem:
    return PlanItem(
        action, "m@staging", old=value, new=value, reason="because", code=Reason.ALIAS_DECLARED, model="m",
        alias="staging", experiment="exp", spec_hash=H1, version=2, run_id="r1", rev="v1.0", spec_path="specs/e.yaml",
        git_commit="c0ffee", estimate=Estimate(10, 1000, 0.25), budget=Budget(50_000_000, 0.0),
        spec_changes=SpecChanges(1, "r0", "c0ffee", (FieldChange("circuit.ansatz.reps", 2, 3),
                                                    FieldChange("baseline", None, "svc", "added"),
                                                    FieldChange("data.classes", [0, 1], None, "removed"))),
        tags={"qspec.alias.staging": "2"}, checks={"test_accuracy": bound(min=0.9), "loss": bound(max=0.1)},
        pending=True)


@pytest.mark.parametrize("action", list(Action))
def test_every_action_round_trips_with_every_field(action: Action) -> None:
    for value in VALUES:
        item = full_item(action, value)
        assert PlanItem.from_dict(json.loads(json.dumps(item.to_dict()))) == item
    bare = PlanItem(action, "m", code=Reason.NO_RUN)
    assert PlanItem.from_dict(bare.to_dict()) == bare


def test_every_reason_round_trips() -> None:
    for code in Reason:
        item = PlanItem(Action.BLOCKED, "m", code=code)
        assert PlanItem.from_dict(item.to_dict()).code is code


def saved(plan: Plan | None = None) -> SavedPlan:
    return SavedPlan(plan=plan or Plan((full_item(Action.TRAIN, Cost(None)),), prune=True), specs=("specs",),
                     paths=("specs",), rev=None, git_commit="c0ffee", registry="sha256:ab",
                     tracking_uri="sqlite:///x.db", models=("m",), hashes=(H1,),
                     dirty={"specs/a.yaml": "12", "b": None}, base="origin/main", only="exp", qspec_version="0.1.0")


def test_a_saved_plan_round_trips() -> None:
    original = saved()
    text = original.to_json()
    assert SavedPlan.from_json(text) == original
    data = json.loads(text)
    assert data["format"] == "qspec-plan" and data["plan"]["counts"]["train"] == 1 and data["specs"]["prune"] is True


@pytest.mark.parametrize(("text", "message"), [
    (b"\xff\xfe", "not JSON"),
    ("[]", "is not a qspec plan"),
    ('{"format": "qspec-plan", "format_version": 2, "qspec_version": "9.0"}', "plan format 2 by qspec 9.0"),
    (json.dumps({**json.loads(saved().to_json()), "plan": {"items": [{"action": "explode"}]}}), "is damaged"),
    (json.dumps({**json.loads(saved().to_json()), "plan": {"items": [{"action": "train", "subject": "x",
                                                                       "code": "nope"}]}}), "is damaged"),
])
def test_anything_else_is_a_clear_error(text: str | bytes, message: str) -> None:
    with pytest.raises(QspecError, match=message) as caught:
        SavedPlan.from_json(text, where="plan.json")
    assert caught.value.hint


def test_the_registry_fingerprint_covers_what_the_plan_read() -> None:
    base = actual(registered("m", versions=[version(1, "r1")], aliases={"staging": 1}),
                  registered("theirs", managed=False), runs=[run("r1"), run("r2", H2, status="RUNNING")])
    fp = registry_fingerprint(base, ["m"], [H1])
    assert fp == registry_fingerprint(replace(base, runs=tuple(reversed(base.runs))), ["m"], [H1])  # stable

    def with_model(**changes: object):
        return replace(base, models={**base.models, "m": replace(base.models["m"], **changes)})

    moved = with_model(aliases={"staging": 2})
    tagged = with_model(tags={**base.models["m"].tags, "qspec.alias.staging": "2"})
    new_version = with_model(versions=(*base.models["m"].versions, version(2, "r3")))
    finished = replace(base, runs=(run("r1"), run("r2", H2)))
    declared_appears = replace(base, models={**base.models, "new": registered("new", managed=False)})
    managed_appears = replace(base, models={**base.models, "other": registered("other")})
    for changed in (moved, tagged, new_version, declared_appears, managed_appears):
        assert registry_fingerprint(changed, ["m", "new"], [H1]) != registry_fingerprint(base, ["m", "new"], [H1])
    assert registry_fingerprint(finished, ["m"], [H1, H2]) != registry_fingerprint(base, ["m"], [H1, H2])
    # What the plan did not read: an unmanaged model git does not declare, runs of other specs.
    unrelated = replace(base, models={**base.models, "theirs": registered("theirs", managed=False, aliases={"x": 1})},
                        runs=(*base.runs, RunInfo("r9", "9" * 64, "FINISHED")))
    assert registry_fingerprint(unrelated, ["m"], [H1]) == fp
    # A monitoring verdict or alert written after the plan (qspec monitor, hourly) leaves it valid.
    first = base.models["m"].versions[0]
    monitored = with_model(tags={**base.models["m"].tags, "qspec.monitor.staging": '{"verdict": "ok"}'},
                           versions=(replace(first, tags={**first.tags, "qspec.alert": "hardware_drift"}),))
    assert registry_fingerprint(monitored, ["m"], [H1]) == fp


@pytest.mark.parametrize(("uri", "shown"), [
    ("sqlite:///tmp/mlflow.db", "sqlite:///tmp/mlflow.db"),
    ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    ("postgresql://qspec:s3cret@db:5432/mlflow", "postgresql://qspec:***@db:5432/mlflow"),
    ("https://ghp_token@mlflow.example.com/", "https://***@mlflow.example.com/"),
    ("https://mlflow.example.com/?token=abc&x=1", "https://mlflow.example.com/?token=***&x=1"),
    ("databricks", "databricks"),
])
def test_uris_lose_their_credentials(uri: str, shown: str) -> None:
    assert redact_uri(uri) == shown
