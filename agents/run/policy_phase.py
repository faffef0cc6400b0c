"""The policy phase of a run: an agent learns the keep policy on the task's env, epoch by epoch.

The env is built from the run's TaskSpec through ``gym.make_vec`` (the same door as every
other agent's), with the run's baseline as its checkpoint; budget mode is the env's budget
wrapper. Any agent with the Stable-Baselines3 surface fits; the final architecture is its
``predict(deterministic=True)``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

import agents.make
import decore_env  # noqa: F401  (registers the env ids)
from agents.bench.curves import CurveRecorder
from agents.names import (
    LAYERWISE_AGENTS,
    NATIVE_AGENTS,
    REFERENCES,
    RELAXED,
    SB3_AGENTS,
    SEARCHING,
    SHARED_AGENTS,
)
from agents.native.reinforce import DecoreAgent, StepStats
from agents.references.reference import Reference
from agents.run.config import CompressConfig, native_agent_settings, sb3_settings
from agents.run.tracking import Tracker
from decore_env.data.splits import DataSplits
from decore_env.envs.budget import LambdaController
from decore_env.envs.relaxation import relax
from decore_env.task.spec import TaskSpec

if TYPE_CHECKING:
    from agents.sb3.adapter import SB3Agent
    from agents.sb3.td3_layerwise import LayerwiseAgent


def policy_env(
    config: CompressConfig, checkpoint: str | Path, splits: DataSplits | None = None
) -> Any:
    """The run's task as the env its agent drives: the native vector env (one mask per
    ``samples_per_mask`` images, ``masks_per_step`` masks per step), in the budget wrapper when
    the run has a target: tensors on the device and no observations for the native agent and
    the references; numpy observations for an SB3 algorithm, SAC and TD3 in the
    keep-probability wrapper (:mod:`decore_env.envs.relaxation`). td3_layerwise gets the layer-wise
    env (its own bound holds the target, no wrapper).

    :param splits: the run's data when already loaded (it is the data ``config`` names).
    """
    data = {} if splits is None else {"dataset": splits}
    if config.agent in LAYERWISE_AGENTS:  # one keep ratio per group, the env holds the target
        spec = config.task_spec(checkpoint=str(checkpoint), **data)
        return gym.make("DecoreCompressLayerwise-v0", spec=spec)
    sb3 = config.agent in SB3_AGENTS
    observe = sb3 or config.agent in SHARED_AGENTS
    spec: TaskSpec = config.task_spec(checkpoint=str(checkpoint), observe=observe, **data)
    env = gym.make_vec(
        "DecoreCompress-v0",
        num_envs=spec.masks_per_step,
        vectorization_mode="vector_entry_point",
        spec=spec,
        tensors=not sb3,
    )
    return relax(env, config.seed) if config.agent in RELAXED else env


def run_agent(
    config: CompressConfig, env: Any
) -> DecoreAgent | Reference | SB3Agent | LayerwiseAgent:
    """The agent ``config.agent`` names, on ``env``, with the run's settings."""
    settings: dict[str, Any] = {}
    if config.agent in REFERENCES:
        resource, target = config.budget
        settings = {"target": target, "resource": resource}
    elif config.agent in NATIVE_AGENTS:
        settings = native_agent_settings(config)
    else:  # an SB3 algorithm or td3_layerwise
        settings = sb3_settings(config)
    if config.policy_file is not None:
        settings["policy_file"] = config.policy_file
    return agents.make.make_agent(config.agent, env, config.seed, **settings)


