"""The suite's leaderboard page, rendered from the committed CSVs alone (byte for byte).

Search track, per run: the normalised score (acc - acc_random) / (acc_baseline - acc_random),
where acc is the run's one-shot test top-1, acc_baseline the shipped baseline's and
acc_random the mean of the ``random`` reference (a random mask at the same budget) on that
task. 0 is what a mask drawn at random reaches, 1 the unpruned network: the scale each task's
difficulty sets, so tasks of different networks and budgets average (as Atari's
human-normalised score does across games). Across tasks and seeds 0-4 of each (so every
task weighs the same): the IQM with a stratified bootstrap interval (strata = tasks, as
rliable), and performance profiles. The fine-tune
track is shown as the drop from the baseline per task: after fine-tuning a random mask sits
near the baseline, and that normalisation would divide by almost nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from agents.bench.search_report import mean_interval
from agents.bench.stats import CONFIDENCE, bootstrap_ci, iqm, paired_difference
from agents.bench.sweep import CONTESTANTS
from agents.names import ON_POLICY, REFERENCES
from agents.run.plots import save_figure
from decore_env.envs.suite import SuiteTask

Rows = Sequence[Mapping[str, str]]
PROFILE_TAUS = np.linspace(-0.5, 1.1, 161)
"""Normalised scores at which the performance profiles are read."""
RANDOM = "random"
"""The reference that sets a task's zero."""
PAIRED = (("reinforce-plus", "greedy"), ("reinforce-plus", "l1_global"), ("greedy", "l1_global"))
"""The differences every task shows in both tracks side by side: the native agent against
the strongest searcher (greedy) and against weight-norm pruning, and greedy against the
latter."""
AGGREGATE_SEEDS = 5
"""Seeds 0-4 of every task enter the suite score and profiles (the fewest a task has), so
that each task weighs the same; the per-task tables use all of a task's seeds."""


def task_rows(rows: Rows, task: SuiteTask) -> list[Mapping[str, str]]:
    """The rows of ``task``: its name in the tables, its target and resource."""
    return [
        r
        for r in rows
        if r["task"] == task.track_task
        and float(r["target"]) == task.target
        and r["resource"] == task.resource
    ]


def normalised_scores(rows: Rows, task: SuiteTask) -> dict[str, dict[int, float]]:
    """Contestant -> seed -> the normalised score of its run on ``task`` (none without the
    random reference's rows)."""
    mine = task_rows(rows, task)
    random = [float(r["test_acc"]) for r in mine if r["agent"] == RANDOM]
    if not random or task.baseline_test is None:
        return {}
    zero, span = float(np.mean(random)), task.baseline_test - float(np.mean(random))
    scores: dict[str, dict[int, float]] = defaultdict(dict)
    for row in mine:
        scores[row["agent"]][int(row["seed"])] = (float(row["test_acc"]) - zero) / span
    return dict(scores)


def suite_score_lines(per_task: Mapping[str, Mapping[str, list[float]]]) -> list[str]:
    """The suite table: each contestant's IQM of normalised scores over all its runs in
    ``per_task`` (task label -> contestant -> scores), with the stratified bootstrap interval,
    its mean, and its mean per task."""
    tasks = list(per_task)
    agents = sorted({a for scores in per_task.values() for a in scores})
    lines = [
        f"| contestant | tasks | runs | IQM [{CONFIDENCE:.0%} stratified bootstrap] | mean | "
        f"{' | '.join(tasks)} |",
        "|---|---|---|---|---|" + "---|" * len(tasks),
    ]
    strata = {a: [per_task[t][a] for t in tasks if a in per_task[t]] for a in agents}
    ranked = sorted(agents, key=lambda a: (-len(strata[a]), -iqm(np.concatenate(strata[a]))))
    for agent in ranked:
        runs = np.concatenate(strata[agent])
        low, high = bootstrap_ci(strata[agent])
        cells = " | ".join(
            f"{np.mean(per_task[t][agent]):.2f}" if agent in per_task[t] else "-" for t in tasks
        )
        lines.append(
            f"| {agent} | {len(strata[agent])}/{len(tasks)} | {runs.size} | "
            f"{iqm(runs):.3f} [{low:.3f}, {high:.3f}] | {runs.mean():.3f} | {cells} |"
        )
    return lines


