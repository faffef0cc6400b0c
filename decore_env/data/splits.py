"""A data set's splits as uint8 tensors, small enough to keep on the device."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

SPLIT_NAMES = ("train", "val", "test")
"""The splits every data set has: masks are scored on train only, tuning reads val only, and
test is read once per run, for the reported numbers."""
VAL_SIZES = {
    "embedded": 2_000,
    "embedded_fashion_mnist": 2_000,
    "embedded_cifar10": 2_000,
    "mnist": 5_000,
    "fashion_mnist": 5_000,
    "cifar10": 5_000,
}
"""Images held out of a named data set's training split as its validation split (our
choice: enough for a tuning decision within about +-1 point; the rest stays for training)."""
VAL_FRACTION = 0.1
"""Share of the training images held out as val in any other data set (an image folder
without a val/ folder, CIFAR-100): at least one image."""
VAL_SEED = 20_221_128
"""Seeds the hold-out: the same images are val on every machine, whatever the run's seed."""


class DatasetError(ValueError):
    """A data set that cannot be found or read; the message names it, where we looked, the fix."""


@dataclass(frozen=True)
class DataSplits:
    """A data set's train, val and test splits, kept as uint8 so that they fit on the device."""

    train_x: Tensor
    """Training images, uint8 (N, C, H, W): the search and the networks' training see only
    these."""
    train_y: Tensor
    """Training labels, int64 (N,)."""
    val_x: Tensor
    """Validation images held out of training, uint8 (V, C, H, W): for tuning decisions."""
    val_y: Tensor
    """Validation labels, int64 (V,)."""
    test_x: Tensor
    """Test images, uint8 (M, C, H, W)."""
    test_y: Tensor
    """Test labels, int64 (M,)."""
    num_classes: int
    """Number of classes: the width of the model's output layer."""
    mean: tuple[float, ...]
    """Per-channel mean of the training images in [0, 1], for normalisation."""
    std: tuple[float, ...]
    """Per-channel standard deviation of the training images in [0, 1]."""
    name: str
    """A registered name from DATASET_NAMES, or the image folder's name."""

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image: what a model must accept."""
        c, h, w = self.train_x.shape[1:]
        return c, h, w

    def split(self, name: str) -> tuple[Tensor, Tensor]:
        """(images, labels) of the split ``name``: "train", "val" or "test"."""
        if name not in SPLIT_NAMES:
            raise ValueError(f"unknown split {name!r}; one of {', '.join(SPLIT_NAMES)}")
        return getattr(self, f"{name}_x"), getattr(self, f"{name}_y")


def check_batch_fits(batch_size: int, splits: DataSplits, n_masks: int = 1) -> None:
    """Refuse a batch larger than the training split: no full batch could ever be drawn.
    With ``n_masks`` > 1 (a vector env's num_envs) the message names what the user set."""
    n = len(splits.train_y)
    if batch_size <= n:
        return
    if n_masks > 1:
        raise DatasetError(
            f"num_envs {n_masks} x samples_per_mask {batch_size // n_masks} = {batch_size} "
            f"images per step exceed the training split of {splits.name} ({n} images); use "
            f"num_envs x samples_per_mask <= {n}"
        )
    raise DatasetError(
        f"batch size {batch_size} is larger than the training split of {splits.name} "
        f"({n} images); use a batch size of at most {n}"
    )


def make_splits(
    name: str,
    train: tuple[Tensor, Tensor],
    test: tuple[Tensor, Tensor],
    num_classes: int,
    val: tuple[Tensor, Tensor] | None = None,
) -> DataSplits:
    """The splits of data set ``name`` from (images, labels) pairs: ``val`` as given, else held
    out of ``train`` (:func:`hold_out`); normalised with the training images' statistics."""
    if num_classes < 2:
        raise DatasetError(
            f"data set {name} has {num_classes} class; classification needs at least 2 "
            "(one sub-folder per class under train/ and test/)"
        )
    if val is None:
        train, val = hold_out(name, *train)
    mean, std = channel_stats(train[0])
    (train_x, train_y), (val_x, val_y), (test_x, test_y) = train, val, test
    return DataSplits(
        train_x.contiguous(),
        train_y.long(),
        val_x.contiguous(),
        val_y.long(),
        test_x.contiguous(),
        test_y.long(),
        num_classes,
        mean,
        std,
        name,
    )


def hold_out(
    name: str, x: Tensor, y: Tensor, size: int | None = None
) -> tuple[tuple[Tensor, Tensor], ...]:
    """(train, val): ``size`` images (default: ``VAL_SIZES`` of a named data set, else
    ``VAL_FRACTION``), drawn with ``VAL_SEED``, become val; the rest keep their order."""
    n = len(y)
    if size is None:
        size = VAL_SIZES.get(name, max(1, round(VAL_FRACTION * n)))
    if n < 2 * size:
        raise DatasetError(
            f"data set {name} has {n} training images: too few to hold out {size} as its "
            f"validation split (needs at least {2 * size}); add images, or give a val/ folder"
        )
    order = torch.randperm(n, generator=torch.Generator().manual_seed(VAL_SEED))
    val, train = order[:size], order[size:].sort().values
    return (x[train], y[train]), (x[val], y[val])


def channel_stats(x: Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std in [0, 1], in chunks so a large set never exists as float."""
    total = torch.zeros(x.shape[1], dtype=torch.float64)
    square = torch.zeros_like(total)
    for chunk in x.split(4096):
        f = chunk.to(torch.float64)
        total += f.sum((0, 2, 3))
        square += f.square().sum((0, 2, 3))
    n = x.shape[0] * x.shape[2] * x.shape[3]
    mean = total / n
    std = (square / n - mean.square()).clamp_min(0).sqrt()
    return tuple((mean / 255).tolist()), tuple((std / 255).tolist())
