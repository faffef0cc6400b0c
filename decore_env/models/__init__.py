"""Model registry: `create(name, num_classes)` for every network the project benchmarks.

The CIFAR/MNIST models are written here as plain nn.Modules (no in-place ops on reused
tensors, torch.cat for concatenation) so torch-pruning's DependencyGraph can trace them;
the ImageNet ones come from torchvision, untrained. In every model the last nn.Linear in
module order is the final classifier, which never gets agents.
"""

from collections.abc import Callable

from torch import nn

from .densenet import densenet40
from .googlenet import googlenet
from .lenet import lenet5, lenet300
from .resnet_cifar import resnet20, resnet32, resnet56, resnet110
from .vgg import vgg16

MNIST_SHAPE = (1, 28, 28)
CIFAR_SHAPE = (3, 32, 32)
IMAGENET_SHAPE = (3, 224, 224)


def _torchvision(name: str) -> Callable[[int], nn.Module]:
    """A torchvision constructor with random weights: nothing is ever downloaded."""

    def build(num_classes: int) -> nn.Module:
        from torchvision import models  # lazy: keeps `import decore_env` fast

        return getattr(models, name)(weights=None, num_classes=num_classes)

    return build


_REGISTRY: dict[str, tuple[Callable[[int], nn.Module], tuple[int, int, int]]] = {
    "lenet5": (lenet5, MNIST_SHAPE),
    "lenet300": (lenet300, MNIST_SHAPE),
    "vgg16": (vgg16, CIFAR_SHAPE),
    "resnet20": (resnet20, CIFAR_SHAPE),
    "resnet32": (resnet32, CIFAR_SHAPE),
    "resnet56": (resnet56, CIFAR_SHAPE),
    "resnet110": (resnet110, CIFAR_SHAPE),
    "googlenet": (googlenet, CIFAR_SHAPE),
    "densenet40": (densenet40, CIFAR_SHAPE),
    "resnet18": (_torchvision("resnet18"), IMAGENET_SHAPE),
    "resnet50": (_torchvision("resnet50"), IMAGENET_SHAPE),
    "mobilenet_v2": (_torchvision("mobilenet_v2"), IMAGENET_SHAPE),
}

MODEL_NAMES: tuple[str, ...] = tuple(_REGISTRY)


def _entry(name: str) -> tuple[Callable[[int], nn.Module], tuple[int, int, int]]:
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(MODEL_NAMES)}")
    return _REGISTRY[name]


def create(name: str, num_classes: int = 10) -> nn.Module:
    """A freshly initialised model `name` with `num_classes` outputs."""
    return _entry(name)[0](num_classes)


def input_shape(name: str) -> tuple[int, int, int]:
    """(C, H, W) the model expects by default: 28x28 grey for LeNets, 32x32 RGB for CIFAR
    models, 224x224 RGB for torchvision ones (which also accept 32x32)."""
    return _entry(name)[1]


def for_data(name: str, num_classes: int, shape: tuple[int, int, int]) -> nn.Module:
    """``create(name, num_classes)``, checked to run on (C, H, W) = ``shape`` images.

    Raises ``ValueError`` naming the model and the image size when it cannot (VGG16 on 1x28x28
    digits, say), before any training starts.
    """
    import torch

    model = create(name, num_classes)
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(2, *shape))
    except RuntimeError as exc:
        expected = "x".join(map(str, input_shape(name)))
        raise ValueError(
            f"model {name} (made for {expected} inputs) cannot take "
            f"{'x'.join(map(str, shape))} images; pick a model for this data set"
        ) from exc
    return model.train()


__all__ = ["MODEL_NAMES", "create", "for_data", "input_shape"]
