"""``qspec plan``, ``qspec apply`` and ``qspec status``: render what ``qspec.api`` returns.

Plans and results go to stdout; progress, notes and prompts to stderr. Exit codes: 0 in sync or
success, 1 an error, a failed action, or (``apply``) an item left blocked unless ``--allow-blocked``,
2 out of sync (``plan --detailed-exitcode``, ``status --check``: a change, a blocked item or drift;
an alias git does not declare is kept and reported without ``--prune``, and does not count).
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from typing import Any

import click

from qspec.errors import QspecError

SPECS_HELP = "Spec directory (default: specs/ at the root of the repository you are in)."
REV_HELP = "Read the specs at this git revision instead of the work tree."
URI_HELP = "MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else the embedded store in .qspec/)."
ALLOW_EMPTY_HELP = ("With --prune, allow deleting every alias of a model (every spec file emptied would delete all "
                    "of them, production included; refused without this).")
MEMORY_HELP = ("Most memory one training may use, e.g. 8GiB (default: $QSPEC_MAX_MEMORY, else 80% of this "
               "machine's); a training estimated to need more is blocked in the plan.")


def _common(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--tracking-uri", default=None, help=URI_HELP)(func)
    func = click.option("--rev", default=None, help=REV_HELP)(func)
    return click.option("--specs", "specs_dir", default=None, help=SPECS_HELP)(func)


def _specs(specs_dir: str | None) -> list[str] | None:
    """``--specs`` as given (relative to the current directory), or None for the repository's specs/."""
    return [specs_dir] if specs_dir else None


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
@click.option("--detailed-exitcode", is_flag=True, help=(
    "Exit 2 when the registry is out of sync with git (a change to make, a blocked item, drift), as status "
    "--check does; 0 when in sync; 1 on error. An alias git no longer declares counts only with --prune "
    "(without it the alias is kept, and reported)."))
@click.option("--prune", is_flag=True, help="Plan to delete managed aliases that git no longer declares.")
@click.option("--allow-empty", is_flag=True, help=ALLOW_EMPTY_HELP)
@click.option("--only", default=None, help="Only this Experiment (and the Models registering it), or this Model.")
@click.option("--max-memory", default=None, help=MEMORY_HELP)
@click.option("-out", "--out", "out", default=None, metavar="FILE", help=(
    "Save the plan to FILE (JSON: the items, the git commit, a fingerprint of the registry) for "
    "qspec apply FILE, which applies exactly it, or refuses if git or the registry moved since."))
def plan(specs_dir: str | None, rev: str | None, tracking_uri: str | None, base: str | None, fmt: str,
         detailed_exitcode: bool, prune: bool, allow_empty: bool, only: str | None, max_memory: str | None,
         out: str | None) -> None:
    """Show what apply would train, register and promote, and what it would cost.

    Each training lists the spec fields that changed since the version it replaces, and its use of
    the Experiment's budget.
    """
    from qspec import api
    from qspec.plan.render import render

    hidden = _github(tracking_uri)
    result = api.plan(specs=_specs(specs_dir), rev=rev, base=base, tracking_uri=tracking_uri, prune=prune, only=only,
                      max_memory=max_memory, allow_empty=allow_empty)
    _describe_context(result)
    click.echo(render(result.plan, fmt), nl=False)
    if hidden is not None:
        from qspec.cli import github

        github.report_plan(result, hidden)
    if out is not None:
        api.save_plan(result, out)
        _note(f"Saved the plan to {out}; apply exactly it with: qspec apply {out}")
    if detailed_exitcode and not result.plan.in_sync:
        raise SystemExit(2)


def _github(tracking_uri: str | None) -> tuple[str, ...] | None:
    """Under GitHub Actions (``GITHUB_ACTIONS=true``): the secrets masked for this command (see
    ``qspec.cli.github``); None outside, where nothing GitHub-specific is written."""
    from qspec.cli import github
    from qspec.cli.main import github_secrets

    return github_secrets(tracking_uri) if github.enabled() else None


def _describe_context(result: Any) -> None:
    from qspec.plan.saved import redact_uri

    git = result.git
    where = f"commit {git.commit[:12]}" if git.commit else "no commit"
    if git.dirty:
        where += f", {len(git.dirty)} uncommitted spec change{'s' if len(git.dirty) != 1 else ''}"
    base = f"; changes since {result.base}: {len(result.changed or ())} model(s)" if result.base else ""
    _note(f"specs: {len(result.specs)} resources at {where}{base}; registry: {redact_uri(result.tracking_uri)} "
          f"({result.registry_calls} calls)")
    for note in result.notes:
        _note(f"note: {note}")


