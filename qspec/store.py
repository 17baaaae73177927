"""The connection to MLflow: which store, a client for it, and MLflow's process-wide URIs.

The URI is resolved as the CLI documents it (README, "Commands"): an explicit
``--tracking-uri``, else ``MLFLOW_TRACKING_URI``, else an embedded SQLite store in the repository
(``<root>/.qspec/mlflow.db``, artifacts under ``<root>/.qspec/artifacts``; ``.qspec/`` is
git-ignored). Shared by the two MLflow adapters, which do not import each other:
``qspec.tracking`` (runs, models, predictions) and ``qspec.registry.mlflow`` (the registry), and
by ``qspec.api``, which connects once per command and hands the connection to both. mlflow is
imported inside the functions so that importing this module stays cheap.

Where artifacts go (README, "Teams"): ``--artifact-location`` / ``$QSPEC_ARTIFACT_LOCATION`` for
the experiments qspec creates, else next to an embedded SQLite database, else the server's own
(``mlflow server --serve-artifacts``); any other database needs one said explicitly, because
MLflow's default would be ``./mlruns`` of whatever folder qspec ran from.

How qspec calls a server: one ``RetryPolicy``, applied by ``connect`` to every HTTP request MLflow
makes in this process (``use_http_policy``): each call has one deadline (``$QSPEC_HTTP_DEADLINE``,
default 30 s) that bounds every attempt, wait and retry of it.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qspec.errors import TrackingError

if TYPE_CHECKING:
    from mlflow import MlflowClient

#: The directory of the embedded store, relative to the repository root (git-ignored).
EMBEDDED_DIR = ".qspec"
ENV_VAR = "MLFLOW_TRACKING_URI"
REGISTRY_ENV_VAR = "MLFLOW_REGISTRY_URI"
#: Where the experiments qspec creates keep their artifacts (``--artifact-location`` wins).
ARTIFACT_ENV_VAR = "QSPEC_ARTIFACT_LOCATION"
#: Seconds one call to a tracking server may take, every attempt, wait and retry included.
DEADLINE_ENV_VAR = "QSPEC_HTTP_DEADLINE"
DEFAULT_DEADLINE = 30.0


def embedded_uri(root: Path) -> str:
    """The SQLite URI of the embedded store of the repository at ``root``."""
    return "sqlite:///" + (root.resolve() / EMBEDDED_DIR / "mlflow.db").as_posix()


def resolve_tracking_uri(explicit: str | None = None, *, root: Path | None = None) -> str:
    """``explicit`` > ``$MLFLOW_TRACKING_URI`` > the embedded SQLite store of the repository at
    ``root`` (default: the git work tree containing the current directory)."""
    if explicit:
        return explicit
    if os.environ.get(ENV_VAR):
        return os.environ[ENV_VAR]
    if root is None:
        from qspec.spec.source import find_root

        root = find_root(Path.cwd())
    return embedded_uri(root)


@dataclass(frozen=True)
class Tracking:
    """A connection to one tracking store: its URI, a client, and where new experiments keep artifacts.

    ``artifact_root`` is the explicit location (``--artifact-location``, ``$QSPEC_ARTIFACT_LOCATION``)
    when one was given; else, for an embedded SQLite store, a directory next to the database; else
    None: a server decides itself (``--serve-artifacts``), and a database store refuses to create an
    experiment, because MLflow's own default (``./mlruns`` relative to the current directory) would
    scatter artifacts wherever qspec runs.
    """

    uri: str
    client: MlflowClient
    artifact_root: str | None = None

    @property
    def is_server(self) -> bool:
        return self.uri.startswith(("http://", "https://"))

    def with_artifact_location(self, location: str | None) -> Tracking:
        """This connection, with new experiments keeping their artifacts at ``location`` (None: unchanged)."""
        return self if not location else replace(self, artifact_root=artifact_location_uri(location))

    def experiment_id(self, name: str, tags: dict[str, str] | None = None) -> str:
        """The MLflow experiment called ``name``, created (with its artifact location) if missing."""
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode

        with mlflow_errors(f"cannot open MLflow experiment {name!r}", self.uri):
            found = self.client.get_experiment_by_name(name)
            if found is not None:
                if found.lifecycle_stage == "deleted":
                    raise TrackingError(
                        f"MLflow experiment {name!r} is deleted",
                        where=self.uri,
                        hint="restore it (mlflow experiments restore) or set spec.tracking.experiment_name",
                    )
                return str(found.experiment_id)
            if self.artifact_root is None and not self.is_server:
                raise TrackingError(
                    f"no artifact location for the new experiment {name!r}: MLflow would write its "
                    "artifacts to ./mlruns of the current directory",
                    where=self.uri,
                    hint=f"give --artifact-location URI (or ${ARTIFACT_ENV_VAR}): a directory or bucket the "
                         "team shares (file:///srv/mlflow, s3://bucket/qspec); or use an mlflow server "
                         "with --serve-artifacts",
                )
            # One directory per experiment; a free-form experiment name must not make a path.
            folder = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "experiment"
            location = f"{self.artifact_root.rstrip('/')}/{folder}" if self.artifact_root else None
            try:
                return str(self.client.create_experiment(name, artifact_location=location, tags=tags))
            except MlflowException as exc:
                # Another process created it between our lookup and our create.
                if exc.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
                    raise
                again = self.client.get_experiment_by_name(name)
                if again is None:
                    raise
                return str(again.experiment_id)


def artifact_location_uri(location: str) -> str:
    """``location`` as MLflow stores it: a URI as given, a plain path made absolute (``file://``)."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]+:", location):  # a scheme (two letters at least: not C:)
        return location
    return Path(location).expanduser().resolve().as_uri()


def connect(tracking_uri: str | None = None, *, root: Path | None = None,
            artifact_location: str | None = None) -> Tracking:
    """A ``Tracking`` for the resolved URI; the embedded store's directory is created if needed.

    ``artifact_location`` (else ``$QSPEC_ARTIFACT_LOCATION``) is where the experiments qspec creates
    keep their artifacts. For a server, MLflow's HTTP calls follow ``http_policy()`` from here on.
    """
    from mlflow import MlflowClient

    uri = resolve_tracking_uri(tracking_uri, root=root)
    disable_telemetry()
    location = artifact_location or os.environ.get(ARTIFACT_ENV_VAR) or None
    artifact_root = artifact_location_uri(location) if location else None
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///").split("?", 1)[0])
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TrackingError(f"cannot create the directory of the tracking store: {exc}", where=uri) from exc
        artifact_root = artifact_root or (db.parent / "artifacts").resolve().as_uri()
    elif uri.startswith(("http://", "https://")):
        use_http_policy(http_policy())
    elif uri.startswith("file:") or "://" not in uri:
        raise TrackingError(
            f"the file store {uri!r} is not supported",
            hint="use a database (sqlite:///path/mlflow.db) or a server (http://host:5000)",
        )
    try:
        with mlflow_errors("cannot open the MLflow tracking store", uri):
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    except ModuleNotFoundError as exc:  # SQLAlchemy imports the database driver the URI's scheme names
        scheme = uri.split("://", 1)[0]
        raise TrackingError(
            f"the tracking store {scheme}:// needs the Python package {exc.name!r}, which is not installed",
            hint=f"pip install {_DRIVERS.get(scheme.split('+', 1)[0], exc.name or 'the database driver')}",
        ) from None  # the driver's import traceback says nothing more
    return Tracking(uri=uri, client=client, artifact_root=artifact_root)


#: The package to install for a database scheme's default SQLAlchemy driver.
_DRIVERS = {"postgresql": "psycopg2-binary", "mysql": "mysqlclient", "mssql": "pyodbc"}


@contextmanager
def mlflow_errors(what: str, uri: str | None = None, hint: str | None = None) -> Iterator[None]:
    """Turn MLflow's and the file system's failures into a ``TrackingError`` saying ``what`` failed."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except TrackingError:
        raise
    except MlflowException as exc:
        raise TrackingError(f"{what}: {_first_line(exc.message)}", where=uri, hint=hint) from exc
    except OSError as exc:
        raise TrackingError(
            f"{what}: {exc.strerror or exc}" + (f" ({exc.filename})" if exc.filename else ""),
            where=uri,
            hint=hint or "check that the artifact store exists and is writable",
        ) from exc


def process_uris() -> tuple[str | None, str | None]:
    """MLflow's process-wide tracking and registry URIs as ``set_tracking_uri`` / ``set_registry_uri``
    left them, None where unset.

    The only read of MLflow internals in qspec: no public reader tells "unset" apart
    (``get_tracking_uri()`` falls back to a default, ``get_registry_uri()`` to the tracking URI),
    and restoring the fallback instead of "unset" would pin it. ``tests/tracking/test_store.py``
    fails the day MLflow renames these attributes.
    """
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    return tracking_utils._tracking_uri, registry_utils._registry_uri


@contextmanager
def using_tracking_uri(uri: str) -> Iterator[None]:
    """Point MLflow's process-wide URIs (tracking and registry) at ``uri`` for the duration.

    ``mlflow.pyfunc.log_model`` and ``mlflow.pyfunc.load_model`` take no client: they read the
    global URI. MLflow's own ``_use_tracking_uri`` unsets ``MLFLOW_TRACKING_URI`` on exit even when
    the user had set it, so the previous state is saved and restored here, environment included.
    """
    import mlflow

    previous_tracking, previous_registry = process_uris()
    previous_env = {k: os.environ.get(k) for k in (ENV_VAR, REGISTRY_ENV_VAR)}
    try:
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        yield
    finally:
        # None is "unset" to both setters (set_tracking_uri also drops its environment variable).
        mlflow.set_tracking_uri(previous_tracking)  # type: ignore[arg-type]
        mlflow.set_registry_uri(previous_registry)  # type: ignore[arg-type]
        for key, value in previous_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


# --- MLflow's telemetry ----------------------------------------------------------------------------

TELEMETRY_ENV_VAR = "MLFLOW_DISABLE_TELEMETRY"


def disable_telemetry() -> None:
    """Turn MLflow's usage telemetry off for this process (README, "Teams").

    MLflow 3 starts a telemetry client when it is imported, whose thread sets and unsets
    ``_MLFLOW_TELEMETRY_SESSION_ID`` in ``os.environ`` while qspec reads the environment (issue 13:
    one apply in 150 raced). ``qspec/__init__.py`` sets the variable before anything imports
    mlflow; this drops a client that an earlier ``import mlflow`` of the host program started.
    """
    import mlflow.telemetry

    os.environ[TELEMETRY_ENV_VAR] = "true"
    if mlflow.telemetry.get_telemetry_client() is not None:
        reset: Any = mlflow.telemetry.set_telemetry_client  # untyped in MLflow
        reset()  # disabled now: sets it to None


# --- How qspec calls a tracking server ------------------------------------------------------------

#: Methods that mean the same when sent twice: only these are retried once the request may have
#: reached the server (its connection dropped, or no answer in time). A POST (create a version,
#: log a batch) is retried only when it certainly was not received, or the server said it was not
#: done (a retryable status), so that a retry never makes anything twice.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class ServerUnavailableError(Exception):
    """A call to the tracking server that failed after the retries its policy allows (MLflow wraps
    it in an ``MlflowException``, which the adapters turn into a ``TrackingError``)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How one call to a tracking server is retried (README, "Teams").

    Every call has one ``deadline``: each attempt waits for an answer at most what is left of it,
    and no attempt starts after it, so a hanging server fails the call once, after ``deadline``
    seconds, rather than after three socket timeouts. Within the deadline:

    - a transient answer (the ``retry_codes`` MLflow passes: 408, 429, 500, 502, 503, 504) is
      retried after an exponential, jittered wait (``first_wait`` doubling up to ``longest_wait``,
      or the server's ``Retry-After`` when longer), for every method: the server did not do it;
    - a connection refused (nothing listens: the server is down) is tried ``refused_attempts``
      times, about a second and a half, so a server that is down is an error in seconds;
    - a connection dropped, or an attempt that timed out, is retried for idempotent methods only;
    - any other answer (400, 401, 403, 404 ...) is returned at once: MLflow raises it, and it is
      never retried.

    MLflow's own retries are off under it (each attempt is one request); ``MLFLOW_HTTP_REQUEST_MAX_RETRIES``
    still caps the attempts and ``MLFLOW_HTTP_REQUEST_TIMEOUT`` each attempt's wait, both inside the deadline.
    """

    deadline: float = DEFAULT_DEADLINE
    first_wait: float = 0.5
    longest_wait: float = 8.0
    refused_attempts: int = 3

    def wait(self, failures: int, retry_after: float | None = None) -> float:
        """Seconds to wait after the ``failures``-th failed attempt of a call."""
        backoff = min(self.longest_wait, self.first_wait * 2 ** (failures - 1))
        backoff *= 1 + random.random() / 4  # jitter: clients failed together do not retry together
        return float(max(backoff, retry_after or 0.0))

    def request(self, send: Callable[..., Any], method: str, url: str, *, max_retries: int,
                retry_codes: frozenset[int], raise_on_status: bool, timeout: float | None,
                kwargs: dict[str, Any]) -> Any:
        """``send`` (one attempt: MLflow's request function with its retries off) under this policy."""
        import requests

        start = time.monotonic()
        end = start + self.deadline
        attempts = 0
        while True:
            attempts += 1
            left = end - time.monotonic()
            wait_for = left if timeout is None else min(timeout, left)
            failure: BaseException | None = None
            retry_after = None
            try:
                response = send(method, url, 0, 0, 0, retry_codes, False, timeout=max(wait_for, 0.01), **kwargs)
            except requests.RequestException as exc:
                failure, problem, again = exc, *self._judge(exc, method, attempts, wait_for)
            else:
                if response.status_code not in retry_codes:
                    return response
                problem, again = f"HTTP {response.status_code} {response.reason or ''}".strip(), True
                retry_after = _seconds_header(response.headers.get("Retry-After"))
            pause = self.wait(attempts, retry_after)
            if again and attempts <= max_retries and time.monotonic() + pause < end:
                time.sleep(pause)
                continue
            if failure is None and not raise_on_status:
                return response  # the caller reads the status itself
            elapsed = time.monotonic() - start
            raise ServerUnavailableError(
                f"{problem}; gave up after {attempts} attempt{'s' if attempts > 1 else ''} in {elapsed:.1f} s "
                f"(qspec retries transient errors within {self.deadline:g} s, ${DEADLINE_ENV_VAR})"
            ) from failure

    def _judge(self, exc: BaseException, method: str, attempts: int, waited: float) -> tuple[str, bool]:
        """What went wrong, in words, and whether to try again."""
        import requests
        from urllib3.exceptions import NewConnectionError

        causes = list(_causes(exc))
        if any(isinstance(c, ConnectionRefusedError) for c in causes):
            return "connection refused (is the server running?)", attempts < self.refused_attempts
        if any(isinstance(c, NewConnectionError) for c in causes) and not isinstance(exc, requests.Timeout):
            return f"cannot connect: {_last_words(causes)}", attempts < self.refused_attempts
        resend = method.upper() in IDEMPOTENT_METHODS
        if isinstance(exc, requests.Timeout) or any(isinstance(c, TimeoutError) for c in causes):
            return f"no answer within {waited:.3g} s", resend
        return f"the connection was lost: {_last_words(causes)}", resend


def http_policy() -> RetryPolicy:
    """The policy of this process: ``$QSPEC_HTTP_DEADLINE`` seconds a call (default 30)."""
    text = os.environ.get(DEADLINE_ENV_VAR, "").strip()
    if not text:
        return RetryPolicy()
    try:
        deadline = float(text)
    except ValueError:
        deadline = 0.0
    if not 0 < deadline < float("inf"):
        raise TrackingError(f"{DEADLINE_ENV_VAR}: {text[:40]!r} is not a number of seconds",
                            hint="set it to a positive number such as 30, or unset it")
    return RetryPolicy(deadline=deadline)


_policy = RetryPolicy()
#: MLflow's one function that sends a REST request with retries (private; wrapped by use_http_policy).
_SEND = "_get_http_response_with_retries"


def use_http_policy(policy: RetryPolicy) -> None:
    """Make every HTTP request MLflow sends in this process follow ``policy``.

    MLflow has no setting for a deadline over its retries (urllib3 retries count, they do not
    time): its one function that sends a REST request with retries,
    ``mlflow.utils.rest_utils._get_http_response_with_retries``, is wrapped once so that each
    attempt is one request and ``policy`` decides the rest. ``tests/tracking/test_store_http.py`` fails the
    day MLflow renames or reshapes it. The policy itself can be replaced at any time.
    """
    global _policy
    from mlflow.utils import rest_utils

    _policy = policy
    current = getattr(rest_utils, _SEND)  # private: MLflow does not export it
    if getattr(current, "qspec_policy", False):
        return

    def send_with_policy(method: str, url: str, max_retries: int, backoff_factor: float, backoff_jitter: float,
                         retry_codes: frozenset[int], raise_on_status: bool = True, allow_redirects: bool | None = None,
                         respect_retry_after_header: bool = True, **kwargs: Any) -> Any:
        timeout = kwargs.pop("timeout", None)
        if allow_redirects is not None:
            kwargs["allow_redirects"] = allow_redirects
        kwargs["respect_retry_after_header"] = False  # the policy reads Retry-After itself
        return _policy.request(current, method, url, max_retries=max_retries, retry_codes=frozenset(retry_codes),
                               raise_on_status=raise_on_status, timeout=timeout, kwargs=kwargs)

    send_with_policy.qspec_policy = True  # type: ignore[attr-defined]
    send_with_policy.qspec_original = current  # type: ignore[attr-defined]
    setattr(rest_utils, _SEND, send_with_policy)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and everything it wraps (requests wraps urllib3, which wraps the socket's error)."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped = [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
        todo.extend(w for w in wrapped if isinstance(w, BaseException))


def _last_words(causes: list[BaseException]) -> str:
    """The innermost cause's message, which says what happened without the pool's boilerplate."""
    text = str(causes[-1]) or type(causes[-1]).__name__
    return text.split("): ", 1)[-1] if "): " in text else text


def _seconds_header(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: rare from an MLflow server, and the backoff still applies
