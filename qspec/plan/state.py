"""The two sides of a diff, as plain frozen records: what git declares and what the registry holds.

``DesiredState`` is built from a ``SpecSet`` by ``qspec.plan.desired``; ``ActualState`` is the
snapshot a ``qspec.registry`` adapter takes of MLflow. ``qspec.plan.diff`` pairs them. Neither
side holds an MLflow, git or pydantic-loading object beyond the spec's own ``Bound``, so a test
can write both sides by hand and a diff is reproducible from its two inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from qspec import tags as tag
from qspec.plan.reasons import Reason
from qspec.spec.models import Bound


def short(spec_hash: str | None) -> str:
    """The first 12 hex digits of a hash, as plans and logs show it."""
    return (spec_hash or "?")[:12]


# --- desired ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """What training one spec will cost, from the spec alone, before anything runs.

    The one estimate type: ``qspec.quantum.estimate`` computes it once per plan, the plan shows it and
    checks budgets with it, and the trainer logs the same object as the run's ``quantum.cost.*``.
    """

    circuits: int  # circuit executions (parameter rows) over the whole training
    shots: int | None  # total shots; None: exact expectation values, no sampling
    cost_usd: float  # qpu_seconds * price per second
    qpu_seconds: float = 0.0  # estimated device time (0 for simulators)
    per_iteration_circuits: int = 0
    primitive_calls: int = 0  # primitive jobs over the whole training (one per evaluation)
    assumptions: tuple[str, ...] = ()  # what the arithmetic had to assume


def estimate_to_dict(estimate: Estimate) -> dict[str, Any]:
    """Every field of ``estimate``, as JSON data (a saved plan keeps what the run will log)."""
    return {"circuits": estimate.circuits, "shots": estimate.shots, "cost_usd": estimate.cost_usd,
            "qpu_seconds": estimate.qpu_seconds, "per_iteration_circuits": estimate.per_iteration_circuits,
            "primitive_calls": estimate.primitive_calls, "assumptions": list(estimate.assumptions)}


def estimate_from_dict(data: Mapping[str, Any]) -> Estimate:
    shots = data.get("shots")
    return Estimate(circuits=int(data["circuits"]), shots=None if shots is None else int(shots),
                    cost_usd=float(data["cost_usd"]), qpu_seconds=float(data.get("qpu_seconds", 0.0)),
                    per_iteration_circuits=int(data.get("per_iteration_circuits", 0)),
                    primitive_calls=int(data.get("primitive_calls", 0)),
                    assumptions=tuple(str(a) for a in data.get("assumptions", ())))


def describe_estimate(estimate: Estimate | None) -> str:
    """An estimate as plans show it: "1,200 circuits, 1,228,800 shots, $0.00"."""
    if estimate is None:
        return "cost unknown"
    shots = "exact (no shots)" if estimate.shots is None else f"{estimate.shots:,} shots"
    return f"{estimate.circuits:,} circuits, {shots}, ${estimate.cost_usd:,.2f}"


def count(number: float) -> str:
    """A count as people read it: 950, 12.5k, 6.8M, 50M, 1.2B."""
    units = (("", 1.0), ("k", 1e3), ("M", 1e6), ("B", 1e9), ("T", 1e12))
    index = max((i for i, (_, size) in enumerate(units) if abs(number) >= size), default=0)
    if index == 0:
        return f"{number:,.0f}" if number == int(number) else f"{number:,.1f}"
    scaled = round(number / units[index][1], 1)
    if abs(scaled) >= 1000 and index + 1 < len(units):  # 999,950 is 1M, not 1000k
        index += 1
        scaled = round(number / units[index][1], 1)
    return f"{scaled:,.1f}".removesuffix(".0") + units[index][0]


@dataclass(frozen=True)
class Budget:
    max_shots: int | None = None
    max_cost_usd: float | None = None

    @property
    def limited(self) -> bool:
        return self.max_shots is not None or self.max_cost_usd is not None

    def describe_use(self, estimate: Estimate | None) -> str | None:
        """What ``estimate`` uses of this budget, as plans show it: "shots 6.8M of 50M, $0.00 of $0.00";
        None when the Experiment sets no budget."""
        if not self.limited:
            return None
        parts = []
        if self.max_shots is not None:
            used = "?" if estimate is None else "0 (exact)" if estimate.shots is None else count(estimate.shots)
            parts.append(f"shots {used} of {count(self.max_shots)}")
        if self.max_cost_usd is not None:
            cost = "$?" if estimate is None else f"${estimate.cost_usd:,.2f}"
            parts.append(f"{cost} of ${self.max_cost_usd:,.2f}")
        return ", ".join(parts)

    def use(self, estimate: Estimate | None) -> dict[str, float | int | None] | None:
        """The same as data: the limits, the estimate's use and what is left (None: unknown or unlimited)."""
        if not self.limited:
            return None
        shots = None if estimate is None else (estimate.shots or 0)
        cost = None if estimate is None else estimate.cost_usd
        return {
            "max_shots": self.max_shots, "shots": shots,
            "shots_left": None if self.max_shots is None or shots is None else self.max_shots - shots,
            "max_cost_usd": self.max_cost_usd, "cost_usd": cost,
            "cost_usd_left": None if self.max_cost_usd is None or cost is None else self.max_cost_usd - cost,
        }

    def exceeded_by(self, estimate: Estimate | None) -> str | None:
        """Why ``estimate`` does not fit this budget, or None when it fits (or is unknown)."""
        if estimate is None:
            return None
        if self.max_shots is not None and estimate.shots is not None and estimate.shots > self.max_shots:
            return f"budget exceeded: an estimated {estimate.shots:,} shots > max_shots {self.max_shots:,}"
        if self.max_cost_usd is not None and estimate.cost_usd > self.max_cost_usd:
            return (
                f"budget exceeded: an estimated cost of ${estimate.cost_usd:,.2f} "
                f"> max_cost_usd ${self.max_cost_usd:,.2f}"
            )
        return None


