"""The hardware_efficient ansatz: its layers, and real trainings on the exact path and on Aer."""

from __future__ import annotations

import pytest

from qspec.spec.models import AnsatzSpec, Experiment

H2_EXACT = -1.13730604


@pytest.mark.parametrize(("entanglement", "pairs"), [
    ("linear", [(0, 1), (1, 2), (2, 3)]),
    ("circular", [(0, 1), (1, 2), (2, 3), (3, 0)]),
    ("full", [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]),
])
def test_each_layer_is_ry_rz_on_every_qubit_then_cz(entanglement: str, pairs: list[tuple[int, int]]) -> None:
    from qspec.quantum.circuits import build_ansatz

    circuit = build_ansatz(AnsatzSpec(type="hardware_efficient", reps=2, entanglement=entanglement), 4)
    assert circuit.num_parameters == 2 * 4 * 2
    ops = [(i.operation.name, tuple(circuit.find_bit(q).index for q in i.qubits),
            [p.name for p in i.operation.params]) for i in circuit.data]
    assert ops[:8] == [op for q in range(4) for op in (("ry", (q,), [f"θ[{q}]"]), ("rz", (q,), [f"θ[{4 + q}]"]))]
    assert ops[8:8 + len(pairs)] == [("cz", pair, []) for pair in pairs]
    assert ops[8 + len(pairs)][2] == ["θ[8]"]  # the second layer starts with its own weights


def test_h2_reaches_chemical_accuracy(examples: dict[str, Experiment], with_changes) -> None:
    from qspec.quantum import train

    spec = with_changes(examples["h2-vqe"], circuit={"qubits": 2, "ansatz": {"type": "hardware_efficient", "reps": 2}})
    result = train(spec)
    assert result.extra["exact_training"] is True and result.parameters.shape == (8,)
    assert abs(result.metrics["energy"] - H2_EXACT) < 1.6e-3 and result.metrics["fidelity"] > 0.99


def test_iris_trains_on_numpy_and_aer_agrees(examples: dict[str, Experiment], with_changes) -> None:
    from qspec.quantum import train

    spec = with_changes(examples["iris-vqc"],
                        circuit={"qubits": 4, "feature_map": {"type": "zz"},
                                 "ansatz": {"type": "hardware_efficient", "reps": 2}},
                        training={"optimizer": {"name": "adam", "learning_rate": 0.1, "maxiter": 30}})
    result = train(spec)
    assert result.metrics["test_accuracy"] >= 0.9
    assert result.extra["exact_vs_backend_max_deviation"] < 1e-10  # numpy path = Aer on the final rows
    assert result.estimate.per_iteration_circuits == 70  # one adjoint-differentiated row per sample
