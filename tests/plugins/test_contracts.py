"""What every plug-in of a kind promises, checked on every plug-in found, so a new one is held to it too."""

from __future__ import annotations

import math

import pytest

from qspec.plugins import ansatze, feature_maps, optimizers
from qspec.spec.models import AnsatzSpec, ExperimentSpec, FeatureMapSpec


@pytest.mark.parametrize("name", list(ansatze.plugins()))
@pytest.mark.parametrize(("qubits", "reps", "entanglement"), [(1, 1, "linear"), (3, 2, "full"), (4, 1, "circular")])
def test_ansatz_counts_its_weights_and_keeps_the_shift_rule_exact(name: str, qubits: int, reps: int,
                                                                  entanglement: str) -> None:
    from qspec.quantum.circuits import WEIGHT_PREFIX, build_circuits
    from qspec.quantum.estimate import weight_count
    from qspec.quantum.training import _check_shift_rule

    spec = ExperimentSpec.model_validate({
        "task": "vqe", "hamiltonian": {"terms": {"Z" * qubits: 1.0}},
        "circuit": {"qubits": qubits, "ansatz": {"type": name, "reps": reps, "entanglement": entanglement}},
    })
    circuits = build_circuits(spec)
    assert circuits.num_qubits == qubits
    assert len(circuits.weights) == circuits.circuit.num_parameters == weight_count(spec)
    assert [p.name for p in circuits.weights] == [f"{WEIGHT_PREFIX}[{i}]" for i in range(weight_count(spec))]
    _check_shift_rule(circuits)  # each weight the bare angle of one Pauli rotation


@pytest.mark.parametrize("name", list(feature_maps.plugins()))
def test_feature_map_encodes_one_feature_per_qubit(name: str) -> None:
    from qspec.quantum.circuits import FEATURE_PREFIX, build_feature_map

    fmap = feature_maps.plugins()[name]
    qubits = max(3, fmap.min_qubits)
    circuit = build_feature_map(FeatureMapSpec.model_validate({"type": name, "reps": 2}), qubits)
    assert circuit.num_qubits == qubits
    assert sorted(p.name for p in circuit.parameters) == [f"{FEATURE_PREFIX}[{i}]" for i in range(qubits)]
    low, high = fmap.angle_range
    assert 0 <= low < high <= 2 * math.pi


def test_entanglement_belongs_to_entangling_maps() -> None:
    for name, fmap in feature_maps.plugins().items():
        spec = FeatureMapSpec.model_validate({"type": name})
        assert spec.entanglement == ("linear" if fmap.entangles else None)


def test_unknown_names_are_refused_with_the_known_ones() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as info:
        AnsatzSpec.model_validate({"type": "real_amplitude"})
    (error,) = info.value.errors()
    assert error["type"] == "literal_error"
    assert all(repr(name) in error["msg"] for name in ansatze.plugins())


class Bowl:
    """A quadratic bowl that counts what each optimizer asks for, call by call."""

    def __init__(self, weights: int) -> None:
        self.weights = weights
        self.rows: list[int] = []  # parameter rows per sample of each call, as the engine would run them

    def evaluate(self, points, *, gradient: bool):
        import numpy as np

        from qspec.quantum.optimizers import Evaluation

        points = np.atleast_2d(points)
        self.rows.append(len(points) * (1 + 2 * self.weights if gradient else 1))
        return [Evaluation(float(np.sum((x - 0.5) ** 2)), 2 * (x - 0.5) if gradient else None) for x in points]


@pytest.mark.parametrize("name", list(optimizers.plugins()))
@pytest.mark.parametrize("maxiter", [1, 4, 12])
def test_optimizer_spends_what_the_estimate_counts(name: str, maxiter: int) -> None:
    import numpy as np

    optimizer = optimizers.plugins()[name]
    options = optimizer.options(name=name, maxiter=maxiter)
    bowl, reports = Bowl(3), []
    x = optimizer.minimize(options, bowl, np.array([2.0, -1.0, 0.0]), np.random.default_rng(1),
                           lambda i, point, evaluation: reports.append(i))
    assert np.all(np.isfinite(x)) and x.shape == (3,)
    assert reports == list(range(1, len(reports) + 1))  # may be empty: l_bfgs_b reports accepted steps only
    # the estimate: at most iterations(...) calls, each of rows_per_sample(P) rows per sample
    assert len(bowl.rows) <= optimizer.iterations(options, 3)
    assert set(bowl.rows) == {optimizer.rows_per_sample(3)}


def test_unknown_optimizer_names_the_known_ones() -> None:
    from pydantic import ValidationError

    from qspec.spec.models import TrainingSpec

    with pytest.raises(ValidationError) as info:
        TrainingSpec.model_validate({"optimizer": {"name": "adamw"}})
    (error,) = info.value.errors()
    assert error["type"] == "union_tag_invalid"
    assert all(repr(name) in error["ctx"]["expected_tags"] for name in optimizers.plugins())
    assert TrainingSpec().optimizer.name == "cobyla"  # the spec language's default, stated
