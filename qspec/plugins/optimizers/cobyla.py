"""scipy's COBYLA; each function evaluation is one iteration (COBYLA spends one per step)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from qspec.plugins.optimizers import Optimizer, OptimizerOptions, one_row, reported_loss

if TYPE_CHECKING:
    import numpy as np

    from qspec.quantum.optimizers import Objective, Report


class CobylaOptions(OptimizerOptions):
    name: Literal["cobyla"]
    rhobeg: float = Field(default=1.0, gt=0)
    tol: float | None = Field(default=None, gt=0)


def simplex(weights: int) -> int:
    """COBYLA needs num_vars + 2 evaluations to build its first simplex; scipy would warn and
    raise a smaller budget to that itself."""
    return weights + 2


def minimize(options: CobylaOptions, objective: Objective, x0: np.ndarray, rng: np.random.Generator,
             report: Report) -> np.ndarray:
    import numpy as np
    from scipy.optimize import minimize as scipy_minimize

    maxiter = PLUGIN.iterations(options, len(x0))
    result = scipy_minimize(reported_loss(objective, report), np.array(x0, dtype=float), method="COBYLA",
                            tol=options.tol, options={"maxiter": maxiter, "rhobeg": options.rhobeg})
    return np.asarray(result.x, dtype=float)


PLUGIN = Optimizer(name="cobyla", options=CobylaOptions, minimize=minimize, rows_per_sample=one_row,
                   iteration_floor=simplex)
