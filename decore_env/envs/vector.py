"""DecoreCompressVectorEnv: N keep masks scored in one batched, per-sample masked forward pass."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.error import ResetNeeded
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space
from torch import Tensor

from decore_env.common.checks import positive_int
from decore_env.envs.budget import VectorBudgetWrapper
from decore_env.envs.view import TaskView
from decore_env.task.build import CompressionTask, build_task
from decore_env.task.spec import TaskSpec, spec_from


class DecoreCompressVectorEnv(TaskView, VectorEnv):
    """N sub-envs of :class:`~decore_env.envs.env.DecoreCompressEnv` stepped by one forward pass.

    Sub-env k scores its own mask on its own ``samples_per_mask`` images of one shared batch of
    ``num_envs * samples_per_mask`` images, exactly the paper's per-sample masks; there is no
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

    ``info["group_rewards"]`` is what the native agent learns from: wrappers that change only
    the scalar reward do not reach it.

    :param num_envs: N, masks per step; the batch is ``num_envs * samples_per_mask`` images
        (this sets the spec's ``batch_size``).
    :param spec: the task (default: the default task); ``fields`` override its fields.
    :param tensors: return torch tensors on the env's device instead of numpy arrays (for
        agents that stay on the GPU); actions may be tensors either way.
    :param task_defaults: a registered id's settings, used when no ``spec`` is given.
    """

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        num_envs: int = 1,
        spec: TaskSpec | None = None,
        tensors: bool = False,
        task_defaults: dict[str, Any] | None = None,
        **fields: Any,
    ) -> None:
        num_envs = positive_int("num_envs", num_envs)
        if "batch_size" in fields:
            raise ValueError(
                "the vector env's batch is num_envs x samples_per_mask images; set those, "
                "not batch_size"
            )
        samples = fields.get("samples_per_mask", (spec or TaskSpec()).samples_per_mask)
        batch = num_envs * positive_int("samples_per_mask", samples)
        spec = spec_from(spec, {**fields, "batch_size": batch}, task_defaults)
        self._over(build_task(spec, n_masks=num_envs), tensors)

    @classmethod
    def over(cls, task: CompressionTask, tensors: bool = False) -> DecoreCompressVectorEnv:
        """The vector env over a task built with :func:`~decore_env.task.build.build_task`
        (one sub-env per mask of a step): for code that also drives the task below the env,
        e.g. a benchmark of what the env costs."""
        env = cls.__new__(cls)
        env._over(task, tensors)
        return env

    def _over(self, task: CompressionTask, tensors: bool) -> None:
        self.task = task
        self.num_envs = num_envs = task.n_masks
        self.tensors = tensors
        self.single_action_space = spaces.MultiBinary(self.gates.n_agents)
        self.action_space = batch_space(self.single_action_space, num_envs)
        size = self.task.observation_size
        self.single_observation_space = spaces.Box(0.0, 1.0, (size,), np.float32)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self._autoreset = False

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray | Tensor, dict[str, Any]]:
        self.check_seed(seed)
        super().reset(seed=seed)
        self._autoreset = False
        return self._out(self._start_episode(seed)), {}

    def step(self, actions) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        if not self._started:  # as Gymnasium's OrderEnforcing does for the single env
            raise ResetNeeded("cannot call step() before reset(): reset the vector env first")
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
        info = {k: self._out(v) for k, v in result.info().items()}
        return (
            self._out(result.observation),
            self._out(result.reward),
            self._out(terminated),
            self._out(truncated),
            info,
        )

    def close_extras(self, **kwargs: Any) -> None:
        self.task.core.close()

    def _out(self, value: Tensor) -> np.ndarray | Tensor:
        return value if self.tensors else value.cpu().numpy()


def make_vector_env(num_envs: int = 1, spec: TaskSpec | None = None, **kwargs: Any) -> VectorEnv:
    """Vector entry point of the registered ids: the vector env, in a VectorBudgetWrapper when
    the spec sets a budget target."""
    env = DecoreCompressVectorEnv(num_envs, spec, **kwargs)
    if env.task_spec.budget is None:
        return env
    resource, target = env.task_spec.budget
    return VectorBudgetWrapper(env, target, resource)
