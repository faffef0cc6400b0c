"""PPO's policy for thousands of keep bits: a Bernoulli whose log-prob does not grow with them.

SB3's ``BernoulliDistribution`` (``MultiBinary`` actions) sums the log-probs of all n bits, so
PPO's log-ratio log(pi_new / pi_old) is a sum of n per-agent log-ratios. For small policy
changes each per-agent log-ratio has mean ~0 and variance ~2 KL_j, so the summed log-ratio has
variance ~2 n KL: PPO's approx-KL and the spread of its ratio grow with the number of agents
(VGG16-BN: 4,736), and clipping and a ``target_kl`` early stop fire at once.

:class:`ScaledBernoulliDistribution` divides the log-prob (and the entropy) by sqrt(n). The
log-ratio then has variance ~2 x (mean per-agent KL), so approx-KL measures the mean change of
one agent, whatever n, and the ratio spreads as one agent's would (the clip range keeps its
usual meaning). Measured with ``benchmarks/ppo_approx_kl.py`` (a synthetic ``MultiBinary(n)``
task, reward = share of ones; one update of 64 steps, minibatch 32, seeds 0 to 2), approx-KL
at n = 4,736 over approx-KL at n = 10, one epoch:

- sum (SB3): 585x;
- mean (divide by n): 0.12x, and worse, the policy hardly learns at n = 4,736: its per-logit
  gradients shrink by 1/n, under Adam's eps (1e-5 in SB3) and under the value loss in the
  shared gradient-norm clip (true mean per-agent KL of the update: 2e-9 against 2e-6 at
  n = 10);
- sqrt(n) (this class): 0.52x, and the update moves each agent about as much as at n = 10
  (true mean per-agent KL 0.45x n = 10's).

With PPO's 10 epochs the same samples are re-fitted and the per-agent changes add up
coherently, so approx-KL still grows with n (52x; sum: 2e7x, where clipping then blocks most
samples and each agent moves 0.12x as much as at n = 10; sqrt: 0.52x). Left as it is.
"""

from __future__ import annotations

import torch
from stable_baselines3.common.distributions import BernoulliDistribution
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.type_aliases import Schedule


class ScaledBernoulliDistribution(BernoulliDistribution):
    """Independent Bernoulli bits; log-prob and entropy are their sums divided by n ** EXPONENT."""

    exponent = 0.5
    """The n-scaling: 0.5 here (see the module docstring); 0 is SB3's sum, 1 the mean."""

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        return super().log_prob(actions) / self.action_dims**self.exponent

    def entropy(self) -> torch.Tensor:
        return super().entropy() / self.action_dims**self.exponent


class ScaledBernoulliPolicy(ActorCriticPolicy):
    """SB3's MlpPolicy with :class:`ScaledBernoulliDistribution` for ``MultiBinary`` actions
    (any other action space: MlpPolicy unchanged)."""

    distribution = ScaledBernoulliDistribution

    def _build(self, lr_schedule: Schedule) -> None:
        if isinstance(self.action_dist, BernoulliDistribution):
            self.action_dist = self.distribution(self.action_dist.action_dims)
        super()._build(lr_schedule)
