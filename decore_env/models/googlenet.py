"""GoogLeNet in its usual CIFAR form (as in HRank and DECORE): 6.17M params, 1.52G MACs.

A 3x3 stem with 192 channels replaces the ImageNet stem, the 5x5 branch is two stacked
3x3 convs, and there are no auxiliary classifiers.
"""

import torch
from torch import nn

from ._init import kaiming_init


def _conv_bn_relu(in_ch: int, out_ch: int, kernel: int) -> list[nn.Module]:
    """Conv (with bias, as in the common CIFAR code) + BN + ReLU, spatial size kept."""
    return [
        nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(),
    ]


class Inception(nn.Module):
    """Four parallel branches (1x1; 1x1-3x3; 1x1-3x3-3x3; maxpool-1x1) joined by torch.cat."""

    def __init__(
        self, in_ch: int, n1x1: int, n3x3red: int, n3x3: int, n5x5red: int, n5x5: int, pool: int
    ) -> None:
        super().__init__()
        self.b1 = nn.Sequential(*_conv_bn_relu(in_ch, n1x1, 1))
        self.b2 = nn.Sequential(*_conv_bn_relu(in_ch, n3x3red, 1), *_conv_bn_relu(n3x3red, n3x3, 3))
        self.b3 = nn.Sequential(
            *_conv_bn_relu(in_ch, n5x5red, 1),
            *_conv_bn_relu(n5x5red, n5x5, 3),
            *_conv_bn_relu(n5x5, n5x5, 3),
        )
        self.b4 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1), *_conv_bn_relu(in_ch, pool, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], dim=1)


class GoogLeNet(nn.Module):
    """Stem, inception 3a-3b, pool, 4a-4e, pool, 5a-5b, global avg pool, fc 1024->classes."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(*_conv_bn_relu(3, 192, 3))
        self.inceptions = nn.Sequential(
            Inception(192, 64, 96, 128, 16, 32, 32),
            Inception(256, 128, 128, 192, 32, 96, 64),
            nn.MaxPool2d(3, stride=2, padding=1),
            Inception(480, 192, 96, 208, 16, 48, 64),
            Inception(512, 160, 112, 224, 24, 64, 64),
            Inception(512, 128, 128, 256, 24, 64, 64),
            Inception(512, 112, 144, 288, 32, 64, 64),
            Inception(528, 256, 160, 320, 32, 128, 128),
            nn.MaxPool2d(3, stride=2, padding=1),
            Inception(832, 256, 160, 320, 32, 128, 128),
            Inception(832, 384, 192, 384, 48, 128, 128),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(1024, num_classes)
        kaiming_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(self.pool(self.inceptions(self.stem(x)))))


def googlenet(num_classes: int = 10) -> GoogLeNet:
    """GoogLeNet for CIFAR."""
    return GoogLeNet(num_classes)
