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


def run_and_render(
    args: argparse.Namespace,
    names: Sequence[str],
    targets: Sequence[float],
    argv: list[str],
    render: Callable[[list[dict[str, str]], Path], Path],
) -> int:
    """Run ``names`` x ``args.seeds`` x ``targets`` on the tracks' task (skipped with
    ``--render``), then ``render`` the CSV's rows into the markdown beside it; returns the
    exit status: 2 with one line for a user error or a full disk."""
    try:
        if not args.render:
            torch.set_num_threads(args.threads)
            ran = run_track_cells(names, args.seeds, targets, args.csv, argv, args.progress)
            print(f"{ran} cells run; rows in {args.csv}")
        rows = open_search_tables(args.csv)[0].rows()
        if not rows:
            raise ValueError(f"{args.csv} holds no rows: run without --render first")
        print(f"rendered {render(rows, args.csv.with_suffix('.md'))}")
    except (ValueError, DiskFullError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
