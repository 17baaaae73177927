"""The field-level diff of two experiment identities, the version a training replaces, and the
budget line: pure, table-style."""

from __future__ import annotations

from dataclasses import replace
from hashlib import sha256
from typing import Any

import pytest

from qspec import tags as tag
from qspec.errors import RevisionError
from qspec.plan import diff, render_json, render_markdown, render_text
from qspec.plan.actions import Action
from qspec.plan.fields import FieldChange, SpecChanges, field_changes, flatten
from qspec.plan.review import annotate, replaced_version
from qspec.plan.state import Budget, Estimate, count
from qspec.plan.testing import H1, H2, actual, build, desired, head, model, registered, run, version
from qspec.spec.hashing import canonical_json


def identity(reps: int = 2, maxiter: int = 60, fingerprint: str | None = "sklearn:iris", *,
             data: dict[str, Any] | None = None, optimizer: dict[str, Any] | None = None,
             **spec: Any) -> dict[str, Any]:
    body = {"task": "classification", "data": data or {"source": "sklearn:iris", "classes": [0, 1]},
            "circuit": {"qubits": 4, "ansatz": {"type": "real_amplitudes", "reps": reps}},
            "training": {"optimizer": optimizer or {"name": "adam", "maxiter": maxiter}}, **spec}
    return {"resource": {"apiVersion": "qspec/v1", "kind": "Experiment", "spec": body}, "data_fingerprint": fingerprint}


