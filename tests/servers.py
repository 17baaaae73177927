"""Real server processes for the slow tier, all on 127.0.0.1: ``mlflow server`` (on SQLite or
PostgreSQL), ``mlflow models serve``, a throw-away PostgreSQL cluster, and a fault-injecting proxy.

Shared by tests/tracking/test_http.py, tests/e2e/test_claims.py, test_lifecycle_http.py,
test_postgres.py and test_server_faults.py. Every process is started in its own session (so its
workers are one process group), waited for with a deadline, and stopped by its PID whatever the
outcome.
"""

from __future__ import annotations

import contextlib
import glob
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NoReturn

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
        process.wait(timeout=5)  # throw-away servers: no need to wait long for a clean exit
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


class MlflowServer:
    """``mlflow server`` on a fixed port of 127.0.0.1, with proxied artifacts in ``base``; it can be
    killed (SIGKILL, as a crashed host) and started again on the same store and port."""

    def __init__(self, base: Path, store: str) -> None:
        self.base, self.store = base, store
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "the server is still running"
        self.starts += 1
        log = self.base / f"server-{self.starts}.log"
        self.process = start(mlflow_command(
            "server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
            "--backend-store-uri", self.store,
            "--serve-artifacts", "--artifacts-destination", (self.base / "artifacts").as_uri(),
        ), log, clean_env())
        wait_until_up(f"{self.url}/health", self.process, log)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=15)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)


@contextlib.contextmanager
def mlflow_server(base: Path, store: str | None = None) -> Iterator[str]:
    """``mlflow server`` with proxied artifacts in ``base`` and ``store`` as its backend (default: a
    SQLite store in ``base``, already migrated: a copy of the template); yields its URL."""
    with running_mlflow_server(base, store) as server:
        yield server.url


@contextlib.contextmanager
def running_mlflow_server(base: Path, store: str | None = None) -> Iterator[MlflowServer]:
    """``mlflow_server``, yielding the ``MlflowServer`` (for tests that kill and restart it)."""
    if store is None:
        from qspec.registry.testing import sqlite_store

        store = sqlite_store(base)
    server = MlflowServer(base, store)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def serve_model(model_uri: str, tracking_uri: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``mlflow models serve -m model_uri`` on 127.0.0.1 (this interpreter, no new environment), up
    and answering ``/ping``; the process (stop it with ``stop``) and its URL."""
    port = free_port()
    env = clean_env(MLFLOW_TRACKING_URI=tracking_uri)
    # models serve execs ``uvicorn`` from PATH: put this interpreter's scripts first, as an
    # activated virtual environment would.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    process = start(mlflow_command(
        "models", "serve", "-m", model_uri, "--env-manager", "local",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ), log, env)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/ping", process, log)
    except BaseException:
        stop(process)
        raise
    return process, f"http://127.0.0.1:{port}"


def invoke(url: str, columns: list[str], rows: list[list[float]]) -> list[dict[str, float]]:
    """The predictions a served model's ``/invocations`` answers for ``rows``."""
    body = json.dumps({"dataframe_split": {"columns": columns, "data": rows}}).encode()
    request = urllib.request.Request(f"{url}/invocations", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return list(json.loads(response.read())["predictions"])


# --- PostgreSQL ------------------------------------------------------------------------------------

#: Where Debian and Ubuntu's postgresql packages put the server binaries (not on PATH).
_PG_GLOBS = ("/usr/lib/postgresql/*/bin", "/usr/local/pgsql/bin", "/opt/homebrew/opt/postgresql*/bin")


def postgres_bin() -> Path | None:
    """The directory of ``initdb`` and ``pg_ctl``: on PATH (links followed), else the newest packaged version."""
    found = shutil.which("initdb")
    if found and (Path(found).resolve().parent / "pg_ctl").exists():
        return Path(found).resolve().parent
    candidates = [Path(d) for pattern in _PG_GLOBS for d in glob.glob(pattern)
                  if (Path(d) / "initdb").exists() and (Path(d) / "pg_ctl").exists()]

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", str(path))) or (0,)

    return max(candidates, key=version) if candidates else None


@dataclass
class Postgres:
    """A throw-away PostgreSQL cluster on 127.0.0.1 (trust authentication, user and database qspec)."""

    bindir: Path
    home: Path  # the cluster, its socket and its log; owned by the server's user
    port: int
    as_user: list[str] = field(default_factory=list)  # runuser -u postgres -- when we are root
    pid: int | None = None

    @property
    def uri(self) -> str:
        return f"postgresql+psycopg2://qspec@127.0.0.1:{self.port}/qspec"

    def run(self, tool: str, *args: str) -> None:
        done = subprocess.run([*self.as_user, str(self.bindir / tool), *args], capture_output=True, text=True,
                              timeout=120, cwd=self.home)
        if done.returncode != 0:
            log = self.home / "postgres.log"
            tail = log.read_text()[-3000:] if log.exists() else ""
            pytest.fail(f"{tool} {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}{tail}")

    def start(self) -> None:
        data = self.home / "data"
        self.run("initdb", "-D", str(data), "-U", "qspec", "-A", "trust", "-E", "UTF8", "--no-instructions")
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.home} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        self.run("pg_ctl", "-D", str(data), "-l", str(self.home / "postgres.log"), "-o", options, "-w",
                 "-t", str(STARTUP_SECONDS), "start")
        self.pid = int((data / "postmaster.pid").read_text().split()[0])
        self.create_database("qspec")

    def create_database(self, name: str) -> str:
        """A new database ``name`` in the cluster; its SQLAlchemy URI."""
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=self.port, user="qspec", dbname="postgres")
        try:
            connection.autocommit = True  # CREATE DATABASE cannot run in a transaction
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')  # a name of the tests', never input
        finally:
            connection.close()
        return self.uri.rsplit("/", 1)[0] + f"/{name}"

    def stop(self) -> None:
        """``pg_ctl stop -m immediate``, then the postmaster's PID killed if it is still there."""
        data = self.home / "data"
        if (data / "postmaster.pid").exists():
            subprocess.run([*self.as_user, str(self.bindir / "pg_ctl"), "-D", str(data), "stop", "-m", "immediate",
                            "-w", "-t", "30"], capture_output=True, timeout=60, cwd=self.home)
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self.pid = None


