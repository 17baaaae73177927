"""``qspec.store``: the MLflow internals it relies on, where artifacts go, and how it calls a server.

The retry policy is checked here against a stub MLflow endpoint behind the fault-injecting proxy of
tests/servers.py (fast: no real server); tests/e2e/test_server_faults.py does it against a real one.
"""

from __future__ import annotations

import inspect
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from qspec.errors import TrackingError
from qspec.store import RetryPolicy, Tracking, connect, http_policy, use_http_policy
from tests.servers import FaultProxy, free_port

#: Seconds on top of a deadline within which a failing call must have returned: generous, because
#: a loaded machine is slow, and still far below what MLflow's own retries take (minutes).
MARGIN = 20


def test_the_mlflow_internals_qspec_relies_on_are_still_there() -> None:
    from mlflow.utils import rest_utils
    from mlflow.utils.request_utils import _TRANSIENT_FAILURE_RESPONSE_CODES

    wrapped = rest_utils._get_http_response_with_retries  # qspec's wrapper once a server was connected
    names = list(inspect.signature(getattr(wrapped, "qspec_original", wrapped)).parameters)
    assert names[:9] == ["method", "url", "max_retries", "backoff_factor", "backoff_jitter", "retry_codes",
                         "raise_on_status", "allow_redirects", "respect_retry_after_header"]
    assert {502, 503, 504, 429} <= _TRANSIENT_FAILURE_RESPONSE_CODES
    assert not {400, 401, 403, 404} & _TRANSIENT_FAILURE_RESPONSE_CODES


# --- where artifacts go ----------------------------------------------------------------------------

class _Client:
    """The two MlflowClient calls ``Tracking.experiment_id`` makes, recorded."""

    def __init__(self) -> None:
        self.created: list[tuple[str, str | None]] = []

    def get_experiment_by_name(self, name: str) -> None:
        return None

    def create_experiment(self, name: str, artifact_location: str | None = None, tags: object = None) -> str:
        self.created.append((name, artifact_location))
        return "1"


def test_a_database_store_without_an_artifact_location_creates_no_experiment() -> None:
    client = _Client()
    tracking = Tracking(uri="postgresql+psycopg2://team@db/mlflow", client=client)  # type: ignore[arg-type]
    with pytest.raises(TrackingError) as caught:
        tracking.experiment_id("iris-vqc")
    assert "./mlruns" in caught.value.message and "--artifact-location" in (caught.value.hint or "")
    assert client.created == []
    told = tracking.with_artifact_location("s3://team-bucket/qspec")
    assert told.experiment_id("iris vqc") == "1"
    assert client.created == [("iris vqc", "s3://team-bucket/qspec/iris-vqc")]


def test_a_server_decides_itself_unless_told(tmp_path) -> None:
    client = _Client()
    Tracking(uri="http://mlflow.team:5000", client=client).experiment_id("a")  # type: ignore[arg-type]
    Tracking(uri="http://mlflow.team:5000", client=client).with_artifact_location(  # type: ignore[arg-type]
        str(tmp_path / "shared")).experiment_id("b")
    assert client.created == [("a", None), ("b", (tmp_path / "shared").as_uri() + "/b")]


