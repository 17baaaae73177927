"""Simultaneous perturbation (Spall): both perturbed points in one call per iteration, seeded."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from qspec.plugins.optimizers import Optimizer, OptimizerOptions

if TYPE_CHECKING:
    import numpy as np

    from qspec.quantum.optimizers import Objective, Report


class SpsaOptions(OptimizerOptions):
    name: Literal["spsa"]
    learning_rate: float = Field(default=0.1, gt=0)
    perturbation: float = Field(default=0.1, gt=0)
    alpha: float = Field(default=0.602, gt=0)
    gamma: float = Field(default=0.101, gt=0)


def minimize(options: SpsaOptions, objective: Objective, x0: np.ndarray, rng: np.random.Generator,
             report: Report) -> np.ndarray:
    """Gains a_k = learning_rate / (k + 1 + A)^alpha with A = maxiter / 10 (Spall's rule of thumb) and
    c_k = perturbation / (k + 1)^gamma; the reported loss is the mean of the two perturbed losses.
    """
    import numpy as np

    from qspec.quantum.optimizers import Evaluation

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


PLUGIN = Optimizer(name="spsa", options=SpsaOptions, minimize=minimize, rows_per_sample=lambda weights: 2)
