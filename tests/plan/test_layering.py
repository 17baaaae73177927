"""``qspec.plan`` stays pure: importing it loads no mlflow, qiskit, git or click."""

from __future__ import annotations

import subprocess
import sys


def test_plan_imports_nothing_heavy() -> None:
    code = (
        "import sys, qspec.plan, qspec.plan.testing, qspec.apply, qspec.registry\n"
        "bad = [m for m in ('mlflow', 'qiskit', 'git', 'click') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
