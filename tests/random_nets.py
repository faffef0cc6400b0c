"""Random small CNNs built from the blocks of ``tests/blocks.py``, each labelled with the
outcome the channel grouping must give: prune exactly (masked == pruned, params and MACs as
predicted), or be refused by name at one given layer for one given construct.

A network is ``nn.Sequential(stem, *body, *head)``: a stem conv, 2-5 random body blocks, and
a head (global pooling or a flatten of the remaining map, then one or two linear layers).
With probability ``REFUSED_SHARE`` one body block is a construct the grouping refuses (a
channel split, slice or shuffle); the expected refusal names that block's index and class.
Everything is drawn from ``random.Random(seed)``, so a seed is a reproducible network.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

import torch
from blocks import (
    ACTIVATIONS,
    CSP,
    NORMS,
    SE,
    Branches,
    ChannelShuffle,
    ConvUnit,
    Ghost,
    HalfSlice,
    MBConvSE,
    MixedKernel,
    Narrow,
    Res2,
    Residual,
)
from torch import nn

from decore_env.channels.equivalence import assert_masked_equals_pruned, draw_mask, realistic_norms
from decore_env.channels.gates import ChannelGates
from decore_env.channels.tracing import UnsupportedLayerError

WIDTHS = (4, 6, 8, 12, 16)
"""Channel widths drawn for new layers (all even, so every split below has two halves)."""
REFUSED_SHARE = 0.3
"""Share of networks that contain one refused construct."""
SIDES = (8, 12, 16)
"""Input sides drawn (3-channel images)."""

Block = tuple[nn.Module, int, int]
"""A body block, its output channels and its output side."""


@dataclass(frozen=True)
class RandomNet:
    """One generated network and the outcome it must get."""

    seed: int
    model: nn.Sequential
    side: int
    constructs: tuple[str, ...]  # one per body block, in order
    refused_layer: str | None = None  # qualified name of the refused block
    refusal: str | None = None  # regex the UnsupportedLayerError message must match

    @property
    def expect_exact(self) -> bool:
        return self.refused_layer is None


def _unit(rng: random.Random, c_in: int, c_out: int, kernel: int, groups: int = 1) -> ConvUnit:
    return ConvUnit(
        c_in, c_out, kernel, groups, norm=rng.choice(list(NORMS)), act=rng.choice(list(ACTIVATIONS))
    )


def _conv_with(norm: str) -> Callable[[random.Random, int, int], Block]:
    def conv(rng: random.Random, c: int, side: int) -> Block:
        w = rng.choice(WIDTHS)
        unit = ConvUnit(c, w, rng.choice((1, 3)), norm=norm, act=rng.choice(list(ACTIVATIONS)))
        return unit, w, side

    return conv


def _grouped(rng: random.Random, c: int, side: int) -> Block:
    w = 2 * rng.choice((2, 3, 4))
    return _unit(rng, c, w, 3, groups=2), w, side


def _depthwise(rng: random.Random, c: int, side: int) -> Block:
    return _unit(rng, c, c, 3, groups=c), c, side


def _residual(rng: random.Random, c: int, side: int) -> Block:
    hidden = rng.choice(WIDTHS)
    body = nn.Sequential(_unit(rng, c, hidden, 1), _unit(rng, hidden, c, 3))
    return Residual(body), c, side


def _concat(rng: random.Random, c: int, side: int) -> Block:
    a, b = rng.choice(WIDTHS), rng.choice(WIDTHS)
    right = nn.Sequential(_unit(rng, c, b, 1), _unit(rng, b, b, 3))
    return Branches(_unit(rng, c, a, 1), right), a + b, side


def _ghost(rng: random.Random, c: int, side: int) -> Block:
    w = rng.choice(WIDTHS)
    return Ghost(c, w), 2 * w, side


def _squeeze_excitation(rng: random.Random, c: int, side: int) -> Block:
    return SE(c, r=2), c, side


def _inverted_residual(rng: random.Random, c: int, side: int) -> Block:
    return MBConvSE(c, 2 * c), c, side


def _pooling(rng: random.Random, c: int, side: int) -> Block:
    pool = rng.choice((nn.MaxPool2d, nn.AvgPool2d))
    return pool(2), c, side // 2


SUPPORTED: dict[str, Callable[[random.Random, int, int], Block]] = {
    **{f"conv + {norm}": _conv_with(norm) for norm in NORMS},
    "grouped conv": _grouped,
    "depthwise conv": _depthwise,
    "residual add": _residual,
    "concatenation of branches": _concat,
    "ghost module": _ghost,
    "squeeze-excitation": _squeeze_excitation,
    "inverted residual with squeeze-excitation": _inverted_residual,
    "pooling": _pooling,
}
"""Constructs that must prune exactly, each a factory (rng, channels, side) -> block."""


@dataclass(frozen=True)
class Refused:
    """A construct the grouping refuses: its factory (rng, channels) -> (block, channels
    out), the refused module's path inside the block ("" for the block itself) and what the
    refusal must say about the construct. A construct ``flattened`` is refused at the head's
    first linear layer, which reads it flattened with its positions."""

    build: Callable[[random.Random, int], tuple[nn.Module, int]]
    says: str
    inner: str = ""
    flattened: bool = False


def _concat_then_grouped(rng: random.Random, c: int) -> tuple[nn.Module, int]:
    block, mixed, _ = _concat(rng, c, 0)
    return nn.Sequential(block, _unit(rng, mixed, 8, 3, groups=2)), 8


FLATTENED = "concatenation flattened into a linear layer"
REFUSED: dict[str, Refused] = {
    "channel split (chunk, cross-stage-partial)": Refused(lambda rng, c: (CSP(c), c), "splits the"),
    "channel split (torch.split, mixed kernels)": Refused(
        lambda rng, c: (MixedKernel(c), c), "splits the"
    ),
    "channel split (chunk, Res2Net scales)": Refused(
        lambda rng, c: (Res2(c, scales=2), c), "splits the"
    ),
    "channel slice (x[:, :c])": Refused(lambda rng, c: (HalfSlice(c), c), "selects part of"),
    "channel narrow": Refused(
        lambda rng, c: (Narrow(2 * (c // 4)), 2 * (c // 4)), r"splits the .*narrow"
    ),
    "channel shuffle": Refused(lambda rng, c: (ChannelShuffle(2), c), "reshapes channels"),
    "grouped conv reading a concatenation": Refused(
        _concat_then_grouped, "has 2 groups whose channels come from several", inner="1.0"
    ),
    FLATTENED: Refused(
        lambda rng, c: _concat(rng, c, 0)[:2], "reads a concatenation", flattened=True
    ),
}
"""Constructs that must be refused by name."""
MIXING = frozenset({"concatenation of branches", "ghost module"})
"""Blocks whose output channels come from several channel groups."""
KEEPING = frozenset({"depthwise conv", "residual add", "squeeze-excitation", "pooling"})
KEEPING |= {"inverted residual with squeeze-excitation"}
"""Blocks whose output channels are their input's (same groups, same mix)."""


