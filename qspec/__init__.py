"""qspec: GitOps for quantum machine learning.

Specs in git declare experiments, models and deployments; qspec validates them, trains the
circuits, and makes an MLflow registry match git. ``qspec.api`` is the library entry point; the
``qspec`` command is a thin layer over it.
"""

from __future__ import annotations

__version__ = "0.1.0"
