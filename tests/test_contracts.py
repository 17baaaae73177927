"""The layers of docs/architecture.md are checked by import-linter (the contracts in pyproject.toml),
and the check can fail: a forbidden import added to a copy of the package breaks its contract."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}  # the copy's qspec wins over the installed one
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, env=env, capture_output=True, text=True,
                          timeout=300)


def test_every_contract_is_kept() -> None:
    done = lint_imports(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "BROKEN" not in done.stdout and "KEPT" in done.stdout


def copy_of_package(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "qspec", tmp_path / "qspec", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


@pytest.mark.parametrize(("module", "added", "chain"), [
    # Inside a function, where a fresh-interpreter sys.modules check would never see it.
    ("plan/diff.py", "def _sneaky() -> None:\n    import mlflow  # noqa: F401\n", "qspec.plan.diff -> mlflow"),
    ("cli/predict.py", "def _around_the_api() -> None:\n    from qspec.tracking import predict  # noqa: F401\n",
     "qspec.cli.predict -> qspec.tracking"),
    ("apply/executor.py", "def _concrete() -> None:\n    from qspec.registry import mlflow  # noqa: F401\n",
     "qspec.apply.executor -> qspec.registry"),
    ("serving/render.py", "def _heavy() -> None:\n    import mlflow  # noqa: F401\n",
     "qspec.serving.render -> mlflow"),
    ("monitor/verdict.py", "def _measure() -> None:\n    from qspec.quantum import monitor  # noqa: F401\n",
     "qspec.monitor.verdict -> qspec.quantum"),
])
def test_a_forbidden_import_breaks_its_contract(tmp_path: Path, module: str, added: str, chain: str) -> None:
    root = copy_of_package(tmp_path)
    with (root / "qspec" / module).open("a") as handle:
        handle.write("\n\n" + added)
    done = lint_imports(root)
    assert done.returncode != 0
    assert "BROKEN" in done.stdout and chain in done.stdout, done.stdout
