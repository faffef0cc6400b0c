"""SB3VectorEnv: Stable-Baselines3 collects N masks per forward pass from the native vector env.

SB3's ``VecEnv`` and Gymnasium's ``AutoresetMode.NEXT_STEP`` disagree on when an episode
restarts. SB3 expects the step that ends an episode to return the next episode's first
observation, with the last one in ``info["terminal_observation"]``; the native env returns the
last observation and resets on the following step (actions ignored, rewards 0, no images
scored). The adapter takes that reset step at once, inside the step that ended the episode, so
SB3 never sees it: every SB3 step scores N masks, and SB3's timesteps count scored masks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvStepReturn


class SB3VectorEnv(VecEnv):
    """The native DECORE vector env (or a wrapper of it) as an SB3 ``VecEnv``.

    The sub-envs share one network, one data stream and one episode clock, so attribute
    reads, writes and method calls go to that one env, and ``reset`` seeds it with the first
    sub-env's seed (SB3 gives sub-env k the seed s + k).

    :param env: from ``gym.make_vec("DecoreCompress-v0", ..., vectorization_mode=
        "vector_entry_point")`` with numpy outputs (``tensors=False``, the default).
    """

    def __init__(self, env: gym.vector.VectorEnv) -> None:
        if env.metadata.get("autoreset_mode") != AutoresetMode.NEXT_STEP:
            raise ValueError("SB3VectorEnv adapts a vector env that autoresets on the next step")
        if getattr(env.unwrapped, "tensors", False):
            raise ValueError("SB3 reads numpy arrays: build the vector env with tensors=False")
        self.env = env
        super().__init__(env.num_envs, env.single_observation_space, env.single_action_space)
        self._actions: np.ndarray | None = None

    def reset(self) -> np.ndarray:
        options = self._options[0] or None
        obs, _ = self.env.reset(seed=self._seeds[0], options=options)
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        obs, rewards, terminated, truncated, info = self.env.step(self._actions)
        dones = np.asarray(terminated) | np.asarray(truncated)
        infos = [{key: value[k] for key, value in info.items()} for k in range(self.num_envs)]
        if dones.any():  # the sub-envs end together; the native reset step scores nothing
            for k, sub in enumerate(infos):
                sub["terminal_observation"] = obs[k]
                sub["TimeLimit.truncated"] = bool(truncated[k] and not terminated[k])
            obs, *_ = self.env.step(self._actions)
        return obs, np.asarray(rewards, dtype=np.float32), dones, infos

    def close(self) -> None:
        self.env.close()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(self.env, attr_name)] * len(self._indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        setattr(self.env, attr_name, value)

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **kwargs: Any
    ) -> list[Any]:
        result = getattr(self.env, method_name)(*method_args, **kwargs)
        return [result] * len(self._indices(indices))

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        env, wrapped = self.env, False
        while not wrapped and hasattr(env, "env"):
            wrapped, env = isinstance(env, wrapper_class), env.env
        return [wrapped] * len(self._indices(indices))

    def _indices(self, indices: VecEnvIndices) -> Sequence[int]:
        return list(self._get_indices(indices))
