"""Fused kernels for the exact path: runs of a compiled circuit's gates applied as a few passes.

``StatevectorBatch`` applies one gate per pass over the state (several numpy calls per gate), and
from about 12 qubits on those passes over 2**n amplitudes are the whole cost. ``FusedProgram``
compiles the same operations into blocks that do a layer's work in a few passes:

- ``_Layer``: consecutive single-qubit gates, applied as one ``2**k x 2**k`` matrix (the kron of
  the gates) per group of ``k`` adjacent qubits through a BLAS matmul (a real one, on the float
  view of the state, when every gate is real: H, RY, X). A layer on ``|0...0>`` is a product state,
  built by outer products without a matmul.
- ``_Diagonal``: consecutive diagonal gates (rz, p, cz, cp, ...) and linear reversible ones (cx,
  swap): the phase polynomial ``|y> -> exp(i Theta(y)) |S y>``. ``Theta`` is a sum of terms, each a
  function of a few parities of ``y``, evaluated as small tables over contiguous bit ranges
  (``_cluster``), so a zz feature map's whole entangling layer is two multiplications of the state;
  ``S`` (the cx network) is one gather, by an index built from two ``2**(n/2)`` tables.
- anything else (a dense multi-qubit gate, ccx) stays one operation, applied as before.

``gradients`` is the same adjoint differentiation as ``StatevectorBatch.gradients``, block by
block: the rotations of a layer act on distinct qubits and commute, so every weight of a layer is
differentiated at the layer's end from one ``2**k x 2**k`` transition matrix per group
(``lam^H psi`` over the other qubits, a matmul), and the diagonal terms from ``Im(conj(lam) psi)``.

Used by ``qspec.quantum.backends.ExactEvaluator`` from ``FUSED_MIN_QUBITS`` on (a constant of
``qspec.quantum.estimate``, which counts what either path holds).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qspec.quantum.estimate import EXACT_CHECKPOINTS
from qspec.quantum.simulate import StatevectorBatch, _Matrix1, _Op, _Permutation, _Rotation, _scalar

#: Qubits per matmul group of a layer. Measured (2 cores, one BLAS thread) on a layer of RY on
#: every qubit: 4 was fastest at 16 qubits and within 10% of the best (5) at 20.
GROUP_QUBITS = 4

#: Widest contiguous bit range whose phase table a diagonal block builds per row (2**w entries).
#: Terms spanning more (a zz map with full entanglement) share one table over their whole range.
CLUSTER_BITS = 11

#: Free state-sized buffers a program keeps for reuse (the matmul's output, a spent checkpoint).
FREE_BUFFERS = 2

_SINGLE_DIAGONAL = frozenset({"rz", "p", "u1"})


# --- linear maps over GF(2): images of the basis vectors ------------------------------------------


def _apply_linear(images: Sequence[int], g: int) -> int:
    out = 0
    for i, image in enumerate(images):
        if (g >> i) & 1:
            out ^= image
    return out


def _table(images: Sequence[int], first: int, count: int) -> np.ndarray:
    """``S g`` for the ``2**count`` values of bits ``first..first+count-1`` of ``g`` (others 0)."""
    out = np.zeros(1 << count, dtype=np.int64)
    for j in range(count):
        out[1 << j: 2 << j] = out[: 1 << j] ^ images[first + j]
    return out


def _local_linear(op: _Permutation, num_qubits: int) -> tuple[list[int], list[int]] | None:
    """A phase-free permutation gate as a global linear map (images of ``source`` and its inverse),
    or None when it is not linear over GF(2) (ccx)."""
    source = op.source
    k = len(op.qubits)
    for a in range(1 << k):
        for b in range(1 << k):
            if int(source[a ^ b]) != int(source[a]) ^ int(source[b]):
                return None
    inverse = np.empty_like(source)
    inverse[source] = np.arange(len(source))

    def globalize(table: np.ndarray) -> list[int]:
        images = [1 << i for i in range(num_qubits)]
        for j, q in enumerate(op.qubits):
            local = int(table[1 << j])
            images[q] = sum(1 << op.qubits[m] for m in range(k) if (local >> m) & 1)
        return images

    return globalize(source), globalize(inverse)


# --- blocks ---------------------------------------------------------------------------------------


@dataclass
class _Term:
    """A phase ``angle * coefficients[b]``, ``b`` the local index of the parities ``masks`` of y."""

    masks: tuple[int, ...]
    coefficients: np.ndarray  # (2**len(masks),) real
    angle: Callable[[np.ndarray], Any] | None  # None: the coefficients are the phase
    column: int | None = None  # a bare weight: differentiable

    @property
    def span(self) -> tuple[int, int]:
        support = 0
        for m in self.masks:
            support |= m
        return (support & -support).bit_length() - 1, support.bit_length()


class _Window:
    """Terms over bits lo..hi-1 as one phase table: ``angles @ tables + constant``."""

    def __init__(self, lo: int, hi: int, terms: list[_Term]) -> None:
        self.lo, self.hi = lo, hi
        patterns = np.arange(1 << (hi - lo), dtype=np.int64) << lo
        self.constant = np.zeros(len(patterns))
        self.angled = [t for t in terms if t.angle is not None]
        self.tables = np.zeros((len(self.angled), len(patterns)))
        row = 0
        for term in terms:
            local = np.zeros(len(patterns), dtype=np.int64)
            for j, mask in enumerate(term.masks):
                local |= (np.bitwise_count(patterns & mask) & 1).astype(np.int64) << j
            if term.angle is None:
                self.constant += term.coefficients[local]
            else:
                self.tables[row] = term.coefficients[local]
                row += 1


@dataclass
class _Diagonal:
    num_qubits: int
    terms: list[_Term] = field(default_factory=list)
    source: list[int] | None = None  # images of S (phi[g] = psi'[S g]); None: the identity
    inverse: list[int] | None = None  # images of S**-1
    clusters: list[_Window] = field(default_factory=list)

    @property
    def frame(self) -> list[int]:
        return self.inverse if self.inverse is not None else [1 << i for i in range(self.num_qubits)]

    def add_permutation(self, images: list[int], inverse: list[int]) -> None:
        s = self.source if self.source is not None else [1 << i for i in range(self.num_qubits)]
        r = self.frame
        self.source = [_apply_linear(s, image) for image in images]
        self.inverse = [_apply_linear(inverse, image) for image in r]
        if self.source == [1 << i for i in range(self.num_qubits)]:
            self.source = self.inverse = None

    def row(self, qubit: int) -> int:
        """The parity mask of y giving bit ``qubit`` of the current label."""
        return sum(1 << j for j, image in enumerate(self.frame) if (image >> qubit) & 1)

    def finish(self) -> None:
        """Group the terms into windows of contiguous bits, each one table (phases add up, so a
        term may go to any window covering its bits): windows of CLUSTER_BITS, opened greedily at
        the lowest bit of the first term that fits no open one; a term wider than that gets a
        window of its own width."""
        windows: list[list[Any]] = []
        for term in sorted(self.terms, key=lambda t: t.span):
            lo, hi = term.span
            for window in windows:
                if window[0] <= lo and hi <= window[1]:
                    window[2].append(term)
                    break
            else:
                top = min(self.num_qubits, max(hi, lo + CLUSTER_BITS))
                windows.append([max(0, min(lo, top - CLUSTER_BITS)), top, [term]])
        self.clusters = [_Window(lo, hi, terms) for lo, hi, terms in windows]


@dataclass
class _Layer:
    num_qubits: int
    gates: dict[int, list[_Op]] = field(default_factory=dict)  # qubit -> its gates, in order
    _groups: tuple[int, list[list[int]]] | None = None

    def groups(self) -> list[list[int]]:
        """Contiguous runs of at most GROUP_QUBITS qubits covering the layer's qubits."""
        if self._groups is not None and self._groups[0] == GROUP_QUBITS:
            return self._groups[1]
        out: list[list[int]] = []
        for q in sorted(self.gates):
            if out and q - out[-1][0] < GROUP_QUBITS:
                out[-1].append(q)
            else:
                out.append([q])
        self._groups = (GROUP_QUBITS, out)
        return out


