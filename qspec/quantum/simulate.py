"""Exact, vectorized statevector simulation of one parametrized circuit over many parameter rows.

The engine's fast path for noiseless ``shots: null`` training: instead of binding and running one
circuit per (sample, parameter-shift) row, every gate is applied at once to a ``(rows, 2**n)``
numpy array, each row with its own angles. Tests hold it to Aer's results within 1e-10 on every
circuit family qspec builds; anything it cannot simulate exactly raises instead of guessing.

Gates are applied in place on strided views of the state (a qubit is an axis of the reshaped
array), so the simulator holds no per-gate index arrays: what it keeps besides the states is a
2**k table per k-qubit permutation gate. ``gradients`` is adjoint differentiation over the same
compiled operations: one forward pass, then one backward pass carrying the state and the
observable-applied state, giving d<O>/d(weight) for every row at the cost of about three passes,
whatever the number of weights (parameter shift costs ``2P`` extra rows).

Used by ``qspec.quantum.backends`` (the exact evaluator) and ``qspec.quantum.train`` (fidelity).
"""

from __future__ import annotations

import ast
import contextlib
import math
import operator
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from qiskit.circuit import Parameter, ParameterExpression, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

#: An angle as a function of the value matrix (rows x columns): a scalar or one value per row.
AngleFn = Callable[[np.ndarray], "np.ndarray | float"]

_ROTATIONS = frozenset({"rx", "ry", "rz", "p", "u1"})
_IGNORED = frozenset({"barrier", "delay"})


@dataclass(frozen=True)
class _Rotation:
    name: str
    qubit: int
    angle: AngleFn
    columns: frozenset[int]  # the value columns the angle reads
    column: int | None = None  # the column when the angle is that bare parameter (differentiable)


@dataclass(frozen=True)
class _Matrix1:
    qubit: int
    matrix: np.ndarray  # (2, 2)


@dataclass(frozen=True)
class _Permutation:
    # On the gate's qubits (local index bit k = qubits[k], Qiskit's order):
    # new[g] = phase[g] * old[source[g]]. Covers cx, cz, swap, ccx and any diagonal gate.
    qubits: tuple[int, ...]
    source: np.ndarray  # (2**k,)
    phase: np.ndarray | None  # (2**k,) or None when every phase is 1

    def inverse(self) -> _Permutation:
        source = np.empty_like(self.source)
        source[self.source] = np.arange(len(self.source))
        phase = None if self.phase is None else np.conj(self.phase)[source]
        return _Permutation(self.qubits, source, phase)


_Op = _Rotation | _Matrix1 | _Permutation


def _bit_views(state: np.ndarray, num_qubits: int, qubits: Sequence[int]) -> tuple[np.ndarray, list[int]]:
    """``state`` (rows x 2**n) reshaped so that each of ``qubits`` is one axis of length 2; and those axes."""
    rows = state.shape[0]
    shape = [rows]
    axes = {}
    above = num_qubits
    for q in sorted(qubits, reverse=True):
        shape.append(1 << (above - q - 1))
        axes[q] = len(shape)
        shape.append(2)
        above = q
    shape.append(1 << above)
    return state.reshape(shape), [axes[q] for q in qubits]


def _slice(ndim: int, axes: Sequence[int], local: int) -> tuple[Any, ...]:
    index: list[Any] = [slice(None)] * ndim
    for k, axis in enumerate(axes):
        index[axis] = (local >> k) & 1
    return tuple(index)


def _halves(state: np.ndarray, num_qubits: int, qubit: int) -> tuple[np.ndarray, np.ndarray]:
    rows = state.shape[0]
    view = state.reshape(rows, 1 << (num_qubits - qubit - 1), 2, 1 << qubit)
    return view[:, :, 0, :], view[:, :, 1, :]


class _Scratch:
    """Reused work buffers: a fresh large array per gate costs page faults that dominate the arithmetic."""

    def __init__(self) -> None:
        self._buffers: dict[int, np.ndarray] = {}

    def take(self, like: np.ndarray, slot: int = 0) -> np.ndarray:
        """A C-contiguous complex buffer of ``like``'s shape; ``slot`` tells simultaneous ones apart."""
        size = like.size
        held = self._buffers.get(slot)
        if held is None or held.size < size:
            held = self._buffers[slot] = np.empty(size, dtype=complex)
        return held[:size].reshape(like.shape)

    def release(self) -> None:
        self._buffers.clear()


