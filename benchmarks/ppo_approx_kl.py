"""PPO's approx-KL on n keep bits for three log-prob scalings: does it grow with n?

One PPO update (``--n-steps`` 64 steps, minibatch 32, ``--epochs``) on :class:`ShareOfOnes`, a
synthetic task with ``MultiBinary(n)`` actions (reward: the share of ones), at n = 10 and
n = 4,736 (VGG16-BN's agents), with the Bernoulli log-prob scaled three ways:

- sum: SB3's ``BernoulliDistribution``, the sum over the n bits;
- mean: the sum / n;
- sqrt: the sum / sqrt(n), :class:`agents.sb3.policy.ScaledBernoulliPolicy`.

Per row: the approx-KL PPO logs and the true mean per-agent KL between the policy before and
after the update (averaged over random observations), each averaged over ``--seeds``, and
their ratios n = 4,736 over n = 10. Appends the rows to ``--csv``.

    python benchmarks/ppo_approx_kl.py
"""

from __future__ import annotations

import argparse
import copy
import csv
import statistics
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3 import PPO

from agents.run.summary import command_line, hardware_info, versions
from agents.sb3.policy import ScaledBernoulliDistribution, ScaledBernoulliPolicy

RESULTS = Path(__file__).resolve().parent / "results"
EPISODE = 16
"""Steps per episode of the synthetic task."""
PROBE = 256
"""Random observations the true per-agent KL is averaged over."""


class ShareOfOnes(gym.Env):
    """n keep bits; the reward is the share of ones; random observations of 4 values."""

    def __init__(self, n: int) -> None:
        self.action_space = spaces.MultiBinary(n)
        self.observation_space = spaces.Box(0.0, 1.0, (4,), np.float32)
        self.t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.t = 0
        return self.np_random.random(4, dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        obs = self.np_random.random(4, dtype=np.float32)
        return obs, float(np.mean(action)), False, self.t >= EPISODE, {}


class MeanBernoulli(ScaledBernoulliDistribution):
    """Log-prob and entropy: the mean over the bits."""

    exponent = 1.0


class MeanBernoulliPolicy(ScaledBernoulliPolicy):
    """MlpPolicy with :class:`MeanBernoulli`."""

    distribution = MeanBernoulli


POLICIES: dict[str, Any] = {
    "sum": "MlpPolicy",
    "mean": MeanBernoulliPolicy,
    "sqrt": ScaledBernoulliPolicy,
}


def update(policy: Any, n: int, epochs: int, seed: int, n_steps: int = 64) -> tuple[float, float]:
    """(PPO's logged approx-KL, true mean per-agent KL) of one PPO update on n bits."""
    env = ShareOfOnes(n)
    model = PPO(
        policy, env, n_steps=n_steps, batch_size=32, n_epochs=epochs, seed=seed, device="cpu"
    )
    probe = torch.rand(PROBE, 4, generator=torch.Generator().manual_seed(seed))
    old = copy.deepcopy(model.policy)
    model.learn(n_steps)
    with torch.no_grad():
        p = old.get_distribution(probe).distribution.probs
        q = model.policy.get_distribution(probe).distribution.probs
    kl = p * (p / q).log() + (1 - p) * ((1 - p) / (1 - q)).log()
    return float(model.logger.name_to_value["train/approx_kl"]), float(kl.mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, nargs=2, default=[10, 4736])
    parser.add_argument("--epochs", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--csv", type=Path, default=RESULTS / "ppo_approx_kl.csv")
    args = parser.parse_args()
    torch.set_num_threads(1)
    hardware, version = hardware_info(), versions()
    rows = []
    for epochs in args.epochs:
        for name, policy in POLICIES.items():
            few, many = (
                [update(policy, n, epochs, seed) for seed in args.seeds] for n in args.agents
            )
            approx = [statistics.mean(r[0] for r in runs) for runs in (few, many)]
            true = [statistics.mean(r[1] for r in runs) for runs in (few, many)]
            rows.append(
                {
                    "scaling": name,
                    "epochs": epochs,
                    "agents": " ".join(map(str, args.agents)),
                    "approx_kl": " ".join(f"{v:.3g}" for v in approx),
                    "approx_kl_ratio": f"{approx[1] / approx[0]:.3g}",
                    "true_kl": " ".join(f"{v:.3g}" for v in true),
                    "true_kl_ratio": f"{true[1] / true[0]:.3g}",
                    "seeds": " ".join(map(str, args.seeds)),
                    "hardware": hardware.get("cpu"),
                    "stable_baselines3": version["stable_baselines3"],
                    "torch": version["torch"],
                    "commit": version.get("git_commit"),
                    "command": command_line(sys.argv),
                }
            )
            row = rows[-1]
            print(
                f"{name:4s} epochs {epochs:2d}: approx-KL {row['approx_kl']} "
                f"(ratio {row['approx_kl_ratio']}), true per-agent KL {row['true_kl']} "
                f"(ratio {row['true_kl_ratio']})"
            )
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    new = not args.csv.exists()
    with args.csv.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        if new:
            writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
