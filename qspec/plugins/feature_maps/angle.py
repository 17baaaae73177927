"""The angle encoding: one RY(x_i) per qubit and rep, no entanglement."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from qspec.plugins.feature_maps import FeatureMap

if TYPE_CHECKING:
    from qspec.spec.models import FeatureMapSpec


def build(spec: FeatureMapSpec, qubits: int) -> Any:
    from qiskit.circuit import ParameterVector, QuantumCircuit

    from qspec.quantum.circuits import FEATURE_PREFIX

    x = ParameterVector(FEATURE_PREFIX, qubits)
    circuit = QuantumCircuit(qubits, name="angle")
    for _ in range(spec.reps):
        for qubit in range(qubits):
            circuit.ry(x[qubit], qubit)
    return circuit


# RY(x) turns |0> into |1> over [0, pi].
PLUGIN = FeatureMap(name="angle", build=build, angle_range=(0.0, math.pi))