def _apply_2x2(a0: np.ndarray, a1: np.ndarray, m00: Any, m01: Any, m10: Any, m11: Any, scratch: _Scratch) -> None:
    """(a0, a1) <- ((m00 a0 + m01 a1), (m10 a0 + m11 a1)) in place; entries scalars or (rows, 1, 1)."""
    if _is_zero(m01) and _is_zero(m10):
        if not _is_one(m00):
            a0 *= m00
        if not _is_one(m11):
            a1 *= m11
        return
    tmp = scratch.take(a0, 0)
    np.multiply(a0, m10, out=tmp)
    if _is_zero(m00) and _is_zero(m11):
        np.multiply(a1, m01, out=a0)
        a1[...] = tmp
        return
    other = scratch.take(a0, 1)
    a0 *= m00
    np.multiply(a1, m01, out=other)
    a0 += other
    a1 *= m11
    a1 += tmp


def _is_zero(value: Any) -> bool:
    return isinstance(value, complex | float | int) and value == 0


def _is_one(value: Any) -> bool:
    return isinstance(value, complex | float | int) and value == 1


def _scalar(values: np.ndarray) -> float | None:
    """The common value of a per-row angle, when every row has the same one."""
    if values.size and values.min() == values.max():
        return float(values.flat[0])
    return None


