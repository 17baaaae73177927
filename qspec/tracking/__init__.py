"""MLflow tracking and model packaging: a training run recorded in full, and the model MLflow serves.

    runs.py         tracked_run / RunRecorder: a run's lifecycle, tags, params, batched metrics;
                    log_training: a result trained elsewhere, recorded as one run
    artifacts.py    the files of a run (spec, circuit as text/QPY/OpenQASM 3, parameters, device, results)
    plots.py        the training curve and quantum-vs-baseline PNGs (headless)
    model.py        the pyfunc model (models-from-code); version_tags, the metadata of its versions
    pyfunc_model.py the code MLflow runs to load and predict with a qspec model
    predict.py      predict_from_registry: what ``qspec predict`` runs

Tracking records what the engine produced (``qspec.quantum.result``) and predicts through the
engine's prediction functions; it does not train, and it does not register: ``qspec.api`` composes
``tracked_run`` with ``qspec.quantum.train``, and registers through ``qspec.registry.mlflow`` with
``version_tags`` as its version metadata. The MLflow connection (which store, the client) is
``qspec.store``, shared with the registry adapter. Called by ``qspec.api``. Importing this package
imports neither mlflow nor qiskit; the functions import them when they run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qspec.tracking.model import version_tags
    from qspec.tracking.predict import predict_from_registry
    from qspec.tracking.runs import RunRecorder, log_training, tracked_run

__all__ = [
    "RunRecorder",
    "log_training",
    "predict_from_registry",
    "tracked_run",
    "version_tags",
]

_HOMES = {
    "RunRecorder": "qspec.tracking.runs",
    "log_training": "qspec.tracking.runs",
    "predict_from_registry": "qspec.tracking.predict",
    "tracked_run": "qspec.tracking.runs",
    "version_tags": "qspec.tracking.model",
}


def __getattr__(name: str) -> Any:
    # Lazy, so that ``import qspec.tracking`` stays cheap for commands that never log.
    if name in _HOMES:
        import importlib

        value = getattr(importlib.import_module(_HOMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(name)
