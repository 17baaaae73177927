"""The desired state: a ``SpecSet`` (one revision of the specs) turned into ``DesiredState``.

Called by ``qspec.api`` before ``diff``. Two things are injected so this module stays pure
(no git, no qiskit): ``resolve_ref(ref, model_name, experiment_name)`` reads the Model's experiment
at a git ref (``qspec.gitrepo.RefResolver`` is the real one), and ``estimate(experiment, rev)``
prices a training, its csv rows counted at ``rev`` (``qspec.quantum``'s ``estimate_resources`` is
the real one). A resolver may return None or raise a ``QspecError``; either way the stage is
blocked with the reason, not the whole plan.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from qspec.errors import QspecError
from qspec.plan.reasons import Reason
from qspec.plan.state import Blocker, Budget, Build, DesiredModel, DesiredState, Estimate, Stage
from qspec.spec.checks import check_serving
from qspec.spec.load import Loaded, SpecSet
from qspec.spec.models import Deployment, Experiment


@dataclass(frozen=True)
class ResolvedSpec:
    """An experiment as it is at a git ref, as much as the planner needs of it."""

    spec_hash: str
    experiment: Experiment
    spec_path: str | None = None
    git_commit: str | None = None


T = TypeVar("T")

#: (ref, model name, experiment name at HEAD) -> the Model's experiment at that ref, or None.
RefResolver = Callable[[str, str, str], "ResolvedSpec | None"]
#: (experiment, the git ref it is read at or None for the specs being planned) -> what training it
#: costs (None: unknown). The engine's ``estimate_resources`` is the real one.
Estimator = Callable[[Experiment, str | None], Estimate | None]
#: (experiment, ref or None) -> why it cannot be trained here (missing credentials, memory), or None.
Preflight = Callable[[Experiment, str | None], Blocker | None]


def desired_state(specs: SpecSet, *, resolve_ref: RefResolver | None = None, estimate: Estimator | None = None,
                  preflight: Preflight | None = None,
                  git_commit: str | None = None) -> DesiredState:
    """What git declares: every Experiment's build, and per Model its builds (HEAD and ref stages)
    and where each alias should be.

    ``git_commit`` is the commit the specs were read at (``specs.revision`` when read from git).
    """
    commit = git_commit or specs.revision
    priced = _once_per_hash(estimate)
    checked = _once_per_hash(preflight)

    deployments: dict[str, list[Loaded[Deployment]]] = {}
    for loaded_deployment in sorted(specs.deployments.values(), key=lambda d: d.name):
        deployments.setdefault(loaded_deployment.resource.spec.model, []).append(loaded_deployment)
    # Every Experiment is a resource of its own: its build at the revision planned, priced and
    # checked once, shared with the Models that consume it (one training per hash).
    experiments = {
        name: _build(loaded.hash, loaded.resource, None, loaded.file, commit,
                     priced(loaded.hash, loaded.resource, None), checked(loaded.hash, loaded.resource, None))
        for name, loaded in sorted(specs.experiments.items())
    }
    models: dict[str, DesiredModel] = {}
    for name, loaded_model in sorted(specs.models.items()):
        model = loaded_model.resource
        head = experiments[model.spec.experiment]
        builds = {head.spec_hash: head}
        stages: dict[str, Stage] = {}
        declared_by: dict[str, str] = {}
        for deployment in deployments.get(name, []):
            spec = deployment.resource.spec
            for alias, stage in spec.stages.items():
                gates = dict(spec.gates.get(alias, {}))
                source = stage.describe()
                serving = None if stage.serving is None else stage.serving.canonical()
                if alias in declared_by:
                    # Two Deployments cannot both own one alias; which one wins would depend on file order.
                    stages[alias] = Stage(
                        alias, source, gates=gates, error_code=Reason.STAGE_DECLARED_TWICE,
                        error=f"stage {alias!r} of Model {name!r} is declared by Deployments "
                              f"{declared_by[alias]!r} and {deployment.name!r}; keep it in one")
                    continue
                declared_by[alias] = deployment.name
                if stage.version is not None:
                    stages[alias] = Stage(alias, source, version=stage.version, gates=gates, serving=serving)
                elif stage.track is not None:
                    stages[alias] = Stage(alias, source, spec_hash=head.spec_hash, gates=gates, serving=serving)
                else:
                    assert stage.ref is not None
                    resolved, error = _resolve(resolve_ref, stage.ref, name, model.spec.experiment)
                    if resolved is None:
                        stages[alias] = Stage(alias, source, gates=gates, error=error, error_code=Reason.REF_UNRESOLVED)
                        continue
                    build = builds.get(resolved.spec_hash) or _build(
                        resolved.spec_hash, resolved.experiment, stage.ref, resolved.spec_path,
                        resolved.git_commit, priced(resolved.spec_hash, resolved.experiment, stage.ref),
                        checked(resolved.spec_hash, resolved.experiment, stage.ref))
                    builds[build.spec_hash] = build
                    # The version a ref stage serves is the Experiment at that ref, which the spec checks
                    # (reading no git) cannot see: its serving block is checked against it here.
                    unservable = None if stage.serving is None else next(
                        (f"ref {stage.ref}: serving.{'.'.join(str(p) for p in path)}: {message} ({hint})"
                         for path, message, hint in check_serving(resolved.experiment, stage.serving)), None)
                    stages[alias] = Stage(alias, source, spec_hash=build.spec_hash, gates=gates, serving=serving,
                                          serving_error=unservable)
        models[name] = DesiredModel(
            name=name, experiment=model.spec.experiment, head_hash=head.spec_hash, builds=builds,
            requirements=dict(model.spec.requirements), stages=stages, spec_path=loaded_model.file,
            deployment_path=deployments[name][0].file if name in deployments else None,
            description=model.metadata.description,
        )
    return DesiredState(models=models, revision=commit, experiments=experiments)


def _once_per_hash(
    ask: Callable[[Experiment, str | None], T | None] | None,
) -> Callable[[str, Experiment, str | None], T | None]:
    """``ask(experiment, rev)`` asked once per spec hash (None without ``ask``): the hash fingerprints
    the spec and its data, so every revision that holds it gets the same answer."""
    answers: dict[str, T | None] = {}

    def once(spec_hash: str, experiment: Experiment, rev: str | None) -> T | None:
        if ask is None:
            return None
        if spec_hash not in answers:
            answers[spec_hash] = ask(experiment, rev)
        return answers[spec_hash]

    return once


def _build(spec_hash: str, experiment: Experiment, rev: str | None, path: str | None, commit: str | None,
           estimate: Estimate | None, blocker: Blocker | None) -> Build:
    budget = experiment.spec.budget
    return Build(spec_hash=spec_hash, experiment=experiment.name, rev=rev, spec_path=path, git_commit=commit,
                 estimate=estimate, budget=Budget(budget.max_shots, budget.max_cost_usd), blocker=blocker)


def _resolve(resolver: RefResolver | None, ref: str, model: str, experiment: str) -> tuple[ResolvedSpec | None, str]:
    if resolver is None:
        return None, f"ref {ref}: no git resolver was given to read specs at a ref"
    try:
        resolved = resolver(ref, model, experiment)
    except QspecError as exc:
        return None, f"ref {ref}: {exc.message}"
    if resolved is None:
        return None, f"ref {ref} does not resolve to a revision that declares Experiment {experiment!r}"
    return resolved, ""
