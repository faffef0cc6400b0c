"""The one baseline trainer and its one checkpoint format.

``gym.make(..., train_baseline=True)``, the default task's shipped weights, ``decore train``, the
compress pipeline, the benchmark sweep and ``benchmarks/reproduce.py`` all train the network a
task starts from with :func:`train_baseline`, and all write :func:`baseline_checkpoint`'s dict
(tensors and plain values: it loads with ``weights_only=True``). Files of the earlier shapes
(a bare state dict, ``{"model": name, "state_dict": ...}``) still load through
:func:`decore_env.common.files.load_weights`.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from decore_env import models
from decore_env.common.files import atomic_save, read_tensors
from decore_env.common.seeds import derive_seed
from decore_env.data.splits import DataSplits
from decore_env.training.fit import Schedule, fit
from decore_env.training.metrics import split_accuracy

BASELINE_FORMAT = "decore-baseline"
"""The ``format`` entry of a baseline checkpoint."""
BASELINE_VERSION = 1
"""Layout version of a baseline checkpoint."""


def fresh_network(model: str, splits: DataSplits, seed: int) -> nn.Module:
    """The registry network ``model`` for ``splits`` before training: the same initial
    weights for the same seed, in every process."""
    torch.manual_seed(derive_seed(seed, "init"))
    return models.for_data(model, splits.num_classes, splits.input_shape)


def baseline_checkpoint(
    model: str,
    net: nn.Module,
    splits: DataSplits,
    accuracy: float,
    schedule: Schedule,
    seed: int,
    command: str = "",
) -> dict[str, Any]:
    """The checkpoint of baseline ``net`` (registry name ``model``) trained on ``splits``:
    ``accuracy`` on test (the number to report), ``val_accuracy`` (the one to tune on)."""
    return {
        "format": BASELINE_FORMAT,
        "version": BASELINE_VERSION,
        "model": model,
        "dataset": splits.name,
        "num_classes": splits.num_classes,
        "input_shape": splits.input_shape,
        "mean": splits.mean,
        "std": splits.std,
        "state_dict": {k: v.cpu() for k, v in net.state_dict().items()},
        "accuracy": accuracy,
        "val_accuracy": split_accuracy(net, splits, "val"),
        "epochs": schedule.epochs,
        "schedule": asdict(schedule),
        "seed": seed,
        "command": command,
    }


def train_baseline(
    path: str | os.PathLike,
    model: str,
    splits: DataSplits,
    schedule: Schedule,
    seed: int,
    device: str | torch.device,
    progress: bool = True,
    command: str = "",
) -> Path:
    """Train ``model`` on ``splits`` from its seeded initial weights and write its checkpoint
    at ``path`` (atomically: a crash never leaves half a file).

    The training state is saved after every epoch beside ``path`` (``<name>.fit``), so a
    killed call, repeated, continues from its last epoch to the same weights on the CPU.
    """
    path = Path(path)
    state_path = path.with_name(f"{path.name}.fit")
    net = fresh_network(model, splits, seed)
    accuracy = fit(
        net,
        splits,
        schedule,
        device,
        seed,
        progress=progress,
        resume=read_tensors(state_path) if state_path.is_file() else None,
        on_epoch=lambda state: atomic_save(state, state_path),
    )
    saved = atomic_save(
        baseline_checkpoint(model, net, splits, accuracy, schedule, seed, command), path
    )
    state_path.unlink(missing_ok=True)
    return saved
