"""Keep probabilities in, keep masks out: the DECORE env for agents with continuous actions.

SAC and TD3 act in a box. :func:`relax` wraps the single or the vector env so that its action
is a keep probability per channel, ``Box(0, 1, (n_agents,))``, and the env scores a mask drawn
from it: channel j is kept with probability p_j (a Bernoulli sample, as DECORE's own agents
draw their masks). Why a sample and not the threshold p > 0.5:

- the expected reward of a Bernoulli mask is a smooth (multilinear) function of p, so a critic
  Q(s, p) has a gradient for the actor to follow; with a threshold the reward is a step
  function of p, flat almost everywhere;
- the samples explore the masks around p, which a deterministic actor (TD3) cannot do alone.

The architecture an agent settles on is the threshold of its deterministic action, p > 0.5,
the same rule as DECORE's (a channel stays when its keep probability ends above 0.5).
The draws come from a generator seeded with ``derive_seed(seed, "actions")``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector.utils import batch_space

from decore_env.common.seeds import derive_seed


def sample_masks(probabilities: Any, rng: np.random.Generator) -> np.ndarray:
    """Bool masks of the shape of ``probabilities``: each entry True with its probability."""
    p = np.asarray(probabilities, dtype=np.float64)
    if not np.all((p >= 0) & (p <= 1)):  # NaN fails both comparisons
        raise ValueError("keep probabilities must lie in [0, 1] (no NaN)")
    return rng.random(p.shape) < p


def keep_probability_space(mask_space: spaces.Space) -> spaces.Box:
    """``Box(0, 1, (n_agents,))`` for the env's ``MultiBinary(n_agents)`` mask space."""
    if not isinstance(mask_space, spaces.MultiBinary):
        raise ValueError(f"expected the DECORE env's MultiBinary mask space; got {mask_space}")
    return spaces.Box(0.0, 1.0, mask_space.shape, np.float32)


class KeepProbabilityWrapper(gym.ActionWrapper):
    """The single env with keep probabilities as its action (see the module docstring).

    :param seed: the run's seed; the mask sampler's seed is derived from it.
    """

    def __init__(self, env: gym.Env, seed: int = 0) -> None:
        super().__init__(env)
        self.action_space = keep_probability_space(env.action_space)
        self.rng = np.random.default_rng(derive_seed(seed, "actions"))

    def action(self, action: Any) -> np.ndarray:
        return sample_masks(action, self.rng)


class VectorKeepProbabilityWrapper(gym.vector.VectorActionWrapper):
    """The vector env with keep probabilities as its actions, one row per sub-env.

    :param seed: the run's seed; the mask sampler's seed is derived from it.
    """

    def __init__(self, env: gym.vector.VectorEnv, seed: int = 0) -> None:
        super().__init__(env)
        self.single_action_space = keep_probability_space(env.single_action_space)
        self.action_space = batch_space(self.single_action_space, env.num_envs)
        self.rng = np.random.default_rng(derive_seed(seed, "actions"))

    def actions(self, actions: Any) -> np.ndarray:
        return sample_masks(actions, self.rng)


def relax(env: gym.Env | gym.vector.VectorEnv, seed: int = 0) -> Any:
    """``env`` (single or vector) in the keep-probability wrapper that fits it."""
    if isinstance(env, gym.vector.VectorEnv):
        return VectorKeepProbabilityWrapper(env, seed)
    return KeepProbabilityWrapper(env, seed)
