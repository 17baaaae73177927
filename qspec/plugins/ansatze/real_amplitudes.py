"""Qiskit's RealAmplitudes: RY on every qubit, CX entanglers, reps + 1 rotation layers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qspec.plugins.ansatze import Ansatz

if TYPE_CHECKING:
    from qspec.spec.models import AnsatzSpec


def build(spec: AnsatzSpec, qubits: int) -> Any:
    from qiskit.circuit.library import real_amplitudes

    from qspec.quantum.circuits import WEIGHT_PREFIX

    return real_amplitudes(qubits, reps=spec.reps, entanglement=spec.entanglement, parameter_prefix=WEIGHT_PREFIX)


PLUGIN = Ansatz(name="real_amplitudes", weights=lambda qubits, reps: qubits * (reps + 1), build=build)
