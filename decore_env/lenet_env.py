"""DecoreCompressLeNet-v0: LeNet-5 on the embedded MNIST subset, on the CPU, offline.

The trained weights are made on first use (a short :func:`decore_env.training.fit` schedule,
about 98% test accuracy) and cached in ``$DECORE_CACHE`` or ``~/.cache/decore``, so tests, the
demo and the benchmarks get a meaningful network without a download or a long wait.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from decore_env.data import DataSplits, load_dataset
from decore_env.files import atomic_save

LENET_LAM = 20.0
"""Default lam of the LeNet env (our choice): below the break-even lam = a / (1 - a) = 49 of a
98%-accurate network, so dropping channels pays from the first step."""
TRAIN_EPOCHS = 6
"""Epochs of the cached LeNet-5's training: about 98% test accuracy on the embedded set."""
TRAIN_LR = 0.05
"""Peak OneCycle learning rate of that training."""
TRAIN_BATCH = 128
"""Batch size of that training."""
TRAIN_WEIGHT_DECAY = 5e-4
"""Weight decay of that training."""
TRAIN_SEED = 0
"""Seed of that training: the cached weights are the same on every CPU run."""
_WEIGHTS_FILE = f"lenet5-embedded-e{TRAIN_EPOCHS}-lr{TRAIN_LR}-b{TRAIN_BATCH}-s{TRAIN_SEED}.pt"


def cache_dir() -> Path:
    """Where trained weights are cached: ``$DECORE_CACHE``, else ``~/.cache/decore``."""
    return Path(os.environ.get("DECORE_CACHE", Path.home() / ".cache" / "decore"))


@functools.cache
def embedded_data() -> DataSplits:
    """The embedded data set, loaded once per process and shared (read-only) by every env."""
    return load_dataset("embedded")


def lenet_checkpoint() -> Path:
    """Path of the trained LeNet-5 weights, training and caching them on first use.

    Written to a temporary file and renamed, so a crash or a concurrent process never leaves
    a half-written checkpoint.
    """
    path = cache_dir() / _WEIGHTS_FILE
    if path.is_file():
        return path
    from decore_env import models
    from decore_env.training import fit

    model = models.create("lenet5", num_classes=10)
    fit(
        model,
        embedded_data(),
        TRAIN_EPOCHS,
        TRAIN_LR,
        TRAIN_BATCH,
        TRAIN_WEIGHT_DECAY,
        "cpu",
        TRAIN_SEED,
        progress=False,
    )
    return atomic_save(model.state_dict(), path)


def _lenet_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The LeNet env's defaults under the caller's arguments."""
    defaults = {"model": "lenet5", "dataset": "embedded", "device": "cpu", "lam": LENET_LAM}
    merged = defaults | kwargs
    if "checkpoint" not in merged and merged["model"] == "lenet5":
        merged["checkpoint"] = lenet_checkpoint()
    if merged["dataset"] == "embedded":
        merged["dataset"] = embedded_data()
    return merged


def lenet_env(**kwargs: Any):
    """Entry point of ``DecoreCompressLeNet-v0``: a :class:`DecoreCompressEnv` with LeNet
    defaults (any argument can be overridden)."""
    from decore_env.env import DecoreCompressEnv

    return DecoreCompressEnv(**_lenet_kwargs(kwargs))


def lenet_vector_env(num_envs: int = 1, **kwargs: Any):
    """Vector entry point of ``DecoreCompressLeNet-v0``."""
    from decore_env.vector import DecoreCompressVectorEnv

    return DecoreCompressVectorEnv(num_envs=num_envs, **_lenet_kwargs(kwargs))
