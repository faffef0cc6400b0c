"""Stable-Baselines3 agents on the DECORE task: the same env, the same budget rule, the same unit.

- Unit of work: SB3 counts env steps; one step of the single env scores one mask on
  ``batch_size`` images, one step of a vector sub-env one mask on ``samples_per_mask`` images.
  :func:`timesteps_for_pairs` converts a budget of scored (mask, image) pairs into SB3
  timesteps, so every agent gets the same work.
- Budget: :class:`ReportArchitecture` reports the agent's deterministic mask
  (``predict(deterministic=True)``) to the env after every step, which the budget wrapper
  steers on, as it does for the native agent.

stable-baselines3 is imported here only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback


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
