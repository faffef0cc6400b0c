"""A PettingZoo ``ParallelEnv`` view of the compression env: one agent per channel group.

The paper's agents of one layer share that layer's reward; here such a group is one PettingZoo
agent whose action is the keep mask of its channels and whose reward is the group's R(b, i),
averaged over the batch. Needs the optional extra: ``pip install 'decore-env[pettingzoo]'``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from decore_env.envs.env import DecoreCompressEnv
from decore_env.task.build import to_masks
from decore_env.task.observation import AGENT_FEATURES, GLOBAL_FEATURES, GROUP_FEATURES

try:
    from pettingzoo import ParallelEnv
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "the multi-agent view needs PettingZoo: pip install 'decore-env[pettingzoo]'"
    ) from exc


class DecoreCompressParallelEnv(ParallelEnv):
    """Each channel group of a :class:`DecoreCompressEnv` as one PettingZoo agent.

    - Agents: the group names (``env.groups``), in forward order.
    - Action of agent i: ``MultiBinary(size_i)``, the keep (1) / drop (0) bits of its channels.
      Every live agent must act at every step.
    - Observation of agent i: ``Box(0, 1, (5 + 5 + 3 * size_i,))``, the single env's global
      entries, then its group's 5 entries, then the 3 entries of each of its channels (layout in
      :mod:`decore_env.task.observation`). ``state()`` is the single env's whole observation.
    - Reward of agent i: the group's reward R(b, i) averaged over the batch; the sum over agents
      is the single env's reward.
    - All agents truncate together at the end of the single env's episode.

    :param env: a ``DecoreCompressEnv`` (wrappers are looked through), or a registered env id.
    :param kwargs: arguments of ``gym.make`` when ``env`` is an id.
    """

    metadata = {
        "name": "decore_compress_v0",
        "render_modes": ["ansi", "rgb_array"],
        "is_parallelizable": True,
    }

    def __init__(self, env: DecoreCompressEnv | str = "DecoreCompress-v0", **kwargs: Any) -> None:
        if isinstance(env, str):
            env = gym.make(env, **kwargs)
        elif kwargs:
            raise ValueError("kwargs are for gym.make; pass them only with an env id")
        self.env: DecoreCompressEnv = env.unwrapped
        self.render_mode = self.env.render_mode
        groups = self.env.groups
        self.possible_agents = [g.name for g in groups]
        self.agents: list[str] = []
        self._sizes = {g.name: g.size for g in groups}
        self._action_spaces = {g.name: spaces.MultiBinary(g.size) for g in groups}
        per_agent = len(GLOBAL_FEATURES) + len(GROUP_FEATURES)
        self._observation_spaces = {
            g.name: spaces.Box(0.0, 1.0, (per_agent + len(AGENT_FEATURES) * g.size,), np.float32)
            for g in groups
        }
        self.state_space = self.env.observation_space
        self._state: np.ndarray | None = None

    def observation_space(self, agent: str) -> spaces.Box:
        return self._observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.MultiBinary:
        return self._action_spaces[agent]

    def state(self) -> np.ndarray:
        """The single env's full observation: every group's and channel's state."""
        if self._state is None:
            raise RuntimeError("call reset() before state()")
        return self._state.copy()

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
        obs, _ = self.env.reset(seed=seed, options=options)
        self.agents = list(self.possible_agents)
        return self._split(obs), {a: {} for a in self.agents}

    def step(self, actions: dict[str, Any]):
        if set(actions) != set(self.agents):
            raise ValueError(
                f"every live agent must act: missing {sorted(set(self.agents) - set(actions))}, "
                f"unknown or finished {sorted(set(actions) - set(self.agents))}"
            )
        parts = []
        for agent in self.possible_agents:
            try:
                parts.append(to_masks(actions[agent], (self._sizes[agent],), torch.device("cpu")))
            except ValueError as exc:
                raise ValueError(f"agent {agent!r}: {exc}") from exc
        obs, _, terminated, truncated, info = self.env.step(torch.cat(parts))
        shared = {k: info[k] for k in ("accuracy", "params", "macs", "lam")}
        rewards, infos = {}, {}
        for i, agent in enumerate(self.possible_agents):
            rewards[agent] = float(info["group_rewards"][i])
            infos[agent] = {"kept": int(info["kept"][i]), **shared}
        obs_dict = self._split(obs)
        terminations = dict.fromkeys(self.agents, terminated)
        truncations = dict.fromkeys(self.agents, truncated)
        if terminated or truncated:
            self.agents = []
        return obs_dict, rewards, terminations, truncations, infos

    def render(self) -> str | np.ndarray | None:
        return self.env.render()

    def close(self) -> None:
        self.env.close()

    def _split(self, obs: np.ndarray) -> dict[str, np.ndarray]:
        """Each agent's part of a full observation; remembers the full one as the state."""
        self._state = obs
        parts = self.env.layout.unpack(obs)
        out, start = {}, 0
        for i, agent in enumerate(self.possible_agents):
            end = start + self._sizes[agent]
            own = (parts["global"], parts["groups"][i], parts["agents"][start:end].reshape(-1))
            out[agent] = np.concatenate(own)
            start = end
        return out
