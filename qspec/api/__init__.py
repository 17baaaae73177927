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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qspec.api.wiring import GitState, Progress, Workspace
from qspec.errors import QspecError, RevisionError, SourceError
from qspec.spec.load import SpecSet

if TYPE_CHECKING:
    import pandas as pd

    from qspec.apply.result import ApplyResult, Outcome
    from qspec.monitor.report import Report as MonitorReport
    from qspec.plan.actions import Plan
    from qspec.plan.saved import SavedPlan
    from qspec.plan.state import ActualState, DesiredState
    from qspec.plan.status import StatusReport
    from qspec.registry.mlflow import MlflowRegistry
    from qspec.store import Tracking

__all__ = ["ApplyOutcome", "GitState", "PlanResult", "SavedApplyOutcome", "StatusResult", "Workspace", "apply",
           "apply_saved", "load_plan", "monitor", "plan", "predict", "save_plan", "status", "trainings_only",
           "validate"]


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
    spec_args: tuple[str, ...] = ()  # the ``specs`` arguments as given, which a saved plan keeps
    only: str | None = None

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
class SavedApplyOutcome:
    """``apply_saved``'s result: the plan file's content and what executing it did."""

    saved: SavedPlan
    result: ApplyResult
    git_dirty: bool = False

    @property
    def plan(self) -> Plan:
        return self.saved.plan


@dataclass
class StatusResult:
    report: StatusReport
    planned: PlanResult


def validate(specs: Sequence[str | Path] | None = None, *, rev: str | None = None,
             root: Path | None = None) -> SpecSet:
    """Load and validate (the work tree, or the specs at git revision ``rev``); raises ``SpecError``
    with every problem found."""
    return Workspace.open(specs, rev=rev, root=root).load()


def plan(*, specs: Sequence[str | Path] | None = None, rev: str | None = None, base: str | None = None,
         tracking_uri: str | None = None, prune: bool = False, only: str | None = None,
         root: Path | None = None, max_memory: str | None = None, review: bool = True,
         allow_empty: bool = False) -> PlanResult:
    """What apply would do. ``base``: limit it to the models that the changes since ``base`` affect
    (a pull request's view) while still validating everything. A training that cannot run here (its
    target's credentials missing, more peak memory than ``max_memory``, default ``$QSPEC_MAX_MEMORY``
    or 80% of the machine) is blocked in the plan, before anything is written. ``review``: give each
    retraining the spec fields it changes against the version it replaces (read from git).

    A ``prune`` that would delete every alias of a managed model (with every spec file emptied: of
    every model) is refused, a ``QspecError``, unless ``allow_empty``."""
    from qspec.api.wiring import connect_registry, estimator, identity_reader, memory_budget, preflight
    from qspec.plan.desired import desired_state
    from qspec.plan.diff import changed_experiments, changed_models, diff, emptied_models
    from qspec.plan.review import annotate
    from qspec.plan.state import DesiredState

    workspace = Workspace.open(specs, rev=rev, root=root)
    specset = workspace.load()
    git = workspace.git_state(specset)
    resolver = workspace.resolver
    desired = desired_state(specset, resolve_ref=resolver, estimate=estimator(workspace),
                            preflight=preflight(workspace, memory_budget(max_memory)), git_commit=git.commit)
    name, build = _split_only(only)
    selected, experiments = _select(specset, name)
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
        changed_solo = changed_experiments(desired, base_desired)
        selected = changed if selected is None else selected & changed
        experiments = changed_solo if experiments is None else experiments & changed_solo

    tracking, registry = connect_registry(tracking_uri, workspace.root)
    actual = registry.snapshot()
    result = diff(desired, actual, prune=prune, only=selected, only_experiments=experiments)
    if build is not None:
        result = _one_build(result, build)
    if prune and not allow_empty:
        _refuse_empty(emptied_models(result, actual), actual, declared=len(desired.models))
    if review:  # each retraining says which spec fields it changes against the version it replaces
        result = annotate(result, desired, actual, identity_reader(workspace, specset))
    return PlanResult(plan=result, specs=specset, desired=desired, actual=actual, git=git, workspace=workspace,
                      tracking=tracking, registry=registry, base=base, changed=changed, notes=notes,
                      spec_args=tuple(str(s) for s in specs or ()), only=only)