@dataclass(frozen=True)
class Blocker:
    """Why a training cannot run here, found before anything is written (no credentials for the
    target, more memory than it may use): the build is blocked with this code and message."""

    code: Reason
    message: str


@dataclass(frozen=True)
class Build:
    """One experiment spec (identified by its hash) of which a model needs a version."""

    spec_hash: str
    experiment: str  # the Experiment's metadata.name at that revision
    rev: str | None = None  # None: the revision being planned; else the git ref it was read at
    spec_path: str | None = None
    git_commit: str | None = None
    estimate: Estimate | None = None
    budget: Budget = Budget()
    blocker: Blocker | None = None  # a pre-flight check that failed (``desired_state``'s ``preflight``)

    @property
    def label(self) -> str:
        return f"{self.experiment}#{short(self.spec_hash)}"


@dataclass(frozen=True)
class Stage:
    """A deployment stage: the alias and which version git wants it on."""

    alias: str
    source: str  # how git declares it: "track HEAD", "ref v1.0", "version 3"
    spec_hash: str | None = None  # track and ref stages
    version: int | None = None  # version stages
    gates: Mapping[str, Bound] = field(default_factory=dict)
    error: str | None = None  # why the stage cannot be resolved (a ref that does not resolve)
    error_code: Reason = Reason.REF_UNRESOLVED  # which kind of error ``error`` is, when there is one
    serving: str | None = None  # how it is served: ``ServingSpec.canonical()``; None: not declared
    serving_error: str | None = None  # why the version the stage serves cannot be served so (a ref stage)


@dataclass(frozen=True)
class DesiredModel:
    name: str
    experiment: str
    head_hash: str
    builds: Mapping[str, Build]  # spec hash -> build; the HEAD build and every ref stage's build
    requirements: Mapping[str, Bound] = field(default_factory=dict)
    stages: Mapping[str, Stage] = field(default_factory=dict)
    spec_path: str | None = None  # where the Model is declared
    deployment_path: str | None = None
    description: str | None = None  # the Model's metadata.description; None: git leaves it to the registry


@dataclass(frozen=True)
class DesiredState:
    models: Mapping[str, DesiredModel]
    revision: str | None = None
    #: Every declared Experiment's build at the revision planned (name -> build): each is reconciled
    #: to a finished run of its hash, whether or not a Model registers it.
    experiments: Mapping[str, Build] = field(default_factory=dict)


# --- actual -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunInfo:
    """A tracking run that qspec made (tagged with a spec hash)."""

    run_id: str
    spec_hash: str | None
    status: str  # FINISHED | FAILED | RUNNING | KILLED | SCHEDULED
    metrics: Mapping[str, float] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    start_time: int | None = None  # ms since the epoch
    experiment_id: str | None = None
    model_uri: str | None = None  # what a version registers as its source, when the run says

    @property
    def finished(self) -> bool:
        return self.status == tag.RUN_FINISHED


