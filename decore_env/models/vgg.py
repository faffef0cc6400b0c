"""VGG16-BN for 32x32 inputs as DECORE defines it.

14.99M params and 313.5M MACs by our count; the paper reports 14.98M and 313.73M.
"""

import torch
from torch import nn

from ._init import kaiming_init

# Output channels of the 13 convs; "M" is a 2x2 max pool. Only 4 pools: the last
# stage ends at 2x2 and is averaged to 1x1, which is what the paper's counts imply.
VGG16_CFG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512,
)  # fmt: skip


class VGG16(nn.Module):
    """VGG16-BN: conv3x3 (no bias, BN follows) + BN + ReLU blocks, then a 2-layer classifier.

    The hidden Linear 512->512 is followed by BatchNorm1d and ReLU, so its 512 units
    are prunable like conv channels (4,224 conv channels + 512 units = 4,736 agents).
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 3
        for v in VGG16_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [
                    nn.Conv2d(in_ch, int(v), 3, padding=1, bias=False),
                    nn.BatchNorm2d(int(v)),
                    nn.ReLU(),
                ]
                in_ch = int(v)
        layers += [nn.AvgPool2d(2), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Linear(512, 512),
            nn.BatchNorm1d(512),
            nn.ReLU(),
            nn.Linear(512, num_classes),
        )
        kaiming_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def vgg16(num_classes: int = 10) -> VGG16:
    """VGG16-BN for CIFAR."""
    return VGG16(num_classes)
