"""What the quantum engine returns: plain records, shared with tracking and the reconciler.

This module is the contract between ``qspec.quantum`` (which fills these records) and
``qspec.tracking`` / ``qspec.apply`` (which log and act on them). It imports numpy and the plan's
``Estimate`` (the one estimate type) only; the circuit objects are typed ``Any`` so that importing
it never pulls in qiskit.
Fields may be added; none may be renamed or removed without updating every reader.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qspec.plan.state import Estimate


@dataclass(frozen=True)
class IterationRecord:
    """One optimizer iteration, reported to the progress callback as it happens."""

    iteration: int  # 1-based
    loss: float
    parameter_norm: float
    elapsed: float  # seconds since training started
    gradient_norm: float | None = None  # None for gradient-free optimizers
    metrics: dict[str, float] = field(default_factory=dict)  # e.g. train_accuracy or energy
    evaluations: int = 0  # cumulative circuit executions (parameter rows) so far


ProgressCallback = Callable[[IterationRecord], None]


@dataclass(frozen=True)
class Preprocessing:
    """Raw feature rows -> circuit inputs, as plain arrays (no pickles), fitted on the train split.

    ``apply`` documents the exact order of the steps; ``to_dict``/``from_dict`` round-trip as JSON.
    """

    feature_names: list[str]  # the raw input columns, in order
    classes: list[str | int]  # label of class 0 and of class 1, as written in the spec
    mean: np.ndarray
    scale: np.ndarray
    pca_components: np.ndarray | None
    pca_mean: np.ndarray | None
    low: np.ndarray  # per-feature minimum (train split, after PCA) mapped to angle 0
    high: np.ndarray  # per-feature maximum mapped to angle pi
    angle_range: tuple[float, float] = (0.0, float(np.pi))

    def apply(self, raw: Any) -> np.ndarray:
        """Raw feature rows (n x len(feature_names)) -> circuit inputs (n x qubits), in four steps.

        1. standardize: ``(raw - mean) / scale`` (scikit-learn's StandardScaler, fitted on train);
        2. project: ``(z - pca_mean) @ pca_components.T`` when a PCA was fitted, else unchanged;
        3. rescale each feature from ``[low, high]`` (its train range) onto ``angle_range``;
        4. clip to ``angle_range``, so that unseen data never wraps around the rotation.

        ``raw`` may be a 2-D array or list, one row as a 1-D array, or anything with ``columns``
        (a pandas DataFrame), whose columns are then picked by ``feature_names``.
        """
        if hasattr(raw, "columns"):
            columns = [str(c) for c in raw.columns]
            if set(self.feature_names) <= set(columns):
                raw = raw[self.feature_names]
            raw = raw.to_numpy(dtype=float) if hasattr(raw, "to_numpy") else raw
        x = np.asarray(raw, dtype=float)
        if x.ndim == 1:
            x = x[None, :]
        if x.shape[1] != len(self.feature_names):
            raise ValueError(f"expected {len(self.feature_names)} features ({', '.join(self.feature_names)}), "
                             f"got {x.shape[1]}")
        z = (x - self.mean) / self.scale
        if self.pca_components is not None:
            z = (z - (self.pca_mean if self.pca_mean is not None else 0.0)) @ self.pca_components.T
        lo, hi = self.angle_range
        width = np.where(self.high > self.low, self.high - self.low, 1.0)
        angles = lo + (z - self.low) / width * (hi - lo)
        clipped: np.ndarray = np.clip(angles, lo, hi)
        return clipped

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (lists and numbers) that ``from_dict`` turns back into this object."""

        def listed(a: np.ndarray | None) -> Any:
            return None if a is None else np.asarray(a, dtype=float).tolist()

        return {
            "feature_names": list(self.feature_names),
            "classes": list(self.classes),
            "mean": listed(self.mean),
            "scale": listed(self.scale),
            "pca_components": listed(self.pca_components),
            "pca_mean": listed(self.pca_mean),
            "low": listed(self.low),
            "high": listed(self.high),
            "angle_range": [float(self.angle_range[0]), float(self.angle_range[1])],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessing:
        def array(key: str) -> np.ndarray | None:
            value = data.get(key)
            return None if value is None else np.asarray(value, dtype=float)

        lo, hi = data.get("angle_range", (0.0, float(np.pi)))
        return cls(
            feature_names=[str(n) for n in data["feature_names"]],
            classes=list(data["classes"]),
            mean=np.asarray(data["mean"], dtype=float),
            scale=np.asarray(data["scale"], dtype=float),
            pca_components=array("pca_components"),
            pca_mean=array("pca_mean"),
            low=np.asarray(data["low"], dtype=float),
            high=np.asarray(data["high"], dtype=float),
            angle_range=(float(lo), float(hi)),
        )


@dataclass(frozen=True)
class DataSummary:
    source: str  # as in the spec, e.g. sklearn:iris
    fingerprint: str  # sha256 of the rows and labels actually used (after class selection)
    n_train: int
    n_test: int
    n_raw_features: int
    n_features: int


@dataclass(frozen=True)
class DeviceInfo:
    target: str  # aer | fake:<device> | ibm:<device>
    provider: str  # aer | ibm-fake | ibm
    device: str | None
    simulator: bool
    noise: dict[str, Any] | None = None  # the noise model's description, or None
    calibration: dict[str, Any] | None = None  # per-qubit T1/T2/readout error, gate errors


@dataclass(frozen=True)
class TrainingResult:
    task: str  # classification | vqe
    parameters: np.ndarray  # trained ansatz parameters, in ``parameter_names`` order
    parameter_names: list[str]
    initial_parameters: np.ndarray
    metrics: dict[str, float]  # final metrics named as the spec language names them
    history: list[IterationRecord]
    circuit: Any  # the logical QuantumCircuit (feature map + ansatz), unbound
    transpiled: Any  # the circuit as run on the target (ISA circuit), or None on the exact path
    observable: Any  # the SparsePauliOp measured (parity readout or Hamiltonian)
    device: DeviceInfo
    estimate: Estimate  # what the plan priced, or computed by train() when not given
    shots_used: int  # total shots actually executed (0 on the exact path)
    execution_seconds: float
    iterations: int
    converged_iteration: int  # the iteration of the best loss
    preprocessing: Preprocessing | None = None  # classification only
    data: DataSummary | None = None  # classification only
    baseline: dict[str, float] = field(default_factory=dict)  # e.g. test_accuracy of the classical model
    baseline_name: str | None = None
    test_outputs: np.ndarray | None = None  # per-sample expectation values on the test split
    extra: dict[str, Any] = field(default_factory=dict)  # anything else worth logging
