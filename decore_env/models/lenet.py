"""LeNet-5 and LeNet-300-100 for 28x28 single-channel images (MNIST-like)."""

from torch import nn

from ._init import kaiming_init


def lenet5(num_classes: int = 10) -> nn.Sequential:
    """LeNet-5: conv 6, conv 16, fc 120, fc 84, fc classes (61,706 params for 10 classes).

    The first conv pads by 2 so 28x28 inputs give the classic 5x5x16 = 400 features.
    """
    model = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, num_classes),
    )
    kaiming_init(model)
    return model


def lenet300(num_classes: int = 10) -> nn.Sequential:
    """LeNet-300-100: a fully connected 784-300-100-classes network."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 300),
        nn.ReLU(),
        nn.Linear(300, 100),
        nn.ReLU(),
        nn.Linear(100, num_classes),
    )