def _split_only(only: str | None) -> tuple[str | None, str | None]:
    """``--only NAME`` or ``--only NAME#HASH`` (a training's subject, as a plan lists it): the name,
    and the spec hash (or its prefix) to keep, if any."""
    if only is None or "#" not in only:
        return only, None
    name, _, build = only.partition("#")
    if not name or not build or not all(c in "0123456789abcdef" for c in build):
        raise QspecError(f"--only {only}: not NAME or NAME#SPEC_HASH",
                         hint="give an Experiment or Model name, or a training's subject as plan lists it "
                              "(e.g. iris-vqc#451a36f8bb21)")
    return name, build


def _one_build(result: Plan, build: str) -> Plan:
    """The items of ``result`` about the spec hash starting with ``build`` (``--only NAME#HASH``), and
    the items of those items' models that concern no hash (creating the model, its description)."""
    from qspec.plan.actions import Plan as PlanType

    ours = [i for i in result.items if i.spec_hash is not None and i.spec_hash.startswith(build)]
    models = {i.model for i in ours if i.model is not None}
    ids = {id(i) for i in ours}
    kept = tuple(i for i in result.items if id(i) in ids or (i.spec_hash is None and i.model in models))
    return PlanType(kept, prune=result.prune)


def trainings_only(result: Plan) -> Plan:
    """``apply --train-only``: the plan's trainings, and the blocked items that stop a training (a
    budget, credentials, memory); no model is created, no version registered, no alias moved."""
    from qspec.plan.actions import Action, Reason
    from qspec.plan.actions import Plan as PlanType

    # A blocked item whose training itself cannot run (not a gate or a requirement) is still reported.
    stops_training = {Reason.BUDGET_EXCEEDED, Reason.CREDENTIALS_MISSING, Reason.MEMORY_EXCEEDED}
    kept = tuple(i for i in result.items if i.action is Action.TRAIN
                 or (i.action is Action.BLOCKED and i.code in stops_training and i.alias is None))
    return PlanType(kept, prune=result.prune)


def _refuse_empty(emptied: list[str], actual: ActualState, *, declared: int) -> None:
    """Refuse a prune that leaves managed models without any alias (``--allow-empty`` accepts it)."""
    if not emptied:
        return
    serving = [n for n, m in actual.models.items() if m.managed and m.aliases]
    shown = ", ".join(emptied[:5]) + (f" and {len(emptied) - 5} more" if len(emptied) > 5 else "")
    every = " (every managed model that serves one)" if set(serving) <= set(emptied) and len(serving) > 1 else ""
    why = " the specs declare no Model;" if declared == 0 else ""
    raise QspecError(
        f"refusing to prune:{why} it would delete every alias of {shown}{every}",
        hint="an empty desired state is more often a mistake (spec files emptied, a Deployment deleted) than "
             "a wish; restore the specs, or pass --allow-empty to delete them all")


def _select(specset: SpecSet, only: str | None) -> tuple[set[str] | None, set[str] | None]:
    """``--only NAME``: (models, experiments) to reconcile. An Experiment NAME, with the models that
    register it; or the Model NAME (which trains its experiment if it needs to)."""
    if only is None:
        return None, None
    models = {name for name, m in specset.models.items() if m.resource.spec.experiment == only}
    experiments = {only} if only in specset.experiments else set()
    if only in specset.models:
        models.add(only)
    if not models and not experiments:
        known = sorted(set(specset.experiments) | set(specset.models))
        raise QspecError(f"--only {only}: no Experiment or Model of that name is declared",
                         hint="known names: " + ", ".join(known))
    return models, experiments


