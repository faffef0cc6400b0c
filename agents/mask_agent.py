"""The agent surface shared by agents whose learning ends in one mask (references, SB3,
td3_layerwise): ``predict`` and ``save``."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from torch import Tensor

from decore_env.common.files import atomic_save


class MaskAgent:
    """``predict`` like Stable-Baselines3 for an agent that settles on one mask in ``learn``.

    Subclasses set ``name`` and, in ``learn``, ``mask`` (a bool tensor (n_agents,)).
    """

    name: str
    mask: Tensor | None = None
    num_timesteps: int = 0
    NAME_KEY = "agent"
    """The key of the agent's name in its saved file."""

    def saved_parts(self) -> dict[str, Any]:
        """What a subclass saves beside its name, mask and pairs (tensors and plain values)."""
        return {}

    def save(self, path: str | os.PathLike) -> None:
        """Write the name, the mask, the pairs scored and :meth:`saved_parts`, atomically
        (loads with weights_only=True)."""
        if self.mask is None:
            raise RuntimeError(f"{self.name}: call learn(total_timesteps) before save")
        parts = {self.NAME_KEY: self.name, "mask": self.mask, "pairs": self.num_timesteps}
        atomic_save(parts | self.saved_parts(), path)

    def reported_architecture(self) -> Tensor | None:
        """What the agent reports to the env once settled (budget mode and logging read it):
        its mask. An agent that steers lambda on its sampled masks reports None."""
        return self.mask

    def keep_scores(self) -> Tensor:
        """(n_agents,) how strongly the agent keeps each channel: its one mask (a reference is
        on the target by construction, so a projection leaves it as it is)."""
        if self.mask is None:
            raise RuntimeError(f"{self.name}: call learn(total_timesteps) before keep_scores")
        return self.mask.float()

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
