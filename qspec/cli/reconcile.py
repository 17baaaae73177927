"""``qspec plan``, ``qspec apply`` and ``qspec status``: render what ``qspec.api`` returns.

Plans and results go to stdout; progress, notes and prompts to stderr. Exit codes: 0 no changes
or success, 1 error or a failed action, 2 changes pending (``plan --detailed-exitcode``,
``status --check``).
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from typing import Any

import click

from qspec.errors import QspecError

SPECS_HELP = "Spec directory."
REV_HELP = "Read the specs at this git revision instead of the work tree."
URI_HELP = "MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else the embedded store in .qspec/)."
MEMORY_HELP = ("Most memory one training may use, e.g. 8GiB (default: $QSPEC_MAX_MEMORY, else 80% of this "
               "machine's); a training estimated to need more is blocked in the plan.")


def _common(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--tracking-uri", default=None, help=URI_HELP)(func)
    func = click.option("--rev", default=None, help=REV_HELP)(func)
    return click.option("--specs", "specs_dir", default="specs", show_default=True, help=SPECS_HELP)(func)


def _debug() -> bool:
    from qspec.cli.main import _State

    return _State.debug


def _note(text: str) -> None:
    from qspec.cli.main import _echo_err

    _echo_err(text)


@click.command()
@_common
@click.option("--base", default=None, help="Only what the changes since this git revision affect (a PR's view).")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text",
              show_default=True, help="text for people, markdown for a PR comment, json for programs.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 with no changes, 2 with changes, 1 on error.")
@click.option("--prune", is_flag=True, help="Plan to delete managed aliases that git no longer declares.")
@click.option("--only", default=None, help="Only the models of this Experiment (or this Model).")
@click.option("--max-memory", default=None, help=MEMORY_HELP)
def plan(specs_dir: str, rev: str | None, tracking_uri: str | None, base: str | None, fmt: str,
         detailed_exitcode: bool, prune: bool, only: str | None, max_memory: str | None) -> None:
    """Show what apply would train, register and promote, and what it would cost."""
    from qspec import api
    from qspec.plan.render import render

    result = api.plan(specs=[specs_dir], rev=rev, base=base, tracking_uri=tracking_uri, prune=prune, only=only,
                      max_memory=max_memory)
    _describe_context(result)
    click.echo(render(result.plan, fmt), nl=False)
    if detailed_exitcode and result.plan.has_changes:
        raise SystemExit(2)


def _describe_context(result: Any) -> None:
    git = result.git
    where = f"commit {git.commit[:12]}" if git.commit else "no commit"
    if git.dirty:
        where += f", {len(git.dirty)} uncommitted spec change{'s' if len(git.dirty) != 1 else ''}"
    base = f"; changes since {result.base}: {len(result.changed or ())} model(s)" if result.base else ""
    _note(f"specs: {len(result.specs)} resources at {where}{base}; registry: {result.tracking_uri} "
          f"({result.registry_calls} calls)")
    for note in result.notes:
        _note(f"note: {note}")


@click.command()
@_common
@click.option("--auto-approve", is_flag=True, help="Apply without asking (asked only on a terminal).")
@click.option("--dry-run", is_flag=True, help="Only show the plan; the same as qspec plan.")
@click.option("--only", default=None, help="Only the models of this Experiment (or this Model).")
@click.option("--prune", is_flag=True, help="Delete managed aliases that git no longer declares.")
@click.option("--allow-dirty", is_flag=True, help="Apply uncommitted spec changes (runs are tagged qspec.git_dirty).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text for people, json for programs.")
@click.option("--max-memory", default=None, help=MEMORY_HELP)
@click.option("--wait-timeout", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="How long to wait for another apply that is training the same spec (default: an hour); "
                   "0: do not wait, skip it and say who holds it.")
def apply(specs_dir: str, rev: str | None, tracking_uri: str | None, auto_approve: bool, dry_run: bool,
          only: str | None, prune: bool, allow_dirty: bool, fmt: str, max_memory: str | None,
          wait_timeout: float | None) -> None:
    """Reconcile the MLflow registry with the specs: train, register, move aliases."""
    from qspec import api
    from qspec.apply.result import render_result
    from qspec.plan.render import render

    if dry_run:
        result = api.plan(specs=[specs_dir], rev=rev, tracking_uri=tracking_uri, prune=prune, only=only,
                          max_memory=max_memory)
        _describe_context(result)
        click.echo(render(result.plan, "json" if fmt == "json" else "text"), nl=False)
        return

    progress = _Progress()

    def confirm(planned: Any) -> bool:
        progress.planned = planned
        _describe_context(planned)
        if fmt == "text":
            click.echo(render(planned.plan, "text"), nl=False)
        elif not auto_approve and sys.stdin.isatty():
            click.echo(render(planned.plan, "text"), nl=False, err=True)  # stdout stays JSON
        if auto_approve or not sys.stdin.isatty():
            return True  # never prompt without a terminal: CI runs unattended
        return click.confirm("Apply these changes?", default=False, err=True)

    with progress:
        outcome = api.apply(specs=[specs_dir], rev=rev, tracking_uri=tracking_uri, prune=prune, only=only,
                            allow_dirty=allow_dirty, max_memory=max_memory, confirm=confirm,
                            progress=progress.update, note=_note, wait_timeout=wait_timeout)
    if outcome is None:
        _note("Apply cancelled; nothing changed.")
        raise SystemExit(1)
    result = outcome.result
    planned = outcome.planned
    if fmt == "json":
        click.echo(json.dumps(result.as_dict(), indent=2, default=str))
    elif planned.plan.in_sync:
        click.echo("No changes. The registry matches the specs.")
    else:
        if not planned.plan.has_changes:  # confirm() was not called: show what is blocked or drifting
            _describe_context(planned)
            click.echo(render(planned.plan, "text"), nl=False)
        click.echo(render_result(result), nl=False)
    if not result.ok:
        for failed in result.failed:
            _note(f"error: {failed.item.subject}: {failed.detail}")
            if failed.error is not None and not isinstance(failed.error, QspecError):
                _note("  hint: this is a bug in qspec; rerun with qspec --debug apply and report the traceback")
            if failed.error is not None and _debug():
                traceback.print_exception(failed.error)
        raise SystemExit(1)


class _Progress:
    """A progress bar per training on stderr (rich), plain lines when stderr is not a terminal."""

    def __init__(self) -> None:
        self.bars: Any = None
        self.planned: Any = None  # the plan being applied, for the number of iterations of each training
        self.tasks: dict[str, Any] = {}
        self.last: dict[str, int] = {}
        self.started = False

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bars is not None:
            self.bars.__exit__(*exc)

    def _start(self) -> None:
        # Started at the first training iteration, after any confirmation prompt: a live display
        # running while the prompt waits for input would redraw over it.
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        console = Console(stderr=True)
        if console.is_terminal:
            self.bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(), console=console,
                                 transient=True)
            self.bars.__enter__()
        self.started = True

    def update(self, request: Any, record: Any) -> None:
        if not self.started:
            self._start()
        key = f"{request.experiment}#{request.spec_hash[:12]}"
        loaded = self.planned.specs.experiments.get(request.experiment) if self.planned else None
        maxiter = loaded.resource.spec.training.optimizer.maxiter if loaded is not None else None
        if self.bars is not None:
            if key not in self.tasks:
                self.tasks[key] = self.bars.add_task(f"train {key}", total=maxiter, loss="-")
            self.bars.update(self.tasks[key], completed=record.iteration, loss=f"{record.loss:.4f}")
        elif key not in self.last:
            self.last[key] = record.iteration
            _note(f"training {key} ...")


@click.command()
@_common
@click.option("--check", is_flag=True, help="Exit 2 when the registry is out of sync with git, 1 on error.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text for people, json for programs.")
def status(specs_dir: str, rev: str | None, tracking_uri: str | None, check: bool, fmt: str) -> None:
    """Managed models, their aliases, and whether each matches git."""
    from qspec import api
    from qspec.plan.status import render_status

    result = api.status(specs=[specs_dir], rev=rev, tracking_uri=tracking_uri)
    if fmt == "json":
        click.echo(json.dumps(result.report.as_dict(), indent=2, default=str))
    else:
        click.echo(render_status(result.report), nl=False)
    if check and not result.report.in_sync:
        raise SystemExit(2)


COMMANDS = [plan, apply, status]
