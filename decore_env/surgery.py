"""Remove dropped channels for real: a keep mask in, a physically smaller network out.

Saving: the pruned network has layer widths that no constructor knows, so save the whole
module, ``torch.save(pruned, path)``, and load it with ``torch.load(path, weights_only=False)``
(only for files you trust: unpickling runs code).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from decore_env.gates import Group, trace_groups

KeepMask = Mapping[str, Tensor]


def _check_keep(keep: KeepMask, groups: list[Group]) -> None:
    expected = {g.name: g.size for g in groups}
    missing = sorted(set(expected) - set(keep))
    unknown = sorted(set(keep) - set(expected))
    if missing or unknown:
        raise ValueError(
            f"keep mask does not match the model's groups (missing: {missing}, unknown: "
            f"{unknown}); pass one bool tensor per group name of channel_groups()"
        )
    for name, size in expected.items():
        shape = tuple(torch.as_tensor(keep[name]).shape)
        if shape != (size,):
            raise ValueError(f"keep mask of group '{name}' has shape {shape}; expected ({size},)")


def _strongest_agent(group: Group, agents: Tensor, modules: Mapping[str, nn.Module]) -> int:
    """The agent whose channels have the largest L1 weight norm over the group's producers."""
    norms = sum(modules[n].weight.detach().abs().flatten(1).sum(1) for n in group.layers)
    return int(torch.argmax(torch.zeros(group.size).index_add_(0, agents, norms)))


def prune(model: nn.Module, keep: KeepMask, example_input: Tensor) -> nn.Module:
    """A new network without the channels whose ``keep`` entry is False.

    ``keep`` maps each group name of :func:`~decore_env.gates.channel_groups` to a bool
    tensor of the group's size, one entry per agent (a channel, or a slot of a group that a
    grouped conv reads: see :mod:`decore_env.gates`). The input model is never modified. A
    group is never emptied: if every agent of a group is dropped, its agent with the largest
    weight norm is kept and a warning says so. In eval mode the result computes exactly what the
    masked model computes.
    """
    pruned = copy.deepcopy(model)
    traced = trace_groups(pruned, example_input)
    _check_keep(keep, traced.groups)
    modules = dict(pruned.named_modules())
    with torch.no_grad():
        for group, tp_group, agents in zip(
            traced.groups, traced.tp_groups, traced.agents, strict=True
        ):
            kept = torch.as_tensor(keep[group.name]).bool().cpu()
            if not kept.any():
                best = _strongest_agent(group, agents, modules)
                warnings.warn(
                    f"every channel of group '{group.name}' was dropped; keeping agent "
                    f"{best} (largest weight norm) so the network stays connected",
                    stacklevel=2,
                )
                kept = kept.clone()
                kept[best] = True
            drop = torch.nonzero(~kept[agents]).flatten().tolist()
            if drop:
                root = tp_group.items[0].dep
                traced.graph.get_pruning_group(root.target.module, root.handler, drop).prune()
    return pruned
