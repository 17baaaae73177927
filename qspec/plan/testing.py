"""Short builders of desired and actual state, for tests of anything that plans or applies.

Shipped with the package (as ``MemoryRegistry`` is) so that tests here and in code built on qspec
can write a registry situation in one line: ``actual(registered(versions=[version(1, "r1")],
aliases={"staging": 1}), runs=[run("r1")])``. Pure data; used by tests/plan, tests/apply.
"""

from __future__ import annotations

from collections.abc import Mapping

from qspec import tags as tag
from qspec.plan.state import (
    ActualState,
    Blocker,
    Budget,
    Build,
    DesiredModel,
    DesiredState,
    Estimate,
    RegisteredModelInfo,
    RunInfo,
    Stage,
    VersionInfo,
)
from qspec.spec.models import Bound

H1 = "1" * 64
H2 = "2" * 64
H3 = "3" * 64

EST = Estimate(circuits=1200, shots=1_228_800, cost_usd=0.0)


def bound(min: float | None = None, max: float | None = None) -> Bound:
    return Bound(min=min, max=max)


def build(spec_hash: str = H1, experiment: str = "exp", *, rev: str | None = None, estimate: Estimate | None = EST,
          budget: Budget | None = None, blocker: Blocker | None = None) -> Build:
    return Build(spec_hash, experiment, rev=rev, spec_path="specs/exp.yaml", git_commit="c0ffee",
                 estimate=estimate, budget=budget or Budget(), blocker=blocker)


def head(alias: str = "staging", spec_hash: str = H1, gates: Mapping[str, Bound] | None = None, *,
         serving: str | None = None) -> Stage:
    return Stage(alias, "track HEAD", spec_hash=spec_hash, gates=dict(gates or {}), serving=serving)


def model(name: str = "m", *, head_hash: str = H1, experiment: str = "exp", stages: list[Stage] | None = None,
          requirements: Mapping[str, Bound] | None = None, builds: list[Build] | None = None,
          description: str | None = None) -> DesiredModel:
    all_builds = {b.spec_hash: b for b in (builds or [build(head_hash, experiment)])}
    if stages is None:
        stages = [head(spec_hash=head_hash)]
    return DesiredModel(name, experiment, head_hash, all_builds, dict(requirements or {}),
                        {s.alias: s for s in stages}, spec_path="specs/m.yaml", description=description)


def desired(*models: DesiredModel, experiments: list[Build] | None = None) -> DesiredState:
    """Models, and the Experiments git declares: each model's HEAD build, plus ``experiments`` (ones
    no Model registers), as ``desired_state`` makes them."""
    declared = {m.experiment: m.builds[m.head_hash] for m in models}
    declared.update({b.experiment: b for b in experiments or ()})
    return DesiredState({m.name: m for m in models}, experiments=declared)


def run_tags(spec_hash: str, experiment: str = "exp") -> dict[str, str]:
    return {tag.MANAGED: "true", tag.SPEC_HASH: spec_hash, tag.SPEC_NAME: experiment,
            tag.SPEC_PATH: "specs/exp.yaml", tag.GIT_COMMIT: "c0ffee"}


def run(run_id: str, spec_hash: str = H1, *, status: str = "FINISHED", metrics: Mapping[str, float] | None = None,
        start: int = 1) -> RunInfo:
    return RunInfo(run_id, spec_hash, status, dict(metrics if metrics is not None else {"test_accuracy": 0.95}),
                   run_tags(spec_hash), start_time=start)


def version(number: int, run_id: str, spec_hash: str = H1, **tags: str) -> VersionInfo:
    return VersionInfo(number, run_id, {**run_tags(spec_hash), **tags})


def registered(name: str = "m", versions: list[VersionInfo] | None = None, aliases: Mapping[str, int] | None = None,
               *, managed: bool = True, records: Mapping[str, int] | None = None,
               description: str | None = None, servings: Mapping[str, str] | None = None) -> RegisteredModelInfo:
    """A registered model; ``records`` defaults to the aliases (as if qspec had set each of them);
    ``servings``: stage -> its ``qspec.serving.<stage>`` record."""
    model_tags = {tag.MANAGED: tag.TRUE} if managed else {}
    recorded = aliases if records is None else records
    if managed:
        model_tags.update({tag.alias_record(a): str(v) for a, v in (recorded or {}).items()})
    model_tags.update({tag.serving_record(a): v for a, v in (servings or {}).items()})
    return RegisteredModelInfo(name, model_tags, tuple(versions or ()), dict(aliases or {}), description)


def actual(*models: RegisteredModelInfo, runs: list[RunInfo] | None = None) -> ActualState:
    return ActualState({m.name: m for m in models}, tuple(runs or ()))
