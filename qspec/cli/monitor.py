"""``qspec monitor``: performance and hardware drift of the version behind a stage (a thin layer over
``qspec.api.monitor``). Exits 0 when every threshold holds, 3 on drift, 1 on an error (nothing
logged). Registered on the group by ``qspec.cli.main``.
"""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("monitor")
@click.argument("deployment")
@click.option("--stage", default=None, help=(
    "The stage (alias) whose version to monitor (default: production if declared, else the only stage)."))
@click.option("--data", "data", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="CSV of new labelled rows: the raw feature columns and the label column (classifiers; "
                   "a VQE deployment takes none).")
@click.option("--target", default=None,
              help="Where to evaluate: aer, fake:<device> or ibm:<device> (default: the target it was trained on). "
                   "Another target than the training one is compared with it: hardware drift.")
@click.option("--calibration", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="A device properties JSON (backend.properties().to_dict()) replacing a fake device's "
                   "calibration: what-if analysis.")
@click.option("--label", default=None,
              help="The label column of --data (default: the spec's data.target, else 'label').")
@click.option("--specs", "specs_dir", default=None,
              help="Spec directory (default: specs/ at the repository root).")
@click.option("--rev", default=None,
              help="Read the specs (the Deployment's stages and thresholds) at this git revision.")
@click.option("--tracking-uri", default=None, envvar="MLFLOW_TRACKING_URI",
              help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else the repository's embedded store).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True,
              help="text for people, json for programs (JSON only on stdout), markdown for a job summary.")
def monitor(deployment: str, stage: str | None, data: Path | None, target: str | None, calibration: Path | None,
            label: str | None, specs_dir: str | None, rev: str | None, tracking_uri: str | None, fmt: str) -> None:
    """Evaluate the version behind DEPLOYMENT's stage on new data and check its monitoring thresholds.

    \b
    Performance drift: the training run's metrics against the new data on the noise the
    version was trained with. Hardware drift (--target, --calibration): that evaluation
    against the same data on the target. Logs a monitoring run in MLflow; on drift tags the
    version qspec.alert and exits 3. Never moves an alias: roll back in git.
    """
    from qspec import api
    from qspec.cli import github
    from qspec.cli.main import github_secrets
    from qspec.monitor.report import render_markdown, render_text

    hidden = github_secrets(tracking_uri) if github.enabled() else None
    report = api.monitor(deployment, stage=stage, data=data, target=target, calibration=calibration, label=label,
                         specs=[specs_dir] if specs_dir else None, rev=rev, tracking_uri=tracking_uri)
    if fmt == "json":
        click.echo(json.dumps(report.as_dict(), indent=2))
    elif fmt == "markdown":
        click.echo(render_markdown(report), nl=False)
    else:
        click.echo(render_text(report), nl=False)
    if hidden is not None:
        github.append_summary(render_markdown(report), hidden)
        github.set_outputs({"verdict": report.verdict, "monitor-run": report.run_id or ""}, hidden)
        if report.alerts:
            github.annotate("error", "qspec monitor", f"{deployment}@{report.stage}: {report.verdict}", hidden)
    if report.exit_code:
        raise SystemExit(report.exit_code)


COMMANDS = [monitor]
