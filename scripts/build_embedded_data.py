"""Build the embedded default data set: a class-balanced MNIST subset shipped inside the package.

It lets `decore demo` and the tests run offline on a fresh install. Run once from the repository
root; the output is committed:

    python scripts/build_embedded_data.py [--raw /work/shared/data/MNIST/raw]
"""

from __future__ import annotations

import argparse
import gzip
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "decore_env" / "assets" / "mnist_subset.npz"
LICENSE = OUT.with_name("LICENSE-mnist-subset.txt")
DEFAULT_RAW = ROOT.parent / "shared" / "data" / "MNIST" / "raw"
SEED = 20240607
TRAIN_PER_CLASS = 1200
TEST_PER_CLASS = 600
MAX_BYTES = 5 * 1024 * 1024


def read_idx(path: Path) -> np.ndarray:
    """Parse a gzipped idx file (big-endian header: magic, then one uint32 per dimension)."""
    data = gzip.decompress(path.read_bytes())
    if data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte idx file")
    ndim = data[3]
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def balanced(x: np.ndarray, y: np.ndarray, per_class: int, rng: np.random.Generator):
    """Pick `per_class` random images of every class, then shuffle so classes interleave."""
    idx = np.concatenate(
        [rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in range(10)]
    )
    idx = rng.permutation(idx)
    return np.ascontiguousarray(x[idx]), y[idx].astype(np.uint8)


def build(raw: Path, train_per_class: int) -> int:
    """Write the npz and its licence note; return the npz size in bytes."""
    rng = np.random.default_rng(SEED)
    x_train, y_train = balanced(
        read_idx(raw / "train-images-idx3-ubyte.gz"),
        read_idx(raw / "train-labels-idx1-ubyte.gz"),
        train_per_class,
        rng,
    )
    x_test, y_test = balanced(
        read_idx(raw / "t10k-images-idx3-ubyte.gz"),
        read_idx(raw / "t10k-labels-idx1-ubyte.gz"),
        TEST_PER_CLASS,
        rng,
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    LICENSE.write_text(
        "MNIST subset embedded in decore-env\n"
        "===================================\n\n"
        "The MNIST database of handwritten digits is by Yann LeCun, Corinna Cortes and\n"
        "Christopher J.C. Burges (http://yann.lecun.com/exdb/mnist/), made available under\n"
        "the Creative Commons Attribution-Share Alike 3.0 licence (CC BY-SA 3.0,\n"
        "https://creativecommons.org/licenses/by-sa/3.0/).\n\n"
        "mnist_subset.npz is a class-balanced subset of it, as adapted by the decore-env\n"
        "authors and shared under the same licence:\n"
        f"- x_train/y_train: {10 * train_per_class:,} images ({train_per_class:,} per class)"
        " drawn from MNIST's training split;\n"
        f"- x_test/y_test: {10 * TEST_PER_CLASS:,} images ({TEST_PER_CLASS:,} per class)"
        " drawn from MNIST's test split;\n"
        "- images unchanged: uint8, 28x28, labels 0-9 as uint8.\n"
        f"Built by scripts/build_embedded_data.py (numpy seed {SEED}) from the four original\n"
        "gzipped idx files.\n"
    )
    return OUT.stat().st_size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, default=DEFAULT_RAW, help="folder of the idx .gz files")
    args = parser.parse_args()
    per_class = TRAIN_PER_CLASS
    while (size := build(args.raw, per_class)) > MAX_BYTES:
        per_class -= 100
        print(f"{size:,} bytes is over {MAX_BYTES:,}; retrying with {per_class} per class")
    print(f"wrote {OUT} ({size:,} bytes, {10 * per_class} train / {10 * TEST_PER_CLASS} test)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
