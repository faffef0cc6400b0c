"""Data sets as uint8 tensors, and a loader that keeps a whole split on the device.

Every split of the data sets used here fits in device memory as uint8 (CIFAR-10's train split is
150 MB), so batches are gathered, augmented and normalised on the device with no worker
processes and no per-sample Python, as in the airbench CIFAR-10 speed records.
"""

from __future__ import annotations

import importlib.resources
import io
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from decore_env.spec import derive_seed

DATASET_NAMES = ("embedded", "mnist", "fashion_mnist", "cifar10", "cifar100")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp")
FOLDER_LAYOUT = "DIR/train/<class>/<image> and DIR/test/<class>/<image> (or DIR/val/...)"
_TORCHVISION = {  # torchvision class, classes, where torchvision looks for the files under root
    "mnist": ("MNIST", 10, "MNIST/raw/ (the four idx files, gunzipped)"),
    "fashion_mnist": ("FashionMNIST", 10, "FashionMNIST/raw/ (the four idx files, gunzipped)"),
    "cifar10": ("CIFAR10", 10, "cifar-10-batches-py/ (the python version, extracted)"),
    "cifar100": ("CIFAR100", 100, "cifar-100-python/ (the python version, extracted)"),
}
_DIGITS = ("embedded", "mnist")


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


def default_root() -> Path:
    """Where torchvision data sets are stored: $DECORE_DATA, else ~/.cache/decore/data."""
    return Path(os.environ.get("DECORE_DATA", Path.home() / ".cache" / "decore" / "data"))


def load_dataset(
    name_or_path: str | Path, root: str | Path | None = None, download: bool = True
) -> DataSplits:
    """Load a data set by name (see DATASET_NAMES) or from an image folder.

    :param name_or_path: "embedded" (an MNIST subset shipped in the package, works offline),
        a torchvision name, or a directory laid out as ``FOLDER_LAYOUT``. A registered name
        wins over a folder of that name in the working directory: write ``./mnist`` for it.
    :param root: folder for torchvision data sets; default :func:`default_root`.
    :param download: let torchvision fetch missing files into ``root``.
    :raises DatasetError: unknown name, missing files, or a folder with the wrong layout.
    """
    if isinstance(name_or_path, str) and name_or_path in DATASET_NAMES:
        if name_or_path == "embedded":
            return _load_embedded()
        return _load_torchvision(name_or_path, Path(root) if root else default_root(), download)
    path = Path(name_or_path)
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or path.is_dir() or "/" in text or os.sep in text:
        return _load_folder(path)
    raise DatasetError(
        f"unknown data set {name_or_path!r}; valid names: {', '.join(DATASET_NAMES)}, "
        f"or a directory path laid out as {FOLDER_LAYOUT}"
    )


def check_batch_fits(batch_size: int, splits: DataSplits) -> None:
    """Refuse a batch larger than the training split: no full batch could ever be drawn."""
    if batch_size > len(splits.train_y):
        raise DatasetError(
            f"batch size {batch_size} is larger than the training split of {splits.name} "
            f"({len(splits.train_y)} images); use a batch size of at most {len(splits.train_y)}"
        )


def _splits(
    name: str, train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor, num_classes: int
) -> DataSplits:
    if num_classes < 2:
        raise DatasetError(
            f"data set {name} has {num_classes} class; classification needs at least 2 "
            "(one sub-folder per class under train/ and test/)"
        )
    mean, std = _channel_stats(train_x)
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


def _channel_stats(x: Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
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


def _load_embedded() -> DataSplits:
    data = importlib.resources.files("decore_env").joinpath("assets/mnist_subset.npz")
    with np.load(io.BytesIO(data.read_bytes())) as f:
        arrays = {k: torch.from_numpy(f[k]) for k in ("x_train", "y_train", "x_test", "y_test")}
    return _splits(
        "embedded",
        arrays["x_train"].unsqueeze(1),
        arrays["y_train"],
        arrays["x_test"].unsqueeze(1),
        arrays["y_test"],
        10,
    )


def _load_torchvision(name: str, root: Path, download: bool) -> DataSplits:
    import torchvision.datasets

    cls_name, num_classes, layout = _TORCHVISION[name]
    cls = getattr(torchvision.datasets, cls_name)
    created = not root.exists()
    try:
        train = cls(str(root), train=True, download=download)
        test = cls(str(root), train=False, download=download)
    except (RuntimeError, OSError) as exc:
        if created and root.exists():  # a failed download leaves empty folders behind
            for d in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True) + [root]:
                if not any(d.iterdir()):
                    d.rmdir()
        reason = (
            str(exc).strip().splitlines()[0].rstrip(":") if str(exc).strip() else type(exc).__name__
        )
        raise DatasetError(
            f"data set {name!r} not found in {root} and could not be downloaded ({reason}); "
            f"put the files in {root / layout}, or pass --data-root DIR (or set DECORE_DATA) "
            "to the folder that holds them"
        ) from exc
    return _splits(
        name,
        _as_nchw(train.data),
        torch.as_tensor(train.targets),
        _as_nchw(test.data),
        torch.as_tensor(test.targets),
        num_classes,
    )


