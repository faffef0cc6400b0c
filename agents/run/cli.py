"""The `decore` command.

Each subcommand's options are generated from a config dataclass (help text from field
metadata), so the CLI, the configs and their defaults cannot drift apart. User errors print
one ``error: ...`` line and exit with status 2, leaving nothing half-written.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from decore_env.common.disk import DiskFullError

USAGE_ERROR = 2
INTERRUPTED = 130


class UsageError(ValueError):
    """A mistake of the user's (bad value, unknown name, missing data): reported in one line."""


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """`decore train`: train a baseline model, the starting point of a compression run."""

    model: str = dataclasses.field(metadata=_help("model name, e.g. lenet5, vgg16, resnet56"))
    dataset: str = dataclasses.field(
        default="embedded",
        metadata=_help(
            "embedded (MNIST subset shipped with the package, offline), mnist, fashion_mnist, "
            "cifar10, cifar100, or an image folder DIR with train/<class>/ and test/<class>/"
        ),
    )
    data_root: str | None = dataclasses.field(
        default=None,
        metadata=_help(
            "where torchvision data sets live (default $DECORE_DATA or ~/.cache/decore/data)"
        ),
    )
    epochs: int = dataclasses.field(
        default=6, metadata=_help("training epochs (6 fits LeNet-5 on embedded; CIFAR needs ~30)")
    )
    lr: float = dataclasses.field(default=0.1, metadata=_help("peak OneCycle learning rate"))
    batch_size: int = dataclasses.field(default=128, metadata=_help("images per SGD step"))
    weight_decay: float = dataclasses.field(
        default=5e-4, metadata=_help("L2 penalty on weights (not on biases or BN)")
    )
    label_smoothing: float = dataclasses.field(
        default=0.0, metadata=_help("cross-entropy label smoothing in [0, 1)")
    )
    seed: int = dataclasses.field(default=0, metadata=_help("seed of init, batch order, augment"))
    device: str = dataclasses.field(
        default="auto", metadata=_help("auto (cuda when available), cpu, cuda, cuda:1, ...")
    )
    out: str | None = dataclasses.field(
        default=None, metadata=_help("output folder (default runs/<model>-<dataset>)")
    )

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise UsageError(f"--seed must be >= 0, got {self.seed}")
        if not math.isfinite(self.lr):
            raise UsageError(f"--lr must be a finite number, got {self.lr}")
        for name in ("epochs", "batch_size", "lr"):
            if getattr(self, name) <= 0:
                raise UsageError(
                    f"--{name.replace('_', '-')} must be > 0, got {getattr(self, name)}"
                )
        if self.weight_decay < 0:
            raise UsageError(f"--weight-decay must be >= 0, got {self.weight_decay}")
        if not 0 <= self.label_smoothing < 1:
            raise UsageError(f"--label-smoothing must be in [0, 1), got {self.label_smoothing}")


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage, so every error is one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


_TYPES = {"int": int, "float": float, "int | None": int, "float | None": float}


