"""The trained circuit as an MLflow model, and the descriptive tags of the versions made from it.

``log_model`` packages a ``TrainingResult`` as an MLflow pyfunc built from code
(``qspec/tracking/pyfunc_model.py``; no pickle of qspec objects): its artifacts are the circuit
as QPY, the trained parameters (``.npy`` and JSON), the preprocessing as plain arrays in JSON,
the normalized spec and a small ``model.json``; its signature's inputs are the raw feature
columns of the data source. Called by ``qspec.tracking.runs`` at the end of every training.

``version_tags`` reads back from a run the identity tags and the quantum metadata (framework,
qubits, depth, device, accuracy or fidelity, ...) that a registered-model version of it carries.
Registering is the registry adapter's job (``qspec.registry.mlflow.MlflowRegistry.register_version``,
which the reconciler calls): ``qspec.api`` hands it ``version_tags`` as its ``version_metadata``.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qspec import tags as tag
from qspec.errors import TrackingError
from qspec.quantum.result import TrainingResult
from qspec.spec.hashing import normalized
from qspec.spec.load import Loaded
from qspec.spec.models import Experiment
from qspec.store import Tracking, mlflow_errors, using_tracking_uri

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.models import ModelSignature

#: The name of the logged model inside its run (``runs:/<id>/model`` in MLflow 2 terms).
MODEL_NAME = "model"
#: Bumped when the artifact layout below changes; the pyfunc refuses layouts it does not know.
FORMAT_VERSION = 1
#: The models-from-code file MLflow executes to build the model at load time.
CODE_FILE = Path(__file__).with_name("pyfunc_model.py")

#: Artifact names (keys of ``context.artifacts`` inside the pyfunc).
ARTIFACTS = ("model_config", "circuit", "parameters", "parameters_json", "spec", "preprocessing")


def model_config(loaded: Loaded[Experiment], result: TrainingResult) -> dict[str, Any]:
    """What the pyfunc needs besides the circuit and the arrays."""
    backend = loaded.resource.spec.backend
    pre = result.preprocessing
    return {
        "format_version": FORMAT_VERSION,
        "task": result.task,
        "spec_name": loaded.name,
        "spec_hash": loaded.hash,
        "parameter_names": list(result.parameter_names),
        "feature_names": list(pre.feature_names) if pre else [],
        "classes": list(pre.classes) if pre else [],
        "shots": backend.shots,
        "seed": backend.seed,
        "default_mode": "exact" if backend.shots is None else "shots",
        "metrics": {k: float(v) for k, v in result.metrics.items()},
    }


def write_model_artifacts(directory: Path, loaded: Loaded[Experiment], result: TrainingResult) -> dict[str, str]:
    """The files the pyfunc loads, by artifact name."""
    from qiskit import qpy

    directory.mkdir(parents=True, exist_ok=True)
    paths = {name: directory / file for name, file in (
        ("model_config", "model.json"), ("circuit", "circuit.qpy"), ("parameters", "parameters.npy"),
        ("parameters_json", "parameters.json"), ("spec", "spec.json"), ("preprocessing", "preprocessing.json"),
    )}
    paths["model_config"].write_text(json.dumps(model_config(loaded, result), indent=2, sort_keys=True))
    with paths["circuit"].open("wb") as handle:
        qpy.dump(result.circuit, handle)
    values = np.asarray(result.parameters, dtype=float)
    np.save(paths["parameters"], values)
    paths["parameters_json"].write_text(json.dumps(dict(zip(result.parameter_names, values.tolist(), strict=True))))
    paths["spec"].write_text(json.dumps(normalized(loaded.resource), indent=2, sort_keys=True))
    if result.preprocessing is not None:
        paths["preprocessing"].write_text(json.dumps(result.preprocessing.to_dict(), sort_keys=True))
    else:
        del paths["preprocessing"]
    return {name: str(path) for name, path in paths.items()}


def signature(loaded: Loaded[Experiment], result: TrainingResult) -> ModelSignature:
    """Inputs: the raw feature columns (classification) or an optional ``mode`` (VQE); a ``mode`` param."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Array, ColSpec, ParamSchema, ParamSpec, Schema

    mode = "exact" if loaded.resource.spec.backend.shots is None else "shots"
    params = ParamSchema([ParamSpec("mode", "string", mode)])
    if result.task == "classification":
        if result.preprocessing is None:
            raise TrackingError(f"the classification result of {loaded.name} carries no preprocessing")
        classes = result.preprocessing.classes
        label_type = "long" if all(isinstance(c, int) for c in classes) else "string"
        inputs = Schema([ColSpec("double", name) for name in result.preprocessing.feature_names])
        outputs = Schema([ColSpec(label_type, "label"), ColSpec("double", "probability"),
                          ColSpec("double", "expectation")])
    else:
        inputs = Schema([ColSpec("string", "mode", required=False)])
        outputs = Schema([ColSpec("double", "energy"), ColSpec(Array("double"), "parameters"),
                          ColSpec("string", "mode")])
    return ModelSignature(inputs=inputs, outputs=outputs, params=params)


def input_example(result: TrainingResult) -> Any:
    """A raw row per class-centre-like point: the training split's feature means, shifted by ±1 std."""
    import pandas as pd

    pre = result.preprocessing
    # Object-dtype column labels: MLflow compares the labels with a range, which pandas 3 deprecates
    # for its default string dtype (Pandas4Warning inside mlflow.models.utils).
    if pre is None:
        return pd.DataFrame({"mode": ["exact"]}, columns=pd.Index(["mode"], dtype=object))
    mean, scale = np.asarray(pre.mean, dtype=float), np.asarray(pre.scale, dtype=float)
    rows = np.vstack([mean - 0.5 * scale, mean, mean + 0.5 * scale])
    return pd.DataFrame(rows, columns=pd.Index(list(pre.feature_names), dtype=object))


