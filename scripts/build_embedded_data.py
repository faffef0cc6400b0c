"""Build the embedded data sets: class-balanced subsets of MNIST, Fashion-MNIST and CIFAR-10
shipped inside the package, so that the suite's tasks run offline on a fresh install.

Run from the repository root; the outputs (and a licence note beside each) are committed:

    python scripts/build_embedded_data.py [--data ../shared/data] [--sets mnist cifar10]

MNIST and Fashion-MNIST come from the four gzipped idx files of each; CIFAR-10 from the JPEG
copy (``cifar10-jpeg.tar.gz``, ImageFolder layout), whose JPEG bytes are stored unchanged
(decoding them is the package's job, once, into its cache).
"""

from __future__ import annotations

import argparse
import gzip
import io
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "decore_env" / "assets"
DEFAULT_DATA = ROOT.parent / "shared" / "data"
SEED = 20240607
"""numpy seed of every subset's draw (the MNIST subset's since its first release)."""


@dataclass(frozen=True)
class Subset:
    """One embedded subset: where it comes from, how many images per class, its licence."""

    file: str
    source: str
    train_per_class: int
    test_per_class: int
    licence: str


SUBSETS = {
    "mnist": Subset(
        "mnist_subset.npz",
        "MNIST/raw",
        1200,
        600,
        "The MNIST database of handwritten digits is by Yann LeCun, Corinna Cortes and\n"
        "Christopher J.C. Burges (http://yann.lecun.com/exdb/mnist/), made available under\n"
        "the Creative Commons Attribution-Share Alike 3.0 licence (CC BY-SA 3.0,\n"
        "https://creativecommons.org/licenses/by-sa/3.0/).",
    ),
    "fashion_mnist": Subset(
        "fashion_mnist_subset.npz",
        "FashionMNIST/raw",
        1000,
        200,
        "Fashion-MNIST is by Han Xiao, Kashif Rasul and Roland Vollgraf, Zalando Research\n"
        "(https://github.com/zalandoresearch/fashion-mnist), released under the MIT licence:\n"
        "Copyright (c) 2017 Zalando SE. Permission is hereby granted, free of charge, to any\n"
        "person obtaining a copy of this software and associated documentation files, to\n"
        "deal in them without restriction, provided the copyright notice and this permission\n"
        "notice are included in all copies or substantial portions. THE SOFTWARE IS PROVIDED\n"
        '"AS IS", WITHOUT WARRANTY OF ANY KIND.',
    ),
    "cifar10": Subset(
        "cifar10_subset.npz",
        "cifar10-jpeg.tar.gz",
        1500,
        300,
        "CIFAR-10 is by Alex Krizhevsky, Vinod Nair and Geoffrey Hinton\n"
        "(https://www.cs.toronto.edu/~kriz/cifar.html; Krizhevsky, 'Learning Multiple Layers\n"
        "of Features from Tiny Images', 2009). It is published without an explicit licence;\n"
        "the authors ask that the technical report be cited when it is used. This subset is\n"
        "drawn from a public JPEG re-encoding of it (quality about 75, 4:2:0 chroma), whose\n"
        "JPEG files are stored unchanged; accuracies on it sit a few points below those on\n"
        "the original images.",
    ),
}
"""The embedded subsets (our sizes: together with the suite's weights the package grows by
under 25 MB)."""


def read_idx(path: Path) -> np.ndarray:
    """Parse a gzipped idx file (big-endian header: magic, then one uint32 per dimension)."""
    data = gzip.decompress(path.read_bytes())
    if data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte idx file")
    ndim = data[3]
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def balanced(y: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of `per_class` random items of every class, shuffled so classes interleave."""
    idx = np.concatenate(
        [rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in range(10)]
    )
    return rng.permutation(idx)


def idx_arrays(raw: Path, subset: Subset, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Images and labels of an idx-file data set's subset."""
    arrays = {}
    for split, prefix, per_class in (
        ("train", "train", subset.train_per_class),
        ("test", "t10k", subset.test_per_class),
    ):
        x = read_idx(raw / f"{prefix}-images-idx3-ubyte.gz")
        y = read_idx(raw / f"{prefix}-labels-idx1-ubyte.gz")
        idx = balanced(y, per_class, rng)
        arrays[f"x_{split}"] = np.ascontiguousarray(x[idx])
        arrays[f"y_{split}"] = y[idx].astype(np.uint8)
    return arrays


def jpeg_arrays(archive: Path, subset: Subset, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """JPEG bytes (concatenated, with offsets) and labels of an ImageFolder archive's subset;
    classes numbered in sorted order, as ImageFolder and torchvision number CIFAR-10's."""
    files: dict[str, list[tuple[str, str]]] = {"train": [], "test": []}
    with tarfile.open(archive) as tar:  # one pass: a gzipped tar cannot seek back cheaply
        content = {m.name: tar.extractfile(m).read() for m in tar if m.name.endswith(".jpg")}
    for name in sorted(content):
        _, split, label, _ = name.split("/")
        files[split].append((label, name))
    classes = sorted({label for label, _ in files["train"]})
    arrays = {}
    for split, per_class in (("train", subset.train_per_class), ("test", subset.test_per_class)):
        y = np.array([classes.index(label) for label, _ in files[split]], np.uint8)
        idx = balanced(y, per_class, rng)
        blobs = [content[files[split][i][1]] for i in idx]
        arrays[f"jpeg_{split}"] = np.frombuffer(b"".join(blobs), np.uint8)
        arrays[f"offsets_{split}"] = np.cumsum([0] + [len(b) for b in blobs], dtype=np.int64)
        arrays[f"y_{split}"] = y[idx]
    return arrays


def build(name: str, data: Path) -> Path:
    """Write subset ``name`` and its licence note; return the npz's path."""
    subset = SUBSETS[name]
    rng = np.random.default_rng(SEED)
    source = data / subset.source
    if name == "cifar10":
        arrays, layout = jpeg_arrays(source, subset, rng), "JPEG files unchanged, 32x32 RGB"
        save = np.savez  # JPEG bytes do not compress further
    else:
        arrays, layout = idx_arrays(source, subset, rng), "images unchanged: uint8, 28x28"
        save = np.savez_compressed
    out = ASSETS / subset.file
    buffer = io.BytesIO()
    save(buffer, **arrays)
    out.write_bytes(buffer.getvalue())
    title = f"{out.name}: a subset embedded in decore-env"
    train, test = 10 * subset.train_per_class, 10 * subset.test_per_class
    out.with_name(f"LICENSE-{out.stem.replace('_', '-')}.txt").write_text(
        f"{title}\n{'=' * len(title)}\n\n{subset.licence}\n\n"
        "The subset is class-balanced and shared under the same terms:\n"
        f"- train: {train:,} images ({subset.train_per_class:,} per class) drawn from the "
        "training split;\n"
        f"- test: {test:,} images ({subset.test_per_class:,} per class) drawn from the test "
        "split;\n"
        f"- {layout}; labels 0-9 as uint8.\n"
        f"Built by scripts/build_embedded_data.py (numpy seed {SEED}) from {subset.source}.\n"
    )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    parser.add_argument("--sets", nargs="+", choices=sorted(SUBSETS), default=sorted(SUBSETS))
    args = parser.parse_args()
    missing = [str(args.data / SUBSETS[n].source) for n in args.sets]
    missing = [m for m in missing if not Path(m).exists()]
    if missing:
        print(f"error: not found: {', '.join(missing)}; pass --data DIR", file=sys.stderr)
        return 2
    for name in args.sets:
        out = build(name, args.data)
        print(f"wrote {out.relative_to(ROOT)} ({out.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
