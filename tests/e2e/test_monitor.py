"""``qspec monitor`` end to end (issue 16's "Must show"): a real SQLite store, a real git repository,
a classifier trained on a fake device's noise through ``qspec apply``, then monitored by the CLI.

Same data: no drift (exit 0). Shifted data: performance drift (exit 3). A noisier device (fake:lagos,
median readout error 16.9% against manila's 2.2%) or a worsened calibration file: hardware drift
(exit 3). Each leaves a monitoring run with its tags and ``drift_analysis.json``, the version tagged
``qspec.alert``, the verdict in ``qspec status``, and the aliases where they were. Each bad input is
exit 1 with a clear error, and nothing logged.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from qspec.registry.testing import client_for
from tests.conftest import example_text
from tests.e2e.lifecycle import aliases, run_count

DEPLOYMENT = """\
---
apiVersion: qspec/v1
kind: Model
metadata: {name: iris-small}
spec:
  experiment: iris-small
  requirements: {test_accuracy: {min: 0.5}}
---
apiVersion: qspec/v1
kind: Deployment
metadata: {name: iris-small}
spec:
  model: iris-small
  stages:
    production: {track: HEAD}
  monitoring:
    accuracy: {max_drop: 0.1}
    mean_confidence: {max_drop: 0.05}
    latency_ms: {max_ratio: 1000}
    cost_usd: {max_ratio: 2}
"""


def iris(target: str) -> str:
    """A two-qubit iris classifier on ``target`` (COBYLA: one circuit row per sample per step)."""
    return f"""\
apiVersion: qspec/v1
kind: Experiment
metadata: {{name: iris-small}}
spec:
  task: classification
  data: {{source: sklearn:iris, classes: [0, 1], features: 2, test_fraction: 0.3, seed: 7}}
  circuit:
    qubits: 2
    feature_map: {{type: angle}}
    ansatz: {{type: real_amplitudes, reps: 1}}
  backend: {{target: {target}, shots: null, seed: 1}}
  training: {{optimizer: {{name: cobyla, maxiter: 25}}, seed: 1}}
