"""DecoreCompressVectorEnv: N keep masks scored in one batched, per-sample masked forward pass."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space
from torch import Tensor

from decore_env.checks import positive_int
from decore_env.observation import KEEP_DECAY
from decore_env.task import (
    DEFAULT_LAM,
    CheckpointArg,
    CompressionTask,
    DatasetArg,
    ModelArg,
    TaskView,
    build_core,
)


class DecoreCompressVectorEnv(TaskView, VectorEnv):
    """N sub-envs of :class:`~decore_env.env.DecoreCompressEnv` stepped by one forward pass.

    Sub-env k scores its own mask on its own ``samples_per_env`` images of one shared batch of
    ``num_envs * samples_per_env`` images, exactly the paper's per-sample masks; there is no
    Python loop over the sub-envs. Observations, rewards and info are those of the single env,
    with a leading dimension N (info values are (N,) or (N, G) arrays, present for every
    sub-env on every scoring step).

    The sub-envs share one network, one data stream and one episode clock: they reset and
    truncate together. With a frozen network (eval mode) sub-env k gets exactly the rewards a
    single env would get for the same mask and images. With ``train_network=True`` they also
    share one SGD step per step and the BatchNorm batch statistics of the joint batch, so a
    sub-env's result depends on the other sub-envs' masks.

    Autoreset follows ``AutoresetMode.NEXT_STEP``: the step after a truncation resets every
    sub-env (actions ignored, rewards 0, no images used) and returns the first observations of
    the next episode. ``reset(seed=s)`` takes one int for all sub-envs.

    :param num_envs: N, masks per step.
    :param samples_per_env: images each mask is scored on per step (default 1).
    :param tensors: return torch tensors on the env's device instead of numpy arrays (for
        agents that stay on the GPU); actions may be tensors either way.
    :param kwargs: the other arguments of :class:`~decore_env.env.DecoreCompressEnv`, except
        ``batch_size`` (here ``num_envs * samples_per_env``) and ``render_mode``.
    """

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        num_envs: int = 1,
        samples_per_env: int = 1,
        tensors: bool = False,
        model: ModelArg = "vgg16",
        checkpoint: CheckpointArg = None,
        dataset: DatasetArg = "cifar10",
        lam: float = DEFAULT_LAM,
        train_network: bool = False,
        device: str | torch.device | None = None,
        episode_steps: int | None = None,
        keep_decay: float = KEEP_DECAY,
        augment: bool = False,
        data_root: str | Path | None = None,
    ) -> None:
        num_envs = positive_int("num_envs", num_envs)
        samples_per_env = positive_int("samples_per_env", samples_per_env)
        core = build_core(
            model,
            checkpoint,
            dataset,
            lam,
            num_envs * samples_per_env,
            train_network,
            device,
            augment,
            data_root,
        )
        self.task = CompressionTask(core, num_envs, episode_steps, keep_decay)
        self.num_envs = num_envs
        self.samples_per_env = samples_per_env
        self.tensors = tensors
        self.single_action_space = spaces.MultiBinary(core.gates.n_agents)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.single_observation_space = spaces.Box(0.0, 1.0, (self.layout.size,), np.float32)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self._autoreset = False

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray | Tensor, dict[str, Any]]:
        if seed is not None and not isinstance(seed, int | np.integer):
            raise ValueError(
                f"seed must be one int for all sub-envs (they share one network and data "
                f"stream); got {seed!r}"
            )
        super().reset(seed=seed)
        self._autoreset = False
        return self._out(self._start_episode(seed)), {}

    def step(self, actions) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        n = self.num_envs
        if self._autoreset:
            self._autoreset = False
            obs = self.task.reset(None)
            zeros = torch.zeros(n, device=obs.device)
            done = torch.zeros(n, dtype=torch.bool, device=obs.device)
            return self._out(obs), self._out(zeros), self._out(done), self._out(done.clone()), {}
        result = self.task.step(actions)
        self._autoreset = result.truncated
        device = result.reward.device
        terminated = torch.zeros(n, dtype=torch.bool, device=device)
        truncated = torch.full((n,), result.truncated, dtype=torch.bool, device=device)
        info = {k: self._out(v) for k, v in result.info(self.lam).items()}
        return (
            self._out(result.observation),
            self._out(result.reward),
            self._out(terminated),
            self._out(truncated),
            info,
        )

    def _out(self, value: Tensor) -> np.ndarray | Tensor:
        return value if self.tensors else value.cpu().numpy()
