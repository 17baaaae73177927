"""The life of one training run in MLflow: start, per-iteration metrics, the full record, the end.

Tracking records a training; it does not train. ``tracked_run`` opens a run tagged with the
spec's identity (``qspec.tags``) and yields a ``RunRecorder``: whoever trains (``qspec.api``
composes it with the engine's ``qspec.quantum.train`` for ``qspec apply``) passes
``recorder.record`` as the engine's progress callback, which buffers iteration metrics, then
hands the result to ``recorder.log_result`` (params, final metrics, artifacts, the pyfunc model).
The run ends FINISHED when the block completes; any failure (the engine's, or an unwritable
artifact store) ends it FAILED (KILLED on Ctrl-C) before the error propagates, with MLflow and
file-system errors turned into ``TrackingError``, so a run never stays RUNNING.
``log_training`` records a ``TrainingResult`` that was produced elsewhere.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qspec import tags as tag
from qspec.errors import QspecError, TrackingError
from qspec.plugins.targets import run_tags as target_tags
from qspec.quantum.result import IterationRecord, TrainingResult
from qspec.secrets import mask, mask_files, mask_mapping
from qspec.spec.load import Loaded
from qspec.spec.models import Experiment
from qspec.store import Tracking, connect, mlflow_errors

if TYPE_CHECKING:
    from mlflow.entities import Metric

#: The per-iteration series are logged under this prefix, so that ``loss`` and the other names
#: of the spec language keep a single, final value that requirements and gates read.
ITERATION_PREFIX = "training."

#: A buffer is flushed when it holds this many metrics (MLflow's per-request limit is 1000) ...
FLUSH_METRICS = 1000
#: ... or when this many seconds have passed, so that a long training shows progress in the UI.
FLUSH_SECONDS = 30.0


def run_name(loaded: Loaded[Experiment]) -> str:
    """A readable run name that still identifies the spec: ``iris-vqc-1a2b3c4d``."""
    return f"{loaded.name}-{loaded.hash[:8]}"


def experiment_name(loaded: Loaded[Experiment]) -> str:
    return loaded.resource.spec.tracking.experiment_name or loaded.name


def run_tags(loaded: Loaded[Experiment], *, git_commit: str | None, git_dirty: bool = False) -> dict[str, str]:
    """Identity tags (qspec.tags) plus what the run ran on, known before anything runs."""
    import qiskit

    from qspec import __version__

    backend = loaded.resource.spec.backend
    out = {
        tag.SPEC_HASH: loaded.hash,
        tag.SPEC_NAME: loaded.name,
        tag.SPEC_PATH: loaded.file,
        tag.MANAGED: tag.TRUE,
        tag.VERSION: __version__,
        "quantum.framework": "qiskit",
        "quantum.framework_version": qiskit.__version__,
        **target_tags(backend),  # quantum.provider, quantum.device, quantum.type: what the target is
        "quantum.task": loaded.resource.spec.task,
    }
    if loaded.resource.metadata.description:
        out["mlflow.note.content"] = loaded.resource.metadata.description  # the run page's description
    for key, value in loaded.resource.metadata.labels.items():
        out[tag.LABEL_PREFIX + key] = value
    if git_commit:
        out[tag.GIT_COMMIT] = git_commit
        # MLflow's own UI shows this one on the run page.
        out["mlflow.source.git.commit"] = git_commit
    if git_dirty:
        out[tag.GIT_DIRTY] = tag.TRUE
    return out


def spec_params(loaded: Loaded[Experiment]) -> dict[str, str]:
    """``quantum.*`` params that the spec fixes (known before training)."""
    spec = loaded.resource.spec
    circuit, backend, training = spec.circuit, spec.backend, spec.training
    params: dict[str, Any] = {
        "quantum.task": spec.task,
        "quantum.qubits": circuit.qubits,
        "quantum.ansatz": circuit.ansatz.type,
        "quantum.ansatz.reps": circuit.ansatz.reps,
        "quantum.ansatz.entanglement": circuit.ansatz.entanglement,
        "quantum.layers": circuit.ansatz.reps,
        "quantum.readout": circuit.readout if spec.task == "classification" else "hamiltonian",
        "quantum.target": backend.target,
        "quantum.shots": backend.shots if backend.shots is not None else "exact",
        "quantum.noise": json.dumps(backend.noise.model_dump(exclude_none=True), sort_keys=True)
        if backend.noise else "none",
        "quantum.backend.seed": backend.seed,
        "quantum.optimization_level": backend.optimization_level,
        "quantum.training.seed": training.seed,
        "quantum.training.initial_point": training.initial_point,
    }
    for key, value in training.optimizer.model_dump(exclude_none=True).items():
        params["quantum.optimizer" if key == "name" else f"quantum.optimizer.{key}"] = value
    if spec.task == "classification":
        fmap = circuit.feature_map
        params["quantum.feature_map"] = fmap.type if fmap else "angle"
        params["quantum.feature_map.reps"] = fmap.reps if fmap else 1
        if fmap and fmap.entanglement:
            params["quantum.feature_map.entanglement"] = fmap.entanglement
        if spec.data is not None:
            params["quantum.data.source"] = spec.data.source
            params["quantum.data.classes"] = json.dumps(spec.data.classes)
            params["quantum.data.features"] = spec.data.features
            params["quantum.data.test_fraction"] = spec.data.test_fraction
            params["quantum.data.seed"] = spec.data.seed
        params["quantum.baseline"] = spec.baseline or "none"
    elif spec.hamiltonian is not None:
        params["quantum.hamiltonian.terms"] = len(spec.hamiltonian.terms)
        params["quantum.hamiltonian.constant"] = spec.hamiltonian.constant
    return {k: str(v) for k, v in params.items()}


def result_params(result: TrainingResult) -> dict[str, str]:
    """``quantum.*`` params that only the trained circuit knows: size, depth, gate counts."""
    from qspec.tracking.artifacts import first_circuit

    # The logical circuit is made of library blocks: measured on their gates, decomposed once.
    logical = result.circuit.decompose(reps=3)
    params: dict[str, Any] = {
        "quantum.parameter_count": len(result.parameter_names),
        "quantum.circuit_depth": logical.depth(),
        "quantum.circuit_size": logical.size(),
    }
    if result.data is not None:
        params["quantum.data.fingerprint"] = result.data.fingerprint
        params["quantum.data.n_train"] = result.data.n_train
        params["quantum.data.n_test"] = result.data.n_test
        params["quantum.data.raw_features"] = result.data.n_raw_features
    transpiled = first_circuit(result.transpiled)
    if transpiled is not None:
        params["quantum.transpiled.depth"] = transpiled.depth()
        params["quantum.transpiled.size"] = transpiled.size()
        for gate, count in sorted(transpiled.count_ops().items()):
            params[f"quantum.transpiled.gates.{gate}"] = count
    else:
        for gate, count in sorted(logical.count_ops().items()):
            params[f"quantum.circuit.gates.{gate}"] = count
    return {k: str(v) for k, v in params.items()}


def final_metrics(result: TrainingResult) -> dict[str, float]:
    """Final metrics under the spec language's names, the baseline, cost, and array summaries."""
    from qspec.tracking.artifacts import summarize

    metrics: dict[str, float] = {k: float(v) for k, v in result.metrics.items()}
    metrics.update({f"baseline.{k}": float(v) for k, v in result.baseline.items()})
    if result.task == "vqe" and "exact_ground_energy" in result.extra:
        # VQE's classical baseline: the exact ground-state energy, from diagonalizing the Hamiltonian.
        metrics.setdefault("baseline.energy", float(result.extra["exact_ground_energy"]))
    metrics.update({
        "quantum.execution_seconds": result.execution_seconds,
        "quantum.shots_used": result.shots_used,
        "quantum.iterations": result.iterations,
        "quantum.converged_iteration": result.converged_iteration,
        "quantum.cost.circuits": result.estimate.circuits,
        "quantum.cost.shots": result.estimate.shots or 0,
        "quantum.cost.qpu_seconds": result.estimate.qpu_seconds,
        "quantum.cost.usd": result.estimate.cost_usd,
    })
    median = (result.device.calibration or {}).get("median")
    if isinstance(median, dict):
        # The device's median T1/T2 and error rates, comparable across runs on different days.
        metrics.update({f"quantum.calibration.median.{k}": float(v) for k, v in median.items()
                        if isinstance(v, int | float) and not isinstance(v, bool)})
    if result.test_outputs is not None:
        for stat, value in summarize(result.test_outputs).items():
            metrics[f"test_outputs.{stat}"] = value
    for key, value in result.extra.items():
        metrics.update(_extra_metrics(f"extra.{key}", value))
    return {k: float(v) for k, v in metrics.items()}