def _add_config(parser: argparse.ArgumentParser, config: type, suppress: bool = False) -> None:
    """One ``--field-name`` option per dataclass field; fields without a default are required.

    :param suppress: leave options that were not given out of the parsed namespace, so they
        can override another config (the demo's defaults, a resumed run's settings).
    """
    for f in dataclasses.fields(config):
        if not f.metadata.get("cli", True):
            continue
        required = f.default is dataclasses.MISSING
        default = None if required else f.default
        shown = "" if required or default is None else f" [{default}]"
        kwargs: dict[str, Any] = {"dest": f.name, "help": f.metadata["help"] + shown}
        if suppress:
            kwargs["default"] = argparse.SUPPRESS
        elif not required:
            kwargs["default"] = default
        if str(f.type) == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs.update(type=_TYPES.get(str(f.type), str), metavar=f.name.upper())
            kwargs.update(required=required, choices=f.metadata.get("choices"))
        parser.add_argument(f"--{f.name.replace('_', '-')}", **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="decore", description="DECORE network compression by RL.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train = sub.add_parser("train", help=TrainConfig.__doc__, description=TrainConfig.__doc__)
    _add_config(train, TrainConfig)
    train.set_defaults(run=train_command, config=TrainConfig)
    from agents.run.config import CompressConfig

    for name, text in (
        ("compress", "compress a network: baseline, policy, prune, fine-tune, report"),
        ("demo", "the whole pipeline on the embedded MNIST subset (LeNet-5, CPU, minutes)"),
    ):
        cmd = sub.add_parser(name, help=text, description=text)
        _add_config(cmd, CompressConfig, suppress=True)
        cmd.add_argument("--out", help="run folder (default runs/<model>-<dataset>-<time>)")
        cmd.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR")
        cmd.add_argument(
            "--wandb",
            action="store_true",
            help="log to Weights & Biases "
            "(offline unless WANDB_API_KEY or WANDB_MODE say otherwise)",
        )
        cmd.add_argument(
            "--no-progress", dest="progress", action="store_false", help="no progress bars"
        )
        cmd.set_defaults(run=compress_command, config=None, demo=name == "demo")
    tasks = sub.add_parser("tasks", help=TASKS_HELP, description=TASKS_HELP)
    tasks.set_defaults(run=tasks_command, config=None)
    export = sub.add_parser("export", help=EXPORT_HELP, description=EXPORT_HELP)
    export.add_argument("run_dir", metavar="RUN_DIR", help="a finished run folder")
    export.add_argument(
        "--format",
        dest="fmt",
        choices=("pt2", "onnx"),
        default="pt2",
        help="pt2: torch.export program (load with torch.export.load); onnx: needs the onnx "
        "extra [pt2]",
    )
    export.add_argument("--out", help="file to write (default RUN_DIR/pruned.<format>)")
    export.set_defaults(run=export_command, config=None)
    return parser


EXPORT_HELP = "export a run's pruned network for deployment (pt2 or onnx)"
TASKS_HELP = "list the registered task ids (gym.make(ID)) and what each is"


def tasks_command() -> int:
    """`decore tasks`: every registered id, its settings and what it is; then the suite with
    each task's budget, search pairs and shipped baseline's accuracy."""
    from decore_env.envs.registry import TASKS
    from decore_env.envs.suite import SUITE

    width = max(map(len, TASKS))
    for task_id, task in TASKS.items():
        settings = ", ".join(f"{k}={v!r}" for k, v in task.kwargs.items()) or "defaults"
        print(f"{task_id:<{width}}  {settings}\n{'':<{width}}  {task.summary}")
    print(f"\nThe suite (benchmarks/results/suite.md):\n{'id':<{width}}  tier  budget" + " " * 12
          + "search pairs  baseline val / test")  # fmt: skip
    for task in SUITE:
        budget = f"{task.target:g} of {task.resource}"
        base = "-"
        if task.baseline_val is not None and task.baseline_test is not None:
            base = f"{100 * task.baseline_val:.2f} / {100 * task.baseline_test:.2f}"
        print(f"{task.id:<{width}}  {task.tier:<4}  {budget:<18}{task.pairs:>12,}  {base}")
    return 0


def export_command(run_dir: str, fmt: str, out: str | None) -> int:
    """`decore export`: write the pruned network of ``run_dir`` in ``fmt``, check it, say where."""
    from agents.run.export import export

    try:
        path, max_diff = export(Path(run_dir), fmt, None if out is None else Path(out))
    except (ValueError, ImportError) as exc:
        raise UsageError(str(exc)) from exc
    print(f"wrote {path} (outputs match the pruned network: max abs difference {max_diff:.2e})")
    return 0


def train_command(cfg: TrainConfig) -> int:
    """Train ``cfg.model`` on ``cfg.dataset``, save ``OUT/baseline.pt``, print the accuracy."""
    from agents.run.folders import check_writable_dir
    from decore_env import models
    from decore_env.common.files import read_tensors, resolve_device
    from decore_env.data.sets import load_dataset
    from decore_env.data.splits import DatasetError, check_batch_fits
    from decore_env.training.baseline import train_baseline
    from decore_env.training.fit import Schedule

    if cfg.model not in models.MODEL_NAMES:
        raise UsageError(
            f"unknown model {cfg.model!r}; valid names: {', '.join(models.MODEL_NAMES)}"
        )
    try:
        device = resolve_device(cfg.device)
        splits = load_dataset(cfg.dataset, root=cfg.data_root)
        models.for_data(cfg.model, splits.num_classes, splits.input_shape)  # refused early
        out = Path(cfg.out) if cfg.out else Path("runs") / f"{cfg.model}-{splits.name}"
        check_batch_fits(cfg.batch_size, splits)
        check_writable_dir(out)
    except (DatasetError, ValueError) as exc:
        raise UsageError(str(exc)) from exc
    schedule = Schedule(cfg.epochs, cfg.lr, cfg.batch_size, cfg.weight_decay, cfg.label_smoothing)
    command = shlex.join(["decore", *sys.argv[1:]])
    path = train_baseline(
        out / "baseline.pt", cfg.model, splits, schedule, cfg.seed, device, command=command
    )
    print(f"test accuracy: {read_tensors(path)['accuracy']:.4f} (saved to {path})")
    return 0


def compress_command(
    demo: bool, out: str | None, resume: str | None, wandb: bool, progress: bool, **given: Any
) -> int:
    """`decore compress` / `decore demo`: run or resume the pipeline, print the summary."""
    from agents.run.config import CompressConfig, demo_config, frozen_finetune_epochs, preset
    from agents.run.folders import default_run_dir, saved_config
    from agents.run.pipeline import compress

    command = shlex.join(["decore", *sys.argv[1:]])
    try:
        if resume:
            base = saved_config(Path(resume))
        else:
            base = demo_config() if demo else CompressConfig()
            base = dataclasses.replace(base, **preset(given.get("agent", base.agent)))
        config = dataclasses.replace(base, **given)
        preset_froze = resume is None and base.train_network is False
        if preset_froze and given.keys().isdisjoint({"train_network", "finetune_epochs"}):
            # the policy epochs do not train the network: they go to fine-tuning
            config = dataclasses.replace(config, finetune_epochs=frozen_finetune_epochs(config))
        if resume is None:
            out = out or str(default_run_dir(config.model, config.dataset))
        elif out is not None and Path(out).resolve() != Path(resume).resolve():
            raise UsageError("--resume RUN_DIR is the run folder; leave out --out")
        folder = Path(resume or out)
        report = compress(
            config,
            folder,
            resume=resume is not None,
            wandb=wandb,
            progress=progress,
            command=command,
        )
    except KeyboardInterrupt:
        print(f"\ninterrupted; continue with: decore compress --resume {folder}", file=sys.stderr)
        return INTERRUPTED
    except ValueError as exc:  # user errors: RunError, DatasetError, CheckpointError, ...
        raise UsageError(str(exc)) from exc
    print((folder / "summary.md").read_text())
    print(f"compression {report['compression']:.1f}x; run folder: {folder}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `decore` console script; returns the exit status."""
    try:
        args = vars(build_parser().parse_args(argv))
        run, config = args.pop("run"), args.pop("config")
        args.pop("command")
        return run(**args) if config is None else run(config(**args))
    except (UsageError, DiskFullError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE_ERROR


if __name__ == "__main__":
    sys.exit(main())