def _flatten_head(rng: random.Random, c: int, side: int) -> list[nn.Module]:
    """Flatten the map, as LeNet does, then two linear layers."""
    hidden = rng.choice(WIDTHS)
    return [nn.Flatten(), nn.Linear(c * side * side, hidden), nn.ReLU(), nn.Linear(hidden, 10)]


def _pooled_head(c: int) -> list[nn.Module]:
    return [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10)]


def _network(rng: random.Random, seed: int, names: list[str | None]) -> RandomNet:
    """Stem, one body block per entry of ``names`` (None: a random supported one that fits),
    head; labelled with the refusal of the (single) refused construct among them."""
    torch.manual_seed(seed)  # the layers' initial weights: a seed is one network, weights too
    side = input_side = rng.choice(SIDES)
    c = rng.choice(WIDTHS)
    layers: list[nn.Module] = [_unit(rng, 3, c, 3)]
    constructs: list[str] = []
    refused_layer = refusal = None
    flatten = False  # the head flattens the map: a refused construct asks for it
    mixed = False  # whether the channels reaching the next block come from a concatenation
    raw = False  # whether they come from a concatenation through nothing but pooling
    for name in names:
        if name in REFUSED:
            refused = REFUSED[name]
            block, c = refused.build(rng, c)
            flatten = refused.flattened
            refused_layer = ".".join(filter(None, (str(len(layers)), refused.inner)))
            if flatten:  # the head's first linear layer, after the flatten
                refused_layer, kind = str(len(layers) + 2), "Linear"
            else:
                kind = type(block.get_submodule(refused.inner)).__name__
            refusal = rf"layer '{re.escape(refused_layer)}' \({kind}\) {refused.says}"
        else:
            if name is None:
                fits = [
                    n
                    for n in SUPPORTED
                    if (n != "pooling" or side >= 4) and (n != "grouped conv" or not mixed)
                ]
                name = rng.choice(fits)
            block, c, side = SUPPORTED[name](rng, c, side)
        mixed = name in MIXING or (mixed and name in KEEPING)
        raw = name in MIXING or (raw and name == "pooling")
        layers.append(block)
        constructs.append(name)
    if not flatten and side <= 4 and refused_layer is None and (raw or not mixed):
        flatten = rng.random() < 0.5
        if flatten and raw and side > 1:  # a concatenation flattened: refused (see above)
            refused_layer = str(len(layers) + 1)
            refusal = rf"layer '{refused_layer}' \(Linear\) {REFUSED[FLATTENED].says}"
            constructs.append(FLATTENED)
    head = _flatten_head(rng, c, side) if flatten else _pooled_head(c)
    model = nn.Sequential(*layers, *head)
    return RandomNet(seed, model, input_side, tuple(constructs), refused_layer, refusal)


