"""``api.monitor``: evaluate the version behind a stage on new data (or re-estimate its energy), check
the Deployment's monitoring thresholds and record the verdict in MLflow.

Every input is checked before anything is evaluated, and everything is written after: the
deployment and stage (in the specs), the version behind the alias, the CSV (exactly the feature
columns and the label column, numbers, known classes, at least one row), the target (and its
credentials), the calibration file. A bad input is a ``QspecError`` and leaves no run, no tag.

The reference evaluation runs on the backend the version was trained with; when ``target`` (or a
``calibration``) differs from it, the same data runs there too. ``qspec.monitor.verdict`` decides.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qspec.api.wiring import Workspace
from qspec.errors import QspecError
from qspec.monitor.report import Report, render_markdown
from qspec.monitor.verdict import (
    TRAINING_METRIC,
    Baseline,
    MonitorRecord,
    alerts,
    calibration_changes,
    checks,
    mean_confidence,
    verdict_of,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from qspec.spec.models import BackendSpec, Experiment

#: The label column of new data when the spec names none (a csv data set's ``target`` names it).
DEFAULT_LABEL = "label"


def monitor(deployment: str, *, stage: str | None = None, data: str | Path | None = None,
            target: str | None = None, calibration: str | Path | None = None, label: str | None = None,
            specs: Sequence[str | Path] | None = None, rev: str | None = None, tracking_uri: str | None = None,
            root: Path | None = None) -> Report:
    """Monitor the version behind ``deployment``'s ``stage`` (the specs of the work tree, or at git
    ``rev``): ``data`` a labelled CSV (classifiers), ``target`` another target than the training one,
    ``calibration`` a device properties JSON replacing a fake device's calibration, ``label`` the
    label column. Returns the ``Report``, its ``run_id`` the monitoring run logged."""
    from qspec import tags as tag
    from qspec.api.wiring import connect_registry
    from qspec.plugins.targets import check_credentials
    from qspec.quantum.monitor import check_calibration_target, monitor_backend
    from qspec.tracking.monitoring import load_version, log_monitoring_run, training_record

    workspace = Workspace.open(specs, rev=rev, root=root)
    specset = workspace.load()
    loaded, stage = specset.deployment_stage(deployment, stage)
    spec = loaded.resource.spec
    properties = _calibration_file(calibration) if calibration is not None else None
    tracking, _ = connect_registry(tracking_uri, workspace.root)
    deployed = load_version(tracking, spec.model, stage)
    experiment: Experiment = deployed.model.experiment
    task = str(deployed.model.config["task"])
    trained = experiment.spec.backend
    monitored = monitor_backend(trained, target)
    check_credentials(monitored)  # no IBM account: a clear error before anything runs
    if properties is not None:
        check_calibration_target(monitored)
    if task == "vqe":
        if data is not None:
            raise QspecError("a VQE deployment is monitored without data: its energy is re-estimated on the target",
                             hint="drop --data")
        frame = labels = None
    else:
        if data is None:
            raise QspecError(f"monitoring classifier {spec.model!r} needs new labelled data",
                             hint="pass --data FILE.csv: the raw feature columns and the label column")
        frame, labels = read_labelled(data, deployed.model.preprocessing, _label_column(experiment, label))
    if deployed.run_id is None:
        raise QspecError(f"version {deployed.version} of {spec.model!r} has no training run to compare with",
                         hint="monitor versions qspec apply trained")
    record = training_record(tracking, deployed.run_id)

    other = monitored.target != trained.target or properties is not None
    ground = record.metrics.get("baseline.energy")  # a VQE run's exact ground energy: not solved again
    reference = _evaluate(deployed.model, task, trained, frame, labels, None, ground)
    current = _evaluate(deployed.model, task, monitored, frame, labels, properties, ground) if other else None
    training = _baselines(record, deployed.model)
    found = checks(spec.monitoring, training=training, reference=reference.metrics,
                   current=current.metrics if current is not None else None)
    kinds = alerts(found)
    served = current if current is not None else reference
    notes = []
    if properties is not None:
        notes.append(f"the device's calibration was replaced by {calibration}")
    if record.calibration is None and served.device.calibration:
        notes.append(f"the version was trained on {trained.target}, without a device calibration: "
                     "no T1/T2/readout change to show")
    report = Report(
        deployment=deployment, model=spec.model, version=deployed.version, stage=stage, task=task,
        target=monitored.target, trained_target=trained.target, rows=reference.rows if frame is not None else 0,
        training_run_id=deployed.run_id, checks=tuple(found), alerts=kinds, reference=reference.metrics,
        current=current.metrics if current is not None else None,
        calibration_changes=tuple(calibration_changes(record.calibration, served.device.calibration)),
        calibration_source=(str(calibration) if properties is not None else
                            f"{monitored.target}'s current snapshot" if served.device.calibration else None),
        data=str(data) if data is not None else None, notes=tuple(notes))

    verdict = verdict_of(kinds)
    metrics = {**served.metrics, **{f"reference.{k}": v for k, v in reference.metrics.items()}}
    metrics |= {f"baseline.{k}": b.value for k, b in training.items()}
    metrics |= {f"calibration.median.{k}": float(v) for k, v in
                ((served.device.calibration or {}).get("median") or {}).items() if v is not None}
    run_tags = {tag.MONITOR_MODEL: spec.model, tag.MONITOR_VERSION: str(deployed.version),
                tag.MONITOR_STAGE: stage, tag.MONITOR_TARGET: monitored.target, tag.MONITOR_VERDICT: verdict}
    artifacts: dict[str, Any] = {"drift_analysis.json": report.as_dict()}
    if served.device.calibration:
        artifacts["calibration.json"] = served.device.calibration
    when = time.time()
    run_id = log_monitoring_run(
        tracking, experiment_id=record.experiment_id, run_name=f"monitor-{deployment}-{stage}", tags=run_tags,
        metrics=metrics, artifacts=artifacts, report_md=render_markdown(report), model=spec.model,
        version=deployed.version, stage=stage, alert=verdict if kinds else None,
        record=lambda rid: MonitorRecord(verdict, when, deployed.version, rid, monitored.target).to_tag())
    return replace(report, run_id=run_id)


def _calibration_file(path: str | Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise QspecError(f"{path} does not exist", hint="--calibration takes a device properties JSON file") from None
    except (OSError, ValueError) as exc:
        raise QspecError(f"cannot read {path} as JSON: {exc}",
                         hint="--calibration takes the JSON of backend.properties().to_dict()") from None
    if not isinstance(data, dict) or not isinstance(data.get("qubits"), list):
        raise QspecError(f"{path} is not a device properties snapshot (no 'qubits' list)",
                         hint="--calibration takes the JSON of backend.properties().to_dict()")
    return data


def _label_column(experiment: Experiment, explicit: str | None) -> str:
    if explicit:
        return explicit
    data = experiment.spec.data
    return data.target if data is not None and data.target else DEFAULT_LABEL


def read_labelled(path: str | Path, preprocessing: Any, label: str) -> tuple[pd.DataFrame, np.ndarray]:
    """The feature rows of a monitoring CSV and their labels as 0/1 (``classes[1]`` is 1): exactly the
    model's raw feature columns and ``label``, every feature a finite number, every label a class."""
    import numpy as np
    import pandas as pd

    from qspec.tracking.predict import check_finite, read_rows

    if not Path(path).is_file():
        raise QspecError(f"{path} does not exist" if not Path(path).exists() else f"{path} is not a file",
                         hint="--data takes a CSV of new labelled rows: the raw feature columns and the label column")
    empty = QspecError(f"{path} is empty", hint="the first row names the feature columns and the label column")
    if Path(path).stat().st_size == 0:
        raise empty
    try:
        frame = read_rows(path)
    except pd.errors.EmptyDataError:
        raise empty from None
    names = list(preprocessing.feature_names)
    expected = f"the columns are the model's features ({', '.join(repr(n) for n in names)}) and {label!r}"
    columns = [str(c) for c in frame.columns]
    if label not in columns:
        raise QspecError(f"{path} has no label column {label!r}", hint=expected + " (--label names another)")
    missing = [n for n in names if n not in columns]
    if missing:
        raise QspecError(f"{path} lacks feature column{'s' if len(missing) != 1 else ''} {', '.join(missing)}",
                         hint=expected)
    extra = [c for c in columns if c not in names and c != label]
    if extra:
        raise QspecError(f"{path} has column{'s' if len(extra) != 1 else ''} the model does not read: "
                         f"{', '.join(extra)}", hint=expected)
    if len(frame) == 0:
        raise QspecError(f"{path} has no data rows", hint="each row after the header is one labelled input")
    features = frame[names]
    for name in names:
        numbers = pd.to_numeric(features[name], errors="coerce")
        bad = numbers.isna() & features[name].notna()
        if bad.any():
            row = int(np.argmax(bad.to_numpy()))
            raise QspecError(f"{path}: row {row + 1} (line {row + 2}), column {name!r} is not a number: "
                             f"{str(features[name].iloc[row])[:40]!r}", hint="feature columns hold numbers")
    features = features.apply(pd.to_numeric, errors="coerce").astype(float)
    check_finite(features)
    classes = [str(c) for c in preprocessing.classes]
    raw = frame[label]
    given = [str(int(v)) if isinstance(v, float) and v.is_integer() else str(v) for v in raw]
    unknown = sorted({g for g in given if g not in classes})
    if unknown:
        raise QspecError(f"{path}: label column {label!r} holds {', '.join(repr(u) for u in unknown[:5])}, "
                         f"not a class of the model", hint="the model's classes: " + ", ".join(classes))
    return features, np.array([classes.index(g) for g in given], dtype=np.int64)


