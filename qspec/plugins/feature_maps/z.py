"""Qiskit's Z feature map: H then P(2 x_i) on every qubit, per rep."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from qspec.plugins.feature_maps import FeatureMap

if TYPE_CHECKING:
    from qspec.spec.models import FeatureMapSpec


def build(spec: FeatureMapSpec, qubits: int) -> Any:
    from qiskit.circuit.library import z_feature_map

    from qspec.quantum.circuits import FEATURE_PREFIX

    return z_feature_map(qubits, reps=spec.reps, parameter_prefix=FEATURE_PREFIX)


# z encodes P(2x): [0, pi/2] keeps x=0 and the maximum apart instead of wrapping onto the same phase.
PLUGIN = FeatureMap(name="z", build=build, angle_range=(0.0, math.pi / 2))
