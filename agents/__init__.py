"""Agents that drive the DECORE environments, and what is built on them.

``native`` (the paper's vectorized REINFORCE), ``references`` (non-RL pruning at a target),
``sb3`` (Stable-Baselines3 algorithms and layer-wise TD3) and ``make`` (every agent by name)
see only the env's published surface. ``run`` is the compress application (pipeline, CLI, run
folders) and ``bench`` the benchmark library (sweep, result tables, statistics); both sit on
top of the agents. The names users reach for most are importable from here; each loads its
module (and torch) on first use, so ``decore --help`` stays fast.
"""

import importlib
from typing import Any

PUBLIC = {
    "make_agent": "agents.make",
    "DecoreAgent": "agents.native.reinforce",
    "ReinforceConfig": "agents.native.reinforce",
    "Reference": "agents.references.reference",
    "compress": "agents.run.pipeline",
    "CompressConfig": "agents.run.config",
}
"""Public name -> the module that defines it."""
__all__ = list(PUBLIC)


def __getattr__(name: str) -> Any:
    if name in PUBLIC:
        return getattr(importlib.import_module(PUBLIC[name]), name)
    raise AttributeError(f"module 'agents' has no attribute {name!r}")