def _extra_metrics(key: str, value: Any) -> dict[str, float]:
    """Scalars as they are; arrays and count dictionaries (shot counts) as mean/std/min/max."""
    import numbers

    import numpy as np

    from qspec.tracking.artifacts import summarize

    if isinstance(value, bool):
        return {}
    if isinstance(value, numbers.Real):
        return {key: float(value)}
    if isinstance(value, dict) and value and all(isinstance(v, numbers.Real) for v in value.values()):
        value = list(value.values())
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return {}
    if array.ndim == 0 or array.size == 0:
        return {}
    return {f"{key}.{stat}": v for stat, v in summarize(array).items()}


def iteration_metrics(record: IterationRecord, start_ms: int, run_id: str | None = None) -> list[Metric]:
    """The metrics of one iteration, stamped with when the iteration happened."""
    from mlflow.entities import Metric

    stamp = start_ms + int(record.elapsed * 1000)
    values: dict[str, float] = {
        "loss": record.loss,
        "parameter_norm": record.parameter_norm,
        "evaluations": float(record.evaluations),
        "elapsed_seconds": record.elapsed,
    }
    if record.gradient_norm is not None:
        values["gradient_norm"] = record.gradient_norm
    values.update(record.metrics)
    return [
        Metric(key=ITERATION_PREFIX + key, value=float(value), timestamp=stamp, step=record.iteration, run_id=run_id)
        for key, value in values.items()
    ]


