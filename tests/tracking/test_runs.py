"""A training run as MLflow records it: tags, params, metric series, artifacts, batching, failures.

Every test trains with the real engine and logs to a real SQLite MLflow store in ``tmp_path``.
"""

from __future__ import annotations

import inspect
import json
import math
from collections import Counter
from pathlib import Path

import pytest

from qspec.errors import BackendError, TrackingError
from tests.tracking.conftest import IRIS_TINY, TrainedModel, h2_experiment, train_in_run, write_spec


def all_artifacts(client, run_id: str, path: str | None = None) -> set[str]:  # type: ignore[no-untyped-def]
    found: set[str] = set()
    for item in client.list_artifacts(run_id, path):
        found |= all_artifacts(client, run_id, item.path) if item.is_dir else {item.path}
    return found


def test_run_records_tags_params_metric_series_and_artifacts(iris_model: TrainedModel) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(iris_model.uri)
    run = client.get_run(iris_model.run_id)
    loaded = iris_model.loaded

    assert run.info.status == "FINISHED"
    assert run.info.run_name == f"iris-tiny-{loaded.hash[:8]}"  # type: ignore[attr-defined]
    assert client.get_experiment(run.info.experiment_id).name == "iris-tiny"
    tags = run.data.tags
    assert tags["qspec.spec_hash"] == loaded.hash  # type: ignore[attr-defined]
    assert tags["qspec.spec_name"] == "iris-tiny"
    assert tags["qspec.spec_path"] == "specs/iris-tiny.yaml"
    assert tags["qspec.git_commit"] == "0" * 40
    assert tags["qspec.managed"] == "true"
    assert tags["quantum.framework"] == "qiskit"
    assert tags["quantum.provider"] == "aer"
    assert tags["quantum.device"] == "aer_simulator"
    assert tags["quantum.type"] == "simulator"
    assert tags["qspec.label.team"] == "qml"

    params = run.data.params
    expected = {
        "quantum.qubits": "2", "quantum.layers": "1", "quantum.ansatz": "real_amplitudes",
        "quantum.ansatz.reps": "1", "quantum.feature_map": "angle", "quantum.shots": "exact",
        "quantum.target": "aer", "quantum.noise": "none", "quantum.optimizer": "adam",
        "quantum.optimizer.maxiter": "12", "quantum.optimizer.learning_rate": "0.3",
        "quantum.backend.seed": "42", "quantum.training.seed": "42", "quantum.data.seed": "7",
        "quantum.parameter_count": "6",  # 4 circuit weights, the output scale and bias
    }
    assert {k: params.get(k) for k in expected} == expected
    assert int(params["quantum.circuit_depth"]) > 0
    assert any(k.startswith(("quantum.transpiled.gates.", "quantum.circuit.gates.")) for k in params)
    assert params["quantum.data.fingerprint"].startswith("sha256:")

    metrics = run.data.metrics
    for name in ("train_accuracy", "test_accuracy", "loss", "baseline.test_accuracy", "baseline.train_accuracy",
                 "quantum.execution_seconds", "quantum.shots_used", "quantum.cost.usd", "quantum.cost.circuits",
                 "test_outputs.mean", "test_outputs.std", "test_outputs.min", "test_outputs.max"):
        assert name in metrics, name
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    iterations = int(metrics["quantum.iterations"])
    assert iterations == 12
    for series in ("training.loss", "training.gradient_norm", "training.parameter_norm", "training.train_accuracy"):
        history = client.get_metric_history(iris_model.run_id, series)
        assert [m.step for m in sorted(history, key=lambda m: m.step)] == list(range(1, iterations + 1)), series

    artifacts = all_artifacts(client, iris_model.run_id)
    for path in ("spec/normalized.json", "circuit/circuit.txt", "circuit/circuit.qpy", "circuit/circuit.qasm",
                 "circuit/trained.qasm", "parameters/parameters.json", "parameters/parameters.npy",
                 "data/data.json", "device/device.json", "device/noise_model.json", "device/calibration.json",
                 "results/results.json", "results/history.csv", "plots/training_curve.png",
                 "plots/baseline_comparison.png"):
        assert path in artifacts, path

    local = Path(client.download_artifacts(iris_model.run_id, ""))
    spec = json.loads((local / "spec/normalized.json").read_text())
    assert spec["spec_hash"] == loaded.hash  # type: ignore[attr-defined]
    assert spec["resource"]["spec"]["training"]["optimizer"]["maxiter"] == 12
    assert (local / "circuit/circuit.qasm").read_text().startswith("OPENQASM 3")
    data = json.loads((local / "data/data.json").read_text())
    assert data["n_train"] + data["n_test"] == 100 and data["n_features"] == 2
    assert (local / "plots/training_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    from qiskit import qpy

    with (local / "circuit/circuit.qpy").open("rb") as handle:
        circuit = qpy.load(handle)[0]
    assert circuit.num_qubits == 2 and circuit.num_parameters == 2 + 4


def test_model_version_carries_identity_and_quantum_metadata(iris_model: TrainedModel) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(iris_model.uri)
    version = client.get_model_version_by_alias(iris_model.model_name, iris_model.alias)
    assert str(version.version) == iris_model.version
    assert version.run_id == iris_model.run_id
    tags = version.tags
    assert tags["qspec.spec_hash"] == iris_model.loaded.hash  # type: ignore[attr-defined]
    assert tags["qspec.spec_name"] == "iris-tiny"
    assert tags["qspec.managed"] == "true"
    assert tags["qspec.deployment"] == "test"  # the caller's tags are added
    assert tags["quantum.framework"].startswith("qiskit ")
    assert tags["quantum.qubits"] == "2"
    assert tags["quantum.parameter_count"] == "6"
    assert int(tags["quantum.circuit_depth"]) > 0
    assert tags["quantum.provider"] == "aer" and tags["quantum.device"] == "aer_simulator"
    assert tags["quantum.optimizer"] == "adam"
    assert tags["quantum.training_shots"] == "exact"
    assert 0 <= float(tags["quantum.final_accuracy"]) <= 1
    assert 1 <= int(tags["quantum.iterations_to_converge"]) <= 12
    assert client.get_registered_model(iris_model.model_name).tags["qspec.managed"] == "true"


class StoreCalls:
    """Counts the requests that reach the real SQL tracking store, by method name."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        self.counts: Counter[str] = Counter()
        for name in dir(SqlAlchemyStore):
            method = inspect.getattr_static(SqlAlchemyStore, name)
            # sanitize_metric_value is a per-value helper, not a request to the database.
            if name.startswith("_") or name == "sanitize_metric_value" or not inspect.isfunction(method):
                continue
            monkeypatch.setattr(SqlAlchemyStore, name, self._counting(name, method))

    def _counting(self, name, method):  # type: ignore[no-untyped-def]
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            self.counts[name] += 1
            return method(*args, **kwargs)

        return wrapper

    def total(self) -> int:
        return sum(self.counts.values())


def test_a_200_iteration_training_makes_o1_batched_calls(repo: Path, store_uri: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from qspec.tracking.runs import FLUSH_METRICS

    counts = {}
    for maxiter in (20, 200):
        loaded = h2_experiment(repo, maxiter)
        with monkeypatch.context() as patch:
            calls = StoreCalls(patch)
            seen: list[int] = []
            run_id = train_in_run(loaded, tracking_uri=store_uri, root=repo,
                                   progress=lambda r, seen=seen: seen.append(r.iteration))
        assert seen == list(range(1, maxiter + 1))  # the caller's progress callback still sees every iteration
        counts[maxiter] = calls.counts
        from mlflow import MlflowClient

        history = MlflowClient(store_uri).get_metric_history(run_id, "training.energy")
        assert len(history) == maxiter

    long, short = counts[200], counts[20]
    print("store requests, 200 iterations:", dict(long), "20 iterations:", dict(short))
    # Per-iteration metrics: 6 series (loss, energy, gradient and parameter norms, evaluations,
    # elapsed) x 200 iterations = 1200 values, i.e. ceil(1200 / 1000) = 2 requests; the other
    # log_batch requests (params, final metrics, tags, the model's metrics) do not grow with iterations.
    per_iteration_values = 6 * 200
    assert long["log_metric"] == 0
    assert long["log_batch"] - short["log_batch"] == math.ceil(per_iteration_values / FLUSH_METRICS) - 1
    # Ten times the iterations costs (almost) no extra requests: nothing is sent per iteration.
    assert sum(long.values()) - sum(short.values()) <= 3, (long, short)
    assert sum(long.values()) < 200 / 2


def test_a_run_uploads_its_spec_once_and_measures_its_circuit_once(repo: Path, store_uri: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow import MlflowClient
    from qiskit import QuantumCircuit

    from qspec.tracking import runs

    uploads: list[set[str]] = []
    upload = MlflowClient.log_artifacts

    def counting_upload(self, run_id, local_dir, artifact_path=None):  # type: ignore[no-untyped-def]
        uploads.append({p.relative_to(local_dir).as_posix() for p in Path(local_dir).rglob("*") if p.is_file()})
        return upload(self, run_id, local_dir, artifact_path)

    work: Counter[str] = Counter()
    result_params, decompose = runs.result_params, QuantumCircuit.decompose

    def counting_decompose(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        work["decompose"] += 1
        return decompose(self, *args, **kwargs)

    def counting_result_params(result):  # type: ignore[no-untyped-def]
        work["result_params"] += 1
        with monkeypatch.context() as inner:
            inner.setattr(QuantumCircuit, "decompose", counting_decompose)
            return result_params(result)

    monkeypatch.setattr(MlflowClient, "log_artifacts", counting_upload)
    monkeypatch.setattr(runs, "result_params", counting_result_params)
    loaded = h2_experiment(repo, 20)
    run_id = train_in_run(loaded, tracking_uri=store_uri, root=repo)

    # The spec goes up once, when the run opens; the results' upload does not carry it again.
    assert [files for files in uploads if "spec/normalized.json" in files] == [{"spec/normalized.json"}]
    assert work == {"result_params": 1, "decompose": 1}
    client = MlflowClient(store_uri)
    run = client.get_run(run_id)
    assert client.get_logged_model(run.data.tags["qspec.model_id"]).params == run.data.params


def test_unwritable_artifact_store_fails_the_run_before_training(repo: Path, store_uri: str) -> None:
    from mlflow import MlflowClient


    loaded = write_spec(repo, "iris-tiny", IRIS_TINY)
    blocker = repo / "not-a-directory"
    blocker.write_text("a file where the artifact directory should be")
    client = MlflowClient(store_uri)
    client.create_experiment("iris-tiny", artifact_location=(blocker / "artifacts").as_uri())
    trained: list[str] = []

    def train(*args, **kwargs):  # type: ignore[no-untyped-def]
        trained.append("called")
        raise AssertionError("training must not start when artifacts cannot be stored")

    with pytest.raises(TrackingError) as caught:
        train_in_run(loaded, tracking_uri=store_uri, root=repo, train=train)

    message = str(caught.value)
    assert "cannot write the artifacts of run" in message
    assert "not-a-directory" in message
    assert "hint:" in message
    assert trained == []
    (run,) = client.search_runs([client.get_experiment_by_name("iris-tiny").experiment_id])
    assert run.info.status == "FAILED"
    assert "cannot write the artifacts" in run.data.tags["qspec.error"]
    assert run.data.tags["qspec.spec_hash"] == loaded.hash
    assert run.info.end_time is not None


@pytest.mark.parametrize(
    ("error", "expected", "status"),
    [
        (RuntimeError("optimizer diverged"), TrackingError, "FAILED"),
        (BackendError("no IBM token", hint="set QISKIT_IBM_TOKEN"), BackendError, "FAILED"),
        (KeyboardInterrupt(), KeyboardInterrupt, "KILLED"),
    ],
)
def test_an_engine_failure_ends_the_run_not_running(repo: Path, store_uri: str, error: BaseException, expected: type,
                                                    status: str) -> None:
    from mlflow import MlflowClient

    from qspec.tracking.runs import ITERATION_PREFIX

    loaded = write_spec(repo, "iris-tiny", IRIS_TINY)

    def train(experiment, *, root, read, progress):  # type: ignore[no-untyped-def]
        from qspec.quantum.result import IterationRecord

        progress(IterationRecord(iteration=1, loss=0.7, parameter_norm=1.0, elapsed=0.1))
        raise error

    with pytest.raises(expected) as caught:
        train_in_run(loaded, tracking_uri=store_uri, root=repo, train=train)
    if expected is TrackingError:
        assert "optimizer diverged" in str(caught.value) and "marked FAILED" in str(caught.value)

    client = MlflowClient(store_uri)
    (run,) = client.search_runs([client.get_experiment_by_name("iris-tiny").experiment_id])
    assert run.info.status == status
    assert run.data.tags["qspec.error"]  # why it failed, readable in the UI
    # the training curve up to the failure is kept: it is what explains a divergence
    history = client.get_metric_history(run.info.run_id, ITERATION_PREFIX + "loss")
    assert [(m.step, m.value) for m in history] == [(1, 0.7)]


def test_log_training_records_a_result_made_elsewhere(repo: Path, store_uri: str) -> None:
    from mlflow import MlflowClient

    from qspec.quantum import train
    from qspec.tracking.runs import log_training

    loaded = h2_experiment(repo, 20)
    result = train(loaded.resource, root=repo)
    run_id = log_training(loaded, result, tracking_uri=store_uri, git_commit="abc1234", git_dirty=True)
    run = MlflowClient(store_uri).get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["qspec.git_dirty"] == "true"
    assert run.data.metrics["energy"] == pytest.approx(result.metrics["energy"])
    assert run.data.metrics["fidelity"] == pytest.approx(result.metrics["fidelity"])
    assert "energy_error" in run.data.metrics
    # VQE's classical baseline is the exact ground state, from diagonalizing the Hamiltonian.
    assert run.data.metrics["baseline.energy"] == pytest.approx(result.extra["exact_ground_energy"])
    assert run.data.metrics["energy"] - run.data.metrics["baseline.energy"] == pytest.approx(
        result.metrics["energy_error"])
    assert run.data.params["quantum.readout"] == "hamiltonian"


def test_a_fake_device_run_records_its_noise_calibration_and_isa_circuit(repo: Path, store_uri: str) -> None:
    from mlflow import MlflowClient

    from qspec.tracking.predict import predict_from_registry

    text = (IRIS_TINY.replace("name: iris-tiny", "name: iris-manila")
            .replace("backend: {target: aer, shots: null, seed: 42}",
                     "backend: {target: 'fake:manila', shots: 256, seed: 3}")
            .replace("{name: adam, learning_rate: 0.3, maxiter: 12}", "{name: spsa, maxiter: 3}"))
    loaded = write_spec(repo, "iris-manila", text)
    run_id = train_in_run(loaded, tracking_uri=store_uri, root=repo)
    client = MlflowClient(store_uri)
    run = client.get_run(run_id)
    assert run.data.tags["quantum.provider"] == "ibm-fake"
    assert run.data.tags["quantum.device"] == "manila"
    assert run.data.params["quantum.shots"] == "256"
    assert int(run.data.params["quantum.transpiled.depth"]) > 0
    assert "quantum.transpiled.gates.sx" in run.data.params  # counted on the device's basis gates
    assert run.data.metrics["quantum.shots_used"] > 0
    assert run.data.metrics["quantum.calibration.median.t1"] > 0

    local = Path(client.download_artifacts(run_id, ""))
    calibration = json.loads((local / "device/calibration.json").read_text())
    assert calibration["device"] == "fake_manila"
    assert {"t1", "t2", "readout_error"} <= set(calibration["qubits"][0])
    assert calibration["gate_errors"]["cx"]
    noise = json.loads((local / "device/noise_model.json").read_text())
    assert noise["from_device"] == "manila"
    assert (local / "circuit/transpiled.qpy").stat().st_size > 0
    assert "sx" in (local / "circuit/transpiled.qasm").read_text()

    # The model runs with the spec's shots and seed by default: repeatable, and close to exact.
    import pandas as pd

    rows = pd.DataFrame([[5.0, 3.4, 1.5, 0.2], [6.0, 2.8, 4.5, 1.4]],
                        columns=["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"])
    model = f"models:/{run.data.tags['qspec.model_id']}"
    sampled = predict_from_registry(model, rows, tracking_uri=store_uri)
    again = predict_from_registry(model, rows, tracking_uri=store_uri, mode="shots")
    exact = predict_from_registry(model, rows, tracking_uri=store_uri, mode="exact")
    assert sampled.equals(again)
    assert (sampled["expectation"] - exact["expectation"]).abs().max() < 0.25
