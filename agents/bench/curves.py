"""Learning curves read off the env: what any agent's search looks like, in scored pairs.

:class:`CurveRecorder` sits on the vector env an agent drives, so it sees every agent (native,
Stable-Baselines3, searching references) the same way and charges the same unit. Every
``every`` scoring steps it records one point: the pairs scored so far, the mean accuracy of the
masks that step scored, and the params fraction of the agent's architecture (the mask it
reported, else the mean of the masks it played). Reading the point copies two numbers from the
device, so it is done only every ``every`` steps.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch

CURVE_COLUMNS = ("pairs", "accuracy", "params_kept")
"""What one point of a curve holds."""


class CurveRecorder(gym.vector.VectorWrapper):
    """Records a learning curve of the agent stepping this vector env."""

    def __init__(self, env: gym.vector.VectorEnv, every: int) -> None:
        super().__init__(env)
        self.every = every
        self.steps = 0
        self.pairs = 0
        self.points: list[list[float]] = []

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        out = self.env.step(actions)
        info = out[-1]
        if "accuracy" in info:  # an autoreset step scores nothing
            base = self.env.unwrapped
            self.steps += 1
            self.pairs += base.pairs_per_step
            if self.steps % self.every == 0:
                accuracy = torch.as_tensor(info["accuracy"]).double().mean()
                kept = base.architecture_kept(info, "params")
                self.points.append([self.pairs, float(accuracy), float(kept)])
        return out

    def state_dict(self) -> dict:
        return {"steps": self.steps, "pairs": self.pairs, "points": self.points}

    def load_state_dict(self, state: dict) -> None:
        self.steps, self.pairs, self.points = state["steps"], state["pairs"], state["points"]
