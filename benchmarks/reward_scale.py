"""Reward scale: SB3's A2C and PPO with their defaults on the search track's task and budget,
with the paper's summed reward and with ``reward_reduction="mean"`` (divided by the agents).

A tuning decision, so it reads the val split and the tuning seeds only: per algorithm and
seed, the val one-shot top-1 of the projected architecture, its own kept fraction and the
anytime val mean; the paired difference (mean - sum) with its t interval. Rows go to
``--csv`` in the search track's format (a rerun skips finished cells); ``--render`` writes
the markdown from the CSV alone.

    python benchmarks/reward_scale.py
    python benchmarks/reward_scale.py --render
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from agents.bench.search import open_search_tables, run_search_grid
from agents.bench.stats import CONFIDENCE, paired_difference
from agents.bench.sweep import MEAN_REWARD, grid
from agents.run.config import demo_config
from agents.run.summary import command_line
from decore_env.common.files import write_text_atomic
from decore_env.task.weights import default_weights

HERE = Path(__file__).resolve().parent
TASK = "embedded"
"""The search track's task (the default task with the demo's 299,520 policy pairs)."""
TARGET = 0.1
"""The search track's first target: 10% of params."""
TUNING_SEEDS = (100, 101, 102)
"""Seeds for tuning decisions, never reported in the tracks (which use 0 to 9)."""
ALGORITHMS = ("a2c", "ppo")


def render(rows: Sequence[Mapping[str, str]], path: Path) -> Path:
    """The markdown table of ``rows``: each algorithm with the summed and the mean reward."""
    by = {(r["agent"], int(r["seed"])): r for r in rows}
    lines = [
        "# Reward scale: the paper's summed reward against its mean over agents",
        "",
        "Rendered by `python benchmarks/reward_scale.py --render` from `reward-scale.csv`. "
        f"SB3 defaults (and the project's settings), search track budget, target {TARGET:g} "
        "of params, val split, tuning seeds. Top-1 = one-shot val accuracy of the projected "
        "architecture; own kept = the agent's kept fraction of params before the projection.",
        "",
        f"| algorithm | seeds | val top-1 sum / mean | mean - sum (points) [{CONFIDENCE:.0%} "
        "paired t] | own kept sum / mean | anytime val sum / mean |",
        "|---|---|---|---|---|---|",
    ]
    for algorithm in ALGORITHMS:
        seeds = sorted(s for a, s in by if a == algorithm and (algorithm + MEAN_REWARD, s) in by)
        if not seeds:
            continue
        plain = [by[algorithm, s] for s in seeds]
        mean = [by[algorithm + MEAN_REWARD, s] for s in seeds]

        def avg(runs, column):
            return np.mean([float(r[column]) for r in runs])

        diff = ""
        if len(seeds) > 1:
            d = paired_difference(
                [float(r["val_acc"]) for r in mean], [float(r["val_acc"]) for r in plain]
            )
            diff = f"{100 * d.mean:+.2f} [{100 * d.low:+.2f}, {100 * d.high:+.2f}]"
        lines.append(
            f"| {algorithm} | {', '.join(map(str, seeds))} "
            f"| {100 * avg(plain, 'val_acc'):.2f} / {100 * avg(mean, 'val_acc'):.2f} | {diff} "
            f"| {avg(plain, 'agent_kept'):.3f} / {avg(mean, 'agent_kept'):.3f} "
            f"| {100 * avg(plain, 'anytime_val'):.2f} / {100 * avg(mean, 'anytime_val'):.2f} |"
        )
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=list(TUNING_SEEDS))
    parser.add_argument("--csv", type=Path, default=HERE / "results" / "reward-scale.csv")
    parser.add_argument("--render", action="store_true", help="only render the markdown")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the search")
    parser.add_argument("--no-progress", dest="progress", action="store_false")
    args = parser.parse_args(argv)
    if any(s < 0 for s in args.seeds):
        parser.error("seeds must be >= 0")
    if not args.render:
        torch.set_num_threads(args.threads)
        agents = [a + suffix for a in ALGORITHMS for suffix in ("", MEAN_REWARD)]
        cells = grid([TASK], agents, args.seeds, [TARGET])
        command = command_line(sys.argv if argv is None else [__file__, *argv])
        tasks = {TASK: demo_config(device="auto")}
        ran = run_search_grid(
            cells, tasks, {TASK: default_weights()}, args.csv, command, args.progress
        )
        print(f"{ran} cells run; rows in {args.csv}")
    rows = open_search_tables(args.csv)[0].rows()
    if not rows:
        print(f"error: {args.csv} holds no rows: run without --render first", file=sys.stderr)
        return 2
    print(f"rendered {render(rows, args.csv.with_suffix('.md'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
