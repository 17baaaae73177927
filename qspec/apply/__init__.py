"""Executing a plan: ``apply(plan, registry, trainer)`` and what it returns.

Depends on ``qspec.plan`` and its own protocols (``ports``: the ``Registry`` and the ``Trainer``);
the concrete registry and trainer are injected by ``qspec.api``, so nothing here imports an adapter,
mlflow, qiskit or git (import-linter checks it).
"""

from __future__ import annotations

from qspec.apply.executor import apply
from qspec.apply.ports import Registry, Trainer, TrainRequest
from qspec.apply.result import ApplyResult, Outcome, Status, render_result

__all__ = [
    "ApplyResult",
    "Outcome",
    "Registry",
    "Status",
    "TrainRequest",
    "Trainer",
    "apply",
    "render_result",
]
