"""The registered task ids: the default task, the paper's settings and the suite (torch-free)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from decore_env.envs.suite import SUITE


@dataclass(frozen=True)
class TaskId:
    """A registered env id: what it is and the TaskSpec fields it sets."""

    summary: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    entry_point: str = "decore_env.envs.env:make_env"
    vector_entry_point: str | None = "decore_env.envs.vector:make_vector_env"


TASKS: dict[str, TaskId] = {
    "DecoreCompress-v0": TaskId(
        "the default task: LeNet-5 on the embedded MNIST subset, lambda 6, weights shipped in "
        "the package (offline, the same on every machine)"
    ),
    "DecoreCompressLeNet-v0": TaskId("alias of DecoreCompress-v0 (kept for earlier users)"),
    "DecoreCompressLayerwise-v0": TaskId(
        "the default task in AMC's framing: one keep ratio per channel group, reward the "
        "accuracy at the end, a params target enforced (default 0.5)",
        entry_point="decore_env.envs.layerwise:LayerwiseCompressEnv",
        vector_entry_point=None,
    ),
    "DecoreCompress-VGG16-CIFAR10-v0": TaskId(
        "VGG16-BN on CIFAR-10, lambda 200 (the paper's DECORE-200); needs checkpoint=",
        {"model": "vgg16", "dataset": "cifar10", "lam": 200.0},
    ),
    "DecoreCompress-ResNet56-CIFAR10-v0": TaskId(
        "ResNet-56 on CIFAR-10, lambda 200 (the paper's DECORE-200); needs checkpoint=",
        {"model": "resnet56", "dataset": "cifar10", "lam": 200.0},
    ),
    "DecoreCompress-ResNet50-ImageNet-v0": TaskId(
        "torchvision ResNet-50 on an ImageNet folder (dataset=DIR with train/ and test/, "
        "val/ optional), lambda 6 (the paper's DECORE-6); needs checkpoint=",
        {"model": "resnet50", "dataset": "imagenet", "lam": 6.0},
    ),
}
"""Every id ``import decore_env`` registers, with what each is."""
TASKS |= {task.id: TaskId(f"{task.summary} [{task.tier} tier]", task.settings) for task in SUITE}
"""The suite's ids (:mod:`decore_env.envs.suite`): the CPU tier's weights ship in the package."""
