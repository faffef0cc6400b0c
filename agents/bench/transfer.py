"""The transfer track: a shared per-channel policy trained on some suite tasks, measured on
suite tasks it never trained on, as Procgen measures generalisation on held-out levels.

- Training (per seed): ``shared-native``, the native trainer on both TRAIN_TASKS at once
  (:func:`agents.native.shared.train_tasks`, each task's pairs counted); ``shared-ppo``, SB3
  PPO with the shared actor (``ppo-shared``) on PPO_TRAIN_TASK (an SB3 model is tied to one
  observation space). Each writes one policy file (``<trainer>-seed<k>.pt``).
- Held-out tasks (HELD_OUT): each trained policy **zero-shot** (its architecture with 0 pairs
  scored on the task) against the references that spend none (ZERO_PAIR_REFERENCES), and
  **few-shot** (FEW_SHOT of the task's search budget to adapt, by the native trainer from the
  policy file) against FEW_SHOT_AGENTS given the same pairs (greedy flagged where it needs
  more).
- Metric: the search track's (one-shot top-1 on test with adaptive BN, the architecture
  projected on the target by the one rule); the zero-shot rows and the zero-pair references
  also in the fine-tune track.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from agents.bench.cells import Cell
from agents.bench.results import ResultsCSV
from agents.bench.search import search_config
from agents.bench.suite import task_checkpoint, task_config
from agents.bench.sweep import SweepError, each_outcome
from agents.native.reinforce import ReinforceConfig
from agents.native.shared import SharedReinforceAgent, train_tasks
from agents.native.shared_net import SharedKeepNet
from agents.run.config import CompressConfig, native_agent_settings
from agents.run.policy_phase import policy_env, run_agent
from agents.run.summary import provenance
from decore_env.common.seeds import derive_seed
from decore_env.envs.suite import SuiteTask, suite_task

TRAIN_TASKS = ("DecoreSuite-LeNet5-MNIST-Params10-v0", "DecoreSuite-ResNet20-CIFAR10-MACs50-v0")
"""The native trainer's tasks: two networks (plain and residual), two data sets, two budgets."""
PPO_TRAIN_TASK = "DecoreSuite-LeNet5-MNIST-Params10-v0"
"""PPO's one training task."""
HELD_OUT = (
    "DecoreSuite-LeNet5-Fashion-Params10-v0",
    "DecoreSuite-ResNet20-CIFAR10-MACs25-v0",
    "DecoreSuite-ResNet32-CIFAR10-MACs50-v0",
)
"""Tasks no policy trains on: a seen network on unseen data, a seen network at an unseen
budget, an unseen network."""
TRAIN_SEARCHES = {"shared-native": 5, "shared-ppo": 1}
"""Each training task's pairs, per trainer: this many times its search budget (our choice).
Measured for the native trainer (seed 0, val one-shot top-1 on the MNIST task of the trained
policy's projected architecture): trained on both tasks, 0.180 after 1x (its keep
probabilities have not yet separated the groups) and 0.333 after 5x; on the MNIST task alone
0.891 after 5x. 5x on both tasks takes about 10 CPU minutes. SB3 PPO trains at 1x on the
MNIST task alone (37 rollouts x 1,280 minibatches), 6-10 minutes a seed with two seeds on two
busy cores (``seconds`` in transfer-training.csv): a fifth of the native trainer's pairs on
that task."""
FEW_SHOT = 0.1
"""Share of a held-out task's search budget that a few-shot run adapts with."""
SEEDS = range(5)
"""Seeds of the policies' training (and of every cell on the held-out tasks)."""
TRAINERS = ("shared-native", "shared-ppo")
"""The policies' trainers: the native one (``shared-reinforce``) and SB3 PPO (``ppo-shared``)."""
ZERO_PAIR_REFERENCES = ("uniform", "l1_layer", "l1_global", "random")
FEW_SHOT_AGENTS = ("random_search", "reinforce-plus", "greedy")
ZERO_SHOT, FEW_SHOT_TAG = "zero-shot", "few-shot"


def policy_path(folder: Path, trainer: str, seed: int) -> Path:
    """Where the policy ``trainer`` trained at ``seed`` is kept."""
    return folder / f"{trainer}-seed{seed}.pt"


