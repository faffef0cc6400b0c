"""Train the baselines that ship in the package, and print what to record.

Each is a registry network trained on an embedded data set's training split (its val split
held out) with the schedule of :func:`decore_env.task.weights.task_schedule`, seed 0, on the
CPU, written in the one checkpoint format to ``decore_env/assets/<model>-<dataset>.pt``. Put
each printed sha256 in ``decore_env.task.weights.SHIPPED_WEIGHTS`` (and the default task's in
the README). The bits depend on the CPU's floating-point rounding: that is why the weights
ship instead of being trained on first use. Run from the repository root (LeNet-5: about
20 s on 2 CPU cores; ResNet-20 on the CIFAR-10 subset: about 15 minutes, ResNet-32 about 30):

    python scripts/train_default_weights.py                    # every suite baseline
    python scripts/train_default_weights.py lenet5-embedded    # one: MODEL-DATASET
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import torch

from decore_env.data.sets import load_dataset
from decore_env.envs.suite import shipped_baselines
from decore_env.task.defaults import DEFAULT_DATASET, DEFAULT_MODEL
from decore_env.task.weights import REBUILD_WEIGHTS, task_schedule, weights_file
from decore_env.training.baseline import train_baseline

ASSETS = Path(__file__).resolve().parents[1] / "decore_env" / "assets"
DEFAULT = (DEFAULT_MODEL, DEFAULT_DATASET)
"""The default task's baseline records the bare command, as its shipped file does (its sha256
covers the command too)."""
SEED = 0
"""The seed of the shipped weights."""


def main() -> int:
    names = {f"{model}-{dataset}": (model, dataset) for model, dataset in shipped_baselines()}
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("baselines", nargs="*", metavar="MODEL-DATASET", help=", ".join(names))
    args = parser.parse_args()
    unknown = sorted(set(args.baselines) - set(names))
    if unknown:
        parser.error(f"unknown baselines {unknown}; the shipped ones: {', '.join(names)}")
    torch.set_num_threads(2)
    for name in args.baselines or names:
        model, dataset = names[name]
        path = train_baseline(
            ASSETS / weights_file(model, dataset),
            model,
            load_dataset(dataset),
            task_schedule(dataset),
            SEED,
            "cpu",
            command=REBUILD_WEIGHTS if (model, dataset) == DEFAULT else f"{REBUILD_WEIGHTS} {name}",
        )
        checkpoint = torch.load(path, weights_only=True)
        print(f"wrote {path.relative_to(ASSETS.parents[1])}")
        print(f"  sha256 {hashlib.sha256(path.read_bytes()).hexdigest()}")
        print(f"  val accuracy {checkpoint['val_accuracy']:.4f}, test {checkpoint['accuracy']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