def test_the_artifact_location_of_an_embedded_store(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("QSPEC_ARTIFACT_LOCATION", raising=False)
    uri = f"sqlite:///{tmp_path}/db/mlflow.db"
    assert connect(uri).artifact_root == (tmp_path / "db" / "artifacts").as_uri()
    monkeypatch.setenv("QSPEC_ARTIFACT_LOCATION", "s3://bucket/x")
    assert connect(uri).artifact_root == "s3://bucket/x"
    monkeypatch.chdir(tmp_path)
    assert connect(uri, artifact_location="arts").artifact_root == (tmp_path / "arts").as_uri()


# --- how a server is called ------------------------------------------------------------------------

class _Experiments(BaseHTTPRequestHandler):
    """Just enough of MLflow's REST API for ``search_experiments``, ``get_experiment_by_name`` and
    ``create_experiment``."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _reply(self, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        experiment = {"experiment_id": "7", "name": "x", "lifecycle_stage": "active"}
        self._reply({"experiment": experiment} if "get-by-name" in self.path else {"experiments": []})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._reply({"experiment_id": "8"} if self.path.endswith("/create") else {"experiments": []})


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    stub = ThreadingHTTPServer(("127.0.0.1", 0), _Experiments)
    stub.daemon_threads = True
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    try:
        with FaultProxy(f"http://127.0.0.1:{stub.server_address[1]}") as fronted:
            yield fronted
    finally:
        stub.shutdown()
        stub.server_close()
        use_http_policy(RetryPolicy())


def client_under(policy: RetryPolicy, url: str):  # type: ignore[no-untyped-def]
    from mlflow import MlflowClient

    use_http_policy(policy)
    return MlflowClient(url)


def timed(call):  # type: ignore[no-untyped-def]
    start = time.monotonic()
    try:
        return call(), time.monotonic() - start
    except Exception as exc:  # the test reads the error
        return exc, time.monotonic() - start


@pytest.mark.parametrize("status", [502, 503, 504, 429])
def test_a_transient_answer_is_retried_with_backoff(proxy, status) -> None:
    proxy.fail(status, times=3)
    client = client_under(RetryPolicy(deadline=30, first_wait=0.05), proxy.url)
    assert client.search_experiments() == []
    assert [outcome for _, _, outcome in proxy.requests] == [str(status)] * 3 + ["forwarded"]


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_a_permanent_answer_is_not_retried(proxy, status) -> None:
    from mlflow.exceptions import MlflowException

    proxy.fail(status, times=None)
    client = client_under(RetryPolicy(deadline=30, first_wait=0.05), proxy.url)
    with pytest.raises(MlflowException):
        client.search_experiments()
    assert len(proxy.requests) == 1


def test_retries_stop_at_the_deadline_and_say_so(proxy) -> None:
    from mlflow.exceptions import MlflowException

    proxy.fail(502, times=None)
    client = client_under(RetryPolicy(deadline=2, first_wait=0.1), proxy.url)
    error, elapsed = timed(client.search_experiments)
    assert isinstance(error, MlflowException)
    assert "HTTP 502" in error.message and "QSPEC_HTTP_DEADLINE" in error.message
    assert len(proxy.requests) >= 3  # retried ...
    assert elapsed < 2 + MARGIN  # ... within the deadline


def test_a_hanging_server_fails_the_call_once_at_the_deadline(proxy) -> None:
    from mlflow.exceptions import MlflowException

    proxy.fail("hang", times=None)
    client = client_under(RetryPolicy(deadline=1.5), proxy.url)
    error, elapsed = timed(client.search_experiments)
    assert isinstance(error, MlflowException) and "no answer within" in error.message, error
    assert len(proxy.requests) == 1  # one attempt used the whole deadline: no second socket timeout
    assert elapsed < 1.5 + MARGIN


def test_a_dropped_connection_is_retried_only_where_sending_twice_is_harmless(proxy) -> None:
    from mlflow.exceptions import MlflowException

    client = client_under(RetryPolicy(deadline=30, first_wait=0.05), proxy.url)
    proxy.fail("drop", times=2)
    assert client.get_experiment_by_name("x").experiment_id == "7"  # a GET: sent again
    assert [o for _, _, o in proxy.requests] == ["drop", "drop", "forwarded"]
    proxy.clear()
    proxy.fail("drop", times=1)
    with pytest.raises(MlflowException, match="connection was lost"):
        client.create_experiment("y")  # a POST that may have been done: not sent twice
    assert [(m, o) for m, _, o in proxy.requests] == [("POST", "drop")]


def test_a_server_that_is_down_is_an_error_in_seconds_not_at_the_deadline() -> None:
    from mlflow.exceptions import MlflowException

    client = client_under(RetryPolicy(deadline=120, first_wait=0.1), f"http://127.0.0.1:{free_port()}")
    try:
        error, elapsed = timed(client.search_experiments)
    finally:
        use_http_policy(RetryPolicy())
    assert isinstance(error, MlflowException) and "connection refused" in error.message
    assert "3 attempts" in error.message
    assert elapsed < 60  # tried three times over about a second and a half, not for two minutes


def test_the_deadline_is_read_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("QSPEC_HTTP_DEADLINE", "4.5")
    assert http_policy().deadline == 4.5
    for bad in ("soon", "0", "-3", "inf"):
        monkeypatch.setenv("QSPEC_HTTP_DEADLINE", bad)
        with pytest.raises(TrackingError, match="QSPEC_HTTP_DEADLINE"):
            http_policy()


def test_backoff_grows_is_capped_and_waits_for_retry_after() -> None:
    policy = RetryPolicy(first_wait=0.5, longest_wait=8)
    for failures in range(1, 9):
        base = min(8, 0.5 * 2 ** (failures - 1))  # 0.5, 1, 2, 4, 8, 8 ...
        assert base <= policy.wait(failures) <= base * 1.25
    assert policy.wait(1, retry_after=5) == 5


def test_mlflow_telemetry_is_off_in_qspec_processes(tmp_path) -> None:
    import os

    import mlflow.telemetry

    connect(f"sqlite:///{tmp_path}/mlflow.db")
    assert os.environ["MLFLOW_DISABLE_TELEMETRY"] == "true"  # set by importing qspec, before mlflow
    assert mlflow.telemetry.get_telemetry_client() is None
