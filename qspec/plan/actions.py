"""What a plan is made of: the ``Action`` enum, one ``PlanItem`` per action, and the ``Plan``.

A plan is plain data (argoproj/gitops-engine, fluxcd ``ChangeSetEntry``): ``diff`` produces it,
``qspec.plan.render`` prints it, ``qspec.apply`` executes it. Every item names its ``subject``
and says ``old`` -> ``new`` and why (``reason`` for people, ``code`` for decisions); the typed
fields after those are what apply needs to act without parsing strings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeAlias, assert_never

from qspec.plan.fields import FieldChange, SpecChanges, leaves, show
from qspec.plan.reasons import Reason
from qspec.plan.state import Budget, Estimate, describe_estimate, estimate_from_dict, estimate_to_dict
from qspec.spec.models import Bound

__all__ = [
    "BUCKETS",
    "Action",
    "Cost",
    "FieldChange",
    "NewVersion",
    "PendingVersion",
    "Plan",
    "PlanItem",
    "Reason",
    "Recorded",
    "Serving",
    "SpecChanges",
    "TagValue",
    "TagValues",
    "Text",
    "Value",
    "describe",
    "value_from_dict",
    "value_to_dict",
]


class Action(StrEnum):
    CREATE_MODEL = "create-model"
    TRAIN = "train"
    REGISTER = "register"
    UPDATE_TAGS = "update-tags"
    UPDATE_DESCRIPTION = "update-description"
    SET_ALIAS = "set-alias"
    MOVE_ALIAS = "move-alias"
    DELETE_ALIAS = "delete-alias"
    DELETE_VERSION = "delete-version"
    CLOSE_RUN = "close-run"
    UPDATE_SERVING = "update-serving"
    BLOCKED = "blocked"
    DRIFT = "drift"

    @property
    def changes(self) -> bool:
        """Whether applying this action changes the registry (blocked and drift only report)."""
        return self not in (Action.BLOCKED, Action.DRIFT)

    @property
    def symbol(self) -> str:
        return _SYMBOLS[self]

    @property
    def bucket(self) -> str:
        """The counts line's bucket: train, register, change, delete, blocked or drift."""
        return _BUCKETS[self]


#: The widest action name: plan and apply output pad the action column to it.
ACTION_WIDTH = max(len(a.value) for a in Action)

_SYMBOLS = {
    Action.CREATE_MODEL: "+",
    Action.TRAIN: "+",
    Action.REGISTER: "+",
    Action.SET_ALIAS: "+",
    Action.UPDATE_TAGS: "~",
    Action.UPDATE_DESCRIPTION: "~",
    Action.MOVE_ALIAS: "~",
    Action.DELETE_ALIAS: "-",
    Action.DELETE_VERSION: "-",
    Action.CLOSE_RUN: "~",
    Action.UPDATE_SERVING: "~",
    Action.BLOCKED: "!",
    Action.DRIFT: "?",
}

_BUCKETS = {
    Action.TRAIN: "train",
    Action.REGISTER: "register",
    Action.CREATE_MODEL: "change",
    Action.SET_ALIAS: "change",
    Action.MOVE_ALIAS: "change",
    Action.UPDATE_TAGS: "change",
    Action.UPDATE_DESCRIPTION: "change",
    Action.DELETE_ALIAS: "delete",
    Action.DELETE_VERSION: "delete",
    Action.CLOSE_RUN: "change",
    Action.UPDATE_SERVING: "change",
    Action.BLOCKED: "blocked",
    Action.DRIFT: "drift",
}


# --- what ``old`` and ``new`` hold ---------------------------------------------------------------
# Values, not text: what was and what will be, in a form code can read. ``describe`` is the one
# place that turns them into the text plans show (and JSON's ``old``/``new``).


@dataclass(frozen=True)
class Recorded:
    """The version a ``qspec.alias.<alias>`` record names, as the tag says it: kept as text, since
    a person may have edited the tag to anything (shown "v<value>")."""

    value: str


