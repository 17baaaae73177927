"""What the optimizers share: the ``Objective`` they evaluate through, its ``Evaluation`` and ``Report``.

The optimizers themselves are plug-ins (``qspec.plugins.optimizers``, one module each) and own
their iteration loops only. What a point costs is the ``Objective``'s business: it evaluates one
or several parameter points, with or without parameter-shift gradients, each request in one
primitive call. ``minimize`` runs the optimizer the options name. Called by ``qspec.quantum.train``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from qspec.plugins import optimizers
from qspec.plugins.optimizers import OptimizerOptions


@dataclass(frozen=True)
class Evaluation:
    """The loss at one point, its gradient when asked for, and metrics that came for free."""

    loss: float
    gradient: np.ndarray | None = None
    metrics: dict[str, float] = field(default_factory=dict)


class Objective(Protocol):
    def evaluate(self, points: np.ndarray, *, gradient: bool) -> list[Evaluation]:
        """Evaluate every row of ``points`` (k x P) in one primitive call."""
        ...


#: report(iteration, point, evaluation): called once per iteration, 1-based.
Report = Callable[[int, np.ndarray, Evaluation], None]


def minimize(options: OptimizerOptions, objective: Objective, x0: np.ndarray, rng: np.random.Generator,
             report: Report) -> np.ndarray:
    """Run the optimizer ``options`` names from ``x0``; returns the final point."""
    point: np.ndarray = optimizers.plugins()[options.name].minimize(options, objective, x0, rng, report)
    return point
