"""The fine-tune track: the search track's architectures, pruned from the shipped baseline and
fine-tuned with one fixed schedule at two lengths, where users end up.

Each cell reads the projected mask of a search-track row (on target), removes the dropped
channels from the shipped baseline for real (:func:`decore_env.channels.surgery.prune`), and
fine-tunes the pruned network with the task's fine-tuning schedule (one-cycle SGD at its
learning rate, batch 128) for each length of ``FINETUNE_EPOCHS``, seeded with the row's seed.
Test is read once per cell, at the end; val beside it. :func:`rank_correlations` says how far
the search track's ranking of the contestants predicts each fine-tuned ranking (Spearman).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import stats as scipy_stats
from tqdm import tqdm

from agents.bench.cells import CELL_KEY, Cell, with_cell
from agents.bench.results import ResultsCSV
from agents.bench.search import mask_from_hex
from agents.bench.search_report import mean_interval, paired_lines
from agents.bench.stats import CONFIDENCE
from agents.bench.sweep import PAPER_AGENT, CellsFailed, each_outcome
from agents.run.config import CompressConfig
from agents.run.folders import RunLocked
from agents.run.pipeline import TRAIN_BATCH_SIZE, compress
from agents.run.summary import provenance
from decore_env.channels.gates import ChannelGates
from decore_env.channels.surgery import load_pruned, prune_to
from decore_env.common.files import resolve_device, write_text_atomic
from decore_env.task.build import build_network, load_splits
from decore_env.training.fit import Schedule, fit
from decore_env.training.metrics import count_params, split_accuracy

FINETUNE_EPOCHS = (1, 33)
"""The two lengths: one epoch, and the default task's whole network-training schedule (30
policy + 3 fine-tuning epochs, as the leaderboard gives every contestant)."""
FINETUNE_COLUMNS = (
    *CELL_KEY,
    "epochs",
    "search_test_acc",
    "params",
    "val_acc",
    "test_acc",
    "finetune_s",
    "versions",
    "commit",
    "command",
)


def finetune_cell(
    row: Mapping[str, str], epochs: int, task: CompressConfig, checkpoint: str | Path, command: str
) -> dict[str, Any]:
    """Prune the shipped baseline to the row's architecture, fine-tune it ``epochs`` epochs."""
    spec = task.task_spec(checkpoint=str(checkpoint))
    splits = load_splits(spec)
    net = build_network(spec, splits).eval()
    example = torch.zeros(1, *splits.input_shape)
    gates = ChannelGates(net, example)
    mask = mask_from_hex(row["mask"], gates.n_agents)
    pruned, _ = prune_to(net, gates, mask, example)
    schedule = Schedule(epochs, task.finetune_lr, TRAIN_BATCH_SIZE, task.weight_decay)
    start = time.perf_counter()
    fit(pruned, splits, schedule, resolve_device(task.device), int(row["seed"]), progress=False)
    seconds = time.perf_counter() - start
    return {name: row[name] for name in CELL_KEY} | {
        "epochs": epochs,
        "search_test_acc": row["test_acc"],
        "params": count_params(pruned),
        "val_acc": split_accuracy(pruned, splits, "val"),
        "test_acc": split_accuracy(pruned, splits, "test"),
        "finetune_s": round(seconds, 1),
        **provenance(),
        "command": command,
    }


JOINT = "reinforce-joint"
"""The fine-tune track's labelled row: paper-mode DECORE with the paper's own training, the
network trained jointly during the search (30 joint epochs + 3 fine-tune on the default task,
the same 33 network epochs) from the shipped baseline, at its own kept fraction (paper mode
does not meet a target exactly: not projected, not ranked with the others)."""
JOINT_FINETUNE_EPOCHS = 3
"""Fine-tune epochs after joint training: with the search's 30 joint epochs, 33 in all."""
JOINT_TARGET = 0.1
"""The kept fraction of params its budget wrapper steers to (the track's target)."""


