"""The ``Registry`` protocol: what the reconciler needs of a model registry, and nothing more.

Two implementations ship: ``qspec.registry.mlflow.MlflowRegistry`` (the real one) and
``qspec.registry.memory.MemoryRegistry`` (an in-memory fake for fast tests). ``qspec.apply``
and ``qspec.api`` program against this protocol only. Reads return the plain records of
``qspec.plan.state``; writes take names, version numbers and string tags.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from qspec.plan.state import ActualState, RegisteredModelInfo, RunInfo


@runtime_checkable
class Registry(Protocol):
    def snapshot(self) -> ActualState:
        """Every registered model (tags, versions, aliases) and every run tagged ``qspec.managed=true``,
        read in pages: O(pages) calls, not O(models)."""
        ...

    def get_model(self, name: str) -> RegisteredModelInfo | None:
        """One registered model as it is now (apply re-checks against this before acting)."""
        ...

    def runs_for(self, spec_hash: str) -> list[RunInfo]:
        """The managed runs of one spec hash, oldest first."""
        ...

    def get_run(self, run_id: str) -> RunInfo | None: ...

    def create_model(self, name: str, tags: Mapping[str, str]) -> None: ...

    def register_version(self, name: str, run: RunInfo, tags: Mapping[str, str]) -> int:
        """A new version of ``name`` built from ``run``, its tags set at creation; its number."""
        ...

    def delete_version(self, name: str, version: int) -> None: ...

    def set_alias(self, name: str, alias: str, version: int) -> None: ...

    def delete_alias(self, name: str, alias: str) -> None: ...

    def set_model_tags(self, name: str, tags: Mapping[str, str]) -> None: ...

    def delete_model_tag(self, name: str, key: str) -> None: ...

    def set_version_tags(self, name: str, version: int, tags: Mapping[str, str]) -> None: ...

    def mark_run_failed(self, run_id: str) -> None:
        """End a run left RUNNING by a crashed apply, so that it is not mistaken for a live one."""
        ...
