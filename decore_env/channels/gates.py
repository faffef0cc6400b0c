"""Per-sample channel masks on an unchanged model, and the cost of any mask.

Masking rule: a dropped channel is zeroed wherever it *enters* a conv or linear layer, after
every BatchNorm, activation, pooling, add or concat that touched it. Every path to the output
goes through such a layer (the classifier at the latest), so the masked network computes
exactly what the physically pruned network computes, whatever the layer order (BN-ReLU-conv
pre-activation blocks included). A LayerNorm or GroupNorm over channels computes its
statistics over the kept channels only (:mod:`decore_env.channels.norms`). Masks are per sample: an
``N x n_agents`` matrix, one row per image of the batch, applied with one gather and one
multiply per layer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from decore_env.channels.cost import CostModel
from decore_env.channels.norms import MIXING_NORMS, masked_norm
from decore_env.channels.tracing import Group, layer_maps, trace_groups


class ChannelGates:
    """Per-sample channel masks on an unchanged model, plus the cost of any mask.

    Build once per model (tracing takes a forward pass), then::

        gates = ChannelGates(model, example_input)
        with gates.masked(mask):          # mask: (N, gates.n_agents) or (n_agents,)
            logits = model(images)        # images: (N, ...)

    Hooks live only inside ``masked``, so the model stays picklable and unchanged (unless
    :meth:`attach` keeps them for a compiled forward, until :meth:`detach`).
    """

    def __init__(self, model: nn.Module, example_input: Tensor) -> None:
        traced = trace_groups(model, example_input)
        groups = traced.groups
        self.model = model
        self.groups: list[Group] = groups
        self.sizes: tuple[int, ...] = tuple(g.size for g in groups)
        self.n_agents: int = sum(self.sizes)
        self.group_of_agent: Tensor = torch.repeat_interleave(
            torch.arange(len(groups)), torch.tensor(self.sizes, dtype=torch.long)
        )
        self.channel_agents: list[Tensor] = traced.agents
        """Per group, the agent (index within the group) that decides each channel."""
        maps = layer_maps(model, traced)

        def maskable(agents: Tensor | None) -> bool:
            return agents is not None and bool((agents < self.n_agents).any())

        # Conv/linear layers with a maskable input, norms that mix maskable channels.
        self._consumers = [(m.module, m.in_agents) for m in maps if maskable(m.in_agents)]
        self._norms = [
            (m.module, m.out_agents, traced.forward.norm_dims[m.module])
            for m in maps
            if isinstance(m.module, MIXING_NORMS) and maskable(m.out_agents)
        ]
        self._cost = CostModel(maps, traced.forward.spatial, self.n_agents)
        full = self._cost(torch.ones(1, self.n_agents))
        self.full_cost: dict[str, float] = {"params": full[0].item(), "macs": full[1].item()}
        """params and MACs of the unmasked network, the denominators of kept fractions."""
        self._mask_ext: Tensor | None = None
        self._indices: dict[torch.device, _Indices] = {}
        self._attached: list[RemovableHandle] = []

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
        group_of_agent = self._on(values.device).group_of_agent
        return out.index_add_(-1, group_of_agent, values.float())

    def group_means(self, values: Tensor) -> Tensor:
        """Per-agent values (..., n_agents) averaged per group: (..., G)."""
        return self.group_sums(values) / self._on(values.device).sizes

    def kept_per_group(self, mask: Tensor) -> Tensor:
        """(N, G) number of kept channels per group."""
        return self.group_sums(self.check_mask(mask))

    def cost(self, mask: Tensor) -> tuple[Tensor, Tensor]:
        """(params, MACs) of the pruned networks the masks describe, each of shape (N,).

        Exact (float64) for masks that keep at least one channel per group and per layer
        (:func:`~decore_env.channels.surgery.connected_keep`); a cheap formula
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
        handles = [] if self._attached else self._register(mask.device)
        try:
            yield
        finally:
            for h in handles:
                h.remove()
            self._mask_ext = None

    def attach(self, device: torch.device) -> None:
        """Keep the hooks on the model until :meth:`detach`, for masks on ``device``.

        torch.compile traces the hooks a model has when it is compiled and recompiles whenever
        they change, so a compiled masked forward needs hooks that stay; between ``masked``
        blocks they pass every input through unchanged.
        """
        if not self._attached:
            self._attached = self._register(torch.device(device))

    def detach(self) -> None:
        """Remove the hooks :meth:`attach` left on the model (it is then as it was)."""
        for h in self._attached:
            h.remove()
        self._attached = []

    def _on(self, device: torch.device) -> _Indices:
        """The index tensors on ``device``, copied there once: a copy per call would make the
        host wait for the device on every step."""
        if device not in self._indices:
            self._indices[device] = _Indices(
                [agents.to(device) for _, agents in self._consumers],
                [agents.to(device) for _, agents, _ in self._norms],
                self.group_of_agent.to(device),
                torch.tensor(self.sizes, dtype=torch.float32).to(device),
            )
        return self._indices[device]

    def _register(self, device: torch.device) -> list[RemovableHandle]:
        """The gate hooks for masks on ``device``, registered on the model."""
        index = self._on(device)
        consumers = zip(self._consumers, index.consumers, strict=True)
        norms = zip(self._norms, index.norms, strict=True)
        return [
            module.register_forward_pre_hook(self._input_hook(agents))
            for (module, _), agents in consumers
        ] + [
            module.register_forward_hook(self._norm_hook(agents, dim))
            for (module, _, dim), agents in norms
        ]

    def _gate(self, agents: Tensor, x: Tensor) -> Tensor:
        """(N or 1, channels) keep gate of the channels ``agents`` for the batch ``x``."""
        gate = self._mask_ext[:, agents].to(x.dtype)
        if gate.shape[0] not in (1, x.shape[0]):
            raise ValueError(
                f"mask has {gate.shape[0]} rows but the batch has {x.shape[0]} samples; "
                "pass one row per sample or a single row"
            )
        return gate

    def _input_hook(self, agents: Tensor):
        def apply(module: nn.Module, inputs: tuple) -> tuple | None:
            if self._mask_ext is None:  # an attached hook outside ``masked``
                return None
            x = inputs[0]
            gate = self._gate(agents, x)
            # A conv reads channels at dim 1, a linear at the last dim (maps or features).
            shape = [1] * x.dim()
            shape[-1 if isinstance(module, nn.Linear) else 1] = gate.shape[1]
            return (x * gate.view(gate.shape[0], *shape[1:]),) + inputs[1:]

        return apply

    def _norm_hook(self, agents: Tensor, dim: int):
        def apply(module: nn.Module, inputs: tuple, _output: Tensor) -> Tensor | None:
            if self._mask_ext is None:
                return None
            return masked_norm(module, inputs[0], self._gate(agents, inputs[0]), dim)

        return apply


@dataclass(frozen=True)
class _Indices:
    """The gates' index tensors on one device."""

    consumers: list[Tensor]  # per masked conv/linear input: the agent of each channel
    norms: list[Tensor]  # per channel-mixing norm: the agent of each channel
    group_of_agent: Tensor  # (n_agents,) long
    sizes: Tensor  # (G,) float32 agents per group
