"""A monitoring run's report: what was evaluated, every check, the verdict; as text, markdown or a dict.

``Report.as_dict`` is both ``--format json`` and the ``drift_analysis.json`` artifact. Pure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from qspec.monitor.verdict import OK, CalibrationChange, Check, verdict_of

#: The exit code of ``qspec monitor`` when it finds drift (README, "Exit codes").
ALERT_EXIT_CODE = 3


@dataclass(frozen=True)
class Report:
    deployment: str
    model: str
    version: int
    stage: str
    task: str
    target: str  # the monitored target
    trained_target: str  # the noise the version was trained with (the reference evaluation's)
    rows: int
    training_run_id: str | None
    checks: tuple[Check, ...]
    alerts: tuple[str, ...]
    reference: dict[str, float]  # the new data on the training noise
    current: dict[str, float] | None  # ... on the monitored target; None: the same evaluation
    calibration_changes: tuple[CalibrationChange, ...] = ()
    calibration_source: str | None = None  # where the target's calibration came from
    data: str | None = None
    run_id: str | None = None  # the monitoring run, once logged
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def verdict(self) -> str:
        return verdict_of(self.alerts)

    @property
    def exit_code(self) -> int:
        return ALERT_EXIT_CODE if self.alerts else 0

    @property
    def served(self) -> dict[str, float]:
        """The metrics of the monitored target (the reference's when that is the training target)."""
        return self.current if self.current is not None else self.reference

    def as_dict(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment, "model": self.model, "version": self.version, "stage": self.stage,
            "task": self.task, "target": self.target, "trained_target": self.trained_target, "rows": self.rows,
            "data": self.data, "training_run_id": self.training_run_id, "run_id": self.run_id,
            "verdict": self.verdict, "alerts": list(self.alerts),
            "checks": [_jsonable(c.as_dict()) for c in self.checks],
            "metrics": {"reference": _jsonable(self.reference),
                        "current": _jsonable(self.current if self.current is not None else self.reference)},
            "calibration": {"source": self.calibration_source,
                            "changes": [{"name": c.name, "before": c.before, "after": c.after,
                                         "text": c.describe()} for c in self.calibration_changes]},
            "notes": list(self.notes),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else "inf"
    return value


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if math.isinf(value):
        return "inf"
    return f"{value:.4g}"


def _threshold(check: Check) -> str:
    return f"{check.kind} {_num(check.threshold)}"


def _rows(report: Report) -> list[tuple[str, ...]]:
    return [(c.metric, c.drift.removesuffix("_drift"), _num(c.baseline), _num(c.current), _num(c.value),
             _threshold(c), "ok" if c.ok else "DRIFT") for c in report.checks]


HEADER = ("metric", "compares", "baseline", "current", "value", "threshold", "verdict")


def _summary(report: Report) -> str:
    head = f"{report.deployment}@{report.stage}: version {report.version} of {report.model} on {report.target}"
    if report.alerts:
        return f"ALERT {', '.join(report.alerts)}: {head}"
    return f"ok: {head}"


def _context(report: Report) -> list[str]:
    lines = []
    what = f"{report.rows} labelled rows from {report.data}" if report.data else "the energy, re-estimated"
    lines.append(f"evaluated: {what}")
    training = f"training run {report.training_run_id}" if report.training_run_id else "no training run"
    vqe = report.task == "vqe"
    measured = "the energy re-estimated" if vqe else "the new data"
    lines.append(f"performance baseline: {training} (its {'final' if vqe else 'test'} metrics), against "
                 f"{measured} on {report.trained_target} (the noise it was trained with)")
    if report.current is not None:
        same = "the energy" if vqe else "the same data"
        lines.append(f"hardware baseline: {same} on {report.trained_target}, against {report.target}"
                     + (f" (calibration: {report.calibration_source})" if report.calibration_source else ""))
    else:
        lines.append(f"hardware: monitored on the training target {report.trained_target}: one evaluation, "
                     "nothing to compare")
    for change in report.calibration_changes:
        lines.append(f"calibration: {change.describe()} (training run -> now)")
    served = report.served
    per = ", ".join(f"{k} {_num(served[k])}" for k in ("accuracy", "mean_confidence", "energy", "energy_error",
                                                        "latency_ms", "shots", "cost_usd") if k in served)
    lines.append(f"per prediction on {report.target}: {per}")
    lines.extend(f"note: {n}" for n in report.notes)
    return lines


def render_text(report: Report) -> str:
    rows = [HEADER, *_rows(report)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    table = ["  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    if not report.checks:
        table = ["  (the Deployment declares no monitoring thresholds)"]
    lines = [_summary(report), *("  " + line for line in _context(report)), "checks:", *table]
    if report.run_id:
        lines.append(f"monitoring run {report.run_id}" + (" (drift_analysis.json)" if report.alerts else ""))
    return "\n".join(lines) + "\n"


def render_markdown(report: Report) -> str:
    icon = "OK" if report.verdict == OK else "ALERT"
    lines = [f"### qspec monitor: {icon}", "", _summary(report), ""]
    lines.extend(f"- {line}" for line in _context(report))
    lines.append("")
    if report.checks:
        lines.append("| " + " | ".join(HEADER) + " |")
        lines.append("|" + "---|" * len(HEADER))
        lines.extend("| " + " | ".join(r) + " |" for r in _rows(report))
    else:
        lines.append("The Deployment declares no monitoring thresholds.")
    if report.run_id:
        lines.extend(["", f"Monitoring run `{report.run_id}`."])
    return "\n".join(lines) + "\n"
