"""One training per spec hash at a time, across machines: a claim with a lease, held in the registry.

Appliers share nothing but the registry (CI runners have no common disk, so no lock file), and
MLflow has no compare-and-set. It does have one atomic operation: a registered model's name is
unique, and creating one with its tags is a single insert that either succeeds or fails with
RESOURCE_ALREADY_EXISTS (the SQL store and ``mlflow server`` alike; the contract tests check
both). So a claim is a registered model, ``qspec-claim.<spec hash>.<generation>``
(``qspec.tags.claim_model_name``), tagged with its hash, its holder (host, pid, a random id of
one apply), the holder's process identity, the run it trains once that exists, and
``qspec.claim.expires``: the lease, which a heartbeat thread renews every quarter lease while the
holder trains. ``snapshot`` never returns claim models, so they are never drift.

The protocol (``Claims.acquire``):

1. Read the claims of the hash. The one with the highest generation is *the* claim; lower ones are
   leftovers of takeovers.
2. If it is live (lease not expired, and not held by a process of this machine that is gone), its
   holder is training: the caller waits (or skips). If it is ours, we hold it.
3. Otherwise (none, expired, or released) create generation top+1. Only one creator of a name wins;
   the losers read again and find the winner's live claim.
4. Having created generation g, read again: if a generation above g exists, ours was taken on a
   stale read (see 6) and is not the claim: delete it and read again. Else we hold it: delete the
   lower generations (cleanup; an expired holder learns from its next heartbeat that it lost).
5. Release: after a FINISHED run, delete the claim; after a failure, keep it with ``expires = 0``
   ("released"), which the next claimer takes over at once as generation g+1.

Why two appliers never train one hash at once. Generations are created in increasing order, each
g+1 only after someone read generation g as expired or released; so when a claim g+1 exists, the
holder of g either finished or let its lease run out (it failed to renew for a whole lease: stalled,
partitioned or dead, which is what "dead" means here). A claimer whose read was stale can create a
generation that was deleted meanwhile (a takeover's cleanup, or a release), below the top: step 4
sees the top and backs off, because the top is never deleted while a training is unfinished. The
top is deleted only by a release after a FINISHED run (5), and every holder, after acquiring,
reads the runs of the hash again before training: a reuse of a deleted top name then finds the
finished run and trains nothing. That is also why a failed training keeps its claim as a
released record rather than deleting it: deleting it would let a stale claimer and a fresh one
both hold a claim with no finished run to stop them.

What it assumes: the registry is one consistent store (one database behind one or more
``mlflow server``s), and the clocks of the appliers agree to well within a lease (NTP does; the
lease is 120 s by default, ``QSPEC_CLAIM_LEASE_SECONDS``). The fast local rule (a holder on this
machine, same boot and pid namespace, whose process no longer exists is dead at once) compares
the process's start time too, so a reused pid is not mistaken for the holder. A holder whose
lease expired while it was still training (it stalled past a whole lease) may see its run marked
FAILED by the taker and a second run trained; registration still keeps one version per hash.

The executor uses this through the ``Registry`` protocol's four claim primitives; the clock,
the sleep and the process check are injected, so the tests run it on a fake clock without sleeping.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from qspec.apply.ports import ClaimInfo, Registry
from qspec.errors import ApplyError

#: How long a claim lasts without a heartbeat, in seconds; ``$QSPEC_CLAIM_LEASE_SECONDS`` (api wiring).
DEFAULT_LEASE_SECONDS = 120.0
#: How long an apply waits for another apply's training of the same spec by default (``--wait-timeout``).
DEFAULT_WAIT_SECONDS = 3600.0

Clock = Callable[[], float]
Sleep = Callable[[float], None]
#: Whether the process a claim names is alive: True, False (it is gone), None (cannot tell from here).
Alive = Callable[[str], bool | None]


def _read(path: str) -> str:
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return ""


def _machine() -> str:
    """This machine as the process check needs it: host, boot and pid namespace; "" off Linux."""
    boot = _read("/proc/sys/kernel/random/boot_id")
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""
    return f"{socket.gethostname()}|{boot}|{namespace}" if boot else ""


def _start_time(pid: int) -> str | None:
    """The start time (clock ticks since boot) of a live process ``pid``; None if it is gone or a zombie."""
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # after "pid (comm)", which may hold spaces
    if len(fields) < 20 or fields[0] == "Z":
        return None
    return fields[19]


def process_identity(pid: int | None = None) -> str:
    """``machine|pid|start time`` of a process (this one by default); "" where /proc cannot say."""
    pid = os.getpid() if pid is None else pid
    machine, started = _machine(), _start_time(pid)
    return f"{machine}|{pid}|{started}" if machine and started else ""


def process_alive(identity: str) -> bool | None:
    """False when ``identity`` names a process of this machine that no longer runs; None when the
    process is elsewhere (another host, container or boot) or the identity is unknown."""
    machine, _, rest = identity.rpartition("|")
    machine, _, pid = machine.rpartition("|")
    if not identity or not pid.isdigit() or machine != _machine() or not machine:
        return None
    return _start_time(int(pid)) == rest


def new_holder() -> str:
    """A name for this apply, unique across machines and readable in a progress line."""
    return f"{socket.gethostname()} pid {os.getpid()} id {secrets.token_hex(4)}"


@dataclass
class Claims:
    """Takes claims on spec hashes for one apply (one ``holder``)."""

    registry: Registry
    lease: float = DEFAULT_LEASE_SECONDS
    clock: Clock = time.time
    sleep: Sleep = time.sleep
    alive: Alive = process_alive
    holder: str = field(default_factory=new_holder)
    process: str = field(default_factory=process_identity)
    heartbeat: bool = True  # renew from a thread while training; tests renew by hand instead

    @property
    def poll_seconds(self) -> float:
        """How often a waiter looks again."""
        return min(5.0, self.lease / 4)

    def live(self, claim: ClaimInfo) -> bool:
        """Whether ``claim``'s holder may still be training: its lease runs, and it is not a gone process."""
        if claim.expires <= self.clock():
            return False
        return claim.holder == self.holder or self.alive(claim.process) is not False

    def current(self, spec_hash: str) -> ClaimInfo | None:
        """The claim on ``spec_hash`` (its highest generation), live or not; None when there is none."""
        claims = self.registry.claims_for(spec_hash)
        return max(claims, key=lambda c: c.generation) if claims else None

    def acquire(self, spec_hash: str) -> Lease | ClaimInfo:
        """Take the claim on ``spec_hash``: a ``Lease`` when this apply holds it now, else the live
        claim of the apply that holds it (see the module docstring for why only one wins)."""
        for _ in range(8):  # each lost round means another claimer won: the next read sees its claim
            top = self.current(spec_hash)
            if top is not None and top.holder == self.holder:
                return self._hold(top, renew=True)  # ours: a create whose answer was lost, retried
            if top is not None and self.live(top):
                return top
            mine = ClaimInfo(spec_hash, (top.generation if top else 0) + 1, self.holder,
                             self.clock() + self.lease, self.process)
            if not self.registry.create_claim(mine):
                continue
            after = self.registry.claims_for(spec_hash)
            if any(c.generation > mine.generation for c in after):
                self.registry.delete_claim(spec_hash, mine.generation)  # made on a stale read
                continue
            for older in after:
                if older.generation < mine.generation:
                    self.registry.delete_claim(spec_hash, older.generation)
            return self._hold(mine)
        top = self.current(spec_hash)
        if top is not None and top.holder == self.holder:
            return self._hold(top, renew=True)
        if top is not None:
            return top
        raise ApplyError(f"could not claim the training of spec {spec_hash[:12]}: the claims kept changing",
                         hint="another apply is claiming it at the same moment; run apply again")

    def _hold(self, claim: ClaimInfo, *, renew: bool = False) -> Lease:
        lease = Lease(self, claim)
        if renew:
            lease.renew()
        return lease


