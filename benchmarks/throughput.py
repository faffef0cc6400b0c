"""Throughput of DECORE's policy step against its ceiling, and of the env against its floor.

Per model and batch, in one run on one device, images/s of:

- ``bare_step``: one training step of the plain network (forward, backward, SGD) on a batch:
  the ceiling of a policy step;
- ``plain_forward`` / ``masked_forward``: an eval-mode forward pass without and with
  per-sample masks (one mask per image; the masked pass is the env core's);
- ``policy_step``: one DECORE policy step as the pipeline runs it, ``DecoreAgent.train_step``
  on the native vector env (tensors on the device, no observations, joint training): the
  per-sample masked forward, the network's SGD step and the policy's Adam step;
- ``policy_step_core``: the same update on the bare core, without the env;
- ``env_native``: a step of the native vector env as an RL library drives it (numpy in and
  out, observations built, frozen network), one mask per image;
- ``env_sync``: Gymnasium's ``SyncVectorEnv`` over single envs of one image each, what the
  native env replaces (``SYNC_ENVS`` sub-envs: each scores its image alone, so its images/s
  do not depend on how many there are).

``ratio`` is a row's images/s over that of the row named in ``relative_to`` (same run, model
and batch): masked_forward / plain_forward, policy_step / bare_step, policy_step_core /
policy_step (what the env costs the agent), env_native / masked_forward (what the env costs
an RL library), env_sync / env_native.

The measurements run in alternating rounds, so load that drifts during a run hits them alike,
and each figure is the median round. Networks have random weights and the images are random,
of the network's input shape, already on the device: throughput depends on neither. On CUDA
everything runs channels_last under bf16 autocast, as training and the env do; ``--compile``
compiles the plain network and the masked forward with ``torch.compile``. Every row goes to
``--out`` with the hardware, versions, commit, command and the machine's 1-minute load
average when its model and batch started.

    python benchmarks/throughput.py                    # lenet5 vgg16 resnet56, batches 256 1024
    python benchmarks/throughput.py --models lenet5 --batches 256 --threads 1 --device cpu
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from tqdm import tqdm

import decore_env  # noqa: F401  (registers the env ids)
from agents.bench.results import ResultsCSV
from agents.native.reinforce import DecoreAgent, ReinforceConfig, reinforce_loss
from agents.run.summary import VERSION_KEYS, command_line, hardware_info, versions
from decore_env import models
from decore_env.common.files import resolve_device
from decore_env.common.modes import autocast, tune_for
from decore_env.data.splits import DataSplits
from decore_env.envs.vector import DecoreCompressVectorEnv
from decore_env.task.build import CompressionTask, build_task
from decore_env.task.spec import TaskSpec

ENV_ID = "DecoreCompress-v0"
RESULTS = Path(__file__).resolve().parent / "results" / "throughput.csv"
MODELS = ("lenet5", "vgg16", "resnet56")
BATCHES = (256, 1024)
"""The paper's batch, and a larger one that fills a GPU better."""
BLOCK_S = 0.25
"""Seconds a timed block of calls aims at (calls per block set from a warm-up call; at least
one): long enough that timer and launch jitter do not matter."""
MAX_CALLS = 200
"""Most calls in one timed block."""
SYNC_ENVS = 16
"""Sub-envs of the SyncVectorEnv (at most the batch). Its images/s do not depend on the count,
and each sub-env holds a copy of the network: 16 VGG16s fit in memory, 1024 would not."""
DATA_BATCHES = 4
"""Random training images per task, in batches: the loader draws from them."""
MASK_VARIANTS = 8
"""Different random masks the env rows cycle through."""
LR, MOMENTUM = 0.01, 0.9
"""SGD of the bare training step (the joint training's defaults)."""

HARDWARE = ("cpu", "cpu_cores", "platform", "gpu", "cuda")
COLUMNS = (
    "run",
    "measurement",
    "model",
    "batch",
    "images_per_s",
    "relative_to",
    "ratio",
    "device",
    "precision",
    "compiled",
    "threads",
    "repeats",
    "calls",
    "load_avg",
    *HARDWARE,
    *VERSION_KEYS,
    "command",
)
KEY = ("run", "measurement", "model", "batch")
MEASUREMENTS = (
    "bare_step",
    "plain_forward",
    "masked_forward",
    "env_native",
    "env_sync",
    "policy_step",
    "policy_step_core",
)
RELATIVE_TO = {
    "masked_forward": "plain_forward",
    "policy_step": "bare_step",
    "policy_step_core": "policy_step",
    "env_native": "masked_forward",
    "env_sync": "env_native",
}


