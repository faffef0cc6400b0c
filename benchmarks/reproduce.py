"""The paper's CIFAR-10 rows reproduced: VGG16-BN and ResNet-56, by lambda and by budget.

Each published row (VGG16-BN DECORE-500/200/100/50, ResNet-56 DECORE-450/200/55) runs twice
through ``agents.pipeline.compress``: at its published lambda ("lambda" mode), and in budget
mode with ``target_params`` at the params fraction it published ("budget" mode), since a
lambda only prunes as the paper did when the baseline is as accurate on its training split
as the paper's: dropping a channel pays only above lambda / (1 + lambda) training accuracy.
Each row therefore records the baseline's training accuracy beside that break-even.

The data is CIFAR-10 as an image folder (``DIR/train/<class>/*``, ``DIR/test/<class>/*``, the
10 classes). The baseline of each network is trained here once (``BASELINE_EPOCHS``) and
shared by its rows, or given with ``--checkpoint MODEL=PATH``; policy and fine-tune epochs
are the paper's. A CIFAR-10 schedule needs a GPU: hours there, weeks on a CPU.

Rows go to ``OUT_DIR/reproduce.csv`` (one per row, mode and seed, with hardware, versions,
commit and command); a rerun skips the rows it has and resumes an interrupted run from its
last epoch. ``OUT_DIR/reproduce.md`` shows them beside the published numbers.

    python benchmarks/reproduce.py --data cifar10-jpeg                  # every row, both modes
    python benchmarks/reproduce.py --data cifar10-jpeg --rows vgg16-DECORE-200 --modes budget
    python benchmarks/reproduce.py --data cifar10-jpeg --checkpoint vgg16=runs/vgg16/baseline.pt
    python benchmarks/reproduce.py --render              # reproduce.md from reproduce.csv alone
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from agents import pipeline
from agents.config import CompressConfig
from agents.pipeline import EVAL_BATCH, compress
from agents.report import command_line, hardware_info, versions
from agents.results import ResultsCSV
from decore_env import models
from decore_env.data import FOLDER_LAYOUT, DatasetError, DataSplits, load_dataset
from decore_env.files import load_weights, resolve_device
from decore_env.metrics import accuracy
from decore_env.rewards import break_even_accuracy
from decore_env.spec import PAPER_BATCH

HERE = Path(__file__).resolve().parent


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
BASELINE_EPOCHS = 200
"""Epochs of a baseline trained here (our choice, a usual CIFAR-10 schedule): the paper's
lambdas need near-100% training accuracy, which short schedules do not reach."""
BASELINE_SEED = 0
"""One baseline per network, shared by every row, mode and seed."""
BASELINE_LR = 0.05
"""Peak OneCycle learning rate of that training (our choice)."""
POLICY_EPOCHS = CompressConfig.policy_epochs
"""The paper's 260 policy epochs (of its 300 on CIFAR-10)."""
FINETUNE_EPOCHS = CompressConfig.finetune_epochs
"""The paper's 40 fine-tuning epochs."""
CIFAR10_SHAPE = (3, 32, 32)
CIFAR10_CLASSES = 10

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


def load_cifar10(path: Path) -> DataSplits:
    """CIFAR-10 from an image folder, or DatasetError in one line saying what is wrong."""
    expected = (
        f"expected CIFAR-10 as {FOLDER_LAYOUT} with {CIFAR10_CLASSES} class folders of "
        f"{'x'.join(map(str, CIFAR10_SHAPE))} images"
    )
    train = path / "train"
    classes = sorted(d.name for d in train.iterdir() if d.is_dir()) if train.is_dir() else []
    if len(classes) != CIFAR10_CLASSES:
        raise DatasetError(
            f"{path} is not a CIFAR-10 data folder (found {len(classes)} class folders in train/): "
            f"{expected}"
        )
    splits = load_dataset(path)
    if splits.input_shape != CIFAR10_SHAPE:
        shape = "x".join(map(str, splits.input_shape))
        raise DatasetError(f"{path} holds {shape} images: {expected}")
    return splits


def parse_checkpoints(given: Sequence[str]) -> dict[str, Path]:
    """``MODEL=PATH`` items, each checked to load into that network."""
    found = {}
    for item in given:
        model, sep, path = item.partition("=")
        if not sep or model not in PAPER_BASELINES:
            raise ValueError(
                f"--checkpoint {item!r}: give MODEL=PATH with MODEL one of "
                f"{', '.join(PAPER_BASELINES)}"
            )
        load_weights(models.for_data(model, CIFAR10_CLASSES, CIFAR10_SHAPE), path)
        found[model] = Path(path)
    return found


def train_baseline(model: str, splits: DataSplits, args: argparse.Namespace) -> Path:
    """``model`` trained on ``splits`` (``--baseline-epochs``), once: saved beside the runs
    and resumed from its last epoch after an interruption."""
    path = args.runs / f"{model}-baseline-s{BASELINE_SEED}-e{args.baseline_epochs}" / "baseline.pt"
    if path.is_file():
        return path
    config = CompressConfig(
        model=model,
        dataset=str(args.data.resolve()),
        baseline_epochs=args.baseline_epochs,
        baseline_lr=BASELINE_LR,
        seed=BASELINE_SEED,
        device=args.device,
    )
    return pipeline.train_baseline(config, path, args.progress, splits)


def training_accuracy(model: str, checkpoint: Path, splits: DataSplits, device: str) -> float:
    """Top-1 of the baseline on the training split (no augmentation)."""
    net = models.for_data(model, splits.num_classes, splits.input_shape)
    load_weights(net, checkpoint)
    device = resolve_device(device)
    return accuracy(
        net.to(device), splits.train_x, splits.train_y, splits.mean, splits.std, EVAL_BATCH, device
    )


