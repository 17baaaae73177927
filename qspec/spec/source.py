"""Where spec files are read from: the ``SpecSource`` protocol and the work tree's source.

A source lists spec files and reads any file of the repository by its repository-relative path
(spec files, and the csv data sets they name). Paths are POSIX and relative to the repository
root, which is also how errors and GitHub annotations name files. The other source, a git
revision read from blobs, is ``qspec.gitrepo.GitSource``: git is an adapter, and this package
never imports it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from qspec.errors import SourceError

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


def repo_path(path: Path, root: Path) -> str:
    """``path`` as the repository at ``root`` names it (POSIX, relative; ``../`` when outside)."""
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
                found.append(repo_path(path, self.root))
            elif path.is_dir():
                prefix = repo_path(path, self.root)  # resolved once, not per file
                for sub in sorted(path.rglob("*")):
                    rel = sub.relative_to(path)
                    if sub.suffix in SPEC_SUFFIXES and not any(p.startswith(".") for p in rel.parts) \
                            and sub.is_file():
                        found.append(rel.as_posix() if prefix == "." else f"{prefix}/{rel.as_posix()}")
            else:
                shown = repo_path(path, self.root) if path.is_absolute() else str(path)
                raise SourceError(
                    f"{shown} does not exist", hint="pass a spec directory or file, e.g. qspec validate specs/"
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


#: The spec directory when none is named: ``specs/`` at the repository root, from any folder in it.
DEFAULT_SPECS = "specs"


def open_source(paths: Sequence[str | Path] | None = None, *, root: Path | None = None) -> WorkTreeSource:
    """The spec files under ``paths`` as they are in the work tree (a git revision is read through
    ``qspec.gitrepo``, which ``qspec.api`` wires in: this package never imports git).

    Paths named are relative to the current directory, as on any command line (or to ``root`` when
    it is given); with none, the specs are ``specs/`` at the root of the repository the current
    directory is in, so ``qspec plan`` means the same from the root, from ``specs/`` or any folder.
    """
    if not paths:
        base = root.resolve() if root else find_root(Path.cwd())
        return WorkTreeSource([base / DEFAULT_SPECS], base)
    given = [Path(p) for p in paths]
    if root is not None:  # relative paths are then relative to the given repository root
        given = [p if p.is_absolute() else root / p for p in given]
    base = root.resolve() if root else find_root(given[0] if given[0].exists() else Path.cwd())
    return WorkTreeSource(given, base)