class PolicyPhase:
    """Learns the keep policy epoch by epoch; its state is saved after each epoch."""

    def __init__(
        self, config: CompressConfig, checkpoint: str | Path, splits: DataSplits | None = None
    ) -> None:
        self.config = config
        self.task_env = policy_env(config, checkpoint, splits)
        self.recorder = None
        self.env = self.task_env
        if isinstance(self.task_env, gym.vector.VectorEnv):
            self.env = self.recorder = CurveRecorder(self.task_env, config.log_every)
        self.base = self.env.unwrapped
        self.env.reset(seed=config.seed)
        self.agent = run_agent(config, self.env)
        self.steps_per_epoch = self.base.steps_per_epoch
        self.updates = 0
        self.epoch = 0
        self.history: dict[str, list] = {"step": [], "group_keep": [], "lam": []}

    @property
    def budget_controller(self) -> LambdaController | None:
        """The budget wrapper's controller, or None without a budget."""
        return getattr(self.task_env, "controller", None)

    @property
    def native(self) -> bool:
        """The native agent (learns epoch by epoch); otherwise a reference or an SB3
        algorithm (one ``learn`` call for the whole phase)."""
        return isinstance(self.agent, DecoreAgent)

    def state_dict(self) -> dict:
        """The env (network, data, clocks), lambda and its budget rule, and the agent: the
        native agent's whole state, or the one mask a reference or an SB3 agent settled on."""
        controller = self.budget_controller
        state = {
            "epoch": self.epoch,
            "env": self.base.state_dict(),
            "budget": None if controller is None else controller.state_dict(),
            "curve": None if self.recorder is None else self.recorder.state_dict(),
        }
        if self.native:
            agent = {"updates": self.updates, "agent": self.agent.state_dict()}
            return state | agent | {"history": self.history}
        return state | {"mask": self.agent.mask, "pairs": self.agent.num_timesteps}

    def load_state_dict(self, state: dict) -> None:
        """Continue from :meth:`state_dict` (a reference or SB3 agent whose one ``learn``
        call did not finish reruns it from the seed)."""
        self.epoch = state["epoch"]
        self.base.load_state_dict(state["env"])
        if self.budget_controller is not None:
            self.budget_controller.load_state_dict(state["budget"])
        if self.recorder is not None:
            self.recorder.load_state_dict(state["curve"])
        if self.native:
            self.updates, self.history = state["updates"], state["history"]
            self.agent.load_state_dict(state["agent"])
        elif state["mask"] is not None:
            self.agent.mask, self.agent.num_timesteps = state["mask"], state["pairs"]
            self.base.report_architecture(self.agent.reported_architecture())

    def architecture(self) -> Tensor:
        """The architecture the agent settles on: ``predict(deterministic=True)``."""
        mask, _ = self.agent.predict(None, deterministic=True)
        return torch.as_tensor(mask).bool()

    def group_keep(self) -> np.ndarray:
        """Mean keep probability of each group."""
        gates = self.base.gates
        return gates.group_means(self.agent.keep_probabilities()).cpu().numpy()

    def on_step(self, stats: StepStats, tracker: Tracker, bar: tqdm) -> None:
        self.updates += 1
        bar.update()
        if self.updates % self.config.log_every:
            return
        gates = self.base.gates
        full = gates.full_cost
        params, macs = gates.cost(self.agent.final_mask())
        lam = float(stats.lam)
        metrics = {
            "policy/reward": stats.reward.item(),
            "env/accuracy": stats.accuracy.item(),
            "env/loss": stats.loss.item(),
            "policy/keep_frac": stats.keep_frac.item(),
            "policy/lam": lam,
            "global_step": stats.step,
            "prune/params_frac": params.item() / full["params"],
            "prune/macs_frac": macs.item() / full["macs"],
        }
        for resource, kept in stats.sampled_kept.items():
            metrics[f"policy/sampled_{resource}_frac"] = kept.item()
        group_keep = self.group_keep()
        for group, value in zip(gates.groups, group_keep, strict=True):
            metrics[f"policy/keep/{group.name}"] = float(value)
        tracker.log(metrics, stats.step)
        tracker.log_histogram("policy/keep_prob", stats.keep_prob.cpu(), stats.step)
        self.history["step"].append(stats.step)
        self.history["group_keep"].append(group_keep.tolist())
        self.history["lam"].append(lam)
        bar.set_postfix(
            acc=f"{metrics['env/accuracy']:.3f}",
            params=f"{metrics['prune/params_frac']:.3f}",
            lam=f"{lam:.3g}",
            refresh=False,
        )

    def run(self, save: Callable[[], None], tracker: Tracker, progress: bool) -> None:
        """Learn the remaining epochs, calling ``save`` after each (a reference: one search
        with the whole phase's pair budget, then ``save``)."""
        total = self.config.search_epochs * self.steps_per_epoch
        pairs = self.steps_per_epoch * self.agent.pairs_per_step
        if not self.native:
            if self.epoch < self.config.search_epochs:
                spends = self.config.agent not in REFERENCES or self.config.agent in SEARCHING
                budget = total * self.agent.pairs_per_step if spends else 0
                self.agent.learn(budget)
                self.epoch = self.config.search_epochs
                tracker.log({"global_step": self.agent.num_timesteps}, self.agent.num_timesteps)
                save()
            return
        with tqdm(
            total=total, initial=self.updates, desc="policy", unit="step", disable=not progress
        ) as bar:
            while self.epoch < self.config.search_epochs:
                self.agent.learn(pairs, lambda s: self.on_step(s, tracker, bar))
                self.epoch += 1
                save()
