"""``status``: per model and alias, whether the registry matches git (what ``qspec status`` shows)."""

from __future__ import annotations

from qspec.plan.state import Stage
from qspec.plan.status import BLOCKED, DRIFT, IN_SYNC, MISSING, OUT_OF_SYNC, UNDECLARED, render_status, status
from qspec.plan.testing import H2, actual, desired, head, model, registered, run, version


def test_status_per_alias() -> None:
    state = desired(
        model("a", stages=[head("staging"), head("production"), Stage("canary", "ref v9", error="no such ref")]),
        model("b", head_hash=H2, stages=[head("staging", H2)]),
    )
    registry = actual(
        registered("a", versions=[version(1, "r1"), version(2, "r2", H2)], aliases={"staging": 2, "old": 1},
                   records={"staging": 1, "old": 1}),
        registered("b"),
        registered("gone", versions=[version(1, "r1")]),
        registered("theirs", managed=False),
        runs=[run("r1"), run("r2", H2)],
    )
    result = status(state, registry)
    assert not result.in_sync
    by_name = {m.name: m for m in result.models}
    assert set(by_name) == {"a", "b", "gone"}  # an unmanaged model git does not declare is not ours
    a = {s.alias: s for s in by_name["a"].aliases}
    assert (a["staging"].state, a["staging"].version, a["staging"].declared) == (DRIFT, 2, "track HEAD")
    assert a["production"].state == MISSING and a["canary"].state == BLOCKED
    assert a["old"].state == UNDECLARED and a["old"].declared is None
    assert by_name["b"].state == OUT_OF_SYNC  # its spec was never trained
    assert by_name["gone"].in_sync and not by_name["gone"].declared
    text = render_status(result)
    assert "  @staging      v2       track HEAD     drift" in text
    assert text.endswith("Out of sync with git: run qspec plan for details.\n")


def test_in_sync() -> None:
    result = status(desired(model()), actual(registered(versions=[version(1, "r1")], aliases={"staging": 1}),
                                             runs=[run("r1")]))
    assert result.in_sync and result.models[0].aliases[0].state == IN_SYNC
    assert result.as_dict()["models"][0]["in_sync"] is True
    assert render_status(result).endswith("In sync with git.\n")


def test_status_reads_the_plan_it_is_given_instead_of_diffing_again() -> None:
    from qspec.plan.diff import diff

    state = desired(model())
    registry = actual(registered(versions=[version(1, "r1")], aliases={"staging": 1}, records={"staging": 2}),
                      runs=[run("r1")])
    made = diff(state, registry)
    given = status(state, registry, made)
    assert given.plan is made and given == status(state, registry)
    assert given.models[0].aliases[0].state == OUT_OF_SYNC  # the alias record needs repair


def test_an_undeclared_alias_is_kept_and_reported_not_out_of_sync() -> None:
    # A merge removed the stage "old": without --prune the alias stays; status says so and is in sync.
    result = status(desired(model()), actual(registered(versions=[version(1, "r1")], aliases={"staging": 1, "old": 1}),
                                             runs=[run("r1")]))
    assert result.in_sync and result.models[0].in_sync
    assert {a.alias: a.state for a in result.models[0].aliases} == {"old": UNDECLARED, "staging": IN_SYNC}
    assert render_status(result).endswith(
        "In sync with git; 1 alias git does not declare is kept (qspec apply --prune deletes it).\n")


def test_each_stage_shows_its_last_monitoring_verdict_and_its_age() -> None:
    from dataclasses import replace

    from qspec import tags as tag
    from qspec.monitor.verdict import MonitorRecord

    model_info = registered(versions=[version(1, "r1"), version(2, "r2")], aliases={"staging": 2, "production": 1})
    tags = {**model_info.tags,
            tag.monitor_record("production"): MonitorRecord("performance_drift", 1000.0, 1, "mr1", "aer").to_tag(),
            tag.monitor_record("staging"): MonitorRecord("ok", 1000.0 - 3 * 3600, 1, "mr2", "aer").to_tag()}
    registry = actual(replace(model_info, tags=tags), runs=[run("r1"), run("r2")])
    state = desired(model(stages=[head("staging"), Stage("production", "version 1", version=1)]))
    result = status(state, registry, now=1300.0)
    by_alias = {a.alias: a for a in result.models[0].aliases}
    assert by_alias["production"].monitoring_text() == "monitoring: ALERT performance_drift 5m ago"
    # A verdict of another version than the alias's now says so.
    assert by_alias["staging"].monitoring_text() == "monitoring: ok 3h ago (of v1)"
    text = render_status(result)
    assert "monitoring: ALERT performance_drift 5m ago" in text
    alias_json = {a["alias"]: a for a in result.as_dict()["models"][0]["aliases"]}
    assert alias_json["production"]["monitoring"]["verdict"] == "performance_drift"
    assert alias_json["production"]["monitoring"]["age_seconds"] == 300.0
    # An alert is shown; it does not put git and the registry out of sync.
    assert result.in_sync == status(state, actual(model_info, runs=[run("r1"), run("r2")])).in_sync
