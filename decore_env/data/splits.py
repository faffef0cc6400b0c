"""A data set's splits as uint8 tensors, small enough to keep on the device."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

SPLIT_NAMES = ("train", "test")
"""The splits every data set has."""


class DatasetError(ValueError):
    """A data set that cannot be found or read; the message names it, where we looked, the fix."""


@dataclass(frozen=True)
class DataSplits:
    """A data set's train and test splits, kept as uint8 so that they fit on the device."""

    train_x: Tensor
    """Training images, uint8 (N, C, H, W)."""
    train_y: Tensor
    """Training labels, int64 (N,)."""
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
        """(images, labels) of the split ``name``: "train" or "test"."""
        if name not in SPLIT_NAMES:
            raise ValueError(f"unknown split {name!r}; one of {', '.join(SPLIT_NAMES)}")
        return getattr(self, f"{name}_x"), getattr(self, f"{name}_y")


def check_batch_fits(batch_size: int, splits: DataSplits) -> None:
    """Refuse a batch larger than the training split: no full batch could ever be drawn."""
    if batch_size > len(splits.train_y):
        raise DatasetError(
            f"batch size {batch_size} is larger than the training split of {splits.name} "
            f"({len(splits.train_y)} images); use a batch size of at most {len(splits.train_y)}"
        )


def make_splits(
    name: str, train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor, num_classes: int
) -> DataSplits:
    """The splits of data set ``name``, with the training images' channel statistics."""
    if num_classes < 2:
        raise DatasetError(
            f"data set {name} has {num_classes} class; classification needs at least 2 "
            "(one sub-folder per class under train/ and test/)"
        )
    mean, std = channel_stats(train_x)
    return DataSplits(
        train_x.contiguous(),
        train_y.long(),
        test_x.contiguous(),
        test_y.long(),
        num_classes,
        mean,
        std,
        name,
    )


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
