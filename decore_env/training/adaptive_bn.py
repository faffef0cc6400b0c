"""Adaptive BatchNorm: a pruned architecture's BatchNorm statistics re-estimated on training
images, weights untouched.

Removing channels shifts the activations every later BatchNorm normalises, so the running
statistics of the full network misjudge a pruned one; re-estimating them on a few thousand
training images (EagleEye, Li et al., ECCV 2020) makes a one-shot accuracy that tracks the
accuracy after fine-tuning far better than the plain one. Under a mask of
:class:`~decore_env.channels.gates.ChannelGates` the statistics are those of the pruned
network: a dropped channel is zeroed where it enters a layer, after every BatchNorm it passes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from decore_env.data.loader import TensorLoader
from decore_env.data.splits import DataSplits

ADAPT_IMAGES = 2048
"""Training images the statistics are re-estimated on (EagleEye uses a few thousand)."""
ADAPT_BATCH = 256
"""Images per forward pass of the re-estimation."""
ADAPT_SEED = 0
"""Seeds the draw of those images: the same images on every machine, from every class (an
image folder stores its training images class by class)."""

_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def batch_norms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The BatchNorm layers of ``model`` (an empty list: nothing to adapt)."""
    return [m for m in model.modules() if isinstance(m, _BATCH_NORMS)]


@contextlib.contextmanager
def adapted_bn(
    model: nn.Module, splits: DataSplits, device: torch.device, images: int = ADAPT_IMAGES
) -> Iterator[nn.Module]:
    """Within the block, ``model``'s BatchNorm running statistics are re-estimated on
    ``images`` training images drawn with ``ADAPT_SEED`` (no augmentation); call it inside
    ``gates.masked(mask)`` to adapt them to a pruned architecture. The statistics, momentum
    and train/eval mode in place before are restored on exit; no weight changes."""
    norms = batch_norms(model)
    saved = [(m.momentum, {k: v.clone() for k, v in m.state_dict().items()}) for m in norms]
    was_training = model.training
    try:
        if norms:
            draw = torch.randperm(
                len(splits.train_x), generator=torch.Generator().manual_seed(ADAPT_SEED)
            )
            _reestimate(model, norms, splits.train_x[draw[:images]], splits, device)
        model.eval()
        yield model
    finally:
        for m, (momentum, state) in zip(norms, saved, strict=True):
            m.momentum = momentum
            m.load_state_dict(state)
        model.train(was_training)


def _reestimate(
    model: nn.Module, norms: list, x: Tensor, splits: DataSplits, device: torch.device
) -> None:
    """Cumulative running mean and variance over ``x`` (momentum None: an exact average of
    the batches), the other layers in eval mode (dropout off)."""
    model.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    labels = torch.zeros(len(x), dtype=torch.long)
    loader = TensorLoader(
        x, labels, splits.mean, splits.std, ADAPT_BATCH, device=device, shuffle=False
    )
    with torch.no_grad():
        for xb, _ in loader:
            model(xb)
