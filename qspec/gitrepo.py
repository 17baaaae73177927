"""The one place qspec opens git: the repository that holds the specs, read through gitpython.

    repo = GitRepo.open(root)        None when ``root`` is not in a git repository
    repo.head                        the HEAD commit, None before the first commit
    repo.changes(paths, data_files)  spec and data files that differ from HEAD (the dirty guard)
    repo.tracks(path)                whether git tracks a file (csv data sets must be tracked)
    repo.source(paths, rev)          a ``SpecSource`` reading blobs at a revision, work tree untouched
    RefResolver(repo, paths)         the ``ref:`` stage resolver that ``plan.desired_state`` is given

Git is the desired state, so everything qspec asks of it goes through one ``git.Repo`` per
command, opened here. Only ``qspec.api`` (the wiring) imports this module; ``qspec.spec`` and
``qspec.plan`` never touch git (import-linter checks it), which keeps validation and diffing pure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qspec.errors import QspecError, RevisionError, SourceError
from qspec.plan.desired import ResolvedSpec
from qspec.spec.load import SpecSet, load_source
from qspec.spec.source import SPEC_SUFFIXES, SpecSource

if TYPE_CHECKING:
    import git


class GitRepo:
    """One open repository (``git.Repo``), shared by everything a command reads from git."""

    def __init__(self, repo: git.Repo, root: Path) -> None:
        self.repo = repo
        self.root = root
        self._tracked: dict[str, bool] = {}

    @classmethod
    def open(cls, root: Path) -> GitRepo | None:
        import git

        try:
            return cls(git.Repo(root), root)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            return None

    @property
    def head(self) -> str | None:
        try:
            return str(self.repo.head.commit.hexsha)
        except ValueError:  # a repository with no commit yet
            return None

    def changes(self, paths: Sequence[str], data_files: Sequence[str] = ()) -> tuple[str, ...]:
        """The uncommitted changes (modified, staged or untracked) among the files qspec reads: spec
        files (*.yaml, *.yml) under ``paths``, and ``data_files``; editor swap files or notes beside
        the specs do not count. ``-z`` keeps paths unquoted (git quotes spaces and non-ASCII names in
        the plain format, which a suffix check would miss)."""
        watched = [*paths, *data_files]
        if not watched:
            return ()
        status = self.repo.git.status("--porcelain", "-z", "--untracked-files=all", "--", *watched)
        changed: list[str] = []
        entries = iter(status.split("\0"))
        for entry in entries:
            if len(entry) < 4:
                continue
            changed.append(entry[3:])
            if entry[0] in "RC":  # a rename or copy is followed by its original path
                next(entries, None)
        return tuple(sorted(p for p in changed if p.endswith(SPEC_SUFFIXES) or p in data_files))

    def tracks(self, path: str) -> bool:
        """Whether git tracks ``path`` (repository-relative): it is in the index, as ``git add`` puts
        it. An untracked or ignored file is not; a tracked file's uncommitted changes are the dirty
        guard's business. The path is a literal, never a pattern."""
        if path not in self._tracked:
            listed = self.repo.git.ls_files("-z", "--", f":(literal){path}")
            self._tracked[path] = path in listed.split("\0")
        return self._tracked[path]

    def commit(self, ref: str) -> Any:
        """The commit ``ref`` names, with git's own syntax (HEAD@{yesterday}, :/message, v1.0~2)."""
        import git

        try:
            try:
                sha = self.repo.git.rev_parse("--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
            except git.GitCommandError:  # ":/message" takes no suffix: resolve it bare, then peel
                sha = self.repo.git.rev_parse("--verify", "--quiet", "--end-of-options", ref)
            commit = self.repo.commit(sha)
            if commit.type != "commit":
                raise ValueError(ref)
        except (git.GitCommandError, git.BadName, ValueError) as exc:
            raise RevisionError(
                f"git revision {ref!r} does not resolve",
                hint="name a branch, tag or commit that exists (git fetch --tags if it is remote)",
            ) from exc
        return commit

    def source(self, paths: Sequence[str], rev: str) -> GitSource:
        """The spec files under ``paths`` (repository-relative) as they are at ``rev``."""
        commit = self.commit(rev)
        return GitSource(list(paths), self.root, str(commit.hexsha), ref=rev, tree=commit.tree)


def open_repo(root: Path, *, required_for: str | None = None) -> GitRepo | None:
    """``GitRepo.open``; with ``required_for`` a missing repository is an error saying what needed it."""
    repo = GitRepo.open(root)
    if repo is None and required_for is not None:
        raise SourceError(f"{root} is not a git repository", hint=f"{required_for} needs the specs to be in a git "
                          "repository")
    return repo


@dataclass
class GitSource:
    """Spec files as they are at a git revision, read from blobs (implements ``SpecSource``)."""

    paths: Sequence[str]
    root: Path
    revision: str | None
    ref: str = ""
    tree: Any = field(default=None, repr=False)

    def _entry(self, path: str) -> Any:
        try:
            return self.tree / path if path not in ("", ".") else self.tree
        except KeyError:
            return None

    def files(self) -> list[str]:
        found: list[str] = []
        for path in self.paths:
            entry = self._entry(path)
            if entry is None:
                raise SourceError(f"{path} does not exist at revision {self.ref}")
            if entry.type == "blob":
                found.append(entry.path)
                continue
            for item in entry.traverse():
                if (
                    item.type == "blob"
                    and item.path.endswith(SPEC_SUFFIXES)
                    and not any(p.startswith(".") for p in item.path.split("/"))
                ):
                    found.append(item.path)
        return sorted(dict.fromkeys(found))

    def read(self, path: str) -> bytes:
        entry = self._entry(path)
        if entry is None or entry.type != "blob":
            raise SourceError(f"{path} does not exist at revision {self.ref}")
        data: bytes = entry.data_stream.read()
        return data

    def exists(self, path: str) -> bool:
        entry = self._entry(path)
        return entry is not None and entry.type == "blob"

    def describe(self) -> str:
        return f"revision {self.ref} ({(self.revision or '')[:12]})"


class RefResolver:
    """Reads the spec repository at a git ref (a ``ref:`` stage, ``plan --base``), once per ref."""

    def __init__(self, repo: GitRepo, paths: Sequence[str]) -> None:
        self.repo = repo
        self.paths = list(paths)
        self._cache: dict[str, tuple[SpecSource, SpecSet] | QspecError] = {}

    def _at(self, ref: str) -> tuple[SpecSource, SpecSet]:
        if ref not in self._cache:
            try:
                source = self.repo.source(self.paths, ref)
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
