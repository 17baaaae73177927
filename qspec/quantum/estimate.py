"""What a training run will cost, from the spec alone, before anything runs.

Pure arithmetic over the spec (no qiskit, no data loaded unless a csv must be counted), so that
``qspec plan`` can show it and enforce ``budget`` cheaply; ``peak_memory_bytes`` gives the memory
a training needs, from the same counts. The counts follow exactly how
``qspec.quantum.train`` evaluates: one parameter row per sample for gradient-free steps, ``1 + 2P``
rows per sample for parameter-shift gradients on a primitive but one (adjoint-differentiated) row
on the exact numpy path, two rows per sample for SPSA (each optimizer plug-in says), and a final
evaluation of the train and test splits on the declared backend.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from qspec.plan.state import Estimate
from qspec.plugins import ansatze as ansatz_plugins
from qspec.plugins import optimizers as optimizer_plugins
from qspec.plugins.targets._memory import (
    AMPLITUDE_BYTES,
    state_bytes,
)
from qspec.spec.models import SKLEARN_DATASETS, DataSpec, Experiment, ExperimentSpec
from qspec.spec.table import read_table

#: Rows per class of the scikit-learn sets (fixed within scikit-learn).
SKLEARN_CLASS_COUNTS: dict[str, tuple[int, ...]] = {
    "iris": (50, 50, 50),
    "wine": (59, 71, 48),
    "breast_cancer": (212, 357),
}

#: Device time per shot on IBM hardware: the default repetition delay (250 us) plus a short circuit.
SECONDS_PER_SHOT = 3.0e-4

#: Fixed device time per primitive job (loading, initialization), seconds.
SECONDS_PER_JOB = 2.0

#: Assumed sample count for a csv source whose file was not read.
ASSUMED_CSV_ROWS = 100


def weight_count(spec: ExperimentSpec) -> int:
    """Trained circuit parameters: the ansatz's, as its plug-in counts them, once per layer.

    The classifier's trainable output scale and bias are not counted: their derivatives are
    analytic (no parameter-shift rows)."""
    ansatz = spec.circuit.ansatz
    return ansatz_plugins.plugins()[ansatz.type].weights(spec.circuit.qubits, ansatz.reps) * spec.circuit.uploads


def output_parameter_count(spec: ExperimentSpec) -> int:
    """The classifier's trainable output parameters (``circuit.output``: scale, bias), 0 for VQE."""
    if spec.task != "classification":
        return 0
    output = spec.circuit.output
    return 2 if output is None else len(output.trained)


def split_sizes(spec: ExperimentSpec, read: Callable[[str], bytes] | None = None) -> tuple[int, int, bool]:
    """(train rows, test rows, whether the numbers are known rather than assumed)."""
    data = spec.data
    if data is None:
        return 1, 0, True
    known = True
    if data.dataset is not None:
        counts = SKLEARN_CLASS_COUNTS[data.dataset]
        names = SKLEARN_DATASETS[data.dataset][1]
        codes = [c if isinstance(c, int) else names.index(c) if c in names else -1 for c in data.classes]
        total = sum(counts[c] for c in codes if 0 <= c < len(counts))
    elif read is not None and data.csv_path is not None:
        total = _csv_rows(data.csv_path, read(data.csv_path), data)
    else:
        total, known = ASSUMED_CSV_ROWS, False
    # scikit-learn's train_test_split rounds the test share up.
    n_test = math.ceil(data.test_fraction * total)
    return total - n_test, n_test, known


def measurement_groups(labels: Sequence[str]) -> list[list[str]]:
    """Pauli labels in groups that one measurement basis serves (qubit-wise commuting), greedily.

    Identity-only terms need no measurement but are kept in the first group, so every label
    belongs to exactly one group.
    """
    groups: list[tuple[list[str], list[str]]] = []  # (labels, basis letter per position)
    for label in sorted(labels, key=lambda lab: (-sum(ch != "I" for ch in lab), lab)):
        for members, basis in groups:
            if all(a == "I" or b == "I" or a == b for a, b in zip(label, basis, strict=True)):
                members.append(label)
                basis[:] = [a if a != "I" else b for a, b in zip(label, basis, strict=True)]
                break
        else:
            groups.append(([label], list(label)))
    return [members for members, _ in groups]


@dataclass(frozen=True)
class _Workload:
    """How a training of the spec evaluates, as ``qspec.quantum.train`` runs it."""

    n_train: int
    n_test: int
    rows_per_sample: int  # parameter rows per train sample per iteration
    groups: int  # circuits per parameter row: the measurement bases a sampler runs
    iterations: int  # primitive calls of the optimizer loop
    assumptions: tuple[str, ...]

    @property
    def per_iteration(self) -> int:
        return self.n_train * self.rows_per_sample * self.groups

    @property
    def final(self) -> int:
        """Rows of the last call: the train and test splits (one row for VQE), on the declared backend."""
        return (self.n_train + self.n_test) * self.groups


