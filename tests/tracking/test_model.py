"""The packaged model: loaded by MLflow alone in a fresh process, by ``qspec predict``, and for VQE."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qspec.errors import QspecError, TrackingError
from tests.tracking.conftest import TrainedModel, h2_experiment, register, train_in_run

FRESH_PROCESS = """
import json, sys
import mlflow.pyfunc, pandas as pd
frame = pd.read_csv(sys.argv[1])
model = mlflow.pyfunc.load_model(sys.argv[2])
out = model.predict(frame)
import qspec
print(json.dumps({"predictions": json.loads(out.to_json(orient="records")), "qspec": qspec.__file__,
                  "inputs": [c.name for c in model.metadata.get_input_schema().inputs]}))
"""


def raw_split(trained: TrainedModel):  # type: ignore[no-untyped-def]
    """The raw test rows of the trained spec, rebuilt by the engine exactly as in training."""
    from qspec.quantum.data import load_dataset, split_dataset

    spec = trained.loaded.resource.spec  # type: ignore[attr-defined]
    return split_dataset(spec.data, load_dataset(spec.data), spec.data.features)


def training_time_outputs(trained: TrainedModel) -> np.ndarray:
    """The test split's expectation values as the training run recorded them (results.json)."""
    from mlflow import MlflowClient

    local = MlflowClient(trained.uri).download_artifacts(trained.run_id, "results/results.json")
    return np.asarray(json.loads(Path(local).read_text())["test_outputs"]["values"], dtype=float)


def write_rows(path: Path, names: list[str], rows: np.ndarray, labels: np.ndarray | None = None) -> Path:
    import pandas as pd

    frame = pd.DataFrame(rows, columns=names)
    if labels is not None:
        frame["true_label"] = labels  # a column the model does not read
    frame.to_csv(path, index=False)
    return path


