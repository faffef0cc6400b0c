"""The native agent with one shared policy network instead of one weight per channel.

Every channel's keep logit is :class:`~agents.native.shared_net.SharedKeepNet` applied to that
channel's own inputs (its group's, its own and the task's, read from the observation), so the
same weights act on any network. Learning is the native agent's: N masks a step, one forward
pass, per-group rewards, REINFORCE, the gradient now flowing into the shared network.

:func:`train_tasks` trains one network on several tasks at once: one agent per task env, all
holding the same network and optimiser, stepped in turn so that each task's share of its own
pair budget grows evenly; each task's pairs are counted on its own agent.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor
from tqdm import tqdm

from agents.native.reinforce import DecoreAgent, ReinforceConfig, StepStats
from agents.native.settings import SHARED_LR
from agents.native.shared_net import (
    SharedKeepNet,
    agent_features,
    check_observation,
    expected_width_scores,
)
from decore_env.envs.budget import budget_target


class SharedReinforceAgent(DecoreAgent):
    """Vectorized REINFORCE through a shared per-channel policy network.

    :param env: the native vector env with ``tensors=True`` and observations (``observe``
        left on), or a wrapper of it; the agent resets it once (unseeded: the network and the
        data stream carry on) to read the first observation, as SB3 agents do.
    :param config: the native agent's settings; ``init_weight`` is the initial logit of every
        channel (a new network), ``l1_prior`` does not apply.
    :param net: start from this network (a trained one for zero- or few-shot); several agents
        may hold the same one.
    :param optimizer: the optimiser of ``net`` when agents share it (:func:`train_tasks`).
    """

    def __init__(
        self,
        env: Any,
        config: ReinforceConfig | None = None,
        seed: int = 0,
        net: SharedKeepNet | None = None,
        optimizer: torch.optim.Optimizer | None = None,
    ) -> None:
        config = config or ReinforceConfig(lr=SHARED_LR)
        if config.l1_prior:
            raise ValueError(
                "l1_prior spreads one weight per channel; the shared policy has none: leave it 0"
            )
        self.net, self._given_optimizer = net, optimizer
        super().__init__(env, config, seed)

    def _init_policy(self) -> torch.optim.Optimizer:
        try:
            self.layout = self.base.layout
        except AttributeError:
            raise ValueError(
                "the shared policy reads the observation: build the env with observations "
                "(leave observe=True)"
            ) from None
        check_observation(self.layout)
        if self.net is None:
            self.net = SharedKeepNet(self.config.init_weight)
        self.net.to(self.base.device)
        observation, _ = self.env.reset()
        self._observe(observation)
        if self._given_optimizer is not None:
            return self._given_optimizer
        return torch.optim.Adam(self.net.parameters(), lr=self.config.lr)

    def _observe(self, observation: Any) -> None:
        # every input is the same for all sub-envs (one network, one task): read the first
        self.features = agent_features(self.layout, torch.as_tensor(observation)[0])

    def logits(self) -> Tensor:
        return self.net(self.features)

    def keep_scores(self) -> Tensor:
        """(n_agents,) the policy's expected architecture as scores, on the CPU
        (:func:`~agents.native.shared_net.expected_width_scores`): what a projection ranks by."""
        return expected_width_scores(self.logits().detach().cpu(), self.layout.sizes)

    def _report_architecture(self) -> None:
        """Report None: budget mode then steers lambda on the mean kept share of the
        sampled masks, so the keep probabilities themselves are pushed to the target and
        keep exploring. Steered on a reported architecture (always on target once projected)
        lambda sits at break-even, every channel's keep probability climbs towards 1 and the
        network stops learning (measured on the MNIST task at 10% params, 5x its search
        budget, seed 0: mean keep probability 0.996 reported vs 0.242 unreported; val one-shot
        top-1 of the architecture ranked by logits 0.561 vs 0.730)."""
        self.base.report_architecture(None)

    def final_mask(self) -> Tensor:
        """With a budget and ``final_architecture="budget"``, :meth:`architecture` (the
        expected architecture projected on the target); otherwise p > 0.5. One network sets
        every channel's keep probability, so they move together and the threshold
        architecture jumps between keeping all and keeping none."""
        if self.config.final_architecture == "threshold" or budget_target(self.env) is None:
            return super().final_mask()
        return self.architecture()

    def _policy_state(self) -> dict:
        net = {k: v.detach().cpu() for k, v in self.net.state_dict().items()}
        return {"net": net, "features": self.features.cpu()}  # the inputs of the next step

    def _load_policy_state(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])
        self.features = state["features"].to(self.base.device)

    def save_policy(self, path: str | os.PathLike) -> None:
        """Write the shared network alone (the file zero- and few-shot runs start from)."""
        self.net.save(path)


def train_tasks(
    agents: Sequence[SharedReinforceAgent],
    budgets: Sequence[int],
    callback: Callable[[int, StepStats], None] | None = None,
    progress: bool = False,
) -> None:
    """Step ``agents`` (one per task, sharing one network and optimiser) until each has
    scored its budget of pairs: always the task furthest behind on its own budget, so the
    tasks mix evenly whatever their sizes. ``callback(task index, stats)`` after each step."""
    if len(agents) != len(budgets) or not agents:
        raise ValueError(f"one budget per agent: {len(agents)} agents, {len(budgets)} budgets")
    nets = {id(a.net) for a in agents}
    optimizers = {id(a.optimizer) for a in agents}
    if len(nets) != 1 or len(optimizers) != 1:
        raise ValueError("the agents must hold one network and one optimiser (net=, optimizer=)")
    for agent, budget in zip(agents, budgets, strict=True):
        if budget < 0 or budget % agent.pairs_per_step:
            raise ValueError(
                f"a budget of {budget} pairs is not a whole number >= 0 of the "
                f"{agent.pairs_per_step} pairs one step scores on its task; round it"
            )
    total = sum(b // a.pairs_per_step for a, b in zip(agents, budgets, strict=True))
    start = [a.num_timesteps for a in agents]
    with tqdm(total=total, desc="shared policy", unit="step", disable=not progress) as bar:
        while True:
            behind = [
                ((a.num_timesteps - s) / b, i)
                for i, (a, s, b) in enumerate(zip(agents, start, budgets, strict=True))
                if a.num_timesteps - s < b
            ]
            if not behind:
                return
            index = min(behind)[1]
            stats = agents[index].train_step()
            bar.update()
            if callback is not None:
                callback(index, stats)
