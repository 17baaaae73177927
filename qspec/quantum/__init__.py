"""The quantum engine: circuits, backends and training of qspec experiments on Qiskit.

Turns a validated ``Experiment`` into circuits, trains them on the declared backend and returns
plain records (``qspec.quantum.result``); it never logs to MLflow. Importing this package is
cheap: qiskit is imported by the submodules that need it, when they are used.

    train(experiment, *, root=None, read=None, progress=None, estimate=None) -> TrainingResult
    estimate_resources(experiment, *, read=None) -> qspec.plan.state.Estimate
    predict_classifier(circuit_or_qpy, parameters, preprocessing, raw_rows, *, shots=None, seed=None)
    predict_energy(circuit_or_qpy, parameters, hamiltonian, *, constant=0.0, shots=None, seed=None)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qspec.quantum.estimate import estimate_resources
from qspec.quantum.result import (
    DataSummary,
    DeviceInfo,
    IterationRecord,
    Preprocessing,
    ProgressCallback,
    TrainingResult,
)

if TYPE_CHECKING:
    from qspec.quantum.predict import predict_classifier, predict_energy
    from qspec.quantum.training import train

__all__ = [
    "DataSummary",
    "DeviceInfo",
    "IterationRecord",
    "Preprocessing",
    "ProgressCallback",
    "TrainingResult",
    "estimate_resources",
    "predict_classifier",
    "predict_energy",
    "train",
]


def __getattr__(name: str) -> Any:
    # Lazy: ``import qspec.quantum`` for the records must not pay for importing qiskit.
    if name == "train":
        from qspec.quantum.training import train

        return train
    if name in ("predict_classifier", "predict_energy"):
        from qspec.quantum import predict

        return getattr(predict, name)
    raise AttributeError(name)
