"""Append-only CSV files of result rows: one row per finished cell, so an interrupted sweep
resumes by skipping the cells whose rows exist.

A file has one header. Rows are appended under an OS lock (several processes, e.g. Ray
workers, may finish cells at once), each written whole with one ``write`` and flushed, so a
kill leaves every earlier row intact. A file whose header differs from the writer's columns
is refused, never appended to: mixing schemas would make the report read wrong columns.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from filelock import FileLock

LOCK_TIMEOUT_S = 60
"""How long an append waits for another process's append (each takes milliseconds)."""


class SchemaError(ValueError):
    """A results file whose header is not the one this writer writes."""


def format_value(value: Any) -> str:
    """The text of one cell: floats in full precision (``repr``), None as empty."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


class ResultsCSV:
    """An append-only CSV with fixed ``columns``; ``key`` columns name a row's cell.

    :raises SchemaError: the file exists with another header.
    """

    def __init__(self, path: str | os.PathLike, columns: Sequence[str], key: Sequence[str]):
        missing = [k for k in key if k not in columns]
        if missing:
            raise ValueError(f"key columns {missing} are not columns of the table")
        self.path, self.columns, self.key = Path(path), list(columns), list(key)
        header = self._header()
        if header is not None and header != self.columns:
            raise SchemaError(
                f"{self.path} has columns {header}, this table writes {self.columns}: "
                "give another results file (or move this one away)"
            )

    def _header(self) -> list[str] | None:
        if not self.path.is_file() or self.path.stat().st_size == 0:
            return None
        with self.path.open(newline="") as f:
            return next(csv.reader(f), None)

    def rows(self) -> list[dict[str, str]]:
        """Every row, as text (in file order)."""
        if self._header() is None:
            return []
        with self.path.open(newline="") as f:
            return list(csv.DictReader(f))

    def key_of(self, row: Mapping[str, Any]) -> tuple[str, ...]:
        """The cell a row (or a cell's settings) names, as text."""
        return tuple(format_value(row[k]) for k in self.key)

    def done(self) -> set[tuple[str, ...]]:
        """Keys of the cells that have a row."""
        return {self.key_of(row) for row in self.rows()}

    def append(self, row: Mapping[str, Any]) -> None:
        """Append one row (exactly the table's columns), header first in a new file."""
        if set(row) != set(self.columns):
            extra, absent = set(row) - set(self.columns), set(self.columns) - set(row)
            raise ValueError(f"row does not fit the table: extra {extra}, missing {absent}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(f"{self.path}.lock", timeout=LOCK_TIMEOUT_S):
            text = io.StringIO()
            writer = csv.writer(text, lineterminator="\n")
            if self._header() is None:
                writer.writerow(self.columns)
            writer.writerow([format_value(row[c]) for c in self.columns])
            with self.path.open("a", newline="") as f:
                f.write(text.getvalue())
                f.flush()
                os.fsync(f.fileno())
