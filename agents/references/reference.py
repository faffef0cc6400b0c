"""Non-RL references: keep masks at a params (or MACs) target, for the same prune -> fine-tune
-> evaluate pipeline as the RL agents.

Every reference orders the channels (agents) from "drop first" to "drop last" and drops them in
that order until the kept fraction, ``gates.cost(mask) / gates.full_cost``, is at most the
target (:func:`drop_until`): the target is met from below, within ``TOLERANCE``. A drop that
would empty a group, or take the kept fraction below ``target * (1 - TOLERANCE)``, is skipped
(the channel stays), so a coarse last channel cannot overshoot. What differs is the order:

- ``uniform``: the width multiplier. Every group keeps the same fraction of its channels (up
  to one channel, swept down together as a bisection on the common fraction would), and keeps
  its *first* channels by index: no weight criterion at all.
- ``l1_layer``: the same per-group widths, but each group keeps its channels of largest L1
  weight norm (Torch-Pruning's per-layer magnitude criterion).
- ``l1_global``: one ranking of all channels by L1 norm divided by the mean L1 norm of the
  channels of its group (Torch-Pruning's ``normalizer="mean"``: raw norms grow with a layer's
  fan-in, so unnormalised they would empty the thin layers first); lowest dropped first.
- ``random``: a seeded random drop order (``torch.randperm``): a random mask at the target.
- ``random_search``: the best of K random masks (``random``'s draws), each scored through the
  env on ``images_per_mask`` images; uses exactly the pairs it is given.
- ``greedy``: from the full network, repeatedly remove the ``ceil(GREEDY_STEP * size)``
  lowest-L1 kept channels of the one group whose removal keeps the highest env accuracy,
  until the target; it uses the pairs its rounds need (at most those it is given: where its
  rounds would not fit, each removes more, aiming to reach the target in the rounds left).

Search references score masks only through ``env.step`` (reading ``info["accuracy"]``), so env
wrappers see them as they see any agent, and count their work in scored (mask, image) pairs.
They rank by accuracy: the masks they compare have the same cost up to ``TOLERANCE``, and
``info["loss"]`` is the whole batch's cross-entropy, not one mask's.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from agents.mask_agent import MaskAgent
from agents.names import REFERENCES, SEARCHING
from agents.native.reinforce import native_vector_env
from agents.references.targets import TOLERANCE, check_met, drop_until, kept_fraction
from decore_env.channels.gates import ChannelGates
from decore_env.channels.importance import rank_in_group
from decore_env.common.seeds import derive_seed

GREEDY_STEP = 0.05
"""Fraction of a group's channels (rounded up: at least one) greedy removes per round."""
SEARCH_IMAGES = 256
"""Default images each candidate mask is scored on: one paper batch (PAPER_BATCH)."""
RESOURCES = ("params", "macs")


def balanced_order(gates: ChannelGates, rank: Tensor) -> Tensor:
    """Drop order that keeps every group at the same kept fraction (up to one channel).

    ``rank`` (n_agents,) is each agent's position within its group, 0 for the one kept last.
    Agent of rank r in a group of n is dropped at common fraction (r + 0.5) / n, so sweeping
    the fraction down drops the highest ranks of every group in step.
    """
    sizes = torch.tensor(gates.sizes, dtype=torch.float64)[gates.group_of_agent]
    return torch.argsort((rank.double() + 0.5) / sizes, descending=True, stable=True)


def _frozen_vector_env(env: Any) -> Any:
    """The native vector env under ``env`` (``tensors=True``, as the native agent needs),
    refused when it trains the network: scoring would change the weights masks are judged on."""
    base = native_vector_env(env)
    if base.task_spec.train_network:
        raise ValueError(
            "references score a frozen network: build the env with train_network=False"
        )
    return base


