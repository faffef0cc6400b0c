"""The leaderboard: per task and target, one row per agent, from the sweep's CSV rows.

Accuracy after fine-tuning and params kept are interquartile means over seeds with 95%
bootstrap intervals (agents.bench.stats, seeded: the markdown is the same byte for byte each time
it is rendered from the same CSV), plus each agent's probability of beating the native agent
on a seed. A row whose kept fraction is more than 2% (relative) off the target is flagged
with what it reached, never dropped. Plots: accuracy vs params kept (Pareto) and learning
curves (median and interquartile range over seeds), as PNG beside the markdown.

Rows must come from one commit unless --allow-mixed-commits is given; the header then names
each commit with its contestants (the committed rows come from two, benchmarks/README.md says
why).

    python benchmarks/report.py --allow-mixed-commits  # benchmarks/results/*.md, PNGs
    python benchmarks/report.py --csv other.csv --out-dir /tmp/board
    python benchmarks/report.py --suite  # the suite's page (benchmarks/results/suite.md)
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from agents.bench.results import ResultsCSV, SchemaError
from agents.bench.stats import bootstrap_ci, iqm, probability_of_improvement
from agents.bench.suite_page import render_suite_from
from agents.bench.sweep import (
    CELL_KEY,
    CONTESTANTS,
    CURVE_TABLE_COLUMNS,
    NATIVE,
    RESULT_COLUMNS,
    RESULT_NUMBERS,
    follow_target,
    is_rl,
)
from agents.run.config import ADDED_LEVERS, PLUS_LEVERS, PRESET_LEVERS
from agents.run.folders import check_writable_dir
from agents.run.plots import save_figure
from decore_env.common.disk import DiskFullError
from decore_env.common.files import write_text_atomic

HERE = Path(__file__).resolve().parent

Rows = list[dict[str, str]]

ABLATION = (
    "reinforce",
    "reinforce-demo",
    *(f"reinforce+{lever}" for lever in PLUS_LEVERS if lever != "fast-start"),
    "reinforce-plus",
    *(f"reinforce-plus-no-{lever}" for lever in PRESET_LEVERS),
    *(f"reinforce-plus+{lever}" for lever in ADDED_LEVERS),
)
"""The ablation view: paper mode, each improvement alone, the preset, the preset less each of
its levers and with each other one."""
VIEWS: dict[str, tuple[str, tuple[str, ...]]] = {
    "leaderboard": (
        "Leaderboard",
        tuple(
            a
            for a in CONTESTANTS
            if a not in ABLATION or a in (NATIVE, "reinforce-demo", "reinforce-plus")
        ),
    ),
    "ablation": ("Ablation of the native agent", ABLATION),
}
"""The committed views of the sweep's CSV: file name -> (title, agents shown)."""


class MixedCommits(ValueError):
    """Rows from more than one commit."""


def read_rows(csv_path: Path) -> tuple[Rows, Rows]:
    """The result rows and the learning-curve points, one per cell (and pairs): the last
    written wins, should a cell appear twice."""
    rows = list(
        {
            tuple(r[k] for k in CELL_KEY): r
            for r in ResultsCSV(csv_path, RESULT_COLUMNS, CELL_KEY, RESULT_NUMBERS).rows()
        }.values()
    )
    curves_path = csv_path.with_name(f"{csv_path.stem}-curves{csv_path.suffix}")
    points = ResultsCSV(curves_path, CURVE_TABLE_COLUMNS, (*CELL_KEY, "pairs")).rows()
    last = {tuple(p[k] for k in (*CELL_KEY, "pairs")): p for p in points}
    return rows, list(last.values())


def check_one_commit(rows: Rows) -> None:
    """Refuse ``rows`` of more than one commit (:class:`MixedCommits` names them)."""
    commits = sorted({r["commit"] for r in rows})
    if len(commits) > 1:
        raise MixedCommits(
            f"rows come from {len(commits)} commits ({', '.join(c[:10] for c in commits)}); "
            "rerun the old cells at one commit, or pass --allow-mixed-commits"
        )


