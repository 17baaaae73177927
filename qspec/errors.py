"""Every error qspec raises on purpose, in one tree.

    QspecError                  anything a user can cause; the CLI prints it and exits 1
    ├── SpecError               one or more problems in the spec files (carries Problems)
    ├── SourceError             a spec source cannot be read: missing path, bad git revision
    │   └── RevisionError       a git revision that does not resolve
    ├── BackendError            a quantum backend cannot be reached or configured (e.g. no IBM token)
    ├── TrackingError           the MLflow store refused or failed (unwritable artifacts, bad URI)
    └── ApplyError              an action of a plan failed while applying

A user-facing error says what happened, where, and a hint (pip's DiagnosticPipError):
the CLI renders ``message``, ``where`` and ``hint`` and never a traceback unless ``--debug``.
Anything that is not a ``QspecError`` is a bug in qspec and is shown with its traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a spec: the file, its line, the key path, what, and what to do."""

    file: str
    line: int | None
    path: str
    message: str
    hint: str | None = None

    def location(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where} {self.path}" if self.path else where

    def __str__(self) -> str:
        text = f"{self.location()}: {self.message}"
        return f"{text}\n  hint: {self.hint}" if self.hint else text

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "path": self.path,
            "message": self.message,
            "hint": self.hint,
        }


class QspecError(Exception):
    """An error a user can cause and fix; rendered without a traceback."""

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        return f"{text}\n  hint: {self.hint}" if self.hint else text


class SpecError(QspecError):
    """The specs are invalid; ``problems`` lists every problem found in the run, not only the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line or 0, p.path))
        count = len(self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in the specs")

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


class SourceError(QspecError):
    """A spec source cannot be read (a path that does not exist, a git revision that does not resolve)."""


class RevisionError(SourceError):
    """A git revision (``--rev``, ``--base``, a stage's ``ref:``) that git cannot resolve to a commit."""


class BackendError(QspecError):
    """A quantum backend cannot be used as configured (missing IBM token, unknown device)."""


class TrackingError(QspecError):
    """The MLflow tracking store or registry failed or refused a request."""


class ApplyError(QspecError):
    """An action of a plan failed while it was being applied."""
