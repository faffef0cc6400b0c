"""The modes a forward pass runs in: eval mode, bf16 autocast on CUDA, cuDNN's tuning."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode for the block, then the caller's train/eval mode back, even on errors.

    Eval mode keeps measurements and tracing passes from updating BatchNorm running
    statistics. The one guard of the project: every eval-mode pass goes through it.
    """
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


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