def random_net(seed: int) -> RandomNet:
    """The network of ``seed`` with its expected outcome."""
    rng = random.Random(seed)
    n_blocks = rng.randint(2, 5)
    names: list[str | None] = [None] * n_blocks
    if rng.random() < REFUSED_SHARE:
        refused = rng.choice(list(REFUSED))
        names[n_blocks - 1 if refused == FLATTENED else rng.randrange(n_blocks)] = refused
    return _network(rng, seed, names)


def single_construct_net(name: str, seed: int = 0) -> RandomNet:
    """A network whose body is the construct ``name`` alone (the README's table)."""
    return _network(random.Random(seed), seed, [name])


def verify(net: RandomNet, masks: int = 2) -> str:
    """Checks ``net`` against its label and says what was found: "exact" (masked == pruned
    for ``masks`` random masks, params and MACs as predicted) or the refusal message.

    :raises AssertionError: the outcome is not the expected one (a refusal of a supported
        network, no refusal or another one for a refused network, a wrong cut).
    """
    x = torch.randn(2, 3, net.side, net.side, generator=torch.Generator().manual_seed(net.seed))
    if not net.expect_exact:
        try:
            ChannelGates(net.model.eval(), x)
        except UnsupportedLayerError as error:
            assert re.search(net.refusal, str(error)), f"{error} does not match {net.refusal}"
            return str(error)
        raise AssertionError(f"no refusal; expected one matching {net.refusal}")
    model = realistic_norms(net.model, x)
    gates = ChannelGates(model, x)
    for i in range(masks):
        mask = draw_mask(gates, net.seed * 100 + i, drop=0.5, narrow=i)
        assert_masked_equals_pruned(model, gates, mask, x)
    return "exact"


def blocks_table(masks: int = 3) -> str:
    """The README's building-blocks table: each construct alone in a small network (seed 0),
    checked by :func:`verify` (``scripts/supported_models.py --blocks`` writes it)."""
    lines = [
        f"{len(SUPPORTED)} constructs prune exactly, {len(REFUSED)} are refused by name "
        "(generated by `python scripts/supported_models.py --blocks`; each alone between a "
        "stem conv and a classifier, `tests/random_nets.py`).",
        "",
        "| construct | outcome | what the check found |",
        "|---|---|---|",
    ]
    for name in [*SUPPORTED, *REFUSED]:
        found = verify(single_construct_net(name), masks)
        if found == "exact":
            row = (
                "exact",
                f"masked == pruned for {masks} random masks, params and MACs as predicted",
            )
        else:
            row = ("refused", found.split(";")[0].replace("|", "\\|"))
        lines.append(f"| {name} | {row[0]} | {row[1]} |")
    return "\n".join(lines)
