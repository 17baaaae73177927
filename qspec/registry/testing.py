"""Real MLflow stores for tests and benchmarks: a fresh SQLite store in a folder, and seeding helpers.

Used by tests (the ``store_uri`` fixture of tests/conftest.py, tests/registry, tests/apply) and
benchmarks/bench_plan.py. Creating an MLflow SQLite database runs its migrations (about a
second), so the first store of a process is built once as a template and every later one is a
file copy. Imports mlflow; nothing in qspec's runtime path imports this module.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from qspec import tags as tag

_TEMPLATE: Path | None = None


def import_mlflow_stores() -> None:
    """Import MLflow's SQL stores with SQLAlchemy 2.1's deprecation of ``noload`` silenced.

    MLflow 3.x maps one relationship with ``lazy="noload"``; SQLAlchemy 2.1 warns about it when the
    mappers are configured, at import. It is MLflow's code, not ours, and the test run treats
    warnings as errors, so the import happens here once, under a filter for exactly that message.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*``noload`` loader strategy is deprecated.*")
        import mlflow.store.model_registry.sqlalchemy_store
        import mlflow.store.tracking.sqlalchemy_store  # noqa: F401


def sqlite_store(folder: Path) -> str:
    """A fresh, empty MLflow SQLite store in ``folder``; returns its URI (tracking and registry)."""
    global _TEMPLATE
    import_mlflow_stores()
    folder.mkdir(parents=True, exist_ok=True)
    if _TEMPLATE is None or not _TEMPLATE.exists():
        from mlflow import MlflowClient

        scratch = tempfile.mkdtemp(prefix="qspec-mlflow-template-")
        atexit.register(shutil.rmtree, scratch, True)
        template = Path(scratch) / "mlflow.db"
        MlflowClient(tracking_uri=f"sqlite:///{template}", registry_uri=f"sqlite:///{template}").search_experiments()
        _TEMPLATE = template
    target = folder / "mlflow.db"
    shutil.copyfile(_TEMPLATE, target)
    return f"sqlite:///{target}"


def client_for(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def managed_tags(spec_hash: str, experiment: str, commit: str = "c0ffee") -> dict[str, str]:
    return {tag.MANAGED: "true", tag.SPEC_HASH: spec_hash, tag.SPEC_NAME: experiment,
            tag.SPEC_PATH: f"specs/{experiment}.yaml", tag.GIT_COMMIT: commit}


def seed_run(client: Any, experiment_id: str, spec_hash: str, *, experiment: str = "exp",
             metrics: Mapping[str, float] | None = None, status: str = "FINISHED",
             tags: Mapping[str, str] | None = None, start_time: int | None = None) -> str:
    """A run as qspec's trainer leaves it: tagged, with final metrics, terminated with ``status``.

    ``start_time`` (ms): runs seeded within one millisecond would otherwise tie on it, and
    "oldest first" would not say which came first."""
    from mlflow.entities import Metric

    all_tags = {**managed_tags(spec_hash, experiment), **(tags or {})}
    run = client.create_run(experiment_id, start_time=start_time, tags=all_tags)
    run_id: str = run.info.run_id
    if metrics:
        client.log_batch(run_id, metrics=[Metric(k, float(v), 0, 0) for k, v in metrics.items()])
    if status != "RUNNING":
        client.set_terminated(run_id, status=status)
    return run_id


def seed_version(client: Any, model: str, run_id: str, spec_hash: str, experiment: str = "exp") -> int:
    mv = client.create_model_version(model, f"runs:/{run_id}/model", run_id=run_id,
                                     tags=managed_tags(spec_hash, experiment))
    return int(mv.version)
