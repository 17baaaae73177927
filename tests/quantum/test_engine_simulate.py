"""The exact numpy path agrees with Aer's estimator to 1e-10 on every circuit family qspec builds."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from qiskit.quantum_info import SparsePauliOp

from qspec.quantum.backends import EstimatorEvaluator, ExactEvaluator, open_backend
from qspec.quantum.circuits import Circuits, build_circuits
from qspec.spec.models import BackendSpec, ExperimentSpec
from tests.conftest import example_text

FEATURE_MAPS = [{"type": "angle"}, {"type": "z", "reps": 2}, {"type": "zz", "entanglement": "linear"},
                {"type": "zz", "entanglement": "full"}, {"type": "zz", "entanglement": "circular", "reps": 2}]
ANSATZE = [(kind, ent) for kind in ("real_amplitudes", "efficient_su2") for ent in ("linear", "full", "circular")]


def aer_exact(circuits: Circuits) -> EstimatorEvaluator:
    return EstimatorEvaluator(open_backend(BackendSpec(seed=3), circuits.num_qubits), circuits)


def random_rows(circuits: Circuits, samples: int, rows: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    features = rng.uniform(0, np.pi, (samples, len(circuits.features)))
    weights = rng.uniform(-np.pi, np.pi, (rows, len(circuits.weights)))
    return features, weights, rng.integers(0, max(samples, 1), rows)


@pytest.mark.parametrize("feature_map", FEATURE_MAPS, ids=lambda f: f"{f['type']}-{f.get('entanglement', '')}")
@pytest.mark.parametrize(("ansatz", "entanglement"), ANSATZE)
def test_classifier_circuits_match_aer(feature_map: dict, ansatz: str, entanglement: str) -> None:
    spec = ExperimentSpec.model_validate({
        "task": "classification",
        "data": {"source": "sklearn:iris", "classes": [0, 1]},
        "circuit": {"qubits": 4, "feature_map": feature_map,
                    "ansatz": {"type": ansatz, "reps": 2, "entanglement": entanglement}},
    })
    circuits = build_circuits(spec)
    features, weights, index = random_rows(circuits, 7, 20, seed=len(str(feature_map)) + len(ansatz))
    exact = ExactEvaluator(circuits).expectations(features, weights, index)
    aer = aer_exact(circuits).expectations(features, weights, index)
    assert np.max(np.abs(exact - aer)) < 1e-10
    assert np.ptp(exact) > 0.1  # not trivially constant


H2_TERMS = next(yaml.safe_load_all(example_text("h2-vqe.yaml")))["spec"]["hamiltonian"]["terms"]


@pytest.mark.parametrize("terms", [
    H2_TERMS,
    {"XYZ": 0.3, "ZZI": -0.7, "IXX": 0.25, "YIY": 0.1, "III": 0.5},
])
@pytest.mark.parametrize("ansatz", ["real_amplitudes", "efficient_su2"])
def test_hamiltonian_expectations_match_aer(terms: dict[str, float], ansatz: str) -> None:
    spec = ExperimentSpec.model_validate({
        "task": "vqe", "hamiltonian": {"terms": terms},
        "circuit": {"qubits": len(next(iter(terms))), "ansatz": {"type": ansatz, "reps": 2, "entanglement": "full"}},
    })
    circuits = build_circuits(spec)
    _, weights, _ = random_rows(circuits, 0, 15, seed=5)
    index = np.zeros(15, dtype=np.int64)
    exact = ExactEvaluator(circuits).expectations(np.zeros((0, 0)), weights, index)
    aer = aer_exact(circuits).expectations(np.zeros((0, 0)), weights, index)
    assert np.max(np.abs(exact - aer)) < 1e-10


def test_statevector_matches_qiskit_reference() -> None:
    from qiskit.quantum_info import Statevector

    spec = ExperimentSpec.model_validate({
        "task": "classification", "data": {"source": "sklearn:iris", "classes": [0, 1]},
        "circuit": {"qubits": 3, "feature_map": {"type": "zz"}, "ansatz": {"type": "efficient_su2", "reps": 1}},
    })
    circuits = build_circuits(spec)
    features, weights, index = random_rows(circuits, 3, 4, seed=1)
    states = ExactEvaluator(circuits).states(features, weights, index)
    for row, state in enumerate(states):
        bound = circuits.circuit.assign_parameters(
            dict(zip([*circuits.features, *circuits.weights], [*features[index[row]], *weights[row]], strict=True)))
        reference = Statevector(bound)
        assert abs(abs(np.vdot(reference.data, state)) - 1) < 1e-12
        assert abs(reference.expectation_value(SparsePauliOp("ZZZ")).real
                   - np.real(np.vdot(state, SparsePauliOp("ZZZ").to_matrix() @ state))) < 1e-12
