"""The spec language: models, loading with line-accurate errors, and content hashes.

Imports nothing heavy (no mlflow, qiskit, git or scikit-learn), so validation stays fast and the
planner can depend on it.
"""

from __future__ import annotations

from qspec.spec.hashing import spec_hash
from qspec.spec.load import Loaded, SpecSet, load_source, load_specs
from qspec.spec.models import (
    API_VERSION,
    METRICS_BY_TASK,
    Bound,
    Deployment,
    Experiment,
    Model,
    Resource,
)

__all__ = [
    "API_VERSION",
    "METRICS_BY_TASK",
    "Bound",
    "Deployment",
    "Experiment",
    "Loaded",
    "Model",
    "Resource",
    "SpecSet",
    "load_source",
    "load_specs",
    "spec_hash",
]