def _evaluate(model: Any, task: str, backend: BackendSpec, frame: pd.DataFrame | None, labels: Any,
              properties: dict[str, Any] | None, ground: float | None) -> Any:
    from qspec.quantum.monitor import evaluate_classifier, evaluate_energy

    if task == "vqe":
        hamiltonian = model.experiment.spec.hamiltonian
        return evaluate_energy(model.circuit, model.parameters, dict(hamiltonian.terms), hamiltonian.constant,
                               backend, properties=properties, ground_energy=ground)
    return evaluate_classifier(model.circuit, model.parameters, model.preprocessing, frame, labels, backend,
                               properties=properties, loss=model.experiment.spec.training.loss or "cross_entropy")


def _baselines(record: Any, model: Any) -> dict[str, Baseline]:
    """The training run's metrics under the names monitoring uses, each saying where it came from
    (the mean confidence: the run's test outputs <Z...Z> through the model's own readout)."""
    out: dict[str, Baseline] = {}
    short = record.run_id[:12]
    for metric, logged in TRAINING_METRIC.items():
        if logged in record.metrics:
            out[metric] = Baseline(float(record.metrics[logged]), f"training run {short}: {logged}")
    confidence = mean_confidence(_probabilities(model, record.test_outputs or []))
    if confidence is not None:
        out["mean_confidence"] = Baseline(confidence, f"training run {short}: test outputs")
    return out


def _probabilities(model: Any, expectations: list[float]) -> list[float]:
    """P(class 1) of each <Z...Z>, through the model's readout (its stored output scale and bias)."""
    if not expectations or model.config.get("task") == "vqe":
        return []
    import numpy as np

    from qspec.quantum.predict import split_parameters

    readout, stored, _ = split_parameters(model.circuit, model.parameters)
    return [float(p) for p in readout.probability(np.asarray(expectations, dtype=float), stored)]
