"""Channel groups of any CNN and per-sample channel masks that compute what pruning computes.

A *group* is a set of coupled output channels that must be kept or removed together, index
for index (a conv and its BatchNorm; every conv writing into one residual stream; a channel
that a concat passes on). Groups come from torch-pruning's ``DependencyGraph``, so no
architecture is hand-listed. An *agent* is one channel of a group; the flat action of a
network orders agents group by group, in forward order of the groups.

Masking rule: a dropped channel is zeroed wherever it *enters* a conv or linear layer, after
every BatchNorm, activation, pooling, add or concat that touched it. Every path to the output
goes through such a layer (the classifier at the latest), so the masked network computes
exactly what the physically pruned network computes, whatever the layer order (BN-ReLU-conv
pre-activation blocks included). Masks are per sample: an ``N x n_agents`` matrix, one row
per image of the batch, applied with one gather and one multiply per layer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import torch
import torch_pruning as tp
from torch import Tensor, nn

_CONV_LINEAR = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


class UnsupportedLayerError(ValueError):
    """A layer whose channels the grouping cannot map; the message names the layer."""


@dataclass(frozen=True)
class Group:
    """Coupled output channels, kept or dropped together.

    :param name: name of the group's first producing layer in forward order (stable across
        copies of the same architecture, used as the key of keep masks).
    :param size: number of channels (= agents) in the group.
    :param layers: every conv/linear layer whose output channels belong to the group,
        in forward order.
    """

    name: str
    size: int
    layers: tuple[str, ...]


@dataclass(frozen=True)
class _LayerMap:
    """Where each input/output channel of one parametrised layer sits in the agent vector.

    Index ``n_agents`` stands for "not maskable" (image channels, classifier outputs).
    """

    name: str
    in_agents: Tensor | None  # (in_features,) long; None for norm layers
    out_agents: Tensor  # (out_channels,) long


def _forward_order(model: nn.Module, example_input: Tensor) -> tuple[list[nn.Module], dict]:
    """Conv/linear layers in call order and the spatial size of each output (for MACs)."""
    order: list[nn.Module] = []
    spatial: dict[nn.Module, int] = {}

    def record(module: nn.Module, _inputs: tuple, output: Tensor) -> None:
        if module in spatial:
            raise UnsupportedLayerError(
                f"layer '{_name_of(model, module)}' is called more than once per forward pass; "
                "shared layers cannot be pruned per use: give each use its own module"
            )
        order.append(module)
        spatial[module] = int(output[0, 0].numel())

    handles = [
        m.register_forward_hook(record) for m in model.modules() if isinstance(m, _CONV_LINEAR)
    ]
    try:
        with _eval_mode(model), torch.no_grad():
            model(example_input)
    finally:
        for h in handles:
            h.remove()
    return order, spatial


def _widths(module: nn.Module) -> tuple[int, int]:
    """(input, output) channel count of a conv or linear layer."""
    if isinstance(module, nn.Linear):
        return module.in_features, module.out_features
    return module.in_channels, module.out_channels


def _name_of(model: nn.Module, module: nn.Module) -> str:
    return next((n for n, m in model.named_modules() if m is module), type(module).__name__)


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Run a tracing pass without touching BatchNorm running statistics."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _check_supported(model: nn.Module) -> None:
    for name, module in model.named_modules():
        if not any(True for _ in module.parameters(recurse=False)):
            continue
        if isinstance(module, _CONV_LINEAR):
            groups = getattr(module, "groups", 1)
            if groups > 1 and _widths(module) != (groups, groups):
                raise UnsupportedLayerError(
                    f"layer '{name}' is a grouped conv (groups={groups}); only plain and "
                    "depthwise convs (groups = in = out channels) can be pruned"
                )
        elif not isinstance(module, _NORMS):
            raise UnsupportedLayerError(
                f"layer '{name}' ({type(module).__name__}) has parameters but is neither a "
                "conv, a linear nor a BatchNorm layer; its channels cannot be mapped"
            )


def build_dependency_graph(model: nn.Module, example_input: Tensor) -> tp.DependencyGraph:
    """torch-pruning's dependency graph, traced in eval mode with autograd on."""
    with _eval_mode(model), torch.enable_grad():
        return tp.DependencyGraph().build_dependency(model, example_inputs=example_input)


def trace_groups(model: nn.Module, example_input: Tensor):
    """Groups, their torch-pruning items, and forward-order data of ``model``."""
    _check_supported(model)
    order, spatial = _forward_order(model, example_input)
    if not order:
        raise UnsupportedLayerError("the model has no conv or linear layer to prune")
    classifier = order[-1]
    graph = build_dependency_graph(model, example_input)
    rank = {m: i for i, m in enumerate(order)}
    names = {m: n for n, m in model.named_modules()}
    found = []
    for tp_group in graph.get_all_groups(ignored_layers=[classifier]):
        producers = sorted(
            {
                item.dep.target.module
                for item in tp_group.items
                if isinstance(item.dep.target.module, _CONV_LINEAR)
                and graph.is_out_channel_pruning_fn(item.dep.handler)
            },
            key=lambda m: rank.get(m, len(rank)),
        )
        if not producers:
            continue
        size = len(tp_group.items[0].idxs)
        group = Group(names[producers[0]], size, tuple(names[m] for m in producers))
        found.append((rank.get(producers[0], len(rank)), group, tp_group))
    found.sort(key=lambda t: t[0])
    return [g for _, g, _ in found], [t for _, _, t in found], order, spatial, graph


