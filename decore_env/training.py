"""Baseline training and evaluation: SGD + OneCycle on the device-resident loader.

Used to train the unpruned model that DECORE compresses and to fine-tune the pruned one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from tqdm import tqdm

from .data import DataSplits, TensorLoader
from .metrics import accuracy
from .spec import derive_seed

LOSS_EVERY = 20
"""Steps between progress-bar loss updates: reading the loss syncs the GPU."""


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA (fast and needs no loss scaling); full precision elsewhere, so
    CPU runs are exact and reproducible."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def tune_for(device: torch.device) -> None:
    """On CUDA, let cuDNN time its conv algorithms once per shape and keep the fastest: a run
    repeats one batch shape thousands of times. Nothing changes elsewhere."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True


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


def fit(
    model: nn.Module,
    splits: DataSplits,
    epochs: int,
    lr: float,
    batch_size: int,
    weight_decay: float,
    device: str | torch.device,
    seed: int,
    label_smoothing: float = 0.0,
    progress: bool = True,
    resume: dict | None = None,
    on_epoch: Callable[[dict], None] | None = None,
    distill: Distillation | None = None,
) -> float:
    """Train ``model`` in place on ``splits.train`` and return its test accuracy in [0, 1].

    SGD (Nesterov momentum 0.9) with a OneCycle schedule peaking at ``lr``; weight decay on
    weights only (decaying BN scales and biases only hurts). The default augmentation for the
    data set runs on the device. On CUDA the model runs channels_last under bf16 autocast.
    ``seed`` fixes the batch order, the augmentation and any dropout: the same seed on CPU
    gives identical weights.

    :param on_epoch: called after every epoch with the training state (weights, optimiser,
        schedule, data order, RNG); pass such a state as ``resume`` to continue after the
        epoch it was taken at, with the same result as an uninterrupted run on the CPU.
    """
    device = torch.device(device)
    torch.manual_seed(derive_seed(seed, "init"))  # dropout draws from the global generator
    cuda = device.type == "cuda"
    tune_for(device)
    model.to(device, memory_format=torch.channels_last if cuda else torch.contiguous_format)
    loader = TensorLoader.training(
        splits, batch_size, device, seed=seed, drop_last=len(splits.train_x) >= batch_size
    )
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    optimizer = torch.optim.SGD(
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay}],
        lr=lr,
        momentum=0.9,
        nesterov=True,
        weight_decay=0.0,
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=lr, total_steps=epochs * len(loader)
    )
    start = 0
    if resume is not None:
        start = resume["epoch"]
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        scheduler.load_state_dict(resume["scheduler"])
        loader.load_state_dict(resume["loader"])
        torch.set_rng_state(resume["rng"])
    with tqdm(
        total=epochs * len(loader),
        initial=start * len(loader),
        desc=f"train {splits.name}",
        unit="step",
        disable=not progress,
    ) as bar:
        for epoch in range(start, epochs):
            train_epoch(model, loader, optimizer, scheduler, label_smoothing, bar, distill)
            if on_epoch is not None:
                on_epoch(
                    {
                        "epoch": epoch + 1,
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(),
                        "loader": loader.state_dict(),
                        "rng": torch.get_rng_state(),
                    }
                )
    return accuracy(model, splits.test_x, splits.test_y, splits.mean, splits.std, 1000, device)