def commits_label(rows: Rows) -> str:
    """Each commit of ``rows`` with the contestants whose rows it made."""
    agents: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        agents[r["commit"]].add(r["agent"])
    if len(agents) == 1:
        return f"commit {next(iter(agents))[:10] or 'unknown'}"
    return "commits " + "; ".join(
        f"{c[:10] or 'unknown'}: {', '.join(sorted(a))}" for c, a in sorted(agents.items())
    )


def _interval(values: list[float], scale: float = 1.0, digits: int = 2) -> str:
    low, high = bootstrap_ci([values])
    return f"{scale * iqm(values):.{digits}f} [{scale * low:.{digits}f}, {scale * high:.{digits}f}]"


def _board_rows(rows: Rows, target: str) -> dict[str, Rows]:
    """Rows at ``target`` by agent."""
    by_agent: dict[str, Rows] = defaultdict(list)
    for row in rows:
        if row["target"] == target:
            by_agent[row["agent"]].append(row)
    return by_agent


def _native_beaten(runs: Rows, native: Rows) -> str:
    if not native or runs[0]["agent"] == NATIVE:
        return ""
    acc = [float(r["final_acc"]) for r in runs]
    return f"{probability_of_improvement(acc, [float(r['final_acc']) for r in native]):.2f}"


