"""Trained weights for a task: given, shipped, trained on first use and cached, or refused.

A task scores masks on a trained network; with random weights every mask scores about chance
and the rewards say nothing. So a registry network needs a checkpoint, except the default
task (LeNet-5 on the embedded MNIST subset), whose weights ship in the package
(:data:`DEFAULT_WEIGHTS`, the same network on every machine, whatever the task's seed), and a
task built with ``train_baseline=True``, which trains (once, cached by its settings) before it
starts. The cache is ``$DECORE_CACHE`` or ``~/.cache/decore``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import os
from pathlib import Path
from typing import Any

import torch

from decore_env import models
from decore_env.data.sets import load_dataset
from decore_env.data.splits import DataSplits
from decore_env.task.defaults import DEFAULT_DATASET, DEFAULT_MODEL
from decore_env.training.baseline import train_baseline
from decore_env.training.fit import Schedule
from decore_env.training.metrics import count

DEFAULT_WEIGHTS = "lenet5-embedded.pt"
"""The default task's baseline in the package's assets, trained on the embedded training split
(val held out) by ``scripts/train_default_weights.py`` with this module's schedule, seed 0."""
DEFAULT_WEIGHTS_SHA256 = "4826bda27564f68304f522a41dc586094be7a63d504bcbb2bb94976fff313956"
"""sha256 of :data:`DEFAULT_WEIGHTS` (the README quotes it; a test checks the file)."""
BASELINE_EPOCHS = {"embedded": 6, "mnist": 6, "fashion_mnist": 10}
"""Epochs of a baseline trained for a task (our choice): 6 give LeNet-5 about 98% on the
embedded set; data sets not listed get DEFAULT_BASELINE_EPOCHS."""
DEFAULT_BASELINE_EPOCHS = 30
"""Epochs of a baseline trained for any other data set (CIFAR-style schedules)."""
BASELINE_LR = 0.05
"""Peak OneCycle learning rate of a baseline trained for a task."""
BASELINE_BATCH = 128
"""Batch size of that training."""
BASELINE_WEIGHT_DECAY = 5e-4
"""Weight decay of that training."""
CPU_MACS_PER_S = 3.0e10
"""Multiply-accumulates per second of a plain forward pass on a small CPU, on the low side:
one thread of this project's Xeon runs VGG16 at 72 GMAC/s and ResNet-56 at 50 GMAC/s
(plain_forward rows of benchmarks/results/throughput.csv), an earlier 2-core AMD EPYC 38 and
30; only for the time estimate in the message that asks for a checkpoint."""
TRAIN_COST_FACTOR = 3
"""A training step costs about three forward passes (forward, two backward products)."""


TRAIN_SPLITS = {
    "mnist": (60_000, (1, 28, 28), 10),
    "fashion_mnist": (60_000, (1, 28, 28), 10),
    "cifar10": (50_000, (3, 32, 32), 10),
    "cifar100": (50_000, (3, 32, 32), 100),
    "imagenet": (1_281_167, (3, 224, 224), 1000),
}
"""(training images, image shape, classes) of the named data sets, so that a task without
weights is refused before its data is looked for."""


class MissingWeightsError(ValueError):
    """A task whose network has no trained weights; the message says how to get them."""


def cache_dir() -> Path:
    """Where trained weights are cached: ``$DECORE_CACHE``, else ``~/.cache/decore``."""
    return Path(os.environ.get("DECORE_CACHE", Path.home() / ".cache" / "decore"))


@functools.cache
def embedded_data() -> DataSplits:
    """The embedded data set, loaded once per process and shared (read-only) by every env."""
    return load_dataset("embedded")


def baseline_epochs(dataset: str) -> int:
    """Epochs of a baseline trained for ``dataset``."""
    return BASELINE_EPOCHS.get(dataset, DEFAULT_BASELINE_EPOCHS)


def task_schedule(dataset: str) -> Schedule:
    """How a baseline for ``dataset`` is trained: the default task's and the cache's."""
    return Schedule(baseline_epochs(dataset), BASELINE_LR, BASELINE_BATCH, BASELINE_WEIGHT_DECAY)


def default_weights() -> Path:
    """The shipped weights of the default task."""
    path = Path(str(importlib.resources.files("decore_env").joinpath("assets", DEFAULT_WEIGHTS)))
    if not path.is_file():
        raise MissingWeightsError(
            f"the default task's weights {path} are missing from the installed package; "
            "reinstall it, or rebuild them with `python scripts/train_default_weights.py`"
        )
    return path


def cached_baseline(model: str, splits: DataSplits, seed: int, device: Any) -> Path:
    """Path of ``model`` trained on ``splits`` with the task schedule, training it on first use.

    Keyed by model, data set, schedule and seed; written atomically, so a crash or a
    concurrent process never leaves half a checkpoint.
    """
    epochs = baseline_epochs(splits.name)
    key = f"{model}-{splits.name}-e{epochs}-lr{BASELINE_LR}-b{BASELINE_BATCH}-s{seed}"
    key += f"-val{len(splits.val_y)}"  # trained on train minus val
    if splits.name != DEFAULT_DATASET and splits.name not in TRAIN_SPLITS:  # a folder
        digest = hashlib.sha256(splits.train_y.numpy().tobytes())
        digest.update(splits.train_x[:: max(1, len(splits.train_x) // 64)].numpy().tobytes())
        key += f"-{digest.hexdigest()[:10]}"
    path = cache_dir() / f"{key}.pt"
    if path.is_file():
        return path
    return train_baseline(path, model, splits, task_schedule(splits.name), seed, device, False)


def is_default_task(model: object, dataset: object) -> bool:
    """The one task whose weights ship in the package."""
    return model == DEFAULT_MODEL and (dataset == DEFAULT_DATASET or dataset is embedded_data())


def needs_weights(spec: Any) -> bool:
    """A registry network with no checkpoint outside the default task, not asked to train."""
    return (
        isinstance(spec.model, str)
        and spec.checkpoint is None
        and not spec.train_baseline
        and not is_default_task(spec.model, spec.dataset)
    )


def refuse_without_weights(
    model: str, dataset: str, train_images: int, shape: tuple[int, ...], classes: int
) -> MissingWeightsError:
    """The error for a registry network with no checkpoint: the command that trains one and
    about how long it takes on a CPU."""
    net = models.create(model, num_classes=classes)
    _, macs = count(net, torch.zeros(1, *shape))
    epochs = baseline_epochs(dataset)
    hours = epochs * train_images * TRAIN_COST_FACTOR * macs / CPU_MACS_PER_S / 3600
    out = f"runs/{model}-{Path(dataset).name}"
    return MissingWeightsError(
        f"model {model!r} has no trained weights for {dataset}: train them with `decore "
        f"train --model {model} --dataset {dataset} --epochs {epochs} --out {out}` (about "
        f"{hours:.1f} h on a 2-core CPU, minutes on a GPU) and pass "
        f"checkpoint='{out}/baseline.pt', or pass train_baseline=True"
    )