def run_row(
    row: PaperRow, mode: str, seed: int, checkpoint: Path, args: argparse.Namespace
) -> dict:
    """One row through the pipeline (resumed if its run folder exists); its CSV cells."""
    target = row.result.params_m / PAPER_BASELINES[row.model].params_m if mode == "budget" else None
    config = CompressConfig(
        model=row.model,
        dataset=str(args.data.resolve()),  # a resumed run compares settings: not cwd-relative
        checkpoint=str(checkpoint.resolve()),
        lam=float(row.lam),
        target_params=target,
        batch_size=args.batch_size,
        policy_epochs=args.policy_epochs,
        finetune_epochs=args.finetune_epochs,
        seed=seed,
        device=args.device,
        compile=args.compile,
    )
    out = args.runs / f"{row.key}-{mode}-s{seed}"
    resume = (out / "config.json").is_file()
    report = compress(config, out, resume=resume, progress=args.progress, command=args.command)
    base, pruned, phases = report["baseline"], report["pruned"], report["phases_s"]
    return {
        "model": row.model,
        "lam": row.lam,
        "target_params": None if target is None else round(target, 5),
        "lam_final": report["lam"],
        "break_even": break_even_accuracy(row.lam),
        "baseline_accuracy": base["accuracy"],
        "pruned_accuracy": pruned["accuracy"],
        "params_before": base["params"],
        "params_after": pruned["params"],
        "macs_before": base["macs"],
        "macs_after": pruned["macs"],
        "policy_epochs": args.policy_epochs,
        "finetune_epochs": args.finetune_epochs,
        "batch_size": args.batch_size,
        "policy_s": round(phases.get("policy", 0.0)),
        "finetune_s": round(phases.get("finetune", 0.0)),
        "device": str(resolve_device(args.device)),
    }


# ---------------------------------------------------------------------------------- rendering
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
    path.write_text("\n".join(lines))
    return path


# ---------------------------------------------------------------------------------------- main
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="CIFAR-10 image folder (train/, test/)")
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="seeds of every row")
    parser.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="MODEL=PATH",
        help="baseline weights of MODEL (vgg16, resnet56) instead of training them here",
    )
    parser.add_argument("--baseline-epochs", type=int, default=BASELINE_EPOCHS)
    parser.add_argument("--policy-epochs", type=int, default=POLICY_EPOCHS)
    parser.add_argument("--finetune-epochs", type=int, default=FINETUNE_EPOCHS)
    parser.add_argument("--batch-size", type=int, default=PAPER_BATCH, help="policy batch")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--compile", action="store_true", help="torch.compile the masked forward")
    parser.add_argument("--runs", type=Path, default=HERE / ".runs" / "reproduce")
    parser.add_argument("--out-dir", type=Path, default=HERE / "results", help="CSV and md")
    parser.add_argument("--no-progress", dest="progress", action="store_false")
    parser.add_argument("--render", action="store_true", help="only render the md from the CSV")
    args = parser.parse_args(argv)
    args.command = command_line([__file__, *(sys.argv[1:] if argv is None else argv)])
    return args


def reproduce(args: argparse.Namespace) -> None:
    """Every asked row not yet in the CSV, rendering the md after each."""
    table = results_table(args.out_dir)
    given = parse_checkpoints(args.checkpoint)
    resolve_device(args.device)
    if args.baseline_epochs < 1:
        raise ValueError(f"--baseline-epochs must be >= 1, got {args.baseline_epochs}")
    if args.data is None:
        raise ValueError("give --data DIR, CIFAR-10 as an image folder (or --render)")
    splits = load_cifar10(args.data)
    done = table.done()
    todo = [
        (ROWS[key], mode, seed)
        for key in args.rows
        for mode in args.modes
        for seed in args.seeds
        if table.key_of({"row": key, "mode": mode, "seed": seed}) not in done
    ]
    checkpoints, train_accuracy = {}, {}
    hardware, version = hardware_info(), versions()
    for i, (row, mode, seed) in enumerate(todo, 1):
        print(f"[{i}/{len(todo)}] {row.key}, {mode}, seed {seed}", flush=True)
        if row.model not in checkpoints:
            checkpoints[row.model] = given.get(row.model) or train_baseline(row.model, splits, args)
            train_accuracy[row.model] = training_accuracy(
                row.model, checkpoints[row.model], splits, args.device
            )
        cells = run_row(row, mode, seed, checkpoints[row.model], args)
        table.append(
            {
                "row": row.key,
                "mode": mode,
                "seed": seed,
                **cells,
                "train_accuracy": train_accuracy[row.model],
                "baseline_epochs": None if row.model in given else args.baseline_epochs,
                "data": splits.name,
                "gpu": hardware["gpu"],
                "cpu": hardware["cpu"],
                "torch": version["torch"],
                "git_commit": version["git_commit"],
                "command": args.command,
            }
        )
        render(args.out_dir)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if not args.render:
            reproduce(args)
        print(f"wrote {render(args.out_dir)}")
    except torch.cuda.OutOfMemoryError:
        half = max(1, args.batch_size // 2)
        print(
            f"error: out of GPU memory at policy batch {args.batch_size}: rerun with "
            f"--batch-size {half} (finished rows are kept, the interrupted one resumes)",
            file=sys.stderr,
        )
        return 1
    except ValueError as exc:  # bad data, checkpoint, settings: DatasetError, CheckpointError...
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; rerun the same command to continue", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
