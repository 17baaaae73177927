"""Adjoint gradients, sparse exact references and the memory the exact path holds."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

from qspec.quantum import train, training
from qspec.quantum.backends import ExactEvaluator
from qspec.quantum.circuits import Circuits, build_circuits
from qspec.quantum.estimate import exact_path_bytes
from qspec.quantum.simulate import _Permutation
from qspec.quantum.training import Objective, classification_head, energy_head
from qspec.spec.models import Experiment, ExperimentSpec
from tests.quantum.test_engine_simulate import ANSATZE, FEATURE_MAPS


def classifier(feature_map: dict, ansatz: str, entanglement: str | None, qubits: int = 4) -> Circuits:
    spec_ansatz = {"type": ansatz, "reps": 2} | ({"entanglement": entanglement} if entanglement else {})
    return build_circuits(ExperimentSpec.model_validate({
        "task": "classification", "data": {"source": "sklearn:iris", "classes": [0, 1]},
        "circuit": {"qubits": qubits, "feature_map": feature_map, "ansatz": spec_ansatz},
    }))


def both_ways(objective: Objective, points: np.ndarray) -> tuple[list, list]:
    evaluator = objective.evaluator
    assert isinstance(evaluator, ExactEvaluator) and evaluator.adjoint
    adjoint = objective.evaluate(points, gradient=True)
    evaluator.adjoint = False  # the parameter-shift rows, on the same simulator
    shifted = objective.evaluate(points, gradient=True)
    evaluator.adjoint = True
    return adjoint, shifted


def assert_same(adjoint: list, shifted: list) -> None:
    for a, s in zip(adjoint, shifted, strict=True):
        assert abs(a.loss - s.loss) < 1e-10
        assert np.max(np.abs(a.gradient - s.gradient)) < 1e-10
        assert a.metrics == pytest.approx(s.metrics, abs=1e-10)
    assert np.ptp(np.concatenate([a.gradient for a in adjoint])) > 1e-3  # not trivially zero


@pytest.mark.parametrize("feature_map", FEATURE_MAPS, ids=lambda f: f"{f['type']}-{f.get('entanglement', '')}")
@pytest.mark.parametrize(("ansatz", "entanglement"), [*ANSATZE, ("hardware_efficient", None)])
def test_adjoint_gradient_equals_parameter_shift_on_classifiers(feature_map: dict, ansatz: str,
                                                                entanglement: str | None) -> None:
    circuits = classifier(feature_map, ansatz, entanglement)
    rng = np.random.default_rng(len(str(feature_map)) + len(ansatz))
    features, labels = rng.uniform(0, 1, (9, 4)), rng.integers(0, 2, 9)
    objective = Objective(ExactEvaluator(circuits), features, classification_head(labels))
    points = rng.uniform(-np.pi, np.pi, (2, len(circuits.weights)))  # two points in one call
    assert_same(*both_ways(objective, points))


@pytest.mark.parametrize("ansatz", ["real_amplitudes", "efficient_su2", "hardware_efficient"])
def test_adjoint_gradient_equals_parameter_shift_on_hamiltonians(ansatz: str) -> None:
    spec = ExperimentSpec.model_validate({
        "task": "vqe", "hamiltonian": {"terms": {"XYZ": 0.3, "ZZI": -0.7, "IXX": 0.25, "YIY": 0.1, "III": 0.5}},
        "circuit": {"qubits": 3, "ansatz": {"type": ansatz, "reps": 2}},
    })
    circuits = build_circuits(spec)
    objective = Objective(ExactEvaluator(circuits), np.zeros((0, 0)), energy_head(circuits.constant))
    points = np.random.default_rng(4).uniform(-np.pi, np.pi, (3, len(circuits.weights)))
    assert_same(*both_ways(objective, points))


def test_adjoint_gradient_is_the_same_in_slices(monkeypatch) -> None:
    circuits = classifier({"type": "zz"}, "real_amplitudes", None)
    rng = np.random.default_rng(7)
    features, labels = rng.uniform(0, 1, (11, 4)), rng.integers(0, 2, 11)
    point = rng.uniform(-np.pi, np.pi, (1, len(circuits.weights)))
    head = classification_head(labels)
    (whole,) = Objective(ExactEvaluator(circuits), features, head).evaluate(point, gradient=True)
    monkeypatch.setattr("qspec.quantum.backends.EXACT_CHUNK_AMPLITUDES", 16 * 3)  # three rows a slice
    (sliced,) = Objective(ExactEvaluator(circuits), features, head).evaluate(point, gradient=True)
    assert whole.loss == sliced.loss and np.array_equal(whole.gradient, sliced.gradient)


def test_training_with_the_same_seed_is_deterministic(examples: dict[str, Experiment], with_changes) -> None:
    spec = with_changes(examples["iris-vqc"], training={"optimizer": {"name": "l_bfgs_b", "maxiter": 15}})
    first, second = train(spec), train(spec)
    assert np.array_equal(first.parameters, second.parameters)
    assert [r.loss for r in first.history] == [r.loss for r in second.history]


# --- exact references ---------------------------------------------------------------------------


def random_hamiltonian(qubits: int, terms: int, seed: int) -> SparsePauliOp:
    rng = np.random.default_rng(seed)
    labels = ["".join(rng.choice(list("IXYZ"), qubits)) for _ in range(terms)]
    return SparsePauliOp.from_list([(label, rng.normal()) for label in labels]).simplify()


@pytest.mark.parametrize("observable", [
    random_hamiltonian(7, 30, seed=1),  # complex Hermitian
    SparsePauliOp.from_list([("ZZ" + "I" * 5, -1.0)] + [("I" * (6 - q) + "X" + "I" * q, -1.0) for q in range(5)]
                            + [("IIYY" + "I" * 3, 0.05)]),  # real, ground space of dimension 2
    SparsePauliOp.from_list([("ZZZ" + "I" * 4, -1.0)] + [("I" * (6 - q) + "X" + "I" * q, -0.5) for q in range(4)]),
], ids=["random", "degenerate", "fourfold"])
def test_sparse_ground_state_equals_dense(observable: SparsePauliOp, monkeypatch) -> None:
    monkeypatch.setattr(training, "DENSE_GROUND_MAX_QUBITS", 4)  # the Lanczos path, on a small problem
    circuits = Circuits(QuantumCircuit(observable.num_qubits), [], [], observable, constant=0.25)
    energy, space = training.exact_ground_state(circuits)
    values, vectors = np.linalg.eigh(observable.to_matrix())
    dense = vectors[:, np.abs(values - values[0]) < training.DEGENERACY_TOLERANCE]
    assert abs(energy - (values[0] + 0.25)) < 1e-10
    assert space.shape == dense.shape
    # the same space: the projectors agree
    assert np.max(np.abs(space @ space.conj().T - dense @ dense.conj().T)) < 1e-8


def test_vqe_above_the_exact_limit_says_it_has_no_reference(examples: dict[str, Experiment], monkeypatch) -> None:
    monkeypatch.setattr(training, "EXACT_GROUND_MAX_QUBITS", 1)
    result = train(examples["h2-vqe"])
    assert "fidelity" not in result.metrics and "exact_ground_energy" not in result.extra
    assert result.extra["exact_reference"].startswith("none: ")


# --- memory -------------------------------------------------------------------------------------


def test_the_compiled_circuit_holds_no_state_sized_arrays() -> None:
    circuits = classifier({"type": "zz", "entanglement": "full"}, "real_amplitudes", "full", qubits=10)
    batch = ExactEvaluator(circuits).batch
    tables = [op.source for op in batch.ops if isinstance(op, _Permutation)]
    assert tables and max(len(t) for t in tables) <= 8  # at most a 3-qubit gate's table, never 2**n


@pytest.mark.parametrize("chunk", [2**22, 2**10 * 5])
@pytest.mark.parametrize(("feature_map", "ansatz"), [({"type": "zz"}, "real_amplitudes"),
                                                     ({"type": "zz", "entanglement": "full"}, "efficient_su2")])
def test_the_exact_path_stays_within_its_estimate(monkeypatch, chunk: int, feature_map: dict, ansatz: str) -> None:
    monkeypatch.setattr("qspec.quantum.backends.EXACT_CHUNK_AMPLITUDES", chunk)
    monkeypatch.setattr("qspec.quantum.estimate.EXACT_CHUNK_AMPLITUDES", chunk)
    circuits = classifier(feature_map, ansatz, None, qubits=10)
    evaluator = ExactEvaluator(circuits)
    rng = np.random.default_rng(0)
    samples = 40
    features = rng.uniform(0, 1, (samples, 10))
    weights = np.tile(rng.uniform(-np.pi, np.pi, len(circuits.weights)), (samples, 1))
    index = np.arange(samples)
    features_bytes = features.nbytes + weights.nbytes
    tracemalloc.start()
    try:
        evaluator.gradients(features, weights, index)
        evaluator.expectations(features, weights, index)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    estimate = exact_path_bytes(10, samples)
    assert peak - features_bytes <= estimate
    assert peak > estimate / 4  # the estimate is a bound, not a wild one
