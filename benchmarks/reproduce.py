"""The paper's CIFAR-10 rows reproduced: VGG16-BN and ResNet-56, by lambda and by budget.

Each published row (VGG16-BN DECORE-500/200/100/50, ResNet-56 DECORE-450/200/55) runs twice
through ``agents.run.pipeline.compress``: at its published lambda ("lambda" mode), and in budget
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
from pathlib import Path

import torch

from agents.bench.paper_cifar import (
    MODES,
    PAPER_BASELINES,
    ROWS,
    PaperRow,
    render,
    results_table,
)
from agents.run import pipeline
from agents.run.config import CompressConfig
from agents.run.pipeline import compress
from agents.run.summary import command_line, hardware_info, versions
from decore_env import models
from decore_env.common.files import load_weights, resolve_device
from decore_env.data.folders import FOLDER_LAYOUT
from decore_env.data.sets import load_dataset
from decore_env.data.splits import DatasetError, DataSplits
from decore_env.task.defaults import PAPER_BATCH
from decore_env.task.rewards import break_even_accuracy
from decore_env.training.metrics import split_accuracy

HERE = Path(__file__).resolve().parent


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
    name = f"{model}-baseline-s{BASELINE_SEED}-e{args.baseline_epochs}-val"  # train minus val
    path = args.runs / name / "baseline.pt"
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
    return pipeline.run_baseline(config, path, args.progress, splits, args.command)


def training_accuracy(model: str, checkpoint: Path, splits: DataSplits, device: str) -> float:
    """Top-1 of the baseline on the training split (no augmentation)."""
    net = models.for_data(model, splits.num_classes, splits.input_shape)
    load_weights(net, checkpoint)
    device = resolve_device(device)
    return split_accuracy(net.to(device), splits, "train", device)


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
