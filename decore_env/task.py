"""What the single and the vector env share: building the core, checking actions, one step.

Both envs are views of one :class:`CompressionTask`: M masks per step on one core (M = 1 for
:class:`~decore_env.env.DecoreCompressEnv`, M = N for the vector env). The task works on
tensors on the core's device; the env classes only convert at the boundary.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from decore_env import models
from decore_env.checks import check_lam, positive_int
from decore_env.core import CompressionCore
from decore_env.data import DataSplits, TensorLoader, check_batch_fits, load_dataset
from decore_env.files import load_weights, resolve_device
from decore_env.gates import ChannelGates, Group
from decore_env.observation import KEEP_DECAY, ObservationBuilder, ObservationLayout

DEFAULT_LAM = 200.0
"""The paper's headline VGG16-BN run, DECORE-200."""
DEFAULT_BATCH = 256
"""Images per step: the paper's batch size."""

ModelArg = str | nn.Module
DatasetArg = str | Path | DataSplits
CheckpointArg = str | Path | Mapping | None


def build_core(
    model: ModelArg,
    checkpoint: CheckpointArg,
    dataset: DatasetArg,
    lam: float,
    batch_size: int,
    train_network: bool,
    device: str | torch.device | None,
    augment: bool,
    data_root: str | Path | None,
) -> CompressionCore:
    """The core of an env: network (weights loaded), channel gates, device-resident batches.

    A registry name builds a fresh network; an ``nn.Module`` is copied, so the caller's module
    is never trained or moved. Warns when a frozen network has no trained weights: every mask
    of a random network scores about chance, so the rewards say nothing about the channels.
    """
    check_lam(lam)
    batch_size = positive_int("batch_size", batch_size)
    splits = dataset if isinstance(dataset, DataSplits) else load_dataset(dataset, data_root)
    check_batch_fits(batch_size, splits)
    if isinstance(model, str):
        net = models.create(model, num_classes=splits.num_classes)
        if checkpoint is None and not train_network:
            warnings.warn(
                f"model {model!r} has no checkpoint and the network is frozen: its weights are "
                "random, so the rewards are meaningless; pass checkpoint=... (trained weights) "
                "or train_network=True",
                UserWarning,
                stacklevel=3,
            )
    elif isinstance(model, nn.Module):
        net = copy.deepcopy(model)
    else:
        raise ValueError(f"model must be a registry name or an nn.Module; got {type(model)}")
    if checkpoint is not None:
        load_weights(net, checkpoint)
    device = resolve_device(device)
    example = torch.zeros(1, *splits.input_shape, device=next(net.parameters()).device)
    gates = ChannelGates(net, example)
    cuda = device.type == "cuda"
    net.to(device, memory_format=torch.channels_last if cuda else torch.contiguous_format)
    loader = TensorLoader.training(splits, batch_size, device, augment=augment)
    return CompressionCore(net, gates, loader, lam, train_network)


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

    :param observation: (M, D) float32.
    :param reward: (M,) the paper's reward summed over groups, averaged over the mask's images.
    :param group_rewards: (M, G) per-group reward, averaged over the mask's images.
    :param accuracy: (M,) fraction of the mask's images classified correctly.
    :param kept: (M, G) int64 channels each mask keeps per group.
    :param params: (M,) int64 params of the pruned network each mask describes.
    :param macs: (M,) int64 MACs per image of that network.
    :param truncated: the episode reached its length.
    """

    observation: Tensor
    reward: Tensor
    group_rewards: Tensor
    accuracy: Tensor
    kept: Tensor
    params: Tensor
    macs: Tensor
    truncated: bool

    def info(self, lam: float) -> dict[str, Tensor]:
        """The ``info`` entries, each with leading dimension M."""
        return {
            "group_rewards": self.group_rewards,
            "accuracy": self.accuracy,
            "kept": self.kept,
            "params": self.params,
            "macs": self.macs,
            "lam": torch.full_like(self.accuracy, lam, dtype=torch.float64),
        }


class CompressionTask:
    """Episodes of M masks per step on one core; the logic every env view shares.

    :param core: scores the masks; its loader's batch holds ``samples_per_mask * n_masks``
        images, mask m applied to the m-th run of ``samples_per_mask`` images.
    :param n_masks: masks per step (M).
    :param episode_steps: steps until truncation; ``None``: one pass over the training split.
    :param keep_decay: decay of the observation's "kept recently" averages.
    """

    def __init__(
        self,
        core: CompressionCore,
        n_masks: int,
        episode_steps: int | None = None,
        keep_decay: float = KEEP_DECAY,
    ) -> None:
        if core.loader.batch_size % n_masks:
            raise ValueError(
                f"{core.loader.batch_size} images per step cannot be shared by {n_masks} masks"
            )
        if episode_steps is None:
            episode_steps = len(core.loader)
        episode_steps = positive_int("episode_steps", episode_steps)
        self.core = core
        self.n_masks = n_masks
        self.samples_per_mask = core.loader.batch_size // n_masks
        self.episode_steps = episode_steps
        self.action_shape = (n_masks, core.gates.n_agents)
        self.observer = ObservationBuilder(core, n_masks, keep_decay)
        self.steps = 0
        self.last_kept = self._all_kept()

    @property
    def lam(self) -> float:
        return self.core.lam

    @lam.setter
    def lam(self, value: float) -> None:
        self.core.lam = check_lam(value)

    def reset(self, data_seed: int | None) -> Tensor:
        """Start an episode and return its first (M, D) observations.

        ``data_seed`` given: back to the initial network and optimiser, data order reseeded
        (seeded resets repeat exactly). ``None``: keep the jointly trained weights and continue
        with the next batches.
        """
        if data_seed is not None:
            self.core.restore_initial(data_seed)
        self.steps = 0
        self.last_kept = self._all_kept()
        self.observer.reset()
        return self.observer.observation()

    def step(self, action, shape: tuple[int, ...] | None = None) -> StepResult:
        """Score ``action`` (of ``shape``, default (M, A)) on the next batch of images."""
        masks = to_masks(action, shape or self.action_shape, self.core.device)
        masks = masks.reshape(self.action_shape)
        scored = self.core.step(masks)
        m, k = self.n_masks, self.samples_per_mask
        group_rewards = scored.group_rewards.view(m, k, -1).mean(1)
        accuracy = scored.correct.view(m, k).float().mean(1)
        params, macs = self.core.gates.cost(masks)
        self.last_kept = scored.kept.view(m, k, -1)[:, 0].round().long()
        self.observer.update(masks, accuracy, params, macs)
        self.steps += 1
        return StepResult(
            observation=self.observer.observation(),
            reward=group_rewards.sum(1),
            group_rewards=group_rewards,
            accuracy=accuracy,
            kept=self.last_kept,
            params=params.round().long(),
            macs=macs.round().long(),
            truncated=self.steps >= self.episode_steps,
        )

    def _all_kept(self) -> Tensor:
        sizes = torch.tensor(self.core.gates.sizes, device=self.core.device)
        return sizes.expand(self.n_masks, -1)

    def render_table(self, row: int = 0) -> str:
        """A text table of kept / total channels per group of mask ``row``."""
        groups = self.core.gates.groups
        kept = self.last_kept[row].tolist()
        width = max(5, *(len(g.name) for g in groups))
        lines = [f"{'group':<{width}}  kept / total"]
        rows = zip(groups, kept, strict=True)
        lines += [f"{g.name:<{width}}  {k:>4} / {g.size}" for g, k in rows]
        total = sum(g.size for g in groups)
        lines.append(f"{'all':<{width}}  {sum(kept):>4} / {total}")
        return "\n".join(lines)


class TaskView:
    """What the Gymnasium classes over a :class:`CompressionTask` have in common."""

    task: CompressionTask
    np_random: np.random.Generator
    _started: bool = False

    @property
    def lam(self) -> float:
        """The penalty of a wrong prediction; set it between steps to retarget compression."""
        return self.task.lam

    @lam.setter
    def lam(self, value: float) -> None:
        self.task.lam = value

    @property
    def core(self) -> CompressionCore:
        """The tensor-level core under the env (the native agent drives it directly)."""
        return self.task.core

    @property
    def layout(self) -> ObservationLayout:
        """Where each entry sits in an observation; ``layout.unpack(obs)`` splits one."""
        return self.task.observer.layout

    @property
    def groups(self) -> list[Group]:
        """The channel groups, in the order of the action's agents."""
        return self.task.core.gates.groups

    def _start_episode(self, seed: int | None) -> Tensor:
        """Call after ``super().reset(seed=seed)``: a seeded (or the very first) reset restores
        the initial network and draws the data order from ``np_random``; any other reset keeps
        the trained weights and the data stream."""
        fresh = seed is not None or not self._started
        self._started = True
        return self.task.reset(int(self.np_random.integers(2**63 - 1)) if fresh else None)
