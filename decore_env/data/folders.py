"""Image folders as data sets: ``DIR/train/<class>/<image>`` and ``DIR/test/<class>/<image>``."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import Tensor

from decore_env.data.splits import DatasetError, DataSplits, make_splits

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp")
FOLDER_LAYOUT = "DIR/train/<class>/<image> and DIR/test/<class>/<image> (or DIR/val/...)"


def load_folder(path: Path) -> DataSplits:
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
    return make_splits(path.resolve().name, train_x, train_y, test_x, test_y, len(classes))


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
