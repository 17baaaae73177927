"""Issue 15's server faults (and issue 13's hanging server), against a real ``mlflow server`` on
127.0.0.1 seen through the fault-injecting proxy of tests/servers.py.

- Down at the start: a clear error in seconds, exit 1, nothing written.
- Killed mid-apply: the apply fails cleanly; after a restart a re-run converges, nothing duplicated.
- Transient answers (502, 503) are retried with backoff; permanent ones (403)
  are not retried; a hanging server fails the command once, at the deadline (``QSPEC_HTTP_DEADLINE``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qspec.registry.testing import client_for
from tests.e2e.lifecycle import SPECS, aliases, versions
from tests.servers import FaultProxy, MlflowServer, free_port, running_mlflow_server

pytestmark = pytest.mark.slow

MODEL = "iris-classifier"
#: Seconds on top of a deadline within which a failing command must have returned: generous (a
#: loaded machine), and still far below what MLflow's own retries take (minutes).
MARGIN = 30


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    with running_mlflow_server(tmp_path_factory.mktemp("faulty-server")) as running:
        yield running


@pytest.fixture
def proxy(server: MlflowServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    with FaultProxy(server.url) as fronted:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", fronted.url)
        yield fronted


@pytest.fixture
def repo(spec_repo, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The iris specs committed (and tagged v1.0) under names and a spec hash of this test's: the
    server is shared by the module, and one test's runs must not be another's."""
    token = int.from_bytes(os.urandom(3), "big")
    name = f"iris-{token:06x}"
    specs = SPECS.replace("name: iris-classifier", f"name: {name}").replace("model: iris-classifier",
                                                                             f"model: {name}")
    specs = specs.replace("name: iris-vqc", f"name: {name}-vqc").replace("experiment: iris-vqc",
                                                                         f"experiment: {name}-vqc")
    assert "learning_rate: 0.1," in specs
    specs = specs.replace("learning_rate: 0.1,", f"learning_rate: {0.1 + token * 1e-12:.12f},")  # its own hash
    repo, _ = spec_repo({"specs/iris.yaml": specs}, tag="v1.0")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", proxy.url)  # spec_repo pointed it at a SQLite store
    return repo, name


def qspec(*args: str, cwd: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """``qspec ARGS`` as a process of its own (a process that dies takes nothing of the test's with it)."""
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "qspec.cli.main", *args], cwd=cwd, env={**os.environ, **env},
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)
    return done, time.monotonic() - start


def test_a_server_down_at_the_start_is_a_clear_error_in_seconds_and_nothing_is_written(repo) -> None:
    git, _ = repo
    down = f"http://127.0.0.1:{free_port()}"  # nobody listens there
    done, elapsed = qspec("apply", "--auto-approve", "--tracking-uri", down, cwd=git.path,
                          QSPEC_HTTP_DEADLINE="300")
    assert done.returncode == 1, done.stdout
    assert "connection refused" in done.stderr and down in done.stderr and "hint:" in done.stderr
    assert "Traceback" not in done.stderr
    assert elapsed < 120  # three tries over a second or two: far inside the 300 s deadline
    assert not (git.path / ".qspec").exists() and not (git.path / "mlruns").exists()


def test_transient_answers_are_retried(repo, proxy: FaultProxy, run_cli) -> None:
    proxy.fail(503, times=2)  # the first call of the command, twice
    proxy.fail(502, times=2, path=r"/registered-models/search")  # a later one
    planned = run_cli("plan", "--detailed-exitcode")
    assert planned.code == 2, planned.err  # changes pending: the plan was read in full
    outcomes = [o for _, _, o in proxy.requests]
    assert outcomes[:3] == ["503", "503", "forwarded"] and outcomes.count("502") == 2
    assert [o for _, p, o in proxy.requests if "/registered-models/search" in p][-1] == "forwarded"
    # (a POST the server answers 502 is retried too: the re-run of the next test registers through it)


def test_a_permanent_answer_fails_at_once_without_retrying(repo, proxy: FaultProxy, run_cli) -> None:
    proxy.fail(403, times=None, path=r"/registered-models/create$")
    refused = run_cli("apply", "--auto-approve")
    assert refused.code == 1
    assert "403" in refused.err or "INJECTED" in refused.err, refused.err
    assert "Traceback" not in refused.err
    creates = [o for _, p, o in proxy.requests if p.endswith("/registered-models/create")]
    assert creates == ["403"]  # asked once, never again


def test_a_hanging_server_fails_the_command_at_the_deadline(repo, proxy: FaultProxy, run_cli, monkeypatch) -> None:
    monkeypatch.setenv("QSPEC_HTTP_DEADLINE", "3")
    proxy.fail("hang", times=None)
    start = time.monotonic()
    result = run_cli("plan")
    elapsed = time.monotonic() - start
    assert result.code == 1
    assert "no answer within" in result.err and "QSPEC_HTTP_DEADLINE" in result.err, result.err
    assert len(proxy.requests) == 1  # the first call hung, used its whole deadline once, and failed
    assert elapsed < 3 + MARGIN


def test_a_server_killed_mid_apply_fails_it_cleanly_and_a_rerun_converges(
        repo, proxy: FaultProxy, server: MlflowServer, run_cli) -> None:
    git, name = repo

    def kill_while_training(method: str, request_path: str) -> None:
        if request_path.endswith("/runs/log-batch") and server.process and server.process.poll() is None:
            server.kill()  # SIGKILL: the server (and its workers) die mid-request, as a crashed host

    proxy.before = kill_while_training
    try:
        killed, _ = qspec("apply", "--auto-approve", cwd=git.path, QSPEC_HTTP_DEADLINE="3")
    finally:
        proxy.before = None
        if server.process and server.process.poll() is not None:
            server.start()  # the same store, the same port
    assert killed.returncode == 1, killed.stdout
    assert "error:" in killed.stderr and "Traceback" not in killed.stderr
    client = client_for(proxy.url)
    (experiment,) = client.search_experiments(filter_string=f"name = '{name}-vqc'")
    (dead,) = client.search_runs([experiment.experiment_id])
    assert dead.info.status == "RUNNING"  # its apply could not close it: the server was gone

    # The re-run, through a load balancer that still answers 502 to the first registration (a POST
    # the server did not do: retried, and registered once).
    proxy.fail(502, times=2, path=r"/model-versions/create$")
    converged = run_cli("apply", "--auto-approve")
    assert converged.code == 0, converged.err
    assert [o for _, p, o in proxy.requests if p.endswith("/model-versions/create")] == ["502", "502", "forwarded"]
    runs = {r.info.run_id: r.info.status for r in client.search_runs([experiment.experiment_id])}
    assert runs[dead.info.run_id] == "FAILED"  # taken over: its holder is gone
    assert sorted(runs.values()) == ["FAILED", "FINISHED"]
    assert versions(client, name) == [1]
    assert aliases(client, name) == {"staging": 1, "production": 1}
    assert run_cli("plan", "--detailed-exitcode").code == 0