@dataclass
class Measurement:
    """One timed thing: ``call()`` scores ``images`` images."""

    call: Callable[[], object]
    images: int
    compiled: Callable[[], bool]


def random_splits(model: str, batch: int) -> DataSplits:
    """Random uint8 images of ``model``'s input shape, ``DATA_BATCHES`` batches of them."""
    gen = torch.Generator().manual_seed(0)
    shape = models.input_shape(model)
    x = torch.randint(0, 256, (DATA_BATCHES * batch, *shape), dtype=torch.uint8, generator=gen)
    y = torch.randint(0, 10, (len(x),), generator=gen)
    channels = shape[0]
    held = (x[:batch], y[:batch])
    return DataSplits(x, y, *held, *held, 10, (0.5,) * channels, (0.25,) * channels, "random")


def vector_task(spec: TaskSpec, n_masks: int) -> CompressionTask:
    """The task of the native vector env with ``n_masks`` sub-envs, built here so that the
    bare-core rows can drive it below the env."""
    return build_task(replace(spec, batch_size=n_masks * spec.samples_per_mask), n_masks)


def task_agent(spec: TaskSpec, n_masks: int) -> tuple[DecoreAgent, CompressionTask]:
    """A paper-mode agent on the native vector env over a task this benchmark built, and that
    task: the bare-core rows drive the task below the env."""
    task = vector_task(spec, n_masks)
    env = DecoreCompressVectorEnv.over(task, tensors=True)
    env.reset(seed=0)
    return DecoreAgent(env, ReinforceConfig()), task


def bare_core_update(agent: DecoreAgent, task: CompressionTask) -> None:
    """``agent.train_step`` without the env: sample, score on the env's task core, one Adam
    step."""
    core = task.core
    p = torch.sigmoid(agent.weights.detach())
    actions = torch.bernoulli(p.expand(core.loader.batch_size, -1), generator=agent.generator)
    scored = core.step(actions.bool())
    loss = reinforce_loss(agent.weights, actions, scored.group_rewards, agent.group_of_agent)
    agent.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    agent.optimizer.step()


