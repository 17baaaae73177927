"""TEMPORARY (issue 11, "One house"): ``train_and_log`` for ``qspec/apply/training.py`` alone.

Tracking logs runs and packages models; it does not train. The composition "the engine trains
inside a tracked run" belongs to ``qspec.api``, which is being rewritten to build it from
``tracked_run`` and ``qspec.quantum.train``. Until ``qspec/apply/training.py`` stops importing
``qspec.tracking.train_and_log``, this module keeps that import working; delete it then (the
layering test in tests/tracking/test_store.py lets this one file import the engine's training).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from qspec.quantum.result import IterationRecord
from qspec.spec.load import Loaded
from qspec.spec.models import Experiment
from qspec.store import Tracking
from qspec.tracking.runs import tracked_run


def train_and_log(loaded: Loaded[Experiment], *, tracking: Tracking, root: Path | None = None,
                  git_commit: str | None = None, git_dirty: bool = False,
                  progress: Callable[[IterationRecord], None] | None = None,
                  read: Callable[[str], bytes] | None = None) -> str:
    """Train ``loaded`` with the engine inside a tracked run; the run id (``progress`` sees every iteration)."""
    from qspec.quantum import train

    with tracked_run(loaded, tracking=tracking, git_commit=git_commit, git_dirty=git_dirty) as recorder:
        def both(record: IterationRecord) -> None:
            recorder.record(record)
            if progress is not None:
                progress(record)

        recorder.log_result(train(loaded.resource, root=root, read=read, progress=both))
    return recorder.run_id
