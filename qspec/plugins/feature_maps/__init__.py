"""Feature maps: how a classifier's inputs enter the circuit (``circuit.feature_map.type``).

Read by ``qspec.spec.models`` (the allowed types, whether ``entanglement`` applies),
``qspec.spec.checks`` (the fewest qubits a map needs), ``qspec.quantum.circuits`` (``build``) and
``qspec.quantum.data`` (the interval each feature is scaled onto).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qspec.plugins import discover

if TYPE_CHECKING:
    from qspec.spec.models import FeatureMapSpec


@dataclass(frozen=True)
class FeatureMap:
    name: str
    #: build(spec, qubits) -> QuantumCircuit whose inputs are ParameterVector(circuits.FEATURE_PREFIX, qubits)
    build: Callable[[FeatureMapSpec, int], Any]
    #: the interval each feature is scaled onto (its train-split range maps onto it)
    angle_range: tuple[float, float]
    entangles: bool = False  # whether it takes ``entanglement`` (default ``linear``)
    min_qubits: int = 1
    min_qubits_reason: str = ""  # why, completing "the <name> feature map ..."


@functools.cache
def plugins() -> dict[str, FeatureMap]:
    return discover(__name__, FeatureMap)
