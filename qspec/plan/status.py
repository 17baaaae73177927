"""``status(desired, actual)``: per managed model, its aliases and whether each matches git; per
declared Experiment, whether a finished run of its spec is tracked.

What ``qspec status`` shows (and ``status --check`` exits 2 on when anything is out of sync; an
alias git does not declare is kept without ``--prune``, and reported, not out of sync). It is
read off the plan ``diff`` makes, so status and plan can never disagree about what is in sync.
Pure, like the rest of ``qspec.plan``; rendering as text is here too, JSON is ``as_dict``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from qspec import tags as tag
from qspec.monitor.verdict import MonitorRecord, age
from qspec.plan.actions import Action, Plan
from qspec.plan.diff import diff
from qspec.plan.state import ActualState, DesiredState

IN_SYNC = "in sync"
OUT_OF_SYNC = "out of sync"  # git changed; apply would change the registry
DRIFT = "drift"  # the registry changed without git
BLOCKED = "blocked"
UNDECLARED = "undeclared"  # on a managed model, git does not declare it (removed only with --prune)
MISSING = "missing"  # git declares it, the registry has no such alias yet


@dataclass(frozen=True)
class AliasStatus:
    alias: str
    version: int | None  # where the alias points now
    declared: str | None  # how git declares it ("track HEAD", "ref v1.0", "version 3"), None if not
    state: str
    note: str = ""
    monitoring: MonitorRecord | None = None  # the last ``qspec monitor`` verdict of this stage
    checked_at: float = field(default=0.0, compare=False)  # when status was read: verdicts are aged against it

    def monitoring_text(self) -> str:
        """``monitoring: ok 3h ago`` / ``monitoring: ALERT performance_drift 5m ago`` (of v2 if another
        version than the alias's now); "" when the stage was never monitored."""
        record = self.monitoring
        if record is None:
            return ""
        verdict = f"ALERT {record.verdict}" if record.alert else record.verdict
        other = f" (of v{record.version})" if self.version is not None and record.version != self.version else ""
        return f"monitoring: {verdict} {age(self.checked_at - record.time)} ago{other}"

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("monitoring", "checked_at")}
        record = self.monitoring
        out["monitoring"] = None if record is None else {
            "verdict": record.verdict, "alert": record.alert, "time": record.time, "version": record.version,
            "run_id": record.run_id, "target": record.target,
            "age_seconds": max(0.0, self.checked_at - record.time)}
        return out


@dataclass(frozen=True)
class ModelStatus:
    name: str
    declared: bool  # git declares a Model of this name
    managed: bool
    versions: int
    aliases: tuple[AliasStatus, ...]
    state: str  # the model's own state (versions to train or register), before its aliases
    note: str = ""

    @property
    def in_sync(self) -> bool:
        """The model matches git; an alias git does not declare is kept, not out of sync (see
        ``Plan.in_sync``)."""
        return self.state == IN_SYNC and all(a.state in (IN_SYNC, UNDECLARED) for a in self.aliases)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "declared": self.declared, "managed": self.managed, "versions": self.versions,
                "state": self.state, "note": self.note, "in_sync": self.in_sync,
                "aliases": [a.as_dict() for a in self.aliases]}


@dataclass(frozen=True)
class ExperimentStatus:
    """A declared Experiment: whether a finished run of its spec (hash) is tracked."""

    name: str
    spec_hash: str
    run_id: str | None  # the newest finished run of the hash, None when there is none
    state: str
    note: str = ""

    @property
    def in_sync(self) -> bool:
        return self.state == IN_SYNC

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "in_sync": self.in_sync}


@dataclass(frozen=True)
class StatusReport:
    models: tuple[ModelStatus, ...]
    plan: Plan
    experiments: tuple[ExperimentStatus, ...] = ()

    @property
    def in_sync(self) -> bool:
        return self.plan.in_sync

    def as_dict(self) -> dict[str, Any]:
        return {"in_sync": self.in_sync, "models": [m.as_dict() for m in self.models],
                "experiments": [e.as_dict() for e in self.experiments]}


_ALIAS_STATE = {
    Action.BLOCKED: BLOCKED,
    Action.DRIFT: DRIFT,
    Action.SET_ALIAS: MISSING,
    Action.MOVE_ALIAS: OUT_OF_SYNC,
    Action.DELETE_ALIAS: UNDECLARED,
    Action.UPDATE_TAGS: OUT_OF_SYNC,
}
# When several items concern one alias (drift and the move that heals it), the first listed wins.
_PRECEDENCE = (BLOCKED, DRIFT, UNDECLARED, MISSING, OUT_OF_SYNC)


