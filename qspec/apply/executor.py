"""``apply(plan, registry, trainer)``: execute a plan's items in order, re-checking each first.

Called by ``qspec.api`` for ``qspec apply``. The plan was computed from a snapshot that may be
stale by the time an item runs (another apply, a person, a crash half-way through the last apply),
so every item reads the registry again and does only what is still missing:

- idempotent: an alias already where it should be, a version that exists for its hash, a run that
  finished meanwhile: skipped, not redone;
- one training per spec hash at a time, across machines: TRAIN first takes the hash's claim in the
  registry (``qspec.apply.claims``). While another apply holds a live claim, this one waits (with a
  progress note, up to ``wait_timeout``) and then uses that apply's finished run ("trained by
  another apply"), or trains itself if that training failed, or gives up and says who holds it;
- crash-safe: a run is dead only when no live claim covers it (its holder's lease expired, or the
  holder was a process of this machine that is gone); the holder of the claim marks such a run
  FAILED before retraining, and never a live one. A dead run whose spec is not retrained (a
  FINISHED run of it exists: a lost ``runs/create`` answer, retried; or the spec is gone) is a
  CLOSE_RUN item, closed under the claim the same way; ``mark_run_failed`` also fails the run's
  logged models a kill left PENDING. Versions are found by hash before registering,
  so none is registered twice; an alias is set before its ``qspec.alias.*`` record, so a crash
  between the two leaves no false drift;
- race-safe: after registering, if another apply registered the same hash first, the version just
  made (which nothing points at yet) is deleted and the older one used: one version per hash; a
  registered model created by a concurrent apply meanwhile is used, not an error;
- a failed or blocked item stops only the items that depend on it (its registration, its alias).

Requirements are checked on the run's metrics before REGISTER and gates on the version's metrics
before an alias moves, whether or not the plan could check them (it cannot for runs it trains).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import assert_never

from qspec import tags as tag
from qspec.apply.claims import DEFAULT_WAIT_SECONDS, Claims, Lease
from qspec.apply.faults import checkpoint
from qspec.apply.ports import ClaimInfo, Registry, Trainer, TrainRequest
from qspec.apply.result import ApplyResult, Outcome, Status
from qspec.errors import QspecError
from qspec.plan.actions import Action, Plan, PlanItem, Serving, Text
from qspec.plan.state import (
    RegisteredModelInfo,
    RunInfo,
    VersionInfo,
    check_bounds,
    short,
    versions_with_hash,
)
from qspec.secrets import mask

Report = Callable[[Outcome], None]
Note = Callable[[str], None]

#: How often a waiting apply says it is still waiting, in seconds.
NOTE_EVERY_SECONDS = 30.0


def apply(plan: Plan, registry: Registry, trainer: Trainer | None = None, *,
          report: Report | None = None, note: Note | None = None, claims: Claims | None = None,
          wait_timeout: float = DEFAULT_WAIT_SECONDS) -> ApplyResult:
    """Execute ``plan`` against ``registry``; ``report`` is called with each outcome as it happens
    (the CLI prints progress from it), ``note`` with progress lines (waiting for another apply).

    ``claims`` takes the per-hash training claims (default: a ``Claims`` of this apply with the default
    lease); ``wait_timeout``: how long a TRAIN waits for another apply's training of the same spec
    (0: not at all) before it skips, saying who holds it."""
    run = _Apply(registry, trainer, claims or Claims(registry), wait_timeout, note)
    outcomes: list[Outcome] = []
    for item in plan.items:
        try:
            outcome = run.item(item)
        except QspecError as exc:  # a library's error may quote a credential: details are masked
            outcome = Outcome(item, Status.FAILED, mask(str(exc)), error=exc)
        except Exception as exc:  # one broken item must not stop independent ones; the CLI shows it
            outcome = Outcome(item, Status.FAILED, mask(f"{type(exc).__name__}: {exc}"), error=exc)
        if outcome.status in (Status.FAILED, Status.BLOCKED):
            run.fail(item, f"{item.subject} {outcome.status.value}")
        outcomes.append(outcome)
        if report is not None:
            report(outcome)
    return ApplyResult(tuple(outcomes), tuple(run.cleanups))


def _holding(claim: ClaimInfo) -> str:
    """Who holds a claim, as a progress line shows it."""
    run = f", run {claim.run_id}" if claim.run_id else ""
    until = time.strftime("%H:%M:%S UTC", time.gmtime(claim.expires))
    return f"{claim.holder}{run}, lease until {until}"


def _not_attempted(item: PlanItem, why: str) -> Outcome:
    """``item`` skipped because ``why``: an item it depends on failed or was blocked."""
    return Outcome(item, Status.SKIPPED, f"not attempted: {why}", not_attempted=True)


@dataclass
class _Apply:
    registry: Registry
    trainer: Trainer | None
    claims: Claims
    wait_timeout: float = DEFAULT_WAIT_SECONDS
    note: Note | None = None
    cleanups: list[str] = field(default_factory=list)
    trained: dict[str, RunInfo] = field(default_factory=dict)  # spec hash -> the run trained now
    versions: dict[tuple[str, str], int] = field(default_factory=dict)  # (model, hash) -> version
    failed_hashes: dict[str, str] = field(default_factory=dict)  # training failed, blocked or left to another
    failed_versions: dict[tuple[str, str], str] = field(default_factory=dict)
    failed_models: dict[str, str] = field(default_factory=dict)
    runs: dict[str, RunInfo | None] = field(default_factory=dict)  # run id -> the run, read once per apply

    def fail(self, item: PlanItem, why: str) -> None:
        """Record that dependents of ``item`` cannot proceed."""
        if item.action is Action.CREATE_MODEL and item.model:
            self.failed_models[item.model] = why
        elif item.action is Action.TRAIN and item.spec_hash:
            self.failed_hashes[item.spec_hash] = why
        elif item.action in (Action.REGISTER, Action.BLOCKED) and item.model and item.spec_hash and not item.alias:
            # A blocked build (budget, requirement) leaves its stages nothing to point at.
            self.failed_versions[(item.model, item.spec_hash)] = why

    def item(self, item: PlanItem) -> Outcome:
        # A match with assert_never, not a table of handlers: mypy fails on an Action left unhandled.
        action = item.action
        match action:
            case Action.BLOCKED:
                return Outcome(item, Status.BLOCKED, item.reason)
            case Action.DRIFT:
                return Outcome(item, Status.REPORTED, item.reason)
            case _ if item.model in self.failed_models:
                return _not_attempted(item, self.failed_models[item.model])
            case Action.CREATE_MODEL:
                return self.create_model(item)
            case Action.TRAIN:
                return self.train(item)
            case Action.REGISTER:
                return self.register(item)
            case Action.UPDATE_TAGS:
                return self.update_tags(item)
            case Action.UPDATE_DESCRIPTION:
                return self.update_description(item)
            case Action.SET_ALIAS | Action.MOVE_ALIAS:
                return self.point_alias(item)
            case Action.DELETE_ALIAS:
                return self.delete_alias(item)
            case Action.DELETE_VERSION:
                return self.delete_version(item)
            case Action.CLOSE_RUN:
                return self.close_run(item)
            case Action.UPDATE_SERVING:
                return self.update_serving(item)
            case _:
                assert_never(action)

    # --- helpers --------------------------------------------------------------------------------

    def _managed_model(self, item: PlanItem) -> RegisteredModelInfo | Outcome:
        assert item.model is not None
        model = self.registry.get_model(item.model)
        if model is None:
            return Outcome(item, Status.FAILED, f"registered model {item.model!r} does not exist")
        if not model.managed:
            return Outcome(item, Status.BLOCKED, f"registered model {item.model!r} is not managed by qspec "
                                                 f"(no tag {tag.MANAGED}=true); left untouched")
        return model

    def _run(self, run_id: str) -> RunInfo | None:
        """A run as the registry has it, read at most once per apply (every version asks for its run)."""
        if run_id not in self.runs:
            self.runs[run_id] = self.registry.get_run(run_id)
        return self.runs[run_id]

    def _versions_with_hash(self, model: RegisteredModelInfo, spec_hash: str) -> list[VersionInfo]:
        # The plan's rule (qspec.plan.state), so plan and apply agree on which version holds a spec.
        return versions_with_hash(model, spec_hash, self._run)

    # --- handlers -------------------------------------------------------------------------------

    def create_model(self, item: PlanItem) -> Outcome:
        assert item.model is not None
        existing = self.registry.get_model(item.model)
        if existing is not None:
            if existing.managed:
                return Outcome(item, Status.SKIPPED, "already exists")
            return Outcome(item, Status.BLOCKED, f"a registered model {item.model!r} not managed by qspec "
                                                 "appeared since the plan; left untouched")
        try:
            self.registry.create_model(item.model, item.tags)
        except QspecError:
            raced = self.registry.get_model(item.model)
            if raced is None or not raced.managed:
                raise
            return Outcome(item, Status.SKIPPED, "created by a concurrent apply")
        return Outcome(item, Status.DONE, "created")

    def _finished_run(self, spec_hash: str) -> RunInfo | None:
        finished = [r for r in self.registry.runs_for(spec_hash) if r.finished]
        return finished[0] if finished else None

    def train(self, item: PlanItem) -> Outcome:
        assert item.spec_hash is not None and item.experiment is not None
        finished = self._finished_run(item.spec_hash)
        if finished is not None:
            return Outcome(item, Status.SKIPPED, f"run {finished.run_id} of this spec finished meanwhile",
                           run_id=finished.run_id)
        if self.trainer is None:
            return Outcome(item, Status.FAILED, "no trainer was given to apply")
        lease = self._claim(item)
        if isinstance(lease, Outcome):
            return lease
        succeeded = False
        try:
            outcome, succeeded = self._train_holding(item, lease)
            return outcome
        finally:
            self._release(item, lease, finished=succeeded)

    def close_run(self, item: PlanItem) -> Outcome:
        """End a managed run left RUNNING by an apply that is gone. Only the holder of its spec's claim
        may: while another apply's claim is live (it may be training that very run) the run is left
        alone; holding the claim, no other apply trains the spec, so a run still RUNNING is dead."""
        assert item.run_id is not None and item.spec_hash is not None
        run = self.registry.get_run(item.run_id)
        if run is None or run.status != tag.RUN_RUNNING:
            return Outcome(item, Status.SKIPPED, f"run {item.run_id} already ended"
                           + (f" ({run.status})" if run is not None else ""), run_id=item.run_id)
        got = self.claims.acquire(item.spec_hash)
        if not isinstance(got, Lease):
            return Outcome(item, Status.SKIPPED, f"left alone: another apply's claim on its spec is live "
                                                 f"({_holding(got)})", run_id=item.run_id)
        closed = False
        try:
            run = self.registry.get_run(item.run_id)  # again, under the claim
            if run is not None and run.status == tag.RUN_RUNNING:
                self.registry.mark_run_failed(item.run_id)
                closed = True
        finally:
            self._release(item, got, finished=self._finished_run(item.spec_hash) is not None)
        if not closed:
            return Outcome(item, Status.SKIPPED, f"run {item.run_id} ended meanwhile", run_id=item.run_id)
        self.cleanups.append(f"run {item.run_id} of {item.subject.split(' ')[0]} was left RUNNING by an apply "
                             "that is gone (no live claim): marked FAILED")
        return Outcome(item, Status.DONE, "marked FAILED: no apply holds its spec's claim", run_id=item.run_id)

    def _train_holding(self, item: PlanItem, lease: Lease) -> tuple[Outcome, bool]:
        """Train ``item`` while holding its claim; the outcome, and whether a FINISHED run of it now exists."""
        assert self.trainer is not None and item.spec_hash is not None and item.experiment is not None
        # Read again under the claim: a holder before us may have finished between our read and our claim.
        runs = self.registry.runs_for(item.spec_hash)
        finished = [r for r in runs if r.finished]
        if finished:
            return Outcome(item, Status.SKIPPED, f"trained by another apply (run {finished[0].run_id})",
                           run_id=finished[0].run_id), True
        for dead in (r for r in runs if r.status == tag.RUN_RUNNING):
            # We hold the only live claim, so no apply is training this run any more: its holder died
            # (or stalled past its lease). End it so that it is never waited on.
            self.registry.mark_run_failed(dead.run_id)
            self.cleanups.append(f"run {dead.run_id} of {item.subject} was left RUNNING by a dead apply (its "
                                 "claim expired): marked FAILED")
        request = TrainRequest(item.experiment, item.spec_hash, item.rev, item.spec_path, item.git_commit,
                               item.estimate, on_run=lease.attach_run)
        with lease.heartbeat():
            run = self.trainer(request)
        if run.spec_hash != item.spec_hash:
            return Outcome(item, Status.FAILED,
                           f"the trainer ran spec {short(run.spec_hash)}, the plan expected {short(item.spec_hash)}: "
                           "the specs changed since the plan; plan again", run_id=run.run_id), False
        if not run.finished:
            return Outcome(item, Status.FAILED, f"run {run.run_id} ended {run.status}", run_id=run.run_id), False
        self.trained[item.spec_hash] = run
        return Outcome(item, Status.DONE, f"run {run.run_id} finished", run_id=run.run_id), True

    def _release(self, item: PlanItem, lease: Lease, *, finished: bool) -> None:
        if lease.lost:
            self.cleanups.append(f"{item.subject}: the claim on its training was taken over while it trained "
                                 "(its lease expired); registration keeps one version per spec")
        try:
            lease.release(finished=finished)
        except Exception as exc:  # the outcome stands; an unreleased claim expires with its lease
            self._say(f"{item.subject}: could not release the claim on its training ({exc}); it expires in "
                      f"{self.claims.lease:g} s")

    def _say(self, text: str) -> None:
        if self.note is not None:
            self.note(text)

    def _claim(self, item: PlanItem) -> Lease | Outcome:
        """Hold the claim on ``item``'s spec hash, waiting for the apply that holds it (up to the wait
        timeout); or the outcome that ends the item: trained by that apply, or left to it."""
        assert item.spec_hash is not None
        clock = self.claims.clock
        start = clock()
        deadline = start + self.wait_timeout
        said_at: float | None = None
        said_run: str | None = None
        while True:
            got = self.claims.acquire(item.spec_hash)
            if isinstance(got, Lease):
                return got
            finished = self._finished_run(item.spec_hash)
            if finished is not None:  # the holder finished (it releases right after)
                return Outcome(item, Status.SKIPPED, f"trained by another apply (run {finished.run_id})",
                               run_id=finished.run_id)
            now = clock()
            if now >= deadline:
                why = "another apply holds its training"
                self.failed_hashes[item.spec_hash] = why
                waited = ("not waited for (--wait-timeout 0)" if self.wait_timeout <= 0
                          else f"still held after waiting {now - start:.0f} s (--wait-timeout {self.wait_timeout:g})")
                return Outcome(item, Status.SKIPPED, f"not attempted: {why} ({_holding(got)}); {waited}; "
                                                     "apply again once it is done", not_attempted=True)
            if said_at is None:
                self._say(f"waiting for {item.subject}: another apply is training it ({_holding(got)}); "
                          f"waiting up to {self.wait_timeout:g} s (--wait-timeout)")
                said_at, said_run = now, got.run_id
            elif now - said_at >= NOTE_EVERY_SECONDS or got.run_id != said_run:
                self._say(f"still waiting for {item.subject} after {now - start:.0f} s ({_holding(got)})")
                said_at, said_run = now, got.run_id
            self.claims.sleep(max(0.0, min(self.claims.poll_seconds, deadline - now)))

    def _run_to_register(self, item: PlanItem) -> RunInfo | Outcome:
        assert item.spec_hash is not None
        if item.run_id is not None:
            run = self.registry.get_run(item.run_id)
            if run is None:
                return Outcome(item, Status.FAILED, f"run {item.run_id} no longer exists; plan again")
            return run
        if item.spec_hash in self.failed_hashes:
            return _not_attempted(item, self.failed_hashes[item.spec_hash])
        if item.spec_hash in self.trained:
            return self.trained[item.spec_hash]
        finished = [r for r in self.registry.runs_for(item.spec_hash) if r.finished]
        passing = [r for r in finished if not check_bounds(item.checks, r.metrics)]
        if passing or finished:
            return (passing or finished)[0]
        return Outcome(item, Status.FAILED, f"no finished run of spec {short(item.spec_hash)} to register")

    def register(self, item: PlanItem) -> Outcome:
        assert item.model is not None and item.spec_hash is not None
        key = (item.model, item.spec_hash)
        run = self._run_to_register(item)
        if isinstance(run, Outcome):
            return run
        failures = check_bounds(item.checks, run.metrics)
        if failures:
            return Outcome(item, Status.BLOCKED, f"requirement not met by run {run.run_id}: " + "; ".join(failures),
                           run_id=run.run_id)
        model = self._managed_model(item)
        if isinstance(model, Outcome):
            return model
        existing = self._versions_with_hash(model, item.spec_hash)
        if existing:
            self.versions[key] = existing[0].version
            return Outcome(item, Status.SKIPPED, f"v{existing[0].version} already holds this spec",
                           version=existing[0].version, run_id=existing[0].run_id)
        # The run's tags win over the plan's: a version's managed tags must equal its run's (diff
        # reports any difference as drift), and an older run of the same hash has older path/commit.
        wanted = {**item.tags, **{k: run.tags[k] for k in tag.VERSION_TAGS_FROM_RUN if k in run.tags}}
        wanted[tag.SPEC_HASH] = item.spec_hash
        number = self.registry.register_version(item.model, run, wanted)
        after = self.registry.get_model(item.model)
        same = self._versions_with_hash(after, item.spec_hash) if after is not None else []
        if same and same[0].version < number:
            # Another apply registered this hash first. Ours is newer and nothing points at it yet.
            self.registry.delete_version(item.model, number)
            self.cleanups.append(f"{item.model}/v{number}: deleted, a duplicate of v{same[0].version} "
                                 "registered by a concurrent apply")
            number = same[0].version
        self.versions[key] = number
        checkpoint("registered")
        return Outcome(item, Status.DONE, f"registered v{number} from run {run.run_id}", version=number,
                       run_id=run.run_id)

    def _target_version(self, item: PlanItem, model: RegisteredModelInfo) -> int | Outcome:
        if item.version is not None:
            return item.version
        assert item.spec_hash is not None
        key = (item.model or "", item.spec_hash)
        if key in self.versions:
            return self.versions[key]
        if key in self.failed_versions:
            return _not_attempted(item, self.failed_versions[key])
        if item.spec_hash in self.failed_hashes:
            return _not_attempted(item, self.failed_hashes[item.spec_hash])
        existing = self._versions_with_hash(model, item.spec_hash)
        if existing:
            return existing[0].version
        return Outcome(item, Status.FAILED, f"no version of spec {short(item.spec_hash)} exists to point at")

    def point_alias(self, item: PlanItem) -> Outcome:
        assert item.model is not None and item.alias is not None
        model = self._managed_model(item)
        if isinstance(model, Outcome):
            return model
        target = self._target_version(item, model)
        if isinstance(target, Outcome):
            return target
        record = tag.alias_record(item.alias)
        if model.aliases.get(item.alias) == target:
            if model.tags.get(record) != str(target):
                self.registry.set_model_tags(item.model, {record: str(target)})
            return Outcome(item, Status.SKIPPED, f"already at v{target}", version=target)
        version = model.version(target)
        if version is None:
            return Outcome(item, Status.FAILED, f"v{target} does not exist", version=target)
        if item.checks:
            run = self._run(version.run_id) if version.run_id else None
            failures = check_bounds(item.checks, run.metrics if run is not None else None)
            if failures:
                return Outcome(item, Status.BLOCKED, f"gate failed for v{target}: " + "; ".join(failures),
                               version=target)
        old = model.aliases.get(item.alias)
        # Alias first, record second: a crash in between leaves the alias right and only the record
        # stale, which the next plan repairs as an update-tags (not as drift).
        self.registry.set_alias(item.model, item.alias, target)
        self.registry.set_model_tags(item.model, {record: str(target)})
        return Outcome(item, Status.DONE, f"@{item.alias} " + (f"v{old} -> " if old is not None else "") + f"v{target}",
                       version=target)

    def delete_alias(self, item: PlanItem) -> Outcome:
        assert item.model is not None and item.alias is not None
        model = self._managed_model(item)
        if isinstance(model, Outcome):
            return model
        record = tag.alias_record(item.alias)
        if item.alias not in model.aliases:
            if record in model.tags:
                self.registry.delete_model_tag(item.model, record)
            return Outcome(item, Status.SKIPPED, "already gone")
        # Record first: a crash in between leaves an undeclared alias, which the next --prune removes.
        if record in model.tags:
            self.registry.delete_model_tag(item.model, record)
        self.registry.delete_alias(item.model, item.alias)
        return Outcome(item, Status.DONE, f"deleted @{item.alias} (was v{model.aliases[item.alias]})")

    def delete_version(self, item: PlanItem) -> Outcome:
        assert item.model is not None and item.version is not None and item.spec_hash is not None
        model = self._managed_model(item)
        if isinstance(model, Outcome):
            return model
        version = model.version(item.version)
        if version is None:
            return Outcome(item, Status.SKIPPED, "already gone")
        if version.tags.get(tag.MANAGED) != "true":
            return Outcome(item, Status.BLOCKED, f"v{item.version} was not made by qspec; left untouched")
        served = sorted(a for a, v in model.aliases.items() if v == item.version)
        if served:
            return Outcome(item, Status.SKIPPED, f"still served by @{', @'.join(served)}; left for a later apply")
        same = self._versions_with_hash(model, item.spec_hash)
        if not same or same[0].version >= item.version:
            return Outcome(item, Status.SKIPPED, "no longer a duplicate")
        self.registry.delete_version(item.model, item.version)
        self.cleanups.append(f"{item.model}/v{item.version}: deleted, a duplicate of v{same[0].version}")
        return Outcome(item, Status.DONE, f"deleted duplicate of v{same[0].version}", version=item.version)

    def update_tags(self, item: PlanItem) -> Outcome:
        assert item.model is not None
        model = self._managed_model(item)
        if isinstance(model, Outcome):
            return model
        if item.version is None:
            missing = {k: v for k, v in item.tags.items() if model.tags.get(k) != v}
            if missing:
                self.registry.set_model_tags(item.model, missing)
        else:
            version = model.version(item.version)
            if version is None:
                return Outcome(item, Status.SKIPPED, f"v{item.version} no longer exists")
            missing = {k: v for k, v in item.tags.items() if version.tags.get(k) != v}
            if missing:
                self.registry.set_version_tags(item.model, item.version, missing)
        if not missing:
            return Outcome(item, Status.SKIPPED, "tags already in place")
        return Outcome(item, Status.DONE, "set " + ", ".join(f"{k}={v!r}" for k, v in sorted(missing.items())))

    def update_serving(self, item: PlanItem) -> Outcome:
        """Write (or, with ``new`` None, remove) the stage's ``qspec.serving.<alias>`` tag; nothing trains."""
        assert item.model is not None and item.alias is not None
        assert item.new is None or isinstance(item.new, Serving)
        model = self._managed_model(item)
        if isinstance(model, Outcome):
            return model
        key = tag.serving_record(item.alias)
        current = model.tags.get(key)
        if item.new is None:
            if current is None:
                return Outcome(item, Status.SKIPPED, "no serving record to remove")
            self.registry.delete_model_tag(item.model, key)
            return Outcome(item, Status.DONE, f"removed {key}")
        if current == item.new.value:
            return Outcome(item, Status.SKIPPED, "serving already in place")
        self.registry.set_model_tags(item.model, {key: item.new.value})
        return Outcome(item, Status.DONE, f"set {key}")

    def update_description(self, item: PlanItem) -> Outcome:
        assert item.model is not None and isinstance(item.new, Text)
        model = self._managed_model(item)
        if isinstance(model, Outcome):
            return model
        if (model.description or "") == item.new.value:
            return Outcome(item, Status.SKIPPED, "description already in place")
        self.registry.set_model_description(item.model, item.new.value)
        return Outcome(item, Status.DONE, "description set")
