"""One training per spec hash at a time: the claim protocol (``qspec.apply.claims``) and the executor's
use of it, on the in-memory registry with a fake clock (nothing here sleeps).

The same claim primitives are held to MLflow's behaviour by tests/registry/test_contract.py, and
tests/e2e/test_claims.py races three real applies against a real ``mlflow server``.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from qspec import tags as tag
from qspec.apply import Status, TrainRequest, apply
from qspec.apply.claims import Claims, Lease, process_alive, process_identity
from qspec.apply.ports import ClaimInfo
from qspec.plan import Action, diff
from qspec.plan.state import RunInfo
from qspec.plan.testing import H1, H2, desired, head, model
from qspec.registry import MemoryRegistry
from qspec.registry.memory import FakeTrainer

LEASE = 120.0
START = 1_700_000_000.0


@dataclass
class FakeClock:
    """Time that moves only when someone sleeps; ``on_sleep`` hooks play the other apply meanwhile."""

    now: float = START
    slept: list[float] = field(default_factory=list)
    on_sleep: list[Callable[[], None]] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        for hook in list(self.on_sleep):
            hook()


def claims(registry: MemoryRegistry, clock: FakeClock, holder: str, *,
           alive: Callable[[str], bool | None] = lambda _: None) -> Claims:
    return Claims(registry, lease=LEASE, clock=clock, sleep=clock.sleep, alive=alive, holder=holder,
                  process=f"proc-{holder}", heartbeat=False)


def held(result: Lease | ClaimInfo) -> Lease:
    assert isinstance(result, Lease), result
    return result


def busy(result: Lease | ClaimInfo) -> ClaimInfo:
    assert isinstance(result, ClaimInfo), result
    return result


# --- the protocol ------------------------------------------------------------------------------------


def test_the_second_claimer_sees_the_holder() -> None:
    registry, clock = MemoryRegistry(), FakeClock()
    lease = held(claims(registry, clock, "A").acquire(H1))
    seen = busy(claims(registry, clock, "B").acquire(H1))
    assert (seen.holder, seen.generation, seen.expires) == ("A", 1, START + LEASE)
    assert held(claims(registry, clock, "B").acquire(H2)).claim.generation == 1  # another hash is free
    assert lease.claim.generation == 1 and not lease.lost


def test_a_renewed_claim_stays_live_and_an_expired_one_is_taken_over_as_the_next_generation() -> None:
    registry, clock = MemoryRegistry(), FakeClock()
    a = held(claims(registry, clock, "A").acquire(H1))
    clock.now += 0.9 * LEASE
    assert a.renew()
    clock.now += 0.9 * LEASE  # past the first lease, inside the renewed one
    assert busy(claims(registry, clock, "B").acquire(H1)).holder == "A"

    clock.now += 0.2 * LEASE  # A stopped renewing: expired
    b = held(claims(registry, clock, "B").acquire(H1))
    assert b.claim.generation == 2
    assert [(c.generation, c.holder) for c in registry.claims_for(H1)] == [(2, "B")]  # A's cleaned up
    assert not a.renew() and a.lost  # A learns it lost at its next heartbeat


def test_a_takeover_is_won_by_exactly_one_of_two_claimers() -> None:
    registry, clock = MemoryRegistry(), FakeClock()
    held(claims(registry, clock, "dead").acquire(H1))
    clock.now += 2 * LEASE
    a, b = claims(registry, clock, "A"), claims(registry, clock, "B")
    results: dict[str, Lease | ClaimInfo] = {}
    create = registry.create_claim

    def create_after_b(claim: ClaimInfo) -> bool:
        # A read the expired claim; before its create lands, B reads the same and creates first.
        if claim.holder == "A" and "B" not in results:
            results["B"] = b.acquire(H1)
        return create(claim)

    registry.create_claim = create_after_b  # type: ignore[method-assign]
    results["A"] = a.acquire(H1)
    assert held(results["B"]).claim.generation == 2
    assert busy(results["A"]).holder == "B"
    assert [(c.generation, c.holder) for c in registry.claims_for(H1)] == [(2, "B")]


def test_a_claim_made_on_a_stale_read_below_the_top_backs_off() -> None:
    registry, clock = MemoryRegistry(), FakeClock()
    registry.create_claim(ClaimInfo(H1, 3, "Z", START + LEASE, "proc-Z"))  # the live top
    stale = [[ClaimInfo(H1, 1, "gone", START - 1)]]  # A's first read: from before gens 2 and 3
    real = registry.claims_for

    def claims_for(spec_hash: str) -> list[ClaimInfo]:
        return stale.pop() if stale else real(spec_hash)

    registry.claims_for = claims_for  # type: ignore[method-assign]
    seen = busy(claims(registry, clock, "A").acquire(H1))
    assert seen.holder == "Z"
    assert [(c.generation, c.holder) for c in real(H1)] == [(3, "Z")]  # A's generation 2 deleted again


def test_a_holder_on_this_machine_whose_process_is_gone_is_dead_before_its_lease_ends() -> None:
    registry, clock = MemoryRegistry(), FakeClock()
    held(claims(registry, clock, "A").acquire(H1))
    alive = {"proc-A": False}
    b = held(claims(registry, clock, "B", alive=lambda p: alive.get(p)).acquire(H1))
    assert b.claim.generation == 2


def test_release_deletes_after_a_finished_run_and_keeps_a_released_record_after_a_failure() -> None:
    registry, clock = MemoryRegistry(), FakeClock()
    held(claims(registry, clock, "A").acquire(H1)).release(finished=True)
    assert registry.claims_for(H1) == []

    held(claims(registry, clock, "A").acquire(H2)).release(finished=False)
    (record,) = registry.claims_for(H2)
    assert (record.generation, record.expires) == (1, 0)  # generations keep counting up
    assert held(claims(registry, clock, "B").acquire(H2)).claim.generation == 2


def test_a_create_whose_answer_was_lost_is_recognised_as_ours() -> None:
    registry, clock = MemoryRegistry(), FakeClock()
    mine = claims(registry, clock, "A")
    registry.create_claim(ClaimInfo(H1, 1, "A", START + LEASE, "proc-A"))  # landed; the reply did not
    assert held(mine.acquire(H1)).claim.generation == 1


def test_this_process_is_alive_and_a_gone_or_foreign_one_is_not_judged_here() -> None:
    me = process_identity()
    if not me:
        pytest.skip("no /proc here: the local rule is off, leases alone decide")
    assert process_alive(me) is True
    assert process_alive(me.rpartition("|")[0] + "|0") is False  # the pid reused by another process
    child = subprocess.Popen(["sleep", "60"])
    identity = process_identity(child.pid)
    assert process_alive(identity) is True
    child.kill()
    child.wait()
    assert process_alive(identity) is False
    assert process_alive("other-host|boot|pid:[1]|123|456") is None
    assert process_alive("") is None


def test_the_heartbeat_renews_the_lease_while_the_block_runs() -> None:
    registry = MemoryRegistry()
    renewed = threading.Event()
    count = {"n": 0}
    renew = registry.renew_claim

    def counting(spec_hash: str, generation: int, *, expires: float, run_id: str | None = None) -> bool:
        count["n"] += 1
        if count["n"] >= 3:  # three beats of the thread
            renewed.set()
        return renew(spec_hash, generation, expires=expires, run_id=run_id)

    registry.renew_claim = counting  # type: ignore[method-assign]
    lease = held(Claims(registry, lease=0.02, holder="A").acquire(H1))
    with lease.heartbeat():
        assert renewed.wait(timeout=10)
    assert lease._thread is not None and not lease._thread.is_alive()


# --- the executor ------------------------------------------------------------------------------------

STATE = desired(model(stages=[head("staging")]))


def other_holder(registry: MemoryRegistry, clock: FakeClock, *, run: RunInfo | None = None) -> Lease:
    lease = held(claims(registry, clock, "host-b pid 7 id beef").acquire(H1))
    if run is not None:
        lease.renew(run.run_id)
    return lease


def run_apply(registry: MemoryRegistry, clock: FakeClock, trainer: FakeTrainer, *, wait: float = 3600,
              notes: list[str] | None = None):  # type: ignore[no-untyped-def]
    plan = diff(STATE, registry.snapshot())
    return apply(plan, registry, trainer, claims=claims(registry, clock, "host-a pid 1 id cafe"),
                 wait_timeout=wait, note=(notes.append if notes is not None else None))


def outcome(result, action: Action):  # type: ignore[no-untyped-def]
    return next(o for o in result.outcomes if o.item.action is action)


def test_a_live_running_run_is_never_marked_failed_and_wait_timeout_0_skips_saying_who_holds_it() -> None:
    registry, clock = MemoryRegistry(), FakeClock()
    running = registry.add_run(H1, status="RUNNING")
    other_holder(registry, clock, run=running)
    trainer = FakeTrainer(registry)
    result = run_apply(registry, clock, trainer, wait=0)

    assert registry.runs[running.run_id].status == "RUNNING"  # untouched
    assert trainer.requests == [] and clock.slept == []
    train = outcome(result, Action.TRAIN)
    assert train.status is Status.SKIPPED and train.not_attempted
    assert "another apply holds its training (host-b pid 7 id beef, run run1" in train.detail
    assert "not waited for (--wait-timeout 0)" in train.detail
    assert outcome(result, Action.REGISTER).not_attempted and outcome(result, Action.SET_ALIAS).not_attempted
    assert result.ok and result.cleanups == ()


def test_a_dead_running_run_whose_lease_expired_is_marked_failed_and_retrained() -> None:
    registry, clock = MemoryRegistry(), FakeClock()
    dead = registry.add_run(H1, status="RUNNING")
    other_holder(registry, clock, run=dead)
    clock.now += LEASE + 1
    trainer = FakeTrainer(registry)
    result = run_apply(registry, clock, trainer)

    assert registry.runs[dead.run_id].status == "FAILED"
    assert any(f"run {dead.run_id}" in c and "marked FAILED" in c for c in result.cleanups)
    assert [r.spec_hash for r in trainer.requests] == [H1] and clock.slept == []
    assert result.ok and registry.models["m"].aliases == {"staging": 1}
    assert registry.claims_for(H1) == []  # released after the finished run


def test_a_waiter_skips_training_and_registers_the_holders_run() -> None:
    registry, clock = MemoryRegistry(), FakeClock()
    running = registry.add_run(H1, status="RUNNING")
    holder = other_holder(registry, clock, run=running)

    def holder_finishes() -> None:
        if len(clock.slept) == 3:
            registry.runs[running.run_id] = RunInfo(running.run_id, H1, "FINISHED", {"test_accuracy": 0.9},
                                                    running.tags, start_time=running.start_time)
            holder.release(finished=True)

    clock.on_sleep.append(holder_finishes)
    trainer, notes = FakeTrainer(registry), []
    result = run_apply(registry, clock, trainer, notes=notes)

    assert trainer.requests == [] and len(clock.slept) == 3
    train = outcome(result, Action.TRAIN)
    assert (train.status, train.detail) == (Status.SKIPPED, f"trained by another apply (run {running.run_id})")
    register = outcome(result, Action.REGISTER)
    assert register.status is Status.DONE and register.run_id == running.run_id
    assert registry.models["m"].aliases == {"staging": 1} and result.ok
    assert notes[0].startswith(f"waiting for exp#{H1[:12]}: another apply is training it (host-b pid 7 id beef")
    assert "waiting up to 3600 s" in notes[0]


def test_a_waiter_trains_itself_when_the_holders_training_failed() -> None:
    registry, clock = MemoryRegistry(), FakeClock()
    running = registry.add_run(H1, status="RUNNING")
    holder = other_holder(registry, clock, run=running)

    def holder_fails() -> None:
        if clock.slept and registry.runs[running.run_id].status == "RUNNING":
            registry.runs[running.run_id] = RunInfo(running.run_id, H1, "FAILED", {}, running.tags,
                                                    start_time=running.start_time)
            holder.release(finished=False)

    clock.on_sleep.append(holder_fails)
    trainer = FakeTrainer(registry)
    result = run_apply(registry, clock, trainer)

    assert [r.spec_hash for r in trainer.requests] == [H1] and result.ok
    assert outcome(result, Action.TRAIN).status is Status.DONE
    assert registry.runs[running.run_id].status == "FAILED" and result.cleanups == ()
    assert registry.claims_for(H1) == []


def test_a_waiter_gives_up_after_its_wait_timeout_while_the_holder_keeps_renewing() -> None:
    registry, clock = MemoryRegistry(), FakeClock()
    holder = other_holder(registry, clock)
    clock.on_sleep.append(lambda: holder.renew())
    trainer, notes = FakeTrainer(registry), []
    result = run_apply(registry, clock, trainer, wait=100, notes=notes)

    assert trainer.requests == [] and sum(clock.slept) == pytest.approx(100)
    train = outcome(result, Action.TRAIN)
    assert train.not_attempted and "still held after waiting 100 s (--wait-timeout 100)" in train.detail
    assert any(n.startswith("still waiting for") for n in notes)  # a progress line every 30 s
    assert result.ok and "m" in registry.models and registry.models["m"].versions == {}


def test_the_holder_records_its_run_on_the_claim_and_releases_it_when_training_fails() -> None:
    registry, clock = MemoryRegistry(), FakeClock()
    seen: list[ClaimInfo] = []

    def trainer(request: TrainRequest) -> RunInfo:
        run = registry.add_run(request.spec_hash, status="RUNNING", run_id="r-live")
        assert request.on_run is not None
        request.on_run(run.run_id)
        seen.extend(registry.claims_for(request.spec_hash))
        raise RuntimeError("the simulator crashed")

    plan = diff(STATE, registry.snapshot())
    result = apply(plan, registry, trainer, claims=claims(registry, clock, "A"))
    assert [(c.holder, c.run_id) for c in seen] == [("A", "r-live")]
    assert outcome(result, Action.TRAIN).status is Status.FAILED
    (released,) = registry.claims_for(H1)
    assert released.expires == 0  # released, not left to expire: the next apply retrains at once


def test_a_model_created_by_a_concurrent_apply_meanwhile_is_used() -> None:
    registry, clock = MemoryRegistry(), FakeClock()
    plan = diff(STATE, registry.snapshot())
    registry.add_model("m")  # the other apply created it after our plan, before our create
    result = apply(plan, registry, FakeTrainer(registry), claims=claims(registry, clock, "A"))
    create = outcome(result, Action.CREATE_MODEL)
    assert (create.status, create.detail) == (Status.SKIPPED, "already exists")
    registry.models.clear()

    # ... and when it lands between our check and our create, MLflow refuses ours: not an error
    create_model = registry.create_model

    def racing(name: str, tags):  # type: ignore[no-untyped-def]
        registry.add_model(name)
        create_model(name, tags)

    registry.create_model = racing  # type: ignore[method-assign]
    result = apply(plan, registry, FakeTrainer(registry), claims=claims(registry, clock, "A"))
    create = outcome(result, Action.CREATE_MODEL)
    assert (create.status, create.detail) == (Status.SKIPPED, "created by a concurrent apply")
    assert result.ok and registry.models["m"].aliases == {"staging": 1}


def test_claims_never_show_in_a_snapshot() -> None:
    registry, clock = MemoryRegistry(), FakeClock()
    held(claims(registry, clock, "A").acquire(H1))
    assert dict(registry.snapshot().models) == {}
    assert tag.is_claim_model(tag.claim_model_name(H1, 1))


class TestStuckRunsAreClosed:
    """A managed run left RUNNING while a FINISHED run of its spec exists (MLflow's client retried a
    ``runs/create`` whose answer was lost, then the apply trained the second run) used to stay RUNNING
    for ever behind "No changes". Now it is a close-run item, done under the spec's claim."""

    def seeded(self) -> tuple[MemoryRegistry, RunInfo]:
        registry = MemoryRegistry()
        stuck = registry.add_run(H1, status="RUNNING")
        registry.add_run(H1, metrics={"test_accuracy": 0.9})
        registry.add_model("m")
        registry.register_version("m", registry.runs["run2"], {tag.MANAGED: "true", tag.SPEC_HASH: H1})
        registry.set_alias("m", "staging", 1)
        registry.set_model_tags("m", {tag.alias_record("staging"): "1"})
        return registry, stuck

    def test_a_stuck_run_with_no_live_claim_is_closed_even_though_its_spec_finished(self) -> None:
        registry, stuck = self.seeded()
        clock = FakeClock()
        plan = diff(STATE, registry.snapshot())
        assert [(i.action, i.run_id) for i in plan.items] == [(Action.CLOSE_RUN, stuck.run_id)]
        assert not plan.in_sync  # plan --detailed-exitcode and status --check say so

        result = run_apply(registry, clock, FakeTrainer(registry))
        close = outcome(result, Action.CLOSE_RUN)
        assert close.status is Status.DONE and registry.runs[stuck.run_id].status == "FAILED"
        assert any(f"run {stuck.run_id}" in c for c in result.cleanups)
        assert registry.claims_for(H1) == []  # the claim taken to close it is released (a FINISHED run exists)
        assert diff(STATE, registry.snapshot()).items == ()  # and then nothing is left to do

    def test_an_expired_claim_does_not_protect_its_run(self) -> None:
        registry, stuck = self.seeded()
        clock = FakeClock()
        other_holder(registry, clock, run=stuck)
        clock.now += LEASE + 1
        result = run_apply(registry, clock, FakeTrainer(registry))
        assert outcome(result, Action.CLOSE_RUN).status is Status.DONE
        assert registry.runs[stuck.run_id].status == "FAILED"

    def test_a_run_whose_claim_is_live_is_never_touched(self) -> None:
        registry, stuck = self.seeded()
        clock = FakeClock()
        holder = other_holder(registry, clock, run=stuck)
        clock.now += 0.9 * LEASE
        holder.renew()
        clock.now += 0.9 * LEASE  # past the first lease, inside the renewed one: live
        calls = len(registry.calls)
        result = run_apply(registry, clock, FakeTrainer(registry))
        close = outcome(result, Action.CLOSE_RUN)
        assert close.status is Status.SKIPPED and "another apply's claim on its spec is live" in close.detail
        assert "host-b pid 7 id beef" in close.detail
        assert registry.runs[stuck.run_id].status == "RUNNING"
        assert not any(c.startswith("mark_run_failed") for c in registry.calls[calls:])
        assert [c.holder for c in registry.claims_for(H1)] == ["host-b pid 7 id beef"]  # its claim stays
        assert result.ok and result.cleanups == ()

    def test_a_run_that_ended_since_the_plan_is_left_as_it_is(self) -> None:
        registry, stuck = self.seeded()
        plan = diff(STATE, registry.snapshot())
        registry.runs[stuck.run_id] = RunInfo(stuck.run_id, H1, "FINISHED", {}, stuck.tags)
        result = apply(plan, registry, FakeTrainer(registry), claims=claims(registry, FakeClock(), "A"))
        close = outcome(result, Action.CLOSE_RUN)
        assert close.status is Status.SKIPPED and "already ended (FINISHED)" in close.detail
        assert registry.claims_for(H1) == []
