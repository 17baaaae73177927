"""MLflow tracking and model packaging: a training run recorded in full, and the model MLflow serves.

    runs.py         train_and_log / log_training: the run's lifecycle, tags, params, batched metrics
    artifacts.py    the files of a run (spec, circuit as text/QPY/OpenQASM 3, parameters, device, results)
    plots.py        the training curve and quantum-vs-baseline PNGs (headless)
    model.py        the pyfunc model (models-from-code) and the tags of the versions made from it
    pyfunc_model.py the code MLflow runs to load and predict with a qspec model
    predict.py      predict_from_registry: what ``qspec predict`` runs

The connection to MLflow (which store, the client) is ``qspec.store``, shared with the registry
adapter. Called by ``qspec.apply`` (train, register) and ``qspec.cli`` (predict). Importing this package
imports neither mlflow nor qiskit; the functions import them when they run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qspec.tracking.predict import predict_from_registry
    from qspec.tracking.runs import log_training, tracked_run, train_and_log

__all__ = [
    "log_training",
    "predict_from_registry",
    "tracked_run",
    "train_and_log",
]

_HOMES = {
    "predict_from_registry": "qspec.tracking.predict",
    "log_training": "qspec.tracking.runs",
    "train_and_log": "qspec.tracking.runs",
    "tracked_run": "qspec.tracking.runs",
}


def __getattr__(name: str) -> Any:
    # Lazy, so that ``import qspec.tracking`` stays cheap for commands that never log.
    if name in _HOMES:
        import importlib

        value = getattr(importlib.import_module(_HOMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(name)
