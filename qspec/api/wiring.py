"""The concrete adapters of one command, built here and nowhere else: the workspace (the repository,
its spec source and git state), the MLflow registry and the tracked trainer.

``qspec.api``'s functions call these; ``qspec.apply`` and ``qspec.plan`` only ever see the
protocols (``apply.ports``) and plain records. Import-linter checks that no other module of the
core reaches the adapters (``qspec.gitrepo``, ``qspec.registry.mlflow``, ``qspec.tracking``,
``qspec.quantum``); the CLI goes through ``qspec.api`` too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qspec.errors import ApplyError, QspecError, SourceError
from qspec.plan.state import Blocker, Estimate, RunInfo, short
from qspec.spec.load import SpecSet, load_source
from qspec.spec.models import Experiment
from qspec.spec.source import SpecSource, open_source, repo_path

if TYPE_CHECKING:
    from qspec.apply.ports import Registry, Trainer, TrainRequest
    from qspec.gitrepo import GitRepo, RefResolver
    from qspec.quantum.result import IterationRecord
    from qspec.registry.mlflow import MlflowRegistry
    from qspec.store import Tracking

#: progress(request, iteration): called for every optimizer iteration of a training (progress bars).
Progress = Callable[["TrainRequest", "IterationRecord"], None]


@dataclass(frozen=True)
class GitState:
    """Where the specs came from: the commit, and which spec or data files differ from it."""

    commit: str | None
    dirty: tuple[str, ...] = ()
    is_repo: bool = True


@dataclass
class Workspace:
    """What one command reads from the spec repository, found once: the root, the spec paths (as git
    names them), the source the specs are read from (the work tree or a revision) and the repository.

    Built by ``Workspace.open`` at the start of every ``qspec.api`` call; everything after it (the
    loader, the git state, the ``ref:`` resolver, the trainer's csv reader) reuses what it found.
    """

    root: Path
    paths: tuple[str, ...]  # repository-relative spec paths; paths outside the repository are left out
    rev: str | None
    source: SpecSource
    _repo: GitRepo | None = field(default=None, repr=False)
    _repo_opened: bool = field(default=False, repr=False)  # git is opened on first use
    _resolver: RefResolver | None = field(default=None, init=False, repr=False)

    @classmethod
    def open(cls, specs: Sequence[str | Path] | None = None, *, rev: str | None = None,
             root: Path | None = None) -> Workspace:
        from qspec.gitrepo import open_repo

        work_tree = open_source(specs, root=root)  # finds the root, as validation does
        base, full = work_tree.root, list(work_tree.paths)
        paths = tuple(repo_path(p, base) for p in full if _inside(p, base))
        if rev is None:
            # git is opened when first asked for (the git state, a ref, a csv data set), so validate
            # stays light
            workspace = cls(base, paths, rev, work_tree)
            work_tree.tracked = workspace.tracks
            return workspace
        repo = open_repo(base, required_for="--rev")
        assert repo is not None
        return cls(base, paths, rev, repo.source([repo_path(p, base) for p in full], rev), repo, True)

    @property
    def repo(self) -> GitRepo | None:
        """The repository of the specs (opened once, on first use); None outside a git repository."""
        if not self._repo_opened:
            from qspec.gitrepo import open_repo

            self._repo, self._repo_opened = open_repo(self.root), True
        return self._repo

    def tracks(self, path: str) -> bool | None:
        """Whether git tracks ``path`` (the work tree source reads only tracked data files); None
        outside a git repository, where only the rules that need no git apply."""
        repo = self.repo
        return None if repo is None else repo.tracks(path)

    def load(self) -> SpecSet:
        return load_source(self.source)

    def git_state(self, specset: SpecSet) -> GitState:
        """The commit the specs are at and, for the work tree, the spec and data files not committed."""
        if self.rev is not None:
            return GitState(commit=specset.revision)
        if self.repo is None:
            return GitState(commit=None, is_repo=False)
        return GitState(commit=self.repo.head, dirty=self.repo.changes(self.paths, data_files(specset)))

    @property
    def resolver(self) -> RefResolver | None:
        """Reads the specs at other git refs (``ref:`` stages, ``--base``); None outside a repository."""
        if self._resolver is None and self.repo is not None:
            from qspec.gitrepo import RefResolver

            self._resolver = RefResolver(self.repo, self.paths)
        return self._resolver

    def reader(self, rev: str | None) -> Callable[[str], bytes]:
        """Reads repository files as a training at ``rev`` will (None: the specs being planned): through
        the workspace's source, or at that git ref; outside a repository, the source."""
        resolver = self.resolver
        return self.source.read if rev is None or resolver is None else resolver.reader_at(rev)


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root)
    except ValueError:
        return False
    return True