def test_a_fresh_process_loads_the_alias_and_matches_training_time_predictions(
    iris_model: TrainedModel, tmp_path: Path
) -> None:
    split = raw_split(iris_model)
    csv = write_rows(tmp_path / "rows.csv", split.dataset.feature_names, split.raw_test)
    env = {**os.environ, "MLFLOW_TRACKING_URI": iris_model.uri}
    done = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, str(csv), f"models:/{iris_model.model_name}@{iris_model.alias}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])

    # The signature names the raw columns of the data source, not circuit inputs.
    assert answer["inputs"] == split.dataset.feature_names == [
        "sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
    # The code that predicts travelled with the model (code_paths), not from this checkout.
    assert "/code/qspec/" in answer["qspec"].replace(os.sep, "/")

    predictions = answer["predictions"]
    expectation = np.array([p["expectation"] for p in predictions])
    recorded = training_time_outputs(iris_model)
    np.testing.assert_allclose(expectation, recorded, atol=1e-9)
    expected_labels = [1 if e < 0 else 0 for e in recorded]  # P(class 1) = (1 - <Z Z>) / 2
    assert [p["label"] for p in predictions] == expected_labels
    for p in predictions:
        assert 0.5 <= p["probability"] <= 1.0
    accuracy = np.mean(np.array(expected_labels) == split.y_test)
    from mlflow import MlflowClient

    recorded_accuracy = MlflowClient(iris_model.uri).get_run(iris_model.run_id).data.metrics["test_accuracy"]
    assert accuracy == pytest.approx(recorded_accuracy)


def test_predict_from_registry_by_alias_version_and_name(iris_model: TrainedModel, tmp_path: Path) -> None:
    from qspec.tracking.predict import predict_from_registry

    split = raw_split(iris_model)
    csv = write_rows(tmp_path / "rows.csv", split.dataset.feature_names, split.raw_test[:5], split.y_test[:5])
    by_alias = predict_from_registry(f"{iris_model.model_name}@staging", csv, tracking_uri=iris_model.uri)
    by_version = predict_from_registry(f"{iris_model.model_name}/{iris_model.version}", csv,
                                       tracking_uri=iris_model.uri)
    newest = predict_from_registry(iris_model.model_name, csv, tracking_uri=iris_model.uri)
    assert list(by_alias.columns) == ["label", "probability", "expectation"]
    assert len(by_alias) == 5
    assert by_alias.equals(by_version) and by_alias.equals(newest)
    np.testing.assert_allclose(by_alias["expectation"], training_time_outputs(iris_model)[:5], atol=1e-9)


def test_predict_errors_say_what_and_hint(iris_model: TrainedModel, tmp_path: Path) -> None:
    from qspec.tracking.predict import predict_from_registry

    split = raw_split(iris_model)
    good = write_rows(tmp_path / "rows.csv", split.dataset.feature_names, split.raw_test[:2])
    short = write_rows(tmp_path / "short.csv", split.dataset.feature_names[:3], split.raw_test[:2, :3])

    with pytest.raises(TrackingError) as missing_alias:
        predict_from_registry(f"{iris_model.model_name}@production", good, tracking_uri=iris_model.uri)
    assert "production" in str(missing_alias.value) and missing_alias.value.hint

    with pytest.raises(QspecError) as missing_column:
        predict_from_registry(f"{iris_model.model_name}@staging", short, tracking_uri=iris_model.uri)
    assert "petal width (cm)" in str(missing_column.value)
    assert "hint:" in str(missing_column.value)

    with pytest.raises(QspecError) as no_file:
        predict_from_registry(f"{iris_model.model_name}@staging", tmp_path / "nope.csv", tracking_uri=iris_model.uri)
    assert "does not exist" in str(no_file.value)

    with pytest.raises(QspecError, match="not a model reference"):
        predict_from_registry("a@b@c", good, tracking_uri=iris_model.uri)

    with pytest.raises(QspecError, match="needs a model trained with shots"):
        predict_from_registry(f"{iris_model.model_name}@staging", good, tracking_uri=iris_model.uri, mode="shots")


def test_predict_command_prints_csv_and_json(iris_model: TrainedModel, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from qspec.cli.predict import predict

    split = raw_split(iris_model)
    csv = write_rows(tmp_path / "rows.csv", split.dataset.feature_names, split.raw_test[:3])
    runner = CliRunner()
    as_csv = runner.invoke(predict, [f"{iris_model.model_name}@staging", "--input", str(csv),
                                     "--tracking-uri", iris_model.uri])
    assert as_csv.exit_code == 0, as_csv.output
    lines = as_csv.stdout.strip().splitlines()
    assert lines[0] == "label,probability,expectation" and len(lines) == 4
    as_json = runner.invoke(predict, [f"{iris_model.model_name}/{iris_model.version}", "--input", str(csv),
                                      "--format", "json", "--mode", "exact"],
                            env={"MLFLOW_TRACKING_URI": iris_model.uri})
    assert as_json.exit_code == 0, as_json.output
    records = json.loads(as_json.stdout)
    assert [r["label"] for r in records] == [int(line.split(",")[0]) for line in lines[1:]]


def test_vqe_model_returns_optimal_parameters_and_energy(repo: Path, store_uri: str) -> None:
    import mlflow.pyfunc
    from mlflow import MlflowClient

    from qspec.store import using_tracking_uri

    loaded = h2_experiment(repo, 20)
    run_id = train_in_run(loaded, tracking_uri=store_uri, root=repo)
    client = MlflowClient(store_uri)
    version = register(client, "h2-ground-state", run_id)
    tags = client.get_model_version("h2-ground-state", version).tags
    assert float(tags["quantum.final_fidelity"]) > 0
    local = Path(client.download_artifacts(run_id, "parameters/parameters.json"))
    trained = json.loads(local.read_text())["values"]

    with using_tracking_uri(store_uri):
        model = mlflow.pyfunc.load_model(f"models:/h2-ground-state/{version}")
    import pandas as pd

    out = model.predict(pd.DataFrame({"mode": ["exact"]}))
    assert list(out.columns) == ["energy", "parameters", "mode"]
    assert out["energy"][0] == pytest.approx(client.get_run(run_id).data.metrics["energy"], abs=1e-9)
    np.testing.assert_allclose(out["parameters"][0], trained)


def test_qspec_predict_through_the_console_entry_point(iris_model: TrainedModel, tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    split = raw_split(iris_model)
    csv = write_rows(tmp_path / "rows.csv", split.dataset.feature_names, split.raw_test[:2])
    ok = run_cli("predict", f"{iris_model.model_name}@staging", "--input", str(csv), "--tracking-uri", iris_model.uri)
    assert ok.code == 0, ok.err
    assert ok.out.splitlines()[0] == "label,probability,expectation"

    missing = run_cli("predict", f"{iris_model.model_name}@production", "--input", str(csv),
                      "--tracking-uri", iris_model.uri)
    assert missing.code == 1
    assert missing.out == ""
    assert "error:" in missing.err and "production" in missing.err and "hint:" in missing.err
    assert "Traceback" not in missing.err


def test_the_model_is_built_from_code_with_plain_artifacts(iris_model: TrainedModel, tmp_path: Path) -> None:
    import mlflow.artifacts
    import yaml
    from mlflow import MlflowClient

    from qspec.store import using_tracking_uri

    client = MlflowClient(iris_model.uri)
    model_id = client.get_run(iris_model.run_id).data.tags["qspec.model_id"]
    logged = client.get_logged_model(model_id)
    assert logged.source_run_id == iris_model.run_id
    assert logged.tags["qspec.spec_hash"] == iris_model.loaded.hash  # type: ignore[attr-defined]
    with using_tracking_uri(iris_model.uri):
        local = Path(mlflow.artifacts.download_artifacts(f"models:/{model_id}", dst_path=str(tmp_path)))

    files = {p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()}
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".cloudpickle"))]
    for name in ("artifacts/circuit.qpy", "artifacts/parameters.npy", "artifacts/parameters.json",
                 "artifacts/preprocessing.json", "artifacts/spec.json", "artifacts/model.json",
                 "pyfunc_model.py", "input_example.json", "requirements.txt", "code/qspec/quantum/predict.py"):
        assert name in files, name
    flavor = yaml.safe_load((local / "MLmodel").read_text())["flavors"]["python_function"]
    assert flavor["loader_module"] == "mlflow.pyfunc.loaders.code_model"
    preprocessing = json.loads((local / "artifacts/preprocessing.json").read_text())
    assert isinstance(preprocessing["mean"], list)  # plain arrays, not pickled scalers
    requirements = (local / "requirements.txt").read_text()
    assert "qiskit==" in requirements and "mlflow==" in requirements


