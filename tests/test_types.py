"""The whole package type-checks (``make lint``'s mypy, strict for ``qspec.spec`` and ``qspec.plan``
as pyproject says), in CI too; and the check can fail: a wrong type added to a copy is reported."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow  # a cold mypy run of the package takes about a minute on 2 cores


def mypy(root: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(cache), "qspec"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)


def test_the_package_type_checks_and_a_wrong_type_is_reported(tmp_path: Path) -> None:
    done = mypy(REPO, tmp_path / "cache")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success" in done.stdout

    copy = tmp_path / "copy"
    shutil.copytree(REPO / "qspec", copy / "qspec", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", copy / "pyproject.toml")
    target = copy / "qspec" / "plan" / "reasons.py"
    target.write_text(target.read_text(encoding="utf-8") + "\n\nWRONG: int = 'not a number'\n", encoding="utf-8")
    broken = mypy(copy, tmp_path / "cache")  # the warm cache: only the changed module is checked again
    assert broken.returncode == 1
    assert "reasons.py" in broken.stdout and "incompatible types in assignment" in broken.stdout.lower()
