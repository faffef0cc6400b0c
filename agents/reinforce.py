"""The native DECORE agent: one Bernoulli keep-policy per channel, trained by REINFORCE.

All agents of a network are one weight vector ``w`` on the device; channel j is kept with
probability sigmoid(w_j). Each step samples one mask per image of the batch (an N x n_agents
matrix of independent draws), scores every mask in one forward pass on the environment's
tensor-level core, and takes one Adam step on

    loss(w) = -(1/N) sum_b sum_i R(b, i) * log pi(a_bi)
    log pi(a_bi) = sum_{j in group i} a_bj log p_j + (1 - a_bj) log(1 - p_j)

which is the paper's REINFORCE estimate of grad J. ``ReinforceConfig()`` is the paper's
setting: no baseline, no normalisation, no entropy bonus, per-sample masks.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from decore_env.core import CompressionCore, Scored
from decore_env.files import atomic_save, read_tensors

PAPER_LR = 0.01
"""Adam learning rate of the agents (paper)."""
PAPER_INIT_WEIGHT = 6.9
"""Initial policy weight: keep probability sigmoid(6.9) = 0.999 (both re-implementations)."""
KEEP_THRESHOLD = 0.5
"""Channels whose final keep probability is at most this are removed (paper)."""


@dataclass(frozen=True)
class ReinforceConfig:
    """Agent settings; the defaults reproduce the paper ("paper" mode)."""

    lr: float = PAPER_LR
    """Adam learning rate of the policy weights."""
    init_weight: float = PAPER_INIT_WEIGHT
    """Initial weight of every agent; a lower value (e.g. 3) makes agents decide sooner."""
    baseline: bool = False
    """Subtract a running mean of each group's reward (variance reduction; not in the paper)."""
    baseline_momentum: float = 0.9
    """Decay of the running-mean baseline."""
    normalize_rewards: bool = False
    """Divide rewards by their running standard deviation per group (not in the paper)."""
    entropy_coef: float = 0.0
    """Weight of an entropy bonus on the keep probabilities (not in the paper)."""

    def __post_init__(self) -> None:
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not 0 <= self.baseline_momentum < 1:
            raise ValueError(f"baseline_momentum must be in [0, 1), got {self.baseline_momentum}")
        if self.entropy_coef < 0:
            raise ValueError(f"entropy_coef must be >= 0, got {self.entropy_coef}")


@dataclass(frozen=True)
class StepStats:
    """One policy update, as device tensors (read them only when you log: reading syncs)."""

    step: int
    reward: Tensor  # mean over samples of the reward summed over groups
    accuracy: Tensor  # fraction of samples the masked network got right
    keep_frac: Tensor  # mean sampled keep fraction over all agents
    keep_prob: Tensor  # (n_agents,) keep probabilities after the update
    loss: Tensor  # network cross-entropy on the masked batch
    lam: float


Callback = Callable[[StepStats], bool | None]
"""Called after every update; returning False stops ``learn`` (as in Stable-Baselines3)."""


def reinforce_loss(
    weights: Tensor, actions: Tensor, advantages: Tensor, group_of_agent: Tensor
) -> Tensor:
    """-(1/N) sum_b sum_j log pi(a_bj) * A(b, group(j)): minimising it ascends J.

    :param weights: (n_agents,) policy logits.
    :param actions: (N, n_agents) sampled 0/1 keep actions.
    :param advantages: (N, G) reward (or reward minus baseline) of each sample and group.
    """
    log_p = nn.functional.logsigmoid(weights)
    log_not_p = nn.functional.logsigmoid(-weights)
    log_prob = actions * log_p + (1.0 - actions) * log_not_p
    return -(log_prob * advantages[:, group_of_agent]).sum(1).mean()


def _core_of(env: Any) -> CompressionCore:
    """The tensor-level core behind a DECORE env, vector env or wrapper, or the core itself."""
    if isinstance(env, CompressionCore):
        return env
    core = getattr(getattr(env, "unwrapped", env), "core", None)
    if not isinstance(core, CompressionCore):
        raise TypeError(
            f"{type(env).__name__} is not a DECORE environment; pass a DecoreCompress env, "
            "its vector env, or a CompressionCore"
        )
    return core