def _as_nchw(data: Tensor | np.ndarray) -> Tensor:
    """MNIST-style (N, H, W) tensors and CIFAR-style (N, H, W, C) arrays to (N, C, H, W)."""
    x = torch.as_tensor(data)
    return x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)


def _load_folder(path: Path) -> DataSplits:
    """Decode an ImageFolder layout once into uint8 tensors.

    Classes are the sorted sub-folder names of ``train``. The first training image fixes the
    channels (1 stays grayscale, anything else becomes RGB) and the size: images of another
    size are resized to it (antialiased), so one tensor can hold the split.
    """
    if not path.is_dir():
        raise DatasetError(f"data folder {path} not found; expected {FOLDER_LAYOUT}")
    test_dir = next((path / s for s in ("test", "val") if (path / s).is_dir()), None)
    if not (path / "train").is_dir() or test_dir is None:
        raise DatasetError(
            f"data folder {path} needs a train/ and a test/ (or val/) sub-folder; "
            f"expected {FOLDER_LAYOUT}"
        )
    classes = sorted(d.name for d in (path / "train").iterdir() if d.is_dir())
    if not classes:
        raise DatasetError(f"{path / 'train'} has no class sub-folders; expected {FOLDER_LAYOUT}")
    train_files, train_y = _list_images(path / "train", classes)
    test_files, test_y = _list_images(test_dir, classes)
    with warnings.catch_warnings():
        # torchvision 0.29 deprecates its decoders in favour of torchcodec, not yet a dependency
        warnings.simplefilter("ignore", DeprecationWarning)
        first = _decode(train_files[0], None)
        mode = first.shape[0] if first.shape[0] == 1 else 3
        size = tuple(first.shape[1:])
        train_x = torch.stack([_decode(f, (mode, size)) for f in train_files])
        test_x = torch.stack([_decode(f, (mode, size)) for f in test_files])
    return _splits(path.resolve().name, train_x, train_y, test_x, test_y, len(classes))


def _list_images(split_dir: Path, classes: list[str]) -> tuple[list[Path], Tensor]:
    index = {c: i for i, c in enumerate(classes)}
    files, labels = [], []
    for d in sorted(p for p in split_dir.iterdir() if p.is_dir()):
        if d.name not in index:
            raise DatasetError(
                f"{d} is a class that {split_dir.parent / 'train'} lacks; both splits need the "
                f"same class folders ({FOLDER_LAYOUT})"
            )
        found = sorted(f for f in d.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        files += found
        labels += [index[d.name]] * len(found)
    if not files:
        raise DatasetError(
            f"{split_dir} holds no images ({', '.join(IMAGE_SUFFIXES)}) in class sub-folders; "
            f"expected {FOLDER_LAYOUT}"
        )
    return files, torch.tensor(labels, dtype=torch.int64)


def _decode(file: Path, like: tuple[int, tuple[int, ...]] | None) -> Tensor:
    """Decode one image; with ``like=(channels, (H, W))``, convert and resize it to match."""
    from torchvision.io import ImageReadMode, decode_image
    from torchvision.transforms.v2.functional import resize

    if like is None:
        mode = ImageReadMode.UNCHANGED
    else:
        mode = ImageReadMode.GRAY if like[0] == 1 else ImageReadMode.RGB
    try:
        img = decode_image(str(file), mode=mode)
    except RuntimeError as exc:
        raise DatasetError(f"cannot decode image {file}: {exc}") from exc
    if like is not None and tuple(img.shape[1:]) != like[1]:
        img = resize(img, list(like[1]), antialias=True)
    return img


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
    return Augment(pad=2 if side < 32 else side // 8, flip=splits.name not in _DIGITS)


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