def _workload(spec: ExperimentSpec, read: Callable[[str], bytes] | None) -> _Workload:
    assumptions: list[str] = []
    n_train, n_test, known = split_sizes(spec, read)
    if not known:
        assumptions.append(f"{ASSUMED_CSV_ROWS} rows assumed for {spec.data.source if spec.data else 'the data'}")
    p = weight_count(spec)
    options = spec.training.optimizer
    optimizer = optimizer_plugins.plugins()[options.name]
    assumptions.extend(optimizer.assumptions)
    groups = 1
    if spec.task == "vqe" and spec.hamiltonian is not None and spec.backend.plugin.sampled_groups(spec.backend):
        # a sampler measures each qubit-wise commuting group in its own circuit
        groups = len(measurement_groups([lab for lab in spec.hamiltonian.terms if set(lab) != {"I"}]) or [[]])
    rows = optimizer.rows(p, exact=spec.backend.plugin.exact(spec.backend))
    # the optimizer moves the weights and the trainable output scale / bias (an iteration floor counts them)
    moved = p + output_parameter_count(spec)
    return _Workload(n_train, n_test, rows, groups, optimizer.iterations(options, moved), tuple(assumptions))


def estimate_resources(experiment: Experiment | ExperimentSpec, *,
                       read: Callable[[str], bytes] | None = None) -> Estimate:
    """Circuit executions, shots, QPU seconds and USD of training ``experiment`` as specified."""
    spec = experiment.spec if isinstance(experiment, Experiment) else experiment
    work = _workload(spec, read)
    assumptions = list(work.assumptions)
    backend = spec.backend
    target = backend.plugin
    circuits = work.per_iteration * work.iterations + work.final
    shots_each = target.shots(backend)
    shots = None if shots_each is None else circuits * shots_each
    calls = work.iterations + 1
    qpu_seconds = 0.0
    if target.hardware:
        qpu_seconds = (shots or 0) * SECONDS_PER_SHOT + calls * SECONDS_PER_JOB
        assumptions.append(f"{SECONDS_PER_SHOT * 1e6:.0f} us per shot and {SECONDS_PER_JOB:g} s per job on the device")
    return Estimate(
        circuits=circuits,
        shots=shots,
        qpu_seconds=qpu_seconds,
        cost_usd=qpu_seconds * backend.price_per_second,
        per_iteration_circuits=work.per_iteration,
        primitive_calls=calls,
        assumptions=tuple(assumptions),
    )


# --- memory -------------------------------------------------------------------------------------

#: Most amplitudes the exact numpy path holds per slice of rows (2**16 complex numbers: 1 MiB, so
#: a slice's states stay in cache; larger slices were slower at 12 and 16 qubits, and Python's
#: per-gate overhead is small against a slice this size).
EXACT_CHUNK_AMPLITUDES = 2**16

#: From this many qubits on the exact evaluator runs fused programs (``qspec.quantum.kernels``);
#: below, gate by gate (``simulate.StatevectorBatch``, kept as the tests' reference). Measured
#: (one loss + gradient, zz + real_amplitudes, CPU time per sample, 2 cores): fused 0.0032 ms vs
#: 0.0042 at 2 qubits, 0.010 vs 0.021 at 4, 0.08 vs 0.21 at 8, 0.81 vs 4.1 at 12; the 12-qubit VQE
#: gradient 3.1 vs 9.4 ms. Fused wins from the smallest circuit, so every size runs it.
FUSED_MIN_QUBITS = 1

#: Most states the exact path's adjoint pass keeps from its forward pass (the state after each
#: differentiated block but the last), so that only the observable-applied state runs backward;
#: a circuit with more differentiated blocks runs both backward and keeps none.
EXACT_CHECKPOINTS = 6

#: The exact path's small allocations around the states (angles, per-row sums, gate tables).
EXACT_OVERHEAD_BYTES = 2**20

#: Largest VQE problem whose exact ground energy (and ground space) is computed: a sparse Lanczos
#: solve (``scipy.sparse.linalg.eigsh``), whose matrix and vectors ``ground_state_bytes`` counts.
#: Above it a run records that it has no exact reference rather than spending minutes or memory.
EXACT_GROUND_MAX_QUBITS = 22

