"""The tuning protocol: every tunable contestant's configurations (at most 6 each) on the
search track's task, budget and target, scored by one-shot top-1 on val over the tuning seeds;
the best per contestant is the one the reported runs use.

Rows go to ``--csv`` in the search track's format (a rerun skips finished cells, so the grid
can run in parts); ``--render`` writes the markdown from the CSV alone.

    python benchmarks/tune.py
    python benchmarks/tune.py --contestants ppo a2c
    python benchmarks/tune.py --render
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from agents.bench.scripts import add_run_options, run_and_render
from agents.bench.tuning import (
    MAX_CONFIGS,
    TUNING_GRIDS,
    TUNING_SEEDS,
    TUNING_TARGET,
    choose,
    variant,
)
from decore_env.common.files import write_text_atomic

HERE = Path(__file__).resolve().parent


def render(rows: Sequence[Mapping[str, str]], path: Path) -> Path:
    """Each contestant's configurations with their mean val top-1; the chosen one marked."""
    chosen = choose(rows)
    lines = [
        "# Tuning",
        "",
        "Rendered by `python benchmarks/tune.py --render` from `tuning.csv`: at most "
        f"{MAX_CONFIGS} configurations per contestant, one-shot val top-1 (%) of the projected "
        f"architecture at {TUNING_TARGET:g} of params, tuning seeds only; configuration 0 is "
        "the contestant's settings unchanged. A choice is final (yes) once every configuration "
        "of the contestant has every tuning seed; before that it is the best so far.",
        "",
        "| contestant | configuration | settings | seeds | val top-1 | chosen |",
        "|---|---|---|---|---|---|",
    ]
    by_name: dict[str, dict[int, float]] = {}
    for row in rows:
        by_name.setdefault(row["agent"], {})[int(row["seed"])] = float(row["val_acc"])
    for contestant, configs in TUNING_GRIDS.items():
        if contestant not in chosen:
            continue
        best, _, seeds = chosen[contestant]
        for i, settings in enumerate(configs):
            name = variant(contestant, i)
            if name not in by_name:
                continue
            values = [by_name[name][s] for s in seeds if s in by_name[name]]
            shown = ", ".join(f"{k}={v:g}" for k, v in settings.items()) or "unchanged"
            complete = all(variant(contestant, j) in by_name for j in range(len(configs)))
            final = complete and list(seeds) == list(TUNING_SEEDS)
            mark = "yes" if final else "so far"
            lines.append(
                f"| {contestant} | {i} | {shown} | {len(values)} "
                f"| {100 * np.mean(values):.2f} | {mark if name == best else ''} |"
            )
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contestants", nargs="+", default=list(TUNING_GRIDS))
    parser.add_argument("--seeds", nargs="+", type=int, default=list(TUNING_SEEDS))
    add_run_options(parser, HERE / "results" / "tuning.csv")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.contestants) - set(TUNING_GRIDS))
    if unknown:
        parser.error(f"nothing to tune for {unknown}; tunable: {', '.join(TUNING_GRIDS)}")
    reported = sorted(s for s in args.seeds if s < 10)
    if reported:
        parser.error(f"seeds {reported} are reported seeds (0 to 9); tune on others")
    names = [variant(c, i) for c in args.contestants for i in range(len(TUNING_GRIDS[c]))]
    line = sys.argv if argv is None else [__file__, *argv]
    return run_and_render(args, names, [TUNING_TARGET], line, render)


if __name__ == "__main__":
    sys.exit(main())
