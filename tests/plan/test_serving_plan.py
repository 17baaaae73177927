"""Serving declared per stage, in the plan: its own update-serving item (never a training), shown
field by field, kept through a saved plan (apply: tests/apply/test_serving_apply.py)."""

from __future__ import annotations

import json
from dataclasses import replace

from qspec import tags as tag
from qspec.plan import Action, Plan, PlanItem, Reason, diff
from qspec.plan.actions import Serving, describe
from qspec.plan.diff import changed_models
from qspec.plan.render import render_markdown, render_text
from qspec.plan.state import Stage
from qspec.plan.testing import actual, desired, head, model, registered, run, version
from qspec.spec.models import ServingSpec

SMALL = ServingSpec.model_validate({"target": "aer", "shots": 1024, "replicas": {"min": 1, "max": 5},
                                    "resources": {"cpu": "2", "memory": "4Gi"}}, strict=False).canonical()
LARGER = ServingSpec.model_validate({"target": "aer", "shots": 2048, "replicas": {"min": 1, "max": 8},
                                     "resources": {"cpu": "2", "memory": "4Gi"}}, strict=False).canonical()


def served(serving: str | None, alias: str = "staging") -> Stage:
    return replace(head(alias), serving=serving)


def in_sync(servings: dict[str, str] | None = None):
    model_info = registered(versions=[version(1, "r1")], aliases={"staging": 1})
    tags = {**model_info.tags, **{tag.serving_record(a): v for a, v in (servings or {}).items()}}
    return actual(replace(model_info, tags=tags), runs=[run("r1")])


def items(plan: Plan) -> list[tuple[Action, str, Reason]]:
    return [(i.action, i.subject, i.code) for i in plan.items]


def test_a_new_serving_block_is_one_update_serving_item_and_no_training() -> None:
    plan = diff(desired(model(stages=[served(SMALL)])), in_sync())
    assert items(plan) == [(Action.UPDATE_SERVING, "m@staging", Reason.SERVING_DECLARED)]
    assert plan.items[0].new == Serving(SMALL) and plan.items[0].old is None
    assert plan.counts["train"] == 0 and plan.counts["change"] == 1 and not plan.in_sync


def test_the_same_serving_is_in_sync() -> None:
    assert diff(desired(model(stages=[served(SMALL)])), in_sync({"staging": SMALL})).items == ()


def test_a_changed_serving_block_shows_field_by_field() -> None:
    plan = diff(desired(model(stages=[served(LARGER)])), in_sync({"staging": SMALL}))
    assert items(plan) == [(Action.UPDATE_SERVING, "m@staging", Reason.SERVING_CHANGED)]
    text = render_text(plan)
    assert "~ update-serving" in text
    assert "replicas.max: 5 -> 8" in text and "shots: 1024 -> 2048" in text
    assert "resources.cpu" not in text.split("update-serving")[1].splitlines()[0]  # unchanged fields are not listed
    assert "replicas.max: 5 -> 8" in render_markdown(plan)
    assert "Plan: 0 to train, 0 to register, 1 to change, 0 to delete." in text


def test_a_removed_serving_block_removes_the_record() -> None:
    plan = diff(desired(model(stages=[served(None)])), in_sync({"staging": SMALL}))
    assert items(plan) == [(Action.UPDATE_SERVING, "m@staging", Reason.SERVING_REMOVED)]
    assert plan.items[0].new is None
    assert render_text(plan).count("-> (none)") == 1


def test_a_hand_edited_record_is_out_of_sync_and_shown_as_text() -> None:
    plan = diff(desired(model(stages=[served(SMALL)])), in_sync({"staging": "not json"}))
    assert items(plan) == [(Action.UPDATE_SERVING, "m@staging", Reason.SERVING_CHANGED)]
    assert describe(plan.items[0].old) == "'not json'"  # type: ignore[arg-type]


def test_an_undeclared_stage_keeps_its_record_unless_pruned() -> None:
    state = desired(model(stages=[served(None)]))
    have = in_sync({"production": SMALL})
    assert diff(state, have).items == ()
    pruned = diff(state, have, prune=True)
    assert items(pruned) == [(Action.UPDATE_SERVING, "m@production", Reason.SERVING_REMOVED)]


def test_an_unresolvable_stage_and_a_model_that_would_exist_only_for_serving_get_no_item() -> None:
    broken = Stage("staging", "ref v9", error="ref v9 does not resolve", serving=SMALL)
    assert [i.action for i in diff(desired(model(stages=[broken])), in_sync()).items] == [Action.BLOCKED]
    fresh = diff(desired(model(stages=[served(SMALL)])), actual())
    assert [i.action for i in fresh.items][-1] is Action.UPDATE_SERVING  # after the alias it serves
    assert Action.CREATE_MODEL in [i.action for i in fresh.items]


def test_the_item_round_trips_through_a_saved_plan() -> None:
    for item in diff(desired(model(stages=[served(LARGER)])), in_sync({"staging": SMALL})).items + \
            diff(desired(model(stages=[served(None)])), in_sync({"staging": SMALL})).items:
        again = PlanItem.from_dict(json.loads(json.dumps(item.to_dict())))
        assert again == item


def test_plan_base_sees_a_serving_only_change() -> None:
    before = desired(model(stages=[served(SMALL)]))
    after = desired(model(stages=[served(LARGER)]))
    assert changed_models(after, before) == {"m"}
    assert changed_models(before, before) == set()
