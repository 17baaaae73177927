"""The fused kernels agree with the gate-by-gate simulator (and so with Aer and parameter shift)."""

from __future__ import annotations

import numpy as np
import pytest

from qspec.quantum import kernels
from qspec.quantum.backends import ExactEvaluator
from qspec.quantum.circuits import Circuits, build_circuits
from qspec.quantum.training import Objective, classification_head
from qspec.spec.models import ExperimentSpec
from tests.quantum.test_engine_adjoint import assert_same, both_ways

FEATURE_MAPS = [{"type": "angle"}, {"type": "angle", "reps": 2}, {"type": "z", "reps": 2},
                {"type": "zz", "entanglement": "linear"}, {"type": "zz", "entanglement": "full"},
                {"type": "zz", "entanglement": "circular", "reps": 2}]
ANSATZE = [("real_amplitudes", "linear"), ("real_amplitudes", "full"), ("efficient_su2", "circular"),
           ("efficient_su2", "full"), ("hardware_efficient", "linear"), ("hardware_efficient", "full")]


def classifier(feature_map: dict, ansatz: str, entanglement: str, qubits: int) -> Circuits:
    return build_circuits(ExperimentSpec.model_validate({
        "task": "classification", "data": {"source": "sklearn:iris", "classes": [0, 1]},
        "circuit": {"qubits": qubits, "feature_map": feature_map,
                    "ansatz": {"type": ansatz, "reps": 2, "entanglement": entanglement}},
    }))


def vqe(ansatz: str, terms: dict[str, float]) -> Circuits:
    return build_circuits(ExperimentSpec.model_validate({
        "task": "vqe", "hamiltonian": {"terms": terms},
        "circuit": {"qubits": len(next(iter(terms))), "ansatz": {"type": ansatz, "reps": 2}},
    }))


def both_paths(circuits: Circuits, features: np.ndarray, weights: np.ndarray, index: np.ndarray) -> float:
    """The largest difference between the fused and the gate-by-gate evaluator, over values,
    gradients, expectations and states."""
    evaluator = ExactEvaluator(circuits)
    out = []
    for fused in (False, True):
        evaluator.fused = fused
        values, grads = evaluator.gradients(features, weights, index)
        out.append((values, grads, evaluator.expectations(features, weights, index),
                    evaluator.states(features, weights, index)))
        assert not evaluator.body._free and not evaluator.body._indices  # nothing kept after a call
    return max(float(np.max(np.abs(a - b))) for a, b in zip(*out, strict=True))


def rows(circuits: Circuits, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    features = rng.uniform(0, 1, (5, len(circuits.features)))
    weights = rng.uniform(-np.pi, np.pi, (7, len(circuits.weights)))
    weights[4:] = weights[4]  # rows sharing their weights take the remembered matrices
    return features, weights, rng.integers(0, 5, 7)


# zz entangles pairs: it has no 1-qubit case
SIZES_AND_MAPS = [pytest.param(q, f, id=f"{q}q-{f['type']}-{f.get('entanglement', '')}-{f.get('reps', 1)}")
                  for q in (1, 2, 3, 5) for f in FEATURE_MAPS if q > 1 or f["type"] != "zz"]


@pytest.mark.parametrize(("qubits", "feature_map"), SIZES_AND_MAPS)
@pytest.mark.parametrize(("ansatz", "entanglement"), ANSATZE)
def test_fused_equals_gate_by_gate_on_classifiers(qubits: int, feature_map: dict, ansatz: str,
                                                  entanglement: str) -> None:
    circuits = classifier(feature_map, ansatz, entanglement, qubits)
    assert both_paths(circuits, *rows(circuits, qubits)) < 1e-12


@pytest.mark.parametrize(("group", "window"), [(2, 2), (3, 1)])
@pytest.mark.parametrize(("feature_map", "ansatz", "entanglement"), [
    ({"type": "zz", "entanglement": "full"}, "real_amplitudes", "full"),
    ({"type": "zz", "entanglement": "circular", "reps": 2}, "efficient_su2", "circular"),
    ({"type": "angle", "reps": 2}, "hardware_efficient", "full"),
])
def test_fused_with_many_groups_and_windows(monkeypatch, group: int, window: int, feature_map: dict,
                                            ansatz: str, entanglement: str) -> None:
    # small groups and phase windows: several matmuls a layer, terms across windows, odd sizes
    monkeypatch.setattr(kernels, "GROUP_QUBITS", group)
    monkeypatch.setattr(kernels, "CLUSTER_BITS", window)
    for qubits in (5, 7):
        circuits = classifier(feature_map, ansatz, entanglement, qubits)
        assert both_paths(circuits, *rows(circuits, qubits)) < 1e-12


@pytest.mark.parametrize("ansatz", ["real_amplitudes", "efficient_su2", "hardware_efficient"])
def test_fused_equals_gate_by_gate_on_hamiltonians(ansatz: str) -> None:
    circuits = vqe(ansatz, {"XYZIZ": 0.3, "ZZIII": -0.7, "IXXIY": 0.25, "YIYZZ": 0.1, "IIIII": 0.5})
    weights = np.random.default_rng(2).uniform(-np.pi, np.pi, (3, len(circuits.weights)))
    assert both_paths(circuits, np.zeros((0, 0)), weights, np.zeros(3, dtype=np.int64)) < 1e-12


@pytest.mark.parametrize(("qubits", "feature_map", "ansatz"), [
    (q, f, a) for q in (1, 3, 5)
    for f, a in (({"type": "angle"}, "real_amplitudes"), ({"type": "zz"}, "efficient_su2"),
                 ({"type": "z", "reps": 2}, "hardware_efficient"))
    if q > 1 or f["type"] != "zz"])  # zz entangles pairs: no 1-qubit case
def test_fused_adjoint_equals_parameter_shift(qubits: int, feature_map: dict, ansatz: str) -> None:
    circuits = classifier(feature_map, ansatz, "linear", qubits)
    rng = np.random.default_rng(qubits)
    features, labels = rng.uniform(0, 1, (6, qubits)), rng.integers(0, 2, 6)
    objective = Objective(ExactEvaluator(circuits), features, classification_head(labels))
    assert_same(*both_ways(objective, rng.uniform(-np.pi, np.pi, (2, len(circuits.weights)))))


def test_a_zz_layer_is_two_phase_tables_and_a_layer_one_matmul_per_group() -> None:
    circuits = classifier({"type": "zz", "reps": 2}, "real_amplitudes", "linear", 16)
    evaluator = ExactEvaluator(circuits)
    head, body = evaluator.head.blocks, evaluator.body.blocks
    assert [type(b).__name__ for b in head] == ["_Layer", "_Diagonal", "_Layer", "_Diagonal"]
    assert [type(b).__name__ for b in body] == ["_Layer", "_Diagonal", "_Layer", "_Diagonal", "_Layer"]
    diagonal = head[1]
    assert isinstance(diagonal, kernels._Diagonal) and diagonal.source is None and len(diagonal.clusters) == 2
    assert all(isinstance(b, kernels._Diagonal) and b.source is not None and not b.terms for b in body[1::2])
    layer = body[0]
    assert isinstance(layer, kernels._Layer) and len(layer.groups()) == -(-16 // kernels.GROUP_QUBITS)
