"""A saved plan (``qspec plan -out FILE``): the plan in full, and what it was made from.

``apply FILE`` executes exactly the items saved, without planning again, and only if nothing it was
made from has moved: the git commit (and the uncommitted spec files, by content), the registry it
was made against, and a fingerprint of the registry snapshot (``registry_fingerprint``). Pure: the
file is JSON that this module writes and reads; ``qspec.api`` gathers the facts and checks them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from qspec import tags as tag
from qspec.errors import QspecError
from qspec.plan.actions import Plan
from qspec.plan.state import ActualState
from qspec.spec.hashing import canonical_json

#: What the file says it is, and the layout version this qspec writes and reads.
FORMAT = "qspec-plan"
FORMAT_VERSION = 1

PLAN_AGAIN = "make the plan again (qspec plan -out FILE) and apply that"


@dataclass(frozen=True)
class SavedPlan:
    plan: Plan
    specs: tuple[str, ...]  # the spec arguments as given (relative to where plan ran)
    paths: tuple[str, ...]  # the same, repository-relative: apply checks it reads the same specs
    rev: str | None
    git_commit: str | None
    registry: str  # registry_fingerprint of the snapshot the plan was made from
    tracking_uri: str  # without credentials (redact_uri)
    models: tuple[str, ...] = ()  # the Models git declares: the fingerprint covers them and managed ones
    hashes: tuple[str, ...] = ()  # the spec hashes git declares builds of: the fingerprint covers their runs
    dirty: Mapping[str, str | None] = field(default_factory=dict)  # uncommitted file -> sha256 (None: deleted)
    is_repo: bool = True
    base: str | None = None
    only: str | None = None
    qspec_version: str = ""

    @property
    def prune(self) -> bool:
        return self.plan.prune

    def to_json(self) -> str:
        data = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "qspec_version": self.qspec_version,
            "specs": {"paths": list(self.specs), "repo_paths": list(self.paths), "rev": self.rev, "base": self.base,
                      "prune": self.prune, "only": self.only},
            "git": {"commit": self.git_commit, "dirty": dict(sorted(self.dirty.items())), "is_repo": self.is_repo},
            "registry": {"tracking_uri": self.tracking_uri, "fingerprint": self.registry,
                         "models": list(self.models), "hashes": list(self.hashes)},
            "plan": self.plan.to_dict(),
        }
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes, *, where: str = "the saved plan") -> SavedPlan:
        """Reads what ``to_json`` wrote; anything else is a ``QspecError`` saying what it is."""
        try:
            data = json.loads(text)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise QspecError(f"{where} is not a qspec plan (not JSON: {exc})",
                             hint="write one with qspec plan -out FILE") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise QspecError(f"{where} is not a qspec plan (no \"format\": \"{FORMAT}\")",
                             hint="write one with qspec plan -out FILE")
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            made = data.get("qspec_version") or "another qspec"
            raise QspecError(f"{where} was saved in plan format {version!r} by qspec {made}; this qspec reads "
                             f"format {FORMAT_VERSION}", hint=PLAN_AGAIN)
        try:
            specs, git, registry = data["specs"], data["git"], data["registry"]
            return cls(
                plan=Plan.from_dict(data["plan"]),
                specs=tuple(str(p) for p in specs["paths"]), paths=tuple(str(p) for p in specs["repo_paths"]),
                rev=specs.get("rev"), base=specs.get("base"), only=specs.get("only"),
                git_commit=git.get("commit"), is_repo=bool(git.get("is_repo", True)),
                dirty={str(k): None if v is None else str(v) for k, v in git.get("dirty", {}).items()},
                registry=str(registry["fingerprint"]), tracking_uri=str(registry["tracking_uri"]),
                models=tuple(str(m) for m in registry.get("models", ())),
                hashes=tuple(str(h) for h in registry.get("hashes", ())),
                qspec_version=str(data.get("qspec_version", "")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise QspecError(f"{where} is damaged: {type(exc).__name__}: {exc}", hint=PLAN_AGAIN) from None


def registry_fingerprint(actual: ActualState, models: Collection[str], hashes: Collection[str]) -> str:
    """A stable hash of what a plan read from the registry: each model in ``models`` and each managed
    one (present or not; its tags, versions with their tags, status and run, and aliases), and the
    managed runs of ``hashes`` or of those versions (id, spec hash, status). Anything else in the
    registry (another team's models and runs) may change without making the plan stale."""
    names = set(models) | {name for name, m in actual.models.items() if m.managed}
    entries: dict[str, Any] = {}
    run_ids: set[str] = set()
    for name in sorted(names):
        model = actual.models.get(name)
        if model is None:
            entries[name] = None
            continue
        # A monitoring verdict written meanwhile (qspec monitor on a schedule) changes nothing a plan does.
        entries[name] = {
            "tags": _without_monitoring(model.tags),
            "aliases": dict(sorted(model.aliases.items())),
            "versions": [{"version": v.version, "run_id": v.run_id, "status": v.status,
                          "tags": _without_monitoring(v.tags)}
                         for v in sorted(model.versions, key=lambda v: v.version)],
        }
        run_ids.update(v.run_id for v in model.versions if v.run_id)
    wanted = set(hashes)
    runs = sorted((r.run_id, r.spec_hash, r.status) for r in actual.runs
                  if r.run_id in run_ids or (r.spec_hash is not None and r.spec_hash in wanted))
    digest = hashlib.sha256(canonical_json({"models": entries, "runs": runs}).encode()).hexdigest()
    return "sha256:" + digest


def _without_monitoring(tags: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in sorted(tags.items()) if not tag.is_monitoring_tag(k)}


_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^@/?#]*)@")
_SECRET_QUERY = re.compile(r"(?i)([?&](?:password|passwd|pwd|token|secret|access_token|api_key)=)[^&#]*")


def redact_uri(uri: str) -> str:
    """``uri`` without credentials: the password of the userinfo (all of a userinfo without one,
    which may be a token) and secret-looking query values become ``***``
    (``postgresql://qspec:***@db/mlflow``)."""
    def userinfo(match: re.Match[str]) -> str:
        user, colon, _ = match.group("userinfo").partition(":")
        return f"{match.group('scheme')}{user + ':***' if colon else '***'}@"

    return _SECRET_QUERY.sub(r"\1***", _USERINFO.sub(userinfo, uri, count=1))
