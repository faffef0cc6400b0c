"""DenseNet-40 (growth 12) for CIFAR, as in HRank and DECORE.

1.06M params and 282.9M MACs by our count; the paper reports 1.04M and 282.92M.

No bottleneck and no compression: each transition keeps its channel count, so the
widths run 24 -> 168 -> 312 -> 456.
"""

import torch
from torch import nn

from ._init import kaiming_init


class DenseLayer(nn.Module):
    """BN-ReLU-conv3x3 producing `growth` new channels, concatenated after its input."""

    def __init__(self, in_ch: int, growth: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(in_ch)
        self.relu = nn.ReLU()
        self.conv = nn.Conv2d(in_ch, growth, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.conv(self.relu(self.bn(x)))], dim=1)


class Transition(nn.Sequential):
    """BN-ReLU-conv1x1 (same width) then 2x2 average pool."""

    def __init__(self, ch: int) -> None:
        super().__init__(
            nn.BatchNorm2d(ch), nn.ReLU(), nn.Conv2d(ch, ch, 1, bias=False), nn.AvgPool2d(2)
        )


class DenseNet(nn.Module):
    """Conv 3->2*growth, 3 dense blocks joined by transitions, BN-ReLU-avgpool-fc."""

    def __init__(self, depth: int = 40, growth: int = 12, num_classes: int = 10) -> None:
        super().__init__()
        layers_per_block = (depth - 4) // 3
        ch = 2 * growth
        body: list[nn.Module] = [nn.Conv2d(3, ch, 3, padding=1, bias=False)]
        for block in range(3):
            for _ in range(layers_per_block):
                body.append(DenseLayer(ch, growth))
                ch += growth
            if block < 2:
                body.append(Transition(ch))
        body += [nn.BatchNorm2d(ch), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*body)
        self.fc = nn.Linear(ch, num_classes)
        kaiming_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def densenet40(num_classes: int = 10) -> DenseNet:
    """DenseNet-40 with growth rate 12."""
    return DenseNet(40, 12, num_classes)
