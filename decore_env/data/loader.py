"""A loader that keeps a whole split on the device: batches gathered, augmented and
normalised there, with no worker processes and no per-sample Python."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from decore_env.common.seeds import derive_seed
from decore_env.data.splits import DataSplits

NO_FLIP = ("embedded", "mnist")
"""Data sets whose images are not flipped in augmentation (digits)."""


@dataclass(frozen=True)
class Augment:
    """On-device training augmentation."""

    pad: int = 0
    """Random-crop padding in pixels (zero padding, crop back to the original size); 0 = off."""
    flip: bool = False
    """Random horizontal flips; off for digits, where a mirrored 2 is no longer a 2."""


def default_augment(splits: DataSplits) -> Augment:
    """Crop padding 2 for small (28x28) images and 1/8 of the side from 32x32 up; flips except
    for digits."""
    side = min(splits.input_shape[1:])
    return Augment(pad=2 if side < 32 else side // 8, flip=splits.name not in NO_FLIP)


class TensorLoader:
    """Batches of one split, held whole on ``device`` as uint8 and sampled there.

    Iterating runs to the end of the current epoch (a fresh, reshuffled epoch when none is
    open), so a loader restored with :meth:`load_state_dict` continues mid-epoch.
    :meth:`next_batch` samples endlessly across epochs. The order and the augmentation come from
    two ``torch.Generator``s on ``device`` whose seeds are derived from ``seed`` (one for the
    order, one for the augmentation): the same seed on the same device gives the same batches.
    """

    def __init__(
        self,
        x: Tensor,
        y: Tensor,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        batch_size: int,
        *,
        device: str | torch.device = "cpu",
        shuffle: bool = True,
        drop_last: bool = False,
        augment: Augment | None = None,
        seed: int = 0,
        channels_last: bool = False,
    ) -> None:
        """:param channels_last: return NHWC-strided batches (faster convs on CUDA)."""
        self.device = torch.device(device)
        self.x = x.to(self.device)
        self.y = y.to(self.device)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.augment = augment or Augment()
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        shape = (1, -1, 1, 1)
        self._shift = torch.tensor(mean, device=self.device).view(shape) * 255
        self._scale = 1 / (torch.tensor(std, device=self.device).view(shape) * 255)
        self.generator = torch.Generator(self.device)
        self.augment_generator = torch.Generator(self.device)
        self._perm: Tensor | None = None
        self.reseed(seed)
        if len(self) == 0:
            raise ValueError(f"{len(self.x)} samples make no batch of {batch_size} (drop_last)")

    @classmethod
    def training(
        cls,
        splits: DataSplits,
        batch_size: int,
        device: str | torch.device = "cpu",
        *,
        seed: int = 0,
        augment: bool = True,
        drop_last: bool = True,
    ) -> TensorLoader:
        """The shuffled train split with the data set's default augmentation, NHWC batches
        on CUDA (faster convs there)."""
        device = torch.device(device)
        return cls(
            splits.train_x,
            splits.train_y,
            splits.mean,
            splits.std,
            batch_size,
            device=device,
            drop_last=drop_last,
            augment=default_augment(splits) if augment else None,
            seed=seed,
            channels_last=device.type == "cuda",
        )

    def __len__(self) -> int:
        """Batches per epoch."""
        n = len(self.x)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        if self._perm is None or self._pos >= len(self):
            self._new_epoch()
        while self._pos < len(self):
            yield self.next_batch()

    def next_batch(self) -> tuple[Tensor, Tensor]:
        """The next (float images, int64 labels) batch, starting a new epoch when one ends."""
        if self._perm is None or self._pos >= len(self):
            self._new_epoch()
        start = self._pos * self.batch_size
        idx = self._perm[start : start + self.batch_size]
        self._pos += 1
        return self._images(self.x[idx]), self.y[idx]

    def state_dict(self) -> dict:
        """Everything needed to continue the same sequence of batches."""
        return {
            "generator": self.generator.get_state(),
            "augment_generator": self.augment_generator.get_state(),
            "perm": None if self._perm is None else self._perm.cpu(),
            "pos": self._pos,
            "epoch": self.epoch,
        }

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.augment_generator.set_state(state["augment_generator"])
        self._perm = None if state["perm"] is None else state["perm"].to(self.device)
        self._pos = state["pos"]
        self.epoch = state["epoch"]

    def reseed(self, seed: int) -> None:
        """Restart from a fresh epoch with order and augmentation seeded from ``seed``."""
        self.generator.manual_seed(derive_seed(seed, "data"))
        self.augment_generator.manual_seed(derive_seed(seed, "augment"))
        self._perm, self._pos, self.epoch = None, 0, 0

    def _new_epoch(self) -> None:
        n = len(self.x)
        if self.shuffle:
            self._perm = torch.randperm(n, generator=self.generator, device=self.device)
        else:
            self._perm = torch.arange(n, device=self.device)
        self._pos = 0
        self.epoch += 1

    def _images(self, x: Tensor) -> Tensor:
        """Augment uint8 images with one batched gather, then normalise to float."""
        pad, flip = self.augment.pad, self.augment.flip
        if pad or flip:
            b, _, h, w = x.shape
            x = torch.nn.functional.pad(x, (pad, pad, pad, pad))
            dy, dx = torch.randint(
                0, 2 * pad + 1, (2, b, 1), generator=self.augment_generator, device=self.device
            )
            rows = dy + torch.arange(h, device=self.device)
            cols = torch.arange(w, device=self.device).expand(b, w)
            if flip:
                flips = torch.rand(b, 1, generator=self.augment_generator, device=self.device)
                mirrored = flips < 0.5
                cols = torch.where(mirrored, w - 1 - cols, cols)
            cols = dx + cols
            batch = torch.arange(b, device=self.device).view(b, 1, 1)
            # advanced indices around a slice put their dims first: (B, H, W, C) -> NCHW view
            x = x[batch, :, rows.unsqueeze(2), cols.unsqueeze(1)].permute(0, 3, 1, 2)
        out = x.to(torch.float32, memory_format=self.memory_format)
        return out.sub_(self._shift).mul_(self._scale)
