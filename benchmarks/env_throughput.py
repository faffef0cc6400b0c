"""Images per second of the default task: native vector env vs SyncVectorEnv vs bare forward,
and the native agent through the vector env vs the same agent on the bare core.

Three ways to score the same number of images per step (``--num-envs``, one image per mask,
frozen network):

- native: ``gym.make_vec(..., vectorization_mode="vector_entry_point")``, one batched forward
  pass for all masks, numpy in and out as an RL library would use it;
- sync: Gymnasium's ``SyncVectorEnv`` over ``--num-envs`` single envs with ``batch_size=1``
  (copies of one ``gym.make`` env that share its read-only data set);
- bare: the masked forward pass alone (``gates.masked`` + ``model``) on the very images and
  masks the native env scored, with nothing else: the floor the native env is measured against.

And, per model of ``--agent-models`` (LeNet-5 on the embedded set, ResNet-56 on random
CIFAR-shaped images; frozen networks, batch 256 = one mask per image), one policy update of
the native agent two ways:

- env: ``DecoreAgent.train_step`` through ``gym.make_vec(..., tensors=True, observe=False)``,
  as every agent meets the task;
- core: the same sampling, scoring and Adam step on the tensor-level core directly, without
  the env: the floor the env path is measured against (target: at most 5% slower).

Native and bare (env and core) run in alternating rounds and the median round counts, so load
from other processes hits both alike. Prints the figures with hardware, versions and the
command, and appends one row per measurement to ``--csv``.

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
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

import decore_env  # noqa: F401  (registers the envs)
from agents.reinforce import DecoreAgent, ReinforceConfig, reinforce_loss
from agents.report import atomic_write, command_line, hardware_info, versions
from decore_env import models
from decore_env.data import DataSplits
from decore_env.spec import TaskSpec

ENV_ID = "DecoreCompress-v0"
AGENT_BATCH = 256
"""Masks (= images) per agent update: the paper's batch."""
CIFAR_SHAPE = (3, 32, 32)
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


def agent_task(model: str) -> TaskSpec:
    """The frozen task an agent update is timed on: LeNet-5 on the embedded set, or ``model``
    on random CIFAR-shaped images (timing needs no trained weights or real data)."""
    if model == "lenet5":
        return TaskSpec(observe=False, episode_steps=10**9)
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (8 * AGENT_BATCH, *CIFAR_SHAPE), dtype=torch.uint8, generator=gen)
    y = torch.randint(0, 10, (len(x),), generator=gen)
    splits = DataSplits(x, y, x[:256], y[:256], 10, (0.5,) * 3, (0.25,) * 3, "random")
    net = models.create(model, num_classes=10)
    return TaskSpec(model=net, dataset=splits, observe=False, episode_steps=10**9)


def bare_core_update(agent: DecoreAgent) -> None:
    """``agent.train_step`` without the env: sample, score on the core, one Adam step."""
    core = agent.base.core
    p = torch.sigmoid(agent.weights.detach())
    actions = torch.bernoulli(p.expand(core.loader.batch_size, -1), generator=agent.generator)
    scored = core.step(actions.bool())
    loss = reinforce_loss(agent.weights, actions, scored.group_rewards, core.group_of_agent)
    agent.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    agent.optimizer.step()


def measure_agent(model: str, steps: int, rounds: int) -> dict[str, float]:
    """Seconds per native-agent update through the vector env and on the bare core."""
    env = gym.make_vec(
        ENV_ID,
        num_envs=AGENT_BATCH,
        vectorization_mode="vector_entry_point",
        spec=agent_task(model),
        tensors=True,
    )
    env.reset(seed=0)
    agent = DecoreAgent(env, ReinforceConfig())
    through_env, on_core = (lambda i: agent.train_step()), (lambda i: bare_core_update(agent))
    for fn in (through_env, on_core):  # warm-up
        fn(0)
    env_times, core_times = [], []
    for _ in range(rounds):
        env_times.append(_seconds_per_step(through_env, steps))
        core_times.append(_seconds_per_step(on_core, steps))
    return {"env": statistics.median(env_times), "core": statistics.median(core_times)}


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
    parser.add_argument(
        "--agent-models",
        nargs="*",
        default=["lenet5", "resnet56"],
        help="models of the agent rows (none: skip them)",
    )
    parser.add_argument("--agent-steps", type=int, default=10, help="updates per timed round")
    parser.add_argument("--agent-rounds", type=int, default=5, help="alternating rounds")
    parser.add_argument("--csv", default=str(RESULTS), help="results file ('' = none)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    t = measure(args.num_envs, args.steps, args.rounds, args.sync_steps)
    n = args.num_envs
    native, sync, bare = n / t["native"], n / t["sync"], n / t["bare"]
    overhead = t["native"] / t["bare"] - 1
    command = command_line(sys.argv)
    stamp = {"torch_threads": args.threads, **hardware_info(), **versions(), "command": command}
    row = {
        "row": "env",
        "env": ENV_ID,
        "num_envs": n,
        "native_images_per_s": round(native),
        "sync_images_per_s": round(sync),
        "speedup": round(native / sync, 1),
        "bare_images_per_s": round(bare),
        "native_overhead": round(overhead, 4),
        **stamp,
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
    rows = [row]
    for model in args.agent_models:
        a = measure_agent(model, args.agent_steps, args.agent_rounds)
        slower = a["env"] / a["core"] - 1
        print(
            f"agent update, {model}, batch {AGENT_BATCH}: through the env "
            f"{AGENT_BATCH / a['env']:,.0f} images/s, on the bare core "
            f"{AGENT_BATCH / a['core']:,.0f} images/s: env path {slower:+.1%}"
        )
        rows.append(
            {
                "row": "agent",
                "env": ENV_ID,
                "model": model,
                "num_envs": AGENT_BATCH,
                "agent_env_images_per_s": round(AGENT_BATCH / a["env"]),
                "agent_core_images_per_s": round(AGENT_BATCH / a["core"]),
                "agent_env_slower": round(slower, 4),
                **stamp,
            }
        )
    if args.csv:
        for r in rows:
            write_row(Path(args.csv), r)


if __name__ == "__main__":
    main()
