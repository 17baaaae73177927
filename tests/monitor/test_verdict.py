"""The pure verdict of ``qspec monitor``: which threshold holds against which baseline, and which kind
of drift a failure is, from plain numbers."""

from __future__ import annotations

import math

import pytest

from qspec.monitor.report import Report, render_markdown, render_text
from qspec.monitor.verdict import (
    HARDWARE,
    PERFORMANCE,
    Baseline,
    CalibrationChange,
    MonitorRecord,
    age,
    alerts,
    calibration_changes,
    checks,
    mean_confidence,
    ratio,
    verdict_of,
)
from qspec.spec.models import MonitorRule

RULES = {"accuracy": MonitorRule(max_drop=0.05), "latency_ms": MonitorRule(max_ratio=2.0)}
TRAINING = {"accuracy": Baseline(0.95, "training run abc: test_accuracy")}


def by(found, metric, drift):
    [check] = [c for c in found if c.metric == metric and c.drift == drift]
    return check


def test_same_data_on_the_training_target_holds() -> None:
    found = checks(RULES, training=TRAINING, reference={"accuracy": 0.93, "latency_ms": 3.0}, current=None)
    assert alerts(found) == ()
    accuracy = by(found, "accuracy", PERFORMANCE)
    assert accuracy.baseline == 0.95 and accuracy.current == 0.93 and accuracy.ok
    assert accuracy.value == pytest.approx(0.02)
    # Every threshold is shown: latency has no training baseline and one evaluation to compare.
    latency = by(found, "latency_ms", HARDWARE)
    assert latency.ok and "one evaluation" in latency.note


def test_a_drop_beyond_max_drop_is_performance_drift() -> None:
    found = checks(RULES, training=TRAINING, reference={"accuracy": 0.80, "latency_ms": 3.0}, current=None)
    assert alerts(found) == (PERFORMANCE,)
    assert by(found, "accuracy", PERFORMANCE).verdict == PERFORMANCE
    assert verdict_of(alerts(found)) == "performance_drift"


def test_the_target_is_compared_with_the_training_noise_on_the_same_data() -> None:
    found = checks(RULES, training=TRAINING, reference={"accuracy": 0.94, "latency_ms": 3.0},
                   current={"accuracy": 0.70, "latency_ms": 9.0})
    assert alerts(found) == (HARDWARE,)
    hardware = by(found, "accuracy", HARDWARE)
    assert (hardware.baseline, hardware.current, hardware.ok) == (0.94, 0.70, False)
    assert by(found, "accuracy", PERFORMANCE).ok  # the data did not drift: the reference holds
    latency = by(found, "latency_ms", HARDWARE)
    assert latency.value == pytest.approx(3.0) and not latency.ok


def test_both_kinds_at_once_are_both_reported() -> None:
    found = checks(RULES, training=TRAINING, reference={"accuracy": 0.5, "latency_ms": 1.0},
                   current={"accuracy": 0.2, "latency_ms": 1.0})
    assert alerts(found) == (PERFORMANCE, HARDWARE)
    assert verdict_of(alerts(found)) == "performance_drift,hardware_drift"


def test_min_and_max_increase() -> None:
    rules = {"accuracy": MonitorRule(min=0.9), "energy_error": MonitorRule(max_increase=0.01)}
    training = {"energy_error": Baseline(0.001, "run")}
    found = checks(rules, training=training, reference={"accuracy": 0.85, "energy_error": 0.0105}, current=None)
    assert not by(found, "accuracy", PERFORMANCE).ok  # min is an absolute bound: no baseline needed
    increase = by(found, "energy_error", PERFORMANCE)
    assert increase.value == pytest.approx(0.0095) and increase.ok
    worse = checks(rules, training=training, reference={"accuracy": 0.95, "energy_error": 0.02}, current=None)
    assert alerts(worse) == (PERFORMANCE,)


def test_a_missing_training_baseline_is_shown_not_failed() -> None:
    found = checks({"mean_confidence": MonitorRule(max_drop=0.1)}, training={},
                   reference={"mean_confidence": 0.2}, current=None)
    [check] = found
    assert check.ok and "no baseline" in check.note


def test_ratio_of_free_simulators() -> None:
    assert ratio(0.0, 0.0) == 1.0
    assert math.isinf(ratio(0.01, 0.0))
    assert ratio(3.0, 1.5) == 2.0


def test_mean_confidence_of_parity_outputs() -> None:
    # <Z..Z> = 1 -> p1 = 0, confidence 1; <Z..Z> = 0 -> p1 = 0.5; -0.5 -> p1 = 0.75.
    assert mean_confidence([0.0, 0.5, 0.75, 0.1]) == pytest.approx((1.0 + 0.5 + 0.75 + 0.9) / 4)
    assert mean_confidence([]) is None


def test_calibration_changes_read_the_medians() -> None:
    before = {"median": {"t1": 1.2e-4, "t2": 5e-5, "readout_error": 0.021}}
    after = {"median": {"t1": 8e-5, "t2": 5e-5, "readout_error": 0.048}}
    changes = calibration_changes(before, after)
    assert [c.name for c in changes] == ["t1", "t2", "readout_error"]
    assert changes[2].describe() == "readout error 2.1% -> 4.8%"
    assert changes[0].describe() == "T1 120.0 us -> 80.0 us"
    assert calibration_changes(None, after) == []


def test_monitor_record_round_trips_and_rejects_hand_edits() -> None:
    record = MonitorRecord("hardware_drift", 1000.0, 3, "abc", "fake:manila")
    assert MonitorRecord.from_tag(record.to_tag()) == record
    assert record.alert
    assert MonitorRecord.from_tag("not json") is None
    assert MonitorRecord.from_tag('{"verdict": "ok"}') is None
    assert MonitorRecord.from_tag(None) is None


def test_age() -> None:
    assert [age(s) for s in (5, 300, 3 * 3600 + 5, 2 * 86400)] == ["5s", "5m", "3h", "2d"]


def test_report_renders_every_check_and_the_verdict() -> None:
    found = checks(RULES, training=TRAINING, reference={"accuracy": 0.94, "latency_ms": 3.0},
                   current={"accuracy": 0.70, "latency_ms": 3.0})
    report = Report("iris", "iris", 2, "production", "classification", "fake:manila", "aer", 100, "abc",
                    tuple(found), alerts(found), {"accuracy": 0.94}, {"accuracy": 0.70},
                    (CalibrationChange("readout_error", 0.021, 0.048),), "fake:manila's current snapshot", "d.csv")
    text = render_text(report)
    assert text.startswith("ALERT hardware_drift")
    assert "readout error 2.1% -> 4.8%" in text
    assert text.count("DRIFT") == 1 and "max_ratio 2" in text
    assert report.exit_code == 3
    markdown = render_markdown(report)
    assert "| accuracy | hardware | 0.94 | 0.7 |" in markdown
    data = report.as_dict()
    assert data["verdict"] == "hardware_drift" and len(data["checks"]) == len(found)
    assert {"metric", "baseline", "current", "threshold", "verdict"} <= set(data["checks"][0])
