"""Small networks built from common CNN building blocks of other model libraries: each
prunes exactly or is refused by name (``tests/test_blocks.py``)."""

import torch
from torch import nn


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an (N, C, H, W) map, as ConvNeXt writes it."""

    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


NORMS = {
    "BatchNorm": lambda c, groups: nn.BatchNorm2d(c),
    "GroupNorm": lambda c, groups: nn.GroupNorm(groups, c),
    "LayerNorm2d": lambda c, groups: LayerNorm2d(c),
    "no norm": lambda c, groups: nn.Identity(),
}
"""Norm factories by name; ``groups`` divides ``c`` (GroupNorm's groups: the conv's, or 2)."""
ACTIVATIONS = {"ReLU": nn.ReLU, "SiLU": nn.SiLU, "Hardswish": nn.Hardswish, "none": nn.Identity}


class ConvUnit(nn.Sequential):
    """Conv (plain, grouped or depthwise), a norm and an activation."""

    def __init__(self, c_in, c_out, kernel=3, groups=1, norm="BatchNorm", act="ReLU"):
        conv = nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, groups=groups, bias=False)
        norm_groups = groups if groups > 1 and c_out % groups == 0 else 2 - c_out % 2
        super().__init__(conv, NORMS[norm](c_out, norm_groups), ACTIVATIONS[act]())


class Ghost(nn.Module):
    """Ghost module: a conv, and a cheap depthwise conv of its output, concatenated."""

    def __init__(self, c_in=8, c=8):
        super().__init__()
        self.primary = ConvUnit(c_in, c, 1)
        self.cheap = ConvUnit(c, c, 3, groups=c)

    def forward(self, x):
        y = self.primary(x)
        return torch.cat([y, self.cheap(y)], 1)


class SE(nn.Module):
    def __init__(self, c, r=4):
        super().__init__()
        self.fc1 = nn.Conv2d(c, c // r, 1)
        self.fc2 = nn.Conv2d(c // r, c, 1)

    def forward(self, x):
        s = x.mean((2, 3), keepdim=True)
        return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(s))))


class MBConvSE(nn.Module):
    def __init__(self, c=8, e=16):
        super().__init__()
        self.expand = ConvUnit(c, e, 1, act="Hardswish")
        self.dw = ConvUnit(e, e, 3, groups=e, act="Hardswish")
        self.se = SE(e)
        self.project = nn.Sequential(nn.Conv2d(e, c, 1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x):
        return x + self.project(self.se(self.dw(self.expand(x))))


class MixedKernel(nn.Module):
    def __init__(self, c=16):
        super().__init__()
        self.splits = [c // 2, c // 2]
        self.convs = nn.ModuleList(
            [nn.Conv2d(c // 2, c // 2, k, padding=k // 2, groups=c // 2) for k in (3, 5)]
        )

    def forward(self, x):
        parts = torch.split(x, self.splits, 1)
        return torch.cat([conv(p) for conv, p in zip(self.convs, parts, strict=True)], 1)


class CSP(nn.Module):
    def __init__(self, c=16):
        super().__init__()
        self.stack = nn.Sequential(
            nn.Conv2d(c // 2, c // 2, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(c // 2, c // 2, 3, padding=1),
        )
        self.fuse = nn.Conv2d(c, c, 1)

    def forward(self, x):
        a, b = x.chunk(2, 1)
        return self.fuse(torch.cat([a, self.stack(b)], 1))


class Res2(nn.Module):
    def __init__(self, c=16, scales=4):
        super().__init__()
        w = c // scales
        self.scales = scales
        self.convs = nn.ModuleList([nn.Conv2d(w, w, 3, padding=1) for _ in range(scales - 1)])

    def forward(self, x):
        xs = x.chunk(self.scales, 1)
        out, prev = [xs[0]], None
        for i, conv in enumerate(self.convs):
            y = xs[i + 1] if prev is None else xs[i + 1] + prev
            prev = conv(y)
            out.append(prev)
        return torch.cat(out, 1)


def network(block: nn.Module, width: int, out: int) -> nn.Sequential:
    """A stem conv of ``width`` channels, ``block``, pooling and a classifier on ``out``."""
    stem = [nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
    head = [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(out, 10)]
    return nn.Sequential(*stem, block, *head)


BLOCKS = {
    "ghost module": lambda: network(Ghost(8, 8), 8, 16),
    "inverted residual with squeeze-excitation": lambda: network(MBConvSE(8, 16), 8, 8),
    "mixed-kernel depthwise split": lambda: network(MixedKernel(16), 16, 16),
    "cross-stage-partial split": lambda: network(CSP(16), 16, 16),
    "multi-scale residual split (Res2Net)": lambda: network(Res2(16), 16, 16),
}
"""Each construct's test network."""


class Residual(nn.Module):
    """x + body(x): the body's output channels are coupled to the input's."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x):
        return x + self.body(x)


class Branches(nn.Module):
    """Two branches of the same input, concatenated (an Inception-style block)."""

    def __init__(self, left: nn.Module, right: nn.Module):
        super().__init__()
        self.left, self.right = left, right

    def forward(self, x):
        return torch.cat([self.left(x), self.right(x)], 1)


class ChannelShuffle(nn.Module):
    """ShuffleNet's interleaving of ``groups`` channel groups."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        n, c, h, w = x.shape
        return x.view(n, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class HalfSlice(nn.Module):
    """A conv of the first half of the channels, the second half passed on: ``x[:, :c]``."""

    def __init__(self, c: int):
        super().__init__()
        self.half = c // 2
        self.conv = nn.Conv2d(self.half, self.half, 1)

    def forward(self, x):
        return torch.cat([self.conv(x[:, : self.half]), x[:, self.half :]], 1)


class Narrow(nn.Module):
    """The first ``k`` channels kept through ``narrow``."""

    def __init__(self, k: int):
        super().__init__()
        self.k = k

    def forward(self, x):
        return x.narrow(1, 0, self.k)
