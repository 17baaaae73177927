"""What an apply did: one ``Outcome`` per plan item, gathered in an ``ApplyResult``.

Returned by ``qspec.apply.executor.apply``; the CLI renders it (``render_result`` gives a plain
text form) and picks the exit code from ``ok``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from qspec.plan.actions import ACTION_WIDTH, PlanItem


class Status(StrEnum):
    DONE = "done"  # the registry was changed (or a run trained)
    SKIPPED = "skipped"  # nothing to do any more: someone (an earlier apply, a race) did it already
    BLOCKED = "blocked"  # a gate, requirement, budget or ownership rule stopped it
    FAILED = "failed"  # an error; independent items still ran
    REPORTED = "reported"  # drift, shown and not acted on by this item


@dataclass(frozen=True)
class Outcome:
    item: PlanItem
    status: Status
    detail: str = ""
    version: int | None = None
    run_id: str | None = None
    # SKIPPED because an item it depends on failed or was blocked: not tried, unlike a skip for
    # something already in place. Set by the executor, counted by render_result.
    not_attempted: bool = False
    # The exception behind a FAILED outcome; a non-QspecError is a bug the CLI shows with --debug.
    error: BaseException | None = field(default=None, compare=False, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {"item": self.item.as_dict(), "status": self.status.value, "detail": self.detail,
                "version": self.version, "run_id": self.run_id, "not_attempted": self.not_attempted}


@dataclass(frozen=True)
class ApplyResult:
    outcomes: tuple[Outcome, ...] = ()
    cleanups: tuple[str, ...] = ()  # duplicates removed after a race, dead runs marked FAILED

    def _with(self, status: Status) -> list[Outcome]:
        return [o for o in self.outcomes if o.status is status]

    @property
    def done(self) -> list[Outcome]:
        return self._with(Status.DONE)

    @property
    def skipped(self) -> list[Outcome]:
        return self._with(Status.SKIPPED)

    @property
    def blocked(self) -> list[Outcome]:
        return self._with(Status.BLOCKED)

    @property
    def failed(self) -> list[Outcome]:
        return self._with(Status.FAILED)

    @property
    def ok(self) -> bool:
        """No item failed (blocked items are a decision, not an error)."""
        return not self.failed

    @property
    def changed(self) -> bool:
        return bool(self.done) or bool(self.cleanups)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "changed": self.changed, "cleanups": list(self.cleanups),
                "outcomes": [o.as_dict() for o in self.outcomes]}


def render_result(result: ApplyResult) -> str:
    """Plain text, one line per outcome, then a summary line (the CLI may colour it)."""
    marks = {Status.DONE: "✓", Status.SKIPPED: "=", Status.BLOCKED: "!", Status.FAILED: "✗", Status.REPORTED: "?"}
    lines = []
    for o in result.outcomes:
        line = f"  {marks[o.status]} {o.status.value:<8} {o.item.action.value:<{ACTION_WIDTH}} {o.item.subject}"
        lines.append(line + (f": {o.detail}" if o.detail else ""))
    lines += [f"  cleaned up: {c}" for c in result.cleanups]
    # Dependents of a failed or blocked item are skipped without being attempted: not "in place".
    not_attempted = sum(1 for o in result.skipped if o.not_attempted)
    lines.append(
        f"Apply {'complete' if result.ok else 'finished with errors'}: {len(result.done)} done, "
        f"{len(result.skipped) - not_attempted} already in place, {not_attempted} not attempted, "
        f"{len(result.blocked)} blocked, {len(result.failed)} failed."
    )
    return "\n".join(lines) + "\n"
