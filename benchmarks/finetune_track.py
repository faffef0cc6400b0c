"""The fine-tune track: the search track's architectures fine-tuned at two lengths, with the
rank correlation between the two tracks; and paper-mode DECORE with its own joint training
as a labelled row per seed (``--no-joint`` skips it).

Reads ``--search-csv`` (the search track's rows, each with its projected mask) and appends
one row per (contestant, seed, target, length) to ``--csv``; a rerun skips the cells that have
a row. ``--render`` writes the markdown from the CSVs alone.

    python benchmarks/finetune_track.py --seeds 0 1 2 3 4
    python benchmarks/finetune_track.py --render
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from agents.bench.cells import CELL_KEY
from agents.bench.finetune import (
    FINETUNE_COLUMNS,
    render_finetune_track,
    run_finetune_grid,
    run_joint_rows,
)
from agents.bench.results import ResultsCSV
from agents.bench.scripts import add_run_options, run_then_render
from agents.bench.search import SEARCH_TASK, open_search_tables
from agents.run.config import demo_config
from agents.run.summary import command_line
from decore_env.task.weights import default_weights

HERE = Path(__file__).resolve().parent


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--search-csv", type=Path, default=HERE / "results" / "search-track.csv")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    add_run_options(parser, HERE / "results" / "finetune-track.csv")
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=HERE / ".runs" / "finetune",
        help="run folders of the paper-mode joint-training rows",
    )
    parser.add_argument("--no-joint", dest="joint", action="store_false", help="skip those rows")
    args = parser.parse_args(argv)
    command = command_line(sys.argv if argv is None else [__file__, *argv])

    def run() -> int:
        search_rows = open_search_tables(args.search_csv)[0].rows()
        if not search_rows:
            raise ValueError(f"{args.search_csv} holds no search-track rows: run it first")
        task = demo_config(device="cpu")
        ran = run_finetune_grid(
            search_rows, args.seeds, task, default_weights(), args.csv, command, args.progress
        )
        if args.joint:
            ran += run_joint_rows(
                SEARCH_TASK, args.seeds, task, default_weights(), args.csv, args.work_dir,
                command, args.progress,
            )  # fmt: skip
        return ran

    def render() -> list[Path]:
        rows = ResultsCSV(args.csv, FINETUNE_COLUMNS, (*CELL_KEY, "epochs")).rows()
        return [render_finetune_track(rows, args.csv.with_suffix(".md"))] if rows else []

    return run_then_render(args, run, render)


if __name__ == "__main__":
    sys.exit(main())