@click.command()
@click.argument("plan_file", required=False, metavar="[FILE]")
@_common
@click.option("--auto-approve", is_flag=True, help="Apply without asking (asked only on a terminal).")
@click.option("--dry-run", is_flag=True, help="Only show the plan; the same as qspec plan.")
@click.option("--only", default=None, help="Only this Experiment (and the Models registering it), or this Model.")
@click.option("--prune", is_flag=True, help="Delete managed aliases that git no longer declares.")
@click.option("--allow-empty", is_flag=True, help=ALLOW_EMPTY_HELP)
@click.option("--allow-dirty", is_flag=True, help="Apply uncommitted spec changes (runs are tagged qspec.git_dirty).")
@click.option("--allow-blocked", is_flag=True,
              help="Exit 0 even when an item stays blocked (a gate, budget, requirement, missing ref).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text for people, json for programs.")
@click.option("--max-memory", default=None, help=MEMORY_HELP)
@click.option("--wait-timeout", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="How long to wait for another apply that is training the same spec (default: an hour); "
                   "0: do not wait, skip it and say who holds it.")
@click.option("--artifact-location", default=None, metavar="URI",
              help="Where experiments qspec creates keep their artifacts (default: $QSPEC_ARTIFACT_LOCATION, "
                   "else beside an embedded store, else the server's).")
@click.option("--train-only", is_flag=True, help=(
    "Only train (each training takes its spec's claim and records its run); create no model, register no "
    "version, move no alias. With --only NAME#HASH (a training as plan lists it) one training: a CI matrix "
    "job. A later qspec apply registers and promotes."))
def apply(plan_file: str | None, specs_dir: str | None, rev: str | None, tracking_uri: str | None, auto_approve: bool,
          dry_run: bool, only: str | None, prune: bool, allow_empty: bool, allow_dirty: bool, allow_blocked: bool,
          fmt: str, max_memory: str | None, wait_timeout: float | None, artifact_location: str | None,
          train_only: bool) -> None:
    """Reconcile the MLflow registry with the specs: train, register, move aliases.

    With FILE (from qspec plan -out FILE): apply exactly that plan, without planning again or asking;
    refused, with nothing written, when git or the registry moved since it was saved.

    When another apply is training the same spec (it holds the spec's claim in the registry), this
    one waits for its run (--wait-timeout) and registers it, rather than training it twice.

    Exits 0 when everything it was asked to reconcile is done (an alias git no longer declares is
    kept and reported unless --prune), 1 on an error, a failed action, or an item that stays blocked
    (unless --allow-blocked).
    """
    from qspec import api
    from qspec.cli.github import Groups
    from qspec.plan.render import render

    hidden = _github(tracking_uri)
    if plan_file is not None:
        _apply_saved(plan_file, tracking_uri=tracking_uri, allow_dirty=allow_dirty, allow_blocked=allow_blocked,
                     wait_timeout=wait_timeout, fmt=fmt, artifact_location=artifact_location, hidden=hidden)
        return

    if dry_run:
        dry = api.plan(specs=_specs(specs_dir), rev=rev, tracking_uri=tracking_uri, prune=prune, only=only,
                       max_memory=max_memory, allow_empty=allow_empty)
        if train_only:
            dry.plan = api.trainings_only(dry.plan)
        _describe_context(dry)
        click.echo(render(dry.plan, "json" if fmt == "json" else "text"), nl=False)
        return

    progress = _Progress()
    groups = Groups()  # under GitHub Actions: the plan, then the trainings, each folded in the log

    def confirm(planned: Any) -> bool:
        progress.planned = planned
        _describe_context(planned)
        groups.open(f"qspec {'apply --train-only' if train_only else 'apply'}: the plan "
                    f"({len(planned.plan.items)} item{'s' if len(planned.plan.items) != 1 else ''})")
        if fmt == "text":
            click.echo(render(planned.plan, "text"), nl=False)
        elif not auto_approve and sys.stdin.isatty():
            click.echo(render(planned.plan, "text"), nl=False, err=True)  # stdout stays JSON
        groups.open("qspec apply: training and registry changes")
        if auto_approve or not sys.stdin.isatty():
            return True  # never prompt without a terminal: CI runs unattended
        groups.close()
        return click.confirm("Apply these changes?", default=False, err=True)

    with progress, groups:
        outcome = api.apply(specs=_specs(specs_dir), rev=rev, tracking_uri=tracking_uri, prune=prune, only=only,
                            allow_dirty=allow_dirty, max_memory=max_memory, confirm=confirm,
                            progress=progress.update, note=_note, wait_timeout=wait_timeout,
                            artifact_location=artifact_location, train_only=train_only,
                            allow_empty=allow_empty)
    if outcome is None:
        _note("Apply cancelled; nothing changed.")
        raise SystemExit(1)
    result = outcome.result
    planned = outcome.planned
    _finish(result, planned, fmt, allow_blocked, hidden=hidden, train_only=train_only)


