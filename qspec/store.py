"""The connection to MLflow: which store, a client for it, and MLflow's process-wide URIs.

The URI is resolved as the CLI documents it (README, "Commands"): an explicit
``--tracking-uri``, else ``MLFLOW_TRACKING_URI``, else an embedded SQLite store in the repository
(``<root>/.qspec/mlflow.db``, artifacts under ``<root>/.qspec/artifacts``; ``.qspec/`` is
git-ignored). Shared by the two MLflow adapters, which do not import each other:
``qspec.tracking`` (runs, models, predictions) and ``qspec.registry.mlflow`` (the registry), and
by ``qspec.api``, which connects once per command and hands the connection to both. mlflow is
imported inside the functions so that importing this module stays cheap.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from qspec.errors import TrackingError

if TYPE_CHECKING:
    from mlflow import MlflowClient

#: The directory of the embedded store, relative to the repository root (git-ignored).
EMBEDDED_DIR = ".qspec"
ENV_VAR = "MLFLOW_TRACKING_URI"
REGISTRY_ENV_VAR = "MLFLOW_REGISTRY_URI"


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
    """A connection to one tracking store: its URI, a client, and (for local stores) where artifacts go.

    ``artifact_root`` is None for a server, which decides itself (``--serve-artifacts``); for a
    local SQLite store it is a directory next to the database, because MLflow's own default
    (``./mlruns`` relative to the current directory) would scatter artifacts wherever qspec runs.
    """

    uri: str
    client: MlflowClient
    artifact_root: str | None = None

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


def connect(tracking_uri: str | None = None, *, root: Path | None = None) -> Tracking:
    """A ``Tracking`` for the resolved URI; the embedded store's directory is created if needed."""
    from mlflow import MlflowClient

    uri = resolve_tracking_uri(tracking_uri, root=root)
    artifact_root: str | None = None
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///").split("?", 1)[0])
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TrackingError(f"cannot create the directory of the tracking store: {exc}", where=uri) from exc
        artifact_root = (db.parent / "artifacts").resolve().as_uri()
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
