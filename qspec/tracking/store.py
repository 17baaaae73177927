"""TEMPORARY re-export (issue 11, "One house"): the MLflow connection now lives in ``qspec.store``.

Kept only so that ``qspec/api.py`` (``from qspec.tracking.store import connect``) works until it
imports ``qspec.store`` itself; delete this module then. Nothing in ``qspec.tracking`` or
``qspec.registry`` imports it.
"""

from __future__ import annotations

from qspec.store import (
    EMBEDDED_DIR,
    ENV_VAR,
    Tracking,
    connect,
    embedded_uri,
    mlflow_errors,
    resolve_tracking_uri,
    using_tracking_uri,
)

__all__ = ["EMBEDDED_DIR", "ENV_VAR", "Tracking", "connect", "embedded_uri", "mlflow_errors",
           "resolve_tracking_uri", "using_tracking_uri"]
