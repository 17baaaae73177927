"""``qspec render`` and ``qspec serve``: a Deployment stage's ``serving`` block as deploy configuration
(Kubernetes or compose), or served locally. Thin click layers over ``qspec.api.serving``; registered
on the group by ``qspec.cli.main``.
"""

from __future__ import annotations

from pathlib import Path

import click

from qspec.serving.render import DEFAULT_IMAGE, DEFAULT_SECRET, FORMATS

STAGE_HELP = "The stage (alias) to serve (default: production if declared, else the only stage)."


@click.command("render")
@click.argument("deployment")
@click.option("--stage", "stage_name", default=None, help=STAGE_HELP)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="kubernetes", show_default=True,
              help="Kubernetes manifests (Deployment, Service, HorizontalPodAutoscaler) or a compose file.")
@click.option("--image", default=DEFAULT_IMAGE, show_default=True,
              help="The container image: one with qspec installed (it brings mlflow, Qiskit and Aer).")
@click.option("--tracking-secret", "secret", default=DEFAULT_SECRET, show_default=True,
              help="Kubernetes: the Secret whose key MLFLOW_TRACKING_URI holds the tracking URI.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file instead of stdout.")
@click.option("--specs", "specs_dir", default=None,
              help="Spec directory (default: specs/ at the root of the repository you are in).")
def render(deployment: str, stage_name: str | None, fmt: str, image: str, secret: str, out: Path | None,
           specs_dir: str | None) -> None:
    """Write the deploy configuration that serves DEPLOYMENT's stage with `mlflow models serve`."""
    from qspec.api import serving
    from qspec.cli.main import _echo_err

    rendered = serving.render(deployment, fmt, stage_name=stage_name, image=image, secret=secret,
                              specs=[specs_dir] if specs_dir else None)
    if out is None:
        click.echo(rendered.text, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(rendered.text, encoding="utf-8")
    _echo_err(f"wrote {out}: {fmt} configuration serving {rendered.served.model_uri}")


@click.command("serve")
@click.argument("deployment")
@click.option("--stage", "stage_name", default=None, help=STAGE_HELP)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535), help="Port on 127.0.0.1.")
@click.option("--specs", "specs_dir", default=None,
              help="Spec directory (default: specs/ at the root of the repository you are in).")
@click.option("--tracking-uri", default=None, envvar="MLFLOW_TRACKING_URI",
              help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else the repository's embedded store).")
def serve(deployment: str, stage_name: str | None, port: int, specs_dir: str | None,
          tracking_uri: str | None) -> None:
    """Serve DEPLOYMENT's stage locally: `mlflow models serve` on 127.0.0.1, as `qspec render` configures it."""
    from qspec.api import serving
    from qspec.cli.main import _echo_err

    code = serving.serve(deployment, stage_name=stage_name, port=port, specs=[specs_dir] if specs_dir else None,
                         tracking_uri=tracking_uri, note=_echo_err)
    raise SystemExit(code)


COMMANDS = [render, serve]
