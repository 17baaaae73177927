"""Optimizers: the loops that move the weights (``training.optimizer``), and what each costs.

Each plug-in brings its options (a spec model tagged by ``name``: the spec's discriminated union
is built from them), its ``minimize`` loop, and what the resource estimate needs to know of it:
the parameter rows it evaluates per sample per iteration, any floor on the iterations it spends,
and what the estimate must assume. Read by ``qspec.spec.models``, ``qspec.quantum.optimizers``
(dispatch) and ``qspec.quantum.estimate``.

``minimize(options, objective, x0, rng, report)`` evaluates points only through
``objective.evaluate`` (``qspec.quantum.optimizers.Objective``), calls ``report`` once per
iteration (1-based) and returns the final point; ``rng`` is the training's seeded generator.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import Field

from qspec.plugins import discover
from qspec.spec.models import MAX_ITERATIONS, PositiveInt, SpecModel

if TYPE_CHECKING:
    import numpy as np

    from qspec.quantum.optimizers import Objective, Report


class OptimizerOptions(SpecModel):
    """What every optimizer's options share; a plug-in narrows ``name`` to ``Literal['<name>']``."""

    name: str
    maxiter: PositiveInt = Field(
        default=100, le=MAX_ITERATIONS,
        description=f"1 to {MAX_ITERATIONS:,} iterations: exact training has no shot budget to stop a longer "
                    "loop, and no plan waits for one")


Minimize = Callable[[Any, "Objective", "np.ndarray", "np.random.Generator", "Report"], "np.ndarray"]


def no_floor(weights: int) -> int:
    return 0


def one_row(weights: int) -> int:
    """A gradient-free step: the point itself."""
    return 1


def parameter_shift_rows(weights: int) -> int:
    """A gradient step on a primitive: the point and each weight shifted by +pi/2 and -pi/2."""
    return 1 + 2 * weights


def adjoint_rows(weights: int) -> int:
    """A gradient step on the exact numpy path: the point, differentiated by the adjoint method."""
    return 1


def reported_loss(objective: Objective, report: Report) -> Callable[[np.ndarray], float]:
    """The loss as a function of one point, for scipy's gradient-free methods: each call is one
    evaluation and one reported iteration."""
    import numpy as np

    count = 0

    def fun(x: np.ndarray) -> float:
        nonlocal count
        point = np.asarray(x, dtype=float)
        (evaluation,) = objective.evaluate(point[None, :], gradient=False)
        count += 1
        report(count, point, evaluation)
        return evaluation.loss

    return fun


@dataclass(frozen=True)
class Optimizer:
    name: str
    options: type[OptimizerOptions]
    minimize: Minimize
    rows_per_sample: Callable[[int], int]  # weights -> parameter rows per sample per iteration
    iteration_floor: Callable[[int], int] = no_floor  # weights -> iterations it spends however small maxiter
    assumptions: tuple[str, ...] = ()  # what the estimate assumes of it
    # weights -> rows per sample per iteration on the exact numpy path, when that differs: there a
    # gradient is one adjoint-differentiated row per sample, not the 1 + 2P of parameter shift
    exact_rows_per_sample: Callable[[int], int] | None = None

    def rows(self, weights: int, *, exact: bool) -> int:
        """Parameter rows per sample per iteration, on the exact numpy path or on a primitive."""
        if exact and self.exact_rows_per_sample is not None:
            return self.exact_rows_per_sample(weights)
        return self.rows_per_sample(weights)

    def iterations(self, options: OptimizerOptions, weights: int) -> int:
        """Primitive calls of the loop: ``maxiter``, raised to the optimizer's floor."""
        return max(options.maxiter, self.iteration_floor(weights))


def plugins() -> dict[str, Optimizer]:
    """``{name: plug-in}`` of every optimizer module, found once per process."""
    return _plugins()


# Not the decorated function itself: mypy cannot type a decorated function inside the import cycle
# with ``qspec.spec.models`` (which reads this table while it is being defined).
@functools.cache
def _plugins() -> dict[str, Optimizer]:
    return discover(__name__, Optimizer)