def channel_groups(model: nn.Module, example_input: Tensor) -> list[Group]:
    """The groups of coupled output channels of ``model``, in forward order.

    The final classifier (the last conv/linear layer called) is excluded. Raises
    :class:`UnsupportedLayerError` naming a layer that cannot be handled.
    """
    return trace_groups(model, example_input)[0]


def _layer_maps(model, groups, tp_groups, graph) -> list[_LayerMap]:
    """Per parametrised layer, the agent index of each input and output channel."""
    n_agents = sum(g.size for g in groups)
    in_map: dict[nn.Module, Tensor] = {}
    out_map: dict[nn.Module, Tensor] = {}

    def slot(table: dict, module: nn.Module, width: int) -> Tensor:
        if module not in table:
            table[module] = torch.full((width,), n_agents, dtype=torch.long)
        return table[module]

    offset = 0
    for group, tp_group in zip(groups, tp_groups, strict=True):
        for item in tp_group.items:
            module, handler = item.dep.target.module, item.dep.handler
            idxs = torch.as_tensor(list(item.idxs), dtype=torch.long)
            agents = offset + torch.as_tensor(list(item.root_idxs), dtype=torch.long)
            if isinstance(module, _NORMS):
                slot(out_map, module, module.num_features)[idxs] = agents
            elif isinstance(module, _CONV_LINEAR):
                if graph.is_out_channel_pruning_fn(handler):
                    slot(out_map, module, _widths(module)[1])[idxs] = agents
                else:
                    slot(in_map, module, _widths(module)[0])[idxs] = agents
        offset += group.size

    maps = []
    for name, module in model.named_modules():
        if isinstance(module, _CONV_LINEAR):
            n_in, n_out = _widths(module)
            maps.append(
                _LayerMap(
                    name,
                    in_map.get(module, torch.full((n_in,), n_agents, dtype=torch.long)),
                    out_map.get(module, torch.full((n_out,), n_agents, dtype=torch.long)),
                )
            )
        elif isinstance(module, _NORMS) and module.affine:
            out = out_map.get(module, torch.full((module.num_features,), n_agents))
            maps.append(_LayerMap(name, None, out))
    return maps


