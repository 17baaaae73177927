"""The integration tier: a real ``mlflow server`` on 127.0.0.1 and a real ``mlflow models serve``.

A training is logged over HTTP (artifacts proxied by the server's ``--serve-artifacts``), its
model registered and aliased through the server, then served by ``mlflow models serve`` straight
from ``models:/<name>@<alias>`` and asked for predictions on ``/invocations``. Every process is
started in its own session, waited for with a deadline, and killed whatever the outcome.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.servers import invoke, serve_model, stop
from tests.tracking.conftest import IRIS_TINY, register, train_in_run, write_spec

pytestmark = pytest.mark.slow


def test_training_over_http_is_served_by_mlflow_models_serve(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    from qspec.quantum.data import load_dataset, split_dataset
    from qspec.tracking.predict import predict_from_registry

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    root = tmp_path / "repo"
    loaded = write_spec(root, "iris-tiny", IRIS_TINY)
    run_id = train_in_run(loaded, tracking_uri=server, root=root, git_commit="f" * 40)

    client = MlflowClient(server)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")  # proxied by the server
    assert run.data.tags["qspec.spec_hash"] == loaded.hash
    assert len(client.get_metric_history(run_id, "training.loss")) == 12
    assert {a.path for a in client.list_artifacts(run_id)} >= {"circuit", "parameters", "plots", "results", "spec"}

    version = register(client, "iris-over-http", run_id)
    client.set_registered_model_alias("iris-over-http", "production", version)
    assert client.get_model_version_by_alias("iris-over-http", "production").tags["qspec.spec_hash"] == loaded.hash

    spec = loaded.resource.spec
    split = split_dataset(spec.data, load_dataset(spec.data), spec.data.features)
    rows = split.raw_test[:6]
    names = split.dataset.feature_names
    import pandas as pd

    local = predict_from_registry("iris-over-http@production", pd.DataFrame(rows, columns=names), tracking_uri=server)

    process, url = serve_model("models:/iris-over-http@production", server, tmp_path / "serve.log")
    try:
        served = invoke(url, names, rows.tolist())
    finally:
        stop(process)

    assert [p["label"] for p in served] == list(local["label"])
    np.testing.assert_allclose([p["expectation"] for p in served], local["expectation"], atol=1e-12)
    np.testing.assert_allclose([p["probability"] for p in served], local["probability"], atol=1e-12)
