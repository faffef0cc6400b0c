"""The paper's CIFAR-10 rows (VGG16-BN, ResNet-56): its published numbers, the columns of the
reproduction table (``benchmarks/reproduce.py`` writes it), and the markdown that shows
measured rows beside the published ones."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agents.bench.results import ResultsCSV
from decore_env.common.files import write_text_atomic


@dataclass(frozen=True)
class Published:
    """Numbers as the paper prints them: top-1 in %, params and MACs (its "FLOPs") in millions."""

    top1: float
    params_m: float
    macs_m: float


@dataclass(frozen=True)
class PaperRow:
    """One published DECORE run on CIFAR-10."""

    name: str
    model: str
    """Registry name of the network (``decore_env.models``)."""
    lam: float
    result: Published
    params_reduction: float
    """Published params reduction, %."""
    macs_reduction: float
    """Published MACs reduction, %."""

    @property
    def key(self) -> str:
        """The row's name in the CSV and on the command line."""
        return f"{self.model}-{self.name}"


# All published numbers below: M. Alwani, Y. Wang, V. Madhavan, "DECORE: Deep Compression with
# Reinforcement Learning", CVPR 2022, CIFAR-10 results for VGG16-BN and ResNet-56.
VGG16_BASELINE = Published(93.96, 14.98, 313.73)
"""VGG16-BN on CIFAR-10 before pruning (paper)."""
RESNET56_BASELINE = Published(93.26, 0.85, 125.49)
"""ResNet-56 on CIFAR-10 before pruning (paper)."""
PAPER_BASELINES = {"vgg16": VGG16_BASELINE, "resnet56": RESNET56_BASELINE}
TITLES = {"vgg16": "VGG16-BN", "resnet56": "ResNet-56"}

VGG16_DECORE_500 = PaperRow("DECORE-500", "vgg16", 500, Published(94.02, 5.54, 203.08), 63.0, 35.3)
"""VGG16-BN at lambda 500 (paper)."""
VGG16_DECORE_200 = PaperRow("DECORE-200", "vgg16", 200, Published(93.56, 1.66, 110.51), 89.0, 64.8)
"""VGG16-BN at lambda 200 (paper)."""
VGG16_DECORE_100 = PaperRow("DECORE-100", "vgg16", 100, Published(92.44, 0.51, 51.20), 96.6, 81.5)
"""VGG16-BN at lambda 100 (paper)."""
VGG16_DECORE_50 = PaperRow("DECORE-50", "vgg16", 50, Published(91.68, 0.26, 36.85), 98.3, 88.3)
"""VGG16-BN at lambda 50 (paper)."""
RESNET56_DECORE_450 = PaperRow(
    "DECORE-450", "resnet56", 450, Published(93.34, 0.64, 92.48), 24.2, 26.3
)
"""ResNet-56 at lambda 450 (paper)."""
RESNET56_DECORE_200 = PaperRow(
    "DECORE-200", "resnet56", 200, Published(93.26, 0.43, 62.93), 49.0, 49.9
)
"""ResNet-56 at lambda 200 (paper)."""
RESNET56_DECORE_55 = PaperRow(
    "DECORE-55", "resnet56", 55, Published(90.85, 0.13, 23.22), 85.3, 81.5
)
"""ResNet-56 at lambda 55 (paper)."""
PAPER_ROWS = (
    VGG16_DECORE_500,
    VGG16_DECORE_200,
    VGG16_DECORE_100,
    VGG16_DECORE_50,
    RESNET56_DECORE_450,
    RESNET56_DECORE_200,
    RESNET56_DECORE_55,
)
ROWS = {row.key: row for row in PAPER_ROWS}

MODES = ("lambda", "budget")
SOURCES = {"lambda": "by lambda", "budget": "budget"}

COLUMNS = (
    "row",
    "mode",
    "seed",
    "model",
    "lam",
    "target_params",
    "lam_final",
    "train_accuracy",
    "break_even",
    "baseline_accuracy",
    "pruned_accuracy",
    "params_before",
    "params_after",
    "macs_before",
    "macs_after",
    "baseline_epochs",
    "policy_epochs",
    "finetune_epochs",
    "batch_size",
    "policy_s",
    "finetune_s",
    "data",
    "device",
    "gpu",
    "cpu",
    "torch",
    "git_commit",
    "command",
)
KEY = ("row", "mode", "seed")


