"""MLflow's side of ``qspec monitor``: the version behind an alias, its training run's record, and
the monitoring run that records a verdict.

A monitoring run lives in the MLflow experiment of the training run that produced the version, so
the two sit side by side in the UI; it is tagged ``qspec.monitoring=true`` (with the model, version,
stage and target) and never ``qspec.managed``, so plan, apply and status never take it for a
training. Its artifacts are ``drift_analysis.json`` (every check: metric, baseline, current,
threshold, verdict), ``calibration.json`` (the snapshot the target ran with, when it has one) and
``report.md``. The verdict is also kept where ``qspec status`` reads it without searching runs: the
registered model's ``qspec.monitor.<stage>`` tag; a drift also tags the version ``qspec.alert``.
Everything is written after the evaluation, in that order, so a bad input leaves nothing behind.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qspec import tags as tag
from qspec.errors import QspecError, TrackingError
from qspec.secrets import mask_files, mask_mapping
from qspec.store import Tracking, mlflow_errors, using_tracking_uri


@dataclass
class DeployedVersion:
    """The version an alias points at, loaded: its number, training run and the pyfunc's model."""

    name: str
    version: int
    run_id: str | None
    model: Any  # qspec.tracking.pyfunc_model.QuantumModel: circuit, parameters, preprocessing, experiment


def version_behind(tracking: Tracking, name: str, alias: str) -> tuple[int, str | None]:
    """The version ``alias`` points at on ``name`` and its run; a ``QspecError`` when there is none."""
    from mlflow.exceptions import MlflowException

    try:
        mv = tracking.client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise QspecError(f"model {name!r} has no version behind alias {alias!r}", where=tracking.uri,
                             hint="qspec apply registers and promotes what the specs declare; qspec status "
                                  "shows the aliases") from None
        raise TrackingError(f"cannot read alias {alias!r} of {name!r}: {exc.message}", where=tracking.uri) from exc
    return int(mv.version), mv.run_id or None


def load_version(tracking: Tracking, name: str, alias: str) -> DeployedVersion:
    import mlflow.pyfunc

    version, run_id = version_behind(tracking, name, alias)
    uri = f"models:/{name}/{version}"
    with using_tracking_uri(tracking.uri), mlflow_errors(f"cannot load model {uri}", tracking.uri):
        loaded = mlflow.pyfunc.load_model(uri)
    model = loaded.unwrap_python_model()
    if not hasattr(model, "circuit") or not hasattr(model, "config"):
        raise QspecError(f"{uri} is not a qspec model", hint="monitor the models qspec apply registered")
    return DeployedVersion(name, version, run_id, model)


@dataclass
class TrainingRecord:
    """What the training run recorded that monitoring compares with."""

    run_id: str
    experiment_id: str
    metrics: dict[str, float]
    test_outputs: list[float] | None  # per-sample expectation values on the test split
    calibration: dict[str, Any] | None  # device/calibration.json (None: trained without a device)


def training_record(tracking: Tracking, run_id: str) -> TrainingRecord:
    with mlflow_errors(f"cannot read training run {run_id}", tracking.uri):
        run = tracking.client.get_run(run_id)
        with tempfile.TemporaryDirectory(prefix="qspec-monitor-") as tmp:
            results = _artifact_json(tracking, run_id, "results/results.json", tmp)
            calibration = _artifact_json(tracking, run_id, "device/calibration.json", tmp)
    outputs = ((results or {}).get("test_outputs") or {}).get("values")
    return TrainingRecord(run_id, run.info.experiment_id, dict(run.data.metrics or {}),
                          [float(v) for v in outputs] if outputs else None, calibration or None)


def _artifact_json(tracking: Tracking, run_id: str, path: str, into: str) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        local = tracking.client.download_artifacts(run_id, path, into)
    except (MlflowException, OSError):
        return None  # an older run without it: the report says the baseline is missing
    return json.loads(Path(local).read_text(encoding="utf-8"))


def log_monitoring_run(tracking: Tracking, *, experiment_id: str, run_name: str, tags: dict[str, str],
                       metrics: dict[str, float], artifacts: dict[str, Any], report_md: str, model: str,
                       version: int, stage: str, record: Callable[[str], str], alert: str | None) -> str:
    """Record one monitoring run, then the verdict on the registered model (``qspec.monitor.<stage>`` =
    ``record(run_id)``) and, with ``alert``, on the version (``qspec.alert``). Returns the run id."""
    import math

    from mlflow.entities import Metric

    client = tracking.client
    with mlflow_errors("cannot record the monitoring run", tracking.uri):
        run = client.create_run(experiment_id, run_name=run_name,
                                tags=mask_mapping({**tags, tag.MONITORING: tag.TRUE}))
        run_id: str = run.info.run_id
        try:
            now = run.info.start_time
            logged = [Metric(k, float(v), now, 0) for k, v in sorted(metrics.items()) if math.isfinite(v)]
            client.log_batch(run_id, metrics=logged, synchronous=True)
            with tempfile.TemporaryDirectory(prefix="qspec-monitor-") as tmp:
                for name, value in artifacts.items():
                    (Path(tmp) / name).write_text(json.dumps(value, indent=2, sort_keys=True) + "\n", encoding="utf-8")
                (Path(tmp) / "report.md").write_text(report_md, encoding="utf-8")
                mask_files(Path(tmp))
                client.log_artifacts(run_id, tmp)
        except BaseException:
            client.set_terminated(run_id, tag.RUN_FAILED)
            raise
        client.set_terminated(run_id, tag.RUN_FINISHED)
        client.set_registered_model_tag(model, tag.monitor_record(stage), record(run_id))
        if alert is not None:
            client.set_model_version_tag(model, str(version), tag.ALERT, alert)
    return run_id
