"""Weight initialisation shared by the project's own models."""

from torch import nn


def kaiming_init(model: nn.Module) -> None:
    """He-normal convs (fan-out, ReLU gain), unit/zero BatchNorm, zero biases.

    The usual CIFAR recipe: it keeps activation variance steady through deep ReLU
    stacks, so the deep ResNets and VGG train from scratch without warm-up tricks.
    Linear layers keep PyTorch's default init.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