def data_files(specset: SpecSet) -> list[str]:
    """The csv data sets the experiments read, repository-relative."""
    return sorted({d.csv_path for d in (e.resource.spec.data for e in specset.experiments.values())
                   if d is not None and d.csv_path is not None})


def identity_reader(workspace: Workspace, specs: SpecSet) -> Callable[[str | None, str], dict[str, Any] | None]:
    """Reads an experiment's identity (its normalized spec and data fingerprint, what its hash is made
    of) in the specs being planned (rev None) or at a git rev, for the field-level diff of a
    retraining against the version it replaces (``qspec.plan.review``)."""
    from qspec.spec.hashing import experiment_identity

    def read(rev: str | None, name: str) -> dict[str, Any] | None:
        at = specs
        if rev is not None:
            resolver = workspace.resolver
            if resolver is None:
                raise SourceError("the specs are not in a git repository")
            at = resolver.specs_at(rev)
        loaded = at.experiments.get(name)
        if loaded is None:
            return None
        return experiment_identity(loaded.resource, at.data_fingerprints.get(name))

    return read


def dirty_contents(workspace: Workspace, dirty: Sequence[str]) -> dict[str, str | None]:
    """Each uncommitted spec or data file with the sha256 of its content (None: deleted), so that a
    saved plan can tell that the work tree it was made from has not changed since."""
    import hashlib

    out: dict[str, str | None] = {}
    for path in dirty:
        full = workspace.root / path
        out[path] = hashlib.sha256(full.read_bytes()).hexdigest() if full.is_file() else None
    return out


def estimator(workspace: Workspace) -> Callable[[Experiment, str | None], Estimate]:
    """Prices a training from its spec, its csv rows counted where the trainer will read them: through
    the workspace's source, or at the git ref of a ``ref:`` stage."""
    from qspec.quantum.estimate import estimate_resources

    def estimate(experiment: Experiment, rev: str | None) -> Estimate:
        return estimate_resources(experiment, read=workspace.reader(rev))

    return estimate


#: Where a memory budget comes from when ``--max-memory`` is not given; else a share of the machine.
MEMORY_ENV = "QSPEC_MAX_MEMORY"
#: The share of the machine's memory a training may use by default (the rest is the OS, MLflow, Python).
MEMORY_SHARE = 0.8

_UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 10**3, "kib": 2**10, "m": 2**20, "mb": 10**6, "mib": 2**20,
          "g": 2**30, "gb": 10**9, "gib": 2**30, "t": 2**40, "tb": 10**12, "tib": 2**40}


def parse_memory(text: str, *, what: str = "--max-memory") -> int:
    """Bytes from ``4GiB``, ``512M``, ``8 GB`` or a plain byte count."""
    import re

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS or float(match.group(1)) <= 0:
        raise QspecError(f"{what}: {text[:40]!r} is not a memory size",
                         hint="write a positive size such as 4GiB, 512MiB or 8GB")
    return int(float(match.group(1)) * _UNITS[unit])


