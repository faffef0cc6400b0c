"""Compare agents on compression: a grid task x agent x seed x target, one CSV row per cell.

The protocol (same baseline per seed, same pair budget, same network-training epochs, same
target) is in benchmarks/README.md and :mod:`agents.bench.sweep`. Rows go to --csv (default
benchmarks/results/leaderboard.csv) and its learning curves beside it; a cell whose row exists
is skipped, so rerunning the same command resumes an interrupted sweep. Render the leaderboard
with benchmarks/report.py.

    python benchmarks/compare_agents.py --agents reinforce l1_global --seeds 0 1 2 3 4
    python benchmarks/compare_agents.py --tasks mnist --agents reinforce l1_global --seeds 0 1 2
    python benchmarks/compare_agents.py ... --ray            # cells as tasks of a local Ray
    python benchmarks/compare_agents.py ... --ray auto       # ... of a running Ray cluster
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from agents.bench.results import check_table_path
from agents.bench.sweep import (
    CONTESTANTS,
    follower_cells,
    grid,
    open_tables,
    run_grid,
)
from agents.bench.tasks import LENET_MNIST, MNIST_RAW, prepare_mnist
from agents.run.config import CompressConfig, demo_config
from agents.run.summary import command_line
from decore_env.common.disk import DiskFullError

HERE = Path(__file__).resolve().parent

DEFAULT_TARGET = 0.1
"""Params fraction kept: the leaderboard's target (about the demo's reached compression)."""
TASK_NAMES = ("embedded", "mnist")


def task_settings(names: list[str], mnist_raw: Path, data_root: Path) -> dict[str, CompressConfig]:
    """The settings of each task: ``embedded`` = the demo's (LeNet-5 on the bundled MNIST
    subset), ``mnist`` = benchmarks/lenet_mnist.py's (LeNet-5 on full MNIST)."""
    tasks = {}
    if "embedded" in names:
        tasks["embedded"] = demo_config(device="auto")
    if "mnist" in names:
        root = prepare_mnist(mnist_raw, data_root)
        tasks["mnist"] = replace(LENET_MNIST, data_root=str(root))
    return tasks


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["embedded"], choices=TASK_NAMES)
    parser.add_argument("--agents", nargs="+", default=["reinforce"], metavar="AGENT")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--targets", type=float, nargs="+", default=[DEFAULT_TARGET])
    parser.add_argument("--csv", type=Path, default=HERE / "results" / "leaderboard.csv")
    parser.add_argument("--work-dir", type=Path, default=HERE / ".runs" / "compare")
    parser.add_argument("--mnist-raw", type=Path, default=MNIST_RAW)
    parser.add_argument("--data-root", type=Path, default=HERE / ".data")
    parser.add_argument(
        "--ray",
        nargs="?",
        const="local",
        default=None,
        metavar="ADDRESS",
        help="run cells as Ray tasks: a local Ray, or the cluster at ADDRESS ('auto')",
    )
    parser.add_argument("--gpus-per-cell", type=float, default=None, help="default: 1 with CUDA")
    parser.add_argument("--wandb", metavar="GROUP", help="log each cell as a W&B run in GROUP")
    parser.add_argument(
        "--follow",
        action="store_true",
        help="then run l1_global at the fraction each RL row reached (same task and seed)",
    )
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    args.csv, args.work_dir = args.csv.resolve(), args.work_dir.resolve()
    unknown = [a for a in args.agents if a not in CONTESTANTS]
    if unknown:
        parser.error(f"unknown agents {unknown}; choose from {', '.join(CONTESTANTS)}")
    if any(not 0 < t < 1 for t in args.targets):
        parser.error("--targets are fractions of params kept, each in (0, 1)")
    if any(s < 0 for s in args.seeds):
        parser.error("--seeds must be ints >= 0")
    try:
        check_table_path(args.csv)
    except ValueError as exc:
        parser.error(str(exc))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    gpus = args.gpus_per_cell
    if gpus is None:
        import torch

        gpus = 1.0 if torch.cuda.is_available() else 0.0
    command = command_line(sys.argv if argv is None else [__file__, *argv])
    cells = grid(args.tasks, args.agents, args.seeds, args.targets)
    options = {
        "use_ray": args.ray is not None,
        "ray_address": None if args.ray in (None, "local") else args.ray,
        "gpus_per_cell": gpus,
        "wandb_group": args.wandb,
        "progress": not args.no_progress,
    }
    try:
        tasks = task_settings(args.tasks, args.mnist_raw, args.data_root)
        ran = run_grid(cells, tasks, args.csv, args.work_dir, command, **options)
        if args.follow:
            rows = [
                r
                for r in open_tables(args.csv)[0].rows()
                if r["agent"] in args.agents and int(r["seed"]) in args.seeds
            ]
            followers = [
                cell
                for task in args.tasks
                for target in args.targets
                for cell in follower_cells(rows, task, target)
            ]
            ran += run_grid(followers, tasks, args.csv, args.work_dir, command, **options)
    except (ValueError, DiskFullError) as exc:  # SweepError, SchemaError, a refused setting
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{ran} cells run; rows in {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