def aggregated(
    tasks: Sequence[SuiteTask], per_task: Mapping[str, Mapping[str, Mapping[int, float]]]
) -> dict[str, dict[str, list[float]]]:
    """Task label ("T1", ...) -> contestant -> its scores on seeds below AGGREGATE_SEEDS: each
    task weighs the same in the suite score (the LeNet tasks have 10 seeds, the CIFAR ones
    5)."""
    out = {}
    for i, task in enumerate(tasks):
        if not task.grid:  # held out of the suite score (the transfer track's task)
            continue
        scores = per_task.get(task.id, {})
        kept = {
            agent: [v for seed, v in sorted(by_seed.items()) if seed < AGGREGATE_SEEDS]
            for agent, by_seed in scores.items()
        }
        kept = {agent: values for agent, values in kept.items() if values}
        if kept:
            out[f"T{i + 1}"] = kept
    return out


def plot_profiles(per_task: Mapping[str, Mapping[str, list[float]]], path: Path) -> Path:
    """Performance profiles: the fraction of a contestant's runs (all tasks, all seeds) whose
    normalised score exceeds tau, against tau."""
    agents = sorted({a for scores in per_task.values() for a in scores})
    fig = Figure(figsize=(7.5, 4.5))
    ax = fig.subplots()
    for i, agent in enumerate(agents):
        runs = np.concatenate([s[agent] for s in per_task.values() if agent in s])
        fractions = [(runs > tau).mean() for tau in PROFILE_TAUS]
        style = ":" if agent in REFERENCES else "-"
        ax.plot(PROFILE_TAUS, fractions, style, color=colormaps["tab20"](i % 20), label=agent)
    ax.set_xlabel("normalised score tau (0: random mask at the budget, 1: the baseline)")
    ax.set_ylabel("fraction of runs with score > tau")
    ax.set_title("Search track over the suite: performance profiles")
    ax.legend(fontsize=7, ncol=2)
    return save_figure(fig, path)


def task_lines(rows: Rows, task: SuiteTask, scores: Mapping[str, Mapping[int, float]]) -> list[str]:
    """One task's search-track table: seeds on target, one-shot test top-1, normalised score,
    pairs (a contestant that needed more than the budget is flagged, never dropped)."""
    by_agent: dict[str, list[Mapping[str, str]]] = defaultdict(list)
    for row in task_rows(rows, task):
        by_agent[row["agent"]].append(row)
    lines = [
        f"| contestant | seeds on target | one-shot test top-1 [{CONFIDENCE:.0%} CI] | "
        "normalised score (mean) | pairs (mean) |",
        "|---|---|---|---|---|",
    ]
    order = sorted(by_agent, key=lambda a: -np.mean([float(r["test_acc"]) for r in by_agent[a]]))
    for agent in order:
        runs = by_agent[agent]
        matched = sum(r["matched"] == "True" for r in runs)
        pairs = max(int(float(r["pairs"])) for r in runs)
        fewest = min(int(float(r["pairs"])) for r in runs)
        on_policy = CONTESTANTS.get(agent, {}).get("agent") in ON_POLICY
        flag = ""
        if pairs > task.pairs and on_policy:
            flag = f" (up to {pairs - task.pairs:,} more: its last rollout)"
        elif pairs > task.pairs:
            flag = f" **over budget** (needed up to {pairs:,})"
        elif on_policy and fewest < task.pairs:
            flag = f" (as few as {fewest / task.pairs:.0%} of the budget: whole rollouts only)"
        score = f"{np.mean(list(scores[agent].values())):.3f}" if agent in scores else "-"
        lines.append(
            f"| {agent} | {matched}/{len(runs)} | "
            f"{mean_interval([float(r['test_acc']) for r in runs])} | {score} | "
            f"{int(np.mean([float(r['pairs']) for r in runs])):,}{flag} |"
        )
    return lines


def by_seed(rows: Rows) -> dict[str, dict[int, float]]:
    """contestant -> seed -> test top-1."""
    table: dict[str, dict[int, float]] = defaultdict(dict)
    for row in rows:
        table[row["agent"]][int(row["seed"])] = float(row["test_acc"])
    return table


def versus(table: Mapping[str, Mapping[int, float]], mine: str, other: str) -> str:
    """``mine`` - ``other`` in points over their common seeds, with its paired t interval
    ("-" under two common seeds)."""
    seeds = sorted(set(table.get(mine, {})) & set(table.get(other, {})))
    if len(seeds) < 2:
        return "-"
    diff = paired_difference([table[mine][s] for s in seeds], [table[other][s] for s in seeds])
    return f"{100 * diff.mean:+.2f} [{100 * diff.low:+.2f}, {100 * diff.high:+.2f}]"


