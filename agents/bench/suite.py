"""The suite's benchmark: every search-track contestant on every task of a tier, the search
track and the fine-tune track, each task with its own pair budget and fine-tuning schedule.

A suite task is run as the search track runs the default task (:mod:`agents.bench.search`):
the shipped baseline frozen, the task's pair budget, one projection onto the target. The
fine-tune track gives every contestant on target one epoch; the full schedule goes to the
references uniform and l1_global and to the three other contestants of best mean val
one-shot top-1 (chosen on val, never on test).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from agents.bench.cells import Cell
from agents.bench.sweep import SweepError
from agents.run.config import CompressConfig, demo_config
from decore_env.envs.suite import SUITE, SuiteTask
from decore_env.task.weights import shipped_weights

SEEDS = {"cpu": 10, "cifar": 5}
"""Seeds of the search track: 10 on the LeNet tasks, 5 on the ResNet-20 ones (each CIFAR cell
costs about ten LeNet cells)."""
FINETUNE_SEEDS = 5
"""Seeds of the fine-tune track (the first five of the search track's)."""
FULL_SCHEDULE_REFERENCES = ("uniform", "l1_global")
"""References fine-tuned at the full schedule beside the best RL contestants."""
FULL_SCHEDULE_BEST = 3
"""Other contestants (best mean val one-shot top-1 in the search track) at the full
schedule."""


def tier_tasks(tier: str, names: Sequence[str] | None = None) -> list[SuiteTask]:
    """The tier's tasks in the grid, or those of them whose id is in ``names``."""
    tasks = [t for t in SUITE if t.tier == tier and t.grid]
    if names:
        unknown = sorted(set(names) - {t.id for t in tasks})
        if unknown:
            raise SweepError(
                f"unknown {tier}-tier tasks {unknown}; the tier: {', '.join(t.id for t in tasks)}"
            )
        tasks = [t for t in tasks if t.id in names]
    return tasks


def search_seeds(task: SuiteTask) -> range:
    """The search track's seeds of ``task``."""
    return range(SEEDS["cifar"] if task.dataset.endswith("cifar10") else SEEDS["cpu"])


def task_config(task: SuiteTask, device: str = "cpu") -> CompressConfig:
    """The run settings of ``task``: the demo's agent settings, the task's network, data,
    pair budget (search epochs) and fine-tuning (its full schedule counts the search's
    epochs, as the fine-tune track gives every contestant)."""
    return demo_config(
        model=task.model,
        dataset=task.dataset,
        policy_epochs=task.search_epochs,
        finetune_epochs=task.finetune_epochs - task.search_epochs,
        finetune_lr=task.finetune_lr,
        device=device,
    )


def task_checkpoint(task: SuiteTask, checkpoints: Path | None) -> Path:
    """The frozen baseline of ``task``: shipped (CPU tier), else ``checkpoints/<track_task>.pt``
    (made by ``decore train``)."""
    if task.tier == "cpu":
        return shipped_weights(task.model, task.dataset)
    path = (checkpoints or Path("runs")) / f"{task.track_task}.pt"
    if not path.is_file():
        raise SweepError(
            f"{task.id} needs its baseline at {path}: train it with `decore train --model "
            f"{task.model} --dataset {task.dataset} --out runs/{task.track_task}` and copy "
            f"its baseline.pt there (or pass --checkpoints DIR)"
        )
    return path


def suite_cells(tasks: Sequence[SuiteTask], agents: Sequence[str]) -> list[Cell]:
    """Every agent on every task at the task's seeds, seed by seed across the tasks (a grid
    stopped midway still compares every contestant on every task on the same seeds)."""
    most = max((len(search_seeds(t)) for t in tasks), default=0)
    return [
        Cell(task.track_task, agent, seed, task.target, task.resource)
        for seed in range(most)
        for task in tasks
        if seed in search_seeds(task)
        for agent in agents
    ]


def full_schedule_agents(search_rows: Sequence[Mapping[str, str]]) -> set[str]:
    """The contestants of the full fine-tuning schedule on one task: the references
    uniform and l1_global and the FULL_SCHEDULE_BEST others of best mean val one-shot top-1
    (over their rows on target)."""
    val: dict[str, list[float]] = defaultdict(list)
    for row in search_rows:
        if row["agent"] not in FULL_SCHEDULE_REFERENCES and row["matched"] == "True":
            val[row["agent"]].append(float(row["val_acc"]))
    best = sorted(val, key=lambda a: -np.mean(val[a]))[:FULL_SCHEDULE_BEST]
    return {*best, *FULL_SCHEDULE_REFERENCES}


def finetune_lengths(
    task: SuiteTask, rows: Sequence[Mapping[str, str]], agents: Sequence[str]
) -> dict[int, set[str] | None]:
    """The fine-tune track's plan on ``task`` from its search ``rows``: one epoch for every
    contestant on target; the full schedule for :func:`full_schedule_agents` once every
    contestant of ``agents`` has its search rows at every seed (before, the best three on val
    could still change)."""
    lengths: dict[int, set[str] | None] = {1: None}
    have = {(r["agent"], int(r["seed"])) for r in rows}
    if all((c.agent, c.seed) in have for c in suite_cells([task], agents)):
        lengths[task.finetune_epochs] = full_schedule_agents(rows)
    return lengths
