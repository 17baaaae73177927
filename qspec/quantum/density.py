"""Exact, vectorized density-matrix simulation of one noisy, measured circuit over many parameter rows.

The engine's fast path for noisy training on a local simulator (Aer's noise, device snapshots):
the ISA circuit Aer would run, with the noise model's errors inserted after the instructions
they follow (``qiskit_aer.utils.insert_noise``: the same Kraus maps Aer applies), compiled once
into superoperators on a ``(rows, 2**n, 2**n)`` array of density matrices, every row with its own
angles. The result is each row's exact distribution of measured bitstrings, the readout error of
each measured qubit applied as its confusion matrix (or, unmeasured, Tr(rho O) of an observable).
Sampled (``shots``) evaluators draw the counts from it, which is what Aer's density-matrix method
does per shot, for far less than Aer spends binding, running and reporting each row as an
experiment of its own.

Only the qubits an instruction touches are simulated (a device's idle qubits are left out).
Anything it cannot simulate exactly (a reset, a gate after a measurement, a mid-circuit
conditional) raises ``ValueError``, and the caller runs Aer instead.

Used by ``qspec.quantum.backends`` (``DensityMatrixEvaluator``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from qiskit.circuit import Parameter, ParameterExpression, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

from qspec.quantum.simulate import AngleFn, _compile_expression

#: Per-row rotations the density path applies (an ISA circuit's only parametrized gate is rz).
_ROTATIONS = frozenset({"rx", "ry", "rz", "p", "u1"})
_IGNORED = frozenset({"barrier", "delay"})

#: (P(read 1 | 0), P(read 0 | 1)) of one qubit's measurement.
Confusion = tuple[float, float]


@dataclass
class _Channel:
    qubits: tuple[int, ...]  # simulated qubits, the channel's local bit k is qubits[k] (Qiskit's order)
    matrix: np.ndarray  # (4**k, 4**k) on (ket, bra) index pairs: new[a, b] = sum S[(a, b), (c, d)] rho[c, d]


@dataclass(frozen=True)
class _Rotation:
    name: str
    qubit: int
    angle: AngleFn


def superoperator(kraus: Sequence[np.ndarray]) -> np.ndarray:
    """sum_i K_i (x) conj(K_i): the map rho -> sum_i K_i rho K_i^dagger on row-major (ket, bra) pairs."""
    return sum((np.kron(k, np.conj(k)) for k in kraus), start=np.zeros((len(kraus[0]) ** 2,) * 2, dtype=complex))


class DensityMatrixBatch:
    """A measured circuit with its noise compiled once; ``probabilities(values)`` runs many rows.

    ``parameters`` fixes the meaning of the value columns. ``noise_model`` is an Aer ``NoiseModel``
    (or None); ``confusions`` maps a physical qubit to its readout confusion (``default`` for the
    others). The outcome index of ``probabilities`` is the classical register's, bit c = clbit c.
    """

    def __init__(self, circuit: QuantumCircuit, parameters: Sequence[Parameter], noise_model: Any | None,
                 confusions: dict[int, Confusion] | None = None, default: Confusion | None = None) -> None:
        columns = {p: i for i, p in enumerate(parameters)}
        missing = set(circuit.parameters) - set(columns)
        if missing:
            raise ValueError(f"no column for parameters {sorted(p.name for p in missing)}")
        if noise_model is not None:
            from qiskit_aer.utils import insert_noise

            circuit = insert_noise(circuit, noise_model, transpile=False)
        index = {bit: i for i, bit in enumerate(circuit.qubits)}
        used = sorted({index[q] for inst in circuit.data if inst.operation.name not in _IGNORED for q in inst.qubits})
        self.physical = used  # simulated qubit k is circuit qubit used[k]
        local = {q: k for k, q in enumerate(used)}
        self.num_qubits = len(used)
        self.num_clbits = circuit.num_clbits
        self.ops: list[_Channel | _Rotation] = []
        self.measured: dict[int, int] = {}  # clbit -> simulated qubit
        done: set[int] = set()  # measured qubits: what follows on them cannot change the outcome
        clbit_of = {bit: i for i, bit in enumerate(circuit.clbits)}
        for inst in circuit.data:
            op = inst.operation
            if op.name in _IGNORED:
                continue
            qubits = tuple(local[index[q]] for q in inst.qubits)
            if op.name == "measure":
                if qubits[0] in done:
                    raise ValueError("a qubit measured twice")
                self.measured[clbit_of[inst.clbits[0]]] = qubits[0]
                done.add(qubits[0])
                continue
            if getattr(op, "condition", None) is not None or inst.clbits:
                raise ValueError(f"the density path runs no classically controlled {op.name!r}")
            if done & set(qubits):
                if op.name == "quantum_channel":
                    continue  # an error after the final measurement: the outcome is already read
                raise ValueError(f"{op.name!r} after a measurement")
            if op.name == "quantum_channel":
                from qiskit.quantum_info import Kraus

                self._fixed(qubits, superoperator(Kraus(op).data))
                continue
            if op.name in _ROTATIONS and len(op.params) == 1 and _parametrized(op.params[0]):
                self.ops.append(_Rotation(op.name, qubits[0], _angle(op.params[0], columns)))
                continue
            if any(_parametrized(p) for p in op.params):
                raise ValueError(f"the density path cannot run a parametrized {op.name!r}")
            try:
                matrix = np.asarray(op.to_matrix(), dtype=complex)
            except Exception as exc:  # a reset, an initialize: no unitary
                raise ValueError(f"the density path cannot run {op.name!r}") from exc
            self._fixed(qubits, np.kron(matrix, np.conj(matrix)))
        self.confusions = [confusions.get(used[q], default) if confusions else default
                           for q in (self.measured[c] for c in sorted(self.measured))]

    def _fixed(self, qubits: tuple[int, ...], matrix: np.ndarray) -> None:
        # Fused with the previous operation when it is a fixed map on the same qubits (a gate and
        # the error Aer inserts after it; runs of fixed one-qubit gates).
        last = self.ops[-1] if self.ops else None
        if isinstance(last, _Channel) and last.qubits == qubits:
            last.matrix = matrix @ last.matrix
        else:
            self.ops.append(_Channel(qubits, matrix))

    # --- running ----------------------------------------------------------------------------

    def _ket(self, q: int) -> int:
        return 1 + (self.num_qubits - 1 - q)

    def _bra(self, q: int) -> int:
        return 1 + 2 * self.num_qubits - 1 - q

    def states(self, values: np.ndarray) -> np.ndarray:
        """The final density matrices (rows x 2**n x 2**n, before measurement), row i with ``values[i]``."""
        values = np.atleast_2d(np.asarray(values, dtype=float))
        n, rows = self.num_qubits, len(values)
        rho = np.zeros((rows,) + (2,) * (2 * n), dtype=complex)
        rho[(slice(None),) + (0,) * (2 * n)] = 1.0
        for op in self.ops:
            rho = self._apply(op, rho, values)
        return np.ascontiguousarray(rho).reshape(rows, 2**n, 2**n)

    def _apply(self, op: _Channel | _Rotation, rho: np.ndarray, values: np.ndarray) -> np.ndarray:
        if isinstance(op, _Channel):
            k = len(op.qubits)
            axes = [self._ket(q) for q in reversed(op.qubits)] + [self._bra(q) for q in reversed(op.qubits)]
            tensor = op.matrix.reshape((2,) * (4 * k))
            out = np.tensordot(tensor, rho, axes=(list(range(2 * k, 4 * k)), axes))
            return np.moveaxis(out, list(range(2 * k)), axes)
        theta = np.broadcast_to(np.asarray(op.angle(values), dtype=float), (len(rho),))
        ket, bra = self._ket(op.qubit), self._bra(op.qubit)
        shape = (len(rho),) + (1,) * (rho.ndim - 3)
        if op.name == "rz" or op.name in ("p", "u1"):
            # diagonal: rho[a, b] picks up phase(a) conj(phase(b)); only the off-diagonal pairs change
            phase = np.exp(-1j * theta).reshape(shape)
            rho[_at(rho.ndim, {ket: 0, bra: 1})] *= phase
            rho[_at(rho.ndim, {ket: 1, bra: 0})] *= np.conj(phase)
            return rho
        c, s = np.cos(theta / 2), np.sin(theta / 2)
        if op.name == "ry":
            u = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2).astype(complex)
        else:  # rx
            u = np.stack([np.stack([c, -1j * s], -1), np.stack([-1j * s, c], -1)], -2)
        moved = np.moveaxis(rho, [ket, bra], [1, 2])
        moved = np.einsum("rij,rjk...->rik...", u, moved)
        moved = np.einsum("rij,rkj...->rki...", np.conj(u), moved)
        return np.moveaxis(moved, [1, 2], [ket, bra])

    def observable_matrix(self, observable: SparsePauliOp) -> np.ndarray:
        """``observable`` (on the circuit's qubits) as a matrix on the simulated ones.

        A qubit no instruction touches stays |0>: its Z reads +1 and its X or Y 0, so a term with
        X or Y there drops out and Z or I there is the identity.
        """
        used = self.physical
        labels, coeffs = [], []
        for pauli, coeff in zip(observable.paulis, observable.coeffs, strict=True):
            letters = pauli.to_label()[::-1]  # letters[q] is circuit qubit q's
            if any(letters[q] in "XY" for q in range(len(letters)) if q not in set(used)):
                continue
            labels.append("".join(letters[used[k]] for k in reversed(range(len(used)))))
            coeffs.append(coeff)
        if not labels:
            return np.zeros((2**self.num_qubits,) * 2, dtype=complex)
        return np.asarray(SparsePauliOp(labels, coeffs).to_matrix(), dtype=complex)

    def expectations(self, values: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        """Tr(rho O) of every row, for ``matrix`` from ``observable_matrix``."""
        return np.real(np.einsum("rij,ji->r", self.states(values), matrix))

    def probabilities(self, values: np.ndarray) -> np.ndarray:
        """P(outcome) of every row (rows x 2**clbits), readout errors included; unmeasured bits read 0."""
        if not self.measured:
            raise ValueError("the circuit measures nothing")
        rho = self.states(values)
        rows, n = len(rho), self.num_qubits
        diagonal = np.real(np.einsum("rii->ri", rho)).reshape((rows,) + (2,) * n)
        # marginal over the measured qubits, in clbit order (clbit c is the c-th measured qubit)
        order = [self.measured[c] for c in sorted(self.measured)]
        keep = [1 + (n - 1 - q) for q in order]
        others = tuple(a for a in range(1, n + 1) if a not in keep)
        marginal = diagonal.sum(axis=others) if others else diagonal
        # axes of ``marginal`` now follow ``keep``'s sorted order; put clbit c at axis 1 + (m - 1 - c)
        m = len(order)
        present = sorted(keep)
        marginal = np.moveaxis(marginal, [1 + present.index(a) for a in keep], [1 + (m - 1 - c) for c in range(m)])
        for c, confusion in enumerate(self.confusions):
            if confusion is None:
                continue
            p01, p10 = confusion
            matrix = np.array([[1 - p01, p10], [p01, 1 - p10]])  # new[read] = sum M[read, true] p[true]
            axis = 1 + (m - 1 - c)
            marginal = np.moveaxis(np.tensordot(matrix, marginal, axes=([1], [axis])), 0, axis)
        probabilities: np.ndarray = np.clip(np.ascontiguousarray(marginal).reshape(rows, 2**m), 0.0, None)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        if self.num_clbits == m and sorted(self.measured) == list(range(m)):
            return probabilities
        full = np.zeros((rows, 2**self.num_clbits))
        clbits = sorted(self.measured)
        outcomes = np.arange(2**m)
        target = sum((((outcomes >> j) & 1) << c) for j, c in enumerate(clbits))
        full[:, target] = probabilities
        return full


def _at(ndim: int, fixed: dict[int, int]) -> tuple[Any, ...]:
    return tuple(fixed.get(axis, slice(None)) for axis in range(ndim))


def _parametrized(value: object) -> bool:
    return isinstance(value, ParameterExpression) and bool(value.parameters)


def _angle(value: ParameterExpression, columns: dict[Parameter, int]) -> AngleFn:
    if isinstance(value, Parameter):
        column = columns[value]
        return lambda values: values[:, column]
    return _compile_expression(value, columns)
