"""Baseline training and evaluation: SGD + OneCycle on the device-resident loader.

Used to train the unpruned model that DECORE compresses and to fine-tune the pruned one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from tqdm import tqdm

from decore_env.common.modes import autocast, tune_for
from decore_env.common.seeds import derive_seed
from decore_env.data.loader import TensorLoader
from decore_env.data.splits import DataSplits
from decore_env.training.metrics import accuracy

LOSS_EVERY = 20
"""Steps between progress-bar loss updates: reading the loss syncs the GPU."""


@dataclass(frozen=True)
class Distillation:
    """Knowledge distillation (Hinton et al., 2015): the student also matches the teacher's
    softened outputs, ``(1 - weight) * CE + weight * T^2 * KL(teacher_T || student_T)``.
    A pruned network fine-tuned towards the network it was cut from recovers more of its
    accuracy than from the labels alone (the softened outputs carry how classes relate)."""

    teacher: nn.Module
    weight: float
    temperature: float

    def __post_init__(self) -> None:
        if not 0 <= self.weight <= 1:
            raise ValueError(f"distillation weight must be in [0, 1], got {self.weight}")
        if not self.temperature > 0:
            raise ValueError(f"distillation temperature must be > 0, got {self.temperature}")

    def loss(self, logits: Tensor, x: Tensor, y: Tensor, label_smoothing: float) -> Tensor:
        self.teacher.eval()
        with torch.no_grad():
            target = self.teacher(x)
        t = self.temperature
        soft = nn.functional.kl_div(
            nn.functional.log_softmax(logits / t, dim=1),
            nn.functional.log_softmax(target / t, dim=1),
            log_target=True,
            reduction="batchmean",
        )
        hard = nn.functional.cross_entropy(logits, y, label_smoothing=label_smoothing)
        return (1 - self.weight) * hard + self.weight * t * t * soft


def train_epoch(
    model: nn.Module,
    loader: TensorLoader,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    label_smoothing: float = 0.0,
    bar: tqdm | None = None,
    distill: Distillation | None = None,
) -> float:
    """One pass over ``loader``; steps ``scheduler`` per batch (OneCycle is per step).

    :param bar: a progress bar advanced once per batch, its loss shown every LOSS_EVERY steps.
    :param distill: also learn from a teacher network's outputs.
    :returns: the mean training loss of the epoch.
    """
    model.train()
    total = torch.zeros((), device=loader.device)
    for step, (x, y) in enumerate(loader, 1):
        with autocast(loader.device):
            logits = model(x)
            if distill is None:
                loss = nn.functional.cross_entropy(logits, y, label_smoothing=label_smoothing)
            else:
                loss = distill.loss(logits, x, y, label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total += loss.detach()
        if bar is not None:
            bar.update()
            if step % LOSS_EVERY == 0:
                bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    return total.item() / len(loader)


@dataclass(frozen=True)
class Schedule:
    """How a network is trained: SGD with Nesterov momentum 0.9 and a OneCycle learning rate
    peaking at ``lr``, for baselines and fine-tuning alike."""

    epochs: int
    lr: float
    batch_size: int = 128
    weight_decay: float = 5e-4
    """On weights only: decaying BatchNorm scales and biases only hurts."""
    label_smoothing: float = 0.0


class _Training:
    """The model, optimiser, schedule and data order of one :func:`fit`."""

    def __init__(
        self,
        model: nn.Module,
        splits: DataSplits,
        schedule: Schedule,
        device: torch.device,
        seed: int,
    ) -> None:
        cuda = device.type == "cuda"
        tune_for(device)
        self.model = model.to(
            device, memory_format=torch.channels_last if cuda else torch.contiguous_format
        )
        self.loader = TensorLoader.training(
            splits,
            schedule.batch_size,
            device,
            seed=seed,
            drop_last=len(splits.train_x) >= schedule.batch_size,
        )
        decay = [p for p in model.parameters() if p.ndim > 1]
        no_decay = [p for p in model.parameters() if p.ndim <= 1]
        self.optimizer = torch.optim.SGD(
            [{"params": decay, "weight_decay": schedule.weight_decay}, {"params": no_decay}],
            lr=schedule.lr,
            momentum=0.9,
            nesterov=True,
            weight_decay=0.0,
        )
        self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
            self.optimizer, max_lr=schedule.lr, total_steps=schedule.epochs * len(self.loader)
        )

    def state_dict(self, epoch: int) -> dict:
        return {
            "epoch": epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "loader": self.loader.state_dict(),
            "rng": torch.get_rng_state(),
        }

    def load_state_dict(self, state: dict) -> int:
        """Continue after the epoch ``state`` was taken at; returns that epoch."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.loader.load_state_dict(state["loader"])
        torch.set_rng_state(state["rng"])
        return state["epoch"]


def fit(
    model: nn.Module,
    splits: DataSplits,
    schedule: Schedule,
    device: str | torch.device,
    seed: int,
    progress: bool = True,
    resume: dict | None = None,
    on_epoch: Callable[[dict], None] | None = None,
    distill: Distillation | None = None,
) -> float:
    """Train ``model`` in place on ``splits.train`` with ``schedule``; returns its test
    accuracy in [0, 1].

    The default augmentation for the data set runs on the device. On CUDA the model runs
    channels_last under bf16 autocast. ``seed`` fixes the batch order, the augmentation and
    any dropout: the same seed on CPU gives identical weights.

    :param on_epoch: called after every epoch with the training state (weights, optimiser,
        schedule, data order, RNG); pass such a state as ``resume`` to continue after the
        epoch it was taken at, with the same result as an uninterrupted run on the CPU.
    """
    device = torch.device(device)
    torch.manual_seed(derive_seed(seed, "init"))  # dropout draws from the global generator
    run = _Training(model, splits, schedule, device, seed)
    start = 0 if resume is None else run.load_state_dict(resume)
    steps = len(run.loader)
    with tqdm(
        total=schedule.epochs * steps,
        initial=start * steps,
        desc=f"train {splits.name}",
        unit="step",
        disable=not progress,
    ) as bar:
        for epoch in range(start, schedule.epochs):
            train_epoch(
                model,
                run.loader,
                run.optimizer,
                run.scheduler,
                schedule.label_smoothing,
                bar,
                distill,
            )
            if on_epoch is not None:
                on_epoch(run.state_dict(epoch + 1))
    return accuracy(model, splits.test_x, splits.test_y, splits.mean, splits.std, 1000, device)
