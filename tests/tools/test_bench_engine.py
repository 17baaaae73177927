"""The engine benchmark keeps running and keeps checking its peers: a quick run (4 and 8 qubits, a
short VQE) against Aer's estimator, which every install has. It asserts no timing (the machines are
noisy), only that the comparison runs, covers the sizes, and that the values agree."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_engine.py"


@pytest.mark.slow
def test_a_quick_benchmark_run_compares_and_agrees() -> None:
    done = subprocess.run([sys.executable, str(BENCH), "--quick", "--peers", "qspec,aer", "--workloads", "grad,vqe"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {int(m.group(1)): m.group(0) for m in re.finditer(r"^\| (\d+) \(100\) \|.*$", done.stdout, re.M)}
    assert set(rows) == {4, 8}
    for qubits, row in rows.items():
        diffs = [float(d) for d in re.findall(r"diff ([0-9.e+-]+)", row)]
        assert len(diffs) == 1 and diffs[0] <= 1e-10, (qubits, row)  # Aer's loss and gradient equal qspec's
        assert re.search(r"\d+\.\d+x", row), row  # a ratio, whatever its value
    assert re.search(r"^\| qspec \| [^|]+ \| 1\.0x \|", done.stdout, re.M)  # the VQE table has its row
    assert "exact ground energy" in done.stdout and "do not agree" not in done.stdout
