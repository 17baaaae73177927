"""Rendering a plan: terraform-like text, the PR comment in markdown, and JSON."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from qspec.plan import Reason, Stage, diff, render, render_json, render_markdown, render_text
from qspec.plan.actions import Plan
from qspec.plan.testing import H1, H2, actual, bound, desired, head, model, registered, run, version


def mixed_plan(prune: bool = False) -> Plan:
    stages = [head("staging", H2), head("production", H2, gates={"test_accuracy": bound(min=0.93)}),
              Stage("canary", "ref v9", error="ref v9: git revision 'v9' does not resolve")]
    return diff(
        desired(model(head_hash=H2, stages=stages)),
        actual(registered(versions=[version(1, "r1")], aliases={"staging": 1, "production": 1, "old": 1},
                          records={"staging": 1, "production": 1}), runs=[run("r1")]),
        prune=prune,
    )


def test_text_reads_like_terraform() -> None:
    text = render_text(mixed_plan())
    assert "Drift (the registry differs from git, not through a git change):" in text
    assert "  ? drift              m@old" in text
    assert "  + train              exp#222222222222  1,200 circuits, 1,228,800 shots, $0.00" in text
    assert "  ~ move-alias         m@production      v1 -> the new version of exp#222222222222" in text
    assert "  ! blocked            m@canary" in text
    assert "passes the gate (test_accuracy >= 0.93)" in text
    assert text.rstrip().splitlines()[-2] == (
        "Plan: 1 to train, 1 to register, 2 to change, 0 to delete. (1 blocked, 1 drifted)")
    assert "hint: aliases git does not declare are only reported; run apply --prune" in text


def test_text_with_prune_shows_deletions() -> None:
    text = render_text(mixed_plan(prune=True))
    assert "  - delete-alias       m@old             v1" in text
    assert text.rstrip().endswith("Plan: 1 to train, 1 to register, 2 to change, 1 to delete. (1 blocked)")


def test_no_changes() -> None:
    plan = diff(desired(model()), actual(registered(versions=[version(1, "r1")], aliases={"staging": 1}),
                                         runs=[run("r1")]))
    assert render_text(plan) == "No changes. The registry matches git.\n"
    assert "No changes" in render_markdown(plan)


def test_markdown_for_a_pull_request_shows_what_training_costs() -> None:
    md = render_markdown(mixed_plan())
    assert md.startswith("### qspec plan\n")
    assert "| `exp` | `222222222222` | 1,200 | 1,228,800 | $0.00 |" in md
    assert "| **total** | | **1,200** | **1,228,800** | **$0.00** |" in md
    assert "> - `m@canary`: ref v9: git revision 'v9' does not resolve" in md
    assert "| `~` | move-alias | `m@staging` | v1 -> the new version of exp#222222222222 |" in md


def test_json_is_the_plan_as_data() -> None:
    data = json.loads(render_json(mixed_plan()))
    assert data["counts"] == {"train": 1, "register": 1, "change": 2, "delete": 0, "blocked": 1, "drift": 1}
    assert data["has_changes"] is True and data["in_sync"] is False
    train = data["items"][0]
    assert train["action"] == "train" and train["spec_hash"] == H2 and train["estimate"]["shots"] == 1_228_800
    move = next(i for i in data["items"] if i["subject"] == "m@production")
    assert move["pending"] is True and move["checks"] == {"test_accuracy": {"min": 0.93}}
    assert H1 not in json.dumps([i for i in data["items"] if i["action"] == "train"])


def test_render_dispatches_on_format() -> None:
    plan = mixed_plan()
    assert render(plan, "text") == render_text(plan)
    with pytest.raises(ValueError, match="unknown plan format"):
        render(plan, "yaml")


def test_json_gives_each_item_its_reason_code() -> None:
    items = json.loads(render_json(mixed_plan()))["items"]
    assert [(i["subject"], i["code"]) for i in items if i["action"] in ("drift", "blocked")] == [
        ("m@canary", "ref-unresolved"), ("m@old", "undeclared-alias")]


def test_the_prune_hint_follows_the_code_not_the_wording() -> None:
    plan = mixed_plan()
    reworded = Plan(tuple(replace(i, reason=i.reason.replace("--prune", "pruning")) for i in plan.items))
    assert "hint: aliases git does not declare" in render_text(reworded)
    recoded = Plan(tuple(replace(i, code=Reason.ALIAS_MOVED_BY_HAND) if i.code is Reason.UNDECLARED_ALIAS else i
                         for i in plan.items))
    assert "hint:" not in render_text(recoded)
