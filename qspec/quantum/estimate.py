"""What a training run will cost, from the spec alone, before anything runs.

Pure arithmetic over the spec (no qiskit, no data loaded unless a csv must be counted), so that
``qspec plan`` can show it and enforce ``budget`` cheaply. The counts follow exactly how
``qspec.quantum.train`` evaluates: one parameter row per sample for gradient-free steps, ``1 + 2P``
rows per sample for parameter-shift gradients, two rows per sample for SPSA (each optimizer
plug-in says), and a final evaluation of the train and test splits on the declared backend.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from qspec.plan.state import Estimate
from qspec.plugins import ansatze as ansatz_plugins
from qspec.plugins import optimizers as optimizer_plugins
from qspec.spec.models import SKLEARN_DATASETS, DataSpec, Experiment, ExperimentSpec
from qspec.spec.table import read_table

#: Rows per class of the scikit-learn sets (fixed within scikit-learn).
SKLEARN_CLASS_COUNTS: dict[str, tuple[int, ...]] = {
    "iris": (50, 50, 50),
    "wine": (59, 71, 48),
    "breast_cancer": (212, 357),
}

#: Shots an ``ibm:`` or ``fake:`` run uses when the spec leaves ``shots`` null (IBM's default).
DEFAULT_DEVICE_SHOTS = 4096

#: Device time per shot on IBM hardware: the default repetition delay (250 us) plus a short circuit.
SECONDS_PER_SHOT = 3.0e-4

#: Fixed device time per primitive job (loading, initialization), seconds.
SECONDS_PER_JOB = 2.0

#: Assumed sample count for a csv source whose file was not read.
ASSUMED_CSV_ROWS = 100


def weight_count(spec: ExperimentSpec) -> int:
    """Trained parameters of the ansatz, as its plug-in counts them."""
    ansatz = spec.circuit.ansatz
    return ansatz_plugins.plugins()[ansatz.type].weights(spec.circuit.qubits, ansatz.reps)


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


def estimate_resources(experiment: Experiment | ExperimentSpec, *,
                       read: Callable[[str], bytes] | None = None) -> Estimate:
    """Circuit executions, shots, QPU seconds and USD of training ``experiment`` as specified."""
    spec = experiment.spec if isinstance(experiment, Experiment) else experiment
    assumptions: list[str] = []
    n_train, n_test, known = split_sizes(spec, read)
    if not known:
        assumptions.append(f"{ASSUMED_CSV_ROWS} rows assumed for {spec.data.source if spec.data else 'the data'}")
    p = weight_count(spec)
    options = spec.training.optimizer
    optimizer = optimizer_plugins.plugins()[options.name]
    iterations = optimizer.iterations(options, p)
    rows_per_sample = optimizer.rows_per_sample(p)
    assumptions.extend(optimizer.assumptions)
    backend = spec.backend
    sampled = backend.shots is not None or backend.kind == "ibm"
    groups = 1
    if spec.task == "vqe" and spec.hamiltonian is not None and sampled and backend.kind != "ibm":
        # Aer's sampler measures each qubit-wise commuting group in its own circuit.
        groups = len(measurement_groups([lab for lab in spec.hamiltonian.terms if set(lab) != {"I"}]) or [[]])
    per_iteration = n_train * rows_per_sample * groups
    final = (n_train + n_test) * groups
    circuits = per_iteration * iterations + final
    shots_each = backend.shots
    if shots_each is None and backend.kind == "ibm":
        shots_each = DEFAULT_DEVICE_SHOTS
    shots = None if shots_each is None else circuits * shots_each
    calls = iterations + 1
    qpu_seconds = 0.0
    if backend.kind == "ibm":
        qpu_seconds = (shots or 0) * SECONDS_PER_SHOT + calls * SECONDS_PER_JOB
        assumptions.append(f"{SECONDS_PER_SHOT * 1e6:.0f} us per shot and {SECONDS_PER_JOB:g} s per job on the device")
    return Estimate(
        circuits=circuits,
        shots=shots,
        qpu_seconds=qpu_seconds,
        cost_usd=qpu_seconds * backend.price_per_second,
        per_iteration_circuits=per_iteration,
        primitive_calls=calls,
        assumptions=tuple(assumptions),
    )


def _csv_rows(path: str, content: bytes, data: DataSpec) -> int:
    """Rows of the two classes in a csv data set (what the engine trains and tests on)."""
    table = read_table(path, content)
    column = table.label_column(data.target)
    wanted = {str(c) for c in data.classes}
    return sum(1 for label in table.labels(column) if label in wanted)
