"""td3_layerwise: Stable-Baselines3's TD3 on the layer-wise env, AMC's agent on our task.

AMC (He et al., ECCV 2018) trains DDPG to pick one keep ratio per layer; TD3 is DDPG with
twin critics and delayed actor updates. Work is counted in scored (mask, image) pairs as for
every agent: an episode (one step per channel group) scores one mask on ``batch_size``
images, so a budget of P pairs is P / batch_size episodes. The last of them is the
deterministic episode whose mask ``predict`` returns, so ``num_timesteps`` equals the budget.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from stable_baselines3 import TD3
from stable_baselines3.common.noise import NormalActionNoise

from agents.mask_agent import MaskAgent
from agents.sb3.adapter import quiet_logger
from decore_env.channels.importance import rank_share_in_group
from decore_env.common.seeds import derive_seed

TINY_BUDGET_SETTINGS: dict[str, Any] = {
    # SB3's 100 random steps are 25 LeNet-5 episodes, about two thirds of a one-epoch budget
    # (39 episodes at batch 256); 40 steps are 10 LeNet-5 episodes, about 3 of VGG16's (14
    # groups).
    "learning_starts": 40,
    # SB3's 1e6 transitions are never filled by budgets of a few thousand steps.
    "buffer_size": 10_000,
}
"""The TD3 settings changed from SB3's defaults for budgets of tens to hundreds of episodes,
each with its reason; everything else is the library's default (MlpPolicy, on the CPU: SB3
advises the CPU for MLP policies)."""
NOISE_SIGMA = 0.2
"""Std of the Gaussian exploration noise, in TD3's [-1, 1] action scale: 0.1 in keep ratio.
SB3's TD3 adds no noise by default, so after ``learning_starts`` it would only ever play the
actor's deterministic ratios. Our choice: twice the 0.1 of SB3's TD3 example, so that the
noise moves the width of a small group (LeNet-5's first conv: 6 channels) by about one
channel; AMC starts at 0.5 in keep ratio and decays it, which needs hundreds of episodes."""


class LayerwiseAgent(MaskAgent):
    """TD3 on ``DecoreCompressLayerwise-v0`` with the agent surface of the pipeline.

    :param env: the layer-wise env (``gym.make("DecoreCompressLayerwise-v0", ...)``).
    :param seed: the run's seed; TD3's comes from its "actions" stream.
    :param settings: TD3 constructor arguments over ``TINY_BUDGET_SETTINGS``.
    """

    name = "td3_layerwise"

    def __init__(self, env: Any, seed: int = 0, **settings: Any) -> None:
        self.env = env
        self.base = env.unwrapped
        self.pairs_per_step = self.base.pairs_per_episode
        """(mask, image) pairs one episode scores: the pipeline's budget unit."""
        noise = NormalActionNoise(np.zeros(1), np.full(1, NOISE_SIGMA))
        self.model = TD3(
            "MlpPolicy",
            env,
            action_noise=noise,
            seed=derive_seed(seed, "actions") % 2**32,
            device="cpu",
            **(TINY_BUDGET_SETTINGS | settings),
        )
        self.model.set_logger(quiet_logger())
        self.num_timesteps = 0
        """Scored (mask, image) pairs so far, the deterministic episodes included."""
        self.mask: torch.Tensor | None = None

    def keep_scores(self) -> torch.Tensor:
        """(n_agents,) its mask, ties within kept and within dropped channels ordered as the
        layer-wise env orders channels (by L1 norm in their group): a projection keeps the
        kept channels first and, among them, the larger norms."""
        mask = super().keep_scores()
        share = rank_share_in_group(self.base.gates.sizes, self.base.channel_importance())
        return mask + 0.5 * (1 - share).float()

    def learn(self, total_timesteps: int) -> LayerwiseAgent:
        """Spend ``total_timesteps`` pairs: all but one episode's worth learning, the last on
        the deterministic episode that gives the mask."""
        per_episode = self.pairs_per_step
        if (
            isinstance(total_timesteps, bool)
            or total_timesteps < per_episode
            or total_timesteps % per_episode
        ):
            raise ValueError(
                f"total_timesteps must be a positive multiple of the {per_episode} pairs one "
                f"episode scores; got {total_timesteps!r}"
            )
        start = self.base.pairs
        episodes = total_timesteps // per_episode - 1
        if episodes:
            self.model.learn(episodes * self.base.n_groups, reset_num_timesteps=False)
        self.mask = self._deterministic_mask()
        self.num_timesteps += self.base.pairs - start
        return self

    def _deterministic_mask(self) -> torch.Tensor:
        """The mask of one episode of the actor's deterministic ratios (scored, as any).

        Runs through TD3's own vectorised env, which resets itself at the episode's end, so a
        later ``learn`` starts from a fresh episode as SB3 expects."""
        vec = self.model.get_env()
        obs = vec.reset()
        for _ in range(self.base.n_groups):
            action, _ = self.model.predict(obs, deterministic=True)
            obs, _, _, infos = vec.step(action)
        return torch.as_tensor(infos[0]["mask"]).bool()

    def saved_parts(self) -> dict[str, Any]:
        """The actor-critic's weights."""
        return {"policy": self.model.policy.state_dict()}