class DecoreAgent:
    """Vectorized REINFORCE over every channel of a network, with the SB3 agent surface.

    :param env: a DecoreCompress env (single or vector) or its ``CompressionCore``; the agent
        drives the core directly, one mask per image of each batch, no host copies.
    :param config: agent settings (defaults: the paper).
    :param seed: seeds the action sampling.
    """

    def __init__(self, env: Any, config: ReinforceConfig | None = None, seed: int = 0) -> None:
        self.core = _core_of(env)
        self.config = config or ReinforceConfig()
        device = self.core.device
        n_agents = self.core.gates.n_agents
        self.weights = torch.full(
            (n_agents,), self.config.init_weight, device=device, requires_grad=True
        )
        self.optimizer = torch.optim.Adam([self.weights], lr=self.config.lr)
        self.generator = torch.Generator(device).manual_seed(seed)
        n_groups = self.core.n_groups
        self.reward_mean = torch.zeros(n_groups, device=device)
        self.reward_var = torch.ones(n_groups, device=device)
        self.num_timesteps = 0

    # ------------------------------------------------------------------ policy
    def keep_probabilities(self) -> Tensor:
        """(n_agents,) current keep probabilities, detached."""
        return torch.sigmoid(self.weights.detach())

    def final_mask(self) -> Tensor:
        """The deterministic architecture: keep channels with p > 0.5 (paper)."""
        return self.keep_probabilities() > KEEP_THRESHOLD

    def predict(
        self,
        observation: Any = None,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, None]:
        """(mask, None) like Stable-Baselines3: one mask for one observation, an (N, n_agents)
        batch for a batch of N observations (a vector env's). The policy is state-free (one
        number per channel), so the observation sets only the batch size. ``deterministic``
        thresholds p > 0.5, otherwise masks are sampled."""
        batch = np.shape(observation)[0] if np.ndim(observation) == 2 else None
        p = self.keep_probabilities().expand(batch or 1, -1)
        if deterministic:
            masks = p > KEEP_THRESHOLD
        else:
            masks = torch.bernoulli(p, generator=self.generator).bool()
        masks = masks.cpu().numpy().astype(np.int8)
        return (masks if batch else masks[0]), None

    # ---------------------------------------------------------------- learning
    def train_step(self) -> StepStats:
        """Sample one mask per image of the next batch, score them, update the policy."""
        core, config = self.core, self.config
        batch = core.loader.batch_size
        p = torch.sigmoid(self.weights.detach())
        actions = torch.bernoulli(p.expand(batch, -1), generator=self.generator)
        scored: Scored = core.step(actions)
        advantages = self._advantages(scored.group_rewards)
        loss = reinforce_loss(self.weights, actions, advantages, core.group_of_agent)
        if config.entropy_coef:
            probs = torch.sigmoid(self.weights)
            entropy = nn.functional.binary_cross_entropy(probs, probs, reduction="sum")
            loss = loss - config.entropy_coef * entropy
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.num_timesteps += 1
        return StepStats(
            step=self.num_timesteps,
            reward=scored.group_rewards.sum(1).mean(),
            accuracy=scored.correct.float().mean(),
            keep_frac=actions.mean(),
            keep_prob=self.keep_probabilities(),
            loss=scored.loss,
            lam=core.lam,
        )

    def _advantages(self, rewards: Tensor) -> Tensor:
        """Rewards as the paper uses them, or centred/scaled by running statistics."""
        config = self.config
        if not (config.baseline or config.normalize_rewards):
            return rewards
        m = config.baseline_momentum
        self.reward_mean.mul_(m).add_((1 - m) * rewards.mean(0))
        self.reward_var.mul_(m).add_((1 - m) * rewards.var(0, unbiased=False))
        out = rewards - self.reward_mean if config.baseline else rewards
        if config.normalize_rewards:
            out = out / (self.reward_var.sqrt() + 1e-8)
        return out

    def learn(self, total_steps: int, callback: Callback | None = None) -> DecoreAgent:
        """Run ``total_steps`` policy updates (one batch each); the callback may stop early."""
        if total_steps < 0:
            raise ValueError(f"total_steps must be >= 0, got {total_steps}")
        for _ in range(total_steps):
            stats = self.train_step()
            if callback is not None and callback(stats) is False:
                break
        return self

    # -------------------------------------------------------------- save/load
    def state_dict(self) -> dict:
        """Everything the agent's next step depends on (the core saves the rest)."""
        return {
            "config": asdict(self.config),
            "weights": self.weights.detach().cpu(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "reward_mean": self.reward_mean.cpu(),
            "reward_var": self.reward_var.cpu(),
            "num_timesteps": self.num_timesteps,
        }

    def load_state_dict(self, state: dict) -> None:
        with torch.no_grad():
            self.weights.copy_(state["weights"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.reward_mean.copy_(state["reward_mean"])
        self.reward_var.copy_(state["reward_var"])
        self.num_timesteps = state["num_timesteps"]

    def save(self, path: str | os.PathLike) -> None:
        """Write the policy atomically (temp file, then rename)."""
        atomic_save(self.state_dict(), path)

    @classmethod
    def load(cls, path: str | os.PathLike, env: Any, seed: int = 0) -> DecoreAgent:
        """An agent on ``env`` with the policy, optimiser and sampler state saved at ``path``."""
        state = read_tensors(path)
        agent = cls(env, ReinforceConfig(**state["config"]), seed=seed)
        agent.load_state_dict(state)
        return agent
