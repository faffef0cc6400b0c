"""Trained weights for a task: given, shipped, trained on first use and cached, or refused.

A task scores masks on a trained network; with random weights every mask scores about chance
and the rewards say nothing. So a registry network needs a checkpoint, except on the
embedded data sets the package ships weights for (:data:`SHIPPED_WEIGHTS`: the same network
on every machine, whatever the task's seed), and a task built with ``train_baseline=True``,
which trains (once, cached by its settings) before it starts. The cache is ``$DECORE_CACHE``
or ``~/.cache/decore``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
from pathlib import Path
from typing import Any

import torch

from decore_env import models
from decore_env.common.files import CheckpointError, cache_dir, load_weights
from decore_env.data.embedded import EMBEDDED_FILES
from decore_env.data.sets import load_dataset
from decore_env.data.splits import DataSplits
from decore_env.task.defaults import DEFAULT_DATASET, DEFAULT_MODEL
from decore_env.training.baseline import train_baseline
from decore_env.training.fit import Schedule
from decore_env.training.metrics import count

REBUILD_WEIGHTS = "python scripts/train_default_weights.py"
"""The command that trains every shipped baseline (a model-dataset name trains one)."""


SHIPPED_WEIGHTS: dict[tuple[str, str], str] = {
    (DEFAULT_MODEL, DEFAULT_DATASET): (
        "4826bda27564f68304f522a41dc586094be7a63d504bcbb2bb94976fff313956"
    ),
    ("lenet5", "embedded_fashion_mnist"): (
        "378f1bf4d8c645f7e141d091a804990239c6ac93a5c5400c16edc017c8bcc837"
    ),
    ("resnet20", "embedded_cifar10"): (
        "6b16d62c71452ca88819bea8dce2bbf08e8980319b38780531dcc99f46f431db"
    ),
    ("resnet32", "embedded_cifar10"): (
        "a2296ef2f776b37428bd5455027dc4335140bbd4a642018e9b6c7a5d9db2707a"
    ),
}
"""(model, embedded data set) -> sha256 of its baseline shipped in the package's assets
(:func:`weights_file`), trained on the set's training split (val held out) by
:data:`REBUILD_WEIGHTS` with this module's schedule, seed 0. A test checks every file's
sha256, so every machine gets the same task. The bits depend on the CPU's floating-point
rounding: that is why the weights ship instead of being trained on first use."""
DEFAULT_WEIGHTS_SHA256 = SHIPPED_WEIGHTS[DEFAULT_MODEL, DEFAULT_DATASET]
"""sha256 of the default task's baseline (LeNet-5 on the embedded MNIST subset; the README
quotes it)."""


def weights_file(model: str, dataset: str) -> str:
    """The file name of a shipped baseline in the package's assets."""
    return f"{model}-{dataset}.pt"


BASELINE_EPOCHS = {
    "embedded": 6,
    "mnist": 6,
    "fashion_mnist": 10,
    "embedded_fashion_mnist": 10,
}
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


@functools.cache
def embedded_data(name: str = DEFAULT_DATASET) -> DataSplits:
    """An embedded data set, loaded once per process and shared (read-only) by every env."""
    return load_dataset(name)


def baseline_epochs(dataset: str) -> int:
    """Epochs of a baseline trained for ``dataset``."""
    return BASELINE_EPOCHS.get(dataset, DEFAULT_BASELINE_EPOCHS)


def task_schedule(dataset: str) -> Schedule:
    """How a baseline for ``dataset`` is trained: the default task's and the cache's."""
    return Schedule(baseline_epochs(dataset), BASELINE_LR, BASELINE_BATCH, BASELINE_WEIGHT_DECAY)


def shipped_weights(model: str, dataset: str) -> Path:
    """The shipped baseline of ``model`` on the embedded set ``dataset``."""
    name = weights_file(model, dataset)
    path = Path(str(importlib.resources.files("decore_env").joinpath("assets", name)))
    if not path.is_file():
        raise MissingWeightsError(
            f"the shipped weights {name} of {model} on {dataset} are missing from the "
            f"installed package; reinstall it, or rebuild them with `{REBUILD_WEIGHTS} "
            f"{model}-{dataset}`"
        )
    return path


def load_shipped(net: torch.nn.Module, model: str, dataset: str) -> None:
    """Load the shipped baseline of ``model`` on ``dataset`` into ``net``; weights that do not
    fit it are refused in one line naming the file and the command that rebuilds them."""
    path = shipped_weights(model, dataset)
    try:
        load_weights(net, path)
    except CheckpointError as exc:
        reason = str(exc).splitlines()[0]
        raise MissingWeightsError(
            f"the shipped weights {path.name} do not fit {model} on {dataset} ({reason}); "
            f"rebuild them with `{REBUILD_WEIGHTS} {model}-{dataset}`"
        ) from exc


def default_weights() -> Path:
    """The shipped weights of the default task."""
    return shipped_weights(DEFAULT_MODEL, DEFAULT_DATASET)


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


def has_shipped_weights(model: object, dataset: object) -> bool:
    """Whether the package ships a baseline of ``model`` on ``dataset`` (a name, or the
    embedded set's splits as loaded)."""
    if isinstance(dataset, DataSplits):
        if dataset.name not in EMBEDDED_FILES or dataset is not embedded_data(dataset.name):
            return False
        dataset = dataset.name
    return (model, dataset) in SHIPPED_WEIGHTS


def needs_weights(spec: Any) -> bool:
    """A registry network with no checkpoint and no shipped weights, not asked to train."""
    return (
        isinstance(spec.model, str)
        and spec.checkpoint is None
        and not spec.train_baseline
        and not has_shipped_weights(spec.model, spec.dataset)
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
