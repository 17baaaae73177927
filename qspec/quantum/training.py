"""Training: one validated Experiment in, one ``TrainingResult`` out.

Owns the run of an experiment: data and circuits, the backend (transpiled once), the objective
(``training.loss`` of the classifier's output ``qspec.quantum.readout`` on the parity readout, or
the energy), the optimizer loop with per-iteration
progress, and the final metrics. Noiseless ``shots: null`` experiments on Aer train on the exact
numpy statevector (``simulate``); every final metric that decides registration is computed on the
declared backend in one last primitive call. No MLflow here: callers log the result.

``TrainingResult.extra`` carries: ``exact_training`` (bool), ``trained_on`` (numpy-statevector,
numpy-density-matrix or the target), ``circuit_executions`` (parameter rows run), for exact classifiers
``exact_vs_backend_max_deviation`` (numpy vs Aer on the final rows), for VQE up to
``EXACT_GROUND_MAX_QUBITS`` qubits ``exact_ground_energy`` and ``ground_degeneracy`` (above it,
``exact_reference`` says there is none). ``fidelity`` is that of the noiseless trained
state with the exact ground space (the overlap a device cannot report).
"""

from __future__ import annotations

import pathlib
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from qspec.errors import QspecError
from qspec.plan.state import Estimate
from qspec.quantum.backends import Evaluator, ExactEvaluator, make_evaluator, open_backend, physical_qubits
from qspec.quantum.backends import calibration as device_calibration
from qspec.quantum.circuits import Circuits, angle_range, build_circuits
from qspec.quantum.data import Split, fit_baseline, load_dataset, split_dataset
from qspec.quantum.estimate import DENSE_GROUND_MAX_QUBITS, EXACT_GROUND_MAX_QUBITS, estimate_resources
from qspec.quantum.optimizers import Evaluation, minimize
from qspec.quantum.readout import LossHead, Readout
from qspec.quantum.result import DeviceInfo, IterationRecord, ProgressCallback, TrainingResult
from qspec.quantum.simulate import single_threaded_blas
from qspec.spec.models import Experiment

#: The parameter-shift rule's shift for rotations exp(-i theta P / 2).
SHIFT = np.pi / 2


