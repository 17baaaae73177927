"""scipy's L-BFGS-B on exact gradients (adjoint or parameter shift); reports each accepted iterate.

Line searches can spend several evaluations per iteration, while the resource estimate counts
one: evaluations are capped at ``maxiter`` (scipy's ``maxfun`` plus a hard guard, as scipy may
overrun ``maxfun`` inside a line search), so the estimate is an upper bound.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from qspec.plugins.optimizers import Optimizer, OptimizerOptions, adjoint_rows, parameter_shift_rows

if TYPE_CHECKING:
    import numpy as np

    from qspec.quantum.optimizers import Objective, Report


class LbfgsbOptions(OptimizerOptions):
    name: Literal["l_bfgs_b"]
    ftol: float = Field(default=2.220446049250313e-09, gt=0)
    gtol: float = Field(default=1e-05, gt=0)


class _BudgetSpentError(Exception):
    """Raised inside scipy's loop when the evaluation budget is used up."""


def minimize(options: LbfgsbOptions, objective: Objective, x0: np.ndarray, rng: np.random.Generator,
             report: Report) -> np.ndarray:
    import numpy as np
    from scipy.optimize import OptimizeResult
    from scipy.optimize import minimize as scipy_minimize

    from qspec.quantum.optimizers import Evaluation

    last: dict[bytes, Evaluation] = {}
    count = 0
    evaluations = 0
    accepted = np.array(x0, dtype=float)

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        nonlocal evaluations
        if evaluations >= options.maxiter:
            raise _BudgetSpentError
        evaluations += 1
        (evaluation,) = objective.evaluate(np.asarray(x, dtype=float)[None, :], gradient=True)
        last.clear()
        last[np.asarray(x, dtype=float).tobytes()] = evaluation
        assert evaluation.gradient is not None
        return evaluation.loss, evaluation.gradient

    def callback(intermediate_result: OptimizeResult) -> None:
        nonlocal count, accepted
        count += 1
        x = np.asarray(intermediate_result.x, dtype=float)
        accepted = x.copy()
        evaluation = last.get(x.tobytes()) or Evaluation(float(intermediate_result.fun))
        report(count, x, evaluation)

    try:
        result = scipy_minimize(fun, np.array(x0, dtype=float), jac=True, method="L-BFGS-B", callback=callback,
                                options={"maxiter": options.maxiter, "maxfun": options.maxiter,
                                         "ftol": options.ftol, "gtol": options.gtol})
    except _BudgetSpentError:
        return accepted
    return np.asarray(result.x, dtype=float)


PLUGIN = Optimizer(name="l_bfgs_b", options=LbfgsbOptions, minimize=minimize, rows_per_sample=parameter_shift_rows,
                   exact_rows_per_sample=adjoint_rows,
                   assumptions=("l_bfgs_b: evaluations capped at maxiter (line searches count against it)",))