def joint_training_cell(
    cell: Cell, task: CompressConfig, checkpoint: str | Path, work: Path, command: str
) -> dict[str, Any]:
    """One run of the paper's pipeline (joint training, budget mode at the cell's target) from
    the shipped baseline, as a fine-tune-track row; its run folder in ``work``."""
    settings = PAPER_AGENT | {"train_network": True, "finetune_epochs": JOINT_FINETUNE_EPOCHS}
    config = with_cell(task, cell, checkpoint, settings)
    out = work / cell.name
    report = compress(config, out, resume=(out / "config.json").is_file(), progress=False)
    pruned = load_pruned(out / "pruned.pt")
    splits = load_splits(config.task_spec())
    epochs = report["epochs"]
    return cell.key() | {
        "epochs": epochs["policy"] + epochs["finetune"],
        "search_test_acc": report["searched"]["accuracy"],
        "params": report["pruned"]["params"],
        "val_acc": split_accuracy(pruned, splits, "val"),
        "test_acc": report["pruned"]["accuracy"],
        "finetune_s": round(report["phases_s"].get("finetune", 0.0), 1),
        **provenance(),
        "command": command,
    }


def run_joint_rows(
    task_name: str,
    seeds: Sequence[int],
    task: CompressConfig,
    checkpoint: str | Path,
    csv: Path,
    work: Path,
    command: str,
    progress: bool = True,
) -> int:
    """The :data:`JOINT` row of each seed that has none in ``csv`` yet; returns how many ran."""
    table = ResultsCSV(csv, FINETUNE_COLUMNS, (*CELL_KEY, "epochs"))
    done = {(r["task"], r["agent"], r["seed"]) for r in table.rows()}
    cells = [Cell(task_name, JOINT, seed, JOINT_TARGET) for seed in seeds]
    todo = [c for c in cells if (c.task, c.agent, str(c.seed)) not in done]
    ran = 0
    for cell in tqdm(todo, desc="joint-training cells", unit="cell", disable=not progress):
        if (cell.task, cell.agent, str(cell.seed)) in {
            (r["task"], r["agent"], r["seed"]) for r in table.rows()
        }:
            continue  # another process ran it meanwhile
        try:
            ran += table.append(joint_training_cell(cell, task, checkpoint, work, command))
        except RunLocked:  # another process is running it and appends its row
            continue
    return ran


def run_finetune_grid(
    search_rows: Sequence[Mapping[str, str]],
    seeds: Sequence[int],
    task: CompressConfig,
    checkpoint: str | Path,
    csv: Path,
    command: str,
    progress: bool = True,
    lengths: Mapping[int, Collection[str] | None] | None = None,
    use_ray: bool = False,
) -> int:
    """Fine-tune every on-target search row of ``seeds`` at every length that has no row in
    ``csv`` yet; returns how many cells ran. ``lengths``: epochs -> the contestants fine-tuned
    that long (None: all; default: every contestant at each FINETUNE_EPOCHS). ``use_ray``:
    cells as Ray tasks of one CPU each."""
    lengths = dict.fromkeys(FINETUNE_EPOCHS) if lengths is None else lengths
    table = ResultsCSV(csv, FINETUNE_COLUMNS, (*CELL_KEY, "epochs"))
    done = table.done()
    todo = [
        (row, epochs)
        for row in search_rows
        if row["matched"] == "True" and int(row["seed"]) in seeds
        for epochs, agents in lengths.items()
        if (agents is None or row["agent"] in agents)
        and table.key_of({**row, "epochs": epochs}) not in done
    ]
    calls = {i: (row, epochs, task, checkpoint, command) for i, (row, epochs) in enumerate(todo)}
    ran, failed = 0, []
    for i, outcome in tqdm(each_outcome(finetune_cell, calls, use_ray), total=len(calls),
                           desc="fine-tune cells", unit="cell", disable=not progress):  # fmt: skip
        row, epochs = todo[i]
        if table.key_of({**row, "epochs": epochs}) in table.done():  # run by another process
            continue
        try:
            ran += table.append(outcome())
        except ValueError as exc:  # one cell that cannot run does not stop the others
            failed.append(f"{row['agent']} seed {row['seed']}, {epochs} epochs: {exc}")
    if failed:
        raise CellsFailed(failed, len(todo))
    return ran


