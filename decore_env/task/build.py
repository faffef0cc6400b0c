"""Build a task from a TaskSpec, and run it: M masks per step on one core.

:func:`build_task` is the one door: the single env (M = 1), the vector env (M = N), the
PettingZoo view and the pipeline all get their :class:`CompressionTask` from it. The task works
on tensors on the core's device; the env classes only convert at the boundary.
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from decore_env import models
from decore_env.channels.gates import ChannelGates
from decore_env.common.files import load_weights, resolve_device
from decore_env.common.modes import tune_for
from decore_env.data.embedded import EMBEDDED_FILES
from decore_env.data.loader import TensorLoader
from decore_env.data.sets import load_dataset
from decore_env.data.splits import DataSplits, check_batch_fits
from decore_env.task.core import CompressionCore
from decore_env.task.observation import ObservationBuilder
from decore_env.task.spec import TaskSpec
from decore_env.task.weights import (
    TRAIN_SPLITS,
    cached_baseline,
    embedded_data,
    load_shipped,
    needs_weights,
    refuse_without_weights,
)
from decore_env.training.adaptive_bn import adapted_bn
from decore_env.training.metrics import split_accuracy


def load_splits(spec: TaskSpec) -> DataSplits:
    """The data of ``spec`` (an embedded set is loaded once per process and shared)."""
    if isinstance(spec.dataset, DataSplits):
        return spec.dataset
    if spec.dataset in EMBEDDED_FILES:
        return embedded_data(spec.dataset)
    return load_dataset(spec.dataset, spec.data_root)


def build_network(spec: TaskSpec, splits: DataSplits) -> nn.Module:
    """The network of ``spec`` with trained weights: a copy of a given module, or a registry
    network with its checkpoint (shipped for the embedded sets' tasks, trained and cached
    with ``train_baseline``)."""
    if not isinstance(spec.model, str):
        net = copy.deepcopy(spec.model)
        if spec.checkpoint is not None:
            load_weights(net, spec.checkpoint)
        return net
    checkpoint = spec.checkpoint
    if checkpoint is None and spec.train_baseline:
        checkpoint = cached_baseline(spec.model, splits, spec.seed, resolve_device(spec.device))
    net = models.for_data(spec.model, splits.num_classes, splits.input_shape)
    if checkpoint is None:  # shipped weights (checked_splits refused the rest)
        load_shipped(net, spec.model, splits.name)
    else:
        load_weights(net, checkpoint)
    return net


def checked_splits(spec: TaskSpec, n_masks: int = 1) -> DataSplits:
    """The data of ``spec``, after refusing a task without weights (before the data is looked
    for, where its size is known) and a batch larger than the training split."""
    if needs_weights(spec):
        named = isinstance(spec.dataset, str) and spec.dataset in TRAIN_SPLITS
        if named:
            sizes = TRAIN_SPLITS[spec.dataset]
        else:
            splits = load_splits(spec)
            sizes = (len(splits.train_y), splits.input_shape, splits.num_classes)
        raise refuse_without_weights(spec.model, str(spec.dataset), *sizes)
    splits = load_splits(spec)
    check_batch_fits(spec.batch_size, splits, n_masks)
    return splits


def build_core(spec: TaskSpec, splits: DataSplits) -> CompressionCore:
    """The core of ``spec``: network, channel gates and device-resident training batches."""
    batch_size = spec.batch_size
    net = build_network(spec, splits)
    device = resolve_device(spec.device)
    example = torch.zeros(1, *splits.input_shape, device=next(net.parameters()).device)
    gates = ChannelGates(net, example)
    tune_for(device)
    cuda = device.type == "cuda"
    net.to(device, memory_format=torch.channels_last if cuda else torch.contiguous_format)
    loader = TensorLoader.training(splits, batch_size, device, augment=spec.augment)
    return CompressionCore(
        net,
        gates,
        loader,
        spec.lam,
        spec.train_network,
        lr=spec.joint_lr,
        momentum=spec.joint_momentum,
        weight_decay=spec.joint_weight_decay,
        compile=spec.compile,
    )


def build_task(spec: TaskSpec, n_masks: int = 1) -> CompressionTask:
    """The task of ``spec`` with ``n_masks`` masks per step sharing ``spec.batch_size`` images
    evenly (1: one mask on the whole batch, the single env)."""
    if spec.batch_size % n_masks:
        raise ValueError(f"{spec.batch_size} images per step cannot be shared by {n_masks} masks")
    splits = checked_splits(spec, n_masks)
    return CompressionTask(spec, build_core(spec, splits), n_masks, splits)


def to_masks(action, shape: tuple[int, ...], device: torch.device) -> Tensor:
    """An action as a float32 tensor on ``device``, after checking it is a 0/1 mask.

    Accepts numpy arrays and torch tensors of bool, integer or float dtype (SB3 sends float32
    0./1.) and nested lists. Arrays are checked in numpy and tensors in torch (no copies
    before the check); bool tensors need no value check, so they never sync the device.
    """
    values = action.detach() if isinstance(action, Tensor) else np.asarray(action)
    real = (
        values.dtype.kind in "biuf" if isinstance(values, np.ndarray) else not values.is_complex()
    )
    if not real:
        raise ValueError(f"action must be real 0/1 values; got dtype {values.dtype}")
    if tuple(values.shape) != shape:
        raise ValueError(
            f"action has shape {tuple(values.shape)}; expected {shape}: one keep (1) / drop (0) "
            "entry per channel, ordered group by group"
        )
    if values.dtype not in (torch.bool, np.bool_):
        bad = (values != 0) & (values != 1)
        if bool(bad.any()):
            wrong = values[bad]
            if bool((wrong != wrong).any()):  # only NaN differs from itself
                raise ValueError("action contains NaN; every entry must be exactly 0 or 1")
            raise ValueError(
                f"action values must be exactly 0 (drop) or 1 (keep); found {wrong[0].item()}"
            )
    if not isinstance(values, Tensor):
        values = torch.from_numpy(values if values.flags.writeable else values.copy())
    return values.to(device=device, dtype=torch.float32)


@dataclass(frozen=True)
class StepResult:
    """One step of M masks, tensors on the core's device, leading dimension M.

    :param observation: (M, D) float32; D = 0 when the task does not observe.
    :param reward: (M,) the paper's reward summed over groups (divided by the number of agents
        with ``reward_reduction="mean"``), averaged over the mask's images.
    :param group_rewards: (M, G) per-group reward, averaged over the mask's images.
    :param accuracy: (M,) fraction of the mask's images classified correctly.
    :param kept: (M, G) int64 channels each mask keeps per group.
    :param params: (M,) int64 params of the pruned network each mask describes.
    :param macs: (M,) int64 MACs per image of that network.
    :param loss: (M,) cross-entropy of the step's whole batch (the same for every mask).
    :param lam: (M,) the lambda the step was scored with.
    :param truncated: the episode reached its length.
    """

    observation: Tensor
    reward: Tensor
    group_rewards: Tensor
    accuracy: Tensor
    kept: Tensor
    params: Tensor
    macs: Tensor
    loss: Tensor
    lam: Tensor
    truncated: bool

    def info(self) -> dict[str, Tensor]:
        """The ``info`` entries, each with leading dimension M."""
        keys = ("group_rewards", "accuracy", "kept", "params", "macs", "loss", "lam")
        return {k: getattr(self, k) for k in keys}


class CompressionTask:
    """Episodes of M masks per step on one core; the logic every env view shares.

    :param spec: what the task is.
    :param core: scores the masks; its loader's batch holds ``samples_per_mask * n_masks``
        images, mask m applied to the m-th run of ``samples_per_mask`` images.
    :param n_masks: masks per step (M).
    :param splits: the task's data; the core sees its training split only, the evaluator
        (:meth:`evaluate`) the others.
    """

    def __init__(
        self, spec: TaskSpec, core: CompressionCore, n_masks: int, splits: DataSplits
    ) -> None:
        self.spec = spec
        self.core = core
        self.splits = splits
        self.n_masks = n_masks
        self.samples_per_mask = core.loader.batch_size // n_masks
        self.episode_steps = spec.episode_steps or len(core.loader)
        self.action_shape = (n_masks, core.gates.n_agents)
        self.observer = None
        if spec.observe:
            self.observer = ObservationBuilder(core, n_masks, spec.keep_decay, spec.budget)
        self.steps = 0
        self.last_step: StepResult | None = None
        """The latest step's result (None before the first step of an episode)."""
        self.architecture: Tensor | None = None
        """The deterministic mask (n_agents,) an agent reported it would output now; the
        budget rule steers on it (see :mod:`decore_env.envs.budget`)."""

    @property
    def observation_size(self) -> int:
        """Entries of one observation (0 when the task does not observe)."""
        return self.observer.layout.size if self.observer is not None else 0

    def reset(self, seed: int | None) -> Tensor:
        """Start an episode and return its first (M, D) observations.

        ``seed`` given: back to the initial network and optimiser, data order and augmentation
        reseeded from it (seeded resets repeat exactly). ``None``: keep the jointly trained
        weights and continue with the next batches.
        """
        if seed is not None:
            self.core.restore_initial(seed)
        self.steps = 0
        self.last_step = None
        if self.observer is not None:
            self.observer.reset()
        return self._observation()

    def step(self, action, shape: tuple[int, ...] | None = None) -> StepResult:
        """Score ``action`` (of ``shape``, default (M, A)) on the next batch of images."""
        masks = to_masks(action, shape or self.action_shape, self.core.device)
        masks = masks.reshape(self.action_shape)
        scored = self.core.step(masks)
        m, k = self.n_masks, self.samples_per_mask
        group_rewards = scored.group_rewards.view(m, k, -1).mean(1)
        accuracy = scored.correct.view(m, k).float().mean(1)
        params, macs = self.core.gates.cost(masks)
        kept = scored.kept.view(m, k, -1)[:, 0].round().long()
        if self.observer is not None:
            self.observer.update(masks, accuracy, params, macs)
        self.steps += 1
        reward = group_rewards.sum(1)
        if self.spec.reward_reduction == "mean":
            reward = reward / self.core.gates.n_agents
        self.last_step = StepResult(
            observation=self._observation(),
            reward=reward,
            group_rewards=group_rewards,
            accuracy=accuracy,
            kept=kept,
            params=params.round().long(),
            macs=macs.round().long(),
            loss=scored.loss.expand(m),
            lam=self.core.lam_tensor.expand(m),
            truncated=self.steps >= self.episode_steps,
        )
        return self.last_step

    def evaluate(self, mask: Tensor, split: str = "test", adapt_bn: bool = False) -> float:
        """Top-1 accuracy of the network under ``mask`` (n_agents,) on the named split, one
        mask for every image; no weight and no random state changes. ``adapt_bn``: with the
        BatchNorm statistics re-estimated under the mask on training images first
        (:mod:`decore_env.training.adaptive_bn`; restored after)."""
        core = self.core
        mask = core.gates.check_mask(mask).to(core.device)
        adapted = adapted_bn(core.model, self.splits, core.device) if adapt_bn else None
        with core.gates.masked(mask), adapted or contextlib.nullcontext():
            return split_accuracy(core.model, self.splits, split, core.device)

    def state_dict(self) -> dict:
        """What the next step depends on besides the agent: network, optimiser, data, clock."""
        return {"core": self.core.state_dict(), "steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        """Continue from :meth:`state_dict`'s ``state``."""
        self.core.load_state_dict(state["core"])
        self.steps = state["steps"]

    def _observation(self) -> Tensor:
        if self.observer is None:
            return torch.zeros(self.n_masks, 0, device=self.core.device)
        return self.observer.observation()

    def last_kept(self, row: int = 0) -> list[int]:
        """Channels per group that mask ``row`` of the latest step kept (all before one)."""
        if self.last_step is None:
            return list(self.core.gates.sizes)
        return self.last_step.kept[row].tolist()

    def render_table(self, row: int = 0) -> str:
        """A text table of kept / total channels per group of mask ``row``."""
        groups = self.core.gates.groups
        kept = self.last_kept(row)
        width = max(5, *(len(g.name) for g in groups))
        lines = [f"{'group':<{width}}  kept / total"]
        rows = zip(groups, kept, strict=True)
        lines += [f"{g.name:<{width}}  {k:>4} / {g.size}" for g, k in rows]
        total = sum(g.size for g in groups)
        lines.append(f"{'all':<{width}}  {sum(kept):>4} / {total}")
        return "\n".join(lines)
