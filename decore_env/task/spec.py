"""TaskSpec: every setting that defines a compression task, in one frozen dataclass.

The env, the vector env, the PettingZoo view, the ``decore compress`` pipeline and every agent
build the task from a ``TaskSpec`` through :func:`decore_env.task.build.build_task`, so they all
face the same task. This module imports no torch: the CLI builds its options from these fields
without paying for it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from decore_env.common.checks import check_fraction, check_lam, positive_int, real_number
from decore_env.task.defaults import (
    DEFAULT_DATASET,
    DEFAULT_LAM,
    DEFAULT_MODEL,
    JOINT_LR,
    JOINT_MOMENTUM,
    JOINT_WEIGHT_DECAY,
    KEEP_DECAY,
    PAPER_BATCH,
)

REWARD_REDUCTIONS = ("sum", "mean")
"""How the env's scalar reward reduces the per-agent rewards (see ``TaskSpec.reward_reduction``)."""


def setting(default: Any, help: str, **metadata: Any) -> Any:
    """A dataclass field with its help text (the CLI's and the docs')."""
    return field(default=default, metadata={"help": help, **metadata})


@dataclass(frozen=True)
class TaskSpec:
    """What a compression task is: network, data, reward, budget, batches, episodes, device.

    Two specs that compare equal build tasks that score the same masks on the same images
    with the same rewards (given the same ``reset`` seed).
    """

    model: Any = setting(DEFAULT_MODEL, "registry name of the network, or an nn.Module")
    checkpoint: Any = setting(
        None,
        "trained weights (a state-dict file or mapping); without one only the default "
        "LeNet-5 task has weights (shipped in the package)",
    )
    dataset: Any = setting(
        DEFAULT_DATASET,
        "embedded (MNIST subset shipped with the package), mnist, fashion_mnist, cifar10, "
        "cifar100, or a folder DIR with train/<class>/ and test/<class>/",
    )
    data_root: str | None = setting(None, "where torchvision data sets are stored")
    lam: float = setting(DEFAULT_LAM, "the paper's lambda: penalty of a wrong prediction")
    reward_reduction: str = setting(
        "sum",
        "the scalar reward over agents: sum (the paper's; hundreds per step) or mean (per "
        "agent, in [-lam, 1]); per-group rewards unchanged",
        choices=REWARD_REDUCTIONS,
    )
    target_params: float | None = setting(
        None, "budget mode: fraction of params to keep; lambda adapts to reach it"
    )
    target_macs: float | None = setting(None, "budget mode: fraction of MACs to keep")
    batch_size: int = setting(PAPER_BATCH, "images scored per step")
    samples_per_mask: int = setting(
        1, "images each mask is scored on (1: the paper's one mask per image)"
    )
    train_network: bool = setting(
        False, "train the network jointly with the agents, one SGD step per step (paper)"
    )
    joint_lr: float = setting(JOINT_LR, "SGD learning rate of the network in joint training")
    joint_momentum: float = setting(JOINT_MOMENTUM, "SGD momentum of joint training")
    joint_weight_decay: float = setting(JOINT_WEIGHT_DECAY, "weight decay of joint training")
    augment: bool = setting(False, "the data set's training augmentation (crops, flips)")
    episode_steps: int | None = setting(
        None, "steps per episode (default: one pass over the training split)"
    )
    keep_decay: float = setting(KEEP_DECAY, "decay of the observation's kept-recently averages")
    observe: bool = setting(True, "build observations (agents that never read them: False)")
    device: str = setting("auto", "cuda, cpu, or auto (CUDA when available)")
    compile: bool = setting(
        False,
        "torch.compile the masked forward (faster steps on CUDA after a one-off compile; "
        "falls back to eager with one warning where compiling fails)",
    )
    train_baseline: bool = setting(
        False, "without a checkpoint, train the network first (cached by settings)"
    )
    seed: int = setting(
        0,
        "the run's seed (data order, augmentation, init and actions derive from it); in the "
        "env it seeds a baseline trained for the task; episodes are seeded by reset(seed=)",
    )

    def __post_init__(self) -> None:
        self._check_task()
        self._check_numbers()

    def _check_task(self) -> None:
        """What the task is: network, weights, lambda, budget, batch."""
        if not isinstance(self.model, str) and not _is_module(self.model):
            raise ValueError(
                f"model must be a registry name or an nn.Module; got {type(self.model).__name__}"
            )
        if self.checkpoint is not None and not isinstance(
            self.checkpoint, str | os.PathLike | Mapping
        ):
            raise ValueError(
                f"checkpoint must be a path or a state dict; got {type(self.checkpoint).__name__}"
            )
        check_lam(self.lam)
        if self.reward_reduction not in REWARD_REDUCTIONS:
            raise ValueError(
                f"reward_reduction must be one of {', '.join(REWARD_REDUCTIONS)}; "
                f"got {self.reward_reduction!r}"
            )
        for name in ("target_params", "target_macs"):
            if getattr(self, name) is not None:
                check_fraction(getattr(self, name))
        if self.target_params is not None and self.target_macs is not None:
            raise ValueError("give target_params or target_macs, not both")
        for name in ("batch_size", "samples_per_mask"):
            positive_int(name, getattr(self, name))
        if self.batch_size % self.samples_per_mask:
            raise ValueError(
                f"batch_size {self.batch_size} is not a multiple of samples_per_mask "
                f"{self.samples_per_mask}: every mask needs the same number of images"
            )

    def _check_numbers(self) -> None:
        """The settings of how the task runs: episode, joint training, switches, seed."""
        if self.episode_steps is not None:
            positive_int("episode_steps", self.episode_steps)
        for name in ("joint_lr",):
            if not real_number(name, getattr(self, name)) > 0:
                raise ValueError(f"{name} must be > 0; got {getattr(self, name)}")
        for name in ("joint_momentum", "joint_weight_decay"):
            if not real_number(name, getattr(self, name)) >= 0:
                raise ValueError(f"{name} must be >= 0; got {getattr(self, name)}")
        if not 0.0 <= real_number("keep_decay", self.keep_decay) < 1.0:
            raise ValueError(f"keep_decay must be in [0, 1); got {self.keep_decay}")
        for name in ("train_network", "augment", "observe", "train_baseline", "compile"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False; got {getattr(self, name)!r}")
        if not isinstance(self.device, str):
            raise ValueError(f"device must be a name such as 'cpu' or 'cuda'; got {self.device!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an int >= 0; got {self.seed!r}")

    @property
    def budget(self) -> tuple[str, float] | None:
        """("params" | "macs", kept fraction) in budget mode, else None."""
        if self.target_params is not None:
            return "params", self.target_params
        if self.target_macs is not None:
            return "macs", self.target_macs
        return None

    @property
    def masks_per_step(self) -> int:
        """Masks scored per step when every mask gets ``samples_per_mask`` images."""
        return self.batch_size // self.samples_per_mask


def task_fields() -> tuple[str, ...]:
    """The names of the settings that define a task."""
    return tuple(f.name for f in fields(TaskSpec))


def spec_from(
    spec: TaskSpec | None,
    overrides: Mapping[str, Any],
    task_defaults: Mapping[str, Any] | None = None,
) -> TaskSpec:
    """``spec`` with ``overrides``; unknown names are refused.

    :param task_defaults: a registered id's settings, the base when no ``spec`` is given (a
        given spec is the whole task: the id's settings never override it).
    """
    unknown = sorted(set(overrides) - set(task_fields()))
    if unknown:
        raise ValueError(
            f"unknown task settings {unknown}; a TaskSpec has {', '.join(task_fields())}"
        )
    base = spec if spec is not None else TaskSpec(**(task_defaults or {}))
    return replace(base, **overrides)


def _is_module(obj: Any) -> bool:
    """Whether ``obj`` is an ``nn.Module``, without importing torch for a plain name."""
    import torch

    return isinstance(obj, torch.nn.Module)
