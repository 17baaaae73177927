"""scipy's Nelder-Mead simplex; each function evaluation is one iteration, at most ``maxiter`` of them.

Gradient-free: one parameter row per sample per evaluation. scipy's ``maxfev`` is set to
``maxiter`` and scipy refuses an evaluation past it, so the resource estimate (``maxiter``
evaluations) is an upper bound; ``xatol`` and ``fatol`` stop it earlier once the simplex has
shrunk in both the point and the loss.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from qspec.plugins.optimizers import Optimizer, OptimizerOptions, one_row, reported_loss

if TYPE_CHECKING:
    import numpy as np

    from qspec.quantum.optimizers import Objective, Report


class NelderMeadOptions(OptimizerOptions):
    name: Literal["nelder_mead"]
    xatol: float = Field(default=1e-4, gt=0)
    fatol: float = Field(default=1e-4, gt=0)


def minimize(options: NelderMeadOptions, objective: Objective, x0: np.ndarray, rng: np.random.Generator,
             report: Report) -> np.ndarray:
    import numpy as np
    from scipy.optimize import minimize as scipy_minimize

    result = scipy_minimize(reported_loss(objective, report), np.array(x0, dtype=float), method="Nelder-Mead",
                            options={"maxiter": options.maxiter, "maxfev": options.maxiter,
                                     "xatol": options.xatol, "fatol": options.fatol})
    return np.asarray(result.x, dtype=float)


PLUGIN = Optimizer(name="nelder_mead", options=NelderMeadOptions, minimize=minimize, rows_per_sample=one_row)