def results_table(out_dir: Path) -> ResultsCSV:
    return ResultsCSV(out_dir / "reproduce.csv", COLUMNS, KEY)


def _millions(count: float) -> str:
    return f"{count / 1e6:.2f}M"


def _published_line(row: PaperRow) -> str:
    base = PAPER_BASELINES[row.model]
    return (
        f"| {row.name} | paper | {row.result.top1:.2f} | {row.result.top1 - base.top1:+.2f} | "
        f"{row.result.params_m:.2f}M ({row.params_reduction:.1f}%) | "
        f"{row.result.macs_m:.2f}M ({row.macs_reduction:.1f}%) | {row.lam:g} | | |"
    )


def _measured_line(row: PaperRow, r: dict[str, str]) -> str:
    base_acc, acc = float(r["baseline_accuracy"]), float(r["pruned_accuracy"])
    params = [float(r["params_before"]), float(r["params_after"])]
    macs = [float(r["macs_before"]), float(r["macs_after"])]
    train, even = float(r["train_accuracy"]), float(r["break_even"])
    if r["mode"] == "lambda":
        source, lam = f"by lambda, seed {r['seed']}", f"{row.lam:g}"
    else:
        source = f"budget {float(r['target_params']):.3f}, seed {r['seed']}"
        lam = f"{float(r['lam_final']):.3g} (final)"
    note = ""
    if r["mode"] == "lambda" and train <= even:
        note = "training accuracy at or below break-even: dropping never pays, little pruning"
    return (
        f"| {row.name} | {source} | {100 * acc:.2f} (base {100 * base_acc:.2f}) | "
        f"{100 * (acc - base_acc):+.2f} | "
        f"{_millions(params[1])} ({100 * (1 - params[1] / params[0]):.1f}%) | "
        f"{_millions(macs[1])} ({100 * (1 - macs[1] / macs[0]):.1f}%) | {lam} | "
        f"{100 * train:.2f} / {100 * even:.2f} | {note} |"
    )


def render(out_dir: Path) -> Path:
    """``reproduce.md`` from ``reproduce.csv`` (rows not measured yet say so)."""
    rows = results_table(out_dir).rows()
    lines = [
        "# DECORE on CIFAR-10: the paper's rows reproduced",
        "",
        "Paper: Alwani, Wang, Madhavan, DECORE, CVPR 2022. Measured: `benchmarks/reproduce.py`,",
        "from `reproduce.csv` (each row there carries its hardware, versions, commit and",
        "command). Top-1 in % on the test split; Δ against the baseline of the same run (the",
        "paper's against its own); params and MACs (the paper's FLOPs) with their reductions.",
        "A by-lambda row prunes as the paper did only if the baseline's training accuracy",
        "exceeds the break-even lambda / (1 + lambda): the last-but-one column compares them.",
        "Absolute accuracies depend on the copy of the data (a JPEG re-encoding of CIFAR-10",
        "sits a few points below the original): compare the Δ columns.",
        "",
    ]
    if not rows:
        lines += ["No row has been measured yet: the runs need a GPU (see the README).", ""]
    for model, base in PAPER_BASELINES.items():
        lines += [
            f"## {TITLES[model]} (paper's baseline: {base.top1:.2f}%, {base.params_m:.2f}M params, "
            f"{base.macs_m:.2f}M MACs)",
            "",
            "| run | source | top-1 | Δ (pts) | params | MACs | λ | train acc / break-even (%)"
            " | note |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for row in (r for r in PAPER_ROWS if r.model == model):
            lines.append(_published_line(row))
            for mode in MODES:
                done = [r for r in rows if r["row"] == row.key and r["mode"] == mode]
                lines += [_measured_line(row, r) for r in done]
                if not done:
                    lines.append(f"| {row.name} | {SOURCES[mode]} | not yet measured | | | | | | |")
        lines.append("")
    if rows:
        gpus = sorted({r["gpu"] or r["cpu"] for r in rows})
        data = sorted({r["data"] for r in rows})
        lines += [f"Hardware: {', '.join(gpus)}; data: {', '.join(data)}.", ""]
    path = out_dir / "reproduce.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, "\n".join(lines))
    return path


# ---------------------------------------------------------------------------------------- main
