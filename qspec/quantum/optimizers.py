"""The optimizers a spec names: cobyla and l_bfgs_b (scipy), adam and spsa (written here, seeded).

Owns the iteration loops only. What a point costs is the ``Objective``'s business: it evaluates
one or several parameter points, with or without parameter-shift gradients, each request in one
primitive call. Every optimizer reports each iteration through ``report`` and returns its final
point. Called by ``qspec.quantum.train``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from qspec.spec.models import AdamOptions, CobylaOptions, LbfgsbOptions, SpsaOptions


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

OptimizerOptions = CobylaOptions | SpsaOptions | AdamOptions | LbfgsbOptions


def minimize(options: OptimizerOptions, objective: Objective, x0: np.ndarray, rng: np.random.Generator,
             report: Report) -> np.ndarray:
    """Run the optimizer ``options`` names from ``x0``; returns the final point."""
    if isinstance(options, AdamOptions):
        return adam(options, objective, x0, report)
    if isinstance(options, SpsaOptions):
        return spsa(options, objective, x0, rng, report)
    if isinstance(options, LbfgsbOptions):
        return lbfgsb(options, objective, x0, report)
    return cobyla(options, objective, x0, report)


def adam(options: AdamOptions, objective: Objective, x0: np.ndarray, report: Report) -> np.ndarray:
    """Adam (Kingma & Ba) with bias correction, on exact parameter-shift gradients."""
    x = np.array(x0, dtype=float)
    m = np.zeros_like(x)
    v = np.zeros_like(x)
    for t in range(1, options.maxiter + 1):
        (evaluation,) = objective.evaluate(x[None, :], gradient=True)
        report(t, x, evaluation)
        g = evaluation.gradient
        assert g is not None
        m = options.beta1 * m + (1 - options.beta1) * g
        v = options.beta2 * v + (1 - options.beta2) * g * g
        m_hat = m / (1 - options.beta1**t)
        v_hat = v / (1 - options.beta2**t)
        x = x - options.learning_rate * m_hat / (np.sqrt(v_hat) + options.eps)
    return x


def spsa(options: SpsaOptions, objective: Objective, x0: np.ndarray, rng: np.random.Generator,
         report: Report) -> np.ndarray:
    """Simultaneous perturbation (Spall): both perturbed points in one call per iteration.

    Gains a_k = learning_rate / (k + 1 + A)^alpha with A = maxiter / 10 (Spall's rule of thumb) and
    c_k = perturbation / (k + 1)^gamma; the reported loss is the mean of the two perturbed losses.
    """
    x = np.array(x0, dtype=float)
    stability = 0.1 * options.maxiter
    for k in range(options.maxiter):
        a_k = options.learning_rate / (k + 1 + stability) ** options.alpha
        c_k = options.perturbation / (k + 1) ** options.gamma
        delta = rng.choice(np.array([-1.0, 1.0]), size=x.shape)
        plus, minus = objective.evaluate(np.stack([x + c_k * delta, x - c_k * delta]), gradient=False)
        g = (plus.loss - minus.loss) / (2 * c_k) * delta
        metrics = {key: (plus.metrics[key] + minus.metrics[key]) / 2 for key in plus.metrics if key in minus.metrics}
        report(k + 1, x, Evaluation((plus.loss + minus.loss) / 2, g, metrics))
        x = x - a_k * g
    return x


def cobyla(options: CobylaOptions, objective: Objective, x0: np.ndarray, report: Report) -> np.ndarray:
    """scipy's COBYLA; each function evaluation is one iteration (COBYLA spends one per step)."""
    from scipy.optimize import minimize as scipy_minimize

    count = 0

    def fun(x: np.ndarray) -> float:
        nonlocal count
        (evaluation,) = objective.evaluate(np.asarray(x, dtype=float)[None, :], gradient=False)
        count += 1
        report(count, np.asarray(x, dtype=float), evaluation)
        return evaluation.loss

    # COBYLA needs num_vars + 2 evaluations to build its first simplex; scipy would warn and
    # raise a smaller budget to that itself.
    maxiter = max(options.maxiter, len(x0) + 2)
    result = scipy_minimize(fun, np.array(x0, dtype=float), method="COBYLA", tol=options.tol,
                            options={"maxiter": maxiter, "rhobeg": options.rhobeg})
    return np.asarray(result.x, dtype=float)


class _BudgetSpentError(Exception):
    """Raised inside scipy's loop when the evaluation budget is used up."""


def lbfgsb(options: LbfgsbOptions, objective: Objective, x0: np.ndarray, report: Report) -> np.ndarray:
    """scipy's L-BFGS-B on parameter-shift gradients; reports each accepted iterate.

    Line searches can spend several evaluations per iteration, while the resource estimate
    counts one: evaluations are capped at ``maxiter`` (scipy's ``maxfun`` plus a hard guard,
    as scipy may overrun ``maxfun`` inside a line search), so the estimate is an upper bound.
    """
    from scipy.optimize import OptimizeResult
    from scipy.optimize import minimize as scipy_minimize

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
