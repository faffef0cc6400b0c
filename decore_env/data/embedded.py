"""The data sets shipped inside the package: class-balanced subsets of MNIST, Fashion-MNIST and
CIFAR-10 (built by ``scripts/build_embedded_data.py``; licences beside them in ``assets/``).

They make every suite task work offline and identically on every machine. The CIFAR-10
subset ships as its source's JPEG files, decoded once into ``$DECORE_CACHE`` (keyed by the
file's sha256), checked against the reference decode, and read from there afterwards.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import io
import warnings

import numpy as np
import torch

from decore_env.common.files import atomic_write, cache_dir
from decore_env.data.splits import DatasetError, DataSplits, make_splits

EMBEDDED_FILES = {
    "embedded": "mnist_subset.npz",
    "embedded_fashion_mnist": "fashion_mnist_subset.npz",
    "embedded_cifar10": "cifar10_subset.npz",
}
"""Each embedded data set's name and file in the package's assets: 12,000 + 6,000 MNIST
digits, 10,000 + 2,000 Fashion-MNIST images, 15,000 + 3,000 CIFAR-10 images (train + test;
val is held out of train)."""


DECODED_SHA256 = {
    "embedded_cifar10": "de5b531eed782737bbfa92771a8bba1051b5483e6b711f6aa6849b89a69bfa30"
}
"""sha256 of a JPEG subset's decoded pixels (train, then test, N x 3 x H x W uint8) as
Pillow's libjpeg-turbo decodes them (torchvision's decoder gives the same bytes)."""


def load_embedded(name: str) -> DataSplits:
    """The embedded data set ``name`` (a key of :data:`EMBEDDED_FILES`)."""
    data = _asset_bytes(name)
    with np.load(io.BytesIO(data)) as f:
        arrays = {k: f[k] for k in f.files}
    if "jpeg_train" in arrays:
        arrays = _decoded(name, data, arrays)
    x_train, x_test = (torch.from_numpy(arrays[k]) for k in ("x_train", "x_test"))
    if x_train.ndim == 3:  # grey 28x28: add the channel axis
        x_train, x_test = x_train.unsqueeze(1), x_test.unsqueeze(1)
    y_train, y_test = (torch.from_numpy(arrays[k]) for k in ("y_train", "y_test"))
    return make_splits(name, (x_train, y_train), (x_test, y_test), 10)


def _asset_bytes(name: str) -> bytes:
    resource = importlib.resources.files("decore_env").joinpath("assets", EMBEDDED_FILES[name])
    if not resource.is_file():
        raise DatasetError(
            f"the embedded data set {name!r} ({EMBEDDED_FILES[name]}) is missing from the "
            "installed package; reinstall it, or rebuild it with "
            "`python scripts/build_embedded_data.py`"
        )
    return resource.read_bytes()


def _decoded(name: str, data: bytes, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Pixels of a JPEG subset (uint8 N x 3 x H x W), from the cache or decoded into it; a
    decode that differs from the reference one (another JPEG library) is warned about."""
    path = cache_dir() / "data" / f"{name}-{hashlib.sha256(data).hexdigest()[:16]}.npz"
    if path.is_file():
        with np.load(path) as f:
            return {k: f[k] for k in f.files}
    from PIL import Image  # lazy: only the JPEG subset needs it (a torchvision dependency)

    decoded = {}
    digest = hashlib.sha256()
    for split in ("train", "test"):
        blob, offsets = arrays[f"jpeg_{split}"], arrays[f"offsets_{split}"]
        images = [
            np.asarray(Image.open(io.BytesIO(blob[a:b].tobytes())).convert("RGB"))
            for a, b in zip(offsets, offsets[1:], strict=False)
        ]
        decoded[f"x_{split}"] = np.ascontiguousarray(np.stack(images).transpose(0, 3, 1, 2))
        decoded[f"y_{split}"] = arrays[f"y_{split}"]
        digest.update(decoded[f"x_{split}"].tobytes())
    if digest.hexdigest() != DECODED_SHA256.get(name, digest.hexdigest()):
        warnings.warn(
            f"the JPEG decoder here gives {name} other pixels than the reference decode "
            "(libjpeg-turbo's, through Pillow and torchvision alike): its tasks differ slightly "
            "from those of the committed results",
            stacklevel=3,
        )
    atomic_write(path, lambda f: np.savez(f, **decoded))
    return decoded