def rank_correlations(rows: Sequence[Mapping[str, str]]) -> dict[tuple[str, int], float]:
    """Spearman's correlation, per (target, epochs), between the contestants' mean one-shot
    test top-1 (search track) and their mean fine-tuned test top-1, over the same rows."""
    cells: dict[tuple[str, int], dict[str, list[tuple[float, float]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for row in rows:
        pair = (float(row["search_test_acc"]), float(row["test_acc"]))
        cells[row["target"], int(row["epochs"])][row["agent"]].append(pair)
    out = {}
    for key, by_agent in sorted(cells.items()):
        means = np.array([np.mean(pairs, axis=0) for pairs in by_agent.values()])
        out[key] = float(scipy_stats.spearmanr(means[:, 0], means[:, 1]).statistic)
    return out


def common_seeds(rows: Sequence[Mapping[str, str]]) -> list[Mapping[str, str]]:
    """The rows of the seeds every contestant has, per (target, epochs): means and ranks
    over different seed sets would not compare."""
    seeds: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for row in rows:
        seeds[row["target"], row["epochs"]][row["agent"]].add(row["seed"])
    shared = {key: set.intersection(*by_agent.values()) for key, by_agent in seeds.items()}
    return [r for r in rows if r["seed"] in shared[r["target"], r["epochs"]]]


def render_finetune_track(rows: Sequence[Mapping[str, str]], path: Path) -> Path:
    """The fine-tune track as markdown: per target and length, each contestant's one-shot and
    fine-tuned test top-1 (means over the seeds every contestant has, with t intervals), the
    rank correlation of the two, and each RL contestant against every reference, paired."""
    joint = [r for r in rows if r["agent"] == JOINT]
    rows = common_seeds([r for r in rows if r["agent"] != JOINT])
    lines = [
        "# Fine-tune track",
        "",
        "Rendered by `python benchmarks/finetune_track.py --render`: the search track's",
        "architectures pruned from the shipped baseline and fine-tuned (one-cycle SGD, batch",
        f"{TRAIN_BATCH_SIZE}); top-1 on test in %, means over the seeds every contestant has",
        f"(seeds beyond those are left out), with their {CONFIDENCE:.0%} t intervals.",
        "",
    ]
    for (target, epochs), rho in rank_correlations(rows).items():
        cells = [r for r in rows if r["target"] == target and int(r["epochs"]) == epochs]
        table: dict[str, dict[int, Mapping[str, str]]] = defaultdict(dict)
        for row in cells:
            table[row["agent"]][int(row["seed"])] = row
        seeds = sorted({int(r["seed"]) for r in cells})
        lines += [
            f"## {float(target):g} of params kept, {epochs} epoch(s) of fine-tuning",
            "",
            f"Seeds {', '.join(map(str, seeds))}. Spearman correlation of the search-track "
            f"ranking with this one: {rho:+.2f}.",
            "",
            "| contestant | one-shot (search track) | fine-tuned |",
            "|---|---|---|",
        ]
        ranked = sorted(
            table, key=lambda a: -np.mean([float(r["test_acc"]) for r in table[a].values()])
        )
        for agent in ranked:
            runs = list(table[agent].values())
            searched = 100 * np.mean([float(r["search_test_acc"]) for r in runs])
            tuned = mean_interval([float(r["test_acc"]) for r in runs])
            lines.append(f"| {agent} | {searched:.2f} | {tuned} |")
        lines += [
            "",
            "Fine-tuned, against every reference, seed by seed:",
            "",
            *paired_lines(table),
            "",
        ]
    lines += _joint_lines(joint)
    commits = sorted({r["commit"][:7] for r in [*rows, *joint]})
    lines += [f"Rows from commit {', '.join(commits)}.", ""]
    return write_text_atomic(path, "\n".join(lines))


def _joint_lines(rows: Sequence[Mapping[str, str]]) -> list[str]:
    """The labelled section of the :data:`JOINT` rows (none: no section)."""
    if not rows:
        return []
    lines = [
        "## Paper-mode DECORE with its own joint training (labelled, not ranked)",
        "",
        f"The paper's pipeline from the shipped baseline: the network trained jointly during the "
        f"search, lambda steered towards {JOINT_TARGET:g} of params by the budget wrapper, then "
        f"{JOINT_FINETUNE_EPOCHS} fine-tune epochs (33 network epochs, as in the 33-epoch table). "
        "Its architecture is its own (paper mode does not meet a target exactly, and is not "
        "projected), so it is not ranked with the others.",
        "",
        "| seed | params | right after the search | after fine-tuning |",
        "|---|---|---|---|",
    ]
    for row in sorted(rows, key=lambda r: int(r["seed"])):
        lines.append(
            f"| {row['seed']} | {int(row['params']):,} | {100 * float(row['search_test_acc']):.2f} "
            f"| {100 * float(row['test_acc']):.2f} |"
        )
    tests = [float(r["test_acc"]) for r in rows]
    return [*lines, f"| mean | | | {mean_interval(tests)} |", ""]
