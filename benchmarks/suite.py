"""The task suite's grid: every search-track contestant on every task of a tier, in the search
track (``--track search``) or the fine-tune track (``--track finetune``, from the search
rows).

Rows go to ``benchmarks/results/suite-search.csv`` (anytime curves beside it) and
``suite-finetune.csv``; the LeNet-5 / MNIST tasks' rows are the search track's own
(``search-track.csv``, ``finetune-track.csv``), so the grid skips those tasks. A rerun skips
the cells that have a row: run it in parts, ``--ray`` runs cells on both cores. The
leaderboard page is rendered by ``python benchmarks/report.py --suite``.

    python benchmarks/suite.py --track search --ray
    python benchmarks/suite.py --track finetune --ray
    python benchmarks/suite.py --tier gpu --checkpoints runs/   # where a GPU and the data exist
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from agents.bench.finetune import run_finetune_grid
from agents.bench.scripts import exit_status
from agents.bench.search import SEARCH_TASK, TRACK_AGENTS, open_search_tables, run_search_grid
from agents.bench.suite import (
    FINETUNE_SEEDS,
    finetune_lengths,
    suite_cells,
    task_checkpoint,
    task_config,
    tier_tasks,
)
from agents.bench.suite_report import task_rows
from agents.bench.sweep import CONTESTANTS, SweepError
from agents.run.summary import command_line
from decore_env.envs.suite import TIERS

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--track", choices=("search", "finetune"), default="search")
    parser.add_argument("--tier", choices=TIERS, default="cpu")
    parser.add_argument("--tasks", nargs="+", help="suite ids (default: the tier's tasks)")
    parser.add_argument("--agents", nargs="+", default=list(TRACK_AGENTS))
    parser.add_argument("--checkpoints", type=Path, help="GPU tier: folder of <task>.pt")
    parser.add_argument("--csv", type=Path, help="default: results/suite-<track>.csv")
    parser.add_argument(
        "--search-csv", type=Path, default=RESULTS / "suite-search.csv", help="--track finetune"
    )
    parser.add_argument("--ray", action="store_true", help="cells as Ray tasks, one per core")
    parser.add_argument("--threads", type=int, default=1, help="torch threads without --ray")
    parser.add_argument("--no-progress", dest="progress", action="store_false")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.agents) - set(CONTESTANTS))
    if unknown:
        parser.error(f"unknown agents {unknown}; known: {', '.join(CONTESTANTS)}")
    args.csv = args.csv or RESULTS / f"suite-{args.track}.csv"
    return args


def run(args: argparse.Namespace, command: str) -> int:
    """The track's cells that have no row yet; returns how many ran."""
    tasks = [t for t in tier_tasks(args.tier, args.tasks) if t.track_task != SEARCH_TASK]
    if not tasks:
        raise SweepError(
            "the LeNet-5 / MNIST tasks' rows are the search track's: run "
            "benchmarks/search_track.py and benchmarks/finetune_track.py for them"
        )
    device = "cuda" if args.tier == "gpu" else "cpu"
    configs = {t.track_task: task_config(t, device) for t in tasks}
    checkpoints = {t.track_task: task_checkpoint(t, args.checkpoints) for t in tasks}
    if args.track == "search":
        cells = suite_cells(tasks, args.agents)
        gpus = 1.0 if args.tier == "gpu" else 0.0  # one GPU per cell on a Ray cluster
        return run_search_grid(
            cells, configs, checkpoints, args.csv, command, args.progress, args.ray, gpus
        )
    search_rows = open_search_tables(args.search_csv)[0].rows()
    ran = 0
    for task in tasks:
        rows = task_rows(search_rows, task)
        if not rows:
            raise SweepError(f"no search-track rows of {task.id}: run --track search first")
        lengths = finetune_lengths(task, rows, args.agents)
        if task.finetune_epochs not in lengths:
            print(f"{task.id}: search rows incomplete, so 1 epoch only for now")
        ran += run_finetune_grid(
            rows,
            range(FINETUNE_SEEDS),
            configs[task.track_task],
            checkpoints[task.track_task],
            args.csv,
            command,
            args.progress,
            lengths=lengths,
            use_ray=args.ray,
        )
    return ran


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    command = command_line(sys.argv if argv is None else [__file__, *argv])
    torch.set_num_threads(args.threads)

    def work() -> None:
        if args.tier == "gpu" and not torch.cuda.is_available():
            raise SweepError("--tier gpu needs a CUDA GPU and none is visible here; nothing ran")
        print(f"{run(args, command)} cells run; rows in {args.csv}")

    return exit_status(work)


if __name__ == "__main__":
    sys.exit(main())
