"""Ansätze: the trained part of a circuit (``circuit.ansatz.type``).

Read by ``qspec.spec.models`` (the allowed types), ``qspec.quantum.circuits`` (``build``) and
``qspec.quantum.estimate`` (how many weights a training moves, from the spec alone).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qspec.plugins import discover

if TYPE_CHECKING:
    from qspec.spec.models import AnsatzSpec


@dataclass(frozen=True)
class Ansatz:
    """``build`` names its weights ParameterVector(circuits.WEIGHT_PREFIX, weights(qubits, reps));
    each weight must be the bare angle of exactly one Pauli rotation, so that the engine's
    parameter-shift gradient is exact (``qspec.quantum.training`` checks every circuit it trains)."""

    name: str
    weights: Callable[[int, int], int]  # (qubits, reps) -> number of trained parameters
    build: Callable[[AnsatzSpec, int], Any]  # (spec, qubits) -> QuantumCircuit


@functools.cache
def plugins() -> dict[str, Ansatz]:
    return discover(__name__, Ansatz)