@dataclass
class _Raw:
    op: _Op


_Block = _Layer | _Diagonal | _Raw


# --- the program ----------------------------------------------------------------------------------


class FusedProgram:
    """Operations ``start:stop`` of a ``StatevectorBatch``, compiled into fused blocks.

    ``differentiate``: the value columns ``gradients`` differentiates; a block never mixes them in
    a way that would hide the state a derivative needs (a layer holds one gate per qubit, a
    diagonal block differentiates only terms on single qubits before any cx of the block).
    """

    def __init__(self, batch: StatevectorBatch, start: int, stop: int,
                 differentiate: Sequence[int] = ()) -> None:
        self.batch = batch
        self.num_qubits = n = batch.num_qubits
        self.dim = batch.dim
        self.blocks: list[_Block] = []
        wanted = set(differentiate)
        current: _Block | None = None
        for op in batch.ops[start:stop]:
            differentiated = isinstance(op, _Rotation) and op.column in wanted
            if self._diagonal_like(op):
                if not isinstance(current, _Diagonal) or (differentiated and current.source is not None):
                    current = self._push(_Diagonal(n))
                assert isinstance(current, _Diagonal)
                self._add_diagonal(current, op)
            elif isinstance(op, _Matrix1 | _Rotation):
                qubit = op.qubit
                if not isinstance(current, _Layer) or (qubit in current.gates and wanted):
                    current = self._push(_Layer(n))
                assert isinstance(current, _Layer)
                current.gates.setdefault(qubit, []).append(op)
            else:
                current = self._push(_Raw(op))
        for block in self.blocks:
            if isinstance(block, _Diagonal):
                block.finish()
        self._free: list[np.ndarray] = []
        self._matrices: dict[tuple[Any, ...], tuple[np.ndarray, int, int]] = {}
        self._indices: dict[tuple[int, ...], np.ndarray] = {}

    def _push(self, block: _Block) -> _Block:
        self.blocks.append(block)
        return block

    def _diagonal_like(self, op: _Op) -> bool:
        if isinstance(op, _Rotation):
            return op.name in _SINGLE_DIAGONAL
        if isinstance(op, _Matrix1):
            return bool(op.matrix[0, 1] == 0 and op.matrix[1, 0] == 0)
        if op.phase is None:
            return _local_linear(op, self.num_qubits) is not None
        return bool((op.source == np.arange(len(op.source))).all())

    def _add_diagonal(self, block: _Diagonal, op: _Op) -> None:
        if isinstance(op, _Rotation):
            coefficients = np.array([-0.5, 0.5]) if op.name == "rz" else np.array([0.0, 1.0])
            block.terms.append(_Term((block.row(op.qubit),), coefficients, op.angle, op.column))
        elif isinstance(op, _Matrix1):
            phases = np.angle(np.array([op.matrix[0, 0], op.matrix[1, 1]]))
            block.terms.append(_Term((block.row(op.qubit),), phases, None))
        elif op.phase is None:
            linear = _local_linear(op, self.num_qubits)
            assert linear is not None
            block.add_permutation(*linear)
        else:
            block.terms.append(_Term(tuple(block.row(q) for q in op.qubits), np.angle(op.phase), None))

    # --- buffers ----------------------------------------------------------------------------

    def _take_spare(self, like: np.ndarray) -> np.ndarray:
        """A free buffer of ``like``'s shape: kept between slices, since a fresh state-sized array
        costs page faults that were as slow as the matmul filling it (16 qubits)."""
        for i, held in enumerate(self._free):
            if held.shape == like.shape:
                return self._free.pop(i)
        return np.empty_like(like)

    def _give(self, array: np.ndarray) -> None:
        if len(self._free) < FREE_BUFFERS and array.flags.c_contiguous and array.base is None:
            self._free.append(array)

    def release(self) -> None:
        """Drop the buffers and gather indices kept between calls (the evaluator's call is over)."""
        self._free.clear()
        self._indices.clear()

    # --- forward ----------------------------------------------------------------------------

    def run(self, state: np.ndarray | None, values: np.ndarray) -> np.ndarray:
        """Apply the program to ``state`` (rows x 2**n, consumed), or to |0...0> when None."""
        for block in self.blocks:
            state = self._forward(block, state, values)
        if state is None:
            state = self.batch.initial(len(values))
        return state

    def _forward(self, block: _Block, state: np.ndarray | None, values: np.ndarray,
                 inverse: bool = False) -> np.ndarray:
        if state is None:
            if isinstance(block, _Layer):
                return self._product(block, values)
            state = self.batch.initial(len(values))
        if isinstance(block, _Layer):
            return self._layer(block, state, values, inverse)
        if isinstance(block, _Diagonal):
            return self._diagonal(block, state, values, inverse)
        self.batch._apply(block.op, state, values, inverse=inverse)
        return state

    # --- layers -------------------------------------------------------------------------------

    def _qubit_matrix(self, ops: list[_Op], values: np.ndarray) -> np.ndarray:
        """The product of one qubit's gates: (2, 2), or (rows, 2, 2) when angles differ by row."""
        total: np.ndarray = np.eye(2, dtype=complex)
        for op in ops:
            total = np.matmul(_gate_matrix(op, values), total)
        return total

    def _group_matrix(self, block: _Layer, qubits: list[int], values: np.ndarray) -> tuple[np.ndarray, int, int]:
        """The group's matrix over qubits lo..hi-1 (bit j of its index = qubit lo + j)."""
        lo, hi = qubits[0], qubits[-1] + 1
        matrix: np.ndarray = np.ones((1, 1), dtype=complex)
        for q in range(lo, hi):
            m = self._qubit_matrix(block.gates[q], values) if q in block.gates else np.eye(2, dtype=complex)
            matrix = _kron(m, matrix)
        if not np.iscomplexobj(matrix) or not np.any(matrix.imag):
            matrix = np.ascontiguousarray(matrix.real)
        return matrix, lo, hi

    def _product(self, block: _Layer, values: np.ndarray) -> np.ndarray:
        """The layer applied to |0...0>: the product of each qubit's first column."""
        rows = len(values)
        state = np.ones((rows, 1), dtype=complex)
        for q in range(self.num_qubits):
            if q in block.gates:
                m = self._qubit_matrix(block.gates[q], values)
                column = np.broadcast_to(m[..., :, 0], (rows, 2))
            else:
                column = np.broadcast_to(np.array([1.0, 0.0], dtype=complex), (rows, 2))
            state = (column[:, :, None] * state[:, None, :]).reshape(rows, -1)
        return np.ascontiguousarray(state)

    def _layer(self, block: _Layer, state: np.ndarray, values: np.ndarray, inverse: bool) -> np.ndarray:
        for qubits in block.groups():
            matrix, lo, hi = self._matrix(block, qubits, values, inverse)
            state = self._apply_group(matrix, lo, hi, state)
        return state

    def _matrix(self, block: _Layer, qubits: list[int], values: np.ndarray,
                inverse: bool) -> tuple[np.ndarray, int, int]:
        """``_group_matrix`` (or its inverse), remembered while the angles it reads are the same in
        every row: a training's slices and backward pass reuse the weights' matrices."""
        columns = sorted({c for q in qubits for op in block.gates.get(q, ()) if isinstance(op, _Rotation)
                          for c in op.columns})
        key: tuple[Any, ...] | None = None
        if columns:
            chosen = values[:, columns]
            if (chosen == chosen[:1]).all():
                key = (id(block), qubits[0], inverse, chosen[0].tobytes())
        else:
            key = (id(block), qubits[0], inverse)
        held = self._matrices.get(key) if key is not None else None
        if held is None:
            matrix, lo, hi = self._group_matrix(block, qubits, values)
            if inverse:
                matrix = np.ascontiguousarray(np.conj(np.swapaxes(matrix, -1, -2)))
            held = (matrix, lo, hi)
            if key is not None:
                if len(self._matrices) > 512:
                    self._matrices.clear()
                self._matrices[key] = held
        return held

    def _apply_group(self, matrix: np.ndarray, lo: int, hi: int, state: np.ndarray) -> np.ndarray:
        rows = state.shape[0]
        k = 1 << (hi - lo)
        a, b = 1 << (self.num_qubits - hi), 1 << lo
        out = self._take_spare(state)
        per_row = matrix.ndim == 3
        if b == 1:
            np.matmul(state.reshape(rows, a, k), np.swapaxes(matrix, -1, -2).astype(complex, copy=False),
                      out=out.reshape(rows, a, k))
        elif matrix.dtype == np.float64:
            np.matmul(matrix[:, None] if per_row else matrix, state.reshape(rows, a, k, b).view(float),
                      out=out.reshape(rows, a, k, b).view(float))
        else:
            np.matmul(matrix[:, None] if per_row else matrix, state.reshape(rows, a, k, b),
                      out=out.reshape(rows, a, k, b))
        self._give(state)
        return out

    # --- diagonal blocks ----------------------------------------------------------------------

    def _phases(self, window: _Window, values: np.ndarray, sign: float) -> np.ndarray:
        """exp(i sign Theta) over the window's bits for each row: (rows or 1, 2**width)."""
        phase: np.ndarray = window.constant
        if window.angled:
            angles = np.empty((len(values), len(window.angled)))
            for j, term in enumerate(window.angled):
                assert term.angle is not None
                angles[:, j] = term.angle(values)
            if (angles == angles[:1]).all():
                angles = angles[:1]
            phase = angles @ window.tables + phase
        return np.atleast_2d(np.exp((1j * sign) * phase))

    def _multiply_phases(self, block: _Diagonal, state: np.ndarray, values: np.ndarray, sign: float) -> None:
        rows = state.shape[0]
        for window in block.clusters:
            lo, hi = window.lo, window.hi
            table = self._phases(window, values, sign)
            view = state.reshape(rows, 1 << (self.num_qubits - hi), 1 << (hi - lo), 1 << lo)
            view *= table[:, None, :, None]

    def _index(self, images: list[int]) -> np.ndarray:
        key = tuple(images)
        held = self._indices.get(key)
        if held is None:
            low = self.num_qubits // 2
            table_lo = _table(images, 0, low)
            table_hi = _table(images, low, self.num_qubits - low)
            held = self._indices[key] = np.bitwise_xor.outer(table_hi, table_lo).reshape(-1)
        return held

    def _gather(self, images: list[int], state: np.ndarray) -> np.ndarray:
        # a fresh array: np.take into ``out`` was twice as slow (measured at 20 qubits)
        out: np.ndarray = state.take(self._index(images), axis=1)
        self._give(state)
        return out

    def _diagonal(self, block: _Diagonal, state: np.ndarray, values: np.ndarray, inverse: bool) -> np.ndarray:
        if not inverse:
            self._multiply_phases(block, state, values, 1.0)
            if block.source is not None:
                state = self._gather(block.source, state)
            return state
        if block.inverse is not None:
            state = self._gather(block.inverse, state)
        self._multiply_phases(block, state, values, -1.0)
        return state

    # --- adjoint differentiation ----------------------------------------------------------------

    def gradients(self, state: np.ndarray | None, values: np.ndarray, apply_observable: Callable[[np.ndarray],
                  np.ndarray], columns: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """<O> and d<O>/d(value column) for each row, as ``StatevectorBatch.gradients``; ``state``
        (consumed) is the state before the program, or None for |0...0>."""
        position = {c: j for j, c in enumerate(columns)}
        marked = [i for i, b in enumerate(self.blocks) if _columns_of(b) & position.keys()]
        # the state after each differentiated block but the last, kept from the forward pass
        # when there are few (EXACT_CHECKPOINTS): then only lam runs backward
        keep = set(marked[:-1]) if len(marked) - 1 <= EXACT_CHECKPOINTS else set()
        saved: dict[int, np.ndarray] = {}
        psi = state
        for i, block in enumerate(self.blocks):
            psi = self._forward(block, psi, values)
            if i in keep:
                assert psi is not None
                saved[i] = self._take_spare(psi)
                np.copyto(saved[i], psi)
        if psi is None:
            psi = self.batch.initial(len(values))
        lam = apply_observable(psi)
        # Re <psi|lam> on the float views: no conjugate copy of the state
        expectation = np.einsum("rd,rd->r", psi.view(float), lam.view(float))
        grads = np.zeros((len(psi), len(columns)))
        first = marked[0] if marked else len(self.blocks)
        for i in range(len(self.blocks) - 1, first - 1, -1):
            block = self.blocks[i]
            if i in saved:
                self._give(psi)
                psi = saved.pop(i)
            if i in marked:
                self._terms(block, psi, lam, values, position, grads)
            if i == first:
                break
            if not keep:
                psi = self._forward(block, psi, values, inverse=True)
            lam = self._forward(block, lam, values, inverse=True)
        self._give(psi)
        self._give(lam)
        return expectation, grads

    def _terms(self, block: _Block, psi: np.ndarray, lam: np.ndarray, values: np.ndarray,
               position: dict[int, int], grads: np.ndarray) -> None:
        if isinstance(block, _Raw):
            _raw_term(self.batch, block.op, psi, lam, position, grads)
        elif isinstance(block, _Layer):
            self._layer_terms(block, psi, lam, position, grads)
        else:
            self._diagonal_terms(block, psi, lam, position, grads)

    def _layer_terms(self, block: _Layer, psi: np.ndarray, lam: np.ndarray, position: dict[int, int],
                     grads: np.ndarray) -> None:
        rows = psi.shape[0]
        for qubits in block.groups():
            wanted: list[tuple[int, _Rotation]] = []
            for q in qubits:
                op = block.gates[q][0]
                if isinstance(op, _Rotation) and op.column is not None and op.column in position:
                    wanted.append((q, op))
            if not wanted:
                continue
            lo, hi = qubits[0], qubits[-1] + 1
            k, a, b = 1 << (hi - lo), 1 << (self.num_qubits - hi), 1 << lo
            only_ry = all(op.name == "ry" for _, op in wanted)
            if only_ry and b > 1:  # Re(lam^H psi) on the float views: one real matmul, no copy
                lv = lam.reshape(rows, a, k, b).view(float)
                pv = psi.reshape(rows, a, k, b).view(float)
                transition: np.ndarray = np.matmul(lv, np.swapaxes(pv, -1, -2)).sum(axis=1)
            elif only_ry:  # b == 1: the float views' (2k x 2k) Gram matrix, its re.re + im.im parts
                lf = lam.reshape(rows, a, k).view(float)
                pf = psi.reshape(rows, a, k).view(float)
                gram = np.matmul(np.swapaxes(lf, -1, -2), pf)
                transition = gram[:, 0::2, 0::2] + gram[:, 1::2, 1::2]
            elif b == 1:  # lam^H psi over the rows of the (a, k) matrices: one GEMM
                conj = np.conjugate(lam.reshape(rows, a, k))
                transition = np.matmul(np.swapaxes(conj, -1, -2), psi.reshape(rows, a, k))
            else:
                conj = np.conjugate(lam.reshape(rows, a, k, b))
                transition = np.matmul(conj, np.swapaxes(psi.reshape(rows, a, k, b), -1, -2)).sum(axis=1)
            width = hi - lo
            for q, op in wanted:
                j = q - lo
                # the qubit's 2x2 block: sum over the group's other bits, equal in lam and psi
                g = transition.reshape(rows, 1 << (width - j - 1), 2, 1 << j, 1 << (width - j - 1), 2, 1 << j)
                g2 = np.einsum("rxayxby->rab", g)
                assert isinstance(op, _Rotation) and op.column is not None
                grads[:, position[op.column]] += _rotation_term(op.name, g2)

    def _diagonal_terms(self, block: _Diagonal, psi: np.ndarray, lam: np.ndarray, position: dict[int, int],
                        grads: np.ndarray) -> None:
        # the terms are in the frame before the block's gather: take the states there
        if block.inverse is not None:  # (the block differentiates only terms before its cx)
            psi_y = np.take(psi, self._index(block.inverse), axis=1)
            lam_y = np.take(lam, self._index(block.inverse), axis=1)
        else:
            psi_y, lam_y = psi, lam
        weight = np.imag(np.conjugate(lam_y) * psi_y)  # d/dtheta = -2 sum_y c(b(y)) Im(conj(lam) psi)
        rows = psi.shape[0]
        for term in block.terms:
            if term.column not in position:
                continue
            (mask,) = term.masks
            q = mask.bit_length() - 1
            halves = weight.reshape(rows, 1 << (self.num_qubits - q - 1), 2, 1 << q).sum(axis=(1, 3))
            grads[:, position[term.column]] += -2.0 * (halves @ term.coefficients)


def _columns_of(block: _Block) -> set[int]:
    if isinstance(block, _Raw):
        return {block.op.column} if isinstance(block.op, _Rotation) and block.op.column is not None else set()
    if isinstance(block, _Layer):
        return {op.column for ops in block.gates.values() for op in ops
                if isinstance(op, _Rotation) and op.column is not None}
    return {t.column for t in block.terms if t.column is not None}


def _rotation_term(name: str, g: np.ndarray) -> np.ndarray:
    """d<O>/d theta from the qubit's transition block g[a, b] = sum conj(lam_a) psi_b (after the gate)."""
    if name == "ry":
        return np.real(g[:, 1, 0] - g[:, 0, 1])
    if name == "rx":
        return np.imag(g[:, 0, 1] + g[:, 1, 0])
    if name == "rz":
        return np.imag(g[:, 0, 0] - g[:, 1, 1])
    return -2.0 * np.imag(g[:, 1, 1])  # p, u1


def _raw_term(batch: StatevectorBatch, op: _Op, psi: np.ndarray, lam: np.ndarray, position: dict[int, int],
              grads: np.ndarray) -> None:
    if not (isinstance(op, _Rotation) and op.column in position):
        return
    n, rows = batch.num_qubits, psi.shape[0]
    p = psi.reshape(rows, 1 << (n - op.qubit - 1), 2, 1 << op.qubit)
    lam_view = lam.reshape(rows, 1 << (n - op.qubit - 1), 2, 1 << op.qubit)
    g = np.einsum("rxay,rxby->rab", np.conjugate(lam_view), p)
    grads[:, position[op.column]] += _rotation_term(op.name, g)


def _gate_matrix(op: _Op, values: np.ndarray) -> np.ndarray:
    """A single-qubit gate's matrix: (2, 2), or (rows, 2, 2) for angles that differ by row."""
    if isinstance(op, _Matrix1):
        return np.asarray(op.matrix, dtype=complex)
    assert isinstance(op, _Rotation)
    raw = np.asarray(op.angle(values), dtype=float)
    common = _scalar(raw) if raw.ndim else float(raw)
    theta: Any = common if common is not None else raw
    c, s = np.cos(np.asarray(theta) / 2), np.sin(np.asarray(theta) / 2)
    zero, one = np.zeros_like(c), np.ones_like(c)
    if op.name == "ry":
        entries = [[c, -s], [s, c]]
    elif op.name == "rx":
        entries = [[c, -1j * s], [-1j * s, c]]
    elif op.name == "rz":
        half = np.exp(0.5j * np.asarray(theta))
        entries = [[1 / half, zero], [zero, half]]
    else:  # p, u1
        entries = [[one, zero], [zero, np.exp(1j * np.asarray(theta))]]
    matrix = np.array(entries, dtype=complex)  # (2, 2) or (2, 2, rows)
    return matrix if matrix.ndim == 2 else np.moveaxis(matrix, -1, 0)


def _kron(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """kron(high, low) for (2, 2) / (rows, 2, 2) factors: the high one's bit is the more significant."""
    if high.ndim == 2 and low.ndim == 2:
        return np.kron(high, low)
    h = high if high.ndim == 3 else high[None]
    lo = low if low.ndim == 3 else low[None]
    out = h[:, :, None, :, None] * lo[:, None, :, None, :]
    rows, a, b = out.shape[0], h.shape[1] * lo.shape[1], h.shape[2] * lo.shape[2]
    product: np.ndarray = out.reshape(rows, a, b)
    return product