@dataclass(frozen=True)
class TagValue:
    """The value of the one tag an item sets, as stored (the alias record of an update-tags)."""

    value: str


@dataclass(frozen=True)
class TagValues:
    """A version's tags, by key; None for a tag the version lacks (shown "k='v', ...", sorted)."""

    values: Mapping[str, str | None]


@dataclass(frozen=True)
class Text:
    """A free text the registry holds (a registered model's description), shown quoted and, when
    long, shortened; the item keeps it whole."""

    value: str


@dataclass(frozen=True)
class Serving:
    """How a stage is served, as its ``qspec.serving.<stage>`` tag holds it (canonical JSON,
    ``ServingSpec.canonical``): kept as text, since a person may have edited the tag; shown field by
    field ("target=aer, shots=1024, replicas.min=1, ...")."""

    value: str

    def fields(self) -> dict[str, Any] | None:
        """The record as dotted fields (``replicas.max``), or None when it is not a JSON object."""
        try:
            data = json.loads(self.value)
        except ValueError:
            return None
        return dict(leaves(data)) if isinstance(data, dict) else None


@dataclass(frozen=True)
class NewVersion:
    """The version a REGISTER makes of a build, and the run it registers when that is known."""

    label: str  # the build's label, "iris-vqc#1a2b3c4d5e6f"
    run_id: str | None = None


@dataclass(frozen=True)
class PendingVersion:
    """Where an alias goes once this plan has registered the version of a build it trains."""

    label: str


@dataclass(frozen=True)
class Cost:
    """What a TRAIN costs: the build's estimate, None when it could not be estimated."""

    estimate: Estimate | None


#: ``int`` is a version number ("v3").
Value: TypeAlias = int | Recorded | TagValue | TagValues | Text | Serving | NewVersion | PendingVersion | Cost


def describe(value: Value) -> str:
    """The text a plan shows for ``value``."""
    match value:
        case int():
            return f"v{value}"
        case Recorded(value=text):
            return f"v{text}"
        case TagValue(value=text):
            return text
        case TagValues(values=tags):
            return ", ".join(f"{k}={v!r}" for k, v in sorted(tags.items()))
        case Text(value=text):
            flat = " ".join(text.split())
            return repr(flat if len(flat) <= 60 else flat[:57] + "...")
        case Serving(value=text):
            fields = value.fields()
            if fields is None:
                return repr(text)
            return ", ".join(f"{k}={show(v)}" for k, v in fields.items())
        case NewVersion(label=label, run_id=run_id):
            return f"version of {label}" + (f" from run {run_id}" if run_id is not None else "")
        case PendingVersion(label=label):
            return f"the new version of {label}"
        case Cost(estimate=estimate):
            return describe_estimate(estimate)
        case _:
            assert_never(value)


def value_to_dict(value: Value) -> dict[str, Any]:
    """``value`` as JSON data that ``value_from_dict`` reads back (a saved plan)."""
    match value:
        case int():
            return {"type": "version", "version": value}
        case Recorded(value=text):
            return {"type": "recorded", "value": text}
        case TagValue(value=text):
            return {"type": "tag", "value": text}
        case Text(value=text):
            return {"type": "text", "value": text}
        case TagValues(values=tags):
            return {"type": "tags", "values": dict(tags)}
        case Serving(value=text):
            return {"type": "serving", "value": text}
        case NewVersion(label=label, run_id=run_id):
            return {"type": "new-version", "label": label, "run_id": run_id}
        case PendingVersion(label=label):
            return {"type": "pending-version", "label": label}
        case Cost(estimate=estimate):
            return {"type": "cost", "estimate": None if estimate is None else estimate_to_dict(estimate)}
        case _:
            assert_never(value)


