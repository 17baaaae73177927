"""The ``Trainer`` protocol: how apply asks for one spec to be trained and logged.

``qspec.apply.executor.apply`` calls the trainer for each TRAIN item; the real trainer wraps
``qspec.tracking``'s ``train_and_log`` (wired by ``qspec.api``), tests pass a fake. Keeping the
trainer injected keeps quantum and tracking imports out of the reconciler.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from qspec.plan.state import Estimate, RunInfo


@dataclass(frozen=True)
class TrainRequest:
    """One spec to train: the experiment by name, read at ``rev`` (None: the revision planned)."""

    experiment: str
    spec_hash: str  # what the plan expects; the trainer's run must carry this hash
    rev: str | None = None
    spec_path: str | None = None
    git_commit: str | None = None
    estimate: Estimate | None = None


class Trainer(Protocol):
    def __call__(self, request: TrainRequest) -> RunInfo:
        """Train and log one run, tagged ``qspec.managed=true``, ``qspec.spec_hash`` and the rest of the
        DESIGN.md tags; return its summary (run id, status, final metrics, tags). Raise a
        ``QspecError`` for a failure a user can fix (no IBM token, a budget the device refuses)."""
        ...