#: Up to this size the ground state comes from a dense ``eigh`` (at most a 1024 x 1024 matrix).
DENSE_GROUND_MAX_QUBITS = 10

#: Vectors of the sparse ground-state solve: the Krylov space (``training.KRYLOV``, 40) and
#: ARPACK's work arrays, the ground vectors found and the deflation's scratch.
LANCZOS_VECTORS = 48


def exact_path_bytes(qubits: int, rows: int, *, x_patterns: int = 0) -> int:
    """What the numpy statevector path holds at once, for calls of up to ``rows`` rows.

    Rows run in slices of at most ``EXACT_CHUNK_AMPLITUDES`` amplitudes (one row when a row is
    larger) and each slice encodes only its own samples. A slice holds its states, their adjoint
    (observable-applied) states and the gates' work buffers: four states a row. The observable
    adds its diagonal with the bit patterns that build it (two states' worth), or, with X/Y terms,
    a sparse matrix of one entry per row per distinct X/Y pattern (``x_patterns``; 20 bytes each,
    twice while it is built) and the matrix-times-states output.
    """
    dim = 1 << qubits
    in_flight = min(max(rows, 1), max(1, EXACT_CHUNK_AMPLITUDES // dim))
    observable = 2 if x_patterns == 0 else math.ceil(2 * 20 * x_patterns / AMPLITUDE_BYTES) + 2 * in_flight
    per_row, shared = 4, 0
    if qubits >= FUSED_MIN_QUBITS:
        # fused blocks: the state and lam, up to EXACT_CHECKPOINTS states kept from the forward
        # pass, two free buffers kept for reuse (a matmul's output), two passing ones (a gather's
        # output, a conjugate or a phase table over all bits); and the gather indices, shared by
        # the slice's rows. tracemalloc measures 0.7-0.97 of this on the circuit families.
        per_row, shared = 6 + EXACT_CHECKPOINTS, 1
    return EXACT_OVERHEAD_BYTES + AMPLITUDE_BYTES * dim * (per_row * in_flight + shared + observable)


def ground_state_bytes(qubits: int, x_patterns: int) -> int:
    """The exact VQE reference: a dense Hermitian matrix with its eigenvectors and LAPACK's work up
    to ``DENSE_GROUND_MAX_QUBITS``, else the sparse matrix and the Lanczos vectors."""
    if qubits <= DENSE_GROUND_MAX_QUBITS:
        return 3 * state_bytes(qubits, "density_matrix")
    dim = 1 << qubits
    return 2 * 20 * max(x_patterns, 1) * dim + LANCZOS_VECTORS * AMPLITUDE_BYTES * dim


def x_pattern_count(labels: Sequence[str]) -> int:
    """Distinct X/Y supports of Pauli labels: the nonzeros per row of their sparse matrix (0: diagonal)."""
    patterns = {tuple(ch in "XY" for ch in label) for label in labels}
    return len(patterns) if any(any(p) for p in patterns) else 0


def peak_memory_bytes(experiment: Experiment | ExperimentSpec, *, read: Callable[[str], bytes] | None = None) -> int:
    """The most memory a training of ``experiment`` holds at once, in bytes, from the spec alone.

    A rough upper bound: the larger of an optimizer call (on the numpy path when the target lets
    it train there) and the final call on the declared target, and, for VQE problems up to
    ``EXACT_GROUND_MAX_QUBITS``, the exact ground-state solve.
    """
    spec = experiment.spec if isinstance(experiment, Experiment) else experiment
    work = _workload(spec, read)
    backend, qubits = spec.backend, spec.circuit.qubits
    target = backend.plugin
    labels = list(spec.hamiltonian.terms) if spec.task == "vqe" and spec.hamiltonian is not None else []
    patterns = x_pattern_count(labels)
    if target.exact(backend):
        training = exact_path_bytes(qubits, work.n_train * work.rows_per_sample, x_patterns=patterns)
    else:
        training = target.peak_memory_bytes(backend, qubits, work.per_iteration)
    peak = max(training, target.peak_memory_bytes(backend, qubits, work.final))
    if spec.task == "vqe" and qubits <= EXACT_GROUND_MAX_QUBITS:
        # the reference runs after training, with one exact state for the fidelity
        peak = max(peak, ground_state_bytes(qubits, patterns) + exact_path_bytes(qubits, 1, x_patterns=patterns))
    return peak


def _csv_rows(path: str, content: bytes, data: DataSpec) -> int:
    """Rows of the two classes in a csv data set (what the engine trains and tests on)."""
    table = read_table(path, content)
    column = table.label_column(data.target)
    wanted = {str(c) for c in data.classes}
    return sum(1 for label in table.labels(column) if label in wanted)
