"""The protocols the executor needs of the world, and nothing concrete: a ``Registry`` and a ``Trainer``.

``qspec.apply.executor`` programs against these only. The real ones are adapters wired by
``qspec.api`` (``qspec.registry.mlflow.MlflowRegistry``, ``qspec.api.wiring.tracked_trainer``);
``qspec.registry.memory.MemoryRegistry`` and the tests' fake trainer are the fakes. Reads return the
plain records of ``qspec.plan.state``; writes take names, version numbers and string tags.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from qspec.plan.state import ActualState, Estimate, RegisteredModelInfo, RunInfo


@runtime_checkable
class Registry(Protocol):
    """What the reconciler needs of a model registry (MLflow's, or the in-memory fake)."""

    def snapshot(self) -> ActualState:
        """Every registered model (tags, versions, aliases) and every run tagged ``qspec.managed=true``,
        read in pages: O(pages) calls, not O(models)."""
        ...

    def get_model(self, name: str) -> RegisteredModelInfo | None:
        """One registered model as it is now (apply re-checks against this before acting)."""
        ...

    def runs_for(self, spec_hash: str) -> list[RunInfo]:
        """The managed runs of one spec hash, oldest first."""
        ...

    def get_run(self, run_id: str) -> RunInfo | None: ...

    def create_model(self, name: str, tags: Mapping[str, str]) -> None: ...

    def register_version(self, name: str, run: RunInfo, tags: Mapping[str, str]) -> int:
        """A new version of ``name`` built from ``run``, its tags set at creation; its number."""
        ...

    def delete_version(self, name: str, version: int) -> None: ...

    def set_alias(self, name: str, alias: str, version: int) -> None: ...

    def delete_alias(self, name: str, alias: str) -> None: ...

    def set_model_tags(self, name: str, tags: Mapping[str, str]) -> None: ...

    def delete_model_tag(self, name: str, key: str) -> None: ...

    def set_model_description(self, name: str, description: str) -> None: ...

    def set_version_tags(self, name: str, version: int, tags: Mapping[str, str]) -> None: ...

    def mark_run_failed(self, run_id: str) -> None:
        """End a run left RUNNING by a dead apply (its claim expired) as FAILED, so that it is not
        waited on, with whatever it left unfinished (MLflow: its logged models still PENDING)."""
        ...

    # --- claims: the primitives ``qspec.apply.claims`` builds one-training-per-hash on ------------

    def claims_for(self, spec_hash: str) -> list[ClaimInfo]:
        """Every claim record of ``spec_hash``, lowest generation first. Never part of ``snapshot``."""
        ...

    def create_claim(self, claim: ClaimInfo) -> bool:
        """Create the record of ``claim`` (its hash and generation name it) with all its fields, in one
        atomic step: True when this call created it, False when a record of that name exists."""
        ...

    def renew_claim(self, spec_hash: str, generation: int, *, expires: float, run_id: str | None = None) -> bool:
        """Set a claim's ``expires`` (and its ``run_id``, if given); False when the claim is gone."""
        ...

    def delete_claim(self, spec_hash: str, generation: int) -> None:
        """Delete a claim record; one that is already gone is no error."""
        ...


@dataclass(frozen=True)
class ClaimInfo:
    """One generation of the claim on a spec hash, as the registry holds it (``qspec.apply.claims``)."""

    spec_hash: str
    generation: int
    holder: str  # who: "host pid N id X", unique per apply
    expires: float  # epoch seconds the lease runs to; 0: released
    process: str = ""  # the holder's process identity (qspec.apply.claims.process_identity); "" unknown
    run_id: str | None = None  # the run being trained, once it exists


@dataclass(frozen=True)
class TrainRequest:
    """One spec to train: the experiment by name, read at ``rev`` (None: the revision planned)."""

    experiment: str
    spec_hash: str  # what the plan expects; the trainer's run must carry this hash
    rev: str | None = None
    spec_path: str | None = None
    git_commit: str | None = None
    estimate: Estimate | None = None
    #: Called with the run's id as soon as the run exists (the claim records it for waiters to see).
    on_run: Callable[[str], None] | None = field(default=None, compare=False, repr=False)


class Trainer(Protocol):
    def __call__(self, request: TrainRequest) -> RunInfo:
        """Train and log one run, tagged ``qspec.managed=true``, ``qspec.spec_hash`` and the rest of the
        identity tags; return its summary (run id, status, final metrics, tags). Raise a
        ``QspecError`` for a failure a user can fix (no IBM token, a budget the device refuses)."""
        ...
