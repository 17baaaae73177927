"""Where spec files are read from: the work tree, or a git revision (without touching the work tree).

A source lists spec files and reads any file of the repository by its repository-relative path
(spec files, and the csv data sets they name). Paths are POSIX and relative to the repository
root, which is also how errors and GitHub annotations name files. ``gitpython`` is imported only
when a revision is asked for, so ``qspec validate`` on the work tree stays light.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from qspec.errors import RevisionError, SourceError

SPEC_SUFFIXES = (".yaml", ".yml")


class SpecSource(Protocol):
    root: Path
    revision: str | None

    def files(self) -> list[str]: ...

    def read(self, path: str) -> bytes: ...

    def exists(self, path: str) -> bool: ...

    def describe(self) -> str: ...


def find_root(start: Path) -> Path:
    """The git work tree containing ``start``, else the current directory."""
    start = start.resolve()
    for candidate in (start, *start.parents):
        if (candidate / ".git").exists():
            return candidate
    return Path.cwd().resolve()


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return Path(os.path.relpath(path.resolve(), root)).as_posix()


@dataclass
class WorkTreeSource:
    """Spec files as they are on disk."""

    paths: Sequence[Path]
    root: Path
    revision: str | None = None
    _listed: set[str] = field(default_factory=set, repr=False)

    def files(self) -> list[str]:
        found: list[str] = []
        for path in self.paths:
            if path.is_file():
                found.append(_relative(path, self.root))
            elif path.is_dir():
                prefix = _relative(path, self.root)  # resolved once, not per file
                for sub in sorted(path.rglob("*")):
                    rel = sub.relative_to(path)
                    if sub.suffix in SPEC_SUFFIXES and not any(p.startswith(".") for p in rel.parts) \
                            and sub.is_file():
                        found.append(rel.as_posix() if prefix == "." else f"{prefix}/{rel.as_posix()}")
            else:
                raise SourceError(
                    f"{path} does not exist", hint="pass a spec directory or file, e.g. qspec validate specs/"
                )
        self._listed.update(found)
        return sorted(dict.fromkeys(found))

    def _full(self, path: str) -> Path:
        full = (self.root / path).resolve()
        # Spec files named on the command line may lie anywhere; any other path (a csv data set)
        # must stay in the repository, and a symlink must not lead it out.
        if path not in self._listed and os.path.commonpath([full, self.root.resolve()]) != str(self.root.resolve()):
            raise SourceError(f"{path} resolves outside the repository")
        return full

    def read(self, path: str) -> bytes:
        try:
            full = self.root / path if path in self._listed else self._full(path)
            return full.read_bytes()
        except OSError as exc:
            raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from exc

    def exists(self, path: str) -> bool:
        try:
            return self._full(path).is_file()
        except SourceError:
            return False

    def describe(self) -> str:
        return "the work tree"


@dataclass
class GitSource:
    """Spec files as they are at a git revision, read from blobs."""

    paths: Sequence[str]
    root: Path
    revision: str | None
    ref: str = ""
    _tree: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        import git  # deferred: only revisions need gitpython

        try:
            repo = git.Repo(self.root)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
            raise SourceError(
                f"{self.root} is not a git repository", hint="--rev needs the specs to be in a git repository"
            ) from exc
        try:
            # git's own rev-parse, so every form git accepts works (HEAD@{yesterday}, :/message, v1.0~2)
            # and anything it refuses is one clear error rather than a gitpython exception.
            try:
                sha = repo.git.rev_parse("--verify", "--quiet", "--end-of-options", f"{self.ref}^{{commit}}")
            except git.GitCommandError:  # ":/message" takes no suffix: resolve it bare, then peel
                sha = repo.git.rev_parse("--verify", "--quiet", "--end-of-options", self.ref)
            commit = repo.commit(sha)
            if commit.type != "commit":
                raise ValueError(self.ref)
        except (git.GitCommandError, git.BadName, ValueError) as exc:
            raise RevisionError(
                f"git revision {self.ref!r} does not resolve",
                hint="name a branch, tag or commit that exists (git fetch --tags if it is remote)",
            ) from exc
        self.revision = commit.hexsha
        self._tree = commit.tree

    def _entry(self, path: str) -> Any:
        try:
            return self._tree / path if path not in ("", ".") else self._tree
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


def open_source(paths: Sequence[str | Path] | None = None, *, rev: str | None = None,
                root: Path | None = None) -> SpecSource:
    """The work tree's specs, or (with ``rev``) the same paths at a git revision."""
    given = [Path(p) for p in (paths or ["specs"])]
    if root is not None:  # relative paths are then relative to the given repository root
        given = [p if p.is_absolute() else root / p for p in given]
    base = root.resolve() if root else find_root(given[0] if given[0].exists() else Path.cwd())
    if rev is None:
        return WorkTreeSource(given, base)
    rel = [_relative(p if p.is_absolute() else Path.cwd() / p, base) for p in given]
    return GitSource(rel, base, None, ref=rev)
