"""Images per second of DecoreCompressLeNet-v0: native vector env vs SyncVectorEnv vs bare forward.

Three ways to score the same number of images per step (``--num-envs``, one image per mask,
frozen network):

- native: ``gym.make_vec(..., vectorization_mode="vector_entry_point")``, one batched forward
  pass for all masks, numpy in and out as an RL library would use it;
- sync: Gymnasium's ``SyncVectorEnv`` over ``--num-envs`` single envs with ``batch_size=1``
  (copies of one ``gym.make`` env that share its read-only data set);
- bare: the masked forward pass alone (``gates.masked`` + ``model``) on the very images and
  masks the native env scored, with nothing else: the floor the native env is measured against.

Native and bare run in alternating rounds and the median round counts, so load from other
processes hits both alike. Prints the figures with hardware, versions and the command, and
appends one row per run to ``--csv``.

    python benchmarks/env_throughput.py            # N=256, LeNet-5 on the CPU
    python benchmarks/env_throughput.py --threads 1  # on a machine shared with other jobs

On oversubscribed cores torch's intra-op threads spin-wait and small (batch-1) steps slow down
by an order of magnitude, which flatters the native env; one thread keeps the comparison fair.
"""

from __future__ import annotations

import argparse
import copy
import csv
import io
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

import decore_env  # noqa: F401  (registers the envs)
from agents.report import atomic_write, hardware_info, versions

ENV_ID = "DecoreCompressLeNet-v0"
RESULTS = Path(__file__).resolve().parent / "results" / "env_throughput.csv"


def _seconds_per_step(step: Callable[[int], object], steps: int) -> float:
    start = time.perf_counter()
    for i in range(steps):
        step(i)
    return (time.perf_counter() - start) / steps


def measure(num_envs: int, steps: int, rounds: int, sync_steps: int) -> dict[str, float]:
    """Seconds per step of the native env, the bare forward and the SyncVectorEnv."""
    native = gym.make_vec(ENV_ID, num_envs=num_envs, vectorization_mode="vector_entry_point")
    native.reset(seed=0)
    rng = np.random.default_rng(0)
    masks = [rng.integers(0, 2, native.action_space.shape).astype(np.float32) for _ in range(8)]

    # The images the native env will score, fetched ahead with the loader rewound after.
    core = native.core
    state = core.loader.state_dict()
    batches = [core.loader.next_batch() for _ in range(steps)]
    core.loader.load_state_dict(state)
    mask_tensors = [torch.from_numpy(m) for m in masks]
    model = core.model.eval()

    @torch.no_grad()
    def bare(i: int) -> None:
        with core.gates.masked(mask_tensors[i % 8]):
            model(batches[i][0])

    def native_step(i: int) -> None:
        native.step(masks[i % 8])

    for fn in (bare, native_step):  # warm-up
        fn(0)
    native_times, bare_times = [], []
    for _ in range(rounds):
        native.reset(seed=0)  # same images every round, as the bare pass
        native_times.append(_seconds_per_step(native_step, steps))
        bare_times.append(_seconds_per_step(bare, steps))

    # Copies of one single env share the read-only data set (the memo maps it to itself).
    proto = gym.make(ENV_ID, batch_size=1)
    loader = proto.unwrapped.core.loader
    memo = {id(loader.x): loader.x, id(loader.y): loader.y}
    sync = gym.vector.SyncVectorEnv(
        [lambda: copy.deepcopy(proto, dict(memo)) for _ in range(num_envs)]
    )
    sync.reset(seed=0)
    sync.step(masks[0])
    sync_time = _seconds_per_step(lambda i: sync.step(masks[i % 8]), sync_steps)
    return {
        "native": statistics.median(native_times),
        "bare": statistics.median(bare_times),
        "sync": sync_time,
    }


def write_row(path: Path, row: dict[str, object]) -> None:
    """Append ``row`` to the CSV at ``path``, rewriting the file atomically."""
    rows = list(csv.DictReader(path.open())) if path.is_file() else []
    rows.append(row)
    text = io.StringIO()
    writer = csv.DictWriter(text, list(dict.fromkeys(k for r in rows for k in r)))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(path, lambda f: f.write(text.getvalue().encode()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-envs", type=int, default=256, help="masks (= images) per step")
    parser.add_argument("--steps", type=int, default=40, help="steps per timed round")
    parser.add_argument("--rounds", type=int, default=7, help="alternating native/bare rounds")
    parser.add_argument("--sync-steps", type=int, default=10, help="timed SyncVectorEnv steps")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--csv", default=str(RESULTS), help="results file ('' = none)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    t = measure(args.num_envs, args.steps, args.rounds, args.sync_steps)
    n = args.num_envs
    native, sync, bare = n / t["native"], n / t["sync"], n / t["bare"]
    overhead = t["native"] / t["bare"] - 1
    command = shlex.join([Path(sys.executable).name, *sys.argv])
    row = {
        "env": ENV_ID,
        "num_envs": n,
        "native_images_per_s": round(native),
        "sync_images_per_s": round(sync),
        "speedup": round(native / sync, 1),
        "bare_images_per_s": round(bare),
        "native_overhead": round(overhead, 4),
        "torch_threads": args.threads,
        **hardware_info(),
        **versions(),
        "command": command,
    }
    print(f"{ENV_ID}, frozen network, {n} masks x 1 image per step, {args.threads} torch threads")
    print(f"native vector env        {native:12,.0f} images/s")
    print(f"SyncVectorEnv x{n} (bs=1) {sync:12,.0f} images/s")
    print(f"ratio native / sync      {native / sync:12.1f} x")
    print(f"bare masked forward      {bare:12,.0f} images/s")
    print(f"native env overhead      {overhead:12.1%} over the bare masked forward")
    for key in ("cpu", "cpu_cores", "platform", "gpu"):
        print(f"{key}: {row[key]}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()))
    print(f"command: {command}")
    if args.csv:
        write_row(Path(args.csv), row)


if __name__ == "__main__":
    main()
