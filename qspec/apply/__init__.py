"""Executing a plan: ``apply(plan, registry, trainer)`` and what it returns.

Depends on ``qspec.plan`` and the ``qspec.registry`` protocol; the trainer and the registry are
injected, so nothing here imports mlflow or qiskit. ``qspec.api`` and the CLI call it.
"""

from __future__ import annotations

from qspec.apply.executor import apply
from qspec.apply.resolve import GitRefResolver
from qspec.apply.result import ApplyResult, Outcome, Status, render_result
from qspec.apply.trainer import Trainer, TrainRequest
from qspec.apply.training import tracking_trainer

__all__ = [
    "ApplyResult",
    "GitRefResolver",
    "Outcome",
    "Status",
    "TrainRequest",
    "Trainer",
    "apply",
    "render_result",
    "tracking_trainer",
]
