"""Real server processes for the slow tier: ``mlflow server`` (and ``mlflow models serve``) on 127.0.0.1.

Shared by tests/tracking/test_http.py and tests/e2e/test_claims.py. Every process is started in
its own session (so its workers are one process group), waited for with a deadline, and stopped
whatever the outcome.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

STARTUP_SECONDS = 90


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mlflow_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "mlflow", *args]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any ``MLFLOW_*`` variable a test or the user set, plus ``extra``."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}, **extra}


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{url} exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    pytest.fail(f"{url} did not answer within {STARTUP_SECONDS}s:\n{log.read_text()[-4000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the process group we started (the server's workers included)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


def start(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    try:
        return subprocess.Popen(args, stdout=handle, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    finally:
        handle.close()  # the child holds its own descriptor


@contextlib.contextmanager
def mlflow_server(base: Path) -> Iterator[str]:
    """``mlflow server`` with a SQLite backend and proxied artifacts, both in ``base``; yields its URL."""
    from qspec.registry.testing import sqlite_store

    store = sqlite_store(base)  # already migrated: the server starts on a copy of the template
    port = free_port()
    log = base / "server.log"
    process = start(mlflow_command(
        "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--backend-store-uri", store,
        "--serve-artifacts", "--artifacts-destination", (base / "artifacts").as_uri(),
    ), log, clean_env())
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", process, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)