@dataclass
class RunRecorder:
    """An open MLflow run: buffers iteration metrics and writes them in few ``log_batch`` calls."""

    tracking: Tracking
    run_id: str
    experiment_id: str
    loaded: Loaded[Experiment]
    start_ms: int
    artifact_uri: str
    buffer: list[Metric] = field(default_factory=list)
    last_flush: float = field(default_factory=time.monotonic)
    #: Every param logged so far; the logged model carries them too.
    params: dict[str, str] = field(default_factory=dict)

    def record(self, record: IterationRecord) -> None:
        """The progress callback: O(1) and no I/O, except one batched request now and then."""
        metrics = iteration_metrics(record, self.start_ms, self.run_id)
        # Flush before overflowing: a request over MLflow's limit would be split into two.
        if len(self.buffer) + len(metrics) > FLUSH_METRICS:
            self.flush()
        self.buffer.extend(metrics)
        if time.monotonic() - self.last_flush >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        pending, self.buffer = self.buffer, []
        with mlflow_errors(f"cannot log the metrics of run {self.run_id}", self.tracking.uri):
            self.tracking.client.log_batch(self.run_id, metrics=pending, synchronous=True)
        self.last_flush = time.monotonic()

    def log_params(self, params: dict[str, str]) -> None:
        from mlflow.entities import Param

        with mlflow_errors(f"cannot log the params of run {self.run_id}", self.tracking.uri):
            self.tracking.client.log_batch(self.run_id, params=[Param(k, v) for k, v in mask_mapping(params).items()])
        self.params.update(mask_mapping(params))

    def log_metrics(self, metrics: dict[str, float], step: int = 0) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        with mlflow_errors(f"cannot log the metrics of run {self.run_id}", self.tracking.uri):
            self.tracking.client.log_batch(
                self.run_id, metrics=[Metric(k, v, now, step) for k, v in metrics.items()]
            )

    def set_tags(self, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        with mlflow_errors(f"cannot tag run {self.run_id}", self.tracking.uri):
            self.tracking.client.log_batch(self.run_id, tags=[RunTag(k, v) for k, v in mask_mapping(tags).items()])

    def log_artifacts(self, directory: Path) -> None:
        """Upload a directory in one call (its text files masked of secrets); a failure names the artifact
        location."""
        mask_files(directory)
        with mlflow_errors(
            f"cannot write the artifacts of run {self.run_id} to {self.artifact_uri}",
            self.tracking.uri,
            hint="make the artifact store writable (or point --tracking-uri at a server with --serve-artifacts)",
        ):
            self.tracking.client.log_artifacts(self.run_id, str(directory))

    def log_result(self, result: TrainingResult) -> str:
        """Everything after training: the buffered iteration metrics, params, final metrics, artifacts,
        the model. Returns the model id."""
        from qspec.tracking.artifacts import write_run_artifacts
        from qspec.tracking.model import log_model

        self.flush()  # the training curve first, whatever the composer did

        self.log_params(result_params(result))  # the spec's own params were logged when the run opened
        # Final metrics at step 0: MLflow links a run's step-0 metrics to the model logged from it.
        self.log_metrics(final_metrics(result))
        with tempfile.TemporaryDirectory(prefix="qspec-run-") as scratch:
            write_run_artifacts(Path(scratch), self.loaded, result)
            self.log_artifacts(Path(scratch))
        model_id = log_model(self.tracking, self.run_id, self.loaded, result, experiment_id=self.experiment_id,
                             params=self.params)
        self.set_tags({tag.MODEL_ID: model_id})
        return model_id


@contextmanager
def tracked_run(
    loaded: Loaded[Experiment],
    *,
    tracking: Tracking,
    git_commit: str | None = None,
    git_dirty: bool = False,
    tags: dict[str, str] | None = None,
) -> Iterator[RunRecorder]:
    """Open a run for ``loaded``; it ends FINISHED if the block completes, FAILED if it raises.

    The spec's params and normalized spec are logged first, so that a store that refuses
    artifacts fails the run before any circuit is trained, and a failed run still says what it was.
    """
    from mlflow.entities import RunStatus

    from qspec.tracking.artifacts import write_spec

    experiment_id = tracking.experiment_id(experiment_name(loaded), tags={tag.MANAGED: "true"})
    start_ms = int(time.time() * 1000)
    with mlflow_errors(f"cannot start a run for {loaded.name}", tracking.uri):
        run = tracking.client.create_run(
            experiment_id,
            start_time=start_ms,
            tags=mask_mapping({**run_tags(loaded, git_commit=git_commit, git_dirty=git_dirty), **(tags or {})}),
            run_name=run_name(loaded),
        )
    recorder = RunRecorder(tracking, run.info.run_id, experiment_id, loaded, start_ms, run.info.artifact_uri)
    try:
        recorder.log_params(spec_params(loaded))
        with tempfile.TemporaryDirectory(prefix="qspec-spec-") as scratch:
            write_spec(Path(scratch), loaded)
            recorder.log_artifacts(Path(scratch))
        yield recorder
        recorder.flush()
    except BaseException as exc:
        status = RunStatus.KILLED if isinstance(exc, KeyboardInterrupt) else RunStatus.FAILED
        _end(recorder, RunStatus.to_string(status), error=exc)
        if isinstance(exc, QspecError) or not isinstance(exc, Exception):
            raise
        raise TrackingError(
            mask(f"training {loaded.name} failed and run {recorder.run_id} was marked FAILED: {exc}"),
            where=loaded.file,
        ) from exc
    _end(recorder, RunStatus.to_string(RunStatus.FINISHED))


def _end(recorder: RunRecorder, status: str, error: BaseException | None = None) -> None:
    """Close the run; on failure, best effort, because the store may be what failed."""
    client = recorder.tracking.client
    if error is None:
        with mlflow_errors(f"cannot end run {recorder.run_id}", recorder.tracking.uri):
            client.set_terminated(recorder.run_id, status)
        return
    try:  # keep the training curve up to the failure: it is what explains the failure
        recorder.flush()
    except Exception:  # the store itself may be what failed
        recorder.buffer.clear()
    # the tag is a courtesy; what matters is that the run stops being RUNNING
    with contextlib.suppress(Exception):
        client.set_tag(recorder.run_id, tag.ERROR, mask(str(error) or type(error).__name__)[:4000])
    with contextlib.suppress(Exception):  # a logged model whose upload failed must not stay PENDING
        query = f"source_run_id = '{recorder.run_id}'"  # MLflow's SQL store cannot filter on status
        for model in client.search_logged_models([recorder.experiment_id], filter_string=query):
            if str(model.status) == "PENDING":
                client.finalize_logged_model(model.model_id, "FAILED")
    try:
        client.set_terminated(recorder.run_id, status)
    except Exception as exc:
        raise TrackingError(
            mask(f"run {recorder.run_id} failed and could not be marked {status}: {exc}"),
            where=recorder.tracking.uri,
        ) from error


def log_training(
    loaded: Loaded[Experiment],
    result: TrainingResult,
    *,
    tracking_uri: str | None = None,
    tracking: Tracking | None = None,
    root: Path | None = None,
    git_commit: str | None = None,
    git_dirty: bool = False,
    tags: dict[str, str] | None = None,
) -> str:
    """Record a finished training as one FINISHED run (history included); returns the run id."""
    tracking = tracking or connect(tracking_uri, root=root)
    with tracked_run(loaded, tracking=tracking, git_commit=git_commit, git_dirty=git_dirty, tags=tags) as recorder:
        for record in result.history:
            recorder.record(record)
        recorder.log_result(result)
    return recorder.run_id
