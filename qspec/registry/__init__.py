"""Model registries behind one protocol: ``Registry`` (base), ``MemoryRegistry`` (a fake for tests)
and ``MlflowRegistry`` (imported from ``qspec.registry.mlflow`` so that importing this package
never pulls in mlflow)."""

from __future__ import annotations

from qspec.registry.base import Registry
from qspec.registry.memory import MemoryRegistry

__all__ = ["MemoryRegistry", "Registry"]