def paired_lines(search: Rows, finetune: Rows) -> list[str]:
    """One task's PAIRED differences of test top-1 (points, over the seeds both sides have)
    in the search track (one-shot) and after each fine-tuning length, side by side."""
    lengths = sorted({int(r["epochs"]) for r in finetune})
    tables = [by_seed(search)]
    tables += [by_seed([r for r in finetune if int(r["epochs"]) == n]) for n in lengths]
    heads = ["search track (one-shot)", *(f"fine-tuned {n} epoch(s)" for n in lengths)]
    lines = [
        f"| test top-1 difference [{CONFIDENCE:.0%} CI] | " + " | ".join(heads) + " |",
        "|---|" + "---|" * len(heads),
    ]
    for mine, other in PAIRED:
        cells = " | ".join(versus(table, mine, other) for table in tables)
        lines.append(f"| {mine} - {other} | {cells} |")
    return lines


def finetune_lines(rows: Rows, task: SuiteTask) -> list[str]:
    """One task's fine-tune track: each contestant's drop from the baseline's test top-1
    (points, mean over seeds with its t interval) at each length."""
    mine = task_rows(rows, task)
    lengths = sorted({int(r["epochs"]) for r in mine})
    table: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in mine:
        drop = (task.baseline_test or 0.0) - float(row["test_acc"])
        table[row["agent"]][int(row["epochs"])].append(drop)
    heads = " | ".join(f"{n} epoch(s): drop [{CONFIDENCE:.0%} CI], seeds" for n in lengths)
    lines = [f"| contestant | {heads} |", "|---|" + "---|" * len(lengths)]

    def key(agent: str) -> tuple[int, float]:
        longest = max(table[agent])
        return -longest, float(np.mean(table[agent][longest]))

    for agent in sorted(table, key=key):
        cells = " | ".join(
            f"{mean_interval(table[agent][n])}, {len(table[agent][n])}"
            if n in table[agent]
            else "-"
            for n in lengths
        )
        lines.append(f"| {agent} | {cells} |")
    return lines


def suite_lines(
    tasks: Sequence[SuiteTask], search: Rows, finetune: Rows, out: Path, sources: Sequence[str]
) -> tuple[list[str], list[Path]]:
    """The suite page's lines for both tracks, and the plots written in ``out``."""
    per_task = {t.id: normalised_scores(search, t) for t in tasks}
    suite = aggregated(tasks, per_task)
    lines = [
        "# Suite leaderboard",
        "",
        f"Rendered by `python benchmarks/report.py --suite` from {', '.join(sources)}; the",
        "grid runs with `python benchmarks/suite.py` (the protocol: `benchmarks/README.md`).",
        "",
        "| | task | network | data | budget | search pairs | baseline val / test |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, task in enumerate(tasks):
        base = (
            f"{100 * task.baseline_val:.2f} / {100 * task.baseline_test:.2f}"
            if task.baseline_val is not None and task.baseline_test is not None
            else "-"
        )
        held_out = "" if task.grid else " (held out: transfer track)"
        lines.append(
            f"| T{i + 1} | `{task.id}`{held_out} | {task.model} | {task.dataset} | "
            f"{task.target:g} of {task.resource} | {task.pairs:,} | {base} |"
        )
    written = []
    if suite:
        picture = plot_profiles(suite, out / "suite-profiles.png")
        written.append(picture)
        lines += ["", "## Search track over the suite", "", __doc__.split("\n\n")[1], ""]
        lines += suite_score_lines(suite)
        lines += ["", f"![performance profiles]({picture.name})", ""]
    for i, task in enumerate(tasks):
        searched, tuned = task_rows(search, task), task_rows(finetune, task)
        if searched:
            lines += [f"## T{i + 1} search track: `{task.id}`", ""]
            lines += [*task_lines(searched, task, per_task.get(task.id, {})), ""]
        if tuned:
            lines += [f"## T{i + 1} fine-tune track: drop from the baseline (points)", ""]
            lines += [*finetune_lines(tuned, task), ""]
        if searched:
            lines += [f"## T{i + 1} paired differences (points, paired by seed, t interval)", ""]
            lines += [*paired_lines(searched, tuned), ""]
    return lines, written
