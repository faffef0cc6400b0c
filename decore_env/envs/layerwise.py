"""LayerwiseCompressEnv: the task in AMC's framing, one keep ratio per channel group."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from torch import Tensor, nn

from decore_env.channels.importance import channel_l1, rank_in_group
from decore_env.envs.rendering import architecture_frame, check_render_mode
from decore_env.envs.view import TaskView
from decore_env.task.build import build_task
from decore_env.task.observation import group_cost_shares
from decore_env.task.spec import TaskSpec, spec_from

DEFAULT_TARGET = 0.5
"""Kept fraction of params enforced when the spec sets neither ``target_params`` nor
``target_macs`` (our choice: AMC's framing needs a budget, and half the params is a middle one
that every group can meet while keeping most of its channels)."""
FEATURES = (
    "position",
    "width",
    "conv",
    "params_share",
    "macs_share",
    "reduced",
    "rest",
    "previous_action",
)
"""The entries of an observation, in order (see :class:`LayerwiseCompressEnv`)."""
ROUNDING = 1e-9
"""Relative slack when a kept fraction is compared with the target: costs are float64 sums,
and a mask exactly at the target must count as meeting it."""


class LayerwiseCompressEnv(TaskView, gym.Env[np.ndarray, np.ndarray]):
    """
    ## Description

    Channel pruning in the framing of AMC (He et al., ECCV 2018): an agent walks through the
    channel groups of a trained network in forward order and picks one keep ratio per group;
    inside a group the channels of largest L1 weight norm are kept. After the last group the
    network at the chosen widths is scored on ``batch_size`` training images. The same task as
    ``DecoreCompress-v0`` (built from the same :class:`~decore_env.task.spec.TaskSpec`), with one
    decision per group instead of one per channel.

    ## Action Space

    ``Box(0, 1, (1,), float32)``: the keep ratio of the current group. It becomes a width of
    ``round(ratio x size)`` channels, at least 1, then the budget bound (below) may lower it.
    Values outside [0, 1] are clipped; NaN raises ``ValueError``.

    ## Budget

    The spec's ``target_params`` or ``target_macs`` (default: ``target_params`` =
    ``DEFAULT_TARGET``) is enforced as AMC does, by bounding each action: the width of group t
    is at most the largest width at which the network still meets the target when every later
    group keeps its minimum of one channel. Each step thus leaves the target reachable, so the
    final mask keeps at most the target whenever the all-minimum mask does (otherwise every
    group ends at one channel, the least there is). There is no lower bound: removing more
    than the target asks is the agent's choice, paid in accuracy. ``info["action"]`` is the
    keep ratio after the bound (width / size), ``info["width"]`` the width.

    ## Observation Space

    ``Box(0, 1, (8,), float32)``, AMC's layer embedding for the group about to be decided (the
    names are ``FEATURES``):

    - ``[0]`` position: group index t / G (1 in the final observation).
    - ``[1]`` width: channels of the group / channels of the widest group.
    - ``[2]`` conv: 1 when the group's layers are convolutions, 0 for linear layers.
    - ``[3]``, ``[4]``: share of the network's params and of its MACs that touch the group's
      channels (what dropping it whole would remove).
    - ``[5]`` reduced: share of the budget resource removed by the groups decided so far.
    - ``[6]`` rest: share of the budget resource the undecided groups can still remove (down
      to one channel each).
    - ``[7]`` previous action: the previous group's keep ratio after the bound (0 at first).

    Entries 1 to 4 of the final observation are 0.

    ## Rewards

    0 until the last group; then the accuracy of the network at the chosen widths on the next
    ``batch_size`` images of the training stream (AMC's "-error" reward, shifted by one), one
    forward pass with the same mask for every image. Those images count as ``batch_size``
    scored (mask, image) pairs: ``info["pairs"]`` (0 before the last step) and the env's
    ``pairs`` counter.

    ## Starting State

    As ``DecoreCompress-v0``: ``reset(seed=s)`` reseeds the data order from ``np_random`` (seeded
    episodes repeat exactly); ``reset()`` continues with the next images.

    ## Episode End

    Terminated after one step per group (``len(env.unwrapped.groups)`` steps); the last step's
    info adds ``accuracy``, ``params_kept`` and ``macs_kept`` (kept fractions) and ``mask``,
    the keep mask (n_agents,) int8 in ``DecoreCompress-v0``'s action layout. Never truncated.

    ## Arguments

    ```python
    gym.make("DecoreCompressLayerwise-v0")  # LeNet-5, embedded MNIST subset, params <= 0.5
    gym.make("DecoreCompressLayerwise-v0", target_macs=0.3, batch_size=512)
    ```

    The fields of :class:`~decore_env.task.spec.TaskSpec`, as ``spec=`` and/or keywords.
    ``lam``, ``samples_per_mask``, ``episode_steps``, ``keep_decay`` and ``observe`` are not
    read (the reward is the accuracy, one mask per episode, the embedding always built);
    ``train_network`` must stay False (AMC scores a frozen network).

    ## Version History

    - v0: initial version.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(
        self,
        spec: TaskSpec | None = None,
        render_mode: str | None = None,
        task_defaults: dict[str, Any] | None = None,
        **fields: Any,
    ) -> None:
        check_render_mode(render_mode, self.metadata["render_modes"])
        spec = spec_from(spec, fields, task_defaults)
        if spec.budget is None:
            spec = replace(spec, target_params=DEFAULT_TARGET)
        if spec.train_network:
            raise ValueError("the layer-wise env scores a frozen network: use train_network=False")
        self.task = build_task(replace(spec, observe=False))  # its embedding is built here
        self.render_mode = render_mode
        self.resource, self.target = spec.budget
        gates, device = self.gates, self.device
        self._rank = rank_in_group(gates.sizes, channel_l1(gates)).to(device)
        self._group_of_agent = gates.group_of_agent.to(device)
        self._sizes = torch.tensor(gates.sizes, device=device)
        self._static = self._group_features()
        self.action_space = spaces.Box(0.0, 1.0, (1,), np.float32)
        self.observation_space = spaces.Box(0.0, 1.0, (len(FEATURES),), np.float32)
        self.pairs = 0
        """(mask, image) pairs scored since the env was built."""
        self._widths = self._sizes.clone()
        self._t = 0
        self._previous = 0.0
        self._last_accuracy: float | None = None

    @property
    def n_groups(self) -> int:
        """Steps per episode: one per channel group."""
        return len(self._sizes)

    @property
    def pairs_per_episode(self) -> int:
        """(mask, image) pairs one episode scores: ``batch_size``."""
        return self.task.samples_per_mask

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._start_episode(seed)
        self._widths = self._sizes.clone()
        self._t = 0
        self._previous = 0.0
        self._last_accuracy = None
        return self._observation(), {}

    def step(self, action) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._t >= self.n_groups:
            raise RuntimeError("the episode is over (every group has its width): call reset()")
        ratio = _keep_ratio(action)
        t, size = self._t, int(self._sizes[self._t])
        wanted = min(max(math.floor(ratio * size + 0.5), 1), size)
        width = min(wanted, self._allowed_width(t))
        self._widths[t] = width
        self._previous = width / size
        self._t += 1
        info: dict[str, Any] = {"action": self._previous, "width": width, "pairs": 0}
        if self._t < self.n_groups:
            return self._observation(), 0.0, False, False, info
        mask = self._masks(self._widths[None])
        result = self.task.step(mask)
        self.pairs += self.pairs_per_episode
        full = self.gates.full_cost
        info |= {
            "pairs": self.pairs_per_episode,
            "accuracy": float(result.accuracy[0]),
            "params_kept": float(result.params[0]) / full["params"],
            "macs_kept": float(result.macs[0]) / full["macs"],
            "mask": mask[0].cpu().numpy().astype(np.int8),
        }
        self._last_accuracy = info["accuracy"]
        return self._observation(), info["accuracy"], True, False, info

    def render(self) -> np.ndarray | None:
        """The widths chosen so far (undecided groups at full width) as an ``rgb_array``."""
        if self.render_mode is None:
            gym.logger.warn('render() needs render_mode="rgb_array" at construction')
            return None
        kept = self._kept(self._widths[None])[0].item()
        title = f"{self._t} of {self.n_groups} groups decided, {self.resource} {kept:.1%} kept"
        if self._last_accuracy is not None:
            title += f", top-1 {self._last_accuracy:.3f}"
        names = [g.name for g in self.groups]
        return architecture_frame(names, self.gates.sizes, self._widths.tolist(), title)

    # ------------------------------------------------------------------ widths
    def _masks(self, widths: Tensor) -> Tensor:
        """(N, n_agents) float keep masks: group i keeps its ``widths[:, i]`` largest-L1
        channels."""
        return (self._rank < widths[:, self._group_of_agent]).float()

    def _kept(self, widths: Tensor) -> Tensor:
        """(N,) kept fraction of the budget resource at (N, G) widths."""
        params, macs = self.gates.cost(self._masks(widths))
        used = params if self.resource == "params" else macs
        return used / self.gates.full_cost[self.resource]

    def _allowed_width(self, t: int) -> int:
        """The largest width of group t (at least 1) at which the target holds with every
        later group at one channel; widths are nested, so the kept fraction grows with it."""
        size = int(self._sizes[t])
        candidates = self._widths.expand(size, -1).clone()
        candidates[:, t] = torch.arange(1, size + 1, device=candidates.device)
        candidates[:, t + 1 :] = 1
        meets = self._kept(candidates) <= self.target * (1 + ROUNDING)
        return max(int(meets.sum()), 1)

    # ------------------------------------------------------------- observation
    def _group_features(self) -> Tensor:
        """(G + 1, 5) position, width, conv, params and MACs shares; row G is the final
        observation's (position 1, the rest 0)."""
        gates, device = self.gates, self.device
        modules = dict(self.network.named_modules())
        n = self.n_groups
        conv = [not isinstance(modules[g.layers[0]], nn.Linear) for g in gates.groups]
        rows = torch.stack(
            [
                torch.arange(n, device=device) / n,
                self._sizes / self._sizes.max(),
                torch.tensor(conv, device=device),
            ],
            1,
        )
        rows = torch.cat([rows, group_cost_shares(gates, device)], 1).float()
        final = torch.zeros(1, rows.shape[1], device=device)
        final[0, 0] = 1.0
        return torch.cat([rows, final])

    def _observation(self) -> np.ndarray:
        """The embedding of group t (see the class docstring)."""
        later = self._widths.expand(2, -1).clone()
        later[1, self._t :] = 1  # undecided groups at their minimum
        kept = self._kept(later)
        dynamic = torch.stack([1 - kept[0], kept[0] - kept[1]]).float()
        previous = torch.tensor([self._previous], device=dynamic.device)
        obs = torch.cat([self._static[self._t], dynamic, previous]).clamp(0.0, 1.0)
        return obs.cpu().numpy()


def _keep_ratio(action) -> float:
    """The one keep ratio of ``action``, clipped to [0, 1]."""
    values = np.asarray(action, dtype=np.float64).reshape(-1)
    if values.shape != (1,):
        raise ValueError(f"action must hold one keep ratio; got {values.size} values")
    if math.isnan(values[0]):
        raise ValueError("action is NaN; a keep ratio must be a number in [0, 1]")
    return float(np.clip(values[0], 0.0, 1.0))
