"""PPO with the shared per-channel policy: an SB3 actor-critic whose actor is one small network
applied to every channel's own inputs and whose critic pools over channels.

SB3 ties a model to one observation space, so a PPO model trains on one task; its actor is a
:class:`~agents.native.shared_net.SharedKeepNet`, saved in the same file format as the native
shared agent's, so either trainer's network can start a zero- or few-shot run of the other on
any network. The critic (a per-channel MLP, averaged over channels, then linear) is not
transferred: a new task gets a new one.

Keep bits are :class:`~agents.sb3.policy.ScaledBernoulliDistribution` (log-prob / sqrt(n)), as
PPO's MlpPolicy here.
"""

from __future__ import annotations

from typing import Any

from gymnasium import spaces
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.type_aliases import Schedule
from torch import Tensor, nn

from agents.native.shared_net import (
    HIDDEN,
    INPUTS,
    SharedKeepNet,
    agent_features,
    check_observation,
)
from agents.sb3.policy import ScaledBernoulliDistribution


class SharedExtractor(nn.Module):
    """Flat observations -> (actor logits (B, A), critic latent (B, H))."""

    def __init__(self, layout: Any, actor: SharedKeepNet, critic_hidden: int = HIDDEN[-1]) -> None:
        super().__init__()
        check_observation(layout)
        self.layout, self.actor = layout, actor
        self.critic = nn.Sequential(nn.Linear(len(INPUTS), critic_hidden), nn.Tanh())
        self.latent_dim_pi = layout.n_agents
        self.latent_dim_vf = critic_hidden

    def forward(self, observations: Tensor) -> tuple[Tensor, Tensor]:
        features = agent_features(self.layout, observations)
        return self.actor(features), self.critic(features).mean(-2)

    def forward_actor(self, observations: Tensor) -> Tensor:
        return self.actor(agent_features(self.layout, observations))

    def forward_critic(self, observations: Tensor) -> Tensor:
        return self.critic(agent_features(self.layout, observations)).mean(-2)


class SharedActorCriticPolicy(ActorCriticPolicy):
    """SB3's actor-critic with :class:`SharedExtractor` (pass ``policy_kwargs``: ``layout``,
    the env's ``env.unwrapped.layout``, and optionally ``actor``, a network to start from, or
    ``init_logit`` for a new one)."""

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        layout: Any = None,
        actor: SharedKeepNet | None = None,
        init_logit: float = 3.0,
        **kwargs: Any,
    ) -> None:
        if layout is None:
            raise ValueError(
                "policy_kwargs needs layout=env.unwrapped.layout (where each input sits)"
            )
        if not isinstance(action_space, spaces.MultiBinary):
            raise ValueError(f"the shared policy plays keep bits (MultiBinary); got {action_space}")
        self.layout = layout
        self._actor_start = (actor, init_logit)  # a module can be set only after Module init
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    def _build(self, lr_schedule: Schedule) -> None:
        actor, init_logit = self._actor_start
        self.shared_actor = actor if actor is not None else SharedKeepNet(init_logit)
        self.action_dist = ScaledBernoulliDistribution(self.layout.n_agents)
        self.mlp_extractor = SharedExtractor(self.layout, self.shared_actor)
        self.action_net = nn.Identity()  # the actor's output already is one logit per channel
        self.value_net = nn.Linear(self.mlp_extractor.latent_dim_vf, 1)
        self.optimizer = self.optimizer_class(
            self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
        )

    def extract_features(self, obs: Tensor, features_extractor: Any = None) -> Tensor:
        """The flat observation itself (the extractor unpacks it by the layout)."""
        return obs.float()

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return super()._get_constructor_parameters() | {"layout": self.layout}
