"""What the Gymnasium classes over a :class:`~decore_env.task.build.CompressionTask` share: the
env's published surface.

Agents, references, the pipeline and the benchmarks read the task through these properties and
methods of ``env.unwrapped`` only (``tests/test_layers.py`` holds the allow-list), never through
the task's core: what they may rely on is documented here, and the core can change under it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from decore_env.channels.gates import ChannelGates
from decore_env.channels.importance import channel_l1
from decore_env.channels.tracing import Group
from decore_env.envs.budget import architecture_kept
from decore_env.task.build import CompressionTask
from decore_env.task.observation import ObservationLayout
from decore_env.task.spec import TaskSpec


class TaskView:
    """The task-level surface of the single and the vector env."""

    task: CompressionTask
    np_random: np.random.Generator
    _started: bool = False

    @property
    def task_spec(self) -> TaskSpec:
        """The spec the task was built from (``gym.make(id, spec=env.unwrapped.task_spec)``
        builds the same task)."""
        return self.task.spec

    @property
    def lam(self) -> float:
        """The penalty of a wrong prediction; set it between steps to retarget compression.
        Reading it copies one number from the device."""
        return self.task.core.lam

    @lam.setter
    def lam(self, value: float) -> None:
        self.task.core.lam = value

    @property
    def gates(self) -> ChannelGates:
        """The network's channel structure: groups, agents per channel, mask checks and the
        params/MACs cost of any mask."""
        return self.task.core.gates

    @property
    def device(self) -> torch.device:
        """Where masks are scored; tensors an agent hands over may live there."""
        return self.task.core.device

    @property
    def samples_per_mask(self) -> int:
        """Images each mask of a step is scored on."""
        return self.task.samples_per_mask

    @property
    def pairs_per_step(self) -> int:
        """Scored (mask, image) pairs of one step: masks per step x images per mask."""
        return self.task.samples_per_mask * self.task.n_masks

    @property
    def steps_per_epoch(self) -> int:
        """Steps of one pass over the training split."""
        return len(self.task.core.loader)

    @property
    def network(self) -> nn.Module:
        """The network masks are scored on: the frozen baseline, or the jointly trained one
        (with ``train_network``); surgery prunes it for the final architecture."""
        return self.task.core.model

    def channel_importance(self) -> Tensor:
        """(n_agents,) L1 weight norm of each agent's channels, on the CPU (the magnitude
        criterion of the references and the layer-wise env)."""
        return channel_l1(self.task.core.gates)

    @property
    def layout(self) -> ObservationLayout:
        """Where each entry sits in an observation; ``layout.unpack(obs)`` splits one."""
        if self.task.observer is None:
            raise AttributeError("this env was built with observe=False: it has no observations")
        return self.task.observer.layout

    @property
    def groups(self) -> list[Group]:
        """The channel groups, in the order of the action's agents."""
        return self.task.core.gates.groups

    def evaluate(
        self, mask: Tensor | np.ndarray, split: str = "test", adapt_bn: bool = False
    ) -> float:
        """Top-1 accuracy of the network under ``mask`` (n_agents,) on the named split
        ("val" or "test"), for tuning and reports after a search; ``adapt_bn``: after
        re-estimating the BatchNorm statistics under the mask on training images. It changes
        no weight and no random state of the env, and no agent's step reads val or test."""
        return self.task.evaluate(torch.as_tensor(mask), split, adapt_bn)

    def architecture_kept(self, info: dict, resource: str) -> Tensor:
        """Kept fraction of ``resource`` ("params" or "macs") of the architecture the agent
        reported (:meth:`report_architecture`), else the mean of the masks the step ``info``
        scored (a 0-d tensor on the device)."""
        return architecture_kept(self.task, info, resource)

    def report_architecture(self, mask: Tensor | np.ndarray | None) -> None:
        """Tell the env the mask (n_agents,) the agent would output now (its deterministic
        architecture). Budget mode steers lambda on it; None withdraws it, so that budget
        mode steers on the masks played; see :mod:`decore_env.envs.budget`."""
        if mask is None:
            self.task.architecture = None
            return
        self.task.architecture = self.gates.check_mask(mask)[0].to(self.device)

    def state_dict(self) -> dict:
        """Everything the env's next steps depend on (network, data, clocks, RNG), for
        resuming a run; observations restart their moving averages."""
        return {
            "task": self.task.state_dict(),
            "lam": self.task.core.lam_tensor.cpu(),
            "np_random": self.np_random.bit_generator.state,
            "started": self._started,
            "autoreset": getattr(self, "_autoreset", False),
        }

    def load_state_dict(self, state: dict) -> None:
        self.task.load_state_dict(state["task"])
        self.task.core.lam_tensor.copy_(state["lam"])
        self.np_random.bit_generator.state = state["np_random"]
        self._started = state["started"]
        if hasattr(self, "_autoreset"):
            self._autoreset = state["autoreset"]

    @staticmethod
    def check_seed(seed: Any) -> None:
        """Refuse a seed before Gymnasium's state is touched, so a rejected ``reset`` leaves the
        env as usable as it was."""
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0
        ):
            raise ValueError(
                f"seed must be an int >= 0 (one for all sub-envs of a vector env: they share "
                f"one network and data stream) or None; got {seed!r}"
            )

    def _start_episode(self, seed: int | None) -> Tensor:
        """Call after ``super().reset(seed=seed)``: a seeded (or the very first) reset restores
        the initial network and draws the data order from ``np_random``; any other reset keeps
        the trained weights and the data stream."""
        fresh = seed is not None or not self._started
        self._started = True
        return self.task.reset(int(self.np_random.integers(2**63 - 1)) if fresh else None)
