"""qspec: GitOps for quantum machine learning.

Specs in git declare experiments, models and deployments; qspec validates them, trains the
circuits, and makes an MLflow registry match git. ``qspec.api`` is the library entry point; the
``qspec`` command is a thin layer over it.
"""

from __future__ import annotations

import os

# MLflow 3 starts a usage-telemetry client when it is imported, whose thread writes os.environ
# while qspec reads it (issue 13): off for qspec's process, before any part of qspec imports mlflow.
# qspec.store.disable_telemetry also drops a client an earlier import of mlflow started.
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"

__version__ = "0.1.0"
