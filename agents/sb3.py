"""Stable-Baselines3 agents on the DECORE task: the same env, the same budget rule, the same unit.

- Unit of work: SB3 counts env steps; one step of the single env scores one mask on
  ``batch_size`` images, one step of a vector sub-env one mask on ``samples_per_mask`` images.
  :func:`timesteps_for_pairs` converts a budget of scored (mask, image) pairs into SB3
  timesteps, so every agent gets the same work.
- Budget: :class:`ReportArchitecture` reports the agent's deterministic mask
  (``predict(deterministic=True)``) to the env after every step, which the budget wrapper
  steers on, as it does for the native agent.
- :class:`SB3Agent` gives an SB3 algorithm the surface the pipeline drives every agent
  through (``learn`` in pairs, ``predict`` the final mask, ``save`` weights only).

stable-baselines3 is imported here only.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import stable_baselines3
import torch
from stable_baselines3.common.callbacks import BaseCallback

from agents.config import SB3_AGENTS
from agents.surface import MaskAgent
from decore_env.files import atomic_save
from decore_env.spec import derive_seed

ALGORITHMS = {"a2c": stable_baselines3.A2C, "ppo": stable_baselines3.PPO}
"""The SB3 class of each name in SB3_AGENTS (library defaults, MlpPolicy, on the CPU: SB3
advises the CPU for MLP policies)."""


def pairs_per_timestep(env: Any) -> int:
    """(mask, image) pairs one SB3 timestep scores on ``env`` (single or vector DECORE env)."""
    task = env.unwrapped.task
    return task.samples_per_mask


def timesteps_for_pairs(pairs: int, env: Any) -> int:
    """SB3 ``total_timesteps`` that score ``pairs`` (mask, image) pairs on ``env``."""
    per_step = pairs_per_timestep(env)
    if pairs % per_step:
        raise ValueError(
            f"{pairs} pairs are not a whole number of SB3 timesteps of {per_step} images each"
        )
    return pairs // per_step


class ReportArchitecture(BaseCallback):
    """Reports the agent's current deterministic mask to the DECORE env after every step.

    :param env: the DECORE env the agent trains on (before SB3 wraps it).
    """

    def __init__(self, env: Any) -> None:
        super().__init__()
        self.decore_env = env.unwrapped

    def _on_step(self) -> bool:
        observation = self.locals["new_obs"]
        mask, _ = self.model.predict(observation, deterministic=True)
        self.decore_env.report_architecture(np.asarray(mask).reshape(len(mask), -1)[0])
        return True


class SB3Agent(MaskAgent):
    """An SB3 algorithm on the single DECORE env (one mask per step on ``batch_size``
    images), with the agent surface of the pipeline.

    SB3 runs whole rollouts, so it may score a little more than it is given (A2C: up to
    n_steps - 1 = 4 steps, PPO: up to one 2,048-step rollout); ``num_timesteps`` counts the
    pairs it really scored.
    """

    def __init__(self, name: str, env: Any, seed: int = 0) -> None:
        if name not in SB3_AGENTS:
            raise ValueError(f"unknown SB3 agent {name!r}; one of {', '.join(SB3_AGENTS)}")
        self.name, self.env = name, env
        seed32 = derive_seed(seed, "actions") % 2**32
        self.model = ALGORITHMS[name]("MlpPolicy", env, seed=seed32, device="cpu")
        self.pairs_per_step = pairs_per_timestep(env)
        self.num_timesteps = 0
        """Scored (mask, image) pairs so far."""
        self.mask: torch.Tensor | None = None

    def learn(self, total_timesteps: int) -> SB3Agent:
        """Learn for ``total_timesteps`` scored pairs; the final mask is the policy's mode."""
        steps = timesteps_for_pairs(total_timesteps, self.env)
        report = ReportArchitecture(self.env)
        self.model.learn(steps, callback=report, reset_num_timesteps=False)
        self.num_timesteps = self.model.num_timesteps * self.pairs_per_step
        mask, _ = self.model.predict(self.model._last_obs, deterministic=True)
        self.mask = torch.as_tensor(np.asarray(mask)[0]).bool()
        self.env.unwrapped.report_architecture(self.mask)
        return self

    def save(self, path: str | os.PathLike) -> None:
        """The mask, the pairs and the policy's weights (loads with weights_only=True)."""
        atomic_save(
            {
                "agent": self.name,
                "mask": self.mask,
                "pairs": self.num_timesteps,
                "policy": self.model.policy.state_dict(),
            },
            path,
        )
