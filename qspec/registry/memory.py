"""``MemoryRegistry``: an in-memory registry implementing ``qspec.apply.ports.Registry``.

The fake that ships with the protocol (httpx's ``MockTransport``): tests of ``qspec.apply`` and
``qspec.api`` use it to run the reconciler in milliseconds, and seed it with ``add_run`` /
``add_model`` to stage any registry a test needs (hand edits included). It behaves as
``MlflowRegistry`` over a real store does, failures included, and tests/registry/test_contract.py
holds the two to it: version numbers grow per model and are never reused, deleting a version
drops the aliases that point at it, and a missing model, version or run, or a model that already
exists, raises ``TrackingError`` where the MLflow adapter does (deleting an alias or a tag that is
not there is no error, as in MLflow). Claims are kept apart from models, as the MLflow adapter
keeps them out of ``snapshot``; creating one is atomic under a lock (a heartbeat thread renews
claims while the main thread works), and a name that exists is refused, as MLflow refuses it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from qspec import tags as tag
from qspec.apply.ports import ClaimInfo, TrainRequest
from qspec.errors import TrackingError
from qspec.plan.state import ActualState, RegisteredModelInfo, RunInfo, VersionInfo


@dataclass
class _Model:
    tags: dict[str, str] = field(default_factory=dict)
    versions: dict[int, VersionInfo] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    next_version: int = 1
    description: str | None = None


class MemoryRegistry:
    def __init__(self) -> None:
        self.models: dict[str, _Model] = {}
        self.runs: dict[str, RunInfo] = {}
        self.claims: dict[tuple[str, int], ClaimInfo] = {}  # (spec hash, generation) -> claim
        self.calls: list[str] = []  # every protocol call, in order, for tests to assert on
        self._clock = 0
        self._lock = threading.Lock()

    # --- seeding (tests) ----------------------------------------------------------------------

    def add_run(self, spec_hash: str, *, status: str = "FINISHED", metrics: Mapping[str, float] | None = None,
                tags: Mapping[str, str] | None = None, run_id: str | None = None) -> RunInfo:
        self._clock += 1
        run_id = run_id or f"run{len(self.runs) + 1}"
        all_tags = {tag.MANAGED: "true", tag.SPEC_HASH: spec_hash, **(tags or {})}
        run = RunInfo(run_id, spec_hash, status, dict(metrics or {}), all_tags, start_time=self._clock)
        self.runs[run_id] = run
        return run

    def add_model(self, name: str, *, managed: bool = True, tags: Mapping[str, str] | None = None) -> None:
        base = {tag.MANAGED: "true"} if managed else {}
        self.models[name] = _Model(tags={**base, **(tags or {})})

    # --- Registry protocol ----------------------------------------------------------------------

    def snapshot(self) -> ActualState:
        self.calls.append("snapshot")
        models = {name: self._info(name) for name in self.models}
        runs = tuple(r for r in self.runs.values() if r.tags.get(tag.MANAGED) == "true")
        return ActualState(models=models, runs=runs)

    def _info(self, name: str) -> RegisteredModelInfo:
        model = self.models[name]
        versions = tuple(model.versions[v] for v in sorted(model.versions))
        return RegisteredModelInfo(name, dict(model.tags), versions, dict(model.aliases), model.description)

    def get_model(self, name: str) -> RegisteredModelInfo | None:
        self.calls.append(f"get_model {name}")
        return self._info(name) if name in self.models else None

    def runs_for(self, spec_hash: str) -> list[RunInfo]:
        self.calls.append(f"runs_for {spec_hash[:12]}")
        found = [r for r in self.runs.values() if r.spec_hash == spec_hash and r.tags.get(tag.MANAGED) == "true"]
        return sorted(found, key=lambda r: (r.start_time or 0, r.run_id))

    def get_run(self, run_id: str) -> RunInfo | None:
        self.calls.append(f"get_run {run_id}")
        return self.runs.get(run_id)

    def _model(self, name: str) -> _Model:
        if name not in self.models:
            raise TrackingError(f"registered model {name!r} does not exist")
        return self.models[name]

    def _model_with(self, name: str, version: int) -> _Model:
        model = self._model(name)
        if version not in model.versions:
            raise TrackingError(f"{name} has no version {version}")
        return model

    def create_model(self, name: str, tags: Mapping[str, str]) -> None:
        self.calls.append(f"create_model {name}")
        if name in self.models:
            raise TrackingError(f"registered model {name!r} already exists")
        self.models[name] = _Model(tags=dict(tags))

    def register_version(self, name: str, run: RunInfo, tags: Mapping[str, str]) -> int:
        self.calls.append(f"register_version {name} {run.run_id}")
        model = self._model(name)
        number = model.next_version
        model.next_version += 1
        source = run.model_uri or f"runs:/{run.run_id}/model"
        model.versions[number] = VersionInfo(number, run.run_id, dict(tags), "READY", source)
        return number

    def delete_version(self, name: str, version: int) -> None:
        self.calls.append(f"delete_version {name} {version}")
        model = self._model_with(name, version)
        del model.versions[version]
        model.aliases = {a: v for a, v in model.aliases.items() if v != version}

    def set_alias(self, name: str, alias: str, version: int) -> None:
        self.calls.append(f"set_alias {name}@{alias} {version}")
        self._model_with(name, version).aliases[alias] = version

    def delete_alias(self, name: str, alias: str) -> None:
        self.calls.append(f"delete_alias {name}@{alias}")
        self._model(name).aliases.pop(alias, None)

    def set_model_tags(self, name: str, tags: Mapping[str, str]) -> None:
        self.calls.append(f"set_model_tags {name}")
        self._model(name).tags.update(tags)

    def delete_model_tag(self, name: str, key: str) -> None:
        self.calls.append(f"delete_model_tag {name} {key}")
        self._model(name).tags.pop(key, None)

    def set_model_description(self, name: str, description: str) -> None:
        self.calls.append(f"set_model_description {name}")
        self._model(name).description = description

    def set_version_tags(self, name: str, version: int, tags: Mapping[str, str]) -> None:
        self.calls.append(f"set_version_tags {name} {version}")
        model = self._model_with(name, version)
        current = model.versions[version]
        model.versions[version] = replace(current, tags={**current.tags, **tags})

    def mark_run_failed(self, run_id: str) -> None:
        self.calls.append(f"mark_run_failed {run_id}")
        if run_id not in self.runs:
            raise TrackingError(f"run {run_id!r} does not exist")
        self.runs[run_id] = replace(self.runs[run_id], status="FAILED")

    def claims_for(self, spec_hash: str) -> list[ClaimInfo]:
        self.calls.append(f"claims_for {spec_hash[:12]}")
        with self._lock:
            return sorted((c for (h, _), c in self.claims.items() if h == spec_hash), key=lambda c: c.generation)

    def create_claim(self, claim: ClaimInfo) -> bool:
        self.calls.append(f"create_claim {claim.spec_hash[:12]} {claim.generation}")
        with self._lock:
            key = (claim.spec_hash, claim.generation)
            if key in self.claims:
                return False
            self.claims[key] = claim
            return True

    def renew_claim(self, spec_hash: str, generation: int, *, expires: float, run_id: str | None = None) -> bool:
        self.calls.append(f"renew_claim {spec_hash[:12]} {generation}")
        with self._lock:
            current = self.claims.get((spec_hash, generation))
            if current is None:
                return False
            self.claims[(spec_hash, generation)] = replace(current, expires=expires, run_id=run_id or current.run_id)
            return True

    def delete_claim(self, spec_hash: str, generation: int) -> None:
        self.calls.append(f"delete_claim {spec_hash[:12]} {generation}")
        with self._lock:
            self.claims.pop((spec_hash, generation), None)

    # --- hand edits (tests of drift) --------------------------------------------------------------

    def edit_version_tag(self, name: str, version: int, key: str, value: str) -> None:
        model = self.models[name]
        current = model.versions[version]
        model.versions[version] = replace(current, tags={**current.tags, key: value})


class FakeTrainer:
    """The ``Trainer`` fake that goes with this registry: it trains instantly, adding a FINISHED run
    with the metrics given for its hash (0.95 accuracy by default); hashes in ``fail`` raise."""

    def __init__(self, registry: MemoryRegistry, metrics: Mapping[str, Mapping[str, float]] | None = None,
                 fail: set[str] | None = None) -> None:
        self.registry, self.metrics, self.fail = registry, dict(metrics or {}), fail or set()
        self.requests: list[TrainRequest] = []

    def __call__(self, request: TrainRequest) -> RunInfo:
        self.requests.append(request)
        if request.spec_hash in self.fail:
            raise RuntimeError("the simulator crashed")
        metrics = self.metrics.get(request.spec_hash, {"test_accuracy": 0.95})
        return self.registry.add_run(request.spec_hash, metrics=metrics,
                                     tags={tag.SPEC_NAME: request.experiment})
