"""``qspec predict``: predictions from a registered quantum model (a thin layer over
``qspec.api.predict``). Registered on the group by ``qspec.cli.main``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.command("predict")
@click.argument("model")
@click.option("--input", "input_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="CSV file of rows to predict; the first row names the raw feature columns.")
@click.option("--format", "output_format", type=click.Choice(["csv", "json"]), default="csv", show_default=True,
              help="Output format on stdout: CSV with a header, or JSON records.")
@click.option("--mode", type=click.Choice(["exact", "shots"]), default=None,
              help="Run the circuit exactly, or with the spec's shots and seed (default: as trained).")
@click.option("--tracking-uri", default=None, envvar="MLFLOW_TRACKING_URI",
              help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else the repository's embedded store).")
def predict(model: str, input_path: Path, output_format: str, mode: str | None, tracking_uri: str | None) -> None:
    """Predict the rows of a CSV file with MODEL (NAME@ALIAS, NAME/VERSION or NAME)."""
    from qspec import api

    frame = api.predict(model, input_path, tracking_uri=tracking_uri, mode=mode)
    if output_format == "json":
        # Python's float repr round-trips; pandas' to_json would round to 10 significant digits.
        click.echo(json.dumps(frame.to_dict(orient="records"), indent=2, default=_plain))
    else:
        frame.to_csv(sys.stdout, index=False)


def _plain(value: object) -> object:
    """numpy scalars and arrays as JSON values (``tolist`` keeps every digit)."""
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
