"""The transfer track's tables, for the suite page: per held-out task, every contestant's
one-shot test top-1, and each trained policy against each reference that spent the same
pairs, paired by seed (the policy of seed k against the reference's run at seed k)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence

from agents.bench.search_report import mean_interval
from agents.bench.stats import CONFIDENCE
from agents.bench.suite_report import Rows, by_seed, finetune_lines, task_rows, versus
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
from decore_env.envs.suite import SUITE, suite_task


def _matrix(
    table: Mapping[str, Mapping[int, float]],
    trainers: Sequence[str],
    tag: str,
    others: Sequence[str],
    over: Collection[str] = (),
) -> list[str]:
    """Each trained policy's ``tag`` rows against each of ``others`` (those ``over`` the
    few-shot budget flagged)."""
    heads = [f"vs {o}" + (" (over budget)" if o in over else "") for o in others]
    lines = ["| policy | " + " | ".join(heads) + " |"]
    lines.append("|---|" + "---|" * len(others))
    for trainer in trainers:
        mine = f"{trainer}:{tag}"
        lines.append(f"| {mine} | " + " | ".join(versus(table, mine, o) for o in others) + " |")
    return lines


def transfer_lines(search: Rows, finetune: Rows) -> list[str]:
    """The transfer section of the suite page (empty without transfer rows)."""
    if not search:
        return []
    trainers = [t for t in TRAINERS if any(r["agent"].startswith(f"{t}:") for r in search)]
    lines = [
        "## Transfer track: a shared policy on tasks it never trained on",
        "",
        f"{_training(trainers)}, seeds {_seeds(search)}. Zero-shot: the policy's architecture "
        f"with no pair scored on the task; few-shot: {FEW_SHOT:.0%} of the task's search "
        "budget to adapt (native REINFORCE from the policy), against the others given the "
        "same pairs. One-shot test top-1 (%) with adaptive BN; differences in points, paired "
        f"by seed, {CONFIDENCE:.0%} t intervals. Regenerate: "
        "`python benchmarks/transfer.py --ray`.",
        "",
    ]
    held_out = [*HELD_OUT, *(t.id for t in SUITE if t.id not in HELD_OUT)]
    for task in map(suite_task, held_out):
        mine = task_rows(search, task)
        if not mine:
            continue
        table, pairs = by_seed(mine), _most_pairs(mine)
        over = _over_budget(pairs)
        lines += [f"### `{task.id}`", ""]
        lines += _means_lines(table, pairs, over)
        lines += ["", "Zero-shot against the references that spend no pairs:", ""]
        lines += _matrix(table, trainers, ZERO_SHOT, ZERO_PAIR_REFERENCES)
        lines += ["", f"Few-shot against the searchers given the same {FEW_SHOT:.0%}:", ""]
        few = [f"{a}:{FEW_SHOT_TAG}" for a in FEW_SHOT_AGENTS]
        lines += _matrix(table, trainers, FEW_SHOT_TAG, few, over)
        if task_rows(finetune, task):
            lines += ["", "Fine-tune track (drop from the baseline, points):", ""]
            lines += finetune_lines(finetune, task)
        lines.append("")
    return lines


def _training(trainers: Sequence[str]) -> str:
    """What each trainer's policy trained on, and how long."""
    on = {
        TRAINERS[0]: f"{', '.join(f'`{t}`' for t in TRAIN_TASKS)} at once",
        TRAINERS[1]: f"`{PPO_TRAIN_TASK}`",
    }
    what = {TRAINERS[0]: "", TRAINERS[1]: " (SB3 PPO with the shared actor)"}
    return ", ".join(
        f"{t}{what[t]} trains on {on[t]} ({TRAIN_SEARCHES[t]}x each task's search budget)"
        + ("" if t in trainers else " (no rows yet)")
        for t in TRAINERS
    )


def _most_pairs(rows: Rows) -> dict[str, int]:
    """contestant -> the most pairs it scored on a seed."""
    pairs: dict[str, int] = defaultdict(int)
    for row in rows:
        pairs[row["agent"]] = max(pairs[row["agent"]], int(row["pairs"]))
    return pairs


def _over_budget(pairs: Mapping[str, int]) -> set[str]:
    """The few-shot contestants past the few-shot budget: what the trained policies'
    few-shot runs spend (whole steps of the task)."""
    spent = [pairs[f"{t}:{FEW_SHOT_TAG}"] for t in TRAINERS if f"{t}:{FEW_SHOT_TAG}" in pairs]
    if not spent:
        return set()
    return {a for a, n in pairs.items() if a.endswith(FEW_SHOT_TAG) and n > min(spent)}


def _means_lines(
    table: Mapping[str, Mapping[int, float]], pairs: Mapping[str, int], over: Collection[str]
) -> list[str]:
    """Every contestant's mean with its interval and the most pairs it scored on a seed,
    flagged where that is ``over`` the few-shot budget."""
    lines = ["| contestant | pairs (most on a seed) | test top-1 [CI] | seeds |"]
    lines.append("|---|---|---|---|")
    for agent in sorted(table, key=lambda a: -sum(table[a].values()) / len(table[a])):
        values = list(table[agent].values())
        flag = " **over budget**" if agent in over else ""
        lines.append(
            f"| {agent} | {pairs[agent]:,}{flag} | {mean_interval(values)} | {len(values)} |"
        )
    return lines


def _seeds(rows: Rows) -> str:
    seeds = sorted({int(r["seed"]) for r in rows})
    return f"{seeds[0]}-{seeds[-1]}" if len(seeds) > 1 else str(seeds[0])