@dataclass
class Lease:
    """A claim this apply holds: renew it while training, release it after."""

    claims: Claims
    claim: ClaimInfo
    lost: bool = False  # the claim was taken over (our lease expired) or deleted
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def renew(self, run_id: str | None = None) -> bool:
        """Extend the lease by a whole lease from now; False (and ``lost``) when the claim is no longer ours."""
        if self.lost:
            return False
        claims = self.claims
        expires = claims.clock() + claims.lease
        if not claims.registry.renew_claim(self.claim.spec_hash, self.claim.generation, expires=expires,
                                           run_id=run_id):
            self.lost = True
            return False
        self.claim = replace(self.claim, expires=expires, run_id=run_id or self.claim.run_id)
        top = claims.current(self.claim.spec_hash)
        if top is not None and top.generation > self.claim.generation:
            self.lost = True  # taken over after our lease ran out
        return not self.lost

    def attach_run(self, run_id: str) -> None:
        """Record the run this claim trains, for waiters' progress lines."""
        with contextlib.suppress(Exception):  # a record for people; the lease does not depend on it
            self.renew(run_id)

    @contextlib.contextmanager
    def heartbeat(self) -> Iterator[Lease]:
        """Renew the lease every quarter lease from a thread while the block runs."""
        if self.claims.heartbeat:
            self._thread = threading.Thread(target=self._beat, name=f"qspec-claim-{self.claim.spec_hash[:12]}",
                                            daemon=True)
            self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            if self._thread is not None:
                self._thread.join(timeout=30)

    def _beat(self) -> None:
        interval = self.claims.lease / 4
        while not self._stop.wait(interval):
            try:
                if not self.renew():
                    return
            except Exception:  # a failed renewal is retried at the next beat; the lease covers a few
                continue

    def release(self, *, finished: bool) -> None:
        """Give the claim up. After a FINISHED run the claim is deleted (anyone claiming later finds the
        run); after a failure it stays as a released record, so that generations keep counting up."""
        spec_hash, generation = self.claim.spec_hash, self.claim.generation
        registry = self.claims.registry
        if finished or self.lost:
            registry.delete_claim(spec_hash, generation)
        else:
            registry.renew_claim(spec_hash, generation, expires=0)