class Reference(MaskAgent):
    """One non-RL reference with the agent surface (``learn`` / ``predict``) of the benchmark.

    :param name: one of REFERENCES (the module docstring defines each).
    :param env: the native vector env with ``tensors=True``, or a wrapper of it; search
        references step ``env`` itself, so its wrappers see them as any agent.
    :param target: the fraction of ``resource`` to keep, in (0, 1].
    :param resource: "params" or "macs".
    :param seed: seeds the random orders (``random``, ``random_search``).
    :param images_per_mask: images each candidate is scored on (search references); a
        multiple of the env's ``samples_per_mask``.
    """

    NAME_KEY = "reference"

    def __init__(
        self,
        name: str,
        env: Any,
        target: float,
        resource: str = "params",
        seed: int = 0,
        images_per_mask: int = SEARCH_IMAGES,
        overrun: bool = False,
    ) -> None:
        if name not in REFERENCES:
            raise ValueError(f"unknown reference {name!r}; one of {', '.join(REFERENCES)}")
        if resource not in RESOURCES:
            raise ValueError(f"resource must be one of {RESOURCES}; got {resource!r}")
        if not 0 < target <= 1:
            raise ValueError(f"target must be a kept fraction in (0, 1]; got {target!r}")
        self.name, self.env, self.target, self.resource = name, env, target, resource
        self.base = _frozen_vector_env(env)
        self.gates: ChannelGates = self.base.gates
        self.samples_per_mask = self.base.samples_per_mask
        if images_per_mask <= 0 or images_per_mask % self.samples_per_mask:
            raise ValueError(
                f"images_per_mask must be a positive multiple of samples_per_mask "
                f"{self.samples_per_mask}; got {images_per_mask}"
            )
        self.images_per_mask = images_per_mask
        self.pairs_per_step = self.base.num_envs * self.samples_per_mask
        self.generator = torch.Generator().manual_seed(derive_seed(seed, "actions"))
        self.num_timesteps = 0
        """Scored (mask, image) pairs used so far."""
        self.overrun = overrun
        """greedy: finish past a budget too small for its rounds instead of refusing it."""
        self.mask: Tensor | None = None

    # ----------------------------------------------------------------- surface
    def learn(self, total_timesteps: int = 0) -> Reference:
        """Find the mask within ``total_timesteps`` scored pairs (weight-norm and random
        references use none; ``random_search`` uses all, ``greedy`` what it needs).

        Search budgets must be a multiple of the pairs one env step scores.
        """
        if isinstance(total_timesteps, bool) or total_timesteps < 0:
            raise ValueError(f"total_timesteps must be >= 0, got {total_timesteps!r}")
        if self.name in SEARCHING and total_timesteps % self.pairs_per_step:
            raise ValueError(
                f"total_timesteps {total_timesteps} is not a multiple of the "
                f"{self.pairs_per_step} (mask, image) pairs one step scores"
            )
        if self.name == "random_search":
            mask = self._random_search(total_timesteps)
        elif self.name == "greedy":
            mask = self._greedy(total_timesteps)
        else:
            mask = drop_until(self.gates, self._order(), self.target, self.resource)
        check_met(self.gates, mask, self.target, self.resource)
        self.mask = mask
        self.base.report_architecture(mask)  # what budget mode and logging read
        return self

    def saved_parts(self) -> dict[str, Any]:
        """The target the mask was made for."""
        return {"target": self.target, "resource": self.resource}

    # ------------------------------------------------------------------ orders
    def _order(self) -> Tensor:
        """The drop order of the references that score nothing."""
        if self.name == "uniform":
            index = torch.arange(self.gates.n_agents)
            start = torch.tensor((0, *self.gates.sizes[:-1])).cumsum(0)[self.gates.group_of_agent]
            return balanced_order(self.gates, index - start)
        if self.name == "l1_layer":
            return balanced_order(
                self.gates, rank_in_group(self.gates.sizes, self.base.channel_importance())
            )
        if self.name == "l1_global":
            return torch.argsort(self.normalised_l1(), stable=True)
        return self._random_order()

    def _random_order(self) -> Tensor:
        """A seeded random drop order (the next draw of the reference's generator)."""
        return torch.randperm(self.gates.n_agents, generator=self.generator)

    def normalised_l1(self) -> Tensor:
        """L1 norm of each agent / the mean over its group: ``l1_global``'s ranking score."""
        norms = self.base.channel_importance()
        means = self.gates.group_means(norms)[self.gates.group_of_agent]
        return norms / means.clamp_min(torch.finfo(norms.dtype).tiny)

    # ------------------------------------------------------------------ search
    def _random_search(self, pairs: int) -> Tensor:
        """Best of K = pairs // images_per_mask random masks (at least one; candidate 0 is
        ``random``'s mask); every pair of the budget is scored."""
        slots = pairs // self.samples_per_mask
        n = max(1, min(pairs // self.images_per_mask, slots))
        orders = [self._random_order() for _ in range(n)]
        candidates = torch.stack(
            [drop_until(self.gates, order, self.target, self.resource) for order in orders]
        )
        if not slots:
            return candidates[0]
        return candidates[int(torch.argmax(self._score(candidates, slots)))]

    def _greedy(self, budget: int) -> Tensor:
        """Rounds of: one candidate per group (its ceil(GREEDY_STEP * size) lowest-L1 kept
        channels removed, fewer at the target; more where the rounds the budget has left
        could not reach the target at that step), each scored on images_per_mask images;
        the most accurate candidate (the least accuracy lost) becomes the mask, in the last
        round the budget pays for the most accurate of those on target, if any. A round
        scores ceil(candidates x images_per_mask / pairs_per_step) env steps; the rounds
        left are counted as if every group gave a candidate (an upper bound on a round's
        cost). A group alone may not reach the target, so a tight budget can still run
        out: refused, or with ``overrun`` finished past the budget (``num_timesteps`` then
        says what it needed)."""
        gates = self.gates
        norms_by_group = torch.split(self.base.channel_importance(), list(gates.sizes))
        starts = np.cumsum((0, *gates.sizes[:-1]))
        mask = torch.ones(gates.n_agents, dtype=torch.bool)
        spent = 0
        per_candidate = self.images_per_mask // self.samples_per_mask
        round_pairs = self._slots(len(gates.sizes), per_candidate) * self.samples_per_mask
        while (kept := kept_fraction(gates, mask, self.resource)) > self.target:
            if spent + round_pairs > budget and kept <= self.target * (1 + TOLERANCE):
                break  # on target within the tolerance, and no pairs left for another round
            rounds_left = max(1, (budget - spent) // round_pairs)
            goal = max(self.target, kept - (kept - self.target) / rounds_left)
            candidates = []
            for start, norms in zip(starts, norms_by_group, strict=True):
                kept_here = torch.nonzero(mask[start : start + len(norms)]).flatten()
                weakest = kept_here[torch.argsort(norms[kept_here], stable=True)] + int(start)
                step = math.ceil(GREEDY_STEP * len(norms))
                candidate = drop_until(gates, weakest[:step], self.target, self.resource, mask)
                if kept_fraction(gates, candidate, self.resource) > goal:
                    candidate = drop_until(gates, weakest, goal, self.resource, mask)
                if not torch.equal(candidate, mask):
                    candidates.append(candidate)
            if not candidates:
                break  # no single drop stays above the floor: check_met judges the mask
            if rounds_left == 1:  # the last round the budget pays for: on target if it can be
                window = self.target * (1 + TOLERANCE)
                landing = [
                    c for c in candidates if kept_fraction(gates, c, self.resource) <= window
                ]
                candidates = landing or candidates
            slots = self._slots(len(candidates), per_candidate)
            spent += slots * self.samples_per_mask
            if spent > budget and not self.overrun:
                raise ValueError(
                    f"greedy needs more than {budget} pairs: the target is not reached within "
                    f"them (kept {kept:.3f} so far)"
                )
            stacked = torch.stack(candidates)
            mask = stacked[int(torch.argmax(self._score(stacked, slots)))]
        return mask

    def _slots(self, candidates: int, per_candidate: int) -> int:
        """Sub-env slots that score ``candidates`` masks: whole env steps."""
        return -(-candidates * per_candidate // self.base.num_envs) * self.base.num_envs

    def _score(self, candidates: Tensor, slots: int) -> Tensor:
        """(K,) mean env accuracy of each candidate mask over ``slots`` sub-env slots (a
        multiple of num_envs; slot s scores candidate s % K), ``slots * samples_per_mask``
        pairs in all. The vector env's autoreset steps score nothing and are stepped through."""
        n_envs, k = self.base.num_envs, len(candidates)
        assignment = torch.arange(slots) % k
        total = torch.zeros(k, dtype=torch.float64)
        for first in range(0, slots, n_envs):
            chunk = assignment[first : first + n_envs]
            info: dict = {}
            while "accuracy" not in info:
                *_, info = self.env.step(candidates[chunk])
            accuracy = torch.as_tensor(info["accuracy"]).cpu().double()
            total.index_add_(0, chunk, accuracy)
            self.num_timesteps += n_envs * self.samples_per_mask
        return total / torch.bincount(assignment, minlength=k)
