"""Predictions from a registered (or logged) qspec model: what ``qspec predict`` runs.

``predict_from_registry("iris-classifier@production", "rows.csv")`` resolves the reference to a
``models:/`` URI, loads the pyfunc through MLflow (the same path MLflow's own serving takes),
and returns its predictions as a DataFrame, one row per input row. References:
``name@alias``, ``name/version``, a bare ``name`` (its newest version), or any MLflow model URI
(``models:/...``, ``runs:/...``). Every failure a user can cause is a ``QspecError`` with a hint.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qspec.errors import QspecError, TrackingError
from qspec.store import Tracking, connect, mlflow_errors, using_tracking_uri

if TYPE_CHECKING:
    import pandas as pd

_REFERENCE = re.compile(r"^(?P<name>[^@/]+)(?:@(?P<alias>[^@/]+)|/(?P<version>\d+))?$")


def model_uri(reference: str, tracking: Tracking | None = None) -> str:
    """The MLflow URI a reference names; a bare name needs ``tracking`` to find its newest version."""
    if "://" in reference or reference.startswith(("models:/", "runs:/")):
        return reference
    match = _REFERENCE.match(reference)
    if match is None:
        raise QspecError(
            f"{reference!r} is not a model reference",
            hint="write NAME@ALIAS (iris-classifier@production), NAME/VERSION (iris-classifier/3) or NAME",
        )
    name = match["name"]
    if match["alias"]:
        return f"models:/{name}@{match['alias']}"
    if match["version"]:
        return f"models:/{name}/{match['version']}"
    if tracking is None:
        raise QspecError(f"{reference!r} names no version", hint=f"write {name}@ALIAS or {name}/VERSION")
    with mlflow_errors(f"cannot list the versions of {name!r}", tracking.uri):
        versions = tracking.client.search_model_versions(f"name = '{name}'")
    if not versions:
        raise TrackingError(
            f"registered model {name!r} has no versions",
            where=tracking.uri,
            hint="qspec status shows what is registered; qspec apply registers what the specs declare",
        )
    return f"models:/{name}/{max(int(v.version) for v in versions)}"


def read_rows(path: str | Path) -> pd.DataFrame:
    """The rows of a CSV file (header row = column names)."""
    import pandas as pd

    try:
        return pd.read_csv(path)
    except FileNotFoundError as exc:
        raise QspecError(f"{path} does not exist", hint="pass the CSV file of rows to predict with --input") from exc
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise QspecError(f"cannot read {path} as CSV: {exc}", hint="the first row names the feature columns") from exc


def check_finite(frame: pd.DataFrame) -> None:
    """Raise on the first empty, NaN or infinite feature value, naming its row and column.

    Rows are numbered as in the CSV file: the header is line 1, the first data row line 2.
    """
    import numpy as np

    values = frame.to_numpy(dtype=float)
    bad = np.argwhere(~np.isfinite(values))
    if len(bad):
        row, col = (int(i) for i in bad[0])
        raise QspecError(
            f"row {row + 1} (line {row + 2}), column {frame.columns[col]!r}: {values[row, col]} is not a finite "
            f"number ({len(bad)} such value{'s' if len(bad) != 1 else ''} in the input)",
            hint="fill or drop rows with empty, NaN or infinite feature values",
        )


def load_model(reference: str, *, tracking: Tracking) -> Any:
    """The pyfunc of a reference, loaded through MLflow from ``tracking``."""
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException

    uri = model_uri(reference, tracking)
    with using_tracking_uri(tracking.uri):
        try:
            return mlflow.pyfunc.load_model(uri)
        except MlflowException as exc:
            raise TrackingError(
                f"cannot load model {uri}: {exc.message.strip().splitlines()[0]}",
                where=tracking.uri,
                hint="check the name and the alias or version (qspec status lists them) and --tracking-uri",
            ) from exc
        except OSError as exc:
            raise TrackingError(f"cannot download model {uri}: {exc}", where=tracking.uri) from exc


def predict_from_registry(
    reference: str,
    rows: pd.DataFrame | str | Path,
    *,
    tracking_uri: str | None = None,
    root: Path | None = None,
    mode: str | None = None,
) -> pd.DataFrame:
    """Predict ``rows`` (a DataFrame or a CSV path) with the model ``reference`` names.

    ``mode`` is ``exact`` or ``shots`` (the spec's shots and seed); by default the model runs the
    way it was trained. Columns the model does not read (an id, the true label) are ignored.
    """
    import pandas as pd

    frame = rows if isinstance(rows, pd.DataFrame) else read_rows(rows)
    if len(frame) == 0:
        source = "the input" if isinstance(rows, pd.DataFrame) else str(rows)
        raise QspecError(f"{source} has no data rows", hint="the first row names the feature columns; "
                         "each further row is one input to predict")
    tracking = connect(tracking_uri, root=root)
    model = load_model(reference, tracking=tracking)
    schema = model.metadata.get_input_schema()
    names = [c.name for c in schema.inputs if c.required] if schema is not None else list(frame.columns)
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise QspecError(
            f"the input lacks {len(missing)} feature column{'s' if len(missing) != 1 else ''}: {', '.join(missing)}",
            hint="the model reads the columns " + ", ".join(repr(n) for n in names),
        )
    if schema is not None and all(c.required for c in schema.inputs):
        try:
            frame = frame[names].astype(float)
        except (TypeError, ValueError) as exc:
            raise QspecError(f"a feature value is not a number: {exc}", hint="feature columns hold numbers") from exc
        check_finite(frame)
    try:
        result = model.predict(frame, params={"mode": mode} if mode else None)
    except Exception as exc:  # the pyfunc's ValueError, MLflow's schema errors
        message = getattr(exc, "message", None) or str(exc)
        raise QspecError(f"prediction failed: {message.strip().splitlines()[0]}",
                         hint="check the input columns and --mode") from exc
    return result if isinstance(result, pd.DataFrame) else pd.DataFrame(result)