def described(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return [c.describe() for c in field_changes(old, new)]


@pytest.mark.parametrize(("old", "new", "expected"), [
    (identity(), identity(), []),
    (identity(reps=2, maxiter=60), identity(reps=3, maxiter=80),
     ["circuit.ansatz.reps: 2 -> 3", "training.optimizer.maxiter: 60 -> 80"]),
    # a csv whose bytes changed: the fingerprint, shortened
    (identity(fingerprint="sha256:" + "a" * 64), identity(fingerprint="sha256:" + "b" * 64),
     ["data.fingerprint: sha256:aaaaaaaaaaaa -> sha256:bbbbbbbbbbbb"]),
    # another data set: the source says it; the fingerprint that follows is not repeated
    (identity(), identity(fingerprint="sklearn:wine", data={"source": "sklearn:wine", "classes": [0, 1]}),
     ["data.source: sklearn:iris -> sklearn:wine"]),
    # a list compares whole; null shows as null
    (identity(baseline=None), identity(baseline="svc"), ["baseline: null -> svc"]),
    (identity(data={"source": "sklearn:iris", "classes": [0, 2]}), identity(), ["data.classes: [0, 2] -> [0, 1]"]),
    # another optimizer brings other options: added and removed fields
    (identity(), identity(optimizer={"name": "spsa", "learning_rate": 0.1}),
     ["training.optimizer.name: adam -> spsa", "training.optimizer.learning_rate: (none) -> 0.1",
      "training.optimizer.maxiter: 60 -> (none)"]),
])
def test_field_changes(old: dict[str, Any], new: dict[str, Any], expected: list[str]) -> None:
    assert described(old, new) == expected


def test_flatten_names_fields_under_spec() -> None:
    flat = flatten(identity())
    assert flat["circuit.ansatz.reps"] == 2 and flat["kind"] == "Experiment"
    assert flat["data.fingerprint"] == "sklearn:iris" and flat["data.classes"] == [0, 1]


@pytest.mark.parametrize(("number", "text"), [
    (0, "0"), (950, "950"), (1_000, "1k"), (12_500, "12.5k"), (999_950, "1M"), (1_228_800, "1.2M"),
    (6_800_000, "6.8M"), (50_000_000, "50M"), (2_500_000_000, "2.5B"), (0.5, "0.5"),
])
def test_count_reads_like_a_person_writes_it(number: float, text: str) -> None:
    assert count(number) == text


@pytest.mark.parametrize(("budget", "estimate", "text"), [
    (Budget(), Estimate(10, 100, 0.0), None),
    (Budget(max_shots=50_000_000, max_cost_usd=0), Estimate(10, 6_800_000, 0.0), "shots 6.8M of 50M, $0.00 of $0.00"),
    (Budget(max_shots=1000), Estimate(10, None, 0.0), "shots 0 (exact) of 1k"),
    (Budget(max_cost_usd=25), Estimate(10, 1, 3.5), "$3.50 of $25.00"),
    (Budget(max_shots=10, max_cost_usd=1), None, "shots ? of 10, $? of $1.00"),
])
def test_budget_use(budget: Budget, estimate: Estimate | None, text: str | None) -> None:
    assert budget.describe_use(estimate) == text


def test_budget_use_as_data_says_what_is_left() -> None:
    use = Budget(max_shots=50_000_000, max_cost_usd=10).use(Estimate(10, 6_800_000, 2.5))
    assert use == {"max_shots": 50_000_000, "shots": 6_800_000, "shots_left": 43_200_000,
                   "max_cost_usd": 10, "cost_usd": 2.5, "cost_usd_left": 7.5}
    assert Budget().use(Estimate(1, 1, 0.0)) is None


# --- the version a training replaces, and annotate ----------------------------------------------

def test_replaced_version_is_where_the_builds_stage_points_else_the_newest() -> None:
    m = model(head_hash=H2, stages=[head("staging", H2)], builds=[build(H2)])
    have = registered(versions=[version(1, "r1"), version(2, "r2"), version(3, "r3")], aliases={"staging": 2})
    assert replaced_version(m, have, H2).version == 2
    assert replaced_version(m, replace(have, aliases={}), H2).version == 3
    assert replaced_version(m, registered(), H2) is None
    assert replaced_version(m, None, H2) is None


def reader(specs: dict[tuple[str | None, str], dict[str, Any] | Exception]):
    def read(rev: str | None, name: str) -> dict[str, Any] | None:
        found = specs.get((rev, name))
        if isinstance(found, Exception):
            raise found
        return found
    return read


def retraining(old_tags: dict[str, str] | None = None, *, old_hash: str = H1):
    """A model at v1 (spec ``old_hash``, trained at commit c0ffee) whose HEAD is now H2."""
    state = desired(model(head_hash=H2, stages=[head("staging", H2)], builds=[build(H2)]))
    old_run = run("r1", old_hash)
    if old_tags is not None:
        old_run = replace(old_run, tags={**old_run.tags, **old_tags})
    have = actual(registered(versions=[version(1, "r1", old_hash)], aliases={"staging": 1}), runs=[old_run])
    return state, have, diff(state, have)


def the_train(plan):
    (item,) = plan.by_action(Action.TRAIN)
    return item


def test_annotate_compares_the_spec_at_the_replaced_versions_commit() -> None:
    # v1 was built from the spec that commit c0ffee holds (its hash is that spec's)
    state, have, plan = retraining(old_hash=sha256(canonical_json(identity(reps=2)).encode()).hexdigest())
    read = reader({("c0ffee", "exp"): identity(reps=2), (None, "exp"): identity(reps=3)})
    item = the_train(annotate(plan, state, have, read))
    assert item.spec_changes == SpecChanges(1, "r1", "c0ffee", (FieldChange("circuit.ansatz.reps", 2, 3),))
    text = render_text(annotate(plan, state, have, read))
    assert "      changes since v1 (commit c0ffee):\n        circuit.ansatz.reps: 2 -> 3\n" in text
    assert "- `exp#222222222222` (m): changes since v1 (commit c0ffee)\n  - `circuit.ansatz.reps`: `2` -> `3`" in (
        render_markdown(annotate(plan, state, have, read)))
    assert '"path": "circuit.ansatz.reps"' in render_json(annotate(plan, state, have, read))


@pytest.mark.parametrize(("tags", "specs", "unknown"), [
    ({tag.GIT_DIRTY: "true"}, {}, "v1 was trained from uncommitted specs, which git does not hold"),
    ({tag.GIT_COMMIT: ""}, {}, "v1 records no git commit (qspec.git_commit)"),
    ({}, {("c0ffee", "exp"): RevisionError("git revision 'c0ffee' does not resolve")},
     "the specs at commit c0ffee cannot be read (git revision 'c0ffee' does not resolve)"),
    ({}, {(None, "exp"): identity()}, "commit c0ffee declares no Experiment 'exp'"),
    # the commit holds an experiment of that name, but not the spec v1 was built from
    ({}, {("c0ffee", "exp"): identity(), (None, "exp"): identity(reps=3)},
     "the specs at commit c0ffee are not the spec v1 was built from (its hash differs)"),
])
def test_when_the_old_spec_cannot_be_read_the_item_says_why(tags, specs, unknown) -> None:
    state, have, plan = retraining(tags)
    item = the_train(annotate(plan, state, have, reader(specs)))
    assert item.spec_changes is not None and item.spec_changes.unknown == unknown and item.spec_changes.fields == ()
    assert f"changes since v1: unknown, {unknown}" in render_text(replace(plan, items=(item,)))


def test_a_first_training_has_nothing_to_compare() -> None:
    state = desired(model())
    plan = annotate(diff(state, actual()), state, actual(), reader({}))
    assert the_train(plan).spec_changes is None