def status(desired: DesiredState, actual: ActualState, plan: Plan | None = None, *,
           now: float | None = None) -> StatusReport:
    """Every model git declares or qspec manages, with its aliases (unmanaged undeclared models are
    not qspec's business and are left out). ``plan`` is ``diff(desired, actual)`` when the caller
    has made it already (``qspec.api.status`` has), so the registry is not diffed twice. Each alias
    carries its stage's last monitoring verdict (``qspec.monitor.<stage>``), aged against ``now``;
    it is shown, and never counts for ``in_sync``."""
    checked_at = time.time() if now is None else now
    if plan is None:
        plan = diff(desired, actual)
    elif plan.prune:
        raise ValueError("status reads a plan made without prune: pruning turns drift into deletions")
    by_subject: dict[str, list[tuple[str, str]]] = {}
    for item in plan.items:
        key = f"{item.model}@{item.alias}" if item.alias else (item.model or item.subject)
        state = _ALIAS_STATE.get(item.action, OUT_OF_SYNC) if item.alias else (
            BLOCKED if item.action is Action.BLOCKED else DRIFT if item.action is Action.DRIFT else OUT_OF_SYNC)
        if item.action is Action.DRIFT and item.alias and item.code.prunable:
            state = UNDECLARED
        by_subject.setdefault(key, []).append((state, f"{item.action.value}: {item.reason}"))

    def pick(key: str) -> tuple[str, str]:
        found = by_subject.get(key, [])
        if not found:
            return IN_SYNC, ""
        best = min(found, key=lambda f: _PRECEDENCE.index(f[0]))
        return best[0], "; ".join(note for _, note in found)

    out: list[ModelStatus] = []
    for name in sorted(set(desired.models) | {n for n, m in actual.models.items() if m.managed}):
        want = desired.models.get(name)
        have = actual.models.get(name)
        stages = want.stages if want is not None else {}
        aliases = []
        for alias in sorted(set(stages) | set(have.aliases if have is not None else {})):
            state, note = pick(f"{name}@{alias}")
            current = have.aliases.get(alias) if have is not None else None
            declared = stages[alias].source if alias in stages else None
            record = MonitorRecord.from_tag(have.tags.get(tag.monitor_record(alias))) if have is not None else None
            aliases.append(AliasStatus(alias, current, declared, state, note, record, checked_at))
        state, note = pick(name)
        out.append(ModelStatus(
            name=name, declared=want is not None, managed=have.managed if have is not None else False,
            versions=len(have.versions) if have is not None else 0, aliases=tuple(aliases), state=state, note=note,
        ))
    return StatusReport(tuple(out), plan, _experiments(desired, actual, plan))


def _experiments(desired: DesiredState, actual: ActualState, plan: Plan) -> tuple[ExperimentStatus, ...]:
    out = []
    for name, build in sorted(desired.experiments.items()):
        finished = [r for r in actual.runs_by_hash.get(build.spec_hash, []) if r.finished]
        if finished:
            out.append(ExperimentStatus(name, build.spec_hash, finished[-1].run_id, IN_SYNC))
            continue
        about = [i for i in plan.items if i.spec_hash == build.spec_hash and i.action in (Action.TRAIN, Action.BLOCKED)
                 and not i.alias]
        blocked = [i for i in about if i.action is Action.BLOCKED]
        state = BLOCKED if blocked else OUT_OF_SYNC
        note = "; ".join(f"{i.action.value}: {i.reason}" for i in (blocked or about)) or "no finished run"
        out.append(ExperimentStatus(name, build.spec_hash, None, state, note))
    return tuple(out)


def render_status(result: StatusReport) -> str:
    lines = []
    for model in result.models:
        flag = "declared" if model.declared else "not declared in git"
        lines.append(f"{model.name}  ({model.versions} version{'s' if model.versions != 1 else ''}, {flag})  "
                     f"{model.state if model.state != IN_SYNC or not model.aliases else ''}".rstrip())
        for a in model.aliases:
            where = f"v{a.version}" if a.version is not None else "(unset)"
            monitored = a.monitoring_text()
            lines.append(f"  @{a.alias:<12} {where:<8} {a.declared or '-':<14} {a.state}"
                         + (f"  {monitored}" if monitored else ""))
    if result.experiments:
        lines.append("experiments:")
        for e in result.experiments:
            run = f"run {e.run_id}" if e.run_id else "(no finished run)"
            lines.append(f"  {e.name:<24} {e.spec_hash[:12]}  {run:<38} {e.state}")
    summary = "In sync with git." if result.in_sync else "Out of sync with git: run qspec plan for details."
    kept = len(result.plan.kept)
    if result.in_sync and kept:
        many = kept != 1
        summary = (f"In sync with git; {kept} alias{'es' if many else ''} git does not declare "
                   f"{'are' if many else 'is'} kept (qspec apply --prune deletes {'them' if many else 'it'}).")
    return "\n".join([*lines, summary]) + "\n"
