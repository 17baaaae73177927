"""``versions_with_hash``: the one rule, shared by plan and apply, for which versions hold a spec."""

from __future__ import annotations

from qspec import tags as tag
from qspec.plan.state import RunInfo, VersionInfo, versions_with_hash
from qspec.plan.testing import H1, H2, registered, run, version


def lookup(*runs: RunInfo) -> dict[str, RunInfo]:
    return {r.run_id: r for r in runs}


def test_a_known_run_decides_over_a_hand_edited_version_tag() -> None:
    model = registered(versions=[version(1, "r1", **{tag.SPEC_HASH: H2}), version(2, "r2", H2)])
    runs = lookup(run("r1", H1), run("r2", H2))
    assert [v.version for v in versions_with_hash(model, H1, runs.get)] == [1]
    assert [v.version for v in versions_with_hash(model, H2, runs.get)] == [2]


def test_without_the_run_the_version_tag_decides() -> None:
    model = registered(versions=[version(1, "r1"), VersionInfo(2, None, {tag.SPEC_HASH: H1})])
    assert [v.version for v in versions_with_hash(model, H1, lookup().get)] == [1, 2]


def test_a_run_qspec_did_not_make_does_not_decide() -> None:
    # The snapshot holds only qspec's runs; apply's lookup finds any run, and must decide the same.
    theirs = RunInfo("r1", H2, "FINISHED", tags={tag.SPEC_HASH: H2})
    model = registered(versions=[version(1, "r1", H1)])
    assert [v.version for v in versions_with_hash(model, H1, lookup(theirs).get)] == [1]


def test_lowest_first_and_failed_registrations_left_out() -> None:
    failed = VersionInfo(1, "r1", {tag.SPEC_HASH: H1}, status="FAILED_REGISTRATION")
    model = registered(versions=[version(3, "r3"), failed, version(2, "r2")])
    runs = lookup(run("r1"), run("r2"), run("r3"))
    assert [v.version for v in versions_with_hash(model, H1, runs.get)] == [2, 3]