def apply(*, specs: Sequence[str | Path] | None = None, rev: str | None = None, tracking_uri: str | None = None,
          prune: bool = False, only: str | None = None, allow_dirty: bool = False, root: Path | None = None,
          max_memory: str | None = None, confirm: Callable[[PlanResult], bool] | None = None,
          progress: Progress | None = None, artifact_location: str | None = None,
          report: Callable[[Outcome], None] | None = None, note: Callable[[str], None] | None = None,
          wait_timeout: float | None = None, train_only: bool = False,
          allow_empty: bool = False) -> ApplyOutcome | None:
    """Reconcile the registry with the specs. Everything is validated before anything changes;
    ``confirm`` sees the plan first and may decline (then None is returned and nothing changes).
    ``allow_empty``: let ``prune`` delete every alias of a model (see ``plan``).

    ``train_only``: execute only the trainings (each taking its spec hash's claim, and recording its
    run), no model, version or alias; a later full apply registers and promotes them. With ``only``
    ``NAME#HASH`` it is one training: what each job of a fanned-out training matrix runs.

    A spec another apply is training right now is waited for, up to ``wait_timeout`` seconds (default
    an hour; 0: not at all), with progress lines to ``note``; see ``qspec.apply.claims``.
    ``artifact_location`` (else ``$QSPEC_ARTIFACT_LOCATION``) is where experiments it creates keep
    their artifacts (``qspec.store.Tracking``)."""
    from qspec.api.wiring import claim_lease
    from qspec.apply.executor import apply as execute
    from qspec.apply.result import ApplyResult

    wait = _wait_seconds(wait_timeout)
    lease = claim_lease()
    if train_only and prune:
        raise QspecError("--train-only trains and records runs; it deletes no alias",
                         hint="drop --prune, and give it to the apply that registers and promotes")
    planned = plan(specs=specs, rev=rev, tracking_uri=tracking_uri, prune=prune, only=only, root=root,
                   max_memory=max_memory, allow_empty=allow_empty)
    if train_only:
        planned = replace(planned, plan=trainings_only(planned.plan))
    git = planned.git
    if rev is None:
        _refuse_dirty(git, allow_dirty)
    if not planned.plan.has_changes:
        # Nothing to change, but blocked and drift items are still outcomes to report (no prompt).
        result = execute(planned.plan, planned.registry, None) if planned.plan.items else ApplyResult((), ())
        return ApplyOutcome(planned, result, git_dirty=bool(git.dirty))
    if confirm is not None and not confirm(planned):
        return None

    dirty = rev is None and (bool(git.dirty) or not git.is_repo)
    result = _execute(planned.plan, planned.workspace, planned.specs, planned.tracking, planned.registry,
                      git_dirty=dirty, lease=lease, wait=wait, artifact_location=artifact_location,
                      progress=progress, report=report, note=note)
    return ApplyOutcome(planned, result, git_dirty=dirty)


def _wait_seconds(wait_timeout: float | None) -> float:
    """``--wait-timeout`` checked, or the default wait for another apply's training of the same spec."""
    from qspec.apply.claims import DEFAULT_WAIT_SECONDS

    if wait_timeout is not None and not wait_timeout >= 0:
        raise QspecError(f"--wait-timeout {wait_timeout}: not a number of seconds", hint="give 0 or more")
    return DEFAULT_WAIT_SECONDS if wait_timeout is None else wait_timeout


def _execute(plan: Plan, workspace: Workspace, specs: SpecSet, tracking: Tracking, registry: MlflowRegistry, *,
             git_dirty: bool, lease: float, wait: float, artifact_location: str | None, progress: Progress | None,
             report: Callable[[Outcome], None] | None, note: Callable[[str], None] | None) -> ApplyResult:
    """Execute ``plan`` with the tracked trainer, each training under its spec hash's claim: what
    ``apply`` and ``apply_saved`` share once they have checked that the plan may run."""
    from qspec.api.wiring import tracked_trainer
    from qspec.apply.claims import Claims
    from qspec.apply.executor import apply as execute

    trainer = tracked_trainer(workspace, specs, tracking=tracking.with_artifact_location(artifact_location),
                              registry=registry, git_dirty=git_dirty, progress=progress)
    return execute(plan, registry, trainer, report=report, note=note, claims=Claims(registry, lease=lease),
                   wait_timeout=wait)


