"""Issue 15, a shared server for real: PostgreSQL 15 behind ``mlflow server``, as a team runs it.

A throw-away cluster (``initdb`` in a temporary directory, a free port of 127.0.0.1) backs
``mlflow server --backend-store-uri postgresql+psycopg2://... --serve-artifacts``; the whole GitOps
lifecycle (tests/e2e/lifecycle.py: apply, no-op, edit, ref pin, drift heal, prune, unmanaged model
untouched) runs over HTTP, and ``mlflow models serve -m models:/iris-classifier@production`` answers
``/invocations`` with what ``qspec predict`` computes. Then the same cluster as a tracking URI of
its own: artifacts go where ``--artifact-location`` says, never to ``./mlruns``.

PostgreSQL comes from PATH or /usr/lib/postgresql/*/bin; ``make test`` installs it when missing
(scripts/ensure-postgres.sh). The servers are stopped by their PIDs whatever happens.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from qspec.registry.testing import client_for
from tests.e2e.lifecycle import SPECS, aliases, gitops_lifecycle
from tests.servers import Postgres, invoke, mlflow_server, postgres_server, serve_model, stop

pytestmark = pytest.mark.slow

MODEL = "iris-classifier"


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    with postgres_server() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def server(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with mlflow_server(tmp_path_factory.mktemp("pg-mlflow-server"), postgres.uri) as url:
        yield url


def count(postgres: Postgres, table: str, database: str = "qspec") -> int:
    import psycopg2

    with psycopg2.connect(host="127.0.0.1", port=postgres.port, user="qspec", dbname=database) as connection, \
            connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")  # a table name of this test's, never input
        return int(cursor.fetchone()[0])


def test_the_gitops_lifecycle_over_a_postgresql_backed_server_and_production_serves(
        spec_repo, run_cli, server, postgres, monkeypatch, tmp_path) -> None:
    repo, _ = spec_repo({"specs/iris.yaml": SPECS}, tag="v1.0")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)

    gitops_lifecycle(repo, server, run_cli)

    # PostgreSQL holds the registry; the artifacts are the server's; nothing was written in the repository.
    assert count(postgres, "model_versions") == 3  # iris-classifier 1 and 2, hand-made 1
    assert count(postgres, "runs") == 2
    assert not (repo.path / "mlruns").exists() and not (repo.path / ".qspec").exists()
    client = client_for(server)
    assert client.get_run(client.get_model_version(MODEL, "1").run_id).info.artifact_uri.startswith(
        "mlflow-artifacts:")

    # production (pinned to v1.0) is served straight from the registry and answers /invocations.
    import mlflow
    import pandas as pd
    from sklearn.datasets import load_iris

    from qspec import api
    from qspec.store import using_tracking_uri

    assert aliases(client, MODEL) == {"production": 1}
    with using_tracking_uri(server):
        columns = mlflow.models.get_model_info(f"models:/{MODEL}@production").signature.inputs.input_names()
    iris = load_iris()
    rows = np.vstack([iris.data[:3], iris.data[50:53]]).tolist()
    local = api.predict(f"{MODEL}@production", pd.DataFrame(rows, columns=columns), tracking_uri=server)
    process, url = serve_model(f"models:/{MODEL}@production", server, tmp_path / "serve.log")
    try:
        served = invoke(url, columns, rows)
    finally:
        stop(process)
    assert [p["label"] for p in served] == list(local["label"])
    np.testing.assert_allclose([p["probability"] for p in served], local["probability"], atol=1e-12)


def test_a_database_uri_puts_artifacts_where_it_is_told_never_in_mlruns(
        spec_repo, run_cli, postgres, monkeypatch, tmp_path) -> None:
    uri = postgres.create_database("direct")
    repo, _ = spec_repo({"specs/iris.yaml": SPECS}, tag="v1.0")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("QSPEC_ARTIFACT_LOCATION", raising=False)

    # No location said: refused before the experiment (and anything in it) exists.
    refused = run_cli("apply", "--auto-approve")
    assert refused.code == 1
    assert "--artifact-location" in refused.err and "Traceback" not in refused.err
    assert count(postgres, "experiments", "direct") == 1  # MLflow's Default, created with the schema
    assert count(postgres, "runs", "direct") == 0

    shared = tmp_path / "team-artifacts"
    applied = run_cli("apply", "--auto-approve", "--artifact-location", str(shared))
    assert applied.code == 0, applied.err
    client = client_for(uri)
    run = client.get_run(client.get_model_version(MODEL, "1").run_id)
    assert run.info.artifact_uri.startswith(shared.as_uri() + "/iris-vqc/")
    assert any(Path(shared).rglob("MLmodel"))  # the pyfunc model too, not only the run's files
    assert not (repo.path / "mlruns").exists() and not (repo.path / ".qspec").exists()
    assert run_cli("status", "--check").code == 0
