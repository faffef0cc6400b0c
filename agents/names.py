"""The names of every agent, by family (imports no torch: the CLI's choices come from here)."""

REFERENCES = ("uniform", "l1_layer", "l1_global", "random", "random_search", "greedy")
"""Non-RL references (:mod:`agents.references.reference`): keep masks at a budget target."""
SEARCHING = ("random_search", "greedy")
"""References that score masks on the env (the others use no pairs)."""
SB3_AGENTS = ("a2c", "ppo", "sac", "td3", "ppo-shared")
"""Stable-Baselines3 algorithms (:class:`agents.sb3.adapter.SB3Agent`), on the vector env
(``ppo-shared``: PPO with the shared per-channel policy, :mod:`agents.sb3.shared_policy`)."""
ON_POLICY = ("a2c", "ppo", "ppo-shared")
"""SB3 algorithms that learn in whole rollouts of ``n_steps`` vector steps."""
RELAXED = ("sac", "td3")
"""SB3 algorithms that act in ``Box(0, 1)``: keep probabilities, through
:func:`decore_env.envs.relaxation.relax`."""
LAYERWISE_AGENTS = ("td3_layerwise",)
"""RL agents on the layer-wise env (:mod:`agents.sb3.td3_layerwise`): one keep ratio per
group, the target enforced by the env."""
NATIVE_AGENTS = ("reinforce", "reinforce-plus", "shared-reinforce")
"""The native agent in paper mode, with the reinforce-plus preset as defaults, and with one
policy network shared by all channels (:mod:`agents.native.shared`)."""
SHARED_AGENTS = ("shared-reinforce", "ppo-shared")
"""Agents whose policy is one network over every channel's own inputs: it reads the
observation, and a trained one (``policy_file``) starts a run on any network."""
AGENTS = (*NATIVE_AGENTS, *REFERENCES, *SB3_AGENTS, *LAYERWISE_AGENTS)
"""Every agent :func:`agents.make.make_agent` and ``decore compress --agent`` know."""
BUDGETED = (*REFERENCES, *LAYERWISE_AGENTS)
"""Agents that need a target (--target-params or --target-macs) and a frozen network."""
