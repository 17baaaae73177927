"""Fixtures of the tracking tests: tiny real specs, one trained model, and the two compositions a
caller of tracking writes (train inside a tracked run; register through the registry adapter).

Trainings use the real engine on specs small enough to train in about a second (two qubits,
exact statevector, few iterations). The iris model is trained, registered and aliased once per
session, because several tests read the same run from different sides (client, fresh process,
CLI).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import example_text

if TYPE_CHECKING:
    from qspec.quantum.result import IterationRecord, TrainingResult

IRIS_TINY = """\
# Two iris classes, four raw features reduced to two by PCA, a two-qubit circuit trained exactly.
apiVersion: qspec/v1
kind: Experiment
metadata:
  name: iris-tiny
  description: A two-qubit iris classifier small enough for unit tests
  labels: {team: qml}
spec:
  task: classification
  data: {source: sklearn:iris, classes: [0, 1], features: 2, test_fraction: 0.3, seed: 7}
  circuit:
    qubits: 2
    feature_map: {type: angle}
    ansatz: {type: real_amplitudes, reps: 1}
  backend: {target: aer, shots: null, seed: 42}
  training:
    optimizer: {name: adam, learning_rate: 0.3, maxiter: 12}
    seed: 42
  baseline: logistic_regression
"""


def write_spec(root: Path, name: str, text: str):  # type: ignore[no-untyped-def]
    """Write one spec file into a repository at ``root`` and load it as the engine sees it."""
    from qspec.spec import load_specs

    path = root / "specs" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    specs = load_specs([path], root=root)
    return next(iter(specs.experiments.values()))


def h2_experiment(root: Path, maxiter: int):  # type: ignore[no-untyped-def]
    """The example H2 experiment (specs/h2-vqe.yaml: its Hamiltonian is the source of truth), written
    into ``root`` as ``h2-<maxiter>`` and trained for exactly ``maxiter`` Adam iterations."""
    experiment = example_text("h2-vqe.yaml").split("\n---\n")[0]  # without its Model and Deployment
    name = f"h2-{maxiter}"
    for old, new in (("name: h2-vqe", f"name: {name}"),
                     ("{name: l_bfgs_b, maxiter: 200}", f"{{name: adam, learning_rate: 0.05, maxiter: {maxiter}}}")):
        assert old in experiment, f"specs/h2-vqe.yaml no longer says {old!r}"
        experiment = experiment.replace(old, new)
    return write_spec(root, name, experiment)


def train_in_run(loaded: Any, *, root: Path, tracking_uri: str | None = None, git_commit: str | None = None,
                 progress: Callable[[IterationRecord], None] | None = None,
                 train: Callable[..., TrainingResult] | None = None) -> str:
    """Train ``loaded`` with the engine inside a tracked run, as ``qspec apply`` composes the two; the run id.

    ``progress`` also sees every iteration; ``train`` replaces ``qspec.quantum.train`` (tests inject
    failures with it).
    """
    from qspec.quantum import train as engine_train
    from qspec.store import connect
    from qspec.tracking import tracked_run

    with tracked_run(loaded, tracking=connect(tracking_uri, root=root), git_commit=git_commit) as recorder:

        def on_iteration(record: IterationRecord) -> None:
            recorder.record(record)
            if progress is not None:
                progress(record)

        result = (train or engine_train)(loaded.resource, root=root, read=None, progress=on_iteration)
        recorder.log_result(result)
    return recorder.run_id


def register(client: Any, model_name: str, run_id: str, tags: dict[str, str] | None = None) -> str:
    """Register the model of ``run_id`` as a new version of ``model_name`` the way ``qspec apply`` does:
    through ``MlflowRegistry``, with the run's descriptive tags (``version_tags``); the registered
    model is created, managed, when missing. Returns the version."""
    from qspec import tags as tag
    from qspec.registry.mlflow import MlflowRegistry
    from qspec.tracking.model import version_tags

    registry = MlflowRegistry(client, version_metadata=version_tags)
    if registry.get_model(model_name) is None:
        registry.create_model(model_name, {tag.MANAGED: tag.TRUE})
    run = registry.get_run(run_id)
    assert run is not None, run_id
    return str(registry.register_version(model_name, run, tags or {}))


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty spec repository; no MLflow URI leaks in from the environment."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    root = tmp_path / "repo"
    root.mkdir()
    return root


@dataclass(frozen=True)
class TrainedModel:
    uri: str  # tracking URI of the store
    root: Path
    run_id: str
    loaded: object  # Loaded[Experiment]
    model_name: str
    version: str
    alias: str


@pytest.fixture(scope="session")
def iris_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrainedModel]:
    """iris-tiny trained and logged once, registered as ``iris-tiny-classifier`` @staging."""
    from mlflow import MlflowClient

    from qspec.registry.testing import sqlite_store

    root = tmp_path_factory.mktemp("iris-repo")
    loaded = write_spec(root, "iris-tiny", IRIS_TINY)
    uri = sqlite_store(tmp_path_factory.mktemp("iris-store"))
    run_id = train_in_run(loaded, tracking_uri=uri, root=root, git_commit="0" * 40)
    client = MlflowClient(uri)
    version = register(client, "iris-tiny-classifier", run_id, {"qspec.deployment": "test"})
    client.set_registered_model_alias("iris-tiny-classifier", "staging", version)
    yield TrainedModel(uri, root, run_id, loaded, "iris-tiny-classifier", version, "staging")
