"""L1 weight-norm importance of channels: the magnitude criterion the references and the
layer-wise env share (a layer keeps its channels of largest L1 norm)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from decore_env.channels.gates import ChannelGates


def channel_l1(gates: ChannelGates) -> Tensor:
    """(n_agents,) L1 norm of each agent's weights over its group's producing layers (the
    summed |W| of the channels the agent decides), on the CPU."""
    modules = dict(gates.model.named_modules())
    norms = []
    for group, agents in zip(gates.groups, gates.channel_agents, strict=True):
        channels = sum(
            modules[name].weight.detach().abs().flatten(1).sum(1).cpu() for name in group.layers
        )
        norms.append(torch.zeros(group.size).index_add_(0, agents.cpu(), channels))
    return torch.cat(norms)


def rank_in_group(sizes: Sequence[int], score: Tensor) -> Tensor:
    """(n_agents,) 0 for the highest ``score`` of each group (``sizes``: the groups' widths in
    agent order, as ``gates.sizes``), 1 for the next, ...; ties in agent order."""
    ranks = [
        torch.argsort(torch.argsort(s, descending=True, stable=True))
        for s in torch.split(score, list(sizes))
    ]
    return torch.cat(ranks)


def rank_share_in_group(sizes: Sequence[int], score: Tensor) -> Tensor:
    """(n_agents,) float64 :func:`rank_in_group` over its group's width less one: 0 for the
    highest ``score`` of each group, 1 for the lowest, 0 in a group of one."""
    rank = rank_in_group(sizes, score).double()
    widths = torch.tensor(list(sizes), dtype=torch.float64, device=rank.device)
    return rank / (widths.repeat_interleave(widths.long()) - 1).clamp(min=1)
