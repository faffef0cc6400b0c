"""Budget mode (beyond the paper): set lambda so the kept share of params or MACs hits a target.

The paper's lambda only works relative to the training accuracy: dropping a channel has
positive expected reward while the accuracy a exceeds lambda / (1 + lambda), so one lambda
prunes nothing on one setup and everything on another. Budget mode therefore sets lambda
around that break-even point and corrects it by the budget error e = log(target / kept):

    log(lambda) = log(a / (1 - a)) + GAIN * e + RATE * sum of e over the steps so far

At e = 0, lambda is the break-even of the measured accuracy, where dropping neither pays nor
costs, so the policy stops moving; keeping too much (e < 0) lowers lambda and dropping pays.
``a`` is a moving average of the step accuracy. The proportional term acts at once and the
small integral removes a steady offset. (A pure integral on log(lambda) oscillated: the policy
integrates the reward, and two integrators in a loop overshoot; measured on the default
task, target 0.3: 0.17 to 0.39 over 800 steps.) The error is a log ratio, as large for
keeping twice the target as for keeping half of it; the plain relative error
(target - kept) / target, which is -2.3 at kept = 1 but at most +1, drove lambda to its floor
early and the policy overshot (settling at 0.26 to 0.29 instead of 0.28 to 0.30).

One rule for every agent: ``kept`` is the kept fraction of the agent's *current
deterministic architecture*, the mask it would output now, which the agent reports with
``env.unwrapped.report_architecture(mask)`` (the native agent after every update; a
Stable-Baselines3 agent through :class:`agents.sb3.adapter.ReportArchitecture`). Until an agent
reports, or after it reports None, ``kept`` is the mean kept fraction of the masks played in
the step: the shared-policy agents (``shared-reinforce``, ``ppo-shared``) report None, so
their sampled masks themselves are pushed to the target. The
controller's state and lambda stay on the core's device: no host read per step.

:class:`BudgetWrapper` (single env) and :class:`VectorBudgetWrapper` (vector env) apply the
rule; ``gym.make`` adds them when the spec sets ``target_params`` or ``target_macs``.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import gymnasium as gym
import torch
from torch import Tensor

from decore_env.common.checks import check_fraction, check_lam

GAIN = 10.0
"""Proportional gain on the budget error, in log(lambda) (our choice, measured on the default
task, target 0.3, native agent, seeds 0 to 2: with RATE 0.02 the kept fraction stayed within
0.25 to 0.33 from step 200 to 800, means of the last 300 steps 0.28 to 0.30; gains 5 and 20
and RATE 0.05 wandered more)."""
RATE = 0.02
"""Integral gain per step on the budget error (our choice, see GAIN)."""
ACCURACY_DECAY = 0.9
"""Decay of the moving average of the step accuracy behind the break-even term."""
ACCURACY_RANGE = (0.5, 1.0 - 1e-4)
"""The averaged accuracy is clipped to this range before its break-even lambda is taken."""
LAM_RANGE = (1e-3, 1e4)
"""lambda is clipped to this range (inside the accepted (0, MAX_LAM])."""

Resource = Literal["params", "macs"]


class LambdaController:
    """The budget rule's state: the integral of the error and the averaged accuracy.

    :param target: kept fraction of the resource to reach, in (0, 1].
    :param lam: lambda until the first update.
    """

    def __init__(
        self,
        target: float,
        lam: float,
        gain: float = GAIN,
        rate: float = RATE,
        device: Any = "cpu",
    ) -> None:
        self.target = check_fraction(target)
        self.gain, self.rate = float(gain), float(rate)
        zero = torch.zeros((), dtype=torch.float64, device=device)
        self.log_lam = zero + math.log(check_lam(lam))
        self.integral = zero.clone()
        self.accuracy = zero - 1.0  # < 0: nothing measured yet
        self._bounds = tuple(math.log(v) for v in LAM_RANGE)

    @property
    def lam(self) -> float:
        """The current lambda (reads the device)."""
        return math.exp(float(self.log_lam))

    def update(self, kept_fraction: Tensor | float, accuracy: Tensor | float) -> Tensor:
        """lambda after a step that kept ``kept_fraction`` at ``accuracy`` (a tensor)."""
        device = self.log_lam.device
        kept = torch.as_tensor(kept_fraction, dtype=torch.float64, device=device)
        acc = torch.as_tensor(accuracy, dtype=torch.float64, device=device)
        fresh = self.accuracy < 0
        blended = ACCURACY_DECAY * self.accuracy + (1 - ACCURACY_DECAY) * acc
        self.accuracy = torch.where(fresh, acc, blended)
        a = self.accuracy.clamp(*ACCURACY_RANGE)
        error = torch.log(self.target / kept.clamp_min(1e-6))
        steered = torch.log(a / (1 - a)) + self.gain * error
        integral = self.integral + self.rate * error
        low, high = self._bounds
        unclamped = steered + integral
        # anti-windup: while lambda sits at a bound the error pushes past, stop integrating,
        # so a target that becomes reachable later is not answered by a stuck lambda
        wound = ((unclamped < low) & (error < 0)) | ((unclamped > high) & (error > 0))
        self.integral = torch.where(wound, self.integral, integral)
        self.log_lam = (steered + self.integral).clamp(low, high)
        return self.log_lam.exp()

    def state_dict(self) -> dict:
        return {
            "target": self.target,
            "gain": self.gain,
            "rate": self.rate,
            "log_lam": self.log_lam.cpu(),
            "integral": self.integral.cpu(),
            "accuracy": self.accuracy.cpu(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.target, self.gain, self.rate = state["target"], state["gain"], state["rate"]
        device = self.log_lam.device
        for name in ("log_lam", "integral", "accuracy"):
            setattr(self, name, state[name].to(device))


class BudgetWrapper(gym.Wrapper):
    """Adapts the wrapped DECORE env's lambda after every step to keep ``target`` of a resource.

    ``info["lam"]`` reports the lambda the step was scored with.
    """

    def __init__(self, env: gym.Env, target: float, resource: Resource = "params") -> None:
        super().__init__(env)
        self.follow = _Follower(env.unwrapped.task, target, resource)

    @property
    def controller(self) -> LambdaController:
        return self.follow.controller

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.follow(info)
        return obs, reward, terminated, truncated, info


class VectorBudgetWrapper(gym.vector.VectorWrapper):
    """:class:`BudgetWrapper` for the native vector env."""

    def __init__(
        self,
        env: gym.vector.VectorEnv,
        target: float,
        resource: Resource = "params",
    ) -> None:
        super().__init__(env)
        self.follow = _Follower(env.unwrapped.task, target, resource)

    @property
    def controller(self) -> LambdaController:
        return self.follow.controller

    def step(self, actions: Any):
        obs, rewards, terminations, truncations, infos = self.env.step(actions)
        self.follow(infos)
        return obs, rewards, terminations, truncations, infos


def budget_target(env: Any) -> tuple[str, float] | None:
    """(resource, target) of the outermost budget wrapper around ``env``, else the budget of
    its task's spec (None when neither sets one): the target an agent's final architecture
    meets, whether ``gym.make`` added the wrapper or the user did."""
    layer = env
    while layer is not None:
        if isinstance(layer, BudgetWrapper | VectorBudgetWrapper):
            return layer.follow.resource, layer.controller.target
        layer = getattr(layer, "env", None)
    spec = getattr(env.unwrapped, "task_spec", None)
    return None if spec is None else spec.budget


def architecture_kept(task: Any, info: dict, resource: str) -> Tensor:
    """Kept fraction of ``resource`` of the architecture the agent reported to ``task``, else
    the mean of the masks the step ``info`` scored (a 0-d tensor on the task's device)."""
    core = task.core
    if task.architecture is None:
        return sampled_kept(core.gates, info, resource, core.device)
    params, macs = core.gates.cost(task.architecture)
    used = (params if resource == "params" else macs)[0]
    return used / core.gates.full_cost[resource]


def sampled_kept(
    gates: Any, info: dict, resource: str, device: torch.device | str | None = None
) -> Tensor:
    """Mean kept fraction of ``resource`` over the masks a step ``info`` scored (0-d)."""
    used = torch.as_tensor(info[resource], device=device).double().mean()
    return used / gates.full_cost[resource]


class _Follower:
    """After a scored step, feeds the kept fraction to the controller and sets the lambda."""

    def __init__(self, task: Any, target: float, resource: str) -> None:
        if resource not in ("params", "macs"):
            raise ValueError(f"resource must be 'params' or 'macs', got {resource!r}")
        self.task = task
        self.resource = resource
        core = task.core
        self.controller = LambdaController(target, core.lam, device=core.device)
        if task.observer is not None:  # the observation shows the target steered to
            task.observer.set_target(resource, self.controller.target)

    def __call__(self, info: dict) -> None:
        if self.resource not in info:  # a vector env's autoreset step scores no mask
            return
        accuracy = torch.as_tensor(info["accuracy"], device=self.task.core.device).double().mean()
        kept = architecture_kept(self.task, info, self.resource)
        lam = self.controller.update(kept, accuracy)
        self.task.core.lam_tensor.copy_(lam)
