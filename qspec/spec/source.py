"""Where spec files are read from: the ``SpecSource`` protocol and the work tree's source.

A source lists spec files and reads any file of the repository by its repository-relative path
(spec files, and the csv data sets they name). Paths are POSIX and relative to the repository
root, which is also how errors and GitHub annotations name files. The other source, a git
revision read from blobs, is ``qspec.gitrepo.GitSource``: git is an adapter, and this package
never imports it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
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


#: Whether git tracks a repository-relative path (in its index): True or False, None when the root
#: is not in a git repository. ``qspec.api.wiring`` gives the work tree source one from ``qspec.gitrepo``.
Tracked = Callable[[str], "bool | None"]

DATA_HINT = "point csv: at a data file that git tracks, e.g. csv:data/my-set.csv"


def _inside(path: Path, root: Path) -> bool:
    return os.path.commonpath([path, root]) == str(root)


@dataclass
class WorkTreeSource:
    """Spec files as they are on disk.

    Every file other than a spec file (a csv data set) is read only when it is one git versions:
    never under ``.git/``, never through a symlink that leaves the repository, and, inside a git
    repository (``tracked`` given), only a file git tracks, so that ``csv:.git/config`` or a
    git-ignored ``csv:.env`` is refused before a byte of it reaches a message. Outside a git
    repository (``qspec validate`` of a folder, ``apply --allow-dirty``) the first two rules hold and
    the third cannot be asked. A spec file found under a spec directory, or named inside the
    repository, that is a symlink leading out of it is refused too.
    """

    paths: Sequence[Path]
    root: Path
    revision: str | None = None
    tracked: Tracked | None = None
    _listed: set[str] = field(default_factory=set, repr=False)

    def files(self) -> list[str]:
        found: list[str] = []
        for path in self.paths:
            if path.is_file():
                self._refuse_escape(path)
                found.append(repo_path(path, self.root))
            elif path.is_dir():
                prefix = repo_path(path, self.root)  # resolved once, not per file
                for sub in sorted(path.rglob("*")):
                    rel = sub.relative_to(path)
                    if sub.suffix in SPEC_SUFFIXES and not any(p.startswith(".") for p in rel.parts) \
                            and sub.is_file():
                        self._refuse_escape(sub)
                        found.append(rel.as_posix() if prefix == "." else f"{prefix}/{rel.as_posix()}")
            else:
                shown = repo_path(path, self.root) if path.is_absolute() else str(path)
                raise SourceError(
                    f"{shown} does not exist", hint="pass a spec directory or file, e.g. qspec validate specs/"
                )
        self._listed.update(found)
        return sorted(dict.fromkeys(found))

    def _refuse_escape(self, path: Path) -> None:
        """A spec file that lies in the repository but is a symlink (or under one) leading out of it."""
        root = self.root.resolve()
        lexical = Path(os.path.abspath(path))
        if _inside(lexical, root) and not _inside(path.resolve(), root):
            shown = lexical.relative_to(root).as_posix()
            raise SourceError(f"{shown} is a symlink that leads out of the repository",
                              hint="keep spec files in the repository (copy the file in rather than linking it)")

    def _full(self, path: str) -> Path:
        full = (self.root / path).resolve()
        # Spec files named on the command line may lie anywhere; any other path (a csv data set)
        # must stay in the repository, and a symlink must not lead it out.
        if path not in self._listed and not _inside(full, self.root.resolve()):
            raise SourceError(f"{path} resolves outside the repository",
                              hint="keep data files inside the repository so that git versions them")
        return full

    def _check_data(self, path: str, full: Path) -> None:
        """The rules a data file must meet before it is read (see the class docstring)."""
        resolved = full.relative_to(self.root.resolve()).as_posix()
        if ".git" in PurePosixPath(path).parts or ".git" in PurePosixPath(resolved).parts:
            raise SourceError(f"{path} is inside .git/, git's own files, not a data set", hint=DATA_HINT)
        if self.tracked is None:
            return
        for name in dict.fromkeys((path, resolved)):
            if self.tracked(name) is False:
                shown = path if name == path else f"{path} (a link to {name})"
                raise SourceError(f"{shown} is not tracked by git (untracked or ignored): a data set must be "
                                  "versioned with the specs", hint=f"git add {name} and commit it")

    def read(self, path: str) -> bytes:
        if path in self._listed:
            full = self.root / path
        else:
            full = self._full(path)
            self._check_data(path, full)
        try:
            return full.read_bytes()
        except OSError as exc:
            raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from exc

    def exists(self, path: str) -> bool:
        """Whether ``path`` is a file here; ``read`` says why one that exists may not be read."""
        return (self.root / path).is_file()

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
