"""The library API under the CLI: validate, plan, apply, status and predict return objects; nothing prints.

    from qspec import api
    result = api.plan(specs=["specs"], tracking_uri="sqlite:///mlflow.db")
    print(result.plan.has_changes)

Each call opens the workspace once (the repository root, the spec source: the work tree or ``rev``,
git), loads the specs, builds the desired state (resolving ``ref:`` stages through git), snapshots
the registry in a few paged calls, and diffs the two; ``apply`` then executes the plan. The git,
MLflow and Qiskit adapters are built in ``qspec.api.wiring`` and nowhere else: ``qspec.plan`` and
``qspec.apply`` stay pure. ``qspec.cli`` renders what these functions return.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from qspec.api.wiring import GitState, Progress, Workspace
from qspec.errors import QspecError, RevisionError, SourceError
from qspec.spec.load import SpecSet

if TYPE_CHECKING:
    import pandas as pd

    from qspec.apply.result import ApplyResult, Outcome
    from qspec.plan.actions import Plan
    from qspec.plan.state import ActualState, DesiredState
    from qspec.plan.status import StatusReport
    from qspec.registry.mlflow import MlflowRegistry
    from qspec.store import Tracking

__all__ = ["ApplyOutcome", "GitState", "PlanResult", "StatusResult", "Workspace", "apply", "plan", "predict",
           "status", "validate"]


@dataclass
class PlanResult:
    plan: Plan
    specs: SpecSet
    desired: DesiredState
    actual: ActualState
    git: GitState
    workspace: Workspace
    tracking: Tracking = field(repr=False)
    registry: MlflowRegistry = field(repr=False)  # the adapter the plan was made with, reused by apply
    base: str | None = None
    changed: set[str] | None = None  # with ``base``: the models the changes affect
    notes: list[str] = field(default_factory=list)  # things worth telling the user (stderr)

    @property
    def tracking_uri(self) -> str:
        return self.tracking.uri

    @property
    def registry_calls(self) -> int:
        return self.registry.call_count

    @property
    def root(self) -> Path:
        return self.workspace.root


@dataclass
class ApplyOutcome:
    planned: PlanResult
    result: ApplyResult
    git_dirty: bool = False


@dataclass
class StatusResult:
    report: StatusReport
    planned: PlanResult


def validate(specs: Sequence[str | Path] = ("specs",), *, rev: str | None = None,
             root: Path | None = None) -> SpecSet:
    """Load and validate (the work tree, or the specs at git revision ``rev``); raises ``SpecError``
    with every problem found."""
    return Workspace.open(specs, rev=rev, root=root).load()


def plan(*, specs: Sequence[str | Path] = ("specs",), rev: str | None = None, base: str | None = None,
         tracking_uri: str | None = None, prune: bool = False, only: str | None = None,
         root: Path | None = None, max_memory: str | None = None) -> PlanResult:
    """What apply would do. ``base``: limit it to the models that the changes since ``base`` affect
    (a pull request's view) while still validating everything. A training that cannot run here (its
    target's credentials missing, more peak memory than ``max_memory``, default ``$QSPEC_MAX_MEMORY``
    or 80% of the machine) is blocked in the plan, before anything is written."""
    from qspec.api.wiring import connect_registry, estimator, memory_budget, preflight
    from qspec.plan.desired import desired_state
    from qspec.plan.diff import changed_models, diff
    from qspec.plan.state import DesiredState

    workspace = Workspace.open(specs, rev=rev, root=root)
    specset = workspace.load()
    git = workspace.git_state(specset)
    resolver = workspace.resolver
    desired = desired_state(specset, resolve_ref=resolver, estimate=estimator(workspace),
                            preflight=preflight(workspace, memory_budget(max_memory)), git_commit=git.commit)
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

    tracking, registry = connect_registry(tracking_uri, workspace.root)
    actual = registry.snapshot()
    result = diff(desired, actual, prune=prune, only=selected)
    return PlanResult(plan=result, specs=specset, desired=desired, actual=actual, git=git, workspace=workspace,
                      tracking=tracking, registry=registry, base=base, changed=changed, notes=notes)


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
          max_memory: str | None = None, confirm: Callable[[PlanResult], bool] | None = None,
          progress: Progress | None = None,
          report: Callable[[Outcome], None] | None = None, note: Callable[[str], None] | None = None,
          wait_timeout: float | None = None) -> ApplyOutcome | None:
    """Reconcile the registry with the specs. Everything is validated before anything changes;
    ``confirm`` sees the plan first and may decline (then None is returned and nothing changes).

    A spec another apply is training right now is waited for, up to ``wait_timeout`` seconds (default
    an hour; 0: not at all), with progress lines to ``note``; see ``qspec.apply.claims``."""
    from qspec.api.wiring import claim_lease, tracked_trainer
    from qspec.apply.claims import DEFAULT_WAIT_SECONDS, Claims
    from qspec.apply.executor import apply as execute
    from qspec.apply.result import ApplyResult

    if wait_timeout is not None and not wait_timeout >= 0:
        raise QspecError(f"--wait-timeout {wait_timeout}: not a number of seconds", hint="give 0 or more")
    lease = claim_lease()
    planned = plan(specs=specs, rev=rev, tracking_uri=tracking_uri, prune=prune, only=only, root=root,
                   max_memory=max_memory)
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
    trainer = tracked_trainer(planned.workspace, planned.specs, tracking=planned.tracking,
                              registry=planned.registry, git_dirty=dirty, progress=progress)
    result = execute(planned.plan, planned.registry, trainer, report=report, note=note,
                     claims=Claims(planned.registry, lease=lease),
                     wait_timeout=DEFAULT_WAIT_SECONDS if wait_timeout is None else wait_timeout)
    return ApplyOutcome(planned, result, git_dirty=dirty)


def status(*, specs: Sequence[str | Path] = ("specs",), rev: str | None = None, tracking_uri: str | None = None,
           root: Path | None = None) -> StatusResult:
    """Managed models, their aliases, and whether each matches git."""
    from qspec.plan.status import status as compare

    planned = plan(specs=specs, rev=rev, tracking_uri=tracking_uri, root=root)
    return StatusResult(report=compare(planned.desired, planned.actual, planned.plan), planned=planned)


def predict(reference: str, rows: pd.DataFrame | str | Path, *, tracking_uri: str | None = None,
            root: Path | None = None, mode: str | None = None) -> pd.DataFrame:
    """Predictions of the registered model ``reference`` (``NAME@ALIAS``, ``NAME/VERSION``, ``NAME``) for
    ``rows`` (a DataFrame or a CSV path), by running its trained circuit; see
    ``qspec.tracking.predict.predict_from_registry``."""
    from qspec.tracking.predict import predict_from_registry

    return predict_from_registry(reference, rows, tracking_uri=tracking_uri, root=root, mode=mode)
