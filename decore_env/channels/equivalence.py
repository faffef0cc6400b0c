"""Masked network == pruned network, checked on any model: the check behind the tests and the
supported-models table of the README (``scripts/supported_models.py``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torchvision
from torch import nn

from decore_env.channels.gates import ChannelGates
from decore_env.channels.norms import MIXING_NORMS
from decore_env.channels.surgery import prune
from decore_env.channels.tracing import UnsupportedLayerError
from decore_env.training.metrics import count

TOLERANCE = 1e-4
"""Largest |masked - pruned| output difference allowed (fp32, eval mode), relative to the
largest |output|, plus :data:`ABSOLUTE_SLACK`."""
ABSOLUTE_SLACK = 1e-5
"""Absolute part of the bound, for outputs near zero."""
TRANSFORMER_FAMILIES = ("vit_", "swin_", "maxvit_")
"""Vision transformers: no channel groups to prune, left out of the table and the test."""
SLOW_PARAMS = 30_000_000
"""Models with more parameters are marked slow in the test."""
SMALLEST_SIDE = 32
"""Input side used unless a model needs more (its weights' ``min_size``)."""


def realistic_norms(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """Norm statistics from data and random affine terms, as in a trained network.

    Fresh running statistics (mean 0, var 1) let eval-mode activations of deep ResNets grow
    to 1e4; statistics from a forward pass keep them O(1), so 1e-4 is a meaningful bound.
    LayerNorm/GroupNorm affine terms and per-channel scales (ConvNeXt's ``layer_scale``, 1e-6
    at init, which would hide every block from the comparison) are drawn at O(1) too.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    gen = torch.Generator().manual_seed(0)
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calibration pass
        m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
        m.bias.data.copy_(torch.rand(m.num_features, generator=gen) - 0.5)
    others = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, MIXING_NORMS) or any(True for _ in module.children()):
            for p in module.parameters(recurse=False):
                p.data.copy_(torch.rand(p.shape, generator=others) + 0.5)
    with torch.no_grad():
        model.train()(torch.randn(16, *x.shape[1:], generator=gen))
    return model.eval()


def draw_mask(gates: ChannelGates, seed: int, drop: float, narrow: int) -> torch.Tensor:
    """Random mask that keeps >= 1 agent per group and per layer (see
    :func:`~decore_env.channels.surgery.connected_keep`) and narrows one group to as few
    agents as that allows."""
    gen = torch.Generator().manual_seed(seed)
    parts = []
    for i, (size, group) in enumerate(zip(gates.sizes, gates.groups, strict=True)):
        part = torch.rand(size, generator=gen) >= drop
        if i == narrow % len(gates.sizes):
            part = torch.zeros(size, dtype=torch.bool)
        for own in [group.own_agents(j) for j in range(len(group.layers))] or [range(size)]:
            if not part[list(own)].any():
                part[own[int(torch.randint(len(own), (1,), generator=gen))]] = True
        parts.append(part)
    return torch.cat(parts).float()


def assert_masked_equals_pruned(
    model: nn.Module, gates: ChannelGates, mask: torch.Tensor, x: torch.Tensor
) -> float:
    """Masked and pruned outputs agree within TOLERANCE (relative) and the mask's predicted
    (params, MACs) are the pruned network's; returns the largest output difference."""
    with torch.no_grad():
        with gates.masked(mask):
            masked_out = model(x)
        pruned = prune(model, gates.split(mask), x)
        pruned_out = pruned.eval()(x)
    diff = (masked_out - pruned_out).abs().max().item()
    bound = TOLERANCE * masked_out.abs().max().item() + ABSOLUTE_SLACK
    assert diff <= bound, f"masked and pruned outputs differ by {diff:.3g} (bound {bound:.3g})"
    params, macs = gates.cost(mask)
    assert count(pruned, x) == (int(params.item()), int(macs.item()))
    return diff


def torchvision_names() -> list[str]:
    """torchvision's classification models, vision transformers left out."""
    names = torchvision.models.list_models(module=torchvision.models)
    return [n for n in names if not n.startswith(TRANSFORMER_FAMILIES)]


def _meta(name: str) -> dict:
    return torchvision.models.get_model_weights(name).DEFAULT.meta


def published_params(name: str) -> int:
    """Parameter count from torchvision's weight metadata (no model built)."""
    return int(_meta(name)["num_params"])


def torchvision_setup(name: str) -> tuple[nn.Module, torch.Tensor]:
    """An untrained model (``weights=None``) with realistic norms, and a 2-image input of
    the smallest side the model accepts (>= SMALLEST_SIDE)."""
    torch.manual_seed(0)
    options = {"aux_logits": False, "init_weights": False}
    extra = options if name in ("googlenet", "inception_v3") else {}
    model = torchvision.models.get_model(name, weights=None, **extra)
    side = max(SMALLEST_SIDE, *_meta(name)["min_size"])
    x = torch.randn(2, 3, side, side, generator=torch.Generator().manual_seed(1))
    return realistic_norms(model, x), x


@dataclass(frozen=True)
class Outcome:
    """One model's row of the table: supported (masked == pruned checked) or refused."""

    name: str
    params: int
    groups: int
    agents: int
    reason: str  # "" when supported; the UnsupportedLayerError message when refused
    max_diff: float = 0.0

    @property
    def supported(self) -> bool:
        return not self.reason


def check_torchvision(name: str, seed: int = 0) -> Outcome:
    """Gates, one random mask, masked == pruned and cost == count; or the refusal."""
    model, x = torchvision_setup(name)
    params = sum(p.numel() for p in model.parameters())
    try:
        gates = ChannelGates(model, x)
    except UnsupportedLayerError as error:
        return Outcome(name, params, 0, 0, str(error))
    mask = draw_mask(gates, seed, drop=0.5, narrow=seed)
    diff = assert_masked_equals_pruned(model, gates, mask, x)
    return Outcome(name, params, len(gates.groups), gates.n_agents, "", diff)
