"""Append-only CSV files of result rows: one row per finished cell, so an interrupted sweep
resumes by skipping the cells whose rows exist.

A file has one header. Rows are appended under an OS lock (several processes, e.g. Ray
workers or two sweeps, may finish cells at once), each written whole with one ``write``,
flushed and synced, so a kill leaves every earlier row intact; a cell whose row another
writer appended meanwhile is not appended again. A final line without its newline (a crash
or a full disk mid-write) is no row: readers skip it and the next append moves it to
``<file>.rejected`` beside the file, with a warning, so its cell runs again. A row with the
wrong number of fields, or a NaN, an infinity or text in a column of numbers, is refused naming
the file, line and column. A file whose header differs from
the writer's columns is refused, never appended to: mixing schemas would make the report read
wrong columns.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from filelock import FileLock

from agents.run.folders import check_writable_dir
from decore_env.common.disk import disk_full_named

LOCK_TIMEOUT_S = 60
"""How long an append waits for another process's append (each takes milliseconds)."""


class SchemaError(ValueError):
    """A results file whose header is not the one this writer writes."""


def check_table_path(path: str | os.PathLike) -> None:
    """Refuse, before any work, a results path that is a folder or cannot be written (a
    probe file in its folder, as for a run folder)."""
    path = Path(path)
    if path.is_dir():
        raise SchemaError(f"{path} is a folder; give the path of a .csv file")
    check_writable_dir(path.parent, "--csv")


def format_value(value: Any) -> str:
    """The text of one cell: floats in full precision (``repr``), None as empty."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


class ResultsCSV:
    """An append-only CSV with fixed ``columns``; ``key`` columns name a row's cell; every
    value of a ``numbers`` column must be a finite number.

        :raises SchemaError: the file exists with another header.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        columns: Sequence[str],
        key: Sequence[str],
        numbers: Sequence[str] = (),
    ):
        missing = [k for k in (*key, *numbers) if k not in columns]
        if missing:
            raise ValueError(f"key columns {missing} are not columns of the table")
        self.path, self.columns, self.key = Path(path), list(columns), list(key)
        self.numbers = list(numbers)
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
        """Every complete row, as text (in file order).

        :raises SchemaError: a row with another number of fields than the header, named by
            file and line.
        """
        if self._header() is None:
            return []
        text = self.path.read_text()
        complete = text[: text.rfind("\n") + 1]  # a cut final line is no row
        reader = csv.reader(io.StringIO(complete))
        next(reader)
        rows = []
        for values in reader:
            if len(values) != len(self.columns):
                raise SchemaError(
                    f"{self.path} line {reader.line_num}: {len(values)} fields, the header has "
                    f"{len(self.columns)}: repair or remove that line"
                )
            row = dict(zip(self.columns, values, strict=True))
            self._check_numbers(row, reader.line_num)
            rows.append(row)
        return rows

    def _check_numbers(self, row: Mapping[str, str], line: int) -> None:
        for column in self.numbers:
            try:
                finite = math.isfinite(float(row[column]))
            except ValueError:
                finite = False
            if not finite:
                raise SchemaError(
                    f"{self.path} line {line} column {column}: {row[column]!r} is not a finite "
                    "number; repair or remove that line"
                )

    def key_of(self, row: Mapping[str, Any]) -> tuple[str, ...]:
        """The cell a row (or a cell's settings) names, as text."""
        return tuple(format_value(row[k]) for k in self.key)

    def done(self) -> set[tuple[str, ...]]:
        """Keys of the cells that have a row."""
        return {self.key_of(row) for row in self.rows()}

    def append(self, row: Mapping[str, Any]) -> bool:
        """Append one row (exactly the table's columns), header first in a new file; returns
        False, writing nothing, when another writer already appended a row of that cell."""
        if set(row) != set(self.columns):
            extra, absent = set(row) - set(self.columns), set(self.columns) - set(row)
            raise ValueError(f"row does not fit the table: extra {extra}, missing {absent}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(f"{self.path}.lock", timeout=LOCK_TIMEOUT_S):
            self._set_aside_cut_line()
            if self.key_of(row) in self.done():
                return False
            text = io.StringIO()
            writer = csv.writer(text, lineterminator="\n")
            if self._header() is None:
                writer.writerow(self.columns)
            writer.writerow([format_value(row[c]) for c in self.columns])
            size = self.path.stat().st_size if self.path.is_file() else 0
            try:
                with disk_full_named(self.path.parent), self.path.open("a", newline="") as f:
                    f.write(text.getvalue())
                    f.flush()
                    os.fsync(f.fileno())
            except OSError:
                with contextlib.suppress(OSError), self.path.open("r+b") as f:
                    f.truncate(size)  # back to the rows that were whole
                raise
        return True

    def _set_aside_cut_line(self) -> None:
        """Move a final line without its newline to ``<file>.rejected`` (under the lock)."""
        if not self.path.is_file() or self.path.stat().st_size == 0:
            return
        data = self.path.read_bytes()
        if data.endswith(b"\n"):
            return
        keep = data.rfind(b"\n") + 1
        rejected = self.path.with_name(f"{self.path.name}.rejected")
        with rejected.open("ab") as f:
            f.write(data[keep:] + b"\n")
        with self.path.open("r+b") as f:
            f.truncate(keep)
        warnings.warn(
            f"{self.path}: its last line was cut (a crash mid-write?); moved to {rejected}, "
            "its cell runs again",
            stacklevel=3,
        )
