"""Agents that drive the DECORE environments: native REINFORCE, SB3 adapters, non-RL baselines."""
