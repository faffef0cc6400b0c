"""DECORE compression as a Gymnasium environment: channel groups, masks, real channel removal.

Importing the package registers ``DecoreCompress-v0`` (the default task: LeNet-5 on the
embedded MNIST subset), its alias ``DecoreCompressLeNet-v0``, the layer-wise
``DecoreCompressLayerwise-v0`` and the paper's task ids
(:data:`decore_env.envs.registry.TASKS`); the env modules (and torch) load only when an env is
made, so ``import decore_env`` stays fast.

The names users reach for most are importable from here (``from decore_env import TaskSpec,
ChannelGates, prune``); each loads its module on first use. The layers, bottom up:
``common`` (files, checks, seeds), ``data``, ``models``, ``channels`` (grouping, masks, cost,
surgery), ``training``, ``task`` (spec, weights, the scoring core) and ``envs`` (the Gymnasium
surface).

Importing it also makes ``os.fork`` children run PyTorch on one thread
(:mod:`decore_env.common.forking`), so Gymnasium's ``AsyncVectorEnv`` works with fork.
"""

import importlib
from typing import Any

import gymnasium as gym

from decore_env.common.forking import install_fork_hook
from decore_env.envs.registry import TASKS

__version__ = "0.1.0"

PUBLIC = {
    "TaskSpec": "decore_env.task.spec",
    "create": "decore_env.models",
    "channel_groups": "decore_env.channels.tracing",
    "ChannelGates": "decore_env.channels.gates",
    "prune": "decore_env.channels.surgery",
    "load_pruned": "decore_env.channels.surgery",
    "save_pruned": "decore_env.channels.surgery",
    "count": "decore_env.training.metrics",
    "relax": "decore_env.envs.relaxation",
}
"""Public name -> the module that defines it."""
__all__ = ["TASKS", "__version__", *PUBLIC]


def __getattr__(name: str) -> Any:
    if name in PUBLIC:
        return getattr(importlib.import_module(PUBLIC[name]), name)
    raise AttributeError(f"module 'decore_env' has no attribute {name!r}")


install_fork_hook()
for _task_id, _task in TASKS.items():
    gym.register(
        id=_task_id,
        entry_point=_task.entry_point,
        vector_entry_point=_task.vector_entry_point,
        kwargs={"task_defaults": dict(_task.kwargs)} if _task.kwargs else {},
        # Gymnasium's passive checker marks its first reset as checked before it runs, so a
        # first reset the env refuses (a bad seed) would leave every later step failing in
        # the checker; the full checker (gymnasium.utils.env_checker.check_env) runs in the
        # tests instead. gym.make(..., disable_env_checker=False) turns it back on.
        disable_env_checker=True,
    )
