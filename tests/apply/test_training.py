"""``tracking_trainer``: the glue between a TRAIN item and ``qspec.tracking.train_and_log``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qspec.apply import TrainRequest, apply
from qspec.apply.training import tracking_trainer
from qspec.errors import ApplyError
from qspec.plan import desired_state, diff
from qspec.registry import MemoryRegistry
from qspec.spec import load_specs

EXAMPLES = Path(__file__).resolve().parents[2] / "specs"


def test_trains_the_planned_spec_and_reads_the_run_back() -> None:
    specs = load_specs([EXAMPLES])
    registry = MemoryRegistry()
    calls: list[dict[str, Any]] = []

    def fake_log(loaded: Any, **kwargs: Any) -> str:
        calls.append({"name": loaded.name, **kwargs})
        return registry.add_run(loaded.hash, metrics={"test_accuracy": 0.99, "energy_error": 0.0001}).run_id

    trainer = tracking_trainer(specs, tracking="T", registry=registry, git_dirty=True, train_and_log=fake_log)
    plan = diff(desired_state(specs, git_commit="abc"), registry.snapshot())
    result = apply(plan, registry, trainer)
    assert result.ok, result.failed
    assert sorted(c["name"] for c in calls) == ["breast-cancer-noisy", "h2-vqe", "iris-vqc"]
    assert all(c["tracking"] == "T" and c["git_commit"] == "abc" and c["git_dirty"] is True for c in calls)
    assert registry.models["iris-classifier"].aliases == {"staging": 1, "production": 1}


def test_refuses_a_spec_that_changed_since_the_plan() -> None:
    specs = load_specs([EXAMPLES])
    trainer = tracking_trainer(specs, tracking=None, registry=MemoryRegistry(), train_and_log=lambda *a, **k: "x")
    with pytest.raises(ApplyError, match="no longer spec 000000000000"):
        trainer(TrainRequest("iris-vqc", "0" * 64))
    with pytest.raises(ApplyError, match="no git resolver"):
        trainer(TrainRequest("iris-vqc", specs.experiments["iris-vqc"].hash, rev="v1.0"))
