"""The engine benchmark's functions run (at 4 qubits, qspec and Aer only); the benchmark is a script."""

from __future__ import annotations

import importlib.util
import pathlib

import numpy as np

BENCH = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "bench_engine.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_engine", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_loss_and_gradient_cases_agree_at_four_qubits() -> None:
    bench = load_bench()
    qspec, aer = bench.case_grad("qspec", 4), bench.case_grad("aer", 4)
    assert qspec["samples"] == aer["samples"] == 100 and qspec["seconds"] > 0
    assert abs(qspec["loss"] - aer["loss"]) < 1e-10
    assert np.max(np.abs(np.array(qspec["grad"]) - np.array(aer["grad"]))) < 1e-10
