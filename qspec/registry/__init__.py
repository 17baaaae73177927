"""Model registries implementing ``qspec.apply.ports.Registry``: ``MemoryRegistry`` (a fake for tests)
and ``MlflowRegistry`` (imported from ``qspec.registry.mlflow`` so that importing this package never
pulls in mlflow). One contract suite (tests/registry/test_contract.py) runs against both."""

from __future__ import annotations

from qspec.registry.memory import MemoryRegistry

__all__ = ["MemoryRegistry"]
