"""Qiskit's EfficientSU2: RY and RZ on every qubit, CX entanglers, reps + 1 rotation layers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qspec.plugins.ansatze import Ansatz

if TYPE_CHECKING:
    from qspec.spec.models import AnsatzSpec


def build(spec: AnsatzSpec, qubits: int) -> Any:
    from qiskit.circuit.library import efficient_su2

    from qspec.quantum.circuits import WEIGHT_PREFIX

    return efficient_su2(qubits, reps=spec.reps, entanglement=spec.entanglement, parameter_prefix=WEIGHT_PREFIX)


PLUGIN = Ansatz(name="efficient_su2", weights=lambda qubits, reps: 2 * qubits * (reps + 1), build=build)
