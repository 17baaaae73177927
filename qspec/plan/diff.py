"""``diff(desired, actual) -> Plan``: the reconciler's decision, as a pure function.

Called by ``qspec plan``, ``qspec status`` and ``qspec apply`` (through ``qspec.api``). No I/O,
no MLflow objects: both sides are the plain records of ``qspec.plan.state``, so every rule below
is tested table-style in ``tests/plan``.

Rules, per Model git declares (sorted by name, so a plan reads the same every time), then per
Experiment:

- A registered model of that name that is not tagged ``qspec.managed=true`` is never touched:
  the model is blocked. A missing one is created.
- Each build (the spec at HEAD, and at every ``ref:`` stage) needs one version. A version with
  that hash: nothing to do (higher duplicates from a race are deleted). Else a finished run that
  met the requirements: register it. A finished run that missed them: blocked (the same spec
  trains the same result; change the spec). No finished run: train (unless the estimate exceeds
  the budget: blocked), then register once the requirements are checked on the new run.
- Each stage's alias should point at its build's version (or the adopted ``version: N``). Missing:
  set; elsewhere: move, after its gates pass on the version's metrics (checked now when the
  version exists, by apply after training otherwise). A ``qspec.alias.<alias>`` record that
  differs from the alias means a person moved it: drift, healed by the move.
- An alias git does not declare on a managed model is drift; with ``prune`` it is deleted.
- Version tags edited by hand (they differ from their run's tags) are drift, healed by update-tags.
- A Model's ``metadata.description``, when git declares one, is the registered model's description.
- A stage's ``serving`` block is the registered model's ``qspec.serving.<stage>`` tag (canonical
  JSON): a missing or different tag is an update-serving item (never a training); a stage that no
  longer declares serving has its tag removed. Not for a stage whose declaration cannot be resolved,
  nor for a model this plan would create only to record serving; an undeclared stage's tag is removed
  with ``prune`` only, as its alias is. A ref stage whose version (the Experiment at the ref) cannot
  run on its serving target is a blocked item instead, which leaves its alias to its own items.
- Every Experiment git declares needs one finished run of its hash, whether or not a Model
  registers it: train (or blocked, as a build is). A hash a model's plan trains is trained once.
- A managed run left RUNNING whose spec this plan does not train (a FINISHED run of it exists, or
  the spec is gone) is closed: apply marks it FAILED unless a live claim covers it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from qspec import tags as tag
from qspec.plan.actions import (
    Action,
    Cost,
    NewVersion,
    PendingVersion,
    Plan,
    PlanItem,
    Reason,
    Recorded,
    Serving,
    TagValue,
    TagValues,
    Text,
    Value,
)
from qspec.plan.state import (
    ActualState,
    Build,
    DesiredModel,
    DesiredState,
    RegisteredModelInfo,
    RunInfo,
    Stage,
    check_bounds,
    describe_bounds,
    short,
    versions_with_hash,
)
from qspec.spec.models import Bound


@dataclass(frozen=True)
class _Target:
    """Where a build stands after this plan: an existing version, one this plan makes, or blocked."""

    version: int | None = None
    pending: bool = False
    blocked: str | None = None


def diff(desired: DesiredState, actual: ActualState, *, prune: bool = False,
         only: Collection[str] | None = None, only_experiments: Collection[str] | None = None) -> Plan:
    """The plan that makes ``actual`` match ``desired``.

    ``only`` limits the plan to those model names (``--only``, or what ``--base`` found changed) and
    ``only_experiments`` to those Experiments (None: the same selection as ``only``, so with ``only``
    given and this not, no Experiment of its own); ``prune`` turns reported undeclared aliases into
    deletions.
    """
    items: list[PlanItem] = []
    training: set[str] = set()  # hashes that already have a TRAIN item: two models may share a spec
    for name in sorted(desired.models):
        if only is not None and name not in only:
            continue
        items.extend(_diff_model(desired.models[name], actual.models.get(name), actual, prune, training))
    # A build a model's plan already trains or blocks is not said twice.
    decided = training | {i.spec_hash for i in items if i.action is Action.BLOCKED and i.spec_hash and not i.alias}
    selected = only_experiments if only_experiments is not None else only
    for name, build in sorted(desired.experiments.items()):
        if (selected is not None and name not in selected) or build.spec_hash in decided:
            continue
        items.extend(_diff_experiment(build, actual.runs_by_hash.get(build.spec_hash, []), training))
    items.extend(_abandoned_runs(desired, actual, training, only, selected))
    for name in sorted(actual.models):
        model = actual.models[name]
        if name in desired.models or not model.managed or (only is not None and name not in only):
            continue
        # A managed model git no longer declares keeps its versions (history); only its aliases
        # still serve, so only they are reported or pruned. Once they are gone it is in sync.
        for alias, version in sorted(model.aliases.items()):
            items.append(_undeclared_alias(name, alias, version, prune, Reason.MODEL_UNDECLARED,
                                           "its Model is no longer declared in git"))
    return Plan(tuple(items), prune=prune)


def _abandoned_runs(desired: DesiredState, actual: ActualState, training: set[str],
                    only: Collection[str] | None, only_experiments: Collection[str] | None) -> list[PlanItem]:
    """A managed run that is RUNNING while this plan does not train its spec (a TRAIN deals with the
    RUNNING runs of its own spec): a FINISHED run of the spec exists (a lost ``runs/create`` answer
    that MLflow's client retried left a second run), or nothing declares the spec any more. Its
    apply is gone unless that apply's claim on the spec is live, which only apply can tell: the item
    closes the run as FAILED holding the claim, and leaves it alone while another apply holds it.
    With ``only``, only the runs of the selected Models' and Experiments' specs."""
    selected: set[str] | None = None
    if only is not None or only_experiments is not None:
        selected = {h for name, m in desired.models.items() if only is None or name in only for h in m.builds}
        selected |= {b.spec_hash for name, b in desired.experiments.items()
                     if only_experiments is None or name in only_experiments}
    out: list[PlanItem] = []
    for run in sorted(actual.runs, key=lambda r: (r.start_time or 0, r.run_id)):
        if run.status != tag.RUN_RUNNING or run.spec_hash is None or run.spec_hash in training:
            continue
        if selected is not None and run.spec_hash not in selected:
            continue
        siblings = actual.runs_by_hash.get(run.spec_hash, [])
        finished = [r.run_id for r in siblings if r.finished]
        name = run.tags.get(tag.SPEC_NAME, "?")
        why = (f"run {finished[0]} of spec {short(run.spec_hash)} FINISHED, this one never ended" if finished
               else f"spec {short(run.spec_hash)} is not trained by this plan")
        out.append(PlanItem(
            Action.CLOSE_RUN, f"{name}#{short(run.spec_hash)} run {run.run_id}", old=TagValue(tag.RUN_RUNNING),
            new=TagValue(tag.RUN_FAILED), experiment=name, spec_hash=run.spec_hash, run_id=run.run_id,
            code=Reason.RUN_ABANDONED,
            reason=f"{why}: apply marks it FAILED unless another apply's claim on the spec is live"))
    return out


def _diff_experiment(build: Build, runs: list[RunInfo], training: set[str]) -> list[PlanItem]:
    """An Experiment is reconciled to one finished run of its hash, whether or not a Model registers
    it (experiment tracking is a resource of its own); a Model that consumes it registers that run."""
    if any(r.finished for r in runs):
        return []
    blocked = _cannot_train(build, None)
    if blocked is not None:
        return [blocked]
    training.add(build.spec_hash)
    code, why = _train_reason(build, runs)
    if code is Reason.NO_RUN:
        code, why = Reason.EXPERIMENT_UNTRAINED, why + " (an Experiment of its own: tracked, not registered)"
    return [_train_item(build, None, code, why)]


def _cannot_train(build: Build, model: str | None) -> PlanItem | None:
    """The BLOCKED item of a build that cannot be trained here (a pre-flight blocker, the budget), or None;
    one rule for a Model's builds and for an Experiment of its own (``model`` None)."""
    if build.blocker is not None:  # cannot run here at all: say so before anything is written
        return PlanItem(Action.BLOCKED, build.label, model=model, experiment=build.experiment,
                        spec_hash=build.spec_hash, estimate=build.estimate, rev=build.rev, code=build.blocker.code,
                        reason=build.blocker.message)
    over = build.budget.exceeded_by(build.estimate)
    if over is not None:
        return PlanItem(Action.BLOCKED, build.label, model=model, experiment=build.experiment,
                        spec_hash=build.spec_hash, estimate=build.estimate, rev=build.rev,
                        code=Reason.BUDGET_EXCEEDED, reason=over, budget=build.budget)
    return None


def _train_item(build: Build, model: str | None, code: Reason, why: str) -> PlanItem:
    return PlanItem(Action.TRAIN, build.label, new=Cost(build.estimate), model=model, experiment=build.experiment,
                    spec_hash=build.spec_hash, rev=build.rev, spec_path=build.spec_path, git_commit=build.git_commit,
                    estimate=build.estimate, budget=build.budget, code=code, reason=why)


def _diff_model(model: DesiredModel, registered: RegisteredModelInfo | None, actual: ActualState,
                prune: bool, training: set[str]) -> list[PlanItem]:
    name = model.name
    if registered is not None and not registered.managed:
        return [PlanItem(
            Action.BLOCKED, name, model=name, code=Reason.MODEL_UNMANAGED,
            reason=f"a registered model {name!r} exists that qspec does not manage (no tag {tag.MANAGED}=true); "
                   f"qspec never changes it: rename the Model, or tag the registered model to adopt it",
        )]
    out: list[PlanItem] = []
    missing = registered is None
    if registered is None:
        registered = RegisteredModelInfo(name)

    targets: dict[str, _Target] = {}
    duplicates: list[tuple[int, int, str]] = []  # (duplicate, kept, hash)
    for spec_hash in sorted(model.builds, key=lambda h: (h != model.head_hash, h)):
        build = model.builds[spec_hash]
        existing = versions_with_hash(registered, spec_hash, actual.runs_by_id.get)
        if existing:
            targets[spec_hash] = _Target(version=existing[0].version)
            # Only versions qspec made are cleaned up; one a person registered from the same run stays.
            duplicates.extend((v.version, existing[0].version, spec_hash) for v in existing[1:]
                              if v.tags.get(tag.MANAGED) == "true")
            continue
        targets[spec_hash] = _plan_build(model, build, actual.runs_by_hash.get(spec_hash, []), training, out)

    out.extend(_version_tag_drift(registered, actual))

    moving: set[str] = set()
    records = registered.alias_records()
    servings = registered.serving_records()
    for alias, stage in sorted(model.stages.items()):
        out.extend(_plan_stage(model, registered, actual, stage, targets, records.get(alias)))
        pointed = any(i.alias == alias and i.action in (Action.MOVE_ALIAS, Action.SET_ALIAS) for i in out)
        if pointed:
            moving.add(alias)
        if stage.error is None and stage.serving_error is not None:
            out.append(PlanItem(Action.BLOCKED, f"{name}@{alias}", model=name, alias=alias,
                                code=Reason.SERVING_UNSERVABLE,
                                reason=f"cannot serve as declared: {stage.serving_error}"))
        elif stage.error is None and (not missing or pointed):
            out.extend(_plan_serving(name, alias, stage.serving, servings.get(alias)))
    for alias, version in sorted(registered.aliases.items()):
        if alias not in model.stages:
            out.append(_undeclared_alias(name, alias, version, prune, Reason.UNDECLARED_ALIAS,
                                         "git does not declare this stage"))
            if prune:
                moving.add(alias)
    if prune:
        for alias in sorted(set(servings) - set(model.stages)):
            out.extend(_plan_serving(name, alias, None, servings[alias], why="git does not declare this stage"))

    # A duplicate still served by an alias that stays is left for a later apply, after the move.
    served = {v for a, v in registered.aliases.items() if a not in moving}
    pinned = {s.version for s in model.stages.values() if s.version is not None}
    for dup, kept, spec_hash in duplicates:
        if dup in served or dup in pinned:
            continue
        out.append(PlanItem(
            Action.DELETE_VERSION, f"{name}/v{dup}", old=dup, model=name, version=dup, spec_hash=spec_hash,
            code=Reason.DUPLICATE_VERSION,
            reason=f"duplicate of v{kept} (same spec {short(spec_hash)}, left by two applies racing)",
        ))
    if missing and any(i.action.changes for i in out):
        # Created only when something will use it: a model whose every build is blocked (no
        # credentials, too much memory, over budget) leaves the registry untouched.
        out.insert(0, PlanItem(Action.CREATE_MODEL, name, model=name, tags={tag.MANAGED: "true"},
                               code=Reason.MODEL_MISSING, reason=f"git declares Model {name!r}"))
        missing = False
    if not missing and model.description is not None and (registered.description or "") != model.description:
        # Only a description git declares is synced; without one, the registry's (a person's) stays.
        out.insert(1 if out and out[0].action is Action.CREATE_MODEL else 0, PlanItem(
            Action.UPDATE_DESCRIPTION, name, old=Text(registered.description) if registered.description else None,
            new=Text(model.description), model=name, code=Reason.DESCRIPTION_CHANGED,
            reason="git declares the Model's description (metadata.description)"))
    return out


def _plan_build(model: DesiredModel, build: Build, runs: list[RunInfo], training: set[str],
                out: list[PlanItem]) -> _Target:
    name, spec_hash = model.name, build.spec_hash
    finished = [r for r in runs if r.finished]
    if finished:
        passing = [r for r in finished if not check_bounds(model.requirements, r.metrics)]
        if passing:
            run = passing[0]
            out.append(PlanItem(
                Action.REGISTER, name, new=NewVersion(build.label, run.run_id), model=name,
                experiment=build.experiment, spec_hash=spec_hash, run_id=run.run_id, checks=model.requirements,
                tags=_version_tags(build), code=Reason.RUN_PASSED,
                reason=f"run {run.run_id} of {build.label} met the requirements"
                       + (f" ({describe_bounds(model.requirements)})" if model.requirements else ""),
            ))
            return _Target(pending=True)
        run = finished[0]
        failures = "; ".join(check_bounds(model.requirements, run.metrics))
        why = f"requirement not met by run {run.run_id}: {failures}"
        out.append(PlanItem(Action.BLOCKED, f"{name}: {build.label}", model=name, experiment=build.experiment,
                            spec_hash=spec_hash, run_id=run.run_id, code=Reason.REQUIREMENT_NOT_MET,
                            reason=why + " (change the spec to retrain)"))
        return _Target(blocked="requirement not met")

    blocked = _cannot_train(build, name)
    if blocked is not None:
        out.append(blocked)
        return _Target(blocked=str(blocked.code).replace("-", " "))

    if spec_hash not in training:
        training.add(spec_hash)
        code, why = _train_reason(build, runs)
        out.append(_train_item(build, name, code, why))
    checks = model.requirements
    out.append(PlanItem(
        Action.REGISTER, name, new=NewVersion(build.label), model=name, experiment=build.experiment,
        spec_hash=spec_hash, checks=checks, tags=_version_tags(build), pending=True, code=Reason.AFTER_TRAINING,
        reason="after training" + (f", if {describe_bounds(checks)}" if checks else ""),
    ))
    return _Target(pending=True)


def _train_reason(build: Build, runs: list[RunInfo]) -> tuple[Reason, str]:
    where = f" at {build.rev}" if build.rev else ""
    running = [r.run_id for r in runs if r.status == tag.RUN_RUNNING]
    failed = [r.run_id for r in runs if r.status in (tag.RUN_FAILED, tag.RUN_KILLED)]
    if running:
        return Reason.RUN_RUNNING, (
            f"no finished run of spec {short(build.spec_hash)}{where}; run {', '.join(running)} is RUNNING: apply "
            f"waits for it while another apply's claim on the spec is live, else marks it FAILED and trains")
    if failed:
        return Reason.LAST_RUN_FAILED, (
            f"no finished run of spec {short(build.spec_hash)}{where}; the last run ({failed[-1]}) failed")
    return Reason.NO_RUN, f"no run of spec {short(build.spec_hash)}{where} yet"


def _version_tags(build: Build) -> dict[str, str]:
    out = {tag.MANAGED: tag.TRUE, tag.SPEC_HASH: build.spec_hash, tag.SPEC_NAME: build.experiment}
    if build.spec_path:
        out[tag.SPEC_PATH] = build.spec_path
    if build.git_commit:
        out[tag.GIT_COMMIT] = build.git_commit
    return out


def _plan_stage(model: DesiredModel, registered: RegisteredModelInfo, actual: ActualState, stage: Stage,
                targets: dict[str, _Target], record: str | None) -> list[PlanItem]:
    name, alias = model.name, stage.alias
    subject = f"{name}@{alias}"
    current = registered.aliases.get(alias)

    # Every item about the stage starts from where its alias is now (``old``); typed keywords, not
    # **fields, so that mypy checks the values and the code each call passes.
    def item(action: Action, *, code: Reason, reason: str, new: Value | None = None, version: int | None = None,
             checks: Mapping[str, Bound] | None = None, pending: bool = False) -> PlanItem:
        return PlanItem(action, subject, old=current, new=new, reason=reason, code=code, model=name, alias=alias,
                        spec_hash=stage.spec_hash, version=version, checks=dict(checks or {}), pending=pending)

    if stage.error is not None:
        return [item(Action.BLOCKED, code=stage.error_code, reason=stage.error)]
    if stage.version is not None:
        found = registered.version(stage.version)
        if found is None or not found.usable:
            return [item(Action.BLOCKED, code=Reason.VERSION_MISSING,
                         reason=f"{stage.source}: version {stage.version} of {name!r} does not exist in the registry")]
        target = _Target(version=stage.version)
        what: Value = stage.version
    else:
        assert stage.spec_hash is not None
        target = targets[stage.spec_hash]
        label = model.builds[stage.spec_hash].label
        what = target.version if target.version is not None else PendingVersion(label)
        if target.blocked is not None:
            return [item(Action.BLOCKED, code=Reason.BUILD_BLOCKED,
                         reason=f"{stage.source}: no version of {label} to point at ({target.blocked})")]

    out: list[PlanItem] = []
    if target.version is not None and current == target.version:
        if record != str(current):
            out.append(PlanItem(Action.UPDATE_TAGS, name, old=None if record is None else TagValue(record),
                                new=TagValue(str(current)), model=name, alias=alias,
                                tags={tag.alias_record(alias): str(current)}, code=Reason.ALIAS_RECORD_MISSING,
                                reason=f"record that qspec manages @{alias} (at v{current})"))
        return out

    healing = False
    if record is not None and current is not None and record != str(current):
        healing = True
        out.append(PlanItem(Action.DRIFT, subject, old=Recorded(record), new=current, model=name, alias=alias,
                            code=Reason.ALIAS_MOVED_BY_HAND,
                            reason=f"alias moved by hand (qspec set it to v{record}, git did not change)"))
    elif record is not None and current is None:
        healing = True
        out.append(PlanItem(Action.DRIFT, subject, old=Recorded(record), new=None, model=name, alias=alias,
                            code=Reason.ALIAS_DELETED_BY_HAND,
                            reason=f"alias deleted by hand (qspec set it to v{record}, git did not change)"))

    gates = dict(stage.gates)
    unseen_run = False
    if target.version is not None and gates:
        version = registered.version(target.version)
        metrics = actual.version_metrics(version) if version is not None else None
        # A version built outside qspec has its run outside the snapshot: apply reads that run and
        # checks the gate there, rather than the plan blocking it for metrics it never looked up.
        unseen_run = metrics is None
        failures = [] if unseen_run else check_bounds(gates, metrics)
        if failures:
            out.append(item(Action.BLOCKED, new=what, version=target.version, checks=gates,
                            code=Reason.GATE_FAILED,
                            reason=f"gate failed for v{target.version}: " + "; ".join(failures)))
            return out

    why = ("heal drift: " if healing else "") + f"git declares {stage.source}"
    if target.pending:
        why += ", once the version exists" + (f" and passes the gate ({describe_bounds(gates)})" if gates else "")
    elif gates and unseen_run:
        why += f"; gate checked on apply ({describe_bounds(gates)})"
    elif gates:
        why += f"; gate passed ({describe_bounds(gates)})"
    action = Action.SET_ALIAS if current is None else Action.MOVE_ALIAS
    out.append(item(action, new=what, version=target.version, checks=gates, pending=target.pending,
                    code=Reason.HEAL_DRIFT if healing else Reason.ALIAS_DECLARED, reason=why))
    return out


def _plan_serving(name: str, alias: str, wanted: str | None, record: str | None, *,
                  why: str = "the stage declares no serving block") -> list[PlanItem]:
    """The update-serving item that makes the ``qspec.serving.<alias>`` tag say ``wanted`` (None:
    no tag), or nothing when it does. Its own item: serving is not part of any spec hash."""
    if wanted == record:
        return []
    subject = f"{name}@{alias}"
    old = None if record is None else Serving(record)
    key = tag.serving_record(alias)
    if wanted is None:
        return [PlanItem(Action.UPDATE_SERVING, subject, old=old, model=name, alias=alias, code=Reason.SERVING_REMOVED,
                         reason=f"{why}: remove the serving record ({key})")]
    if record is None:
        code, reason = Reason.SERVING_DECLARED, f"git declares how @{alias} is served (no retraining)"
    else:
        code, reason = Reason.SERVING_CHANGED, f"git's serving block for @{alias} differs from {key} (no retraining)"
    return [PlanItem(Action.UPDATE_SERVING, subject, old=old, new=Serving(wanted), model=name, alias=alias,
                     tags={key: wanted}, code=code, reason=reason)]


def _undeclared_alias(name: str, alias: str, version: int, prune: bool, code: Reason, why: str) -> PlanItem:
    subject = f"{name}@{alias}"
    if prune:
        return PlanItem(Action.DELETE_ALIAS, subject, old=version, model=name, alias=alias, version=version,
                        code=code, reason=f"{why} (--prune)")
    # Nothing moved: the alias is simply there at v<version>, so drift shows where it is, not a change.
    return PlanItem(Action.DRIFT, subject, new=version, model=name, alias=alias, version=version,
                    code=code, reason=f"{why}; would be deleted with --prune")


def _version_tag_drift(registered: RegisteredModelInfo, actual: ActualState) -> list[PlanItem]:
    out: list[PlanItem] = []
    for version in sorted(registered.versions, key=lambda v: v.version):
        run = actual.runs_by_id.get(version.run_id or "")
        if run is None or run.tags.get(tag.MANAGED) != "true":
            continue
        if not any(tag.is_qspec_tag(k) for k in version.tags):
            continue  # registered by a person from a qspec run, never tagged by qspec: not ours to edit
        wanted = {k: run.tags[k] for k in tag.VERSION_TAGS_FROM_RUN if k in run.tags}
        changed = {k: v for k, v in wanted.items() if version.tags.get(k) != v}
        if not changed:
            continue
        subject = f"{registered.name}/v{version.version}"
        old = TagValues({k: version.tags.get(k) for k in changed})
        new = TagValues(changed)
        out.append(PlanItem(Action.DRIFT, subject, old=old, new=new, model=registered.name, version=version.version,
                            run_id=run.run_id, code=Reason.MANAGED_TAGS_EDITED, reason="managed tags edited by hand"))
        out.append(PlanItem(Action.UPDATE_TAGS, subject, old=old, new=new, model=registered.name,
                            version=version.version, run_id=run.run_id, tags=changed, code=Reason.RESTORE_TAGS,
                            reason=f"restore the tags of run {run.run_id}"))
    return out


def emptied_models(plan: Plan, actual: ActualState) -> list[str]:
    """The managed models that ``plan`` (made with ``prune``) would leave with no alias at all: it
    deletes every alias they have and sets none. An empty desired set (every spec file emptied, a
    Deployment deleted by mistake) makes that plan for every model, production included; as Argo CD
    refuses to sync an application to zero resources without ``allowEmpty``, ``qspec.api.plan``
    refuses it without ``--allow-empty``."""
    deleting: dict[str, set[str]] = {}
    pointing: set[str] = set()
    for item in plan.items:
        if item.model is None or item.alias is None:
            continue
        if item.action is Action.DELETE_ALIAS:
            deleting.setdefault(item.model, set()).add(item.alias)
        elif item.action in (Action.SET_ALIAS, Action.MOVE_ALIAS):
            pointing.add(item.model)
    out: list[str] = []
    for name, aliases in sorted(deleting.items()):
        model = actual.models.get(name)
        if model is not None and model.managed and name not in pointing and set(model.aliases) <= aliases:
            out.append(name)
    return out


def changed_models(now: DesiredState, base: DesiredState) -> set[str]:
    """The models whose desired state differs between two revisions (``plan --base``): a new or
    changed build hash, stage, requirement or gate."""
    out: set[str] = set()
    for name, model in now.models.items():
        before = base.models.get(name)
        if before is None or _fingerprint(before) != _fingerprint(model):
            out.add(name)
    # A model the change removes: its aliases are now undeclared, which the PR view must show.
    out.update(set(base.models) - set(now.models))
    return out


def changed_experiments(now: DesiredState, base: DesiredState) -> set[str]:
    """The Experiments whose spec (hash) is new or differs from ``base`` (``plan --base``)."""
    return {name for name, build in now.experiments.items()
            if name not in base.experiments or base.experiments[name].spec_hash != build.spec_hash}


def _fingerprint(model: DesiredModel) -> object:
    stages = tuple(sorted(
        (s.alias, s.source, s.spec_hash, s.version, s.error, s.serving,
         tuple(sorted((m, b.min, b.max) for m, b in s.gates.items())))
        for s in model.stages.values()
    ))
    requirements = tuple(sorted((m, b.min, b.max) for m, b in model.requirements.items()))
    return (model.experiment, model.head_hash, tuple(sorted(model.builds)), stages, requirements, model.description)
