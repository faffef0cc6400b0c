"""The agent surface shared by agents whose learning ends in one mask (references, SB3)."""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import Tensor


class MaskAgent:
    """``predict`` like Stable-Baselines3 for an agent that settles on one mask in ``learn``.

    Subclasses set ``name`` and, in ``learn``, ``mask`` (a bool tensor (n_agents,)).
    """

    name: str
    mask: Tensor | None = None

    def predict(
        self,
        observation: Any = None,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, None]:
        """(mask, None): the mask as int8 (n_agents,), or (N, n_agents) for a batch of N
        observations. There is one mask: ``deterministic`` is moot."""
        if self.mask is None:
            raise RuntimeError(f"{self.name}: call learn(total_timesteps) before predict")
        mask = self.mask.numpy().astype(np.int8)
        if np.ndim(observation) == 2:
            return np.tile(mask, (np.shape(observation)[0], 1)), None
        return mask, None
