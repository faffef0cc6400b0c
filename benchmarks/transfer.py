"""The transfer track: shared per-channel policies trained on some suite tasks, measured zero-
and few-shot on suite tasks they never trained on (agents/bench/transfer.py says what runs).

Three steps, each resumable (what has its file or row is kept): train each trainer's policy
at each seed (``results/transfer-policies/``, ``results/transfer-training.csv``), run every
contestant on the held-out tasks in the search track (``results/transfer.csv``), fine-tune
the zero-pair rows (``results/transfer-finetune.csv``); then the suite page is rendered
again (``python benchmarks/report.py --suite`` does only that).

    python benchmarks/transfer.py --ray
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from itertools import chain
from pathlib import Path

import torch

from agents.bench.finetune import run_finetune_grid
from agents.bench.scripts import exit_status
from agents.bench.search import run_search_cells
from agents.bench.suite import task_checkpoint, task_config
from agents.bench.suite_page import has_suite_rows, render_suite_from, search_rows, transfer_rows
from agents.bench.suite_report import task_rows
from agents.bench.transfer import (
    HELD_OUT,
    SEEDS,
    TRAINERS,
    ZERO_PAIR_REFERENCES,
    ZERO_SHOT,
    train_missing,
    transfer_calls,
)
from agents.run.summary import command_line
from decore_env.envs.suite import suite_task

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
ZERO_PAIR_ROWS = {*(f"{t}:{ZERO_SHOT}" for t in TRAINERS), *ZERO_PAIR_REFERENCES}
"""The contestants whose architectures the fine-tune track takes."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--held-out", nargs="+", default=list(HELD_OUT), help="suite ids")
    parser.add_argument("--trainers", nargs="+", default=list(TRAINERS), help="a part of them")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder of the files")
    parser.add_argument("--ray", action="store_true", help="runs as Ray tasks, one per core")
    parser.add_argument("--threads", type=int, default=1, help="torch threads without --ray")
    parser.add_argument("--no-progress", dest="progress", action="store_false")
    return parser.parse_args(argv)


def run(args: argparse.Namespace, command: str) -> None:
    results: Path = args.results
    policies = results / "transfer-policies"
    # every cell's settings first: an unknown or a training task is refused before any work
    calls = transfer_calls(args.held_out, args.seeds, policies, command, args.trainers)
    trained = train_missing(
        args.seeds,
        policies,
        results / "transfer-training.csv",
        command,
        args.ray,
        args.trainers,
        args.progress,
        held_out_rows=[*chain(*transfer_rows(results))],
    )
    print(f"{trained} policies trained; in {policies}")
    csv = results / "transfer.csv"
    ran = run_search_cells(calls, csv, args.progress, args.ray)
    print(f"{ran} search cells run; rows in {csv}")
    rows = search_rows(csv)
    ran = 0
    for task in map(suite_task, args.held_out):
        lengths = {1: ZERO_PAIR_ROWS}
        if task.model == "lenet5":  # the full schedule where it takes a minute
            lengths[task.finetune_epochs] = ZERO_PAIR_ROWS
        ran += run_finetune_grid(
            task_rows(rows, task),
            args.seeds,
            task_config(task),
            task_checkpoint(task, None),
            results / "transfer-finetune.csv",
            command,
            args.progress,
            lengths=lengths,
            use_ray=args.ray,
        )
    print(f"{ran} fine-tune cells run")
    if not has_suite_rows(results):
        print(f"suite page not rendered: no suite search rows in {results} (benchmarks/suite.py)")
        return
    written = render_suite_from(results, results)
    print(f"rendered {', '.join(str(p) for p in written)}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    command = command_line(sys.argv if argv is None else [__file__, *argv])
    torch.set_num_threads(args.threads)
    return exit_status(lambda: run(args, command))


if __name__ == "__main__":
    sys.exit(main())
