"""Shared fixtures: the CLI run in-process, real git repositories with an isolated HOME, and a real
MLflow SQLite store per test (a copy of a template: no migrations per test)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "specs"


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``mlflow server`` on 127.0.0.1 (SQLite behind it, proxied artifacts), one per test module
    that asks for it (the slow tier); ``tests/servers.py`` starts and stops it."""
    from tests.servers import mlflow_server

    with mlflow_server(tmp_path_factory.mktemp("mlflow-server")) as url:
        yield url


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """Run ``qspec ARGS`` through the console entry point (exit codes and error rendering included)."""
    from qspec.cli.main import main

    # The CLI sets defaults for these in the process environment; restore them after the test.
    for var in ("MLFLOW_LOGGING_LEVEL", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"):
        monkeypatch.delenv(var, raising=False)

    def run(*args: str, cwd: Path | None = None) -> Result:
        if cwd is not None:
            monkeypatch.chdir(cwd)
        capsys.readouterr()
        try:
            code = main(list(args))
            code = int(code or 0)
        except SystemExit as exc:
            code = int(exc.code or 0) if not isinstance(exc.code, str) else 1
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME with its own git identity, so no user or system git config leaks into a test."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(var, raising=False)
    (home / ".gitconfig").write_text(
        "[user]\n\tname = qspec tests\n\temail = tests@qspec.invalid\n[init]\n\tdefaultBranch = main\n"
    )
    return home


class GitRepo:
    def __init__(self, path: Path) -> None:
        self.path = path

    def git(self, *args: str) -> str:
        done = subprocess.run(["git", *args], cwd=self.path, check=True, capture_output=True, text=True)
        return done.stdout.strip()

    def write(self, rel: str, text: str | bytes) -> Path:
        target = self.path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            target.write_bytes(text)
        else:
            target.write_text(text)
        return target

    def commit(self, message: str = "update specs") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def git_repo(tmp_path: Path, isolated_home: Path) -> Iterator[GitRepo]:
    """A real, empty git repository in a temporary directory."""
    path = tmp_path / "repo"
    path.mkdir()
    repo = GitRepo(path)
    repo.git("init", "-q")
    yield repo


def example_text(name: str) -> str:
    return (EXAMPLES / name).read_text()


@pytest.fixture
def store_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A real, empty SQLite MLflow store in tmp_path, copied from a template (no migrations per test).

    The tests' one way to get a store; session-scoped fixtures, which cannot use this one, call
    ``qspec.registry.testing.sqlite_store`` directly."""
    from qspec.registry.testing import sqlite_store

    monkeypatch.chdir(tmp_path)  # anything MLflow writes relative to the cwd stays in the test's folder
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return sqlite_store(tmp_path / "store")


@pytest.fixture
def client(store_uri: str) -> Any:
    from qspec.registry.testing import client_for

    return client_for(store_uri)


@pytest.fixture
def spec_repo(git_repo: GitRepo, store_uri: str,
              monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[GitRepo, str]]:
    """Commit ``files`` (path -> text) to the test's git repository, optionally tag the commit, and
    point the current directory and MLFLOW_TRACKING_URI at it and at the test's SQLite store."""

    def make(files: dict[str, str], *, tag: str | None = None) -> tuple[GitRepo, str]:
        git_repo.write(".gitignore", ".qspec/\n")
        for rel, text in files.items():
            git_repo.write(rel, text)
        git_repo.commit("specs")
        if tag is not None:
            git_repo.git("tag", tag)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", store_uri)
        monkeypatch.chdir(git_repo.path)
        return git_repo, store_uri

    return make
