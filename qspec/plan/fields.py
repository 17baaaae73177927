"""Field-level differences between two experiment specs: ``circuit.ansatz.reps: 2 -> 3``.

What a reviewer of a retraining wants to read first: which fields of the spec changed since the
version it replaces. Pure: both sides are the identity dicts of ``qspec.spec.hashing``
(``experiment_identity``: the normalized spec, every default filled in, without the fields that do
not take part in the hash, and the data fingerprint), so every difference shown is one that changed
the hash. ``qspec.plan.review`` finds the two sides; ``qspec.plan.render`` prints the result.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

#: The key path under which the data fingerprint is shown (the hash's second part).
FINGERPRINT = "data.fingerprint"
#: What a field that one side lacks is shown as.
ABSENT = "(none)"

Kind = Literal["changed", "added", "removed"]


@dataclass(frozen=True)
class FieldChange:
    """One field that differs: its dotted path under ``spec`` and the JSON values on each side."""

    path: str
    old: Any = None  # None with kind "added"
    new: Any = None  # None with kind "removed"
    kind: Kind = "changed"

    @property
    def before(self) -> str:
        """The old value as plans show it."""
        return ABSENT if self.kind == "added" else show(self.old, self.path)

    @property
    def after(self) -> str:
        """The new value as plans show it."""
        return ABSENT if self.kind == "removed" else show(self.new, self.path)

    def describe(self) -> str:
        return f"{self.path}: {self.before} -> {self.after}"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "old": self.old, "new": self.new, "kind": self.kind}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FieldChange:
        kind = data.get("kind", "changed")
        if kind not in ("changed", "added", "removed"):
            raise ValueError(f"unknown field change kind {kind!r}")
        return cls(str(data["path"]), data.get("old"), data.get("new"), kind)


@dataclass(frozen=True)
class SpecChanges:
    """What a training changes against the version it replaces: the fields, or why they are unknown."""

    version: int | None  # the version the training replaces; None: an Experiment's run (``run_id``)
    run_id: str | None = None
    git_commit: str | None = None  # the commit that version's spec was read at
    fields: tuple[FieldChange, ...] = ()
    unknown: str | None = None  # why the old spec could not be compared (a dirty run, a commit gone)

    def describe(self) -> str:
        """The heading plans show above the fields: "changes since v3 (commit 1a2b3c4d5e6f)"."""
        where = f" (commit {self.git_commit[:12]})" if self.git_commit else ""
        since = f"v{self.version}" if self.version is not None else f"run {self.run_id}"
        if self.unknown is not None:
            return f"changes since {since}: unknown, {self.unknown}"
        if not self.fields:
            return f"changes since {since}{where}: none in the spec"
        return f"changes since {since}{where}:"

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "run_id": self.run_id, "git_commit": self.git_commit,
                "fields": [f.to_dict() for f in self.fields], "unknown": self.unknown}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SpecChanges:
        version = None if data["version"] is None else int(data["version"])
        return cls(version, data.get("run_id"), data.get("git_commit"),
                   tuple(FieldChange.from_dict(f) for f in data.get("fields", ())), data.get("unknown"))


def show(value: Any, path: str = "") -> str:
    """A JSON value as a plan shows it: strings bare, the rest as compact JSON; a sha256 fingerprint
    shortened to 12 hex digits."""
    if isinstance(value, str):
        if path == FINGERPRINT and value.startswith("sha256:"):
            return value[: len("sha256:") + 12]
        return value
    return json.dumps(value, sort_keys=True, separators=(", ", ": "), ensure_ascii=False)


def flatten(identity: Mapping[str, Any]) -> dict[str, Any]:
    """An ``experiment_identity`` dict as dotted paths: ``spec`` fields relative to ``spec``
    (``circuit.ansatz.reps``), ``apiVersion`` and ``kind`` as they are, the data fingerprint as
    ``data.fingerprint``. Lists are leaves (compared whole); so is an empty mapping."""
    resource = identity.get("resource", {})
    out: dict[str, Any] = {}
    for key, value in resource.items():
        if key == "spec" and isinstance(value, Mapping):
            out.update(leaves(value))
        else:
            out[key] = value
    if identity.get("data_fingerprint") is not None:
        out[FINGERPRINT] = identity["data_fingerprint"]
    return out


def leaves(node: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """The leaves of nested mappings as (dotted path, value), in order; an empty mapping is a leaf."""
    for key, value in node.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from leaves(value, path + ".")
        else:
            yield path, value


def mapping_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[FieldChange, ...]:
    """Every leaf that differs between two nested mappings (``replicas.max: 5 -> 8``), in the new
    one's order, then the leaves only the old one has."""
    before, after = dict(leaves(old)), dict(leaves(new))
    out = [FieldChange(p, None, v, "added") if p not in before else FieldChange(p, before[p], v)
           for p, v in after.items() if p not in before or before[p] != v]
    return (*out, *(FieldChange(p, v, None, "removed") for p, v in before.items() if p not in after))


def field_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[FieldChange, ...]:
    """Every field that differs between two identity dicts, in the new spec's order (then the fields
    only the old one has). A changed ``data.source`` says the data changed: the fingerprint that
    follows from it is left out."""
    before, after = flatten(old), flatten(new)
    out: list[FieldChange] = []
    for path, value in after.items():
        if path not in before:
            out.append(FieldChange(path, None, value, "added"))
        elif before[path] != value:
            out.append(FieldChange(path, before[path], value))
    out += [FieldChange(path, value, None, "removed") for path, value in before.items() if path not in after]
    if any(c.path == "data.source" for c in out):
        out = [c for c in out if c.path != FINGERPRINT]
    return tuple(out)
