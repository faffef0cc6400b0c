"""The task suite: versioned task ids of graded difficulty, each one network + one data set + one
budget + the search's budget in scored (mask, image) pairs + a fine-tuning schedule.

The CPU tier runs on the embedded data sets with baselines shipped in the package, so
``gym.make(id)`` works offline and is the same task on every machine; the GPU tier holds the
paper's settings, which need the full data sets and a baseline made by ``decore train``.
Imports no torch (``decore tasks`` lists the suite without it).
"""

from __future__ import annotations

from dataclasses import dataclass

from decore_env.task.defaults import PAPER_BATCH

TIERS = ("cpu", "gpu")
"""Where a task runs: cpu (embedded data, shipped weights, minutes a cell), gpu (the paper's
networks and full data sets, hours)."""


@dataclass(frozen=True)
class SuiteTask:
    """One task of the suite; the id names network, data, budget and version."""

    id: str
    model: str
    dataset: str
    resource: str
    """What the budget counts: "params" or "macs"."""
    target: float
    """Fraction of ``resource`` the final architecture keeps."""
    search_epochs: int
    """Policy epochs of the search: its pair budget is search_epochs x steps per epoch x
    PAPER_BATCH (:attr:`pairs`)."""
    finetune_epochs: int
    """Fine-tuning epochs of the full schedule (the fine-tune track's long length)."""
    finetune_lr: float
    train_images: int
    """Images of the training split the search draws from (val held out)."""
    track_task: str
    """The task's name in the benchmark tables' ``task`` column."""
    baseline_val: float | None = None
    """Top-1 of the shipped baseline on val / test, as recorded in its checkpoint (CPU tier)."""
    baseline_test: float | None = None
    tier: str = "cpu"
    summary: str = ""
    grid: bool = True
    """In the suite's grid and score; False: held out of them, for the transfer track, which
    makes its own rows (a network no suite score trains anything on)."""

    @property
    def pairs(self) -> int:
        """The search budget in scored (mask, image) pairs: whole steps of PAPER_BATCH images."""
        return self.search_epochs * (self.train_images // PAPER_BATCH) * PAPER_BATCH

    @property
    def settings(self) -> dict[str, object]:
        """The TaskSpec fields the id sets (``gym.make(id)`` passes them)."""
        budget = f"target_{self.resource}"
        return {"model": self.model, "dataset": self.dataset, budget: self.target}


_MNIST = dict(model="lenet5", dataset="embedded", train_images=10_000, track_task="embedded")
_MNIST_SCHEDULE = dict(search_epochs=30, finetune_epochs=33, finetune_lr=0.02)
_CIFAR10_SUBSET = dict(
    dataset="embedded_cifar10",
    train_images=13_000,
    search_epochs=3,
    finetune_epochs=15,
    finetune_lr=0.02,
)
_RESNET20 = dict(
    model="resnet20",
    track_task="resnet20-cifar10",
    baseline_val=0.7845,
    baseline_test=0.7867,
    **_CIFAR10_SUBSET,
)
_CIFAR10_GPU = dict(
    dataset="cifar10",
    resource="macs",
    train_images=45_000,
    search_epochs=260,
    finetune_epochs=40,
    finetune_lr=0.01,
    tier="gpu",
)  # the paper's CIFAR-10 schedule: 260 policy epochs, then fine-tuning
SUITE: tuple[SuiteTask, ...] = (
    SuiteTask(
        "DecoreSuite-LeNet5-MNIST-Params10-v0",
        resource="params",
        target=0.1,
        **_MNIST,
        **_MNIST_SCHEDULE,
        baseline_val=0.979,
        baseline_test=0.9813,
        summary="LeNet-5 on the embedded MNIST subset, 10% of params (the search track's task)",
    ),
    SuiteTask(
        "DecoreSuite-LeNet5-MNIST-Params3-v0",
        resource="params",
        target=0.03,
        **_MNIST,
        **_MNIST_SCHEDULE,
        baseline_val=0.979,
        baseline_test=0.9813,
        summary="LeNet-5 on the embedded MNIST subset, 3% of params",
    ),
    SuiteTask(
        "DecoreSuite-LeNet5-Fashion-Params10-v0",
        model="lenet5",
        dataset="embedded_fashion_mnist",
        resource="params",
        target=0.1,
        train_images=8_000,
        track_task="lenet5-fashion",
        search_epochs=38,
        finetune_epochs=41,
        finetune_lr=0.02,
        baseline_val=0.856,
        baseline_test=0.8455,
        summary="LeNet-5 on the embedded Fashion-MNIST subset, 10% of params",
    ),
    SuiteTask(
        "DecoreSuite-ResNet20-CIFAR10-MACs50-v0",
        resource="macs",
        target=0.5,
        **_RESNET20,
        summary="ResNet-20 on the embedded CIFAR-10 subset, 50% of MACs (residual-coupled "
        "channel groups)",
    ),
    SuiteTask(
        "DecoreSuite-ResNet20-CIFAR10-MACs25-v0",
        resource="macs",
        target=0.25,
        **_RESNET20,
        summary="ResNet-20 on the embedded CIFAR-10 subset, 25% of MACs",
    ),
    SuiteTask(
        "DecoreSuite-ResNet32-CIFAR10-MACs50-v0",
        model="resnet32",
        resource="macs",
        target=0.5,
        track_task="resnet32-cifar10",
        baseline_val=0.773,
        baseline_test=0.773,
        **_CIFAR10_SUBSET,
        grid=False,
        summary="ResNet-32 on the embedded CIFAR-10 subset, 50% of MACs (held out of the "
        "suite's grid: the transfer track's unseen network)",
    ),
    SuiteTask(
        "DecoreSuite-VGG16-CIFAR10-MACs35-v0",
        model="vgg16",
        target=0.352,
        track_task="vgg16-cifar10",
        **_CIFAR10_GPU,
        summary="VGG16-BN on CIFAR-10 at DECORE-200's MACs (110.51M of 313.73M); needs checkpoint=",
    ),
    SuiteTask(
        "DecoreSuite-ResNet56-CIFAR10-MACs50-v0",
        model="resnet56",
        target=0.501,
        track_task="resnet56-cifar10",
        **_CIFAR10_GPU,
        summary="ResNet-56 on CIFAR-10 at DECORE-200's MACs (62.93M of 125.49M); needs checkpoint=",
    ),
    SuiteTask(
        "DecoreSuite-ResNet50-ImageNet-MACs58-v0",
        model="resnet50",
        dataset="imagenet",
        resource="macs",
        target=0.577,
        train_images=1_281_167,
        track_task="resnet50-imagenet",
        search_epochs=26,  # the paper's 30 ImageNet epochs in all, split as on CIFAR-10
        finetune_epochs=4,
        finetune_lr=0.01,
        tier="gpu",
        summary="ResNet-50 on an ImageNet folder (dataset=DIR) at DECORE-6's MACs (2.36B of "
        "4.09B); needs checkpoint=",
    ),
)
"""The suite. Budgets of the GPU tier are the paper's (PAPER.md: DECORE-200 on CIFAR-10,
DECORE-6 on ImageNet, as kept MACs), and so are its schedules (CIFAR-10: 260 policy + 40
fine-tune epochs; ImageNet: 30 in all, the split ours). The CPU tier's search budgets are
our choice: the MNIST tasks keep the search track's 30 epochs (299,520 pairs), Fashion-MNIST
about as many pairs (38 epochs, 301,568), the CIFAR-10 tasks 3 epochs (38,400 pairs) so that
the slowest contestants' cells (PPO, td3_layerwise: about 3 ms a pair on one core, measured
at 64,000 pairs) take about 2 minutes (benchmarks/README.md)."""
SUITE_IDS = {task.id: task for task in SUITE}


def suite_task(task_id: str) -> SuiteTask:
    """The suite task ``task_id``; an unknown id is refused with the suite's ids."""
    if task_id not in SUITE_IDS:
        raise ValueError(f"unknown suite task {task_id!r}; the suite: {', '.join(SUITE_IDS)}")
    return SUITE_IDS[task_id]


def shipped_baselines() -> list[tuple[str, str]]:
    """(model, data set) of every CPU-tier task: the baselines the package ships."""
    return list(dict.fromkeys((t.model, t.dataset) for t in SUITE if t.tier == "cpu"))
