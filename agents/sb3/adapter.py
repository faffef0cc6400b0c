"""Stable-Baselines3 agents on the DECORE task: the same env, the same budget rule, the same unit.

- Env: the native vector env, through :class:`~agents.sb3.vec_env.SB3VectorEnv` (N masks per
  forward pass), or the single env (one mask per step on ``batch_size`` images). SAC and TD3
  act in ``Box(0, 1)``: they need the env in :func:`decore_env.envs.relaxation.relax`, which
  scores a Bernoulli mask drawn from their keep probabilities.
- Unit of work: SB3 counts sub-env steps; one scores one mask on ``samples_per_mask`` images
  (the single env: ``batch_size``). :func:`timesteps_for_pairs` converts a budget of scored
  (mask, image) pairs into SB3 timesteps, so every agent gets the same work.
- Budget: :class:`ReportArchitecture` reports the agent's deterministic mask to the env after
  every step, which the budget wrapper steers on, as it does for the native agent; ppo-shared
  reports none, so the wrapper steers on its sampled masks (as for ``shared-reinforce``).
- Final architecture: ``predict(deterministic=True)`` kept where > 0.5 (the Bernoulli mode of
  A2C and PPO is already 0/1; the keep probabilities of SAC and TD3 are thresholded);
  ppo-shared with a budget: its expected architecture projected on the target.
- :class:`SB3Agent` gives an SB3 algorithm the surface the pipeline drives every agent
  through (``learn`` in pairs, ``predict`` the final mask, ``save`` weights only).

Settings: SB3's defaults, MlpPolicy, on the CPU (SB3 advises the CPU for MLP policies), except
those in :data:`SETTINGS`, each with its reason. stable-baselines3 is imported here only.
"""

from __future__ import annotations

import inspect
import os
import sys
from typing import Any

import gymnasium as gym
import numpy as np
import stable_baselines3
import torch
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import HumanOutputFormat, Logger
from stable_baselines3.common.noise import NormalActionNoise, VectorizedActionNoise

from agents.mask_agent import MaskAgent
from agents.names import RELAXED, SB3_AGENTS
from agents.native.shared_net import expected_width_scores
from agents.references.targets import top_scored
from agents.sb3.policy import ScaledBernoulliPolicy
from agents.sb3.shared_policy import SharedActorCriticPolicy
from agents.sb3.vec_env import SB3VectorEnv
from decore_env.common.seeds import derive_seed
from decore_env.envs.budget import budget_target

ALGORITHMS = {
    "a2c": stable_baselines3.A2C,
    "ppo": stable_baselines3.PPO,
    "sac": stable_baselines3.SAC,
    "td3": stable_baselines3.TD3,
    "ppo-shared": stable_baselines3.PPO,
}
"""The SB3 class of each name in SB3_AGENTS."""
PPO_STEPS = 32
"""PPO's rollout length in vector steps. SB3's 2,048 x N masks (N = 256 in the demo) would
need 2,048 steps before the first update, more than the demo's whole budget of 1,170; 32 gives
36 updates there, each on 32 x N transitions (8,192 at N = 256), a large batch already."""
REPLAY_BUFFER = 50_000
"""Transitions SAC and TD3 remember (SB3: 1,000,000). One transition holds two observations
of 5 + 5 G + 3 A floats: for VGG16-BN (A = 4,736) 1e6 transitions would take 130 GB, 50,000
take 6.5 GB; and the reward drifts (lambda steered, the network trained jointly), so old
transitions mislead the critic. 50,000 is about 200 steps of the demo's 256 masks."""
TD3_NOISE = 0.1
"""Std of TD3's Gaussian exploration noise on its actions scaled to [-1, 1], per sub-env (the
TD3 paper's; SB3 adds none by default, leaving a deterministic actor whose critic only sees
the actions it already takes)."""
SETTINGS: dict[str, dict[str, Any]] = {
    "a2c": {},  # n_steps 5: a rollout is 5 x N masks, fine with N sub-envs
    "ppo": {"policy": ScaledBernoulliPolicy, "n_steps": PPO_STEPS},  # policy: sb3_policy.py
    "sac": {"buffer_size": REPLAY_BUFFER},
    "td3": {"buffer_size": REPLAY_BUFFER},
    "ppo-shared": {"policy": SharedActorCriticPolicy, "n_steps": PPO_STEPS},  # shared_policy.py
}
"""Every setting that differs from SB3's defaults, with TD3's ``action_noise`` (TD3_NOISE, sized
to the env when built). Kept at SB3's defaults on purpose: SAC and
TD3 take one gradient step (batch 256) per vector step (``train_freq`` 1, ``gradient_steps``
1), so each transition is replayed about 256 / N times (once at N = 256) and learning costs
one gradient step per batch of N masks scored, whatever N (demo, one CPU thread: 90 ms a
step, 50 of them the gradient step, 22 the scoring; more gradient steps per step would
multiply the larger share); ``learning_starts`` 100 transitions is less than one vector step
of the demo, so even a tiny budget trains."""