TRAINING_COLUMNS = (
    "trainer", "seed", "task", "searches", "pairs", "seconds", "sha256", "commit", "command"
)  # fmt: skip
"""One row per trainer, seed and training task: the TRAIN_SEARCHES it trained with, the pairs
it scored there, the seconds the whole training took, the policy file's sha256."""


def train_missing(
    seeds: Sequence[int],
    policies: Path,
    csv: Path,
    command: str,
    use_ray: bool = False,
    trainers: Sequence[str] = TRAINERS,
    progress: bool = True,
    held_out_rows: Sequence[Mapping[str, str]] = (),
) -> int:
    """Train each of ``trainers``' policy at each seed that has no file or no rows yet;
    returns how many trained. A policy to train may have no ``held_out_rows`` (those of the
    held-out tasks): they came from a policy that is no longer recorded, and the resumed
    track would keep them beside the new policy's."""
    policies = policies.resolve()  # Ray workers start elsewhere
    numbers = ("searches", "pairs", "seconds")
    table = ResultsCSV(csv, TRAINING_COLUMNS, ("trainer", "seed", "task"), numbers)
    have = {(r["trainer"], int(r["seed"])): float(r["searches"]) for r in table.rows()}
    calls = {}
    for trainer in trainers:
        for seed in seeds:
            path = policy_path(policies, trainer, seed)
            if have.get((trainer, seed), TRAIN_SEARCHES[trainer]) != TRAIN_SEARCHES[trainer]:
                raise SweepError(
                    f"{csv} records {trainer} seed {seed} trained with "
                    f"{have[trainer, seed]:g}x its tasks' search budgets, TRAIN_SEARCHES now "
                    f"gives {TRAIN_SEARCHES[trainer]}x: give other --results, or delete those "
                    "rows and its rows on the held-out tasks to train it again"
                )
            if (trainer, seed) in have and not path.is_file():
                raise SweepError(
                    f"{csv} records {trainer} seed {seed} but {path} is missing: restore the "
                    "file, or delete those rows and its rows on the held-out tasks to train "
                    "it again"
                )
            if (trainer, seed) not in have:  # a file without rows: trained again, overwritten
                _check_no_rows_of(trainer, seed, held_out_rows)
                calls[trainer, seed] = (trainer, seed, path)
    policies.mkdir(parents=True, exist_ok=True)
    outcomes = each_outcome(train_policy, calls, use_ray)
    for (trainer, seed), outcome in tqdm(outcomes, total=len(calls), desc="policies trained",
                                         unit="policy", disable=not progress):  # fmt: skip
        spent = outcome()
        path = policy_path(policies, trainer, seed)
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        for task, pairs in spent["pairs"].items():
            row = {"trainer": trainer, "seed": seed, "task": task}
            row |= {"searches": TRAIN_SEARCHES[trainer], "pairs": pairs}
            row |= {"seconds": round(spent["seconds"], 1), "sha256": sha}
            table.append(row | {"commit": provenance()["commit"], "command": command})
    return len(calls)


def _check_no_rows_of(trainer: str, seed: int, rows: Sequence[Mapping[str, str]]) -> None:
    """Refuse to train ``trainer``'s policy at ``seed`` again while ``rows`` hold results of
    the policy it would replace."""
    if any(r["agent"].startswith(f"{trainer}:") and int(r["seed"]) == seed for r in rows):
        raise SweepError(
            f"the held-out tasks have rows of {trainer} seed {seed} but its training is not "
            "recorded: restore its rows in transfer-training.csv and its policy file, or "
            "delete its rows in transfer.csv and transfer-finetune.csv to train it again"
        )


def check_held_out(train: Sequence[str], held_out: Sequence[str]) -> None:
    """Refuse a held-out task that a policy trains on: it would not be held out."""
    both = sorted(set(train) & set(held_out))
    if both:
        raise SweepError(
            f"{', '.join(both)} is a training task of the transfer track and cannot be held "
            "out; hold out only tasks no policy trains on"
        )


def _search_setup(task: SuiteTask, agent: str, seed: int) -> tuple[CompressConfig, Path]:
    """The search track's settings of ``agent`` on ``task`` at ``seed``, and its baseline."""
    checkpoint = task_checkpoint(task, None)
    cell = Cell(task.track_task, agent, seed, task.target, task.resource)
    return search_config(task_config(task), cell, checkpoint), checkpoint


