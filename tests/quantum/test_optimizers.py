"""Optimizers: evaluation budgets the resource estimate can rely on."""

from __future__ import annotations

import numpy as np

from qspec.plugins.optimizers.l_bfgs_b import LbfgsbOptions
from qspec.plugins.optimizers.l_bfgs_b import minimize as lbfgsb
from qspec.quantum.optimizers import Evaluation

RNG = np.random.default_rng(0)


class Rosenbrock:
    """A valley that makes L-BFGS-B's line searches spend extra evaluations."""

    def __init__(self) -> None:
        self.evaluations = 0

    def evaluate(self, points: np.ndarray, *, gradient: bool) -> list[Evaluation]:
        out = []
        for x in points:
            self.evaluations += 1
            a, b = x[0], x[1]
            loss = (1 - a) ** 2 + 100 * (b - a * a) ** 2
            grad = np.array([-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a)])
            out.append(Evaluation(float(loss), grad if gradient else None))
        return out


def test_lbfgsb_never_spends_more_evaluations_than_maxiter() -> None:
    for maxiter in (1, 3, 5, 10, 25):
        objective = Rosenbrock()
        reports: list[int] = []
        x = lbfgsb(LbfgsbOptions(name="l_bfgs_b", maxiter=maxiter), objective, np.array([-1.9, 2.0]), RNG,
                   lambda i, _x, _e, seen=reports: seen.append(i))
        # the resource estimate assumes one evaluation per iteration: it must be an upper bound
        assert objective.evaluations <= maxiter
        assert len(reports) <= maxiter and np.all(np.isfinite(x))


def test_lbfgsb_still_converges_with_enough_budget() -> None:
    x = lbfgsb(LbfgsbOptions(name="l_bfgs_b", maxiter=200), Rosenbrock(), np.array([-1.2, 1.0]), RNG,
               lambda *_: None)
    np.testing.assert_allclose(x, [1.0, 1.0], atol=1e-3)
