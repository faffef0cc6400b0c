"""The native DECORE agent: one Bernoulli keep-policy per channel, trained by REINFORCE.

All agents of a network are one weight vector ``w`` on the device; channel j is kept with
probability sigmoid(w_j). Each step samples one mask per sub-env of the native vector env (an
N x n_agents matrix of independent draws; with ``samples_per_mask=1`` one mask per image, as
in the paper), scores them with one ``env.step`` (one forward pass), reads the per-group
rewards from ``info["group_rewards"]`` and takes one Adam step on

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

from agents.native.settings import FINAL_ARCHITECTURES, PAPER_INIT_WEIGHT, PAPER_LR
from agents.references.targets import top_scored
from decore_env.channels.importance import rank_share_in_group
from decore_env.common.files import atomic_save, read_tensors
from decore_env.common.seeds import derive_seed
from decore_env.envs.budget import budget_target, sampled_kept

KEEP_THRESHOLD = 0.5
"""Channels whose final keep probability is at most this are removed (paper)."""


def l1_rank_offsets(env: Any) -> Tensor:
    """(n_agents,) 1/2 - r_j, r_j in [0, 1] the L1-norm rank of agent j in its group (0 for
    the largest norm, 1 for the smallest; 0 in a group of one), on the env ``env.unwrapped``
    publishes."""
    return (0.5 - rank_share_in_group(env.gates.sizes, env.channel_importance())).float()


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
    l1_prior: float = 0.0
    """Spread of the initial weights by L1 weight-norm rank inside each group (not in the
    paper): channel j starts at ``init_weight + l1_prior * (1/2 - r_j)``, r_j in [0, 1] its
    rank (0 = largest norm), so weak channels start closer to being dropped."""
    final_architecture: str = "threshold"
    """"threshold": keep p > 0.5 (paper). "budget" (with a budget target on the env): keep the
    channels of highest keep probability that meet the target within 2% from below."""

    def __post_init__(self) -> None:
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not 0 <= self.baseline_momentum < 1:
            raise ValueError(f"baseline_momentum must be in [0, 1), got {self.baseline_momentum}")
        if self.entropy_coef < 0:
            raise ValueError(f"entropy_coef must be >= 0, got {self.entropy_coef}")
        if self.final_architecture not in FINAL_ARCHITECTURES:
            raise ValueError(
                f"final_architecture must be one of {', '.join(FINAL_ARCHITECTURES)}, "
                f"got {self.final_architecture!r}"
            )


@dataclass(frozen=True)
class StepStats:
    """One policy update, as device tensors (read them only when you log: reading syncs)."""

    step: int  # scored (mask, image) pairs so far, the unit of work of every agent
    reward: Tensor  # mean over samples of the reward summed over groups
    accuracy: Tensor  # fraction of samples the masked network got right
    keep_frac: Tensor  # mean sampled keep fraction over all agents
    sampled_kept: dict[str, Tensor]  # mean kept share of params and MACs of the sampled masks
    keep_prob: Tensor  # (n_agents,) keep probabilities after the update
    loss: Tensor  # network cross-entropy on the masked batch
    lam: Tensor  # the lambda the step was scored with


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


def native_vector_env(env: Any) -> Any:
    """``env`` if it is (a wrapper of) the native DECORE vector env with tensor outputs."""
    from decore_env.envs.vector import DecoreCompressVectorEnv

    base = getattr(env, "unwrapped", None)
    if not isinstance(base, DecoreCompressVectorEnv):
        raise TypeError(
            f"{type(env).__name__} is not a DECORE vector env; pass "
            'gym.make_vec("DecoreCompress-v0", num_envs=N, vectorization_mode='
            '"vector_entry_point", tensors=True) or a wrapper of it'
        )
    if not base.tensors:
        raise ValueError("the native agent needs the vector env's tensor outputs: tensors=True")
    return base


class DecoreAgent:
    """Vectorized REINFORCE over every channel of a network, with the SB3 agent surface.

    :param env: the native vector env (``tensors=True``; ``observe=False`` saves building
        observations the agent never reads), or any wrapper of it: the agent steps ``env``
        itself, so wrappers (budget, logging) act on it as on any agent.
    :param config: agent settings (defaults: the paper).
    :param seed: the run's seed; the action sampler's seed is derived from it.
    """

    def __init__(self, env: Any, config: ReinforceConfig | None = None, seed: int = 0) -> None:
        self.env = env
        self.base = native_vector_env(env)
        self.config = config or ReinforceConfig()
        gates, device = self.base.gates, self.base.device
        self.optimizer = self._init_policy()
        self.generator = torch.Generator(device).manual_seed(derive_seed(seed, "actions"))
        self.group_of_agent = gates.group_of_agent.to(device)
        n_groups = len(gates.groups)
        self.reward_mean = torch.zeros(n_groups, device=device)
        self.reward_var = torch.ones(n_groups, device=device)
        self.num_timesteps = 0
        self.pairs_per_step = self.base.pairs_per_step

    # ------------------------------------------------------------------ policy
    def _init_policy(self) -> torch.optim.Optimizer:
        """One logit per channel, ``init_weight`` (spread by the L1 prior), and its optimiser."""
        initial = torch.full((self.base.gates.n_agents,), self.config.init_weight)
        if self.config.l1_prior:
            initial += self.config.l1_prior * l1_rank_offsets(self.base)
        self.weights = initial.to(self.base.device).requires_grad_()
        return torch.optim.Adam([self.weights], lr=self.config.lr)

    def logits(self) -> Tensor:
        """(n_agents,) keep logits, with their gradient."""
        return self.weights

    def _observe(self, observation: Any) -> None:
        """Take a step's observations (this policy reads none)."""

    def keep_probabilities(self) -> Tensor:
        """(n_agents,) current keep probabilities, detached."""
        return torch.sigmoid(self.logits().detach())

    def keep_scores(self) -> Tensor:
        """(n_agents,) the keep probabilities, on the CPU (what a projection ranks by)."""
        return self.keep_probabilities().cpu()

    def _report_architecture(self) -> None:
        """Tell the env the architecture budget mode steers lambda on (after every update)."""
        self.base.report_architecture(self.final_mask())

    def final_mask(self) -> Tensor:
        """The deterministic architecture while learning: keep channels with p > 0.5 (paper);
        what the agent reports to the env after every update."""
        return self.keep_probabilities() > KEEP_THRESHOLD

    def architecture(self) -> Tensor:
        """The final architecture, ``predict(deterministic=True)``: :meth:`final_mask`, or
        with ``final_architecture="budget"`` the channels of highest :meth:`keep_scores` that
        meet the env's budget target (within 2% from below)."""
        budget = budget_target(self.env)
        if self.config.final_architecture == "threshold" or budget is None:
            return self.final_mask()
        resource, target = budget
        mask = top_scored(self.base.gates, self.keep_scores(), target, resource)
        return mask.to(self.base.device)

    def predict(
        self,
        observation: Any = None,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, None]:
        """(mask, None) like Stable-Baselines3: one mask for one observation, an (N, n_agents)
        batch for a batch of N observations (a vector env's). The observation sets only the
        batch size: the per-channel policy is state-free, the shared one reads the observation
        of its last step. ``deterministic`` gives :meth:`architecture`, otherwise masks are
        sampled."""
        batch = np.shape(observation)[0] if np.ndim(observation) == 2 else None
        p = self.keep_probabilities().expand(batch or 1, -1)
        if deterministic:
            masks = self.architecture().expand(batch or 1, -1)
        else:
            masks = torch.bernoulli(p, generator=self.generator).bool()
        masks = masks.cpu().numpy().astype(np.int8)
        return (masks if batch else masks[0]), None

    # ---------------------------------------------------------------- learning
    def train_step(self) -> StepStats:
        """Sample one mask per sub-env, score them with one env step, update the policy.

        A vector env's autoreset step (after a truncation) scores nothing: it is stepped
        through and the masks are sampled again.
        """
        config = self.config
        logits = self.logits()
        p = torch.sigmoid(logits.detach())
        info: dict = {}
        while "group_rewards" not in info:
            actions = torch.bernoulli(p.expand(self.base.num_envs, -1), generator=self.generator)
            observation, *_, info = self.env.step(actions.bool())
            self._observe(observation)
        advantages = self._advantages(info["group_rewards"])
        loss = reinforce_loss(logits, actions, advantages, self.group_of_agent)
        if config.entropy_coef:
            probs = torch.sigmoid(logits)
            entropy = nn.functional.binary_cross_entropy(probs, probs, reduction="sum")
            loss = loss - config.entropy_coef * entropy
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.num_timesteps += self.pairs_per_step
        self._report_architecture()
        return StepStats(
            step=self.num_timesteps,
            reward=info["group_rewards"].sum(1).mean(),
            accuracy=info["accuracy"].mean(),
            keep_frac=actions.mean(),
            sampled_kept=self._sampled_kept(info),
            keep_prob=self.keep_probabilities(),
            loss=info["loss"][0],
            lam=info["lam"][0],
        )

    def _sampled_kept(self, info: dict) -> dict[str, Tensor]:
        """Mean kept share of params and MACs over the step's sampled masks: what a budget
        steers lambda on when no architecture is reported."""
        gates = self.base.gates
        return {resource: sampled_kept(gates, info, resource) for resource in gates.full_cost}

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

    def learn(self, total_timesteps: int, callback: Callback | None = None) -> DecoreAgent:
        """Score ``total_timesteps`` (mask, image) pairs, one policy update per env step of
        ``pairs_per_step`` pairs; the callback may stop early.

        ``total_timesteps`` must be a multiple of ``pairs_per_step`` (num_envs x
        samples_per_mask), so that exactly that many pairs are scored.
        """
        if isinstance(total_timesteps, bool) or total_timesteps < 0:
            raise ValueError(f"total_timesteps must be >= 0, got {total_timesteps!r}")
        if total_timesteps % self.pairs_per_step:
            raise ValueError(
                f"total_timesteps {total_timesteps} is not a multiple of the {self.pairs_per_step}"
                " (mask, image) pairs one step scores; round it to a multiple"
            )
        for _ in range(total_timesteps // self.pairs_per_step):
            stats = self.train_step()
            if callback is not None and callback(stats) is False:
                break
        return self

    # -------------------------------------------------------------- save/load
    def state_dict(self) -> dict:
        """Everything the agent's next step depends on (the core saves the rest)."""
        return {
            "config": asdict(self.config),
            **self._policy_state(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "reward_mean": self.reward_mean.cpu(),
            "reward_var": self.reward_var.cpu(),
            "num_timesteps": self.num_timesteps,
        }

    def _policy_state(self) -> dict:
        return {"weights": self.weights.detach().cpu()}

    def _load_policy_state(self, state: dict) -> None:
        with torch.no_grad():
            self.weights.copy_(state["weights"])

    def load_state_dict(self, state: dict) -> None:
        self._load_policy_state(state)
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.reward_mean.copy_(state["reward_mean"])
        self.reward_var.copy_(state["reward_var"])
        self.num_timesteps = state["num_timesteps"]
        self._report_architecture()

    def save(self, path: str | os.PathLike) -> None:
        """Write the policy atomically (temp file, then rename)."""
        atomic_save(self.state_dict(), path)

    @classmethod
    def load(cls, path: str | os.PathLike, env: Any, seed: int = 0) -> DecoreAgent:
        """An agent on ``env`` with the policy, optimiser and sampler state saved at ``path``
        (read as tensors only: a file cannot run code)."""
        state = read_tensors(path)
        agent = cls(env, ReinforceConfig(**state["config"]), seed=seed)
        agent.load_state_dict(state)
        return agent
