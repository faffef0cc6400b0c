"""Image folders as data sets: ``DIR/train/<class>/<image>``, ``DIR/test/...``, optionally
``DIR/val/...``."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import Tensor

from decore_env.data.splits import VAL_FRACTION, DatasetError, DataSplits, hold_out, make_splits

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp")
FOLDER_LAYOUT = (
    "DIR/train/<class>/<image> and DIR/test/<class>/<image> (and optionally DIR/val/<class>/"
    "<image>; without it, val is held out of train)"
)


def load_folder(path: Path) -> DataSplits:
    """Decode an image folder (``FOLDER_LAYOUT``) once into uint8 tensors.

    Classes are the sorted sub-folder names of ``train``. The first training image fixes the
    channels (1 stays grayscale, anything else becomes RGB) and the size: images of another
    size are resized to it (antialiased), so one tensor can hold the split. Without a val/
    folder, the val split is held out of train (:func:`~decore_env.data.splits.hold_out`).
    """
    if not path.is_dir():
        raise DatasetError(f"data folder {path} not found; expected {FOLDER_LAYOUT}")
    if not (path / "train").is_dir() or not (path / "test").is_dir():
        raise DatasetError(
            f"data folder {path} needs a train/ and a test/ sub-folder; expected {FOLDER_LAYOUT}"
        )
    classes = sorted(d.name for d in (path / "train").iterdir() if d.is_dir())
    if not classes:
        raise DatasetError(f"{path / 'train'} has no class sub-folders; expected {FOLDER_LAYOUT}")
    names = [s for s in ("train", "val", "test") if (path / s).is_dir()]
    listed = {s: _list_images(path / s, classes) for s in names}
    with warnings.catch_warnings():
        # torchvision 0.29 deprecates its decoders in favour of torchcodec, not yet a dependency
        warnings.simplefilter("ignore", DeprecationWarning)
        first = _decode(listed["train"][0][0], None)
        like = (first.shape[0] if first.shape[0] == 1 else 3, tuple(first.shape[1:]))
        splits = {
            s: (torch.stack([_decode(f, like) for f in files]), labels)
            for s, (files, labels) in listed.items()
        }
    name, train = path.resolve().name, splits["train"]
    if "val" not in splits:  # a folder's own share, whatever its name
        size = max(1, round(VAL_FRACTION * len(train[1])))
        train, splits["val"] = hold_out(name, *train, size=size)
    return make_splits(name, train, splits["test"], len(classes), splits["val"])


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
