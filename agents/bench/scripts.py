"""What the benchmark scripts share on their command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from agents.bench.search import open_search_tables, run_track_cells
from decore_env.common.disk import DiskFullError


def add_run_options(parser: argparse.ArgumentParser, csv: Path) -> None:
    """``--csv`` (default ``csv``), ``--render``, ``--threads`` and ``--no-progress``."""
    parser.add_argument("--csv", type=Path, default=csv)
    parser.add_argument("--render", action="store_true", help="only render the markdown")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the runs")
    parser.add_argument("--no-progress", dest="progress", action="store_false")


def exit_status(work: Callable[[], object]) -> int:
    """Do ``work``; the exit status of a script: 0, or 2 with one line on stderr for a user
    error or a full disk (no traceback)."""
    try:
        work()
    except (ValueError, DiskFullError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def run_then_render(
    args: argparse.Namespace, run: Callable[[], int], render: Callable[[], Sequence[Path]]
) -> int:
    """``run()`` the cells that have no row yet (skipped with ``--render``; it returns how
    many ran), then ``render()`` the tables; returns :func:`exit_status`."""

    def work() -> None:
        if not args.render:
            torch.set_num_threads(args.threads)
            print(f"{run()} cells run; rows in {args.csv}")
        written = render()
        if written:
            print(f"rendered {', '.join(str(p) for p in written)}")

    return exit_status(work)


def run_and_render(
    args: argparse.Namespace,
    names: Sequence[str],
    targets: Sequence[float],
    argv: list[str],
    render: Callable[[list[dict[str, str]], Path], Path],
) -> int:
    """:func:`run_then_render` for a grid of search-track cells: ``names`` x ``args.seeds`` x
    ``targets`` on the tracks' task, then ``render`` of the CSV's rows into the markdown
    beside it."""

    def render_rows() -> list[Path]:
        rows = open_search_tables(args.csv)[0].rows()
        if not rows:
            raise ValueError(f"{args.csv} holds no rows: run without --render first")
        return [render(rows, args.csv.with_suffix(".md"))]

    def run() -> int:
        return run_track_cells(names, args.seeds, targets, args.csv, argv, args.progress)

    return run_then_render(args, run, render_rows)
