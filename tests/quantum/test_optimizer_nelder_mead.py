"""The nelder_mead optimizer: real trainings that spend exactly what the estimate says."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from qspec.quantum import train
from qspec.spec.models import Experiment, TrainingSpec

H2_EXACT = -1.13730604


def test_h2_reaches_chemical_accuracy_within_its_budget(examples: dict[str, Experiment], with_changes) -> None:
    spec = with_changes(examples["h2-vqe"], training={"optimizer": {"name": "nelder_mead", "maxiter": 300}})
    result = train(spec)
    assert abs(result.metrics["energy"] - H2_EXACT) < 1.6e-3
    assert result.iterations <= 300 and [r.iteration for r in result.history] == list(range(1, result.iterations + 1))
    assert result.estimate.circuits == 300 + 1  # one row per evaluation, and the final energy


def test_sampled_run_matches_its_estimate_and_repeats(examples: dict[str, Experiment], with_changes) -> None:
    spec = with_changes(examples["h2-vqe"], backend={"shots": 2000},
                        training={"optimizer": {"name": "nelder_mead", "maxiter": 12}})
    first, second = train(spec), train(spec)
    assert first.iterations == 12  # the simplex (P + 1 = 9 points) and three steps: the budget is spent
    assert first.estimate.circuits == first.extra["circuit_executions"] == 2 * (12 + 1)  # two measurement bases
    assert first.estimate.shots == first.shots_used == 2000 * 2 * 13
    assert first.parameters.tobytes() == second.parameters.tobytes() and first.metrics == second.metrics


def test_options_are_checked() -> None:
    options = TrainingSpec.model_validate({"optimizer": {"name": "nelder_mead"}}).optimizer
    assert (options.maxiter, options.xatol, options.fatol) == (100, 1e-4, 1e-4)
    with pytest.raises(ValidationError, match="greater than 0"):
        TrainingSpec.model_validate({"optimizer": {"name": "nelder_mead", "xatol": 0}})
    with pytest.raises(ValidationError, match="rhobeg"):
        TrainingSpec.model_validate({"optimizer": {"name": "nelder_mead", "rhobeg": 1.0}})
