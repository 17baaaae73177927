"""Adam (Kingma & Ba) with bias correction, on exact gradients (adjoint on the numpy path, else parameter shift)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from qspec.plugins.optimizers import Optimizer, OptimizerOptions, adjoint_rows, parameter_shift_rows

if TYPE_CHECKING:
    import numpy as np

    from qspec.quantum.optimizers import Objective, Report


class AdamOptions(OptimizerOptions):
    name: Literal["adam"]
    learning_rate: float = Field(default=0.01, gt=0)
    beta1: float = Field(default=0.9, ge=0, lt=1)
    beta2: float = Field(default=0.999, ge=0, lt=1)
    eps: float = Field(default=1e-8, gt=0)


def minimize(options: AdamOptions, objective: Objective, x0: np.ndarray, rng: np.random.Generator,
             report: Report) -> np.ndarray:
    import numpy as np

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


PLUGIN = Optimizer(name="adam", options=AdamOptions, minimize=minimize, rows_per_sample=parameter_shift_rows,
                   exact_rows_per_sample=adjoint_rows)
