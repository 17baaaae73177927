"""A hardware-efficient ansatz: per layer RY and RZ on every qubit, then a chain of CZ gates.

Native on devices whose two-qubit gate is CZ, and each weight is the bare angle of one Pauli
rotation, used once, so the parameter-shift gradient stays exact. ``entanglement`` picks the CZ
pairs: ``linear`` the chain (i, i + 1), ``circular`` the chain closed into a ring, ``full`` every
pair. Weights: 2 x qubits per layer, ``reps`` layers; layer l's RY on qubit q is
θ[2 n l + q] and its RZ θ[2 n l + n + q].
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qspec.plugins.ansatze import Ansatz

if TYPE_CHECKING:
    from qspec.spec.models import AnsatzSpec


def entangled_pairs(entanglement: str, qubits: int) -> list[tuple[int, int]]:
    chain = [(q, q + 1) for q in range(qubits - 1)]
    if entanglement == "linear":
        return chain
    if entanglement == "circular":
        # on two qubits the closing pair is the chain's own: a second CZ would undo the first
        return [*chain, (qubits - 1, 0)] if qubits > 2 else chain
    if entanglement == "full":
        return [(a, b) for a in range(qubits) for b in range(a + 1, qubits)]
    raise ValueError(f"hardware_efficient has no entanglement {entanglement!r}")


def build(spec: AnsatzSpec, qubits: int) -> Any:
    from qiskit.circuit import ParameterVector, QuantumCircuit

    from qspec.quantum.circuits import WEIGHT_PREFIX

    theta = ParameterVector(WEIGHT_PREFIX, PLUGIN.weights(qubits, spec.reps))
    circuit = QuantumCircuit(qubits, name="hardware_efficient")
    for layer in range(spec.reps):
        first = 2 * qubits * layer
        for q in range(qubits):
            circuit.ry(theta[first + q], q)
            circuit.rz(theta[first + qubits + q], q)
        for a, b in entangled_pairs(spec.entanglement, qubits):
            circuit.cz(a, b)
    return circuit


PLUGIN = Ansatz(name="hardware_efficient", weights=lambda qubits, reps: 2 * qubits * reps, build=build)