def board_table(rows: Rows, task: str, resource: str, target: str) -> list[str]:
    """The markdown table of one task and target, best IQM accuracy first."""
    by_agent = _board_rows(rows, target)
    native = by_agent.get(NATIVE, [])

    def rank(agent: str) -> tuple[float, float]:  # matched rows first, then accuracy
        runs = by_agent[agent]
        matched = sum(r["matched"] == "True" for r in runs) / len(runs)
        return (-matched, -iqm([float(r["final_acc"]) for r in runs]))

    order = sorted(by_agent, key=rank)
    lines = [
        f"### {task}: {resource} target {float(target):g}",
        "",
        f"| agent | seeds | top-1 after fine-tune, % (IQM [95% CI]) | drop, points | "
        f"{resource} kept (IQM [95% CI]) | matched | pairs | network epochs | "
        f"P(beats {NATIVE}) | search s (median) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    flagged = []
    for agent in order:
        runs = by_agent[agent]
        acc = [float(r["final_acc"]) for r in runs]
        drop = [float(r["drop_points"]) for r in runs]
        kept = [float(r[f"{resource}_kept"]) for r in runs]
        matched = sum(r["matched"] == "True" for r in runs)
        pairs = sorted({int(r["pairs"]) for r in runs})
        epochs = sorted({r["network_epochs"] for r in runs})
        search = float(np.median([float(r["search_s"]) for r in runs]))
        lines.append(
            f"| {agent} | {len(runs)} | {_interval(acc, 100)} | {iqm(drop):.2f} | "
            f"{_interval(kept, 1, 4)} | {matched}/{len(runs)} | "
            f"{'/'.join(f'{p:,}' for p in pairs)} | {'/'.join(epochs)} | "
            f"{_native_beaten(runs, native)} | {search:.0f} |"
        )
        flagged += [
            f"- {agent}, seed {r['seed']}: reached {float(r[f'{resource}_kept']):.4f} "
            f"({100 * (float(r[f'{resource}_kept']) / float(target) - 1):+.1f}% off the target)"
            for r in runs
            if r["matched"] != "True"
        ]
    if flagged:
        lines += ["", "Rows more than 2% (relative) off the target, kept in the table:", ""]
        lines += flagged
    return lines


def followers_table(rows: Rows, resource: str, target: str) -> list[str]:
    """Each RL row beside l1_global pruned to the fraction that row reached (same seed)."""
    l1 = {(r["seed"], float(r["target"])): r for r in rows if r["agent"] == "l1_global"}
    pairs = []
    for row in rows:
        if row["target"] != target or not is_rl(row["agent"]):
            continue
        reached = follow_target(float(row[f"{resource}_kept"]))
        match = l1.get((row["seed"], reached))
        if match is not None:
            pairs.append((row, match, f"{reached:.4f}"))
    if not pairs:
        return []
    lines = [
        "",
        "RL rows beside l1_global pruned to the fraction each reached (same seed, same "
        "baseline; l1_global meets it from below, within 2%):",
        "",
        "| agent | seed | reached | top-1 % | l1_global reached | l1_global top-1 % | "
        "difference, points |",
        "|---|---|---|---|---|---|---|",
    ]
    for row, match, reached in sorted(pairs, key=lambda p: (p[0]["agent"], int(p[0]["seed"]))):
        ours, theirs = float(row["final_acc"]), float(match["final_acc"])
        lines.append(
            f"| {row['agent']} | {row['seed']} | {reached} | {100 * ours:.2f} | "
            f"{float(match[f'{resource}_kept']):.4f} | {100 * theirs:.2f} | "
            f"{100 * (ours - theirs):+.2f} |"
        )
    return lines


def main_targets(rows: Rows) -> list[tuple[str, str, str]]:
    """(task, resource, target) of the main grid: every target but those where only l1_global
    ran (the fractions RL rows reached, shown in the followers table)."""
    agents = defaultdict(set)
    for r in rows:
        agents[(r["task"], r["resource"], r["target"])].add(r["agent"])
    return sorted(k for k, a in agents.items() if len(a) > 1 or "l1_global" not in a)


def render_markdown(rows: Rows, png_names: Sequence[str], title: str, csv_name: str) -> str:
    mixed = " --allow-mixed-commits" if len({r["commit"] for r in rows}) > 1 else ""
    lines = [
        f"# {title}",
        "",
        f"Rendered by `python benchmarks/report.py{mixed}` from {csv_name} "
        f"({commits_label(rows)}). IQM = interquartile mean over seeds; intervals "
        "are 95% percentile bootstrap intervals (2,000 resamples, seeded); P(beats "
        f"{NATIVE}) = probability that a seed of the agent ends more accurate than a seed of "
        f"{NATIVE}. Rows are sorted by their share of matched rows (within 2% of the "
        "target), then by accuracy: an agent that keeps more than asked is not ranked above "
        "one that met the target. Protocol: benchmarks/README.md.",
    ]
    for task, resource, target in main_targets(rows):
        task_rows = [r for r in rows if r["task"] == task and r["resource"] == resource]
        lines += ["", *board_table(task_rows, task, resource, target)]
        lines += followers_table(task_rows, resource, target)
    lines += ["", "Plots: " + ", ".join(f"[{n}]({n})" for n in png_names), "", "Commands:", ""]
    lines += ["```", *sorted({r["command"] for r in rows}), "```", ""]
    return "\n".join(lines)


def plot_pareto(rows: Rows, task: str, resource: str, target: str, path: Path) -> Path:
    """Accuracy vs params kept: one marker per agent at its IQMs, 95% intervals as bars."""
    fig = Figure(figsize=(9, 4.5))
    ax = fig.add_subplot()
    markers = itertools.cycle("osD^vP*X<>")
    for agent, runs in sorted(_board_rows(rows, target).items()):
        acc = [100 * float(r["final_acc"]) for r in runs]
        kept = [float(r[f"{resource}_kept"]) for r in runs]
        (a_lo, a_hi), (k_lo, k_hi) = bootstrap_ci([acc]), bootstrap_ci([kept])
        x, y = iqm(kept), iqm(acc)
        ax.errorbar(
            x,
            y,
            xerr=[[x - k_lo], [k_hi - x]],
            yerr=[[y - a_lo], [a_hi - y]],
            fmt=next(markers),
            capsize=3,
            label=agent,
        )
    ax.axvline(float(target), color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel(f"{resource} kept (fraction)")
    ax.set_ylabel("top-1 after fine-tuning, %")
    ax.set_title(f"{task}: accuracy vs {resource} kept (IQM, 95% CI)")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return save_figure(fig, path)


def plot_curves(points: Rows, task: str, target: str, path: Path) -> Path:
    """Params kept and masked accuracy vs scored pairs: median and IQR over seeds."""
    fig = Figure(figsize=(10, 4))
    axes = fig.subplots(1, 2)
    by_agent: dict[str, dict[int, list[tuple[float, float]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for p in points:
        if p["task"] == task and p["target"] == target:
            by_agent[p["agent"]][int(p["pairs"])].append(
                (float(p["params_kept"]), float(p["accuracy"]))
            )
    for agent, series in sorted(by_agent.items()):
        pairs = np.array(sorted(series))
        for ax, column in zip(axes, (0, 1), strict=True):
            values = [np.array([v[column] for v in series[p]]) for p in pairs]
            low, mid, high = np.array([np.percentile(v, [25, 50, 75]) for v in values]).T
            (line,) = ax.plot(pairs, mid, label=agent)
            ax.fill_between(pairs, low, high, color=line.get_color(), alpha=0.2)
    axes[0].axhline(float(target), color="grey", linestyle=":", linewidth=1)
    axes[0].set_ylabel("params kept by the reported architecture")
    axes[1].set_ylabel("accuracy of the scored masks")
    for ax in axes:
        ax.set_xlabel("scored (mask, image) pairs")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1e3:g}k"))
    axes[1].legend(fontsize=8)
    fig.suptitle(f"{task}: learning curves (median, IQR over seeds)")
    fig.tight_layout()
    return save_figure(fig, path)


def render(
    csv_path: Path,
    out_dir: Path,
    allow_mixed_commits: bool = False,
    title: str = "Leaderboard",
    agents: Sequence[str] | None = None,
    name: str | None = None,
) -> Path:
    """Write ``name``.md (default: the CSV's name) and its PNGs into ``out_dir``, from the rows
    of ``agents`` (default: all, l1_global kept for the RL rows' fractions); returns the
    markdown's path."""
    rows, points = read_rows(csv_path)
    if agents is not None:
        shown = {*agents, "l1_global"}
        rows = [r for r in rows if r["agent"] in shown]
        points = [p for p in points if p["agent"] in shown]
    if not rows:
        raise ValueError(f"{csv_path} holds no such rows; run benchmarks/compare_agents.py first")
    name = name or csv_path.stem
    if not allow_mixed_commits:
        check_one_commit(rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    pngs = []
    for task, resource, target in main_targets(rows):
        task_rows = [r for r in rows if r["task"] == task and r["resource"] == resource]
        stem = f"{name}-{task}-{resource}{float(target):g}"
        plot_pareto(task_rows, task, resource, target, out_dir / f"{stem}-pareto.png")
        pngs.append(f"{stem}-pareto.png")
        if any(p["task"] == task and p["target"] == target for p in points):
            plot_curves(points, task, target, out_dir / f"{stem}-curves.png")
            pngs.append(f"{stem}-curves.png")
    path = out_dir / f"{name}.md"
    write_text_atomic(path, render_markdown(rows, pngs, title, csv_path.name))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=HERE / "results" / "leaderboard.csv")
    parser.add_argument("--out-dir", type=Path, default=None, help="default: beside the CSV")
    parser.add_argument("--allow-mixed-commits", action="store_true")
    parser.add_argument(
        "--agents",
        nargs="+",
        choices=CONTESTANTS,
        help="one view of only these agents' rows (and l1_global); default: the views "
        f"{', '.join(VIEWS)}",
    )
    parser.add_argument("--title", default="Leaderboard", help="the heading of an --agents view")
    parser.add_argument("--name", help="file name of an --agents view (default: the CSV's)")
    parser.add_argument("--suite", action="store_true", help="the suite's page from the CSVs")
    args = parser.parse_args(argv)
    out_dir = args.out_dir or args.csv.parent
    views = {args.name: (args.title, args.agents)} if args.agents else VIEWS
    try:
        if args.suite:
            written = render_suite_from(args.csv.parent, out_dir)
            print(f"rendered {', '.join(str(p) for p in written)}")
            return 0
        if not args.csv.is_file():
            raise ValueError(
                f"{args.csv} does not exist: run benchmarks/compare_agents.py first, or pass "
                "--csv with the results file"
            )
        check_writable_dir(out_dir, "--out-dir")
        for name, (title, agents) in views.items():
            options = {"title": title, "agents": agents, "name": name}
            path = render(args.csv, out_dir, args.allow_mixed_commits, **options)
            print(path.read_text())
    except (MixedCommits, SchemaError, ValueError, DiskFullError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