def memory_budget(explicit: str | None = None) -> int:
    """The most memory one training may use: ``--max-memory``, else ``$QSPEC_MAX_MEMORY``, else 80% of
    the machine's physical memory."""
    if explicit is not None:
        return parse_memory(explicit)
    if os.environ.get(MEMORY_ENV):
        return parse_memory(os.environ[MEMORY_ENV], what=MEMORY_ENV)
    return int(MEMORY_SHARE * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def size(count: float) -> str:
    """Bytes as people read them: ``48.0 GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024:
            return f"{count:.1f} {unit}" if unit != "B" else f"{int(count)} B"
        count /= 1024
    return f"{count:.1f} TiB"


def preflight(workspace: Workspace, max_memory: int) -> Callable[[Experiment, str | None], Blocker | None]:
    """What must hold before a training may start here, checked at plan time so that nothing is written
    for a training that cannot run: the target's credentials, and its peak memory against ``max_memory``."""
    from qspec.errors import BackendError
    from qspec.plan.reasons import Reason
    from qspec.plugins.targets import check_credentials
    from qspec.quantum.estimate import peak_memory_bytes
    from qspec.secrets import mask

    def check(experiment: Experiment, rev: str | None) -> Blocker | None:
        try:
            check_credentials(experiment.spec.backend)
        except BackendError as exc:
            return Blocker(Reason.CREDENTIALS_MISSING, mask(exc.message + (f"; {exc.hint}" if exc.hint else "")))
        peak = peak_memory_bytes(experiment, read=workspace.reader(rev))
        if peak > max_memory:
            return Blocker(Reason.MEMORY_EXCEEDED, (
                f"training needs an estimated {size(peak)} of memory at its peak, more than the {size(max_memory)} "
                f"it may use; use fewer qubits, shots or samples, or raise --max-memory (or ${MEMORY_ENV})"))
        return None

    return check


#: The lease of a training claim in seconds (``qspec.apply.claims``); tests shorten it.
LEASE_ENV = "QSPEC_CLAIM_LEASE_SECONDS"


def claim_lease() -> float:
    """How long a training claim lasts without a heartbeat: ``$QSPEC_CLAIM_LEASE_SECONDS``, else 120 s."""
    from qspec.apply.claims import DEFAULT_LEASE_SECONDS

    text = os.environ.get(LEASE_ENV, "").strip()
    if not text:
        return DEFAULT_LEASE_SECONDS
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise QspecError(f"{LEASE_ENV}: {text[:40]!r} is not a number of seconds",
                         hint="set it to a positive number such as 120, or unset it")
    return value


def connect_registry(tracking_uri: str | None, root: Path) -> tuple[Tracking, MlflowRegistry]:
    """The tracking store and the registry adapter over it (new versions carry the run's metadata)."""
    from qspec.registry.mlflow import MlflowRegistry
    from qspec.store import connect
    from qspec.tracking.model import version_tags

    tracking = connect(tracking_uri, root=root)
    return tracking, MlflowRegistry(tracking.client, version_metadata=version_tags)


def tracked_trainer(workspace: Workspace, specs: SpecSet, *, tracking: Tracking, registry: Registry,
                    git_dirty: bool = False, progress: Progress | None = None) -> Trainer:
    """The real ``Trainer``: the engine trains inside an MLflow run that tracking records in full.

    It finds the experiment a TRAIN item names in the specs it was planned from (or, for a ``ref:``
    stage, in the specs at that ref, with that ref's csv data: the hash fingerprints it), refuses
    a spec whose hash is not the planned one, and returns the run as the registry sees it.
    ``git_dirty`` tags runs of the work tree's specs ``qspec.git_dirty=true`` (``--allow-dirty``).
    """
    from qspec.apply.faults import checkpoint

    def train(request: TrainRequest) -> RunInfo:
        from qspec.quantum.training import train as engine_train
        from qspec.tracking.runs import tracked_run

        read: Callable[[str], bytes]
        if request.rev is None:
            source, read = specs, workspace.source.read
        else:
            resolver = workspace.resolver
            if resolver is None:
                raise ApplyError(f"{request.experiment} is to be trained at {request.rev}, outside a git repository")
            source, read = resolver.specs_at(request.rev), resolver.reader_at(request.rev)
        loaded = source.experiments.get(request.experiment)
        if loaded is None or loaded.hash != request.spec_hash:
            raise ApplyError(
                f"experiment {request.experiment!r} is no longer spec {short(request.spec_hash)}",
                hint="the specs changed since the plan was made; run qspec plan again",
            )
        with tracked_run(loaded, tracking=tracking, git_commit=request.git_commit,
                         git_dirty=git_dirty and request.rev is None) as recorder:
            if request.on_run is not None:
                request.on_run(recorder.run_id)  # the claim names its run, for waiting applies to show

            def on_iteration(record: IterationRecord) -> None:
                recorder.record(record)
                checkpoint("training")
                if progress is not None:
                    progress(request, record)

            # The plan priced this training already: the run logs that same estimate.
            result = engine_train(loaded.resource, read=read, progress=on_iteration, estimate=request.estimate)
            recorder.flush()
            recorder.log_result(result)
        run = registry.get_run(recorder.run_id)
        if run is None:
            raise ApplyError(f"run {recorder.run_id} was logged but cannot be read back from the registry")
        return run

    return train