NO_POSTGRES = ("PostgreSQL is not installed (no initdb on PATH or in /usr/lib/postgresql/*/bin); `make test` "
               "installs it first (scripts/ensure-postgres.sh: apt-get install postgresql, as root)")


def _cannot(reason: str) -> NoReturn:
    """Skip, saying why; in CI (``QSPEC_REQUIRE_POSTGRES=1``, set by .ci/run) fail instead."""
    if os.environ.get("QSPEC_REQUIRE_POSTGRES"):
        pytest.fail(f"QSPEC_REQUIRE_POSTGRES is set, but: {reason}")
    pytest.skip(reason)


@contextlib.contextmanager
def postgres_server() -> Iterator[Postgres]:
    """A fresh PostgreSQL cluster from ``initdb`` in a temporary directory, on a free port of
    127.0.0.1; stopped, and its directory removed, whatever happens. Skips, saying why, only when
    PostgreSQL cannot be run here (no binaries; root without a ``postgres`` user)."""
    bindir = postgres_bin()
    if bindir is None:
        _cannot(NO_POSTGRES)
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        _cannot("the postgres extra (psycopg2) is not installed: pip install -e '.[postgres]' (make install does)")
    as_user: list[str] = []
    owner: tuple[int, int] | None = None
    if os.geteuid() == 0:  # initdb refuses to run as root: the cluster belongs to the postgres user
        import pwd

        try:
            entry = pwd.getpwnam("postgres")
        except KeyError:
            _cannot("running as root and there is no postgres user to own the cluster (initdb refuses root)")
        runuser = shutil.which("runuser")
        if runuser is None:
            _cannot("running as root and runuser is missing: cannot run initdb as the postgres user")
        as_user, owner = [runuser, "-u", "postgres", "--"], (entry.pw_uid, entry.pw_gid)
    # Not under pytest's temporary directory: its parents are private to the user running the tests.
    home = Path(tempfile.mkdtemp(prefix="qspec-pg-"))
    if owner is not None:
        os.chown(home, *owner)
    server = Postgres(bindir, home, free_port(), as_user)
    try:
        server.start()
        yield server
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(home, ignore_errors=True)


# --- A fault-injecting proxy -----------------------------------------------------------------------

#: What the proxy can do to a request instead of forwarding it.
FAULTS = ("hang", "drop")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


@dataclass
class Fault:
    what: int | str  # an HTTP status to answer, "hang" (accept, never answer) or "drop" (close, no answer)
    times: int | None  # None: every matching request
    path: str | None  # a regular expression the request path must match (None: any)


class FaultProxy:
    """An HTTP proxy on 127.0.0.1 in front of ``upstream`` that answers, for the requests it is told
    to, a status (502, 503, 403 ...), hangs, or drops the connection, and forwards the rest.

    ``requests`` lists every request seen, as ``(method, path, outcome)``; ``before`` (if set) sees
    each request before it is handled (a test kills the server there). When the upstream refuses,
    the proxy answers 502, as a load balancer in front of a dead server does.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str, str]] = []
        self.before: Callable[[str, str], None] | None = None
        self.released = threading.Event()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                proxy._handle(self)

            do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="fault-proxy", daemon=True)

    def fail(self, what: int | str, times: int | None = 1, path: str | None = None) -> None:
        """Answer the next ``times`` requests (matching ``path``) with ``what`` instead of forwarding."""
        if isinstance(what, str) and what not in FAULTS:
            raise ValueError(what)
        with self._lock:
            self.faults.append(Fault(what, times, path))

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()
            self.requests.clear()

    def _fault_for(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.path is None or re.search(fault.path, path):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times == 0:
                            self.faults.remove(fault)
                    return fault
        return None

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        method, path = handler.command, handler.path
        if self.before is not None:
            self.before(method, path)
        fault = self._fault_for(path)
        outcome = "forwarded" if fault is None else str(fault.what)
        with self._lock:
            self.requests.append((method, path, outcome))
        if fault is None:
            self._forward(handler, method, path, body)
        elif fault.what == "hang":
            self.released.wait(600)
            handler.close_connection = True
        elif fault.what == "drop":
            handler.close_connection = True
            with contextlib.suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RDWR)
        else:
            self._answer(handler, int(fault.what), json.dumps(
                {"error_code": "INJECTED", "message": f"injected {fault.what}"}).encode(), "application/json")

    def _forward(self, handler: BaseHTTPRequestHandler, method: str, path: str, body: bytes) -> None:
        host, _, port = self.upstream.removeprefix("http://").partition(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=120)
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP_BY_HOP}
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
        except OSError as exc:  # the upstream is down: what a load balancer says
            self._answer(handler, 502, f"upstream unavailable: {exc}".encode(), "text/plain")
            return
        finally:
            connection.close()
        handler.send_response(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        if method != "HEAD":
            handler.wfile.write(payload)

    @staticmethod
    def _answer(handler: BaseHTTPRequestHandler, status: int, body: bytes, kind: str) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", kind)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.released.set()  # hanging handlers return
        self.server.shutdown()
        self.server.server_close()
