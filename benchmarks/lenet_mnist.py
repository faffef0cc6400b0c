"""LeNet-5 on full MNIST: DECORE compression over several seeds, and budget mode.

Needs the real MNIST idx files (default: ../shared/data/MNIST/raw beside the checkout, or
--mnist-raw); they are copied into the torchvision layout under --data-root, nothing is
downloaded. Each run appends one CSV row (numbers + hardware, versions, commit, command) to
benchmarks/results/lenet_mnist.csv; the markdown table and the PNG plot are rendered from
all rows of that CSV.

    python benchmarks/lenet_mnist.py --seeds 0 1 2             # lambda runs
    python benchmarks/lenet_mnist.py --seeds 0 --budgets 0.5 0.2 0.1  # budget runs only
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from agents.bench.tasks import LENET_MNIST, MNIST_RAW, prepare_mnist
from agents.run.config import CompressConfig
from agents.run.pipeline import compress
from agents.run.plots import save_figure
from agents.run.summary import command_line, hardware_info, versions
from decore_env.common.files import write_text_atomic

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
CSV_PATH = RESULTS / "lenet_mnist.csv"
FIELDS = [
    "name",
    "seed",
    "budget",
    "lam_final",
    "baseline_acc",
    "pruned_acc",
    "drop_points",
    "params_before",
    "params_after",
    "compression",
    "macs_before",
    "macs_after",
    "params_kept_frac",
    "policy_s",
    "total_s",
    "hardware",
    "versions",
    "command",
]


def run_one(config: CompressConfig, name: str, runs_dir: Path, command: str) -> dict:
    out = runs_dir / name
    resume = (out / "config.json").exists()
    start = time.perf_counter()
    report = compress(config, out, resume=resume, command=command)  # refuses stale settings
    base, pruned = report["baseline"], report["pruned"]
    budget = config.target_params
    return {
        "name": name,
        "seed": config.seed,
        "budget": "" if budget is None else budget,
        "lam_final": f"{report['lam']:.4g}",
        "baseline_acc": f"{base['accuracy']:.4f}",
        "pruned_acc": f"{pruned['accuracy']:.4f}",
        "drop_points": f"{100 * (base['accuracy'] - pruned['accuracy']):.2f}",
        "params_before": base["params"],
        "params_after": pruned["params"],
        "compression": f"{base['params'] / pruned['params']:.2f}",
        "macs_before": base["macs"],
        "macs_after": pruned["macs"],
        "params_kept_frac": f"{pruned['params'] / base['params']:.4f}",
        "policy_s": f"{report['phases_s'].get('policy', 0.0):.0f}",
        "total_s": f"{time.perf_counter() - start:.0f}",
        "hardware": hardware_info().get("cpu", ""),
        "versions": f"torch {versions()['torch']}, commit {versions().get('git_commit')}",
        "command": command,
    }


def append_row(row: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    new = not CSV_PATH.exists()
    with CSV_PATH.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        if new:
            writer.writeheader()
        writer.writerow(row)


def render() -> None:
    """Markdown table and plot from the newest CSV row of each run name (the CSV keeps every
    row, so earlier code versions stay on record)."""
    newest = {r["name"]: r for r in csv.DictReader(CSV_PATH.open())}
    rows = list(newest.values())
    lines = [
        "# LeNet-5 / MNIST",
        "",
        "| run | seed | baseline top-1 | pruned top-1 | drop (pts) | params | compression |"
        " MACs | kept params | final lambda | policy s | total s | commit |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['seed']} | {100 * float(r['baseline_acc']):.2f} | "
            f"{100 * float(r['pruned_acc']):.2f} | {r['drop_points']} | "
            f"{r['params_before']} -> {r['params_after']} | {r['compression']}x | "
            f"{r['macs_before']} -> {r['macs_after']} | {r['params_kept_frac']} | "
            f"{r['lam_final']} | {r['policy_s']} | {r['total_s']} | {_commit(r)} |"
        )
    lam_rows = [r for r in rows if not r["budget"]]
    if lam_rows:
        comp = [float(r["compression"]) for r in lam_rows]
        drop = [float(r["drop_points"]) for r in lam_rows]
        lines += [
            "",
            f"lambda runs ({len(lam_rows)} seeds): compression {statistics.mean(comp):.2f}x "
            f"+/- {_spread(comp):.2f}, accuracy drop {statistics.mean(drop):.2f} "
            f"+/- {_spread(drop):.2f} points (mean +/- sample std).",
        ]
    lines += [
        "",
        f"Hardware: {rows[-1]['hardware']}; torch {versions()['torch']}. Rows of an older "
        "commit were measured before a later change (its note says what changed); seconds "
        "are wall-clock and depend on what else the machine ran.",
        "",
    ]
    write_text_atomic(RESULTS / "lenet_mnist.md", "\n".join(lines))
    _plot(rows)


def _commit(row: dict) -> str:
    """The short commit a row was measured at."""
    return row["versions"].rsplit("commit ", 1)[-1][:7]


def _spread(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def _plot(rows: list[dict]) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for r in rows:
        marker = "o" if not r["budget"] else "s"
        ax.scatter(float(r["compression"]), float(r["drop_points"]), marker=marker)
        ax.annotate(r["name"], (float(r["compression"]), float(r["drop_points"])), fontsize=7)
    ax.set_xlabel("params compression (x)")
    ax.set_ylabel("top-1 drop vs baseline (points)")
    ax.set_title("LeNet-5 / MNIST: DECORE runs (o lambda, s budget)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, RESULTS / "lenet_mnist.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--budgets",
        type=float,
        nargs="*",
        default=[],
        help="run budget mode with these kept-params targets instead of lambda runs",
    )
    parser.add_argument("--mnist-raw", type=Path, default=MNIST_RAW)
    parser.add_argument("--data-root", type=Path, default=HERE / ".data")
    parser.add_argument("--runs", type=Path, default=HERE / ".runs")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    root = prepare_mnist(args.mnist_raw, args.data_root)
    base = replace(LENET_MNIST, data_root=str(root))
    command = command_line(sys.argv)
    if args.budgets:
        jobs = [
            (replace(base, seed=s, target_params=b), f"budget{b}-seed{s}")
            for b in args.budgets
            for s in args.seeds
        ]
    else:
        jobs = [(replace(base, seed=s), f"lam{base.lam:g}-seed{s}") for s in args.seeds]
    for config, name in jobs:
        append_row(run_one(config, name, args.runs, command))
        render()
    print((RESULTS / "lenet_mnist.md").read_text())


if __name__ == "__main__":
    main()
