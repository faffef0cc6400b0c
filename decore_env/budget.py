"""Budget mode (beyond the paper): adapt lambda so the kept share of params or MACs hits a target.

The paper's lambda only works relative to the training accuracy: dropping pays while
accuracy > lambda / (1 + lambda), so one lambda prunes nothing on one setup and everything on
another. Here lambda is a dual variable. After every step,

    log(lambda) += rate * (target - kept) / target

where ``kept`` is the kept fraction of params (or MACs) of the masks just played: keeping
more than the target lowers lambda (dropping pays more), keeping less raises it. Working in
log space keeps lambda positive and makes the step relative. The final architecture is still
the policy's p > 0.5 threshold, not a top-k cut.

:class:`LambdaController` is the rule; :class:`BudgetWrapper` applies it to any DECORE env
(single or vector), so any agent, native or not, is driven towards the budget.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import gymnasium as gym
import torch

from decore_env.checks import check_fraction, check_lam

DUAL_RATE = 0.05
"""Step size of the log-lambda update per environment step (our choice)."""
LAM_RANGE = (1e-3, 1e4)
"""lambda is clipped to this range, so a long stretch off target cannot run it away."""

Resource = Literal["params", "macs"]


class LambdaController:
    """Dual ascent on log(lambda) towards a kept fraction ``target``."""

    def __init__(self, target: float, lam: float, rate: float = DUAL_RATE) -> None:
        self.target = check_fraction(target)
        self.log_lam = math.log(check_lam(lam))
        self.rate = float(rate)

    @property
    def lam(self) -> float:
        return math.exp(self.log_lam)

    def update(self, kept_fraction: float) -> float:
        """Move lambda after observing ``kept_fraction``; returns the new lambda."""
        error = (self.target - float(kept_fraction)) / self.target
        low, high = (math.log(v) for v in LAM_RANGE)
        self.log_lam = min(max(self.log_lam + self.rate * error, low), high)
        return self.lam

    def state_dict(self) -> dict:
        return {"target": self.target, "log_lam": self.log_lam, "rate": self.rate}

    def load_state_dict(self, state: dict) -> None:
        self.target, self.log_lam, self.rate = state["target"], state["log_lam"], state["rate"]


class BudgetWrapper(gym.Wrapper):
    """Adapts the wrapped DECORE env's lambda after every step to keep ``target`` of a resource.

    Works on ``DecoreCompressEnv``; for the native vector env use :class:`VectorBudgetWrapper`.
    ``info["lam"]`` reports the lambda the step was scored with.
    """

    def __init__(
        self, env: gym.Env, target: float, resource: Resource = "params", rate: float = DUAL_RATE
    ) -> None:
        super().__init__(env)
        self.follow = _Follower(env.unwrapped.core, target, resource, rate)

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.follow(info)
        return obs, reward, terminated, truncated, info


class VectorBudgetWrapper(gym.vector.VectorWrapper):
    """:class:`BudgetWrapper` for the native vector env: the mean kept fraction of its N masks."""

    def __init__(
        self,
        env: gym.vector.VectorEnv,
        target: float,
        resource: Resource = "params",
        rate: float = DUAL_RATE,
    ) -> None:
        super().__init__(env)
        self.follow = _Follower(env.unwrapped.core, target, resource, rate)

    def step(self, actions: Any):
        obs, rewards, terminations, truncations, infos = self.env.step(actions)
        self.follow(infos)
        return obs, rewards, terminations, truncations, infos


class _Follower:
    """Reads the kept resource of a step's masks from ``info`` and sets the core's lambda."""

    def __init__(self, core: Any, target: float, resource: str, rate: float) -> None:
        if resource not in ("params", "macs"):
            raise ValueError(f"resource must be 'params' or 'macs', got {resource!r}")
        self.core = core
        self.resource = resource
        self.controller = LambdaController(target, core.lam, rate)
        self.full = core.gates.full_cost[resource]

    def __call__(self, info: dict) -> None:
        if self.resource not in info:  # a vector env's autoreset step scores no mask
            return
        kept = torch.as_tensor(info[self.resource], dtype=torch.float64).mean().item()
        self.core.lam = self.controller.update(kept / self.full)