def pip_requirements() -> list[str]:
    """qspec's own dependencies pinned to the versions that trained the model.

    Given explicitly because MLflow's inference would load the model in a subprocess just to
    watch its imports, and because qspec itself ships inside the model (``code_paths``) rather
    than from an index.
    """
    try:
        declared = importlib.metadata.requires("qspec") or []
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that is not installed
        declared = ["mlflow", "qiskit", "qiskit-aer", "numpy", "scipy", "scikit-learn", "pydantic", "pyyaml"]
    pinned = []
    for requirement in declared:
        if ";" in requirement:  # extras (dev, bench) are not needed to predict
            continue
        name = re.split(r"[<>=!~\[ ]", requirement, maxsplit=1)[0]
        try:
            pinned.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pinned.append(requirement)
    return pinned


def preflight(artifacts: dict[str, str], result: TrainingResult) -> None:
    """Load the pyfunc from ``artifacts`` and predict the input example, before anything is logged.

    MLflow validates the input example too, but only logs a warning when it fails; a model that
    cannot predict must never reach the registry, so the same check is made here, as an error.
    """
    from types import SimpleNamespace

    from qspec.tracking.pyfunc_model import QuantumModel

    try:
        model = QuantumModel()
        model.load_context(SimpleNamespace(artifacts=artifacts))
        out = model.predict(None, input_example(result))
    except Exception as exc:
        raise TrackingError(
            f"the packaged model cannot predict its own input example: {exc}",
            hint="this is a bug in qspec's model packaging or prediction; please report it with --debug output",
        ) from exc
    expected = ["label", "probability", "expectation"] if result.task == "classification" else ["energy"]
    if not set(expected) <= set(out.columns):
        raise TrackingError(f"the packaged model returned columns {list(out.columns)}, expected {expected}")


def log_model(tracking: Tracking, run_id: str, loaded: Loaded[Experiment], result: TrainingResult, *,
              experiment_id: str | None = None, params: dict[str, str] | None = None) -> str:
    """Log the pyfunc model of ``result`` into run ``run_id``; returns the logged model's id."""
    import mlflow
    from mlflow.models import Model

    import qspec

    model_tags = {tag.SPEC_HASH: loaded.hash, tag.SPEC_NAME: loaded.name, tag.MANAGED: tag.TRUE}
    with tempfile.TemporaryDirectory(prefix="qspec-model-") as scratch:
        artifacts = write_model_artifacts(Path(scratch), loaded, result)
        preflight(artifacts, result)
        with using_tracking_uri(tracking.uri), mlflow_errors(
            f"cannot log the model of run {run_id}",
            tracking.uri,
            hint="make the artifact store writable (or point --tracking-uri at a server with --serve-artifacts)",
        ):
            # The logged model is created here, in the run's experiment: left to itself, MLflow
            # would put it in the process's "active" experiment (the Default one, whose artifacts
            # land in ./mlruns of whatever directory qspec runs in).
            experiment_id = experiment_id or tracking.client.get_run(run_id).info.experiment_id
            logged = tracking.client.create_logged_model(
                experiment_id, name=MODEL_NAME, source_run_id=run_id, tags=model_tags, params=params,
            )
            # Model.log rather than mlflow.pyfunc.log_model: it takes the run id, so no fluent
            # "active run" is needed and the run's lifecycle stays with qspec.tracking.runs.
            Model.log(
                artifact_path=None,
                name=MODEL_NAME,
                flavor=mlflow.pyfunc,
                flavor_name="pyfunc.ModelFromCode",
                run_id=run_id,
                model_id=logged.model_id,
                python_model=str(CODE_FILE),
                artifacts=artifacts,
                code_paths=[str(Path(qspec.__file__).parent)],
                signature=signature(loaded, result),
                input_example=input_example(result),
                pip_requirements=pip_requirements(),
                metadata={"qspec_spec_hash": loaded.hash, "qspec_spec_name": loaded.name},
            )
    return str(logged.model_id)


# --- registered versions ------------------------------------------------------------------------


def version_tags(client: MlflowClient, run_id: str) -> dict[str, str]:
    """Identity and quantum metadata for a model version, read back from the run that made it."""
    run = client.get_run(run_id)
    run_tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
    identity = (tag.SPEC_HASH, tag.SPEC_NAME, tag.SPEC_PATH, tag.GIT_COMMIT)
    out: dict[str, str] = {key: run_tags[key] for key in identity if key in run_tags}
    out[tag.MANAGED] = tag.TRUE
    out[tag.RUN_ID] = run_id
    out["quantum.framework"] = f"qiskit {run_tags.get('quantum.framework_version', '')}".strip()
    for key in ("quantum.provider", "quantum.device", "quantum.type", "quantum.task"):
        if key in run_tags:
            out[key] = run_tags[key]
    for key, name in (("quantum.qubits", "quantum.qubits"), ("quantum.parameter_count", "quantum.parameter_count"),
                      ("quantum.circuit_depth", "quantum.circuit_depth"), ("quantum.optimizer", "quantum.optimizer"),
                      ("quantum.shots", "quantum.training_shots")):
        if key in params:
            out[name] = params[key]
    if "test_accuracy" in metrics:
        out["quantum.final_accuracy"] = f"{metrics['test_accuracy']:.6g}"
    if "fidelity" in metrics:
        out["quantum.final_fidelity"] = f"{metrics['fidelity']:.6g}"
    if "energy" in metrics:
        out["quantum.final_energy"] = f"{metrics['energy']:.10g}"
    if "quantum.converged_iteration" in metrics:
        out["quantum.iterations_to_converge"] = str(int(metrics["quantum.converged_iteration"]))
    return out
