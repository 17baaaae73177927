"""Shared fixtures of the quantum engine tests: the repository's example specs and spec builders."""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from typing import Any

import pytest

from qspec.spec import load_specs
from qspec.spec.models import Experiment

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def examples() -> dict[str, Experiment]:
    specs = load_specs([REPO / "specs"])
    return {name: loaded.resource for name, loaded in specs.experiments.items()}


def _with_changes(base: Experiment, **changes: Any) -> Experiment:
    """``base`` with some spec blocks updated, e.g. ``backend={"shots": 8192}``."""
    data = base.model_dump(mode="json", by_alias=True)
    for block, update in changes.items():
        if isinstance(update, dict) and isinstance(data["spec"].get(block), dict):
            data["spec"][block] = {**data["spec"][block], **update}
        else:
            data["spec"][block] = update
    return Experiment.model_validate(data)


@pytest.fixture(scope="session")
def with_changes() -> Callable[..., Experiment]:
    """``with_changes(base, backend={"shots": 8192})``: an example spec with some blocks updated."""
    return _with_changes