class ChannelGates:
    """Per-sample channel masks on an unchanged model, plus the cost of any mask.

    Build once per model (tracing takes a forward pass), then::

        gates = ChannelGates(model, example_input)
        with gates.masked(mask):          # mask: (N, gates.n_agents) or (n_agents,)
            logits = model(images)        # images: (N, ...)

    Hooks live only inside ``masked``, so the model stays picklable and unchanged.
    """

    def __init__(self, model: nn.Module, example_input: Tensor) -> None:
        groups, tp_groups, order, spatial, graph = trace_groups(model, example_input)
        self.model = model
        self.groups: list[Group] = groups
        self.sizes: tuple[int, ...] = tuple(g.size for g in groups)
        self.n_agents: int = sum(self.sizes)
        self.group_of_agent: Tensor = torch.repeat_interleave(
            torch.arange(len(groups)), torch.tensor(self.sizes, dtype=torch.long)
        )
        maps = _layer_maps(model, groups, tp_groups, graph)
        modules = dict(model.named_modules())
        # Consumers: conv/linear layers with at least one maskable input channel.
        self._consumers = [
            (modules[m.name], m.in_agents)
            for m in maps
            if m.in_agents is not None and bool((m.in_agents < self.n_agents).any())
        ]
        self._cost = _CostModel(maps, modules, spatial, self.n_agents)
        full = self._cost(torch.ones(1, self.n_agents))
        self.full_cost: dict[str, float] = {"params": full[0].item(), "macs": full[1].item()}
        """params and MACs of the unmasked network, the denominators of kept fractions."""
        self._mask_ext: Tensor | None = None

    # ----------------------------------------------------------------- masks
    def check_mask(self, mask: Tensor) -> Tensor:
        """Validate a mask and return it as a float (N, n_agents) tensor."""
        if not isinstance(mask, Tensor):
            mask = torch.as_tensor(mask)
        if mask.dim() == 1:
            mask = mask.unsqueeze(0)
        if mask.dim() != 2 or mask.shape[1] != self.n_agents:
            raise ValueError(
                f"mask has shape {tuple(mask.shape)}; expected (N, {self.n_agents}) or "
                f"({self.n_agents},): one entry per agent, ordered group by group"
            )
        return mask.to(torch.float32)

    def split(self, mask: Tensor) -> dict[str, Tensor]:
        """A flat mask (n_agents,) as a keep dict {group name: bool tensor (size,)}."""
        flat = self.check_mask(mask)
        if flat.shape[0] != 1:
            raise ValueError("split() takes one mask, not a batch")
        parts = torch.split(flat[0] > 0.5, list(self.sizes))
        return {g.name: p.cpu() for g, p in zip(self.groups, parts, strict=True)}

    def group_sums(self, values: Tensor) -> Tensor:
        """Per-agent values (..., n_agents) summed per group: (..., G)."""
        out = torch.zeros(*values.shape[:-1], len(self.groups), device=values.device)
        return out.index_add_(-1, self.group_of_agent.to(values.device), values.float())

    def group_means(self, values: Tensor) -> Tensor:
        """Per-agent values (..., n_agents) averaged per group: (..., G)."""
        sizes = torch.tensor(self.sizes, dtype=torch.float32, device=values.device)
        return self.group_sums(values) / sizes

    def kept_per_group(self, mask: Tensor) -> Tensor:
        """(N, G) number of kept channels per group."""
        return self.group_sums(self.check_mask(mask))

    def cost(self, mask: Tensor) -> tuple[Tensor, Tensor]:
        """(params, MACs) of the pruned networks the masks describe, each of shape (N,).

        Exact (float64) for masks that keep at least one channel per group; a cheap formula
        evaluated per step, not a FLOP counter run. MACs are conv + linear multiply-accumulates
        per image (FLOPs / 2).
        """
        return self._cost(self.check_mask(mask))

    @contextlib.contextmanager
    def masked(self, mask: Tensor) -> Iterator[None]:
        """Apply ``mask`` (1 row for all samples, or one row per sample) in forward passes."""
        mask = self.check_mask(mask)
        ones = torch.ones(mask.shape[0], 1, device=mask.device, dtype=mask.dtype)
        self._mask_ext = torch.cat([mask, ones], dim=1)
        handles = [
            module.register_forward_pre_hook(self._hook(agents.to(mask.device)))
            for module, agents in self._consumers
        ]
        try:
            yield
        finally:
            for h in handles:
                h.remove()
            self._mask_ext = None

    def _hook(self, agents: Tensor):
        def apply(_module: nn.Module, inputs: tuple) -> tuple:
            x = inputs[0]
            gate = self._mask_ext[:, agents].to(x.dtype)
            if gate.shape[0] not in (1, x.shape[0]):
                raise ValueError(
                    f"mask has {gate.shape[0]} rows but the batch has {x.shape[0]} samples; "
                    "pass one row per sample or a single row"
                )
            return (x * gate.view(*gate.shape, *([1] * (x.dim() - 2))),) + inputs[1:]

        return apply


class _CostModel:
    """params(mask) and MACs(mask) as sums over layers of in_kept x out_kept products.

    Per layer j: params_j = w_j * in_j * out_j + b_j * out_j and MACs_j = m_j * in_j * out_j,
    where in_j / out_j are kept input / output channels (a flattened channel counts once per
    spatial position), so the cost of N masks is two matrix products.
    """

    def __init__(self, maps: Sequence[_LayerMap], modules: Mapping, spatial: Mapping, n: int):
        width = len(maps)
        in_counts = torch.zeros(n + 1, width, dtype=torch.float64)
        out_counts = torch.zeros(n + 1, width, dtype=torch.float64)
        coef = torch.zeros(3, width, dtype=torch.float64)  # rows: w_j, b_j, m_j
        for j, m in enumerate(maps):
            module = modules[m.name]
            out_counts[:, j] = torch.bincount(m.out_agents, minlength=n + 1)
            if m.in_agents is None:  # BatchNorm: a weight and a bias per channel
                coef[1, j] = 2.0
                continue
            if getattr(module, "groups", 1) > 1:  # depthwise: one input per output channel
                in_counts[n, j] = 1.0
            else:
                in_counts[:, j] = torch.bincount(m.in_agents, minlength=n + 1)
            kernel = module.weight[0, 0].numel()
            coef[0, j] = kernel
            coef[1, j] = 1.0 if module.bias is not None else 0.0
            coef[2, j] = kernel * spatial.get(module, 0)
        self._tables = (in_counts, out_counts, coef)

    def __call__(self, mask: Tensor) -> tuple[Tensor, Tensor]:
        if self._tables[0].device != mask.device:
            self._tables = tuple(t.to(mask.device) for t in self._tables)
        in_counts, out_counts, coef = self._tables
        ones = torch.ones(mask.shape[0], 1, device=mask.device, dtype=torch.float64)
        ext = torch.cat([mask.double(), ones], dim=1)
        kept_in, kept_out = ext @ in_counts, ext @ out_counts
        pairs = kept_in * kept_out
        return pairs @ coef[0] + kept_out @ coef[1], pairs @ coef[2]