#: apply options that a saved plan fixes: given with FILE they would be ignored, so they are refused.
SAVED_FIXES = {"specs_dir": "--specs", "rev": "--rev", "only": "--only", "prune": "--prune", "dry_run": "--dry-run",
               "max_memory": "--max-memory", "train_only": "--train-only", "allow_empty": "--allow-empty"}


def _apply_saved(plan_file: str, *, tracking_uri: str | None, allow_dirty: bool, allow_blocked: bool,
                 wait_timeout: float | None, fmt: str, artifact_location: str | None,
                 hidden: tuple[str, ...] | None = None) -> None:
    from qspec import api
    from qspec.plan.render import render

    ctx = click.get_current_context()
    fixed = [flag for name, flag in SAVED_FIXES.items()
             if ctx.get_parameter_source(name) not in (None, click.core.ParameterSource.DEFAULT)]
    if fixed:
        raise QspecError(f"apply {plan_file}: the saved plan already fixes {', '.join(fixed)}",
                         hint="drop the option, or plan again with it: qspec plan ... -out FILE")
    progress = _Progress()

    def before(saved: Any) -> None:
        where = f"commit {saved.git_commit[:12]}" if saved.git_commit else "no commit"
        _note(f"plan: {plan_file}, made at {where}; registry: {saved.tracking_uri} (unchanged since)")
        if fmt == "text" and saved.plan.items:
            click.echo(render(saved.plan, "text"), nl=False)

    with progress:
        outcome = api.apply_saved(plan_file, tracking_uri=tracking_uri, allow_dirty=allow_dirty, note=_note,
                                  wait_timeout=wait_timeout, progress=progress.update, before=before,
                                  artifact_location=artifact_location)
    _finish(outcome.result, outcome, fmt, allow_blocked, shown=True, hidden=hidden)


def _finish(result: Any, planned: Any, fmt: str, allow_blocked: bool, *, shown: bool = False,
            hidden: tuple[str, ...] | None = None, train_only: bool = False) -> None:
    """Print what apply did and pick its exit code. ``planned`` has the ``plan`` applied; ``shown``:
    the plan was printed already; ``hidden`` (under GitHub Actions): the secrets of the job summary."""
    from qspec.apply.result import render_result
    from qspec.plan.render import render

    if hidden is not None:
        from qspec.cli import github

        github.report_apply(result, planned.plan, hidden,
                            title="qspec apply --train-only" if train_only else "qspec apply")

    if fmt == "json":
        click.echo(json.dumps(result.as_dict(), indent=2, default=str))
    elif not planned.plan.items:
        click.echo("No changes. The registry matches the specs.")
    else:
        if not planned.plan.has_changes and not shown:  # confirm() was not called: show what is blocked
            _describe_context(planned)
            click.echo(render(planned.plan, "text"), nl=False)
        click.echo(render_result(result), nl=False)
    if not result.ok:
        for failed in result.failed:
            _note(f"error: {failed.item.subject}: {failed.detail}")
            if failed.error is not None and not isinstance(failed.error, QspecError):
                _note("  hint: this is a bug in qspec; rerun with qspec --debug apply and report the traceback")
            if failed.error is not None and _debug():
                _note("".join(traceback.format_exception(failed.error)).rstrip())
        raise SystemExit(1)
    _refuse_blocked(result, allow_blocked)


def _refuse_blocked(result: Any, allow_blocked: bool) -> None:
    """Exit 1 when an item apply was asked to reconcile stays blocked, naming them (``--allow-blocked``
    accepts them)."""
    blocked = [o.item.subject for o in result.blocked]
    if not blocked or allow_blocked:
        return
    shown = ", ".join(blocked[:5]) + (f" and {len(blocked) - 5} more" if len(blocked) > 5 else "")
    _note(f"error: {len(blocked)} item{'s' if len(blocked) != 1 else ''} stayed blocked: {shown}")
    _note("  hint: the reasons are listed above; change the specs (or the registry) so they can proceed, "
          "or pass --allow-blocked to accept them")
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
@click.option("--check", is_flag=True, help=(
    "Exit 2 when the registry is out of sync with git (a change to make, a blocked item, drift), 1 on "
    "error. An alias git no longer declares is kept and reported, and does not count (apply --prune deletes it)."))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text for people, json for programs.")
def status(specs_dir: str | None, rev: str | None, tracking_uri: str | None, check: bool, fmt: str) -> None:
    """Managed models, their aliases, and whether each matches git."""
    from qspec import api
    from qspec.plan.status import render_status

    hidden = _github(tracking_uri)
    result = api.status(specs=_specs(specs_dir), rev=rev, tracking_uri=tracking_uri)
    text = render_status(result.report)
    if fmt == "json":
        click.echo(json.dumps(result.report.as_dict(), indent=2, default=str))
    else:
        click.echo(text, nl=False)
    if hidden is not None:
        from qspec.cli import github

        github.report_status(result.report, text, hidden)
    if check and not result.report.in_sync:
        raise SystemExit(2)


COMMANDS = [plan, apply, status]
