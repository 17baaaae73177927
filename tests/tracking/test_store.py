"""``qspec.store``: which MLflow store qspec talks to, the embedded default inside the repository, and
MLflow's process-wide URIs; and the layering of the two MLflow adapters around it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from qspec.errors import TrackingError
from tests.tracking.conftest import h2_experiment, train_in_run


def test_explicit_uri_beats_the_environment_which_beats_the_embedded_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qspec.store import resolve_tracking_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    embedded = resolve_tracking_uri(None, root=tmp_path)
    assert embedded == "sqlite:///" + (tmp_path.resolve() / ".qspec" / "mlflow.db").as_posix()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert resolve_tracking_uri(None, root=tmp_path) == "http://127.0.0.1:5999"
    assert resolve_tracking_uri("sqlite:///x.db", root=tmp_path) == "sqlite:///x.db"


def test_the_embedded_store_lives_in_the_git_work_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from qspec.store import resolve_tracking_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / ".git").mkdir()
    (tmp_path / "specs").mkdir()
    monkeypatch.chdir(tmp_path / "specs")
    assert resolve_tracking_uri() == "sqlite:///" + (tmp_path.resolve() / ".qspec" / "mlflow.db").as_posix()


def test_a_file_store_is_refused_with_a_hint() -> None:
    from qspec.store import connect

    with pytest.raises(TrackingError) as caught:
        connect("file:///tmp/mlruns")
    assert caught.value.hint and "sqlite" in caught.value.hint


def test_training_without_a_uri_uses_the_repositorys_embedded_store(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient


    loaded = h2_experiment(repo, 20)
    monkeypatch.chdir(repo)
    run_id = train_in_run(loaded, root=repo)
    database = repo / ".qspec" / "mlflow.db"
    assert database.is_file()
    client = MlflowClient("sqlite:///" + database.as_posix())
    run = client.get_run(run_id)
    # Artifacts, the model's included, stay inside .qspec/ too, not in an mlruns/ wherever the
    # command ran (MLflow's default for a SQLite store).
    artifacts = (repo / ".qspec" / "artifacts").resolve()
    assert run.info.artifact_uri.startswith(artifacts.as_uri())
    model = client.get_logged_model(run.data.tags["qspec.model_id"])
    assert model.experiment_id == run.info.experiment_id
    assert model.artifact_location.startswith(artifacts.as_uri())
    assert model.source_run_id == run_id
    assert not (repo / "mlruns").exists()


def test_using_tracking_uri_restores_the_users_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow

    from qspec.store import using_tracking_uri

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5998")
    with using_tracking_uri("sqlite:///elsewhere.db"):
        assert mlflow.get_tracking_uri() == "sqlite:///elsewhere.db"
    assert os.environ["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5998"
    assert mlflow.get_tracking_uri() == "http://127.0.0.1:5998"


def test_using_tracking_uri_restores_unset_uris_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fails the day MLflow renames the private attributes that ``process_uris`` reads."""
    import mlflow

    from qspec.store import process_uris, using_tracking_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    before = process_uris()
    try:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
        mlflow.set_registry_uri(None)  # type: ignore[arg-type]
        assert process_uris() == (None, None)
        with using_tracking_uri("sqlite:///elsewhere.db"):
            assert process_uris() == ("sqlite:///elsewhere.db", "sqlite:///elsewhere.db")
        assert process_uris() == (None, None)
        assert not mlflow.is_tracking_uri_set()
        assert "MLFLOW_TRACKING_URI" not in os.environ and "MLFLOW_REGISTRY_URI" not in os.environ

        mlflow.set_registry_uri("sqlite:///registry.db")
        with using_tracking_uri("sqlite:///elsewhere.db"):
            assert mlflow.get_registry_uri() == "sqlite:///elsewhere.db"
        assert process_uris() == (None, "sqlite:///registry.db")
    finally:
        mlflow.set_tracking_uri(before[0])  # type: ignore[arg-type]
        mlflow.set_registry_uri(before[1])  # type: ignore[arg-type]


def test_importing_tracking_and_the_predict_command_stays_light() -> None:
    code = (
        "import sys, qspec.store, qspec.tracking, qspec.tracking.runs, qspec.tracking.model, qspec.tracking.predict, "
        "qspec.cli.predict; print(sorted(m for m in ('mlflow', 'qiskit', 'matplotlib', 'pandas') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


def test_a_database_uri_without_its_driver_is_one_error_naming_the_package(run_cli, tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    # The postgres extra installs the driver (make test does): hide it, as a machine without it would.
    monkeypatch.setitem(sys.modules, "psycopg2", None)
    (tmp_path / "specs").mkdir()
    monkeypatch.chdir(tmp_path)
    from tests.conftest import example_text

    (tmp_path / "specs" / "h2.yaml").write_text(example_text("h2-vqe.yaml"))
    result = run_cli("plan", "--tracking-uri", "postgresql://qspec:secret@127.0.0.1:1/qspec")
    assert result.code == 1
    assert "needs the Python package" in result.err and "pip install psycopg2-binary" in result.err
    assert "Traceback" not in result.err and "secret" not in result.err
