"""The library API under the CLI: validate, plan, apply and status return objects; nothing prints.

    from qspec import api
    result = api.plan(specs=["specs"], tracking_uri="sqlite:///mlflow.db")
    print(result.plan.has_changes)

Each call loads the specs (the work tree, or ``rev``), builds the desired state (resolving ``ref:``
stages through git), snapshots the registry in a few paged calls, and diffs the two; ``apply``
then executes the plan. The git, MLflow and Qiskit adapters are plugged in here, at the edge:
``qspec.plan`` stays pure. ``qspec.cli`` renders what these functions return.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qspec.errors import QspecError, RevisionError, SourceError
from qspec.spec import SpecSet, load_specs
from qspec.spec.source import SPEC_SUFFIXES, find_root


@dataclass(frozen=True)
class GitState:
    """Where the specs came from: the commit, and which spec or data files differ from it."""

    commit: str | None
    dirty: tuple[str, ...] = ()
    is_repo: bool = True


@dataclass
class PlanResult:
    plan: Any  # qspec.plan.actions.Plan
    specs: SpecSet
    desired: Any  # qspec.plan.state.DesiredState
    actual: Any  # qspec.plan.state.ActualState
    git: GitState
    tracking_uri: str
    registry_calls: int = 0
    base: str | None = None
    changed: set[str] | None = None  # with ``base``: the models the changes affect
    # The adapters the plan was made with, reused by apply.
    tracking: Any = field(default=None, repr=False)
    registry: Any = field(default=None, repr=False)
    resolver: Any = field(default=None, repr=False)
    source: Any = field(default=None, repr=False)  # where the specs (and their csv data) were read
    root: Path | None = None
    notes: list[str] = field(default_factory=list)  # things worth telling the user (stderr)


@dataclass
class ApplyOutcome:
    planned: PlanResult
    result: Any  # qspec.apply.result.ApplyResult
    git_dirty: bool = False


@dataclass
class StatusResult:
    report: Any  # qspec.plan.status.StatusReport
    planned: PlanResult


def validate(specs: Sequence[str | Path] = ("specs",), *, rev: str | None = None,
             root: Path | None = None) -> SpecSet:
    """Load and validate; raises ``SpecError`` with every problem found."""
    return load_specs(list(specs), rev=rev, root=root)


def git_state(root: Path, paths: Sequence[str], data_files: Sequence[str] = ()) -> GitState:
    """The HEAD commit and the uncommitted changes (modified, staged or untracked) of the files qspec
    reads: spec files (*.yaml, *.yml) under ``paths``, and ``data_files``. Editor swap files or notes
    beside the specs do not count."""
    import git

    try:
        repo = git.Repo(root)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return GitState(commit=None, is_repo=False)
    try:
        commit: str | None = repo.head.commit.hexsha
    except ValueError:  # a repository with no commit yet
        commit = None
    watched = [*paths, *data_files]
    porcelain = repo.git.status("--porcelain", "--untracked-files=all", "--", *watched) if watched else ""
    changed = (line[3:] for line in porcelain.splitlines() if line.strip())
    dirty = tuple(sorted(p for p in changed if p.endswith(SPEC_SUFFIXES) or p in data_files))
    return GitState(commit=commit, dirty=dirty)


def _root_for(specs: Sequence[str | Path], root: Path | None) -> Path:
    if root is not None:
        return root.resolve()
    first = Path(specs[0]) if specs else Path("specs")
    return find_root(first if first.exists() else Path.cwd())


def _repo_relative(paths: Sequence[str | Path], root: Path) -> list[str]:
    """The spec paths given on the command line (relative to the current directory), relative to
    the repository root, as git names them; paths outside the repository are left out."""
    out = []
    for path in paths:
        full = Path(path) if Path(path).is_absolute() else Path.cwd() / path
        try:
            out.append(full.resolve().relative_to(root).as_posix())
        except ValueError:
            continue
    return out


def _data_files(specset: SpecSet) -> list[str]:
    """The csv data sets the experiments read, repository-relative."""
    return sorted({d.csv_path for d in (e.resource.spec.data for e in specset.experiments.values())
                   if d is not None and d.csv_path is not None})


def plan(*, specs: Sequence[str | Path] = ("specs",), rev: str | None = None, base: str | None = None,
         tracking_uri: str | None = None, prune: bool = False, only: str | None = None,
         root: Path | None = None) -> PlanResult:
    """What apply would do. ``base``: limit it to the models that the changes since ``base`` affect
    (a pull request's view) while still validating everything."""
    from qspec.apply.resolve import GitRefResolver
    from qspec.plan.desired import desired_state
    from qspec.plan.diff import changed_models, diff
    from qspec.plan.state import DesiredState
    from qspec.quantum.estimate import estimate_resources
    from qspec.registry.mlflow import MlflowRegistry
    from qspec.spec.load import load_source
    from qspec.spec.source import open_source
    from qspec.tracking.model import version_tags
    from qspec.tracking.store import connect

    repo_root = _root_for(specs, root)
    source = open_source(list(specs), rev=rev, root=repo_root)
    specset = load_source(source)
    git = GitState(commit=specset.revision) if rev is not None else git_state(
        repo_root, _repo_relative(specs, repo_root), _data_files(specset))
    resolver = GitRefResolver(_repo_relative(specs, repo_root), root=repo_root) if git.is_repo else None

    def estimate(experiment: Any) -> Any:
        return estimate_resources(experiment, read=source.read)

    desired = desired_state(specset, resolve_ref=resolver, estimate=estimate, git_commit=git.commit)
    selected = _select(specset, only)
    changed = None
    notes: list[str] = []
    if base is not None:
        if resolver is None:
            raise SourceError("--base needs the specs to be in a git repository")
        try:
            base_desired = desired_state(resolver.specs_at(base), resolve_ref=resolver, git_commit=None)
        except RevisionError:
            raise  # a base that does not resolve at all is the user's error
        except QspecError as exc:
            # A PR that fixes a broken main, or adds the first specs, still gets a plan: every model
            # counts as changed.
            notes.append(f"the specs at {base} cannot be read ({exc.message.splitlines()[0]}); "
                         "planning every model")
            base_desired = DesiredState(models={})
        changed = changed_models(desired, base_desired)
        selected = changed if selected is None else selected & changed

    tracking = connect(tracking_uri, root=repo_root)
    registry = MlflowRegistry(tracking.client, version_metadata=version_tags)
    actual = registry.snapshot()
    result = diff(desired, actual, prune=prune, only=selected)
    return PlanResult(plan=result, specs=specset, desired=desired, actual=actual, git=git,
                      tracking_uri=tracking.uri, registry_calls=registry.call_count, base=base, changed=changed,
                      tracking=tracking, registry=registry, resolver=resolver, source=source, root=repo_root,
                      notes=notes)


def _select(specset: SpecSet, only: str | None) -> set[str] | None:
    """``--only NAME``: the models of experiment NAME, or the model NAME."""
    if only is None:
        return None
    models = {name for name, m in specset.models.items() if m.resource.spec.experiment == only}
    if only in specset.models:
        models.add(only)
    if not models:
        known = sorted(set(specset.experiments) | set(specset.models))
        raise QspecError(f"--only {only}: no Experiment or Model of that name has a Model to reconcile",
                         hint="known names: " + ", ".join(known))
    return models


def apply(*, specs: Sequence[str | Path] = ("specs",), rev: str | None = None, tracking_uri: str | None = None,
          prune: bool = False, only: str | None = None, allow_dirty: bool = False, root: Path | None = None,
          confirm: Callable[[PlanResult], bool] | None = None,
          progress: Callable[[Any, Any], None] | None = None,
          report: Callable[[Any], None] | None = None) -> ApplyOutcome | None:
    """Reconcile the registry with the specs. Everything is validated before anything changes;
    ``confirm`` sees the plan first and may decline (then None is returned and nothing changes)."""
    from qspec.apply.executor import apply as execute
    from qspec.apply.result import ApplyResult
    from qspec.apply.training import tracking_trainer

    planned = plan(specs=specs, rev=rev, tracking_uri=tracking_uri, prune=prune, only=only, root=root)
    git = planned.git
    if rev is None:
        if not git.is_repo and not allow_dirty:
            raise QspecError("the specs are not in a git repository, so no run could name the commit it came from",
                             hint="commit the specs to git, or pass --allow-dirty to apply them anyway")
        if git.dirty and not allow_dirty:
            shown = ", ".join(git.dirty[:5]) + (" ..." if len(git.dirty) > 5 else "")
            raise QspecError(f"uncommitted spec changes: {shown}",
                             hint="commit them (git is the desired state), or pass --allow-dirty")
    if not planned.plan.has_changes:
        # Nothing to change, but blocked and drift items are still outcomes to report (no prompt).
        result = execute(planned.plan, planned.registry, None) if planned.plan.items else ApplyResult((), ())
        return ApplyOutcome(planned, result, git_dirty=bool(git.dirty))
    if confirm is not None and not confirm(planned):
        return None

    dirty = rev is None and (bool(git.dirty) or not git.is_repo)
    trainer = tracking_trainer(planned.specs, tracking=planned.tracking, registry=planned.registry,
                               resolver=planned.resolver, root=planned.root, git_dirty=dirty, progress=progress,
                               read=planned.source.read if rev is not None else None)
    result = execute(planned.plan, planned.registry, trainer, report=report)
    return ApplyOutcome(planned, result, git_dirty=dirty)


def status(*, specs: Sequence[str | Path] = ("specs",), rev: str | None = None, tracking_uri: str | None = None,
           root: Path | None = None) -> StatusResult:
    """Managed models, their aliases, and whether each matches git."""
    from qspec.plan.status import status as compare

    planned = plan(specs=specs, rev=rev, tracking_uri=tracking_uri, root=root)
    return StatusResult(report=compare(planned.desired, planned.actual), planned=planned)
