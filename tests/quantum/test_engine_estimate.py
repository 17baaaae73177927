"""Resource and cost estimates from the spec alone."""

from __future__ import annotations

import pytest

from qspec.plan.state import Estimate
from qspec.plugins.targets.ibm import DEFAULT_IBM_PRICE_PER_SECOND
from qspec.quantum import estimate_resources, train
from qspec.quantum.estimate import SECONDS_PER_JOB, SECONDS_PER_SHOT, measurement_groups
from qspec.spec.models import Experiment


def test_iris_estimate(examples: dict[str, Experiment]) -> None:
    estimate = estimate_resources(examples["iris-vqc"])
    # exact: 70 train samples x one adjoint-differentiated row per adam step, then 100 final rows
    assert estimate.per_iteration_circuits == 70
    assert estimate.circuits == 60 * 70 + 100
    # on a primitive (here shots), each step is 1 + 2 x 12 parameter-shift rows per sample
    sampled = estimate_resources(examples["iris-vqc"].spec.model_copy(
        update={"backend": examples["iris-vqc"].spec.backend.model_copy(update={"shots": 64})}))
    assert sampled.per_iteration_circuits == 70 * 25
    assert estimate.shots is None and estimate.qpu_seconds == 0 and estimate.cost_usd == 0
    assert estimate.primitive_calls == 61


def test_estimate_matches_what_training_executes(examples: dict[str, Experiment], with_changes) -> None:
    spec = with_changes(examples["iris-vqc"], backend={"shots": 64},
                        training={"optimizer": {"name": "spsa", "maxiter": 2}})
    result = train(spec)
    assert result.estimate.shots == result.shots_used == 64 * (2 * 2 * 70 + 100)
    assert result.estimate.circuits == result.extra["circuit_executions"]


def test_train_carries_the_plans_estimate_without_computing_it_again(examples: dict[str, Experiment], with_changes,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    spec = with_changes(examples["h2-vqe"], training={"optimizer": {"name": "cobyla", "maxiter": 3}})
    planned = estimate_resources(spec)
    assert isinstance(planned, Estimate) and isinstance(planned.assumptions, tuple)

    def computed_again(*_args: object, **_kwargs: object) -> Estimate:
        raise AssertionError("train() estimated a spec whose estimate it was given")

    monkeypatch.setattr("qspec.quantum.training.estimate_resources", computed_again)
    assert train(spec, estimate=planned).estimate is planned
    with pytest.raises(AssertionError, match="estimated a spec"):
        train(spec)  # without one, train() computes it


def test_breast_cancer_and_h2_estimates(examples: dict[str, Experiment], with_changes) -> None:
    bc = estimate_resources(examples["breast-cancer-noisy"])
    assert bc.per_iteration_circuits == 426 * 2  # 569 rows, ceil(0.25 x 569) = 143 for test
    assert bc.shots == 1024 * (40 * 852 + 569)
    h2 = estimate_resources(with_changes(examples["h2-vqe"], backend={"shots": 1000}))
    assert h2.per_iteration_circuits == 2 * 17  # two measurement bases x (1 + 2 x 8) rows


def test_ibm_cost(examples: dict[str, Experiment], with_changes) -> None:
    spec = with_changes(examples["h2-vqe"], backend={"target": "ibm:ibm_torino", "shots": 2000},
                        training={"optimizer": {"name": "cobyla", "maxiter": 10}})
    estimate = estimate_resources(spec)
    assert estimate.circuits == 11 and estimate.shots == 22000
    assert estimate.qpu_seconds == pytest.approx(22000 * SECONDS_PER_SHOT + 11 * SECONDS_PER_JOB)
    assert estimate.cost_usd == pytest.approx(estimate.qpu_seconds * DEFAULT_IBM_PRICE_PER_SECOND)
    short = estimate_resources(with_changes(spec, training={"optimizer": {"name": "cobyla", "maxiter": 3}}))
    assert short.primitive_calls == 8 + 2 + 1  # COBYLA needs P + 2 evaluations however small maxiter is
    priced = with_changes(spec, backend={"price_per_second_usd": 0.5})
    assert estimate_resources(priced).cost_usd == pytest.approx(estimate.qpu_seconds * 0.5)


def test_measurement_groups() -> None:
    groups = measurement_groups(["II", "IZ", "ZI", "ZZ", "XX"])
    # identity terms need no basis and ride along with the first group
    assert sorted(map(sorted, groups)) == [["II", "XX"], ["IZ", "ZI", "ZZ"]]
    assert len(measurement_groups(["XI", "IY", "XY", "ZZ"])) == 2
