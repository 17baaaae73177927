"""``GitRefResolver``: the real ``ref:`` stage resolver for ``qspec.plan.desired.desired_state``.

It reads the spec repository at a git ref (``load_specs(..., rev=ref)``, gitpython underneath)
and returns the Model's experiment as it was there. Kept out of ``qspec.plan`` so that planning
stays pure; ``qspec.api`` builds one per command and hands it to ``desired_state``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from qspec.errors import QspecError
from qspec.plan.desired import ResolvedSpec
from qspec.spec.load import SpecSet, load_source
from qspec.spec.source import SpecSource, open_source


class GitRefResolver:
    def __init__(self, paths: Sequence[str | Path] | None = None, *, root: Path | None = None) -> None:
        self.paths = paths
        self.root = root
        self._cache: dict[str, tuple[SpecSource, SpecSet] | QspecError] = {}  # a ref is read once per command

    def _at(self, ref: str) -> tuple[SpecSource, SpecSet]:
        if ref not in self._cache:
            try:
                source = open_source(self.paths, rev=ref, root=self.root)
                self._cache[ref] = (source, load_source(source))
            except QspecError as exc:
                self._cache[ref] = exc
        found = self._cache[ref]
        if isinstance(found, QspecError):
            raise found
        return found

    def specs_at(self, ref: str) -> SpecSet:
        return self._at(ref)[1]

    def reader_at(self, ref: str) -> Callable[[str], bytes]:
        """Reads repository files as they are at ``ref`` (csv data sets of a spec trained there)."""
        return self._at(ref)[0].read

    def __call__(self, ref: str, model: str, experiment: str) -> ResolvedSpec | None:
        """The experiment the Model ``model`` used at ``ref`` (or, when the Model did not exist there,
        the experiment named ``experiment``); None when neither is declared at ``ref``. Raises
        ``SourceError`` when the ref does not resolve, ``SpecError`` when the specs there are invalid."""
        specs = self.specs_at(ref)
        at_ref = specs.models.get(model)
        name = at_ref.resource.spec.experiment if at_ref is not None else experiment
        loaded = specs.experiments.get(name)
        if loaded is None:
            return None
        return ResolvedSpec(loaded.hash, loaded.resource, loaded.file, specs.revision)
