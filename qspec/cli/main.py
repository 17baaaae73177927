"""The ``qspec`` command: a thin click layer over the library; it parses, calls, renders.

Exit codes (as terraform's): 0 success or in sync, 1 an error (invalid spec, failed action, bad
usage, an item ``apply`` left blocked without ``--allow-blocked``, a stale saved plan), 2 out of sync
(``plan --detailed-exitcode``, ``status --check``: a change, a blocked item or drift), 3 a
monitoring alert. Errors a user can cause (``QspecError``) are printed as what/where/hint with no traceback;
``--debug`` shows one. Heavy libraries (mlflow, qiskit) are imported inside the commands that
need them, so ``qspec validate`` stays fast.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any

import click

from qspec import __version__
from qspec.errors import QspecError, SpecError

FORMATS = ("text", "json", "github")


class _State:
    debug = False
    command: str | None = None
    annotated = False  # the error was already written as GitHub annotations (validate --format github)
    hidden: tuple[str, ...] = ()  # under GitHub Actions: the secrets masked, scrubbed from what qspec writes


#: Commands that write nothing but their output: the console script skips interpreter teardown
#: after them (see ``run``).
READ_ONLY = frozenset({"validate", "schema", "plan", "status", "render"})


def _echo_err(text: str, *, fg: str | None = None, bold: bool = False) -> None:
    """Every line qspec writes to stderr (errors, hints, notes), with secrets masked (``qspec.secrets``)."""
    from qspec.secrets import mask

    color = None if not os.environ.get("NO_COLOR") else False
    text = mask(text)
    if _State.hidden:  # under GitHub Actions: an error message may quote the tracking URI
        from qspec.cli.github import scrub

        text = scrub(text, _State.hidden)
    click.secho(text, err=True, fg=fg, bold=bold, color=color)


def github_secrets(tracking_uri: str | None = None) -> tuple[str, ...]:
    """Under GitHub Actions: mask the credentials of ``tracking_uri`` (and of $MLFLOW_TRACKING_URI, and
    the token variables) with the runner, once each; the secrets masked so far. Outside: ()."""
    from qspec.cli import github

    if not github.enabled():
        return ()
    found = github.secrets([tracking_uri])
    new = [s for s in found if s not in _State.hidden]
    github.mask(new)
    _State.hidden = (*_State.hidden, *new)
    return _State.hidden


def render_error(exc: QspecError) -> None:
    """Print a user error to stderr: each problem as `file:line key.path: message` and a hint."""
    if isinstance(exc, SpecError):
        for problem in exc.problems:
            _echo_err(f"error: {problem.location()}: {problem.message}", fg="red")
            if problem.hint:
                _echo_err(f"  hint: {problem.hint}")
        _echo_err(exc.message, bold=True)
        return
    where = f"{exc.where}: " if exc.where else ""
    _echo_err(f"error: {where}{exc.message}", fg="red")
    if exc.hint:
        _echo_err(f"  hint: {exc.hint}")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="qspec")
@click.option("--debug", is_flag=True, help="Show a traceback for errors, for reporting bugs.")
def cli(debug: bool) -> None:
    """GitOps for quantum machine learning: validate specs, plan and apply them to MLflow.

    \b
    Exit codes: 0 success or in sync; 1 an error, a failed action, an item apply left
    blocked (unless --allow-blocked) or a stale saved plan; 2 out of sync (plan
    --detailed-exitcode, status --check: a change, a blocked item or drift; an alias
    git no longer declares is kept, and counts only with --prune); 3 drift found by monitor.
    """
    _State.debug = debug
    _State.command = click.get_current_context().invoked_subcommand
    _State.annotated = False
    _State.hidden = ()
    github_secrets()  # before anything is printed
    # stdout is qspec's output only (JSON with --format json): MLflow prints "View run ... at" to
    # stdout when a run against a server ends. qspec names its runs itself.
    os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    from qspec.secrets import install_log_masking

    install_log_masking()  # a library that logs a token (in an error, a URL) logs it masked
    if not debug:
        import logging

        # MLflow and alembic log routine INFO lines (database set-up, model logging) to stderr.
        # MLflow sets its logger's level when it is imported, from this variable (a user's own wins).
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
        logging.getLogger("alembic").setLevel(logging.WARNING)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--specs", "specs_dir", default=None,
              help="Spec directory, used when no PATH is given (default: specs/ at the repository root).")
@click.option("--rev", default=None, help="Read the specs at this git revision instead of the work tree.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="text for people, json for programs, github for workflow annotations.")
def validate(paths: tuple[str, ...], specs_dir: str | None, rev: str | None, fmt: str) -> None:
    """Load and validate spec files; no MLflow or Qiskit is touched.

    Exits 0 when every spec is valid and 1 with every problem listed (file:line, key path, hint).
    """
    from qspec import api

    try:
        specs = api.validate(list(paths) or ([specs_dir] if specs_dir else None), rev=rev)
    except SpecError as exc:
        if fmt == "json":
            click.echo(json.dumps({"valid": False, "problems": [p.as_dict() for p in exc.problems]}, indent=2))
            raise SystemExit(1) from None
        if fmt == "github":
            for p in exc.problems:
                line = f",line={p.line}" if p.line else ""
                message = f"{p.path}: {p.message}" if p.path else p.message
                if p.hint:
                    message += f" (hint: {p.hint})"
                click.echo(f"::error file={_gh_escape(p.file, True)}{line},title=qspec::{_gh_escape(message)}")
            _State.annotated = True
        raise
    if fmt == "json":
        click.echo(json.dumps({
            "valid": True,
            "revision": specs.revision,
            "files": specs.files,
            "resources": [
                {"kind": loaded.resource.kind, "name": loaded.name, "file": loaded.file,
                 "line": loaded.line, "hash": loaded.hash}
                for loaded in specs
            ],
        }, indent=2))
        return
    counts = f"{len(specs.experiments)} experiments, {len(specs.models)} models, {len(specs.deployments)} deployments"
    click.echo(f"valid: {len(specs)} resources in {len(specs.files)} files ({counts})")


def _gh_escape(text: str, prop: bool = False) -> str:
    # GitHub workflow-command escaping: data escapes %, CR, LF; properties also ':' and ','.
    from qspec.cli.github import escape

    return escape(text, prop)


@cli.command()
def schema() -> None:
    """Print the JSON Schema of the spec language (for editors' YAML language servers)."""
    from qspec.spec.schema import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


def _register_optional_commands() -> None:
    """Commands that live in their own modules (they import heavier layers lazily)."""
    import importlib

    for module, name in (("qspec.cli.predict", "predict"), ("qspec.cli.reconcile", None),
                         ("qspec.cli.serving", None), ("qspec.cli.monitor", None)):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                continue
            raise
        for command in getattr(mod, "COMMANDS", [getattr(mod, name)] if name else []):
            cli.add_command(command)


_register_optional_commands()


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the console script: maps errors to exit codes, no tracebacks for user errors."""
    try:
        return cli.main(args=argv, prog_name="qspec", standalone_mode=False)
    except click.exceptions.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except click.ClickException as exc:  # bad usage: exit 1, not click's 2 (2 means "changes pending")
        exc.show()
        raise SystemExit(1) from None
    except click.exceptions.Abort:
        _echo_err("aborted")
        raise SystemExit(1) from None
    except QspecError as exc:
        if _State.debug:
            _echo_err(traceback.format_exc().rstrip())
        from qspec.cli import github

        if github.enabled() and not _State.annotated:
            github.annotate_error(exc, _State.hidden)
        render_error(exc)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        _echo_err("interrupted")
        raise SystemExit(130) from None


def run() -> None:
    """The console script: ``main``, then, after a read-only command, exit without tearing the
    interpreter down. Freeing the modules of numpy, qiskit, SQLAlchemy and MLflow takes about
    0.7 s after a plan of 500 models is already printed; nothing is left to write, so the user
    should not wait for it. Commands that change the registry exit normally (atexit handlers run)."""
    try:
        code = main()
    except SystemExit as exc:
        code = exc.code
    if isinstance(code, str):
        _echo_err(code)
        code = 1
    code = int(code or 0)
    if _State.command in READ_ONLY:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    # Run the canonical module, not this __main__ copy: the command modules import qspec.cli.main
    # (its _State and helpers), which must be the same module the commands were registered on.
    from qspec.cli.main import run as canonical_run

    canonical_run()
