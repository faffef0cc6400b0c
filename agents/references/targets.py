"""Masks at a budget target: drop channels in a given order until the kept fraction of
params (or MACs) meets the target from below, within ``TOLERANCE``.

The references order channels by their criterion; the native agent's exact-budget final
architecture orders them by keep probability; :func:`project` puts any agent's architecture on
the target by its own scores (the search track's one rule for every contestant).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from decore_env.channels.gates import ChannelGates

TOLERANCE = 0.02
"""A mask meets a target when |kept / target - 1| <= TOLERANCE (the benchmark's "matched")."""


def kept_fraction(gates: ChannelGates, mask: Tensor, resource: str) -> float:
    """Kept fraction of ``resource`` ("params" or "macs") of the network ``mask`` describes."""
    params, macs = gates.cost(mask)
    cost = params if resource == "params" else macs
    return float(cost[0]) / gates.full_cost[resource]


def top_scored(gates: ChannelGates, scores: Tensor, target: float, resource: str) -> Tensor:
    """The channels of highest ``scores`` (n_agents,) that meet ``target`` within TOLERANCE
    from below: the lowest dropped first (ties in index order)."""
    return drop_until(gates, torch.argsort(scores, stable=True), target, resource)


def drop_until(
    gates: ChannelGates, order: Tensor, target: float, resource: str, mask: Tensor | None = None
) -> Tensor:
    """``mask`` (default: all kept) with agents of ``order`` (distinct) dropped, first to last,
    until the kept fraction is <= ``target``.

    A drop that would empty a group or leave less than ``target * (1 - TOLERANCE)`` is skipped.
    When every remaining drop is too big for the window and the mask would miss the target
    (on a small network near a low target), :func:`_land_from_above` trades: one more drop,
    then the best-ranked dropped agents back. The result lands in
    [target (1 - TOLERANCE), target (1 + TOLERANCE)] whenever either way finds it; otherwise
    it keeps more (callers check with :func:`check_met`).

    The drops up to the first that reaches the target are found by bisection over the prefixes
    of the order (the kept fraction only falls as agents drop): about log2(n_agents) cost
    evaluations per skipped drop instead of one per agent, which is what makes a projection
    of VGG16 or ResNet-50 cheap. The result is the drop-by-drop walk's, mask for mask.
    """
    if mask is None:
        mask = torch.ones(gates.n_agents, dtype=torch.bool)
    mask = mask.to("cpu", torch.bool, copy=True)
    floor = target * (1 - TOLERANCE)
    order = remaining = torch.as_tensor(order, dtype=torch.long).cpu()
    if len(order.unique()) != len(order):
        raise ValueError("the drop order names an agent twice: give each agent at most once")
    kept = kept_fraction(gates, mask, resource)
    while kept > target:
        drops = _droppable(gates, mask, remaining)
        reached = _first_reaching(gates, mask, drops, target, resource)
        if reached is None:  # every drop taken, still above the target
            mask[drops] = False
            kept = kept_fraction(gates, mask, resource)
            break
        trial = mask.clone()
        trial[drops[: reached + 1]] = False
        after = kept_fraction(gates, trial, resource)
        if after >= floor:
            return trial
        mask[drops[:reached]] = False  # the drop that undershoots the window is skipped
        kept = kept_fraction(gates, mask, resource)
        remaining = remaining[int((remaining == drops[reached]).nonzero()) + 1 :]
    if kept > target * (1 + TOLERANCE):  # only where the mask would miss the target
        return _land_from_above(gates, mask, order, target, resource)
    return mask


def _droppable(gates: ChannelGates, mask: Tensor, order: Tensor) -> Tensor:
    """The agents of ``order`` the walk drops, in turn, while no drop undershoots the window:
    the kept ones, except each group's last kept agent."""
    candidates = order[mask[order]]
    groups = gates.group_of_agent.cpu()[candidates]
    left = gates.kept_per_group(mask)[0].long().cpu()
    by_group = torch.argsort(groups, stable=True)
    sorted_groups = groups[by_group]
    rank = torch.empty_like(by_group)  # how many of the group's candidates come before
    rank[by_group] = torch.arange(len(groups)) - torch.searchsorted(sorted_groups, sorted_groups)
    return candidates[rank < left[groups] - 1]


def _first_reaching(
    gates: ChannelGates, mask: Tensor, drops: Tensor, target: float, resource: str
) -> int | None:
    """The index of the first of ``drops`` (taken in turn from ``mask``) after which the kept
    fraction is <= ``target``; None if even all of them leave more."""

    def reaches(count: int) -> bool:
        trial = mask.clone()
        trial[drops[:count]] = False
        return kept_fraction(gates, trial, resource) <= target

    if not len(drops) or not reaches(len(drops)):
        return None
    low, high = 1, len(drops)  # reaches(high) holds; find the smallest such count
    while low < high:
        middle = (low + high) // 2
        if reaches(middle):
            high = middle
        else:
            low = middle + 1
    return low - 1


def _land_from_above(
    gates: ChannelGates, mask: Tensor, order: Tensor, target: float, resource: str
) -> Tensor:
    """``mask`` (above ``target``, every single drop falling below the window) put in the
    window: for each droppable agent, lowest rank first, drop it and add back dropped agents,
    best rank first, as long as the kept fraction stays <= ``target``; the first trial that
    ends in the window wins. ``mask`` unchanged if none does."""
    floor = target * (1 - TOLERANCE)
    left = gates.kept_per_group(mask)[0].long()
    ranked = order.tolist()
    for agent in ranked:
        if not mask[agent] or left[int(gates.group_of_agent[agent])] <= 1:
            continue
        trial = mask.clone()
        trial[agent] = False
        kept = kept_fraction(gates, trial, resource)
        for back in reversed(ranked):
            if kept >= floor:
                break
            if trial[back] or back == agent:
                continue
            trial[back] = True
            after = kept_fraction(gates, trial, resource)
            if after > target:
                trial[back] = False
            else:
                kept = after
        if floor <= kept <= target:
            return trial
    return mask


def check_met(gates: ChannelGates, mask: Tensor, target: float, resource: str) -> None:
    """Refuse a mask outside the tolerance, naming the fraction it reached."""
    kept = kept_fraction(gates, mask, resource)
    if abs(kept / target - 1) > TOLERANCE:
        raise ValueError(
            f"cannot reach {resource} kept {target:g} within {TOLERANCE:.0%}: reached "
            f"{kept:.4f}; no further single-channel drop lands within it"
        )


@dataclass(frozen=True)
class Projected:
    """An agent's architecture put on the target."""

    mask: Tensor
    """The projected mask (n_agents,), bool: within ``TOLERANCE`` of the target, no group
    emptied."""
    agent_kept: float
    """The kept fraction of the agent's own architecture, before the projection."""
    changed: int
    """Agents whose keep/drop decision the projection changed (0: it was on target)."""


def project(
    gates: ChannelGates, mask: Tensor, scores: Tensor, target: float, resource: str, seed: int
) -> Projected:
    """``mask`` if it is within ``TOLERANCE`` of ``target`` and empties no group; else the
    channels of highest ``scores`` (the agent's own: keep probabilities, action values) that
    meet the target from below, no group emptied, ties broken by a draw seeded with ``seed``."""
    mask = torch.as_tensor(mask).bool().cpu()
    kept = kept_fraction(gates, mask, resource)
    connected = bool(gates.kept_per_group(mask)[0].min() >= 1)
    if abs(kept / target - 1) <= TOLERANCE and connected:
        return Projected(mask, kept, 0)
    scores = torch.as_tensor(scores, dtype=torch.float64).cpu()
    if scores.shape != mask.shape:
        raise ValueError(f"scores of shape {tuple(scores.shape)}; expected {tuple(mask.shape)}")
    tie_break = torch.randperm(len(scores), generator=torch.Generator().manual_seed(seed))
    order = tie_break[torch.argsort(scores[tie_break], stable=True)]  # lowest score dropped first
    projected = drop_until(gates, order, target, resource)
    check_met(gates, projected, target, resource)
    return Projected(projected, kept, int((projected != mask).sum()))