class Objective:
    """Loss (and gradient) of points from ONE evaluator call over every row.

    A point is the circuit weights followed by ``extra`` output parameters (a classifier's trainable
    scale and bias), whose derivatives the head gives analytically. Rows are laid out sample-major:
    for each sample, each point's weights, then (with gradients) each weight shifted by +pi/2 and
    -pi/2. On the exact numpy path gradients come from the adjoint method instead (one row per
    sample and point, ``ExactEvaluator.gradients``); parameter shift stays for shots, noise and
    hardware. ``head(expectations, output parameters)`` turns per-sample expectation values of one
    point into (loss, d loss / d expectation, d loss / d output parameters, metrics); the weights'
    gradient is d loss / d expectation chained with the evaluator's d<O>/d theta.
    """

    def __init__(self, evaluator: Evaluator, features: np.ndarray, head: Head | LossHead, extra: int = 0) -> None:
        self.evaluator = evaluator
        self.features = features
        self.samples = max(len(features), 1)
        self.head = head
        self.extra = extra

    def _head(self, values: np.ndarray, outputs: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, dict[str, float]]:
        if isinstance(self.head, LossHead):
            return self.head(values, outputs)
        loss, dloss, metrics = self.head(values)
        return loss, dloss, np.zeros(0), metrics

    def _split(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        points = np.atleast_2d(np.asarray(points, dtype=float))
        cut = points.shape[1] - self.extra
        return points[:, :cut], points[:, cut:]

    def rows(self, points: np.ndarray, *, gradient: bool) -> tuple[np.ndarray, np.ndarray, int]:
        points, _ = self._split(points)
        p = points.shape[1]
        if gradient:
            shifts = np.concatenate([np.zeros((1, p)), SHIFT * np.eye(p), -SHIFT * np.eye(p)])
            per_sample = (points[:, None, :] + shifts[None, :, :]).reshape(-1, p)
        else:
            per_sample = points
        m = len(per_sample)
        weights = np.tile(per_sample, (self.samples, 1))
        index = np.repeat(np.arange(self.samples), m)
        return weights, index, m

    def evaluate(self, points: np.ndarray, *, gradient: bool) -> list[Evaluation]:
        weights_of, outputs = self._split(points)
        k, p = weights_of.shape
        if gradient and isinstance(self.evaluator, ExactEvaluator) and self.evaluator.adjoint:
            return self._adjoint(weights_of, outputs)
        weights, index, m = self.rows(points, gradient=gradient)
        values = self.evaluator.expectations(self.features, weights, index).reshape(self.samples, m)
        out = []
        for j in range(k):
            if gradient:
                block = values[:, j * (1 + 2 * p):(j + 1) * (1 + 2 * p)]
                loss, dloss, doutput, metrics = self._head(block[:, 0], outputs[j])
                derivative = (block[:, 1:1 + p] - block[:, 1 + p:]) / 2  # d<O>/d theta, per sample
                out.append(Evaluation(loss, np.concatenate([dloss @ derivative, doutput]), metrics))
            else:
                loss, _, _, metrics = self._head(values[:, j], outputs[j])
                out.append(Evaluation(loss, None, metrics))
        return out

    def _adjoint(self, points: np.ndarray, outputs: np.ndarray) -> list[Evaluation]:
        # Exact and noiseless: one row per (sample, point), differentiated by the adjoint method.
        k, p = points.shape
        weights = np.tile(points, (self.samples, 1))
        index = np.repeat(np.arange(self.samples), k)
        assert isinstance(self.evaluator, ExactEvaluator)
        values, grads = self.evaluator.gradients(self.features, weights, index)
        values, grads = values.reshape(self.samples, k), grads.reshape(self.samples, k, p)
        out = []
        for j in range(k):
            loss, dloss, doutput, metrics = self._head(values[:, j], outputs[j])
            out.append(Evaluation(loss, np.concatenate([dloss @ grads[:, j, :], doutput]), metrics))
        return out


#: head(expectations) -> (loss, d loss / d expectation, metrics): a loss with no output parameters.
Head = Callable[[np.ndarray], tuple[float, np.ndarray, dict[str, float]]]


def classification_head(labels: np.ndarray, readout: Readout | None = None, loss: str | None = None) -> Head:
    """The classification loss (``training.loss``, cross-entropy by default) of p(class 1) through a
    readout with no trained parameters: by default the linear link p = (1 - <Z...Z>) / 2, i.e. odd
    parity means class 1. Training with trainable output parameters uses ``LossHead`` itself."""
    head = LossHead(labels, readout or Readout("linear"), loss or "cross_entropy")
    if head.readout.trained:
        raise ValueError("a readout with trained parameters needs LossHead (the Objective's extra columns)")

    def one(expectation: np.ndarray) -> tuple[float, np.ndarray, dict[str, float]]:
        value, dloss, _, metrics = head(expectation, np.zeros(0))
        return value, dloss, metrics

    return one


def energy_head(constant: float) -> Head:
    def head(expectation: np.ndarray) -> tuple[float, np.ndarray, dict[str, float]]:
        energy = float(expectation[0] + constant)
        return energy, np.ones(1), {"energy": energy}

    return head


def initial_point(experiment: Experiment, size: int) -> np.ndarray:
    training = experiment.spec.training
    if training.initial_point == "zeros":
        return np.zeros(size)
    return np.random.default_rng(training.seed).uniform(-np.pi, np.pi, size)


def train(experiment: Experiment, *, root: pathlib.Path | None = None, read: Callable[[str], bytes] | None = None,
          progress: ProgressCallback | None = None, estimate: Estimate | None = None) -> TrainingResult:
    """Train ``experiment`` and return its result; ``read`` (or ``root``) reads ``csv:`` sources.

    ``read`` takes a repository-relative path; without it, paths are read under ``root``.
    ``progress`` is called once per optimizer iteration with an ``IterationRecord``.
    ``estimate`` is the resource estimate the plan already computed for this spec; the result
    carries it as it is (the run logs what the plan showed), and it is computed here only when
    not given.
    """
    spec = experiment.spec
    if read is None and root is not None:
        base = pathlib.Path(root)

        def read(path: str) -> bytes:
            return (base / path).read_bytes()

    start = time.perf_counter()
    circuits = build_circuits(spec)
    _check_shift_rule(circuits)
    backend = open_backend(spec.backend, spec.circuit.qubits)
    declared = make_evaluator(backend, circuits)  # transpiles, once
    from qspec.quantum.backends import density_trainer  # small noisy circuits on Aer: numpy density matrices

    density = None if backend.exact else density_trainer(backend, circuits)
    trainer: Evaluator = ExactEvaluator(circuits) if backend.exact else density or declared

    split: Split | None = None
    if spec.task == "classification":
        if spec.data is None:
            raise QspecError("a classification experiment needs data", where="spec.data")
        split = split_dataset(spec.data, load_dataset(spec.data, read), spec.data.features or spec.circuit.qubits,
                              angle_range(spec))
        readout = Readout.of_spec(spec.circuit.output)
        objective = Objective(trainer, split.x_train,
                              LossHead(split.y_train, readout, spec.training.loss or "cross_entropy"),
                              extra=len(readout.trained))
    else:
        readout = None
        objective = Objective(trainer, np.zeros((0, 0)), energy_head(circuits.constant))

    history: list[IterationRecord] = []

    def report(iteration: int, point: np.ndarray, evaluation: Evaluation) -> None:
        record = IterationRecord(
            iteration=iteration,
            loss=float(evaluation.loss),
            parameter_norm=float(np.linalg.norm(point)),
            elapsed=time.perf_counter() - start,
            gradient_norm=None if evaluation.gradient is None else float(np.linalg.norm(evaluation.gradient)),
            metrics=dict(evaluation.metrics),
            evaluations=trainer.executions,
        )
        history.append(record)
        if progress is not None:
            progress(record)

    x0 = initial_point(experiment, len(circuits.weights))
    if readout is not None:  # the trainable output scale and bias follow the weights
        x0 = np.concatenate([x0, readout.initial()])
    rng = np.random.default_rng(spec.training.seed)
    with single_threaded_blas():  # set once for the whole optimization, not per evaluation
        point = minimize(spec.training.optimizer, objective, x0, rng, report)
    weights = len(circuits.weights)
    theta, output = point[:weights], readout.stored(point[weights:]) if readout is not None else np.zeros(0)

    extra: dict[str, Any] = {"exact_training": backend.exact, "trained_on": "numpy-statevector" if backend.exact
                             else "numpy-density-matrix" if density is not None else spec.backend.target}
    if split is not None:
        assert readout is not None
        metrics, outputs = _classification_metrics(declared, split, theta, readout, output, spec.training.loss)
        if backend.exact:
            exact = _evaluate_split(trainer, split, theta)
            extra["exact_vs_backend_max_deviation"] = float(np.max(np.abs(exact - np.concatenate(outputs))))
        baseline = fit_baseline(spec.baseline, split, spec.data.seed) if spec.baseline and spec.data else {}
        test_outputs = outputs[1]
    else:
        metrics = _vqe_metrics(declared, circuits, theta, extra)
        baseline, test_outputs = {}, None

    separate = trainer is not declared
    shots_used = declared.shots_used + (trainer.shots_used if separate else 0)
    executions = declared.executions + (trainer.executions if separate else 0)
    losses = [r.loss for r in history]
    device = _device_with_layout(backend.info, declared, spec.circuit.qubits, backend)
    return TrainingResult(
        task=spec.task,
        parameters=np.concatenate([theta, output]),
        parameter_names=[p.name for p in circuits.weights] + (readout.names if readout is not None else []),
        initial_parameters=np.concatenate([x0[:weights], readout.stored(x0[weights:])]) if readout is not None else x0,
        metrics=metrics,
        history=history,
        circuit=circuits.circuit,
        transpiled=declared.transpiled,
        observable=circuits.observable,
        device=device,
        estimate=estimate if estimate is not None else estimate_resources(experiment, read=read),
        shots_used=int(shots_used),
        execution_seconds=time.perf_counter() - start,
        iterations=len(history),
        converged_iteration=int(np.argmin(losses)) + 1 if losses else 0,
        preprocessing=split.preprocessing if split else None,
        data=split.summary if split else None,
        baseline=baseline,
        baseline_name=spec.baseline if split else None,
        test_outputs=test_outputs,
        extra=extra | {"circuit_executions": executions},
    )


def _evaluate_split(evaluator: Evaluator, split: Split, theta: np.ndarray) -> np.ndarray:
    features = np.concatenate([split.x_train, split.x_test])
    index = np.arange(len(features))
    return evaluator.expectations(features, np.tile(theta, (len(features), 1)), index)


def _classification_metrics(evaluator: Evaluator, split: Split, theta: np.ndarray, readout: Readout,
                            output: np.ndarray, loss_name: str | None,
                            ) -> tuple[dict[str, float], tuple[np.ndarray, np.ndarray]]:
    values = _evaluate_split(evaluator, split, theta)
    train_values, test_values = values[: len(split.y_train)], values[len(split.y_train):]
    # the head reads the trained output parameters; fixed ones it knows already
    trained = np.array([dict(zip(("scale", "bias"), output, strict=False))[name] for name in readout.trained])
    loss, _, _, train_metrics = LossHead(split.y_train, readout, loss_name or "cross_entropy")(train_values, trained)
    _, _, _, test_metrics = LossHead(split.y_test, readout, loss_name or "cross_entropy")(test_values, trained)
    return {
        "train_accuracy": train_metrics["train_accuracy"],
        "test_accuracy": test_metrics["train_accuracy"],
        "loss": loss,
    }, (train_values, test_values)


def _vqe_metrics(evaluator: Evaluator, circuits: Circuits, theta: np.ndarray,
                 extra: dict[str, Any]) -> dict[str, float]:
    energy = float(evaluator.expectations(np.zeros((0, 0)), theta[None, :], np.zeros(1, dtype=np.int64))[0])
    energy += circuits.constant
    metrics = {"energy": energy, "loss": energy}
    if circuits.num_qubits <= EXACT_GROUND_MAX_QUBITS:
        ground_energy, ground_space = exact_ground_state(circuits)
        state = ExactEvaluator(circuits).states(np.zeros((0, 0)), theta[None, :], np.zeros(1, dtype=np.int64))[0]
        overlap = ground_space.conj().T @ state
        metrics["energy_error"] = abs(energy - ground_energy)
        metrics["fidelity"] = float(np.real(np.vdot(overlap, overlap)))
        extra["exact_ground_energy"] = ground_energy
        extra["ground_degeneracy"] = int(ground_space.shape[1])
    else:
        extra["exact_reference"] = (f"none: {circuits.num_qubits} qubits is above the {EXACT_GROUND_MAX_QUBITS} "
                                    "up to which the ground state is computed exactly")
    return metrics


#: Eigenvalues closer than this to the lowest belong to the ground space.
DEGENERACY_TOLERANCE = 1e-9

#: Relative accuracy of the quick check for a further ground vector (ARPACK's ``tol``).
ROUGH_TOLERANCE = 1e-6

#: Lanczos vectors of the sparse ground-state solve (``ncv``; ``estimate.LANCZOS_VECTORS`` counts them).
KRYLOV = 40


def exact_ground_state(circuits: Circuits) -> tuple[float, np.ndarray]:
    """Lowest eigenvalue (with the constant) and an orthonormal basis of its eigenspace.

    Dense ``eigh`` up to ``DENSE_GROUND_MAX_QUBITS``; above, Lanczos (``eigsh``) on the sparse
    Pauli matrix, asking for more eigenpairs while all of them are degenerate, then checking the
    orthogonal complement of the space found (Lanczos can miss a copy of a degenerate eigenvalue).
    """
    if circuits.num_qubits <= DENSE_GROUND_MAX_QUBITS:
        matrix = circuits.observable.to_matrix()
        values, vectors = np.linalg.eigh(matrix)
        degenerate = np.abs(values - values[0]) < DEGENERACY_TOLERANCE
        return float(values[0]) + circuits.constant, vectors[:, degenerate]
    with single_threaded_blas():
        lowest, space = _sparse_ground_space(circuits)
    return lowest + circuits.constant, space


def _sparse_ground_space(circuits: Circuits) -> tuple[float, np.ndarray]:
    from scipy.sparse.linalg import LinearOperator, eigsh

    sparse = circuits.observable.to_matrix(sparse=True).tocsr()
    if not np.any(sparse.data.imag):  # an even number of Y in every term: a real symmetric matrix
        sparse = sparse.real.tocsr()
    dim = sparse.shape[0]
    start = np.random.default_rng(0).uniform(-1.0, 1.0, dim).astype(sparse.dtype)  # repeatable
    # One eigenpair at a time (much faster in ARPACK than several at once), each solve on the matrix
    # plus a penalty on the space found so far: above the spectrum's width, it leaves the complement
    # lowest, so a degenerate copy that one Lanczos run missed is the next solve's answer.
    penalty = 2.0 * float(np.sum(np.abs(circuits.observable.coeffs))) + 1.0
    space = np.zeros((dim, 0), dtype=sparse.dtype)
    lowest = np.inf
    while space.shape[1] < dim - 1:
        basis = space

        def deflated(v: np.ndarray, basis: np.ndarray = basis) -> np.ndarray:
            v = np.asarray(v).reshape(-1)
            return np.asarray(sparse @ v + penalty * (basis @ (basis.conj().T @ v)))

        operator = LinearOperator((dim, dim), matvec=deflated, dtype=sparse.dtype) if basis.shape[1] else sparse
        if basis.shape[1]:
            # Is the complement's lowest clearly above? A loose solve says so quickly when the gap is
            # wide; the Ritz value is an upper bound within tol * |value| of the eigenvalue.
            (rough,), _ = eigsh(operator, k=1, which="SA", tol=ROUGH_TOLERANCE, v0=start, ncv=min(dim, KRYLOV))
            if rough - ROUGH_TOLERANCE * abs(rough) - lowest >= DEGENERACY_TOLERANCE:
                break
        (value,), vector = eigsh(operator, k=1, which="SA", tol=0, v0=start, ncv=min(dim, KRYLOV))
        if space.shape[1] and abs(value - lowest) >= DEGENERACY_TOLERANCE:
            break
        lowest = min(lowest, float(value))
        vector = vector[:, 0] - space @ (space.conj().T @ vector[:, 0])
        space = np.column_stack([space, vector / np.linalg.norm(vector)])
    return lowest, space


def _check_shift_rule(circuits: Circuits) -> None:
    # The +-pi/2 parameter-shift gradient is exact only when each weight is the bare angle of one
    # Pauli rotation; the ansätze qspec builds satisfy this, and this guards future ones.
    weights = set(circuits.weights)
    uses: dict[Any, int] = {}
    for instruction in circuits.circuit.data:
        for param in instruction.operation.params:
            for p in getattr(param, "parameters", ()):
                if p in weights:
                    if instruction.operation.name not in ("rx", "ry", "rz") or param != p:
                        raise ValueError(f"weight {p.name} is not a bare Pauli-rotation angle")
                    uses[p] = uses.get(p, 0) + 1
    if any(count != 1 for count in uses.values()):
        raise ValueError("every weight must appear in exactly one rotation for the parameter-shift rule")


def _device_with_layout(info: DeviceInfo, evaluator: Evaluator, qubits: int, backend: Any) -> DeviceInfo:
    """The device record, its calibration narrowed to the physical qubits the circuit runs on."""
    if info.calibration is None or evaluator.transpiled is None:
        return info
    layout = physical_qubits(evaluator.transpiled)
    if layout is None:
        return info
    used = layout[:qubits]
    device = backend.target_backend
    calibration = device_calibration(device, used) if device is not None else dict(info.calibration)
    calibration["layout"] = used
    return DeviceInfo(info.target, info.provider, info.device, info.simulator, info.noise, calibration)
