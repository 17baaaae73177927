"""The one reader of ``csv:`` data sets: bytes in, a header and numbered rows out.

Validation (``qspec.spec.load``), the resource estimate (``qspec.quantum.estimate``) and the
engine (``qspec.quantum.data``) all read a csv file through ``read_table``, so they agree on
what the file holds: UTF-8 (a byte-order mark is dropped), every cell stripped of surrounding
whitespace, blank rows skipped, each row keeping its 1-based line in the file for error messages.
The label column is the one named by ``data.target``, else the last. Standard library only: no
numpy, no pandas, so that ``qspec validate`` stays light.
"""

from __future__ import annotations

import csv
import difflib
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

from qspec.errors import QspecError


class TableError(QspecError):
    """A csv file that cannot serve as a data set. ``key`` is the ``spec.data`` key to blame."""

    def __init__(self, message: str, *, key: str = "source", hint: str | None = None) -> None:
        super().__init__(message, where=f"spec.data.{key}", hint=hint)
        self.key = key


@dataclass(frozen=True)
class Row:
    line: int  # 1-based line of the file where the row starts
    cells: tuple[str, ...]  # stripped


@dataclass(frozen=True)
class Table:
    path: str  # as the spec names it, for messages
    header: tuple[str, ...]
    rows: tuple[Row, ...]  # the data rows, blank ones skipped

    def label_column(self, target: str | None) -> int:
        """The index of the label column: ``target`` by name, or the last column."""
        if target is None:
            return len(self.header) - 1
        if target not in self.header:
            close = difflib.get_close_matches(target, self.header, n=1, cutoff=0.6)
            raise TableError(f"{self.path} has no column {target!r}", key="target",
                             hint=f"did you mean {close[0]!r}?" if close
                             else "its columns are " + ", ".join(self.header))
        return self.header.index(target)

    def labels(self, column: int) -> list[str]:
        """The label of every row that reaches ``column``."""
        return [row.cells[column] for row in self.rows if len(row.cells) > column]

    def missing_classes(self, column: int, classes: Sequence[object]) -> list[tuple[int, str, str]]:
        """(index in ``classes``, message, hint) for each class that no row carries."""
        present = set(self.labels(column))
        shown = ", ".join(sorted(present)[:10])
        return [(i, f"class {cls!r} does not occur in column {self.header[column]!r} of {self.path}",
                 f"labels present: {shown}")
                for i, cls in enumerate(classes) if str(cls) not in present]

    def features(self, column: int) -> tuple[list[str], list[list[float]], list[str]]:
        """(feature names, one list of floats per row, labels): every column but ``column`` as numbers.

        Raises ``TableError`` naming ``path:line`` and the column at the first row with the wrong
        number of cells or a cell that is not a finite number.
        """
        names = [name for i, name in enumerate(self.header) if i != column]
        values: list[list[float]] = []
        for row in self.rows:
            if len(row.cells) != len(self.header):
                raise TableError(f"{self.path}:{row.line}: {len(row.cells)} cells, the header names "
                                 f"{len(self.header)} columns", hint="every row has one cell per column")
            values.append([self._number(row, i) for i in range(len(row.cells)) if i != column])
        return names, values, [row.cells[column] for row in self.rows]

    def _number(self, row: Row, i: int) -> float:
        cell = row.cells[i]
        try:
            value = float(cell)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            shown = repr(cell) if cell else "an empty cell"
            raise TableError(f"{self.path}:{row.line}: column {self.header[i]!r} holds {shown}, not a finite number",
                             hint="every column but the label holds finite numbers; fill or drop the row")
        return value


def read_table(path: str, content: bytes) -> Table:
    """The header and data rows of a csv file; ``path`` only names the file in messages."""
    try:
        text = content.decode("utf-8-sig")
        reader = csv.reader(io.StringIO(text))
        rows: list[Row] = []
        line = reader.line_num + 1
        for cells in reader:
            stripped = tuple(cell.strip() for cell in cells)
            if any(stripped):
                rows.append(Row(line, stripped))
            line = reader.line_num + 1  # a quoted cell may span lines: the next row starts here
    except (UnicodeDecodeError, csv.Error) as exc:
        raise TableError(f"{path} cannot be read: {exc}", hint="save it as UTF-8 csv") from exc
    if len(rows) < 2:
        raise TableError(f"{path} has no data rows", hint="the first row names the columns")
    return Table(path, rows[0].cells, tuple(rows[1:]))