""" + DEPLOYMENT


def iris_rows() -> pd.DataFrame:
    """Setosa and versicolor with their raw feature columns and a ``label`` column (0 / 1)."""
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame
    return frame[frame.target < 2].rename(columns={"target": "label"}).reset_index(drop=True)


def write_csv(path: Path, frame: pd.DataFrame) -> str:
    frame.to_csv(path, index=False)
    return str(path)


def monitoring_runs(client) -> list:
    experiments = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(experiments, filter_string="tags.`qspec.monitoring` = 'true'",
                              order_by=["attributes.start_time ASC"])


def drift_analysis(client, run_id: str, into: Path) -> dict:
    return json.loads(Path(client.download_artifacts(run_id, "drift_analysis.json", str(into))).read_text())


@pytest.mark.slow
def test_same_data_passes_shifted_data_and_noisier_hardware_alert(spec_repo, run_cli, tmp_path: Path) -> None:
    _, uri = spec_repo({"specs/iris.yaml": iris("fake:manila")})
    client = client_for(uri)
    assert run_cli("apply", "--auto-approve").code == 0
    before_aliases = aliases(client, "iris-small")
    trained_runs = run_count(client)
    saved = tmp_path / "plan.json"
    assert run_cli("plan", "-out", str(saved)).code == 0
    rows = iris_rows()
    same = write_csv(tmp_path / "same.csv", rows)

    # The same data on the noise it was trained with: every threshold holds.
    ok = run_cli("monitor", "iris-small", "--data", same, "--format", "json")
    assert ok.code == 0, ok.err
    report = json.loads(ok.out)  # JSON only on stdout
    assert report["verdict"] == "ok" and report["version"] == 1 and report["stage"] == "production"
    assert {c["metric"] for c in report["checks"]} == {"accuracy", "mean_confidence", "latency_ms", "cost_usd"}
    accuracy = next(c for c in report["checks"] if c["metric"] == "accuracy")
    training = client.get_run(report["training_run_id"])
    assert accuracy["baseline"] == training.data.metrics["test_accuracy"]  # read from MLflow, not a constant
    [run] = monitoring_runs(client)
    assert run.info.run_id == report["run_id"]
    assert run.data.tags["qspec.monitoring"] == "true"
    assert (run.data.tags["qspec.monitor.model"], run.data.tags["qspec.monitor.version"],
            run.data.tags["qspec.monitor.stage"], run.data.tags["qspec.monitor.target"]) == \
        ("iris-small", "1", "production", "fake:manila")
    assert "qspec.managed" not in run.data.tags  # never taken for a training
    assert {"accuracy", "mean_confidence", "latency_ms", "shots", "cost_usd"} <= set(run.data.metrics)
    assert run.info.experiment_id == training.info.experiment_id
    assert "qspec.alert" not in client.get_model_version("iris-small", "1").tags
    assert run_cli("plan", "--detailed-exitcode").code == 0  # a monitoring run changes no plan

    # Shifted data (the petals 1.5 cm longer): the accuracy drops, on the training noise too.
    shifted = rows.copy()
    for column in ("petal length (cm)", "petal width (cm)"):
        shifted[column] += 1.5
    drift = run_cli("monitor", "iris-small", "--stage", "production", "--data",
                    write_csv(tmp_path / "shifted.csv", shifted))
    assert drift.code == 3, drift.err
    assert drift.out.startswith("ALERT performance_drift")
    assert "DRIFT" in drift.out and "max_drop 0.1" in drift.out
    run_id = monitoring_runs(client)[-1].info.run_id
    analysis = drift_analysis(client, run_id, tmp_path / "a1")
    assert analysis["verdict"] == "performance_drift"
    failed = [c for c in analysis["checks"] if c["verdict"] != "ok"]
    assert failed and all({"metric", "baseline", "current", "threshold", "verdict"} <= set(c) for c in failed)
    assert client.get_model_version("iris-small", "1").tags["qspec.alert"] == "performance_drift"

    # A noisier device: the same data, compared with the same evaluation on manila's noise.
    noisy = run_cli("monitor", "iris-small", "--data", same, "--target", "fake:lagos")
    assert noisy.code == 3, noisy.err
    assert noisy.out.startswith("ALERT hardware_drift")
    assert "readout error 2.2% -> 16.9%" in noisy.out
    last = monitoring_runs(client)[-1]
    assert last.data.tags["qspec.monitor.target"] == "fake:lagos"
    assert last.data.tags["qspec.monitor.verdict"] == "hardware_drift"
    assert drift_analysis(client, last.info.run_id, tmp_path / "a2")["verdict"] == "hardware_drift"
    assert client.get_model_version("iris-small", "1").tags["qspec.alert"] == "hardware_drift"
    assert "calibration.json" in {a.path for a in client.list_artifacts(last.info.run_id)}

    # Today's calibration of the training device, worsened (what-if): hardware drift as well.
    from qspec.quantum.monitor import device_properties

    props = device_properties("fake:manila")
    for qubit in props["qubits"]:
        for item in qubit:
            if item["name"] in ("readout_error", "prob_meas0_prep1", "prob_meas1_prep0"):
                item["value"] = min(0.3, 8 * item["value"])
    (tmp_path / "worse.json").write_text(json.dumps(props))
    worse = run_cli("monitor", "iris-small", "--data", same, "--calibration", str(tmp_path / "worse.json"))
    assert worse.code == 3, worse.err
    assert "hardware_drift" in worse.out and "readout error 2.2% -> 17." in worse.out

    # status shows the last verdict per stage; git and the registry are still in sync.
    status = run_cli("status", "--check")
    assert status.code == 0, status.out
    assert "monitoring: ALERT hardware_drift" in status.out
    listed = json.loads(run_cli("status", "--format", "json").out)
    [production] = listed["models"][0]["aliases"]
    assert production["monitoring"]["verdict"] == "hardware_drift"
    # A plan saved before the verdicts is still the registry's: verdicts change nothing a plan does.
    assert run_cli("apply", str(saved), "--auto-approve").code == 0
    # monitor moves no alias and trains nothing: rolling back is a git change.
    assert aliases(client, "iris-small") == before_aliases
    assert run_count(client) == trained_runs + 4


@pytest.fixture
def trained(spec_repo, run_cli, tmp_path: Path):
    """iris-small trained exactly on aer (about a second), and a client on its store."""
    _, uri = spec_repo({"specs/iris.yaml": iris("aer")})
    assert run_cli("apply", "--auto-approve").code == 0
    return client_for(uri)


def _bad_files(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    rows = iris_rows().head(10)
    out: dict[str, tuple[list[str], str]] = {}

    def case(name: str, frame: pd.DataFrame | str, expected: str) -> None:
        path = tmp_path / f"{name}.csv"
        if isinstance(frame, str):
            path.write_text(frame)
        else:
            frame.to_csv(path, index=False)
        out[name] = (["--data", str(path)], expected)

    case("missing-column", rows.drop(columns=["sepal width (cm)"]), "lacks feature column sepal width (cm)")
    case("extra-column", rows.assign(id=range(len(rows))), "the model does not read: id")
    case("no-label", rows.drop(columns=["label"]), "no label column 'label'")
    case("non-numeric", rows.astype({"petal length (cm)": object}).assign(**{"petal length (cm)": "long"}),
         "'petal length (cm)' is not a number")
    case("empty", "", "is empty")
    case("header-only", ",".join(rows.columns) + "\n", "has no data rows")
    case("unknown-class", rows.assign(label=7), "not a class of the model")
    case("nan", rows.assign(**{"sepal length (cm)": float("nan")}), "not a finite number")
    return out


def test_bad_inputs_are_clear_errors_and_log_nothing(trained, run_cli, tmp_path: Path, monkeypatch) -> None:
    client = trained
    monkeypatch.delenv("QISKIT_IBM_TOKEN", raising=False)  # HOME is isolated: no saved account either
    good = write_csv(tmp_path / "good.csv", iris_rows().head(10))
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "list.json").write_text("[1, 2]")
    from qspec.quantum.monitor import device_properties

    props = tmp_path / "manila.json"
    props.write_text(json.dumps(device_properties("fake:manila")))
    cases = {
        **_bad_files(tmp_path),
        "missing-file": (["--data", str(tmp_path / "nope.csv")], "does not exist"),
        "no-data": ([], "needs new labelled data"),
        "unknown-stage": (["--data", good, "--stage", "canary"],
                          "specs/iris.yaml:26: Deployment 'iris-small' has no stage 'canary'"),
        "no-credentials": (["--data", good, "--target", "ibm:ibm_torino"], "no IBM Quantum account"),
        "unknown-target": (["--data", good, "--target", "fake:nowhere"], "unknown fake device"),
        "calibration-not-json": (["--data", good, "--calibration", str(tmp_path / "broken.json")], "as JSON"),
        "calibration-on-aer": (["--data", good, "--calibration", str(props)], "applies to fake:<device> targets"),
        "calibration-not-props": (["--data", good, "--calibration", str(tmp_path / "list.json")],
                                  "not a device properties snapshot"),
    }
    runs, model_tags = run_count(client), dict(client.get_registered_model("iris-small").tags)
    for name, (args, expected) in cases.items():
        result = run_cli("monitor", "iris-small", *args)
        assert result.code == 1, (name, result.out, result.err)
        assert expected in result.err, (name, result.err)
        assert "Traceback" not in result.err and result.out == "", name
    unknown = run_cli("monitor", "iris-smal", "--data", good)
    assert unknown.code == 1 and "no Deployment named 'iris-smal'" in unknown.err
    assert "did you mean 'iris-small'" in unknown.err
    # A stage git declares whose alias the registry does not have (not applied yet).
    client.delete_registered_model_alias("iris-small", "production")
    unset = run_cli("monitor", "iris-small", "--data", good)
    assert unset.code == 1 and "no version behind alias 'production'" in unset.err, unset.err
    client.set_registered_model_alias("iris-small", "production", "1")
    # Nothing logged: no run, no tag on the model, no alert on the version.
    assert run_count(client) == runs
    assert dict(client.get_registered_model("iris-small").tags) == model_tags
    assert "qspec.alert" not in client.get_model_version("iris-small", "1").tags
    # ... and the good file does work; in a workflow it writes the summary and the verdict output.
    outputs, summary = tmp_path / "github-output", tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert run_cli("monitor", "iris-small", "--data", good).code == 0
    assert run_count(client) == runs + 1
    assert "verdict=ok" in outputs.read_text().splitlines()
    assert summary.read_text().startswith("### qspec monitor: OK")
    # The thresholds can be read at a git revision, as every command's specs.
    assert run_cli("monitor", "iris-small", "--data", good, "--rev", "HEAD").code == 0
    assert run_count(client) == runs + 2


H2 = (example_text("h2-vqe.yaml").replace("maxiter: 200", "maxiter: 50")
      .replace("    staging: {track: HEAD}\n", "    staging: {track: HEAD}\n    production: {track: HEAD}\n")
      .replace("    energy_error: {max_increase: 0.0016}\n",
               "    energy_error: {max_increase: 0.0016}\n    latency_ms: {max_ratio: 1000}\n"))


@pytest.mark.slow
def test_vqe_is_monitored_by_its_energy_on_the_target(spec_repo, run_cli, tmp_path: Path) -> None:
    _, uri = spec_repo({"specs/h2.yaml": H2})
    client = client_for(uri)
    assert run_cli("apply", "--auto-approve").code == 0
    ok = run_cli("monitor", "h2-ground-state", "--format", "json")
    assert ok.code == 0, ok.err
    report = json.loads(ok.out)
    error = next(c for c in report["checks"] if c["metric"] == "energy_error" and c["drift"] == "performance_drift")
    assert error["baseline"] == client.get_run(report["training_run_id"]).data.metrics["energy_error"]
    assert error["current"] == pytest.approx(error["baseline"], abs=1e-9)  # exact both times
    noisy = run_cli("monitor", "h2-ground-state", "--target", "fake:lagos")
    assert noisy.code == 3, noisy.err
    assert noisy.out.startswith("ALERT hardware_drift") and "energy_error" in noisy.out
    assert client.get_model_version("h2-ground-state", "1").tags["qspec.alert"] == "hardware_drift"
    with_data = run_cli("monitor", "h2-ground-state", "--data", str(tmp_path / "x.csv"))
    assert with_data.code == 1 and "without data" in with_data.err
    assert "monitoring: ALERT hardware_drift" in run_cli("status").out
