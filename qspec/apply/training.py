"""``tracking_trainer``: the real ``Trainer``, ``qspec.tracking.train_and_log`` behind the protocol.

Built by ``qspec.api`` / the CLI for ``qspec apply``; tests of the reconciler use fakes instead.
It finds the experiment a TRAIN item names in the specs it was planned from (or, for a ``ref:``
stage, in the specs at that ref), refuses to train a spec whose hash is not the planned one, trains
and logs it, and returns the run as the registry sees it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from qspec.apply.faults import checkpoint
from qspec.apply.resolve import GitRefResolver
from qspec.apply.trainer import Trainer, TrainRequest
from qspec.errors import ApplyError
from qspec.plan.state import RunInfo, short
from qspec.registry.base import Registry
from qspec.spec.load import SpecSet


def tracking_trainer(specs: SpecSet, *, tracking: Any, registry: Registry, resolver: GitRefResolver | None = None,
                     root: Path | None = None, git_dirty: bool = False,
                     progress: Callable[[TrainRequest, Any], None] | None = None,
                     train_and_log: Callable[..., str] | None = None,
                     read: Callable[[str], bytes] | None = None) -> Trainer:
    """A trainer over ``qspec.tracking.train_and_log`` (``train_and_log`` replaces it in tests).

    ``progress(request, iteration_record)`` is called for every optimizer iteration (progress bars).
    ``git_dirty`` tags runs of the work tree's specs ``qspec.git_dirty=true`` (``--allow-dirty``).
    ``read`` reads the repository files of ``specs`` (csv data) when they were not read from the work
    tree (``apply --rev``).
    """

    def train(request: TrainRequest) -> RunInfo:
        reader = read
        if request.rev is None:
            source = specs
        elif resolver is None:
            raise ApplyError(f"{request.experiment} is to be trained at {request.rev}, and no git resolver was given")
        else:
            # A spec trained at a ref reads its csv data at that ref too: its hash fingerprints that data.
            source, reader = resolver.specs_at(request.rev), resolver.reader_at(request.rev)
        loaded = source.experiments.get(request.experiment)
        if loaded is None or loaded.hash != request.spec_hash:
            raise ApplyError(
                f"experiment {request.experiment!r} is no longer spec {short(request.spec_hash)}",
                hint="the specs changed since the plan was made; run qspec plan again",
            )
        log: Callable[..., str]
        if train_and_log is not None:
            log = train_and_log
        else:
            from qspec.tracking import train_and_log as log
        def on_iteration(record: Any) -> None:
            checkpoint("training")
            if progress is not None:
                progress(request, record)

        run_id = log(loaded, tracking=tracking, root=root, git_commit=request.git_commit,
                     git_dirty=git_dirty and request.rev is None, progress=on_iteration, read=reader)
        run = registry.get_run(run_id)
        if run is None:
            raise ApplyError(f"run {run_id} was logged but cannot be read back from the registry")
        return run

    return train
