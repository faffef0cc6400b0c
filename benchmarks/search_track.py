"""The search track: every contestant as a searcher of a keep mask, on the default task's
shipped baseline, frozen, with the same pair budget and one projection onto the target.

Rows go to ``--csv`` (default ``benchmarks/results/search-track.csv``, its anytime curves
beside it); a rerun skips the cells that have a row, so a grid can run in parts.
``--render`` writes the markdown and the PNGs from the CSVs alone.

    python benchmarks/search_track.py --seeds 0 1 2 3 4 5 6 7 8 9 --targets 0.1 0.03
    python benchmarks/search_track.py --agents reinforce-plus l1_global --seeds 0 1
    python benchmarks/search_track.py --render
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from agents.bench.results import check_table_path
from agents.bench.scripts import add_run_options, run_then_render
from agents.bench.search import TRACK_AGENTS, open_search_tables, run_track_cells
from agents.bench.search_report import render_search_track
from agents.bench.sweep import CONTESTANTS

HERE = Path(__file__).resolve().parent


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", nargs="+", default=list(TRACK_AGENTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=list(range(10)))
    parser.add_argument("--targets", nargs="+", type=float, default=[0.1, 0.03])
    add_run_options(parser, HERE / "results" / "search-track.csv")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.agents) - set(CONTESTANTS))
    if unknown:
        parser.error(f"unknown agents {unknown}; known: {', '.join(CONTESTANTS)}")
    if any(s < 0 for s in args.seeds) or any(not 0 < t <= 1 for t in args.targets):
        parser.error("seeds must be >= 0 and targets in (0, 1]")
    try:
        check_table_path(args.csv)
    except ValueError as exc:
        parser.error(str(exc))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    line = sys.argv if argv is None else [__file__, *argv]

    def run() -> int:
        return run_track_cells(args.agents, args.seeds, args.targets, args.csv, line, args.progress)

    def render() -> list[Path]:
        table, curves = open_search_tables(args.csv)
        if not table.rows():
            return []
        return render_search_track(table.rows(), curves.rows(), args.csv.parent, args.csv.stem)

    return run_then_render(args, run, render)


if __name__ == "__main__":
    sys.exit(main())
