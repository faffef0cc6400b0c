"""The search track's tables and plot, rendered from its CSVs alone.

Per target: every contestant's one-shot test top-1 (mean over seeds, with the paired t
interval of its mean), the seeds on target, the agent's own kept fraction before the
projection, the channels the projection changed, the anytime val mean and the pairs spent;
then each RL contestant against every reference, seed by seed (:mod:`agents.bench.stats`):
the mean difference with its paired t interval, Holm's adjustment across the references, and
P(improvement) on the same pairs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from agents.bench.stats import CONFIDENCE, holm, paired_difference
from agents.names import REFERENCES
from agents.run.plots import save_figure
from decore_env.common.files import write_text_atomic

_MARKERS = "osD^v<>pXh*P8"
"""One marker per contestant: colours repeat after ten."""


def _by_agent(rows: Sequence[Mapping[str, str]], target: str) -> dict[str, dict[int, dict]]:
    table: dict[str, dict[int, dict]] = defaultdict(dict)
    for row in rows:
        if row["target"] == target:
            table[row["agent"]][int(row["seed"])] = row
    return table


def mean_interval(values: Sequence[float]) -> str:
    """The mean of ``values`` in % with its t interval (df = n - 1)."""
    if len(values) < 2:
        return f"{100 * values[0]:.2f}"
    diff = paired_difference(values, [0.0] * len(values))
    return f"{100 * diff.mean:.2f} [{100 * diff.low:.2f}, {100 * diff.high:.2f}]"


def _summary_lines(table: Mapping[str, Mapping[int, dict]]) -> list[str]:
    lines = [
        f"| contestant | seeds on target | one-shot test top-1, mean [{CONFIDENCE:.0%} CI] "
        "| own kept (mean) | channels projected (mean) | anytime val | pairs |",
        "|---|---|---|---|---|---|---|",
    ]
    order = sorted(table, key=lambda a: -np.mean([float(r["test_acc"]) for r in table[a].values()]))
    for agent in order:
        runs = list(table[agent].values())
        matched = sum(r["matched"] == "True" for r in runs)
        tests = [float(r["test_acc"]) for r in runs]
        lines.append(
            f"| {agent} | {matched}/{len(runs)} | {mean_interval(tests)} "
            f"| {np.mean([float(r['agent_kept']) for r in runs]):.3f} "
            f"| {np.mean([float(r['changed']) for r in runs]):.1f} "
            f"| {100 * np.mean([float(r['anytime_val']) for r in runs]):.2f} "
            f"| {int(np.mean([float(r['pairs']) for r in runs])):,} |"
        )
    return lines


def paired_lines(table: Mapping[str, Mapping[int, dict]]) -> list[str]:
    """Markdown rows: each RL contestant of ``table`` (agent -> seed -> row) against every
    reference, on the seeds both ran: test top-1 difference, Holm p, P(improvement)."""
    references = [a for a in REFERENCES if a in table]
    lines = [
        "| contestant | reference | seeds | test top-1 difference (points) "
        f"[{CONFIDENCE:.0%} paired t] | Holm p | P(improvement) |",
        "|---|---|---|---|---|---|",
    ]
    for agent in sorted(a for a in table if a not in REFERENCES):
        diffs = []
        for reference in references:
            seeds = sorted(set(table[agent]) & set(table[reference]))
            if len(seeds) < 2:
                continue
            x = [float(table[agent][s]["test_acc"]) for s in seeds]
            y = [float(table[reference][s]["test_acc"]) for s in seeds]
            diffs.append((reference, len(seeds), paired_difference(x, y)))
        adjusted = holm([d.p_value for _, _, d in diffs]) if diffs else []
        for (reference, n, d), p in zip(diffs, adjusted, strict=True):
            lines.append(
                f"| {agent} | {reference} | {n} | {100 * d.mean:+.2f} "
                f"[{100 * d.low:+.2f}, {100 * d.high:+.2f}] | {p:.3g} | {d.p_improvement:.2f} |"
            )
    return lines


def plot_anytime(curves: Sequence[Mapping[str, str]], target: str, path: Path) -> Path:
    """Mean val one-shot top-1 over seeds against pairs spent, one line per contestant."""
    points: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in curves:
        if row["target"] == target:
            points[row["agent"]][int(row["pairs"])].append(float(row["val_acc"]))
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    for i, agent in enumerate(sorted(points)):
        pairs = sorted(points[agent])
        means = [100 * np.mean(points[agent][p]) for p in pairs]
        style = {"marker": _MARKERS[i % len(_MARKERS)], "markersize": 4, "label": agent}
        style["linestyle"] = ":" if agent in REFERENCES else "-"
        ax.plot([p / 1000 for p in pairs], means, color=f"C{i % 10}", **style)
    ax.set_xlabel("(mask, image) pairs scored (thousands)")
    ax.set_ylabel("one-shot top-1 on val (%)")
    ax.set_title(f"Search track, anytime: the projected architecture at {float(target):g}")
    if points:
        ax.legend(fontsize=7, ncol=2)
    return save_figure(fig, path)


def render_search_track(
    rows: Sequence[Mapping[str, str]], curves: Sequence[Mapping[str, str]], out: Path, stem: str
) -> list[Path]:
    """``<stem>.md`` and one anytime PNG per target in ``out``; returns the files written."""
    lines = [
        "# Search track",
        "",
        f"Rendered by `python benchmarks/search_track.py --render` from `{stem}.csv`; the",
        "protocol is in `benchmarks/README.md`. One-shot top-1: the shipped baseline pruned to",
        "the contestant's projected architecture, no weight update, on test. A reference that",
        "draws nothing (uniform, l1_layer, l1_global) gives the same mask on every",
        "seed: the shipped baseline is one network, so its interval has no width.",
        "",
    ]
    written = []
    for target in sorted({r["target"] for r in rows}, key=float, reverse=True):
        table = _by_agent(rows, target)
        picture = plot_anytime(curves, target, out / f"{stem}-{float(target):g}-anytime.png")
        written.append(picture)
        lines += [f"## {float(target):g} of params kept", "", *_summary_lines(table), ""]
        lines += ["Against every reference, seed by seed:", "", *paired_lines(table), ""]
        lines += [f"![anytime curves]({picture.name})", ""]
    commits = sorted({r["commit"][:7] for r in rows})
    lines += [f"Rows from commit {', '.join(commits)}.", ""]
    markdown = write_text_atomic(out / f"{stem}.md", "\n".join(lines))
    return [markdown, *written]