def _plain(name: str, batch: int, device: torch.device, compile: bool) -> dict[str, Measurement]:
    """The bare training step and the plain forward of a fresh ``name``."""
    cuda = device.type == "cuda"
    fmt = torch.channels_last if cuda else torch.contiguous_format
    net = models.create(name).to(device, memory_format=fmt)
    run: nn.Module = torch.compile(net) if compile else net
    gen = torch.Generator(device).manual_seed(0)
    x = torch.randn(batch, *models.input_shape(name), device=device, generator=gen)
    x = x.contiguous(memory_format=fmt)
    y = torch.randint(0, 10, (batch,), device=device, generator=gen)
    optimizer = torch.optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM)

    def bare_step() -> None:
        net.train()
        with autocast(device):
            loss = nn.functional.cross_entropy(run(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    @torch.no_grad()
    def plain_forward() -> None:
        net.eval()
        with autocast(device):
            run(x)

    return {
        "bare_step": Measurement(bare_step, batch, lambda: compile),
        "plain_forward": Measurement(plain_forward, batch, lambda: compile),
    }


def _masks(rng: np.random.Generator, shape: tuple[int, ...]) -> Callable[[], np.ndarray]:
    """Cycles through ``MASK_VARIANTS`` random 0/1 float masks of ``shape``."""
    masks = [rng.integers(0, 2, shape).astype(np.float32) for _ in range(MASK_VARIANTS)]
    return itertools.cycle(masks).__next__


def _env_rows(spec: TaskSpec, batch: int) -> dict[str, Measurement]:
    """masked_forward, env_native and env_sync on a frozen task with observations."""
    task = vector_task(spec, batch)
    native = DecoreCompressVectorEnv.over(task)
    native.reset(seed=0)
    rng = np.random.default_rng(0)
    next_mask = _masks(rng, native.action_space.shape)
    core = task.core
    images, _ = core.loader.next_batch()
    mask = torch.from_numpy(next_mask()).to(core.device).bool()

    @torch.no_grad()
    def masked_forward() -> None:
        core.model.eval()
        core.forward(images, mask)

    # Single envs of one image each share the spec's data set (built once, read-only).
    single = replace(spec, batch_size=1, compile=False)
    n = min(batch, SYNC_ENVS)
    sync = gym.vector.SyncVectorEnv([lambda: gym.make(ENV_ID, spec=single) for _ in range(n)])
    sync.reset(seed=0)
    next_sync_mask = _masks(rng, sync.action_space.shape)
    compiled = lambda: core.forward.compiled  # noqa: E731
    return {
        "masked_forward": Measurement(masked_forward, batch, compiled),
        "env_native": Measurement(lambda: native.step(next_mask()), batch, compiled),
        "env_sync": Measurement(lambda: sync.step(next_sync_mask()), n, lambda: False),
    }


def _policy_rows(spec: TaskSpec, batch: int) -> dict[str, Measurement]:
    """policy_step through the native vector env, policy_step_core on the bare core."""
    agent, task = task_agent(spec, batch)
    compiled = lambda: task.core.forward.compiled  # noqa: E731
    return {
        "policy_step": Measurement(agent.train_step, batch, compiled),
        "policy_step_core": Measurement(lambda: bare_core_update(agent, task), batch, compiled),
    }


def build(name: str, batch: int, device: torch.device, compile: bool) -> dict[str, Measurement]:
    """Every measurement of ``name`` at ``batch``, in the order of the CSV rows."""
    torch.manual_seed(0)
    net = models.create(name)
    task = TaskSpec(
        model=net,
        dataset=random_splits(name, batch),
        episode_steps=10**9,
        device=str(device),
        compile=compile,
    )
    return {
        **_plain(name, batch, device, compile),
        **_env_rows(replace(task, observe=True), batch),
        **_policy_rows(replace(task, observe=False, train_network=True), batch),
    }


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _seconds_per_call(call: Callable[[], object], calls: int, device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    for _ in range(calls):
        call()
    _sync(device)
    return (time.perf_counter() - start) / calls


def measure(
    found: dict[str, Measurement], repeats: int, device: torch.device, bar: tqdm
) -> dict[str, tuple[float, int]]:
    """(images/s, calls per block) of each measurement: warm-up (compiling, autotuning), then
    ``repeats`` alternating rounds of one timed block each; the median round counts."""
    calls = {}
    for key, m in found.items():
        m.call()  # the first call compiles and autotunes
        calls[key] = min(
            MAX_CALLS, max(1, math.ceil(BLOCK_S / _seconds_per_call(m.call, 1, device)))
        )
    times: dict[str, list[float]] = {key: [] for key in found}
    for _ in range(repeats):
        for key, m in found.items():
            times[key].append(_seconds_per_call(m.call, calls[key], device))
            bar.update()
    return {key: (m.images / statistics.median(times[key]), calls[key]) for key, m in found.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=models.MODEL_NAMES)
    parser.add_argument("--batches", nargs="+", type=int, default=list(BATCHES))
    parser.add_argument("--repeats", type=int, default=5, help="alternating timed rounds")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda")
    parser.add_argument("--out", type=Path, default=RESULTS, help="CSV the rows are appended to")
    parser.add_argument("--compile", action="store_true", help="torch.compile the networks")
    args = parser.parse_args(argv)
    try:
        device = resolve_device(args.device)
        table = ResultsCSV(args.out, COLUMNS, KEY)
    except ValueError as exc:
        sys.exit(f"error: {exc}")
    if min(args.batches) < 1 or args.repeats < 1 or args.threads < 1:
        sys.exit("error: --batches, --repeats and --threads must be positive")
    torch.set_num_threads(args.threads)
    tune_for(device)
    stamp = {
        "run": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "device": str(device),
        "precision": "bf16 autocast" if device.type == "cuda" else "fp32",
        "threads": args.threads,
        "repeats": args.repeats,
        **{k: v for k, v in hardware_info().items() if k in HARDWARE},
        **versions(),
        "command": command_line([__file__, *(sys.argv[1:] if argv is None else argv)]),
    }
    print(f"{device}, {args.threads} threads: {stamp['command']}")
    cells = [(m, b) for m in args.models for b in args.batches]
    with tqdm(
        total=len(cells) * args.repeats * len(MEASUREMENTS), unit="block", desc="throughput"
    ) as bar:
        for name, batch in cells:
            bar.set_postfix(model=name, batch=batch)
            load = round(os.getloadavg()[0], 2)  # other processes' share of the machine
            found = build(name, batch, device, args.compile)
            rates = measure(found, args.repeats, device, bar)
            for key, (rate, calls) in rates.items():
                base = RELATIVE_TO.get(key)
                ratio = None if base is None else round(rate / rates[base][0], 4)
                row = {
                    **stamp,
                    "measurement": key,
                    "model": name,
                    "batch": batch,
                    "images_per_s": round(rate, 1),
                    "relative_to": base,
                    "ratio": ratio,
                    "compiled": found[key].compiled(),
                    "calls": calls,
                    "load_avg": load,
                }
                table.append(row)
                versus = "" if base is None else f"  {ratio:.3f} x {base}"
                bar.write(f"{name:9s} batch {batch:5d}  {key:17s} {rate:12,.1f} images/s{versus}")


if __name__ == "__main__":
    main()
