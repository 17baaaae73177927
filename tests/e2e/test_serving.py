"""Serving declared per stage, end to end on a real store, a real git repository and a real
``mlflow models serve``: a change of ``serving`` is a plan item applied without retraining, and
``qspec serve`` answers ``/invocations`` with exactly the predictions ``qspec predict`` gives."""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from qspec import tags as tag
from qspec.registry.testing import client_for
from tests.e2e.lifecycle import run_count, versions
from tests.servers import clean_env, free_port, invoke, start, stop, wait_until_up

pytestmark = pytest.mark.slow

SERVING = "serving: {target: aer, shots: null, replicas: {min: 1, max: 2}, resources: {cpu: 500m, memory: 1Gi}}"
IRIS = (Path(__file__).parent / "specs" / "iris.yaml").read_text().replace(
    "production: {ref: v1.0}", f"production: {{track: HEAD, {SERVING}}}")


def rows_csv(path: Path) -> tuple[Path, list[str], list[list[float]]]:
    """Twelve iris rows of both classes, raw features as scikit-learn names them, and a column the model ignores."""
    from sklearn.datasets import load_iris

    data = load_iris(as_frame=True)
    frame = data.frame[data.frame["target"] < 2].iloc[::9].reset_index(drop=True)
    features = list(data.feature_names)
    frame.rename(columns={"target": "true_label"}).to_csv(path, index=False)
    return path, features, frame[features].to_numpy(dtype=float).tolist()


def test_serving_change_is_planned_and_applied_without_retraining_and_served_as_predicted(
        spec_repo, run_cli, tmp_path: Path) -> None:
    repo, uri = spec_repo({"specs/iris.yaml": IRIS})
    client = client_for(uri)
    assert run_cli("apply", "--auto-approve").code == 0
    record = client.get_registered_model("iris-classifier").tags[tag.serving_record("production")]
    assert json.loads(record) == {"target": "aer", "shots": None, "replicas": {"min": 1, "max": 2},
                                  "resources": {"cpu": "500m", "memory": "1Gi"}}
    assert tag.serving_record("staging") not in client.get_registered_model("iris-classifier").tags
    assert run_cli("plan", "--detailed-exitcode").code == 0
    assert run_count(client) == 1

    # A change of serving only: one update-serving item, field by field, no training.
    repo.write("specs/iris.yaml", IRIS.replace("replicas: {min: 1, max: 2}", "replicas: {min: 2, max: 4}")
               .replace("memory: 1Gi", "memory: 2Gi"))
    repo.commit("scale production")
    plan = run_cli("plan", "--detailed-exitcode")
    assert plan.code == 2, plan.err
    assert "update-serving" in plan.out and "iris-classifier@production" in plan.out
    assert "replicas.max: 2 -> 4" in plan.out and "resources.memory: 1Gi -> 2Gi" in plan.out
    assert "0 to train, 0 to register, 1 to change" in plan.out
    assert run_cli("status", "--check").code == 2
    saved = tmp_path / "serving.plan"  # through a saved plan: the item round-trips
    assert run_cli("plan", "-out", str(saved)).code == 0
    applied = run_cli("apply", str(saved))
    assert applied.code == 0, applied.err
    assert run_count(client) == 1 and versions(client, "iris-classifier") == [1]
    record = client.get_registered_model("iris-classifier").tags[tag.serving_record("production")]
    assert json.loads(record)["replicas"] == {"min": 2, "max": 4}
    assert run_cli("status", "--check").code == 0

    # qspec serve: a real mlflow models serve of models:/iris-classifier@production.
    csv, features, rows = rows_csv(tmp_path / "rows.csv")
    predicted = run_cli("predict", "iris-classifier@production", "--input", str(csv), "--format", "json")
    assert predicted.code == 0, predicted.err
    expected = json.loads(predicted.out)
    port = free_port()
    log = tmp_path / "serve.log"
    env = clean_env(MLFLOW_TRACKING_URI=uri, PYTHONPATH=os.pathsep.join(sys.path))
    process = start([sys.executable, "-m", "qspec.cli.main", "serve", "iris-classifier", "--stage", "production",
                     "--port", str(port)], log, env)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/ping", process, log)
        served = invoke(f"http://127.0.0.1:{port}", features, rows)
    finally:
        stop(process)
    assert len(expected) == len(rows) == 12
    assert served == expected, (served, expected)  # labels and every digit of the probabilities
    assert {r["label"] for r in served} == {0, 1}
    assert "serving models:/iris-classifier@production (v1)" in log.read_text()
    # The server went down with qspec serve (its signals are forwarded to the server's process group).
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2)
    assert pd.read_csv(csv).shape == (12, 5)


def test_serve_errors_exit_1_with_a_hint(spec_repo, run_cli) -> None:
    repo, _ = spec_repo({"specs/iris.yaml": IRIS})
    cases = [
        (("serve", "iris-classifer"), "no Deployment named 'iris-classifer'", "did you mean 'iris-classifier'"),
        (("serve", "iris-classifier", "--stage", "prod"), "has no stage 'prod'", "its stages: staging, production"),
        (("serve", "iris-classifier", "--stage", "staging"), "declares no serving block", "serving: {target: aer"),
        (("serve", "iris-classifier"), "registered model 'iris-classifier' does not exist", "qspec apply"),
    ]
    ibm = (IRIS.replace("target: aer, shots: null", "target: 'ibm:ibm_torino', shots: 1024")
           .replace("iris-classifier", "iris-on-ibm").replace("iris-vqc", "iris-ibm"))
    ibm_file = repo.write("specs/ibm.yaml", ibm)  # serving on IBM hardware: the account is needed here
    cases.append((("serve", "iris-on-ibm"), "no IBM Quantum account", "QISKIT_IBM_TOKEN"))
    for args, message, hint in cases:
        result = run_cli(*args)
        assert result.code == 1, (args, result.err)
        assert message in result.err and hint in result.err and "Traceback" not in result.err, result.err
    ibm_file.unlink()
    # A stage declared in git but not applied yet has no alias to serve.
    assert run_cli("apply", "--auto-approve").code == 0
    canary = f"    staging: {{track: HEAD}}\n    canary: {{track: HEAD, {SERVING}}}\n"
    repo.write("specs/iris.yaml", IRIS.replace("    staging: {track: HEAD}\n", canary))
    result = run_cli("serve", "iris-classifier", "--stage", "canary")
    assert result.code == 1
    assert "iris-classifier@canary is not set" in result.err and "hint: run qspec apply" in result.err