@dataclass(frozen=True)
class VersionInfo:
    version: int
    run_id: str | None
    tags: Mapping[str, str] = field(default_factory=dict)
    status: str = "READY"  # READY | PENDING_REGISTRATION | FAILED_REGISTRATION
    source: str | None = None

    @property
    def usable(self) -> bool:
        return self.status != "FAILED_REGISTRATION"


@dataclass(frozen=True)
class RegisteredModelInfo:
    name: str
    tags: Mapping[str, str] = field(default_factory=dict)
    versions: tuple[VersionInfo, ...] = ()
    aliases: Mapping[str, int] = field(default_factory=dict)
    description: str | None = None

    @property
    def managed(self) -> bool:
        return self.tags.get(tag.MANAGED) == "true"

    def version(self, number: int) -> VersionInfo | None:
        for version in self.versions:
            if version.version == number:
                return version
        return None

    def serving_records(self) -> dict[str, str]:
        """stage -> how it is served (canonical JSON), from the ``qspec.serving.*`` tags."""
        return {k.removeprefix(tag.SERVING_PREFIX): v for k, v in self.tags.items()
                if k.startswith(tag.SERVING_PREFIX)}

    def alias_records(self) -> dict[str, str]:
        """alias -> the version qspec last set it to, from the ``qspec.alias.*`` tags."""
        return {k.removeprefix(tag.ALIAS_PREFIX): v for k, v in self.tags.items() if k.startswith(tag.ALIAS_PREFIX)}


@dataclass(frozen=True)
class ActualState:
    """One snapshot of the registry and of the runs qspec made."""

    models: Mapping[str, RegisteredModelInfo] = field(default_factory=dict)
    runs: tuple[RunInfo, ...] = ()

    @cached_property
    def runs_by_id(self) -> dict[str, RunInfo]:
        return {run.run_id: run for run in self.runs}

    @cached_property
    def runs_by_hash(self) -> dict[str, list[RunInfo]]:
        out: dict[str, list[RunInfo]] = {}
        for run in sorted(self.runs, key=lambda r: (r.start_time or 0, r.run_id)):
            if run.spec_hash is not None:
                out.setdefault(run.spec_hash, []).append(run)
        return out

    def version_metrics(self, version: VersionInfo) -> Mapping[str, float] | None:
        run = self.runs_by_id.get(version.run_id or "")
        return run.metrics if run is not None else None


#: Finds a run by id: the snapshot's runs when planning, the registry (read once per run) in apply.
RunLookup = Callable[[str], RunInfo | None]


def version_hash(version: VersionInfo, run_of: RunLookup) -> str | None:
    """The spec hash a version was built from: its run's tag when qspec made that run (a run's tags
    are immutable in practice), else the version's own tag, which a person may have edited."""
    run = run_of(version.run_id) if version.run_id else None
    # Only qspec's runs: the snapshot holds no other, so a lookup that finds more (apply's) must
    # not let them decide, or plan and apply would disagree again.
    if run is not None and run.tags.get(tag.MANAGED) == tag.TRUE and run.spec_hash is not None:
        return run.spec_hash
    return version.tags.get(tag.SPEC_HASH)


def versions_with_hash(model: RegisteredModelInfo, spec_hash: str, run_of: RunLookup) -> list[VersionInfo]:
    """Usable versions of ``model`` built from ``spec_hash``, lowest first.

    The one rule for which versions hold a spec: ``diff`` passes the snapshot's runs, apply its
    cached ``registry.get_run``, so a hand-edited ``qspec.spec_hash`` tag cannot make them disagree.
    """
    found = [v for v in model.versions if v.usable and version_hash(v, run_of) == spec_hash]
    return sorted(found, key=lambda v: v.version)


def check_bounds(bounds: Mapping[str, Bound], metrics: Mapping[str, float] | None) -> list[str]:
    """Each bound that ``metrics`` fails, described; a missing metric fails its bound."""
    failures: list[str] = []
    for metric, bound in sorted(bounds.items()):
        value = None if metrics is None else metrics.get(metric)
        if value is None:
            failures.append(f"{metric} was not recorded (needs {bound.describe()})")
        elif not bound.admits(value):
            failures.append(f"{metric} = {value:.4g} (needs {bound.describe()})")
    return failures


def describe_bounds(bounds: Mapping[str, Bound]) -> str:
    return ", ".join(f"{metric} {bound.describe()}" for metric, bound in sorted(bounds.items()))
