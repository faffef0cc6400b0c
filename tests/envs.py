"""Pieces shared by the agent tests: the envs they drive, a pair counter, benchmark scripts."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import gymnasium as gym

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
EPOCH_STEPS = 10_000 // 256
"""Steps of one epoch over the embedded training split (10,000 images once val is held out)
at the paper's batch of 256."""


def agent_env(num_envs: int, seed: int = 0, tensors: bool = True, **fields) -> gym.vector.VectorEnv:
    """The default task as the native vector env agents drive (tensors on the device, no
    observations unless ``observe=True``), reset with ``seed``; ``fields`` are TaskSpec
    fields."""
    env = gym.make_vec(
        "DecoreCompress-v0",
        num_envs=num_envs,
        vectorization_mode="vector_entry_point",
        tensors=tensors,
        **{"observe": False, **fields},
    )
    env.reset(seed=seed)
    return env


class PairCounter(gym.vector.VectorWrapper):
    """Counts the (mask, image) pairs the env scored, from outside the agent."""

    pairs = 0

    def step(self, actions):
        out = self.env.step(actions)
        if "accuracy" in out[-1]:  # an autoreset step scores nothing
            self.pairs += len(out[-1]["accuracy"]) * self.env.unwrapped.samples_per_mask
        return out


def load_benchmark(name: str) -> ModuleType:
    """The script ``benchmarks/<name>.py`` as a module (its ``main`` not run)."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module