def test_predict_rejects_non_finite_values_and_empty_input(iris_model: TrainedModel, tmp_path: Path) -> None:
    from qspec.tracking.predict import predict_from_registry

    split = raw_split(iris_model)
    names = split.dataset.feature_names
    rows = split.raw_test[:3].copy()
    rows[1, 2] = np.nan
    nan = write_rows(tmp_path / "nan.csv", names, rows)
    with pytest.raises(QspecError, match=rf"row 2 \(line 3\), column '{re.escape(names[2])}'") as info:
        predict_from_registry(f"{iris_model.model_name}@staging", nan, tracking_uri=iris_model.uri)
    assert info.value.hint and "NaN" in info.value.hint

    empty = tmp_path / "empty.csv"
    empty.write_text(",".join(names) + "\n")
    with pytest.raises(QspecError, match=r"empty\.csv has no data rows"):
        predict_from_registry(f"{iris_model.model_name}@staging", empty, tracking_uri=iris_model.uri)


def test_predict_classifier_rejects_non_finite_rows(iris_model: TrainedModel) -> None:
    from mlflow import MlflowClient

    from qspec.quantum.predict import predict_classifier

    split = raw_split(iris_model)
    rows = split.raw_test[:3].copy()
    rows[2, 0] = np.inf
    local = MlflowClient(iris_model.uri).download_artifacts(iris_model.run_id, "parameters/parameters.json")
    parameters = json.loads(Path(local).read_text())["values"]
    from qspec.quantum.circuits import build_circuits

    circuit = build_circuits(iris_model.loaded.resource.spec).circuit  # type: ignore[attr-defined]
    with pytest.raises(QspecError, match=rf"input row 3, column '{re.escape(split.dataset.feature_names[0])}'"):
        predict_classifier(circuit, parameters, split.preprocessing, rows)


def test_predict_json_keeps_full_precision(iris_model: TrainedModel, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from qspec.cli.predict import predict
    from qspec.tracking.predict import predict_from_registry

    split = raw_split(iris_model)
    csv = write_rows(tmp_path / "rows.csv", split.dataset.feature_names, split.raw_test[:3])
    frame = predict_from_registry(f"{iris_model.model_name}@staging", csv, tracking_uri=iris_model.uri)
    result = CliRunner().invoke(predict, [f"{iris_model.model_name}@staging", "--input", str(csv), "--format",
                                          "json", "--tracking-uri", iris_model.uri])
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [r["expectation"] for r in records] == [float(v) for v in frame["expectation"]]
    assert [r["probability"] for r in records] == [float(v) for v in frame["probability"]]
