"""Reward scale: SB3's A2C and PPO on the search track's task and budget, with the paper's
summed reward and with ``reward_reduction="mean"`` (divided by the agents).

Each runs with the settings the search track gives it: SB3's defaults for the committed rows
(commit bc5395c, before the tuning); a rerun now gets the frozen tuning choices
(``agents.bench.tuning.CHOSEN``), for both reward scales alike.

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

from agents.bench.scripts import add_run_options, run_and_render
from agents.bench.stats import CONFIDENCE, paired_difference
from agents.bench.sweep import MEAN_REWARD
from agents.bench.tuning import TUNING_SEEDS
from decore_env.common.files import write_text_atomic

HERE = Path(__file__).resolve().parent
TARGET = 0.1
"""The search track's first target: 10% of params."""
SEEDS = (*TUNING_SEEDS, 102)
"""The tuning seeds and one more (three per algorithm); never reported in the tracks."""
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
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    add_run_options(parser, HERE / "results" / "reward-scale.csv")
    args = parser.parse_args(argv)
    if any(s < 0 for s in args.seeds):
        parser.error("seeds must be >= 0")
    agents = [a + suffix for a in ALGORITHMS for suffix in ("", MEAN_REWARD)]
    line = sys.argv if argv is None else [__file__, *argv]
    return run_and_render(args, agents, [TARGET], line, render)


if __name__ == "__main__":
    sys.exit(main())
