"""Channel groups of any CNN and per-sample channel masks that compute what pruning computes.

A *group* is a set of coupled output channels that must be kept or removed together, index
for index (a conv and its BatchNorm; every conv writing into one residual stream; a channel
that a concat passes on). Groups come from torch-pruning's ``DependencyGraph``, so no
architecture is hand-listed. An *agent* is one keep/drop decision of a group: one channel,
except where a grouped conv or a GroupNorm reads the group (below). The flat action of a
network orders agents group by group, in forward order of the groups.

Grouped convolutions (ResNeXt, RegNet) and GroupNorm: a conv with ``g`` groups over ``g * a``
input channels stays a valid conv after pruning only if every conv group keeps the same number
of channels, at the same positions. So an agent of a group that such a layer reads decides a
*slot*: within-group position ``j`` in every conv group at once (channels ``j, j + a, ...,
j + (g - 1) a``), as torch-pruning prunes them. The group then has ``a`` agents, not ``g * a``.
Depthwise convs (groups = in = out channels) keep one agent per channel.

Layers that move channels in a way the grouping cannot follow (a channel shuffle, as in
ShuffleNet; a split of the channels into parts whose sizes the code fixes, as in
cross-stage-partial, Res2Net or mixed-kernel blocks) are refused with
:class:`UnsupportedLayerError` naming the layer (:mod:`decore_env.channels.moves`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch_pruning as tp
from torch import Tensor, nn

from decore_env.channels.dependency import (
    CONV_LINEAR,
    UnsupportedLayerError,
    check_concats,
    joins_parts,
    traced_graph,
)
from decore_env.channels.moves import ChannelMoves
from decore_env.channels.norms import MIXING_NORMS, channel_dim
from decore_env.common.modes import eval_mode

_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


@dataclass(frozen=True)
class Group:
    """Coupled output channels, kept or dropped together.

    :param name: name of the group's first producing layer in forward order (stable across
        copies of the same architecture, used as the key of keep masks).
    :param size: number of agents: one per channel, or one per slot (a within-group position
        across all conv groups) where a grouped conv or GroupNorm reads the group.
    :param layers: every conv/linear layer whose output channels belong to the group,
        in forward order.
    :param layer_agents: per layer of ``layers``, the agent of each of its output channels
        (-1 for a channel outside the group). Layers whose outputs are concatenated and then
        added to other channels share one group but each writes its own channels: dropping
        all of one layer's agents would leave a layer without outputs, which no pruned
        network can hold.
    """

    name: str
    size: int
    layers: tuple[str, ...]
    layer_agents: tuple[tuple[int, ...], ...] = ()

    def own_agents(self, layer: int) -> list[int]:
        """The agents that decide some output channel of ``layers[layer]``, in order."""
        return sorted({a for a in self.layer_agents[layer] if a >= 0})


@dataclass(frozen=True)
class LayerMap:
    """Where each input/output channel of one parametrised layer sits in the agent vector.

    Index ``n_agents`` stands for "not maskable" (image channels, classifier outputs).
    """

    name: str
    module: nn.Module | None  # None for a parameter held outside any layer
    in_agents: Tensor | None  # (in_features,) long; None for per-channel layers (norm, scale)
    out_agents: Tensor  # (out_channels,) long
    per_channel: int = 0  # parameters per channel of a per-channel layer (norm, scale)


@dataclass
class _Forward:
    """What one traced forward pass tells: call order, output sizes, norm layouts."""

    order: list[nn.Module]  # conv/linear layers in call order
    spatial: dict[nn.Module, int]  # output positions per sample of each conv/linear
    norm_dims: dict[nn.Module, int]  # input dim of the channels of each LayerNorm/GroupNorm


def _trace_forward(model: nn.Module, example_input: Tensor) -> _Forward:
    """Conv/linear call order and output sizes, the channel dim of every channel-mixing
    norm, and a refusal of any reshape that moves channels."""
    traced = _Forward([], {}, {})
    names = {m: n or type(model).__name__ for n, m in model.named_modules()}
    where: list[str] = []
    norm_calls: list[tuple[nn.Module, Tensor, Tensor]] = []

    def record(module: nn.Module, inputs: tuple, output: Tensor) -> None:
        where.pop()
        if isinstance(module, MIXING_NORMS):
            norm_calls.append((module, inputs[0], output))
        if not isinstance(module, CONV_LINEAR):
            return
        if module in traced.spatial:
            raise UnsupportedLayerError(
                f"layer '{names[module]}' ({type(module).__name__}) is called more than once "
                "per forward pass; shared layers cannot be pruned per use: give each use its "
                "own module"
            )
        traced.order.append(module)
        traced.spatial[module] = int(output[0].numel()) // _widths(module)[1]

    handles = []
    for module in model.modules():
        handles.append(module.register_forward_pre_hook(lambda m, _i: where.append(names[m])))
        handles.append(module.register_forward_hook(record))
    types = {n: type(m).__name__ for m, n in names.items()}
    moves = ChannelMoves(where, types, started=lambda: bool(traced.order))
    try:
        with eval_mode(model), torch.no_grad(), moves:
            model(example_input)
    finally:
        for h in handles:
            h.remove()
    if moves.found:
        raise UnsupportedLayerError(moves.found)
    for norm, x, output in norm_calls:  # measured outside the mode, which would see its views
        dim = channel_dim(norm, x, output)
        if dim is None:
            raise UnsupportedLayerError(
                f"layer '{names[norm]}' ({type(norm).__name__}) normalises over no single "
                "channel dim the gates can reproduce; normalise over dim 1 or the last dim"
            )
        traced.norm_dims[norm] = dim
    return traced


def _widths(module: nn.Module) -> tuple[int, int]:
    """(input, output) channel count of a conv or linear layer."""
    if isinstance(module, nn.Linear):
        return module.in_features, module.out_features
    return module.in_channels, module.out_channels


def _channels(target: nn.Module | nn.Parameter, output_side: bool = True) -> int:
    """Channel count of a torch-pruning target on the pruned side."""
    if isinstance(target, CONV_LINEAR):
        return _widths(target)[1 if output_side else 0]
    if isinstance(target, nn.LayerNorm):
        return target.normalized_shape[0]
    if isinstance(target, nn.GroupNorm):
        return target.num_channels
    if isinstance(target, _NORMS):
        return target.num_features
    return target.numel()  # a per-channel vector parameter


def _equal_width_parts(module: nn.Module) -> int:
    """Number of parts (conv groups, norm groups) that must keep equal widths; 1 if none."""
    if isinstance(module, nn.GroupNorm):
        return module.num_groups
    groups = getattr(module, "groups", 1)
    return 1 if groups == 1 or is_depthwise(module) else groups


def is_depthwise(module: nn.Module) -> bool:
    return _widths(module) == (module.groups, module.groups)


def _vector_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """Parameters that container modules hold themselves (per-channel scales such as
    ConvNeXt's ``layer_scale``); leaf layers other than conv/linear/norm are refused."""
    return [
        (f"{name}.{p_name}" if name else p_name, p)
        for name, module in model.named_modules()
        if any(True for _ in module.children())
        for p_name, p in module.named_parameters(recurse=False)
    ]


def _check_supported(model: nn.Module) -> None:
    for name, module in model.named_modules():
        kind = type(module).__name__
        if isinstance(module, CONV_LINEAR):
            groups = getattr(module, "groups", 1)
            if 1 < groups == _widths(module)[1] and not is_depthwise(module):
                raise UnsupportedLayerError(
                    f"layer '{name}' ({kind}) is a depthwise conv with {module.in_channels} "
                    f"inputs for {module.out_channels} outputs; only in = out = groups can be "
                    "pruned"
                )
        elif isinstance(module, nn.LayerNorm) and len(module.normalized_shape) != 1:
            raise UnsupportedLayerError(
                f"layer '{name}' ({kind}) normalises over {tuple(module.normalized_shape)}, "
                "more than the channel dim; only a LayerNorm over channels can be pruned"
            )
        elif (
            not isinstance(module, _NORMS + MIXING_NORMS)
            and not any(True for _ in module.children())
            and any(True for _ in module.parameters(recurse=False))
        ):
            raise UnsupportedLayerError(
                f"layer '{name}' ({kind}) has parameters but is neither a conv, a linear nor "
                "a BatchNorm/LayerNorm/GroupNorm layer; its channels cannot be mapped"
            )
    for name, p in _vector_parameters(model):
        if sum(s > 1 for s in p.shape) > 1:
            raise UnsupportedLayerError(
                f"parameter '{name}' {tuple(p.shape)} is not a per-channel vector; its "
                "channels cannot be mapped: move it into a conv, linear or norm layer"
            )


def build_dependency_graph(model: nn.Module, example_input: Tensor) -> tp.DependencyGraph:
    """torch-pruning's dependency graph of ``model``; per-channel vector parameters are
    pruned along their one long dim (said here so torch-pruning need not guess and warn)."""
    vectors = [(p, int(torch.tensor(p.shape).argmax())) for _, p in _vector_parameters(model)]
    return traced_graph(model, example_input, vectors)


@dataclass
class Traced:
    """Everything the gates and the surgery need from one model: the groups, the
    torch-pruning group of each, the agent of each channel of each group, the forward
    pass's facts, and the dependency graph."""

    groups: list[Group]
    tp_groups: list
    agents: list[Tensor]  # per group: (channels,) agent index within the group
    forward: _Forward
    graph: tp.DependencyGraph


def trace_groups(model: nn.Module, example_input: Tensor) -> Traced:
    """Groups, their torch-pruning items, agents and forward-order data of ``model``."""
    _check_supported(model)
    forward = _trace_forward(model, example_input)
    if not forward.order:
        raise UnsupportedLayerError("the model has no conv or linear layer to prune")
    classifier = forward.order[-1]
    graph = build_dependency_graph(model, example_input)
    rank = {m: i for i, m in enumerate(forward.order)}
    names = {m: n for n, m in model.named_modules()}
    check_concats(graph, names)
    found = []
    for tp_group in graph.get_all_groups(ignored_layers=[classifier]):
        producers = sorted(
            {
                item.dep.target.module
                for item in tp_group.items
                if isinstance(item.dep.target.module, CONV_LINEAR)
                and graph.is_out_channel_pruning_fn(item.dep.handler)
            },
            key=lambda m: rank.get(m, len(rank)),
        )
        if not producers:
            continue
        agents = _slot_agents(tp_group, graph, names)
        size = int(agents.max()) + 1
        written = {m: [-1] * _widths(m)[1] for m in producers}
        for item in tp_group.items:
            if item.dep.target.module in written and graph.is_out_channel_pruning_fn(
                item.dep.handler
            ):
                for idx, root in zip(item.idxs, item.root_idxs, strict=True):
                    written[item.dep.target.module][int(idx)] = int(agents[root])
        group = Group(
            names[producers[0]],
            size,
            tuple(names[m] for m in producers),
            tuple(tuple(written[m]) for m in producers),
        )
        found.append((rank.get(producers[0], len(rank)), group, tp_group, agents))
    found.sort(key=lambda t: t[0])
    return Traced(
        [t[1] for t in found], [t[2] for t in found], [t[3] for t in found], forward, graph
    )


def _slot_agents(tp_group, graph: tp.DependencyGraph, names: Mapping) -> Tensor:
    """The agent of each channel of a group: channels that must go together share one.

    Two group positions that reach the same channel of some layer are tied (a ghost module's
    concatenation of a conv's output with a depthwise conv of it: positions ``j`` and ``w + j``
    are both channel ``j`` of the conv). A layer with ``g`` equal-width parts of ``a``
    channels (grouped conv, GroupNorm) ties channel ``c`` to channel ``c mod a``. Ties are
    joined over all layers of the group.
    """
    size = len(tp_group.items[0].idxs)
    parent = list(range(size))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    if any(joins_parts(item) for item in tp_group.items):
        # Two parts of one concatenation in one group (a ghost module, or branches added to
        # other channels): torch-pruning's group lists each layer once, reached by one path
        # only; probing each position alone shows every channel it reaches.
        root = tp_group.items[0].dep
        first: dict[tuple[int, Any, int], int] = {}
        for position in range(size):
            probe = graph.get_pruning_group(root.target.module, root.handler, [position])
            for item in probe.items:
                for idx in item.idxs:
                    key = (id(item.dep.target), item.dep.handler, int(idx))
                    parent[find(position)] = find(first.setdefault(key, position))
    for item in tp_group.items:
        module = item.dep.target.module
        if not isinstance(module, nn.Module) or (parts := _equal_width_parts(module)) == 1:
            continue
        width = _channels(module, graph.is_out_channel_pruning_fn(item.dep.handler))
        root_of = dict(zip(item.idxs, item.root_idxs, strict=True))
        if len(root_of) != width:
            raise UnsupportedLayerError(
                f"layer '{names[module]}' ({type(module).__name__}) has {parts} groups whose "
                "channels come from several channel groups (a concat feeds it); its groups "
                "cannot keep equal widths"
            )
        step = width // parts
        for channel, root in root_of.items():
            parent[find(root)] = find(root_of[channel % step])
    labels: dict[int, int] = {}
    return torch.tensor([labels.setdefault(find(i), len(labels)) for i in range(size)])


def channel_groups(model: nn.Module, example_input: Tensor) -> list[Group]:
    """The groups of coupled output channels of ``model``, in forward order.

    The final classifier (the last conv/linear layer called) is excluded. Raises
    :class:`UnsupportedLayerError` naming a layer that cannot be handled.
    """
    return trace_groups(model, example_input).groups


def layer_maps(model: nn.Module, traced: Traced) -> list[LayerMap]:
    """Per parametrised layer, the agent index of each input and output channel."""
    n_agents = sum(g.size for g in traced.groups)
    in_map: dict[nn.Module, Tensor] = {}
    out_map: dict[nn.Module | nn.Parameter, Tensor] = {}
    offset = 0
    for group, tp_group, agents in zip(traced.groups, traced.tp_groups, traced.agents, strict=True):
        for item in tp_group.items:
            target, handler = item.dep.target.module, item.dep.handler
            output_side = traced.graph.is_out_channel_pruning_fn(handler)
            if not isinstance(target, CONV_LINEAR + _NORMS + MIXING_NORMS + (nn.Parameter,)):
                continue  # torch-pruning's bookkeeping nodes (adds, concats, reshapes)
            table = out_map if output_side or not isinstance(target, CONV_LINEAR) else in_map
            if target not in table:
                table[target] = torch.full((_channels(target, output_side),), n_agents)
            idxs = torch.as_tensor(list(item.idxs), dtype=torch.long)
            try:
                table[target][idxs] = offset + agents[torch.as_tensor(list(item.root_idxs))]
            except IndexError as error:  # channels mapped past a layer's width
                raise UnsupportedLayerError(
                    f"layer '{_name_of(model, target)}' ({type(target).__name__}) gets channels "
                    f"of group '{group.name}' at positions it does not have: some code splits "
                    "or slices channels in a way the grouping does not follow"
                ) from error
        offset += group.size

    def agents_of(table: dict, target, width: int) -> Tensor:
        return table.get(target, torch.full((width,), n_agents, dtype=torch.long))

    maps = []
    for name, module in model.named_modules():
        if isinstance(module, CONV_LINEAR):
            n_in, n_out = _widths(module)
            ins, outs = agents_of(in_map, module, n_in), agents_of(out_map, module, n_out)
            maps.append(LayerMap(name, module, ins, outs))
        elif isinstance(module, _NORMS + MIXING_NORMS):
            n_params = sum(1 for _ in module.parameters(recurse=False))
            if n_params:
                outs = agents_of(out_map, module, _channels(module))
                maps.append(LayerMap(name, module, None, outs, n_params))
    for name, p in _vector_parameters(model):
        maps.append(LayerMap(name, None, None, agents_of(out_map, p, p.numel()), 1))
    return maps


def _name_of(model: nn.Module, target: nn.Module | nn.Parameter) -> str:
    """The qualified name of a layer or parameter of ``model`` (for messages)."""
    named = [*model.named_modules(), *model.named_parameters()]
    return next((name for name, obj in named if obj is target), "?")
