"""Train the default task's baseline that ships in the package, and print what to record.

LeNet-5 on the embedded MNIST subset's training split (its val split held out), with the
schedule of :func:`decore_env.task.weights.task_schedule`, seed 0, on the CPU, written in
the one checkpoint format to ``decore_env/assets/lenet5-embedded.pt``. Put the printed sha256
in ``decore_env.task.weights.DEFAULT_WEIGHTS_SHA256`` and the README. The bits depend on the
CPU's floating-point rounding: that is why the weights ship instead of being trained on first
use. Run from the repository root (about 20 s on 2 CPU cores):

    python scripts/train_default_weights.py
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from decore_env.data.sets import load_dataset
from decore_env.task.defaults import DEFAULT_DATASET, DEFAULT_MODEL
from decore_env.task.weights import DEFAULT_WEIGHTS, task_schedule
from decore_env.training.baseline import train_baseline

ASSETS = Path(__file__).resolve().parents[1] / "decore_env" / "assets"
SEED = 0
"""The seed of the shipped weights."""


def main() -> None:
    torch.set_num_threads(2)
    splits = load_dataset(DEFAULT_DATASET)
    path = train_baseline(
        ASSETS / DEFAULT_WEIGHTS,
        DEFAULT_MODEL,
        splits,
        task_schedule(DEFAULT_DATASET),
        SEED,
        "cpu",
        command="python scripts/train_default_weights.py",
    )
    checkpoint = torch.load(path, weights_only=True)
    print(f"wrote {path.relative_to(ASSETS.parents[1])}")
    print(f"sha256 {hashlib.sha256(path.read_bytes()).hexdigest()}")
    print(f"val accuracy {checkpoint['val_accuracy']:.4f}, test {checkpoint['accuracy']:.4f}")


if __name__ == "__main__":
    main()
