"""What a reviewer reads beside a training: the version it replaces and the spec fields it changes.

``annotate(plan, desired, actual, read)`` gives every TRAIN item of a model that already has a
version (or of an Experiment of its own that has a finished run) its ``spec_changes``: the version
replaced is the one the model's stage for that build points at now (``staging: {track: HEAD}``
for a HEAD build, the ``ref:`` stage for a ref build), else the model's newest version (for an
Experiment no Model registers: its newest finished run); its spec is read at the git commit its
run recorded (``qspec.git_commit``, ``qspec.spec_name``) and compared field by field
(``qspec.plan.fields``).

Pure: ``read(rev, experiment)`` is injected, as the ``ref:`` resolver is (``qspec.api.wiring``
builds the real one over git). When the old spec cannot be read (a run of uncommitted specs, a
commit that is gone, specs that no longer load there), the item says why in one line instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from qspec import tags as tag
from qspec.errors import QspecError
from qspec.plan.actions import Action, Plan, PlanItem
from qspec.plan.fields import SpecChanges, field_changes
from qspec.plan.state import (
    ActualState,
    DesiredModel,
    DesiredState,
    RegisteredModelInfo,
    RunInfo,
    VersionInfo,
    version_hash,
)
from qspec.spec.hashing import canonical_json

#: (git rev, or None for the specs being planned; experiment name) -> that experiment's identity
#: there (``qspec.spec.hashing.experiment_identity``), None when it is not declared there. Raises a
#: ``QspecError`` when the specs at ``rev`` cannot be read.
IdentityReader = Callable[[str | None, str], Mapping[str, Any] | None]


def replaced_version(model: DesiredModel, registered: RegisteredModelInfo | None,
                     spec_hash: str) -> VersionInfo | None:
    """The version a training of ``spec_hash`` replaces: where the first stage (by alias) built from
    it points now, else the newest usable version; None when the model has no version."""
    if registered is None:
        return None
    for alias in sorted(model.stages):
        stage = model.stages[alias]
        if stage.spec_hash == spec_hash and alias in registered.aliases:
            found = registered.version(registered.aliases[alias])
            if found is not None:
                return found
    usable = [v for v in registered.versions if v.usable]
    return max(usable, key=lambda v: v.version) if usable else None


def annotate(plan: Plan, desired: DesiredState, actual: ActualState, read: IdentityReader) -> Plan:
    """``plan`` with ``spec_changes`` on each TRAIN item that replaces a version."""
    items = []
    for item in plan.items:
        if item.action is Action.TRAIN and item.spec_changes is None:
            item = _annotated(item, desired, actual, read)
        items.append(item)
    return replace(plan, items=tuple(items))


def _annotated(item: PlanItem, desired: DesiredState, actual: ActualState, read: IdentityReader) -> PlanItem:
    if item.spec_hash is None or item.experiment is None:
        return item
    if item.model is None:  # an Experiment of its own: it replaces its newest finished run
        previous = replaced_run(item.experiment, item.spec_hash, actual)
        if previous is None:
            return item
        return replace(item, spec_changes=_compare(item, SpecChanges(None, previous.run_id), previous.tags,
                                                   previous.spec_hash, actual, read))
    model = desired.models.get(item.model)
    if model is None:
        return item
    old = replaced_version(model, actual.models.get(model.name), item.spec_hash)
    if old is None:
        return item
    return replace(item, spec_changes=spec_changes(item, old, actual, read))


def replaced_run(experiment: str, spec_hash: str, actual: ActualState) -> RunInfo | None:
    """The newest finished run of the Experiment ``experiment`` under another spec hash."""
    finished = [r for r in actual.runs if r.finished and r.spec_hash not in (None, spec_hash)
                and r.tags.get(tag.SPEC_NAME) == experiment]
    return max(finished, key=lambda r: (r.start_time or 0, r.run_id)) if finished else None


def spec_changes(item: PlanItem, old: VersionInfo, actual: ActualState, read: IdentityReader) -> SpecChanges:
    """The fields ``item`` (a TRAIN) changes against version ``old``, or why they cannot be known."""
    run = actual.runs_by_id.get(old.run_id or "")
    # The run's tags first (immutable in practice), the version's (a copy of them) for a run the
    # snapshot does not hold.
    tags = {**old.tags, **(run.tags if run is not None else {})}
    return _compare(item, SpecChanges(old.version, old.run_id), tags, version_hash(old, actual.runs_by_id.get),
                    actual, read)


def _compare(item: PlanItem, base: SpecChanges, tags: Mapping[str, str], recorded: str | None,
             actual: ActualState, read: IdentityReader) -> SpecChanges:
    """``base`` (what is replaced) with the fields ``item`` changes, read at the commit ``tags`` name."""
    assert item.experiment is not None
    commit, name = tags.get(tag.GIT_COMMIT), tags.get(tag.SPEC_NAME) or item.experiment
    base = replace(base, git_commit=commit)
    old = f"v{base.version}" if base.version is not None else f"run {base.run_id}"
    if tags.get(tag.GIT_DIRTY) == tag.TRUE:
        return replace(base, unknown=f"{old} was trained from uncommitted specs, which git does not hold")
    if not commit:
        return replace(base, unknown=f"{old} records no git commit ({tag.GIT_COMMIT})")
    try:
        before = read(commit, name)
        after = read(item.rev, item.experiment)
    except QspecError as exc:
        first = exc.message.splitlines()[0] if exc.message else type(exc).__name__
        return replace(base, unknown=f"the specs at commit {commit[:12]} cannot be read ({first})")
    if before is None:
        return replace(base, unknown=f"commit {commit[:12]} declares no Experiment {name!r}")
    if after is None:
        return replace(base, unknown=f"the specs being planned declare no Experiment {item.experiment!r}")
    if recorded is not None and _hash(before) != recorded:
        return replace(base, unknown=f"the specs at commit {commit[:12]} are not the spec {old} was "
                                     "built from (its hash differs)")
    return replace(base, fields=field_changes(before, after))


def _hash(identity: Mapping[str, Any]) -> str:
    """The spec hash of an identity dict (``qspec.spec.hashing.spec_hash`` of the experiment)."""
    return hashlib.sha256(canonical_json(identity).encode()).hexdigest()