def save_plan(planned: PlanResult, path: str | Path) -> SavedPlan:
    """Write ``planned`` to ``path`` (``qspec plan -out FILE``): the plan in full, the spec arguments,
    the git commit and the uncommitted files (by content), the tracking URI without credentials and
    a fingerprint of the registry snapshot, for ``apply_saved``."""
    from qspec import __version__
    from qspec.api.wiring import dirty_contents
    from qspec.plan.saved import SavedPlan, redact_uri, registry_fingerprint

    models, hashes = _covered(planned.desired)
    saved = SavedPlan(
        plan=planned.plan, specs=planned.spec_args, paths=planned.workspace.paths, rev=planned.workspace.rev,
        git_commit=planned.git.commit, dirty=dirty_contents(planned.workspace, planned.git.dirty),
        is_repo=planned.git.is_repo, registry=registry_fingerprint(planned.actual, models, hashes),
        tracking_uri=redact_uri(planned.tracking_uri), models=models, hashes=hashes, base=planned.base,
        only=planned.only, qspec_version=__version__,
    )
    target = Path(path)
    try:
        target.write_text(saved.to_json())
    except OSError as exc:
        raise QspecError(f"cannot write the plan to {target}: {exc.strerror or exc}") from exc
    return saved


def _covered(desired: DesiredState) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The models and spec hashes (of every Model's builds and every Experiment) git declares: what a
    saved plan's registry fingerprint covers."""
    hashes = {h for m in desired.models.values() for h in m.builds}
    hashes |= {b.spec_hash for b in desired.experiments.values()}
    return tuple(sorted(desired.models)), tuple(sorted(hashes))


def load_plan(path: str | Path) -> SavedPlan:
    """Read a plan file that ``save_plan`` wrote; anything else is a ``QspecError``."""
    from qspec.plan.saved import SavedPlan

    target = Path(path)
    try:
        text = target.read_bytes()
    except OSError as exc:
        raise QspecError(f"cannot read the plan {target}: {exc.strerror or exc}",
                         hint="write one with qspec plan -out FILE") from exc
    return SavedPlan.from_json(text, where=str(target))


def apply_saved(path: str | Path, *, tracking_uri: str | None = None, allow_dirty: bool = False,
                root: Path | None = None, progress: Progress | None = None, artifact_location: str | None = None,
                report: Callable[[Outcome], None] | None = None,
                before: Callable[[SavedPlan], None] | None = None, note: Callable[[str], None] | None = None,
                wait_timeout: float | None = None) -> SavedApplyOutcome:
    """Execute exactly the plan saved at ``path``, without planning again. Refused (a ``QspecError``,
    nothing written) when anything the plan was made from has moved: the git commit, the uncommitted
    spec files, the registry it was made against, or the registry snapshot (its fingerprint).
    ``before`` sees the plan once every check has passed, before anything is executed. Trainings
    take the spec's claim as ``apply`` does (``wait_timeout``, ``note``)."""
    from qspec.api.wiring import claim_lease, connect_registry, dirty_contents
    from qspec.plan.saved import PLAN_AGAIN, redact_uri, registry_fingerprint

    wait = _wait_seconds(wait_timeout)
    lease = claim_lease()
    saved = load_plan(path)
    workspace = Workspace.open(saved.specs, rev=saved.rev, root=root)
    if workspace.paths != saved.paths:
        raise QspecError(f"the plan read the specs at {', '.join(saved.paths) or '(none)'}; here they are at "
                         f"{', '.join(workspace.paths) or '(none)'}",
                         hint="run apply from the directory the plan was made in")
    specset = workspace.load()
    git = workspace.git_state(specset)
    if git.commit != saved.git_commit:
        now = (git.commit or "no commit")[:12]
        raise QspecError(f"git moved since the plan was saved: the specs are at {now}, the plan was made at "
                         f"{(saved.git_commit or 'no commit')[:12]}", hint=PLAN_AGAIN)
    if saved.rev is None:
        if dirty_contents(workspace, git.dirty) != dict(saved.dirty):
            raise QspecError("the uncommitted spec changes are not the ones the plan was made from", hint=PLAN_AGAIN)
        _refuse_dirty(git, allow_dirty)
    tracking, registry = connect_registry(tracking_uri, workspace.root)
    uri = redact_uri(tracking.uri)
    if uri != saved.tracking_uri:
        raise QspecError(f"the plan was made against the registry {saved.tracking_uri}; this apply would write to "
                         f"{uri}", hint="point --tracking-uri (or MLFLOW_TRACKING_URI) at the registry of the plan")
    if registry_fingerprint(registry.snapshot(), saved.models, saved.hashes) != saved.registry:
        raise QspecError("the registry changed since the plan was saved: plan again",
                         hint="something (a person, another apply) changed the models, versions, aliases or runs "
                              "the plan read; " + PLAN_AGAIN)
    if before is not None:
        before(saved)
    dirty = saved.rev is None and (bool(git.dirty) or not git.is_repo)
    result = _execute(saved.plan, workspace, specset, tracking, registry, git_dirty=dirty, lease=lease, wait=wait,
                      artifact_location=artifact_location, progress=progress, report=report, note=note)
    return SavedApplyOutcome(saved, result, git_dirty=dirty)


def _refuse_dirty(git: GitState, allow_dirty: bool) -> None:
    """``apply`` of the work tree: refused outside git or with uncommitted spec changes, unless allowed."""
    if allow_dirty:
        return
    if not git.is_repo:
        raise QspecError("the specs are not in a git repository, so no run could name the commit it came from",
                         hint="commit the specs to git, or pass --allow-dirty to apply them anyway")
    if git.dirty:
        shown = ", ".join(git.dirty[:5]) + (" ..." if len(git.dirty) > 5 else "")
        raise QspecError(f"uncommitted spec changes: {shown}",
                         hint="commit them (git is the desired state), or pass --allow-dirty")


def status(*, specs: Sequence[str | Path] | None = None, rev: str | None = None, tracking_uri: str | None = None,
           root: Path | None = None) -> StatusResult:
    """Managed models, their aliases, and whether each matches git."""
    from qspec.plan.status import status as compare

    planned = plan(specs=specs, rev=rev, tracking_uri=tracking_uri, root=root, review=False)
    return StatusResult(report=compare(planned.desired, planned.actual, planned.plan), planned=planned)


def predict(reference: str, rows: pd.DataFrame | str | Path, *, tracking_uri: str | None = None,
            root: Path | None = None, mode: str | None = None) -> pd.DataFrame:
    """Predictions of the registered model ``reference`` (``NAME@ALIAS``, ``NAME/VERSION``, ``NAME``) for
    ``rows`` (a DataFrame or a CSV path), by running its trained circuit; see
    ``qspec.tracking.predict.predict_from_registry``."""
    from qspec.tracking.predict import predict_from_registry

    return predict_from_registry(reference, rows, tracking_uri=tracking_uri, root=root, mode=mode)


def monitor(deployment: str, **options: Any) -> MonitorReport:
    """``qspec monitor``: evaluate the version behind a stage on new labelled data (a VQE: its energy),
    check the Deployment's monitoring thresholds against the training run's metrics and the training
    noise, and record the verdict in MLflow; see ``qspec.api.monitoring.monitor`` for the options.
    Returns the ``Report`` (its ``exit_code`` is 3 on drift)."""
    from qspec.api.monitoring import monitor as run

    return run(deployment, **options)
