"""``MlflowRegistry``: the ``Registry`` protocol over an MLflow tracking server and model registry.

Called by ``qspec.api`` (plan, apply, status). A snapshot reads everything in pages, so a plan
makes O(pages) calls whatever the number of models: experiments, then the runs tagged
``qspec.managed=true`` across all of them, then registered models (tags and aliases), then model
versions. Deployment stages are aliases (MLflow 3): the stage API is never used. Every client call
goes through ``_call`` and is counted in ``calls`` (the benchmark and tests assert on it). The
connection helpers it needs come from ``qspec.store``, shared with ``qspec.tracking``, which this
adapter never imports.

Claims (``qspec.apply.claims``) are registered models named ``qspec-claim.<spec hash>.<generation>``
with their fields as tags: ``create_registered_model`` with its tags is one insert, and a second
one of the same name fails with RESOURCE_ALREADY_EXISTS, in the SQL store and over HTTP alike,
which ``create_claim`` turns into False. ``snapshot`` leaves claim models out.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException

from qspec import tags as tag
from qspec.apply.ports import ClaimInfo
from qspec.errors import TrackingError
from qspec.plan.state import ActualState, RegisteredModelInfo, RunInfo, VersionInfo
from qspec.store import using_tracking_uri

# MLflow's own ceilings for one page (store/model_registry and store/tracking __init__).
MAX_MODELS_PAGE = 1000
MAX_VERSIONS_PAGE = 10_000
MAX_RUNS_PAGE = 10_000
MAX_EXPERIMENTS_PAGE = 1000

#: The MLflow 3 logged model of a run, as ``qspec.tracking`` tags it; a version registers that model.
_MODEL_ID = re.compile(r"^models:/(m-[0-9a-f]+)$")


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class MlflowRegistry:
    def __init__(self, client: MlflowClient | None = None, *, tracking_uri: str | None = None,
                 registry_uri: str | None = None, page_size: int | None = None,
                 version_metadata: Callable[[Any, str], Mapping[str, str]] | None = None) -> None:
        self.client = client or MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri)
        # Descriptive tags a new version also carries (qspec.tracking.model.version_tags: qubits,
        # device, optimizer, accuracy ...), read from its run; the reconciler's own tags win.
        self.version_metadata = version_metadata
        self.page_size = page_size  # None: MLflow's largest page; tests shrink it to exercise paging
        self.calls: Counter[str] = Counter()

    @property
    def call_count(self) -> int:
        return sum(self.calls.values())

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        self.calls[method] += 1
        try:
            return getattr(self.client, method)(*args, **kwargs)
        except MlflowException as exc:
            raise TrackingError(f"MLflow {method} failed: {exc.message}",
                                hint="check --tracking-uri and that the store is reachable") from exc

    def _pages(self, method: str, limit: int, **kwargs: Any) -> Iterator[Any]:
        size = min(self.page_size or limit, limit)
        token: str | None = None
        while True:
            page = self._call(method, max_results=size, page_token=token, **kwargs)
            yield from page
            token = page.token
            if not token:
                return

    # --- reads ------------------------------------------------------------------------------------

    def snapshot(self) -> ActualState:
        runs = tuple(self._managed_runs(None))
        models: dict[str, dict[str, Any]] = {}
        for rm in self._pages("search_registered_models", MAX_MODELS_PAGE):
            if tag.is_claim_model(rm.name):  # qspec's training claims: no model of anyone's
                continue
            models[rm.name] = {"tags": dict(rm.tags or {}), "aliases": _aliases(rm), "versions": [],
                               "description": rm.description or None}
        for mv in self._pages("search_model_versions", MAX_VERSIONS_PAGE):
            if mv.name in models:  # a version created between the two reads belongs to the next plan
                models[mv.name]["versions"].append(_version(mv))
        infos = {
            name: RegisteredModelInfo(name, m["tags"], tuple(sorted(m["versions"], key=lambda v: v.version)),
                                      m["aliases"], m["description"])
            for name, m in models.items()
        }
        return ActualState(models=infos, runs=runs)

    def _experiment_ids(self) -> list[str]:
        return [e.experiment_id for e in self._pages("search_experiments", MAX_EXPERIMENTS_PAGE,
                                                      view_type=ViewType.ACTIVE_ONLY)]

    def _managed_runs(self, spec_hash: str | None) -> Iterator[RunInfo]:
        ids = self._experiment_ids()
        if not ids:
            return
        query = f"tags.`{tag.MANAGED}` = 'true'"
        if spec_hash is not None:
            query += f" and tags.`{tag.SPEC_HASH}` = {_quote(spec_hash)}"
        for run in self._pages("search_runs", MAX_RUNS_PAGE, experiment_ids=ids, filter_string=query,
                               run_view_type=ViewType.ACTIVE_ONLY, order_by=["attributes.start_time ASC"]):
            yield _run(run)

    def get_model(self, name: str) -> RegisteredModelInfo | None:
        try:
            self.calls["get_registered_model"] += 1
            rm = self.client.get_registered_model(name)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise TrackingError(f"MLflow get_registered_model failed: {exc.message}") from exc
        versions = [_version(mv) for mv in self._pages("search_model_versions", MAX_VERSIONS_PAGE,
                                                         filter_string=f"name = {_quote(name)}")]
        return RegisteredModelInfo(name, dict(rm.tags or {}), tuple(sorted(versions, key=lambda v: v.version)),
                                   _aliases(rm), rm.description or None)

    def runs_for(self, spec_hash: str) -> list[RunInfo]:
        return list(self._managed_runs(spec_hash))

    def get_run(self, run_id: str) -> RunInfo | None:
        try:
            self.calls["get_run"] += 1
            return _run(self.client.get_run(run_id))
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise TrackingError(f"MLflow get_run failed: {exc.message}") from exc

    # --- writes -----------------------------------------------------------------------------------

    def create_model(self, name: str, tags: Mapping[str, str]) -> None:
        self._call("create_registered_model", name, tags=dict(tags))

    def register_version(self, name: str, run: RunInfo, tags: Mapping[str, str]) -> int:
        if self.version_metadata is not None:
            tags = {**self.version_metadata(self.client, run.run_id), **tags}
        source = run.model_uri or f"runs:/{run.run_id}/model"
        match = _MODEL_ID.match(source)
        if match is None:
            mv = self._call("create_model_version", name, source, run_id=run.run_id, tags=dict(tags))
            return int(mv.version)
        # MLflow's SQL registry looks ``models:/<id>`` up through the process-wide tracking URI
        # (a TODO in its sqlalchemy_store), not through this client's: point it at ours meanwhile.
        with using_tracking_uri(str(self.client.tracking_uri)):
            mv = self._call("create_model_version", name, source, run_id=run.run_id, tags=dict(tags),
                            model_id=match.group(1))
        return int(mv.version)

    def delete_version(self, name: str, version: int) -> None:
        self._call("delete_model_version", name, str(version))

    def set_alias(self, name: str, alias: str, version: int) -> None:
        self._call("set_registered_model_alias", name, alias, str(version))

    def delete_alias(self, name: str, alias: str) -> None:
        self._call("delete_registered_model_alias", name, alias)

    def set_model_tags(self, name: str, tags: Mapping[str, str]) -> None:
        for key, value in tags.items():
            self._call("set_registered_model_tag", name, key, value)

    def delete_model_tag(self, name: str, key: str) -> None:
        self._call("delete_registered_model_tag", name, key)

    def set_model_description(self, name: str, description: str) -> None:
        self._call("update_registered_model", name, description=description)

    def set_version_tags(self, name: str, version: int, tags: Mapping[str, str]) -> None:
        for key, value in tags.items():
            self._call("set_model_version_tag", name, str(version), key, value)

    def mark_run_failed(self, run_id: str) -> None:
        """End the run FAILED, and fail the logged models it left PENDING (a kill between creating the
        logged model and its upload leaves one; MLflow finalizes it only when the upload returns)."""
        self._call("set_terminated", run_id, status="FAILED")
        run = self._call("get_run", run_id)
        # (A filter on ``status`` matches nothing in MLflow 3's SQL store: the status is compared here.)
        for model in self._pages("search_logged_models", 100, experiment_ids=[run.info.experiment_id],
                                 filter_string=f"source_run_id = {_quote(run_id)}"):
            if str(model.status) == "PENDING":
                self._call("finalize_logged_model", model.model_id, "FAILED")

    # --- claims -----------------------------------------------------------------------------------

    def claims_for(self, spec_hash: str) -> list[ClaimInfo]:
        prefix = tag.claim_model_name(spec_hash, 0)[:-1]  # "qspec-claim.<hash>."
        found = []
        for rm in self._pages("search_registered_models", MAX_MODELS_PAGE,
                              filter_string=f"name LIKE {_quote(prefix + '%')}"):
            claim = _claim(rm, spec_hash, prefix)
            if claim is not None:
                found.append(claim)
        return sorted(found, key=lambda c: c.generation)

    def create_claim(self, claim: ClaimInfo) -> bool:
        tags = {tag.CLAIM: tag.TRUE, tag.CLAIM_HASH: claim.spec_hash, tag.CLAIM_HOLDER: claim.holder,
                tag.CLAIM_PROCESS: claim.process, tag.CLAIM_EXPIRES: _seconds(claim.expires)}
        if claim.run_id:
            tags[tag.CLAIM_RUN_ID] = claim.run_id
        try:
            self.calls["create_registered_model"] += 1
            self.client.create_registered_model(tag.claim_model_name(claim.spec_hash, claim.generation), tags=tags)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_ALREADY_EXISTS":
                return False
            raise TrackingError(f"MLflow create_registered_model failed: {exc.message}") from exc
        return True

    def renew_claim(self, spec_hash: str, generation: int, *, expires: float, run_id: str | None = None) -> bool:
        name = tag.claim_model_name(spec_hash, generation)
        updates = {tag.CLAIM_EXPIRES: _seconds(expires), **({tag.CLAIM_RUN_ID: run_id} if run_id else {})}
        try:
            for key, value in updates.items():
                self.calls["set_registered_model_tag"] += 1
                self.client.set_registered_model_tag(name, key, value)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return False
            raise TrackingError(f"MLflow set_registered_model_tag failed: {exc.message}") from exc
        return True

    def delete_claim(self, spec_hash: str, generation: int) -> None:
        try:
            self.calls["delete_registered_model"] += 1
            self.client.delete_registered_model(tag.claim_model_name(spec_hash, generation))
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise TrackingError(f"MLflow delete_registered_model failed: {exc.message}") from exc


def _seconds(value: float) -> str:
    return f"{value:.3f}"


def _claim(rm: Any, spec_hash: str, prefix: str) -> ClaimInfo | None:
    """A claim model as a record; None for a name that only looks like one (LIKE matched more)."""
    generation = rm.name[len(prefix):]
    tags = dict(rm.tags or {})
    if not rm.name.startswith(prefix) or not generation.isdigit() or tags.get(tag.CLAIM) != tag.TRUE:
        return None
    try:
        expires = float(tags.get(tag.CLAIM_EXPIRES, ""))
    except ValueError:
        # It is written with the claim, in the same insert: only a hand edit leaves it unreadable,
        # and such a claim reads as expired rather than held forever.
        expires = 0.0
    return ClaimInfo(spec_hash=spec_hash, generation=int(generation),
                     holder=tags.get(tag.CLAIM_HOLDER, ""), expires=expires,
                     process=tags.get(tag.CLAIM_PROCESS, ""), run_id=tags.get(tag.CLAIM_RUN_ID) or None)


def _aliases(rm: Any) -> dict[str, int]:
    raw = rm.aliases or {}
    if isinstance(raw, Mapping):
        return {str(a): int(v) for a, v in raw.items()}
    return {str(a.alias): int(a.version) for a in raw}  # older entities: a list of alias records


def _version(mv: Any) -> VersionInfo:
    status = mv.status if isinstance(mv.status, str) else str(mv.status)
    return VersionInfo(int(mv.version), mv.run_id or None, dict(mv.tags or {}), status, mv.source)


def _run(run: Any) -> RunInfo:
    tags = {k: v for k, v in (run.data.tags or {}).items() if tag.is_qspec_tag(k)}
    return RunInfo(
        run_id=run.info.run_id,
        spec_hash=tags.get(tag.SPEC_HASH),
        status=run.info.status,
        metrics=dict(run.data.metrics or {}),
        tags=tags,
        start_time=run.info.start_time,
        experiment_id=run.info.experiment_id,
        model_uri=f"models:/{tags[tag.MODEL_ID]}" if tag.MODEL_ID in tags else None,
    )