def train_policy(trainer: str, seed: int, path: Path) -> dict[str, Any]:
    """Train ``trainer``'s policy at ``seed`` and save it at ``path``; what it spent."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    if trainer == "shared-native":
        pairs = _train_native(seed, path)
    else:
        config, checkpoint = _search_setup(suite_task(PPO_TRAIN_TASK), "ppo-shared", seed)
        env = policy_env(config, checkpoint)
        env.reset(seed=config.seed)
        agent = run_agent(config, env)
        agent.learn(_training_pairs(config, agent, TRAIN_SEARCHES[trainer]))
        agent.save_policy(path)
        pairs = {PPO_TRAIN_TASK: agent.num_timesteps}
    return {"pairs": pairs, "seconds": time.perf_counter() - start}


def _training_pairs(config: CompressConfig, agent: Any, searches: int) -> int:
    """A training task's pairs: ``searches`` times its search budget."""
    steps = searches * config.search_epochs * agent.env.unwrapped.steps_per_epoch
    return steps * agent.pairs_per_step


def _train_native(seed: int, path: Path) -> dict[str, int]:
    """Both TRAIN_TASKS at once, one network; the pairs each task scored."""
    setups = [_search_setup(suite_task(t), "shared-reinforce", seed) for t in TRAIN_TASKS]
    settings = ReinforceConfig(**native_agent_settings(setups[0][0]))
    torch.manual_seed(derive_seed(seed, "init"))  # the network's initial weights
    net = SharedKeepNet(settings.init_weight)
    optimizer = torch.optim.Adam(net.parameters(), lr=settings.lr)
    agents, budgets = [], []
    for i, (config, checkpoint) in enumerate(setups):
        env = policy_env(config, checkpoint)
        env.reset(seed=config.seed)
        own_seed = seed * len(TRAIN_TASKS) + i  # each task its own action sampler
        agent = SharedReinforceAgent(env, settings, own_seed, net=net, optimizer=optimizer)
        agents.append(agent)
        budgets.append(_training_pairs(config, agent, TRAIN_SEARCHES["shared-native"]))
    train_tasks(agents, budgets)
    net.save(path)
    return {t: a.num_timesteps for t, a in zip(TRAIN_TASKS, agents, strict=True)}


def transfer_calls(
    held_out: Sequence[str],
    seeds: Sequence[int],
    policies: Path,
    command: str,
    trainers: Sequence[str] = TRAINERS,
) -> dict[Cell, tuple]:
    """Every cell of the track on the held-out tasks (the policies of ``trainers``) -> its
    :func:`search_cell` arguments."""
    check_held_out((*TRAIN_TASKS, PPO_TRAIN_TASK), held_out)
    unknown = sorted(set(trainers) - set(TRAINERS))
    if unknown:
        raise SweepError(f"unknown trainers {unknown}; the track's: {', '.join(TRAINERS)}")
    calls = {}
    for task in map(suite_task, held_out):
        for seed in seeds:
            for contestant, agent, share, policy in _contestants(policies, seed, trainers):
                config, checkpoint = _search_setup(task, agent, seed)
                if policy is not None:  # Ray workers start elsewhere: an absolute path
                    config = replace(config, policy_file=str(policy.resolve()))
                cell = Cell(task.track_task, contestant, seed, task.target, task.resource)
                calls[cell] = (cell, config, checkpoint, command, share)
    return calls


def _contestants(
    policies: Path, seed: int, trainers: Sequence[str]
) -> list[tuple[str, str, float, Path | None]]:
    """(name, agent, budget share (0: zero-shot), policy file) of each contestant; a trained
    policy adapts by the native trainer, whichever trainer made it."""
    shared = [
        (f"{trainer}:{tag}", "shared-reinforce", share, policy_path(policies, trainer, seed))
        for trainer in trainers
        for tag, share in ((ZERO_SHOT, 0.0), (FEW_SHOT_TAG, FEW_SHOT))
    ]
    references = [(name, name, 1.0, None) for name in ZERO_PAIR_REFERENCES]
    few = [(f"{name}:{FEW_SHOT_TAG}", name, FEW_SHOT, None) for name in FEW_SHOT_AGENTS]
    return [*shared, *references, *few]
