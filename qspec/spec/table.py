"""The one reader of ``csv:`` data sets: bytes in, a header and numbered rows out.

Validation (``qspec.spec.load``), the resource estimate (``qspec.quantum.estimate``) and the
engine (``qspec.quantum.data``) all read a csv file through ``read_table``, so they agree on
what the file holds: UTF-8 (a byte-order mark is dropped), every cell stripped of surrounding
whitespace, blank rows skipped, each row keeping its 1-based line in the file for error messages.
The label column is the one named by ``data.target``, else the last. Standard library only: no
numpy, no pandas, so that ``qspec validate`` stays light.

Errors name the file, line and column (``data/set.csv:4:2``: the second cell of line 4), the
column's header name and what is wrong with the cell (empty, text, not finite), never the cell's
value: a file that fails to parse as data may not be data at all.
"""

from __future__ import annotations

import csv
import difflib
import io
import math
from collections.abc import Iterator, Sequence
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
        shown = ", ".join(label if len(label) <= 40 else label[:37] + "..." for label in sorted(present)[:10])
        only = "; the column holds one class only" if len(present) == 1 else ""
        return [(i, f"class {cls!r} does not occur in column {_name(self.header[column])} of {self.path}{only}",
                 f"labels present: {shown}")
                for i, cls in enumerate(classes) if str(cls) not in present]

    def class_rows(self, column: int, classes: Sequence[object]) -> list[int]:
        """How many rows carry each of ``classes`` in ``column``."""
        labels = self.labels(column)
        return [labels.count(str(cls)) for cls in classes]

    def bad_cells(self, column: int) -> Iterator[str]:
        """``path:line:column: what`` for each row with the wrong number of cells and each cell
        outside ``column`` that is not a finite number, in file order; never the cell's value."""
        width = len(self.header)
        for row in self.rows:
            if len(row.cells) != width:
                yield (f"{self.path}:{row.line}:{min(len(row.cells), width) + 1}: {len(row.cells)} cells, "
                       f"the header names {width} columns")
                continue
            for i, cell in enumerate(row.cells):
                if i != column and _number(cell) is None:
                    what = "is empty" if not cell else "is text, not a number" if _text(cell) \
                        else "is not a finite number"
                    yield f"{self.path}:{row.line}:{i + 1}: column {_name(self.header[i])} {what}"

    def features(self, column: int) -> tuple[list[str], list[list[float]], list[str]]:
        """(feature names, one list of floats per row, labels): every column but ``column`` as numbers.

        Raises ``TableError`` naming ``path:line:column`` at the first row with the wrong number of
        cells or the first cell that is not a finite number.
        """
        for message in self.bad_cells(column):
            raise TableError(message, hint=CELL_HINT)
        names = [name for i, name in enumerate(self.header) if i != column]
        values = [[float(cell) for i, cell in enumerate(row.cells) if i != column] for row in self.rows]
        return names, values, [row.cells[column] for row in self.rows]


#: The hint of every bad-cell error.
CELL_HINT = "every row has one cell per column, and every column but the label a finite number; fix or drop the row"


def _number(cell: str) -> float | None:
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _text(cell: str) -> bool:
    """Whether a cell that is not a finite number is text rather than nan or an infinity."""
    try:
        float(cell)
    except ValueError:
        return True
    return False


def _name(header: str) -> str:
    """A column name (or label) as a message shows it: quoted, and cut when long."""
    return repr(header) if len(header) <= 40 else repr(header[:37] + "...")


def read_table(path: str, content: bytes) -> Table:
    """The header and data rows of a csv file; ``path`` only names the file in messages."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = content[: exc.start].count(b"\n") + 1
        raise TableError(f"{path}:{line} is not UTF-8 text (at byte offset {exc.start})",
                         hint="save it as UTF-8 csv") from exc
    try:
        reader = csv.reader(io.StringIO(text))
        rows: list[Row] = []
        line = reader.line_num + 1
        for cells in reader:
            stripped = tuple(cell.strip() for cell in cells)
            if any(stripped):
                rows.append(Row(line, stripped))
            line = reader.line_num + 1  # a quoted cell may span lines: the next row starts here
    except csv.Error as exc:
        raise TableError(f"{path}:{reader.line_num} cannot be read as csv ({exc})",
                         hint="quote cells that hold commas, quotes or line breaks") from exc
    if len(rows) < 2:
        raise TableError(f"{path} has no data rows", hint="the first row names the columns")
    return Table(path, rows[0].cells, tuple(rows[1:]))