def value_from_dict(data: Mapping[str, Any]) -> Value:
    kind = data.get("type")
    if kind == "version":
        return int(data["version"])
    if kind == "recorded":
        return Recorded(str(data["value"]))
    if kind == "tag":
        return TagValue(str(data["value"]))
    if kind == "text":
        return Text(str(data["value"]))
    if kind == "tags":
        return TagValues({str(k): None if v is None else str(v) for k, v in data["values"].items()})
    if kind == "serving":
        return Serving(str(data["value"]))
    if kind == "new-version":
        return NewVersion(str(data["label"]), data.get("run_id"))
    if kind == "pending-version":
        return PendingVersion(str(data["label"]))
    if kind == "cost":
        return Cost(None if data.get("estimate") is None else estimate_from_dict(data["estimate"]))
    raise ValueError(f"unknown plan value type {kind!r}")


@dataclass(frozen=True)
class PlanItem:
    """One thing apply will do (or, for blocked and drift, report)."""

    action: Action
    subject: str  # "iris-classifier@staging", "iris-classifier/v3", "iris-vqc#1a2b3c4d5e6f"
    old: Value | None = None  # what is there now (None: nothing)
    new: Value | None = None  # what apply makes of it (None: nothing, or nothing to say)
    reason: str = ""  # for people; decisions read ``code``
    # Required, so that every item diff makes says why in a form code can branch on.
    code: Reason = field(kw_only=True)
    model: str | None = None
    alias: str | None = None
    experiment: str | None = None
    spec_hash: str | None = None
    version: int | None = None  # the version acted on or pointed to; None while it does not exist yet
    run_id: str | None = None
    rev: str | None = None  # TRAIN of a ref stage: the git ref the spec is read at
    spec_path: str | None = None
    git_commit: str | None = None
    estimate: Estimate | None = None
    budget: Budget | None = None  # TRAIN (and a training blocked by it): the Experiment's budget
    spec_changes: SpecChanges | None = None  # TRAIN: the fields changed since the version it replaces
    tags: Mapping[str, str] = field(default_factory=dict)  # UPDATE_TAGS / CREATE_MODEL: tags to set
    checks: Mapping[str, Bound] = field(default_factory=dict)  # requirements (REGISTER) or gates (alias)
    pending: bool = False  # waits for an earlier item of this plan (a training, a registration)

    def to_dict(self) -> dict[str, Any]:
        """Every field, typed values included, as JSON data that ``from_dict`` reads back: what a
        saved plan keeps so that apply can execute the item without planning again."""
        def maybe(value: Value | None) -> dict[str, Any] | None:
            return None if value is None else value_to_dict(value)

        budget = self.budget
        return {
            "action": self.action.value, "subject": self.subject, "old": maybe(self.old), "new": maybe(self.new),
            "reason": self.reason, "code": self.code.value, "model": self.model, "alias": self.alias,
            "experiment": self.experiment, "spec_hash": self.spec_hash, "version": self.version,
            "run_id": self.run_id, "rev": self.rev, "spec_path": self.spec_path, "git_commit": self.git_commit,
            "estimate": None if self.estimate is None else estimate_to_dict(self.estimate),
            "budget": None if budget is None else {"max_shots": budget.max_shots, "max_cost_usd": budget.max_cost_usd},
            "spec_changes": None if self.spec_changes is None else self.spec_changes.to_dict(),
            "tags": dict(self.tags),
            "checks": {m: b.model_dump(exclude_none=True) for m, b in sorted(self.checks.items())},
            "pending": self.pending,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlanItem:
        """The item ``to_dict`` wrote; raises ``KeyError``, ``ValueError`` or ``TypeError`` on anything else."""
        def maybe(value: Mapping[str, Any] | None) -> Value | None:
            return None if value is None else value_from_dict(value)

        budget, estimate, changes = data.get("budget"), data.get("estimate"), data.get("spec_changes")
        version = data.get("version")
        return cls(
            Action(data["action"]), str(data["subject"]), old=maybe(data.get("old")), new=maybe(data.get("new")),
            reason=str(data.get("reason", "")), code=Reason(data["code"]), model=data.get("model"),
            alias=data.get("alias"), experiment=data.get("experiment"), spec_hash=data.get("spec_hash"),
            version=None if version is None else int(version), run_id=data.get("run_id"), rev=data.get("rev"),
            spec_path=data.get("spec_path"), git_commit=data.get("git_commit"),
            estimate=None if estimate is None else estimate_from_dict(estimate),
            budget=None if budget is None else Budget(budget.get("max_shots"), budget.get("max_cost_usd")),
            spec_changes=None if changes is None else SpecChanges.from_dict(changes),
            tags={str(k): str(v) for k, v in data.get("tags", {}).items()},
            checks={str(m): Bound(**b) for m, b in data.get("checks", {}).items()},
            pending=bool(data.get("pending", False)),
        )

    def as_dict(self) -> dict[str, object]:
        est = self.estimate
        return {
            "action": self.action.value,
            "subject": self.subject,
            "old": None if self.old is None else describe(self.old),
            "new": None if self.new is None else describe(self.new),
            "reason": self.reason,
            "code": self.code.value,
            "model": self.model,
            "alias": self.alias,
            "experiment": self.experiment,
            "spec_hash": self.spec_hash,
            "version": self.version,
            "run_id": self.run_id,
            "rev": self.rev,
            "pending": self.pending,
            "tags": dict(self.tags),
            "checks": {m: b.model_dump(exclude_none=True) for m, b in sorted(self.checks.items())},
            "estimate": None if est is None else {
                "circuits": est.circuits, "shots": est.shots, "cost_usd": est.cost_usd, "qpu_seconds": est.qpu_seconds,
            },
            "budget": None if self.budget is None else self.budget.use(est),
            "spec_changes": None if self.spec_changes is None else self.spec_changes.to_dict(),
        }


def _kept(item: PlanItem) -> bool:
    return item.action is Action.DRIFT and item.code.prunable


BUCKETS = ("train", "register", "change", "delete", "blocked", "drift")


@dataclass(frozen=True)
class Plan:
    items: tuple[PlanItem, ...] = ()
    prune: bool = False

    @property
    def counts(self) -> dict[str, int]:
        """How many items fall in each bucket of the counts line (train, register, change, delete,
        blocked, drift)."""
        out = dict.fromkeys(BUCKETS, 0)
        for item in self.items:
            out[item.action.bucket] += 1
        return out

    @property
    def has_changes(self) -> bool:
        """Whether apply would change the registry (``plan --detailed-exitcode`` exits 2)."""
        return any(item.action.changes for item in self.items)

    @property
    def in_sync(self) -> bool:
        """Whether the registry matches git: no change, nothing blocked, no drift. What ``plan
        --detailed-exitcode`` and ``status --check`` exit 2 on when it is false.

        One kind of item does not count: an alias git does not declare, on a managed model, in a
        plan made without ``prune``. Keeping it is the choice made by not pruning (a merge that
        removes a stage leaves its alias serving), so it is reported (``kept``) but is not out of
        sync; with ``prune`` it is a deletion, which does count.
        """
        return all(_kept(item) for item in self.items)

    @property
    def kept(self) -> list[PlanItem]:
        """Aliases git does not declare that this plan reports and keeps (made without ``prune``)."""
        return [item for item in self.items if _kept(item)]

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON data ``from_dict`` reads back (``counts`` is for programs, not read back)."""
        return {"prune": self.prune, "counts": self.counts, "items": [item.to_dict() for item in self.items]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        return cls(tuple(PlanItem.from_dict(item) for item in data["items"]), prune=bool(data.get("prune", False)))

    def by_action(self, action: Action) -> list[PlanItem]:
        return [item for item in self.items if item.action is action]

    def estimated_training(self) -> Estimate:
        """The summed estimate of every TRAIN item (unknown estimates count as zero)."""
        circuits, shots, cost, seconds = 0, 0, 0.0, 0.0
        any_shots = False
        for item in self.by_action(Action.TRAIN):
            if item.estimate is None:
                continue
            circuits += item.estimate.circuits
            if item.estimate.shots is not None:
                shots += item.estimate.shots
                any_shots = True
            cost += item.estimate.cost_usd
            seconds += item.estimate.qpu_seconds
        return Estimate(circuits=circuits, shots=shots if any_shots else None, cost_usd=cost, qpu_seconds=seconds)
