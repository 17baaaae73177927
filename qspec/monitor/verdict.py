"""The verdict of one monitoring run, from plain numbers: no MLflow, no Qiskit, no clock.

Two comparisons, each a kind of drift:

- **performance drift**: the version's training run (its metrics, read from MLflow) against the new
  data evaluated on the noise the version was trained with (the *reference* evaluation). The
  hardware is the same on both sides, so a drop is the data's.
- **hardware drift**: the reference evaluation against the same data evaluated on the monitored
  target (another device, today's calibration, a calibration file). The data is the same on both
  sides, so a drop is the hardware's. When the target is the training one there is one evaluation
  and nothing to compare: those checks hold trivially and say so.

``latency_ms`` and ``cost_usd`` have no training baseline (a training run does not time single
predictions): they are hardware checks only. Every threshold of the spec yields at least one
``Check``, shown whether it holds or not.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from qspec.spec.models import RULE_KINDS, MonitorRule

PERFORMANCE = "performance_drift"
HARDWARE = "hardware_drift"
OK = "ok"

#: The training run's metric each monitored metric is compared with (performance drift); metrics
#: missing here have no training baseline. ``mean_confidence`` is computed from the run's test outputs.
TRAINING_METRIC = {"accuracy": "test_accuracy", "mean_confidence": "test_mean_confidence", "loss": "loss",
                   "energy_error": "energy_error", "energy": "energy"}


@dataclass(frozen=True)
class Baseline:
    """One baseline value and where it came from (shown in the report, kept in the artifact)."""

    value: float
    source: str


@dataclass(frozen=True)
class Check:
    """One threshold against one comparison."""

    metric: str
    kind: str  # max_drop | min | max_ratio | max_increase
    threshold: float
    baseline: float | None
    current: float | None
    value: float | None  # what the threshold bounds: the drop, the ratio, the increase, or current (min)
    drift: str  # the kind of drift a failure is: PERFORMANCE or HARDWARE
    source: str  # what the baseline is
    ok: bool
    note: str = ""

    @property
    def verdict(self) -> str:
        return OK if self.ok else self.drift

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.verdict}


@dataclass(frozen=True)
class CalibrationChange:
    """The device median of one calibration quantity, at training and now."""

    name: str  # t1 | t2 | readout_error
    before: float | None
    after: float | None

    def describe(self) -> str:
        label = {"t1": "T1", "t2": "T2", "readout_error": "readout error"}.get(self.name, self.name)
        return f"{label} {_quantity(self.name, self.before)} -> {_quantity(self.name, self.after)}"


def _quantity(name: str, value: float | None) -> str:
    if value is None:
        return "?"
    if name in ("t1", "t2"):
        return f"{value * 1e6:.1f} us"
    return f"{value * 100:.1f}%"


def checks(rules: Mapping[str, MonitorRule], *, training: Mapping[str, Baseline],
           reference: Mapping[str, float], current: Mapping[str, float] | None) -> list[Check]:
    """Every threshold of ``rules`` checked. ``training``: the training run's baselines by monitored
    metric; ``reference``: the new data on the training noise; ``current``: on the monitored target,
    or None when that is the training target (one evaluation)."""
    out: list[Check] = []
    for metric, rule in rules.items():
        for kind, threshold in rule.kinds().items():
            base = training.get(metric)
            if base is not None or (kind == "min" and metric in TRAINING_METRIC):
                out.append(_check(metric, kind, threshold, base.value if base else None, reference.get(metric),
                                  PERFORMANCE, base.source if base else "none (an absolute bound)"))
            elif metric in TRAINING_METRIC:
                out.append(Check(metric, kind, threshold, None, reference.get(metric), None, PERFORMANCE,
                                 "the training run recorded none", ok=True,
                                 note="not checked: the training run has no baseline for it"))
            if current is not None:
                out.append(_check(metric, kind, threshold, reference.get(metric), current.get(metric), HARDWARE,
                                  "the same data on the training noise"))
            elif metric not in TRAINING_METRIC:
                value = reference.get(metric)
                out.append(Check(metric, kind, threshold, value, value, 1.0 if kind == "max_ratio" else 0.0,
                                 HARDWARE, "the same evaluation (monitored on the training target)", ok=True,
                                 note="one evaluation: nothing to compare"))
    return out


def _check(metric: str, kind: str, threshold: float, baseline: float | None, current: float | None,
           drift: str, source: str) -> Check:
    if current is None or (baseline is None and kind != "min"):
        return Check(metric, kind, threshold, baseline, current, None, drift, source, ok=True,
                     note="not measured")
    if kind == "min":
        value, ok = current, current >= threshold
    elif kind == "max_drop":
        assert baseline is not None
        value = baseline - current
        ok = value <= threshold
    elif kind == "max_increase":
        assert baseline is not None
        value = current - baseline
        ok = value <= threshold
    elif kind == "max_ratio":
        assert baseline is not None
        value = ratio(current, baseline)
        ok = value <= threshold
    else:  # pragma: no cover - RULE_KINDS is closed
        raise ValueError(f"unknown rule kind {kind!r}; kinds: {RULE_KINDS}")
    return Check(metric, kind, threshold, baseline, current, value, drift, source, ok=bool(ok))


def ratio(current: float, baseline: float) -> float:
    """current / baseline; a zero baseline gives 1 when current is zero too (a free simulator stays
    free), else infinity."""
    if baseline == 0:
        return 1.0 if current == 0 else math.inf
    return current / baseline


def alerts(found: list[Check]) -> tuple[str, ...]:
    """The kinds of drift the failed checks show, performance first; () when every check holds."""
    kinds = {c.drift for c in found if not c.ok}
    return tuple(k for k in (PERFORMANCE, HARDWARE) if k in kinds)


def verdict_of(kinds: tuple[str, ...]) -> str:
    """``ok``, or the alerts joined by a comma (the ``qspec.alert`` tag's value)."""
    return ",".join(kinds) if kinds else OK


def calibration_changes(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> list[CalibrationChange]:
    """The change in the device medians of T1, T2 and readout error between two calibration records
    (``qspec.quantum.backends.calibration``'s shape); [] when either side has none."""
    if not before or not after:
        return []
    old, new = before.get("median") or {}, after.get("median") or {}
    return [CalibrationChange(k, _float(old.get(k)), _float(new.get(k))) for k in ("t1", "t2", "readout_error")
            if old.get(k) is not None or new.get(k) is not None]


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def mean_confidence(probabilities: list[float]) -> float | None:
    """The mean probability of the predicted class, from each row's P(class 1) (the model's readout
    of its <Z...Z>): what the training run's test outputs give as a baseline."""
    if not probabilities:
        return None
    total = 0.0
    for p in probabilities:
        p1 = min(max(float(p), 0.0), 1.0)
        total += max(p1, 1.0 - p1)
    return total / len(probabilities)


# --- the last verdict of a stage, kept on the registered model -------------------------------------


@dataclass(frozen=True)
class MonitorRecord:
    """What ``qspec.monitor.<stage>`` holds: the last verdict, when, of which version, which run."""

    verdict: str  # ok | performance_drift | hardware_drift | both, comma-separated
    time: float  # epoch seconds
    version: int
    run_id: str
    target: str

    def to_tag(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_tag(cls, text: str | None) -> MonitorRecord | None:
        """The record in a tag's value; None for none or for one that is not a record (edited by hand)."""
        if not text:
            return None
        try:
            data = json.loads(text)
            return cls(str(data["verdict"]), float(data["time"]), int(data["version"]), str(data["run_id"]),
                       str(data.get("target", "")))
        except (ValueError, TypeError, KeyError):
            return None

    @property
    def alert(self) -> bool:
        return self.verdict != OK


def age(seconds: float) -> str:
    """``5m``, ``3h``, ``2d``: how long ago, as status shows it."""
    seconds = max(0.0, seconds)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"
