"""DECORE compression as a Gymnasium environment: channel groups, masks, real channel removal.

Importing the package registers ``DecoreCompress-v0`` and ``DecoreCompressLeNet-v0``; the env
modules (and torch) load only when an env is made, so ``import decore_env`` stays fast.
"""

import gymnasium as gym

__version__ = "0.1.0"

gym.register(
    id="DecoreCompress-v0",
    entry_point="decore_env.env:DecoreCompressEnv",
    vector_entry_point="decore_env.vector:DecoreCompressVectorEnv",
)
gym.register(
    id="DecoreCompressLeNet-v0",
    entry_point="decore_env.lenet_env:lenet_env",
    vector_entry_point="decore_env.lenet_env:lenet_vector_env",
)
