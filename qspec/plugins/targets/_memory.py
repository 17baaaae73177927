"""Memory arithmetic of simulated states, shared by the targets' ``peak_memory_bytes`` and by
``qspec.quantum.estimate`` (which the plan will block on): pure integers, importing nothing.

Underscored, so plug-in discovery passes it over: it is a helper of the target plug-ins, not one.
"""

from __future__ import annotations

import math

#: Above this many qubits a density matrix is too large; Aer then samples noise trajectories.
DENSITY_MATRIX_MAX_QUBITS = 10

#: Bytes of one complex128 amplitude.
AMPLITUDE_BYTES = 16

#: Aer's own memory around the states (the simulator, its buffers), a rough figure.
AER_OVERHEAD_BYTES = 256 * 2**20


def aer_method(qubits: int, *, noisy: bool) -> str:
    """Aer's simulation method: a density matrix for noise while it is small enough."""
    if not noisy:
        return "statevector"
    return "density_matrix" if qubits <= DENSITY_MATRIX_MAX_QUBITS else "automatic"


def state_bytes(qubits: int, method: str) -> int:
    """One simulated state: 2**n amplitudes, or 4**n for a density matrix."""
    return AMPLITUDE_BYTES << (2 * qubits if method == "density_matrix" else qubits)


def sample_bytes(qubits: int, rows: int, shots: int | None) -> int:
    """The measured bits of every shot of ``rows`` rows, packed (none for exact values)."""
    return 0 if shots is None else rows * shots * math.ceil(qubits / 8)


def aer_bytes(qubits: int, rows: int, *, method: str, shots: int | None) -> int:
    """One Aer call over ``rows`` parameter rows: a state per row (Aer may run every row as a
    parallel experiment, so this bounds it), the measured bits of each shot, and Aer's overhead."""
    return AER_OVERHEAD_BYTES + rows * state_bytes(qubits, method) + sample_bytes(qubits, rows, shots)


