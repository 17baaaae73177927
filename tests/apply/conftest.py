"""A real MLflow SQLite store per test, in tmp_path (a copy of a template: no migrations per test)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qspec.registry.testing import client_for, sqlite_store


@pytest.fixture
def store_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)  # anything MLflow writes relative to the cwd stays in the test's folder
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return sqlite_store(tmp_path / "store")


@pytest.fixture
def client(store_uri: str) -> Any:
    return client_for(store_uri)
