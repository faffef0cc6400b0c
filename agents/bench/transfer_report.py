"""The transfer track's tables, for the suite page: per held-out task, every contestant's
one-shot test top-1, and each trained policy against each reference that spent the same
pairs, paired by seed (the policy of seed k against the reference's run at seed k)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from agents.bench.search_report import mean_interval
from agents.bench.stats import CONFIDENCE, paired_difference
from agents.bench.suite_report import Rows, finetune_lines, task_rows
from agents.bench.transfer import (
    FEW_SHOT,
    FEW_SHOT_AGENTS,
    FEW_SHOT_TAG,
    HELD_OUT,
    PPO_TRAIN_TASK,
    TRAIN_SEARCHES,
    TRAIN_TASKS,
    TRAINERS,
    ZERO_PAIR_REFERENCES,
    ZERO_SHOT,
)
from decore_env.envs.suite import suite_task


def _by_seed(rows: Rows) -> dict[str, dict[int, float]]:
    """contestant -> seed -> one-shot test top-1."""
    table: dict[str, dict[int, float]] = defaultdict(dict)
    for row in rows:
        table[row["agent"]][int(row["seed"])] = float(row["test_acc"])
    return table


def _versus(table: Mapping[str, Mapping[int, float]], mine: str, other: str) -> str:
    """``mine`` - ``other`` in points over their common seeds, with its paired interval."""
    seeds = sorted(set(table.get(mine, {})) & set(table.get(other, {})))
    if len(seeds) < 2:
        return "-"
    diff = paired_difference([table[mine][s] for s in seeds], [table[other][s] for s in seeds])
    return f"{100 * diff.mean:+.2f} [{100 * diff.low:+.2f}, {100 * diff.high:+.2f}]"


def _matrix(
    table: Mapping[str, Mapping[int, float]],
    trainers: Sequence[str],
    tag: str,
    others: Sequence[str],
) -> list[str]:
    """Each trained policy's ``tag`` rows against each of ``others``."""
    lines = ["| policy | " + " | ".join(f"vs {o}" for o in others) + " |"]
    lines.append("|---|" + "---|" * len(others))
    for trainer in trainers:
        mine = f"{trainer}:{tag}"
        lines.append(f"| {mine} | " + " | ".join(_versus(table, mine, o) for o in others) + " |")
    return lines


def transfer_lines(search: Rows, finetune: Rows) -> list[str]:
    """The transfer section of the suite page (empty without transfer rows)."""
    if not search:
        return []
    trained = ", ".join(f"`{t}`" for t in TRAIN_TASKS)
    trainers = [t for t in TRAINERS if any(r["agent"].startswith(f"{t}:") for r in search)]
    ppo = "" if TRAINERS[1] in trainers else " (no rows yet)"
    native, ppo_searches = (TRAIN_SEARCHES[t] for t in TRAINERS)
    lines = [
        "## Transfer track: a shared policy on tasks it never trained on",
        "",
        f"shared-native trains on {trained} at once ({native}x each task's search budget), "
        f"shared-ppo (SB3 PPO with the shared actor) on `{PPO_TRAIN_TASK}` ({ppo_searches}x)"
        f"{ppo}, "
        f"seeds {_seeds(search)}. Zero-shot: the policy's architecture with no pair scored on "
        f"the task; few-shot: {FEW_SHOT:.0%} of the task's search budget to adapt (native "
        "REINFORCE from the policy), against the others given the same pairs. One-shot test "
        f"top-1 (%) with adaptive BN; differences in points, paired by seed, "
        f"{CONFIDENCE:.0%} t intervals. Regenerate: `python benchmarks/transfer.py --ray`.",
        "",
    ]
    for task in map(suite_task, HELD_OUT):
        mine = task_rows(search, task)
        if not mine:
            continue
        table = _by_seed(mine)
        lines += [f"### `{task.id}`", ""]
        lines += _means_lines(mine, table)
        lines += ["", "Zero-shot against the references that spend no pairs:", ""]
        lines += _matrix(table, trainers, ZERO_SHOT, ZERO_PAIR_REFERENCES)
        lines += ["", f"Few-shot against the searchers given the same {FEW_SHOT:.0%}:", ""]
        few = [f"{a}:{FEW_SHOT_TAG}" for a in FEW_SHOT_AGENTS]
        lines += _matrix(table, trainers, FEW_SHOT_TAG, few)
        if task_rows(finetune, task):
            lines += ["", "Fine-tune track (drop from the baseline, points):", ""]
            lines += finetune_lines(finetune, task)
        lines.append("")
    return lines


def _means_lines(rows: Rows, table: Mapping[str, Mapping[int, float]]) -> list[str]:
    """Every contestant's mean with its interval, and the most pairs it scored on a seed;
    flagged where that is past the few-shot budget (what the native few-shot runs spend, in
    whole steps)."""
    pairs: dict[str, int] = defaultdict(int)
    for row in rows:
        pairs[row["agent"]] = max(pairs[row["agent"]], int(row["pairs"]))
    budget = pairs.get(f"{TRAINERS[0]}:{FEW_SHOT_TAG}")
    lines = ["| contestant | pairs (most on a seed) | test top-1 [CI] | seeds |"]
    lines.append("|---|---|---|---|")
    for agent in sorted(table, key=lambda a: -sum(table[a].values()) / len(table[a])):
        values = list(table[agent].values())
        over = budget is not None and agent.endswith(FEW_SHOT_TAG) and pairs[agent] > budget
        flag = " **over budget**" if over else ""
        lines.append(
            f"| {agent} | {pairs[agent]:,}{flag} | {mean_interval(values)} | {len(values)} |"
        )
    return lines


def _seeds(rows: Rows) -> str:
    seeds = sorted({int(r["seed"]) for r in rows})
    return f"{seeds[0]}-{seeds[-1]}" if len(seeds) > 1 else str(seeds[0])