def even_rollout(name: str, budget_steps: int, longest: int | None = None) -> int:
    """The rollout of on-policy ``name`` (vector steps) that splits a budget of
    ``budget_steps`` into equal whole rollouts of at most ``longest`` steps (default: the
    project's, PPO_STEPS, or SB3's 5 for A2C), rounded up, so the agent spends its budget to
    within one step a rollout. A fixed rollout leaves a part rollout at the end: learned, it
    overruns the budget by up to a rollout; skipped, it leaves up to a rollout unspent (PPO's
    32 x 512 pairs on a ResNet-20 suite task are 43% of its 38,400)."""
    if longest is None:
        longest = (
            SETTINGS[name].get("n_steps")
            or inspect.signature(ALGORITHMS[name]).parameters["n_steps"].default
        )
    rollouts = max(1, -(-budget_steps // longest))
    return max(1, -(-budget_steps // rollouts))


def pairs_per_timestep(env: Any) -> int:
    """(mask, image) pairs one SB3 timestep scores on ``env`` (single or vector DECORE env)."""
    return env.unwrapped.samples_per_mask


def timesteps_for_pairs(pairs: int, env: Any) -> int:
    """SB3 ``total_timesteps`` that score ``pairs`` (mask, image) pairs on ``env``."""
    per_step = pairs_per_timestep(env)
    if pairs % per_step:
        raise ValueError(
            f"{pairs} pairs are not a whole number of SB3 timesteps of {per_step} images each"
        )
    return pairs // per_step


def deterministic_mask(model: BaseAlgorithm, observations: np.ndarray) -> torch.Tensor:
    """The bool mask (n_agents,) ``model`` would play now on the first of ``observations``:
    its deterministic action, kept where > 0.5."""
    action, _ = model.predict(np.asarray(observations)[:1], deterministic=True)
    return torch.as_tensor(np.asarray(action)[0] > 0.5)


def keep_scores(model: BaseAlgorithm, observations: np.ndarray) -> torch.Tensor:
    """(n_agents,) how strongly ``model`` keeps each channel now, on the first of
    ``observations``: the Bernoulli keep probabilities of A2C and PPO, the expected
    architecture's scores of the shared policy (as the native shared agent's), the
    deterministic action of SAC and TD3 (a keep probability of the relaxation)."""
    obs = np.asarray(observations)[:1]
    if isinstance(model.policy, SharedActorCriticPolicy):
        return expected_width_scores(shared_logits(model, obs), model.policy.layout.sizes)
    if isinstance(model.action_space, spaces.MultiBinary):
        return _bernoulli(model, obs).probs[0].float()
    action, _ = model.predict(obs, deterministic=True)
    return torch.as_tensor(np.asarray(action)[0], dtype=torch.float32)


class ReportArchitecture(BaseCallback):
    """Reports the agent's current deterministic mask to the DECORE env after every step.

    :param env: the DECORE env the agent trains on (before SB3 wraps it).
    """

    def __init__(self, env: Any) -> None:
        super().__init__()
        self.env = env

    def _on_step(self) -> bool:
        mask = reported_mask(self.model, self.locals["new_obs"], self.env)
        self.env.unwrapped.report_architecture(mask)
        return True


def _bernoulli(model: BaseAlgorithm, observations: np.ndarray) -> torch.distributions.Bernoulli:
    """The keep distribution of a MultiBinary policy on the first of ``observations``."""
    obs_tensor, _ = model.policy.obs_to_tensor(np.asarray(observations)[:1])
    with torch.no_grad():
        return model.policy.get_distribution(obs_tensor).distribution


def shared_logits(model: BaseAlgorithm, observations: np.ndarray) -> torch.Tensor:
    """(n_agents,) the shared policy's keep logits on the first of ``observations``."""
    return _bernoulli(model, observations).logits[0].float()


def reported_mask(model: BaseAlgorithm, observations: np.ndarray, env: Any) -> torch.Tensor:
    """The architecture an SB3 agent would output now: its deterministic mask; with the
    shared policy and a budget, its expected architecture projected on the target (why:
    :func:`agents.native.shared_net.expected_width_scores`)."""
    budget = budget_target(env)
    if not isinstance(model.policy, SharedActorCriticPolicy) or budget is None:
        return deterministic_mask(model, observations)
    resource, target = budget
    scores = keep_scores(model, observations)
    return top_scored(env.unwrapped.gates, scores, target, resource)


def action_space(env: Any) -> spaces.Space:
    """The action space of one mask: a single env's, or a vector env's per sub-env."""
    if isinstance(env, gym.vector.VectorEnv):
        return env.single_action_space
    return env.action_space


class SB3Agent(MaskAgent):
    """An SB3 algorithm on a DECORE env, with the agent surface of the pipeline.

    SB3 runs whole rollouts, so it may score a little more than it is given (A2C: up to
    4 vector steps, PPO: up to one rollout of PPO_STEPS); ``num_timesteps`` counts the pairs
    it really scored.

    :param env: the native vector env (``tensors=False``) or the single env, or a wrapper of
        either; SAC and TD3 need it in :func:`decore_env.envs.relaxation.relax`.
    :param seed: the run's seed; SB3's seed is derived from it.
    :param settings: SB3 constructor arguments over :data:`SETTINGS`.
    """

    def __init__(self, name: str, env: Any, seed: int = 0, **settings: Any) -> None:
        if name not in SB3_AGENTS:
            raise ValueError(f"unknown SB3 agent {name!r}; one of {', '.join(SB3_AGENTS)}")
        space = action_space(env)
        if name in RELAXED and not isinstance(space, spaces.Box):
            raise ValueError(
                f"{name} acts in Box(0, 1) and the env takes {space}: wrap it in "
                "decore_env.envs.relaxation.relax(env, seed) (keep probabilities in, Bernoulli "
                "masks out)"
            )
        self.name, self.env = name, env
        vec_env = SB3VectorEnv(env) if isinstance(env, gym.vector.VectorEnv) else env
        kwargs = {"policy": "MlpPolicy", **SETTINGS[name], **settings}
        if name == "ppo-shared":  # the shared policy reads the observation by its layout
            kwargs["policy_kwargs"] = {
                "layout": env.unwrapped.layout,
                **kwargs.get("policy_kwargs", {}),
            }
        if name == "td3" and "action_noise" not in kwargs:
            kwargs["action_noise"] = td3_noise(space, getattr(env, "num_envs", 1))
        seed32 = derive_seed(seed, "actions") % 2**32
        self.model = ALGORITHMS[name](env=vec_env, seed=seed32, device="cpu", **kwargs)
        if kwargs.get("tensorboard_log") is None:
            self.model.set_logger(quiet_logger(kwargs.get("verbose", 0)))
        self.pairs_per_step = env.unwrapped.pairs_per_step
        """Scored (mask, image) pairs per step of ``env`` (N masks)."""
        self.num_timesteps = 0
        """Scored (mask, image) pairs so far."""
        self.mask: torch.Tensor | None = None

    def learn(self, total_timesteps: int) -> SB3Agent:
        """Learn for ``total_timesteps`` scored pairs; the final mask is the policy's mode."""
        steps = timesteps_for_pairs(total_timesteps, self.env)
        rollout = getattr(self.model, "n_steps", 0) * self.model.n_envs  # on-policy only
        if 0 < steps < rollout:
            per_step = pairs_per_timestep(self.env)
            raise ValueError(
                f"a search budget of {total_timesteps} pairs is less than one {self.name} "
                f"rollout ({rollout * per_step} pairs) and would end before its first update; "
                "give at least that many pairs"
            )
        report = None if self._shared else ReportArchitecture(self.env)
        if self._shared:  # withdraw what another agent may have reported
            self.env.unwrapped.report_architecture(None)
        self.model.learn(steps, callback=report, reset_num_timesteps=False)
        self.num_timesteps = self.model.num_timesteps * pairs_per_timestep(self.env)
        self.mask = reported_mask(self.model, self.model._last_obs, self.env)
        self.env.unwrapped.report_architecture(self.reported_architecture())
        return self

    @property
    def _shared(self) -> bool:
        return isinstance(self.model.policy, SharedActorCriticPolicy)

    def reported_architecture(self) -> torch.Tensor | None:
        """The mask; None for the shared policy: budget mode steers on its sampled masks (why:
        agents.native.shared.SharedReinforceAgent._report_architecture)."""
        return None if self._shared else self.mask

    def keep_scores(self) -> torch.Tensor:
        """(n_agents,) the policy's keep scores now (:func:`keep_scores`)."""
        if self.mask is None:
            raise RuntimeError(f"{self.name}: call learn(total_timesteps) before keep_scores")
        return keep_scores(self.model, self.model._last_obs)

    def save_policy(self, path: str | os.PathLike) -> None:
        """Write the shared policy network (``ppo-shared``), the file a transfer starts from."""
        if not isinstance(self.model.policy, SharedActorCriticPolicy):
            raise ValueError(f"{self.name} has no shared policy network; ppo-shared has one")
        self.model.policy.shared_actor.save(path)

    def saved_parts(self) -> dict[str, Any]:
        """The policy's weights."""
        return {"policy": self.model.policy.state_dict()}


def quiet_logger(verbose: int = 0) -> Logger:
    """An SB3 logger without a folder (SB3's default makes an empty one in the temporary
    directory on every ``learn``): standard output at ``verbose`` >= 1, else nothing (the
    pipeline has its own progress and W&B logs)."""
    return Logger(folder=None, output_formats=[HumanOutputFormat(sys.stdout)] if verbose else [])


def td3_noise(space: spaces.Box, num_envs: int) -> VectorizedActionNoise:
    """TD3's exploration: independent N(0, TD3_NOISE) per action entry and sub-env."""
    zeros = np.zeros(space.shape, dtype=np.float32)
    base = NormalActionNoise(zeros, np.full_like(zeros, TD3_NOISE))
    return VectorizedActionNoise(base, num_envs)