class StatevectorBatch:
    """A circuit compiled once into numpy operations; ``states(values)`` runs it on many rows.

    ``parameters`` fixes the meaning of the value columns. Rows may share a prefix: ``split`` tells
    which leading operations read only the given columns, so a caller can run that prefix once per
    data sample and the rest once per row (``states_from``).
    """

    def __init__(self, circuit: QuantumCircuit, parameters: Sequence[Parameter]) -> None:
        self.num_qubits = circuit.num_qubits
        self.dim = 2**self.num_qubits
        self._columns = {p: i for i, p in enumerate(parameters)}
        missing = set(circuit.parameters) - set(self._columns)
        if missing:
            raise ValueError(f"no column for parameters {sorted(p.name for p in missing)}")
        self.ops: list[_Op] = []
        self._scratch = _Scratch()
        qubit_of = {bit: i for i, bit in enumerate(circuit.qubits)}
        self._compile(circuit, [qubit_of[q] for q in circuit.qubits])

    # --- compilation ------------------------------------------------------------------------

    def _compile(self, circuit: QuantumCircuit, wires: list[int]) -> None:
        qubit_of = {bit: wires[i] for i, bit in enumerate(circuit.qubits)}
        for instruction in circuit.data:
            op = instruction.operation
            qubits = [qubit_of[q] for q in instruction.qubits]
            if op.name in _IGNORED:
                continue
            if instruction.clbits or op.name in ("measure", "reset"):
                raise ValueError(f"the exact simulator runs unitary circuits only, found {op.name!r}")
            if op.name in _ROTATIONS and len(op.params) == 1:
                angle, columns = self._angle(op.params[0])
                if not columns:
                    self._append_fixed(op.name, qubits, op)
                else:
                    param = op.params[0]
                    column = self._columns[param] if isinstance(param, Parameter) else None
                    self.ops.append(_Rotation(op.name, qubits[0], angle, columns, column))
                continue
            if all(not isinstance(p, ParameterExpression) or not p.parameters for p in op.params):
                try:
                    matrix = np.asarray(op.to_matrix(), dtype=complex)
                except Exception:  # a gate without a matrix: fall back to its definition
                    matrix = None
                if matrix is not None and self._append_matrix(matrix, qubits):
                    continue
            if op.definition is None:
                raise ValueError(f"the exact simulator cannot run gate {op.name!r}")
            self._compile(op.definition, qubits)

    def _append_fixed(self, name: str, qubits: list[int], op: Any) -> None:
        matrix = np.asarray(op.to_matrix(), dtype=np.complex128)
        self._append_matrix(matrix, qubits)

    def _append_matrix(self, matrix: np.ndarray, qubits: list[int]) -> bool:
        if len(qubits) == 1:
            self.ops.append(_Matrix1(qubits[0], matrix))
            return True
        nonzero = np.abs(matrix) > 1e-14
        if not (nonzero.sum(axis=1) == 1).all() or not (nonzero.sum(axis=0) == 1).all():
            return False  # a dense multi-qubit gate: simulated through its definition
        source = nonzero.argmax(axis=1)
        phase = matrix[np.arange(len(matrix)), source]
        self.ops.append(_Permutation(tuple(qubits), source, None if np.allclose(phase, 1.0, atol=0) else phase))
        return True

    def _angle(self, value: object) -> tuple[AngleFn, frozenset[int]]:
        if isinstance(value, Parameter):
            column = self._columns[value]
            return (lambda values: values[:, column]), frozenset({column})
        if isinstance(value, ParameterExpression):
            if not value.parameters:
                constant = float(value.numeric())
                return (lambda values: constant), frozenset()
            return _compile_expression(value, self._columns), frozenset(self._columns[p] for p in value.parameters)
        constant = float(value)  # type: ignore[arg-type]
        return (lambda values: constant), frozenset()

    # --- running ----------------------------------------------------------------------------

    def split(self, columns: set[int]) -> int:
        """How many leading operations read no value column outside ``columns``."""
        for i, op in enumerate(self.ops):
            if isinstance(op, _Rotation) and not op.columns <= columns:
                return i
        return len(self.ops)

    def initial(self, rows: int) -> np.ndarray:
        state = np.zeros((rows, self.dim), dtype=complex)
        state[:, 0] = 1.0
        return state

    def states(self, values: np.ndarray) -> np.ndarray:
        """The final statevectors, one row per row of ``values``."""
        values = np.atleast_2d(np.asarray(values, dtype=float))
        return self.run(self.initial(len(values)), values, 0, len(self.ops))

    def states_from(self, state: np.ndarray, values: np.ndarray, start: int, stop: int) -> np.ndarray:
        """Apply operations ``start:stop`` to a copy of ``state`` (rows x 2**n), row i with ``values[i]``."""
        return self.run(np.array(state, dtype=complex, order="C"), values, start, stop)

    def run(self, state: np.ndarray, values: np.ndarray, start: int, stop: int) -> np.ndarray:
        """Apply operations ``start:stop`` to ``state`` in place (C-contiguous complex); returns it."""
        try:
            for op in self.ops[start:stop]:
                self._apply(op, state, values)
        finally:
            self._scratch.release()
        return state

    def _apply(self, op: _Op, state: np.ndarray, values: np.ndarray, *, inverse: bool = False) -> None:
        if isinstance(op, _Permutation):
            self._permute(op.inverse() if inverse else op, state)
            return
        a0, a1 = _halves(state, self.num_qubits, op.qubit)
        if isinstance(op, _Matrix1):
            m = op.matrix.conj().T if inverse else op.matrix
            _apply_2x2(a0, a1, complex(m[0, 0]), complex(m[0, 1]), complex(m[1, 0]), complex(m[1, 1]), self._scratch)
            return
        raw = np.asarray(op.angle(values), dtype=float)
        common = _scalar(raw) if raw.ndim else float(raw)
        theta: Any = common if common is not None else raw.reshape(-1, 1, 1)
        if inverse:
            theta = -theta
        if op.name == "ry":
            c, s = np.cos(theta / 2), np.sin(theta / 2)
            _apply_2x2(a0, a1, c, -s, s, c, self._scratch)
        elif op.name == "rx":
            c, s = np.cos(theta / 2), -1j * np.sin(theta / 2)
            _apply_2x2(a0, a1, c, s, s, c, self._scratch)
        elif op.name == "rz":
            half = np.exp(0.5j * theta)
            a0 /= half
            a1 *= half
        else:  # p, u1
            _apply_2x2(a0, a1, 1.0, 0.0, 0.0, np.exp(1j * theta), self._scratch)

    def _permute(self, op: _Permutation, state: np.ndarray) -> None:
        view, axes = _bit_views(state, self.num_qubits, op.qubits)
        ndim = view.ndim
        done = np.zeros(len(op.source), dtype=bool)
        for first in range(len(op.source)):
            if done[first] or op.source[first] == first:
                done[first] = True
                continue
            # follow the cycle first <- source[first] <- ...: each slot takes its source's amplitudes
            part = view[_slice(ndim, axes, first)]
            held = self._scratch.take(part)
            held[...] = part
            slot = first
            while op.source[slot] != first:
                view[_slice(ndim, axes, slot)] = view[_slice(ndim, axes, int(op.source[slot]))]
                done[slot] = True
                slot = int(op.source[slot])
            view[_slice(ndim, axes, slot)] = held
            done[slot] = True
        if op.phase is not None:
            for local, phase in enumerate(op.phase):
                if phase != 1:
                    view[_slice(ndim, axes, local)] *= phase

    # --- adjoint differentiation ------------------------------------------------------------

    def _dot(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return _dot(a, b, self._scratch)

    def differentiable(self, start: int, columns: Sequence[int]) -> bool:
        """Whether ``gradients`` can differentiate ``columns`` over operations ``start:``: each is read
        only as the bare angle of rotations (rx, ry, rz, p), and never before ``start``."""
        wanted = set(columns)
        for i, op in enumerate(self.ops):
            if isinstance(op, _Rotation) and op.columns & wanted and (i < start or op.column is None):
                return False
        return True

    def gradients(self, state: np.ndarray, values: np.ndarray, start: int, apply_observable: Callable[[np.ndarray],
                  np.ndarray], columns: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """<O> and d<O>/d(value column) for each row, by adjoint differentiation of operations ``start:``.

        ``state`` (rows x 2**n, C-contiguous complex) is the state before operation ``start`` and is
        used up; ``apply_observable(psi)`` returns O psi. Returns (values (rows,), gradients
        (rows, len(columns))). A column read by several rotations gets the sum of their terms.
        """
        psi = self.run(state, values, start, len(self.ops))
        lam = apply_observable(psi)
        expectation = np.real(np.einsum("rd,rd->r", psi.conj(), lam))
        position = {c: j for j, c in enumerate(columns)}
        grads = np.zeros((len(psi), len(columns)))
        n = self.num_qubits
        for op in reversed(self.ops[start:]):
            if isinstance(op, _Rotation) and op.column in position:
                p0, p1 = _halves(psi, n, op.qubit)
                l0, l1 = _halves(lam, n, op.qubit)
                # d<O>/d theta = 2 Re <lam| dG/dtheta |psi_before> with G = exp(-i theta P / 2):
                # Im <lam| P |psi_after>; for p(theta) = diag(1, e^{i theta}): -2 Im <lam| |1><1| |psi>.
                dot = self._dot
                if op.name == "ry":
                    term = np.real(dot(l1, p0) - dot(l0, p1))
                elif op.name == "rx":
                    term = np.imag(dot(l0, p1) + dot(l1, p0))
                elif op.name == "rz":
                    term = np.imag(dot(l0, p0) - dot(l1, p1))
                else:
                    term = -2.0 * np.imag(dot(l1, p1))
                grads[:, position[op.column]] += term
            self._apply(op, psi, values, inverse=True)
            self._apply(op, lam, values, inverse=True)
        self._scratch.release()
        return expectation, grads


_blas_limited = threading.local()


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """BLAS on one thread for the engine's calls: its vectors are small, and on a busy 2-core machine
    OpenBLAS's idle workers spin after each call and take the core the next numpy loop needs
    (measured: Lanczos at 12 qubits 6x faster, adjoint gradients 1.5x).

    Setting the limit costs about a millisecond (threadpoolctl inspects the loaded libraries), as
    much as a whole small evaluation: only the outermost ``with`` sets it, so a training entered once
    (``quantum.training.train``) makes its evaluators' own ``with`` free."""
    if getattr(_blas_limited, "active", False):
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # threadpoolctl comes with scikit-learn; without it, leave BLAS as it is
        yield
        return
    _blas_limited.active = True
    try:
        with threadpool_limits(1, user_api="blas"):
            yield
    finally:
        _blas_limited.active = False


def _dot(a: np.ndarray, b: np.ndarray, scratch: _Scratch) -> np.ndarray:
    """<a_r|b_r> for each row r of two (rows, L, R) views (np.vecdot is slow on long inner axes)."""
    conj = scratch.take(a, 2)
    np.conjugate(a, out=conj)
    out: np.ndarray = np.einsum("rlk,rlk->r", conj, b)
    return out


class Observable:
    """An observable ready for many states: its diagonal when it has only I/Z terms (no matrix is
    built), else its sparse matrix; built once per evaluator rather than once per call."""

    def __init__(self, observable: SparsePauliOp) -> None:
        self.num_qubits = observable.num_qubits
        self.diagonal = diagonal(observable) if not observable.paulis.x.any() else None
        self.matrix = None if self.diagonal is not None else observable.to_matrix(sparse=True).tocsr()

    def apply(self, states: np.ndarray) -> np.ndarray:
        """O psi for each row (a new C-contiguous array)."""
        if self.diagonal is not None:
            applied: np.ndarray = states * self.diagonal
            return applied
        assert self.matrix is not None
        return np.ascontiguousarray((self.matrix @ states.T).T)

    def expectations(self, states: np.ndarray) -> np.ndarray:
        """<psi|O|psi> for each row of ``states``."""
        if self.diagonal is not None:
            return np.real(np.abs(states) ** 2 @ self.diagonal)
        assert self.matrix is not None
        applied = (self.matrix @ states.T).T
        return np.real(np.einsum("rd,rd->r", states.conj(), applied))


def expectation_values(states: np.ndarray, observable: SparsePauliOp) -> np.ndarray:
    """<psi|O|psi> for each row of ``states``; diagonal observables avoid building a matrix."""
    return Observable(observable).expectations(states)


def diagonal(observable: SparsePauliOp) -> np.ndarray:
    """The diagonal of an I/Z-only observable, as a real vector over basis states."""
    n = observable.num_qubits
    index = np.arange(2**n)
    out = np.zeros(2**n)
    for z, coeff in zip(observable.paulis.z, observable.coeffs, strict=True):
        mask = int(sum(1 << q for q in range(n) if z[q]))
        parity = np.bitwise_count(index & mask) & 1
        out += np.real(coeff) * (1 - 2 * parity.astype(float))
    return out


# --- parameter expressions, evaluated over arrays -----------------------------------------------

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.Pow: operator.pow}
_FUNCTIONS = {"sin": np.sin, "cos": np.cos, "tan": np.tan, "asin": np.arcsin, "acos": np.arccos,
              "atan": np.arctan, "exp": np.exp, "log": np.log, "abs": np.abs, "sign": np.sign,
              "conjugate": np.conjugate}


def _compile_expression(expression: ParameterExpression, columns: dict[Parameter, int]) -> AngleFn:
    """A numpy function of the value matrix equal to ``expression``.

    Qiskit's printed form of an expression is Python arithmetic over parameter names (``x[0]``,
    ``θ``), so it is parsed once and walked over whole columns; only arithmetic and the functions
    ParameterExpression supports are accepted. Anything else is evaluated row by row through
    ``bind``, which is slow but exact.
    """
    names = {p.name: columns[p] for p in expression.parameters}
    try:
        tree = ast.parse(str(expression), mode="eval").body
        fn = _walk(tree, names)
    except (SyntaxError, ValueError, KeyError):
        fn = None
    if fn is not None:
        probe = np.random.default_rng(0).uniform(-1, 1, size=(2, max(columns.values()) + 1))
        for row in probe:
            exact = float(expression.bind({p: row[columns[p]] for p in expression.parameters}).numeric())
            if not math.isclose(float(np.asarray(fn(row[None, :])).ravel()[0]), exact, rel_tol=1e-12, abs_tol=1e-12):
                fn = None
                break
    if fn is not None:
        return fn
    ordered = sorted(expression.parameters, key=lambda p: columns[p])

    def by_row(values: np.ndarray) -> np.ndarray:
        return np.array([
            float(expression.bind({p: row[columns[p]] for p in ordered}).numeric())
            for row in values
        ])

    return by_row


def _walk(node: ast.expr, names: dict[str, int]) -> AngleFn:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        value = float(node.value)
        return lambda values: value
    if isinstance(node, ast.Name | ast.Subscript):
        column = names[ast.unparse(node)]
        return lambda values: values[:, column]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _walk(node.operand, names)
        sign = -1.0 if isinstance(node.op, ast.USub) else 1.0
        return lambda values: sign * inner(values)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        fn, lhs, rhs = _BINARY[type(node.op)], _walk(node.left, names), _walk(node.right, names)
        return lambda values: fn(lhs(values), rhs(values))
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS
            and len(node.args) == 1 and not node.keywords):
        fn1, arg = _FUNCTIONS[node.func.id], _walk(node.args[0], names)
        return lambda values: fn1(arg(values))
    raise ValueError(f"unsupported expression node {ast.dump(node)}")
