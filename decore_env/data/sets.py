"""Data sets as uint8 tensors, and a loader that keeps a whole split on the device.

Every split of the data sets used here fits in device memory as uint8 (CIFAR-10's train split is
150 MB), so batches are gathered, augmented and normalised on the device with no worker
processes and no per-sample Python, as in the airbench CIFAR-10 speed records.
"""

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from decore_env.data.embedded import EMBEDDED_FILES, load_embedded
from decore_env.data.folders import FOLDER_LAYOUT, load_folder
from decore_env.data.splits import DatasetError, DataSplits, make_splits

DATASET_NAMES = (*EMBEDDED_FILES, "mnist", "fashion_mnist", "cifar10", "cifar100")
_TORCHVISION = {  # torchvision class, classes, where torchvision looks for the files under root
    "mnist": ("MNIST", 10, "MNIST/raw/ (the four idx files, gunzipped)"),
    "fashion_mnist": ("FashionMNIST", 10, "FashionMNIST/raw/ (the four idx files, gunzipped)"),
    "cifar10": ("CIFAR10", 10, "cifar-10-batches-py/ (the python version, extracted)"),
    "cifar100": ("CIFAR100", 100, "cifar-100-python/ (the python version, extracted)"),
}


def default_root() -> Path:
    """Where torchvision data sets are stored: $DECORE_DATA, else ~/.cache/decore/data."""
    return Path(os.environ.get("DECORE_DATA", Path.home() / ".cache" / "decore" / "data"))


def load_dataset(
    name_or_path: str | Path, root: str | Path | None = None, download: bool = True
) -> DataSplits:
    """Load a data set by name (see DATASET_NAMES) or from an image folder.

    :param name_or_path: an embedded set ("embedded": the MNIST subset,
        "embedded_fashion_mnist", "embedded_cifar10": shipped in the package, offline),
        a torchvision name, or a directory laid out as ``FOLDER_LAYOUT``. A registered name
        wins over a folder of that name in the working directory: write ``./mnist`` for it.
    :param root: folder for torchvision data sets; default :func:`default_root`.
    :param download: let torchvision fetch missing files into ``root``.
    :raises DatasetError: unknown name, missing files, or a folder with the wrong layout.
    """
    if isinstance(name_or_path, str) and name_or_path in DATASET_NAMES:
        if name_or_path in EMBEDDED_FILES:
            return load_embedded(name_or_path)
        return _load_torchvision(name_or_path, Path(root) if root else default_root(), download)
    path = Path(name_or_path)
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or path.is_dir() or "/" in text or os.sep in text:
        return load_folder(path)
    raise DatasetError(
        f"unknown data set {name_or_path!r}; valid names: {', '.join(DATASET_NAMES)}, "
        f"or a directory path laid out as {FOLDER_LAYOUT}"
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
    return make_splits(
        name,
        (_as_nchw(train.data), torch.as_tensor(train.targets)),
        (_as_nchw(test.data), torch.as_tensor(test.targets)),
        num_classes,
    )


def _as_nchw(data: Tensor | np.ndarray) -> Tensor:
    """MNIST-style (N, H, W) tensors and CIFAR-style (N, H, W, C) arrays to (N, C, H, W)."""
    x = torch.as_tensor(data)
    return x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
