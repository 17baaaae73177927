"""A classifier's output: the parity readout <Z...Z> -> p(class 1), and the loss on it.

``circuit.output`` (README, "The classifier's output") names the link: ``logistic``,
p = sigmoid(bias - scale * <Z...Z>) with a trainable (or fixed) scale and bias, or ``linear``,
p = (1 - <Z...Z>) / 2 (no parameters; the only readout before the logistic link, and what a model
logged then predicts with). Training (``qspec.quantum.training``) and prediction
(``qspec.quantum.predict``) both go through ``Readout``, so a model predicts what it was trained to.

A trained model's parameters are the circuit weights followed, for the logistic link, by
``output.scale`` and ``output.bias`` (both, trained or fixed): ``Readout.of_parameters`` reads the
link back from that count. Imports numpy only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from qspec.spec.models import OutputSpec

#: Names of the output parameters in a model's parameters, after the circuit weights.
OUTPUT_NAMES = ("output.scale", "output.bias")

#: Probabilities of the linear link are clipped away from 0 and 1 so the cross-entropy stays finite.
PROBABILITY_FLOOR = 1e-10


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # exp of a non-positive number only: no overflow for any logit
    e = np.exp(-np.abs(z))
    out: np.ndarray = np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return out


@dataclass(frozen=True)
class Readout:
    """The link of a classifier; ``fixed`` holds the scale and bias that are not trained (by name)."""

    link: str  # logistic | linear
    trained: tuple[str, ...] = ()  # which of scale, bias the optimizer moves, in that order
    fixed: tuple[tuple[str, float], ...] = ()
    l2: float = 0.0  # the penalty l2 * scale**2 / (2 n) on a trained scale

    @classmethod
    def of_spec(cls, output: OutputSpec | None) -> Readout:
        from qspec.spec.models import OutputSpec

        output = output if output is not None else OutputSpec()
        if output.link == "linear":
            return cls("linear")
        fixed = tuple((name, float(value)) for name in ("scale", "bias")
                      if not isinstance(value := getattr(output, name), str) and value is not None)
        return cls("logistic", tuple(output.trained), fixed, float(output.l2 or 0.0))

    @classmethod
    def of_parameters(cls, values: int, weights: int) -> Readout:
        """The readout of a model with ``values`` parameters for a circuit of ``weights`` weights."""
        if values == weights:
            return cls("linear")
        if values == weights + len(OUTPUT_NAMES):
            return cls("logistic")  # its scale and bias are the model's last two parameters
        raise ValueError(f"the circuit has {weights} trained parameters, {values} given "
                         f"(a logistic output adds {len(OUTPUT_NAMES)}: {', '.join(OUTPUT_NAMES)})")

    @property
    def names(self) -> list[str]:
        """Names of the output parameters a model stores after its weights."""
        return list(OUTPUT_NAMES) if self.link == "logistic" else []

    def initial(self) -> np.ndarray:
        """Where the trained output parameters start (``spec.models.INITIAL_OUTPUT_*``)."""
        from qspec.spec.models import INITIAL_OUTPUT_BIAS, INITIAL_OUTPUT_SCALE

        start = {"scale": INITIAL_OUTPUT_SCALE, "bias": INITIAL_OUTPUT_BIAS}
        return np.array([start[name] for name in self.trained], dtype=float)

    def stored(self, trained: Sequence[float] | np.ndarray) -> np.ndarray:
        """The (scale, bias) a model stores, from the trained values in ``self.trained`` order."""
        if self.link != "logistic":
            return np.zeros(0)
        values = dict(self.fixed) | dict(zip(self.trained, (float(v) for v in trained), strict=True))
        return np.array([values["scale"], values["bias"]], dtype=float)

    def probability(self, expectation: np.ndarray, stored: Sequence[float] | np.ndarray = ()) -> np.ndarray:
        """p(class 1) of each expectation value, with the stored (scale, bias) of a logistic link."""
        e = np.asarray(expectation, dtype=float)
        if self.link == "linear":
            linear: np.ndarray = np.clip((1.0 - e) / 2.0, 0.0, 1.0)
            return linear
        scale, bias = (float(v) for v in stored)
        return _sigmoid(bias - scale * e)


class LossHead:
    """head(expectation, trained) -> (loss, d loss / d expectation, d loss / d trained, metrics).

    The loss is ``training.loss`` of p(class 1) over the rows, plus (logistic link, trained scale)
    the L2 penalty ``l2 * scale**2 / (2 n)``, which keeps the scale from growing without bound on
    data the circuit separates. ``trained`` are the output parameters the optimizer moves
    (``readout.trained`` order). Every derivative is analytic: the circuit weights' gradient is this
    d loss / d expectation chained with the evaluator's d<O>/d theta (``qspec.quantum.training.Objective``).
    """

    def __init__(self, labels: np.ndarray, readout: Readout, loss: str = "cross_entropy") -> None:
        self.y = np.asarray(labels, dtype=float)
        self.readout = readout
        self.loss = loss

    def __call__(self, expectation: np.ndarray,
                 trained: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, dict[str, float]]:
        y, readout, n = self.y, self.readout, max(len(self.y), 1)
        e = np.asarray(expectation, dtype=float)
        if readout.link == "linear":
            p = np.clip((1.0 - e) / 2.0, PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)
            if self.loss == "mse":
                value = float(np.mean((p - y) ** 2))
                dloss_dp = 2.0 * (p - y) / n
            else:
                value = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
                dloss_dp = (-(y / p) + (1 - y) / (1 - p)) / n
            accuracy = float(np.mean((p > 0.5) == (y == 1)))
            return value, dloss_dp * -0.5, np.zeros(0), {"train_accuracy": accuracy}
        scale, bias = readout.stored(trained)
        z = bias - scale * e  # the logit of class 1
        p = _sigmoid(z)
        if self.loss == "mse":
            value = float(np.mean((p - y) ** 2))
            dloss_dz = 2.0 * (p - y) * p * (1.0 - p) / n
        else:  # log loss from the logit: softplus(z) - y z, finite for any z
            value = float(np.mean(np.logaddexp(0.0, z) - y * z))
            dloss_dz = (p - y) / n
        by_name = {"scale": float(dloss_dz @ -e), "bias": float(np.sum(dloss_dz))}
        if readout.l2 and "scale" in readout.trained:  # as logistic regression's C: on the slope, not the bias
            value = float(value + readout.l2 * scale * scale / (2 * n))
            by_name["scale"] += readout.l2 * scale / n
        accuracy = float(np.mean((p > 0.5) == (y == 1)))  # as prediction labels: p > 0.5
        return (value, dloss_dz * -scale, np.array([by_name[name] for name in readout.trained]),
                {"train_accuracy": accuracy})
