"""The compress pipeline: baseline -> policy -> threshold -> prune -> fine-tune -> report.

A run lives in one folder. ``config.json`` fixes what the run is; ``state.pt`` is rewritten
atomically after every epoch of every phase (baseline training, policy, fine-tuning: network,
optimisers, samplers, data order, history), so a killed run continues with :func:`compress`
``resume=True`` from its last epoch and, on the CPU, reaches the same result as an
uninterrupted run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from agents.config import CompressConfig
from agents.plots import plot_keep_probabilities, plot_kept_channels
from agents.reinforce import DecoreAgent, ReinforceConfig, StepStats
from agents.report import hardware_info, summary_markdown, versions, write_json_atomic
from agents.runs import RunFiles, RunLock, check_run, load_state
from agents.tracking import Tracker, open_tracker
from decore_env import models
from decore_env.budget import LambdaController
from decore_env.core import CompressionCore
from decore_env.data import DataSplits, TensorLoader, check_batch_fits, load_dataset
from decore_env.files import atomic_save, atomic_write, load_weights, resolve_device
from decore_env.gates import ChannelGates
from decore_env.metrics import count, latency_ms
from decore_env.rewards import break_even_accuracy
from decore_env.surgery import connected_keep, prune, save_pruned
from decore_env.training import evaluate, fit

TRAIN_BATCH_SIZE = 128
"""Batch size of baseline training and fine-tuning (our choice)."""
WANDB_PROJECT = "decore"


def _measure(model: nn.Module, splits: DataSplits, example: Tensor, device: torch.device) -> dict:
    """Test accuracy, params, MACs (= FLOPs / 2) and median latency of ``model``."""
    params, macs = count(model, example)
    return {
        "accuracy": evaluate(
            model, splits.test_x, splits.test_y, splits.mean, splits.std, 1000, device
        ),
        "params": params,
        "macs": macs,
        "latency_ms": latency_ms(model, example, batch_size=1, device=device),
        "latency_ms_batch256": latency_ms(model, example, batch_size=256, device=device),
    }


def _group_means(agent: DecoreAgent) -> np.ndarray:
    """Mean keep probability of each group."""
    gates = agent.core.gates
    p = agent.keep_probabilities().cpu()
    sums = torch.zeros(len(gates.groups)).index_add_(0, gates.group_of_agent, p)
    return (sums / torch.tensor(gates.sizes)).numpy()


class _PolicyPhase:
    """Learns the keep policy epoch by epoch, saving ``state.pt`` after each epoch."""

    def __init__(
        self,
        config: CompressConfig,
        model: nn.Module,
        splits: DataSplits,
        example: Tensor,
        device: torch.device,
    ) -> None:
        self.config = config
        gates = ChannelGates(model, example)
        loader = TensorLoader.training(splits, config.batch_size, device, seed=config.seed)
        self.core = CompressionCore(
            model, gates, loader, config.lam, config.joint_training, lr=config.joint_lr
        )
        self.agent = DecoreAgent(
            self.core,
            ReinforceConfig(
                lr=config.agent_lr,
                init_weight=config.init_weight,
                baseline=config.reward_baseline,
                normalize_rewards=config.normalize_rewards,
                entropy_coef=config.entropy_coef,
            ),
            seed=config.seed,
        )
        budget = config.budget
        self.controller = LambdaController(budget[1], config.lam) if budget else None
        self.full_cost = gates.full_cost
        self.epoch = 0
        self.history: dict[str, list] = {"step": [], "group_keep": [], "lam": []}

    def state_dict(self) -> dict:
        return {
            "epoch": self.epoch,
            "agent": self.agent.state_dict(),
            "core": self.core.state_dict(),
            "controller": None if self.controller is None else self.controller.state_dict(),
            "lam": self.core.lam,
            "history": self.history,
        }

    def load_state_dict(self, state: dict) -> None:
        self.epoch = state["epoch"]
        self.agent.load_state_dict(state["agent"])
        self.core.load_state_dict(state["core"])
        if self.controller is not None:
            self.controller.load_state_dict(state["controller"])
        self.core.lam = state["lam"]
        self.history = state["history"]

    def _kept(self, resource: str) -> float:
        """Kept fraction of ``resource`` in the network the policy would prune to now (the
        p > 0.5 mask): the budget steers what is finally removed."""
        params, macs = self.core.gates.cost(self.agent.final_mask())
        value = params if resource == "params" else macs
        return value.item() / self.full_cost[resource]

    def on_step(self, stats: StepStats, tracker: Tracker, bar: tqdm) -> None:
        if self.controller is not None:
            resource = self.config.budget[0]
            self.core.lam = self.controller.update(self._kept(resource))
        bar.update()
        if stats.step % self.config.log_every:
            return
        params, macs = self.core.gates.cost(self.agent.final_mask())
        metrics = {
            "policy/reward": stats.reward.item(),
            "env/accuracy": stats.accuracy.item(),
            "env/loss": stats.loss.item(),
            "policy/keep_frac": stats.keep_frac.item(),
            "policy/lam": self.core.lam,
            "prune/params_frac": params.item() / self.full_cost["params"],
            "prune/macs_frac": macs.item() / self.full_cost["macs"],
        }
        group_keep = _group_means(self.agent)
        for group, value in zip(self.core.gates.groups, group_keep, strict=True):
            metrics[f"policy/keep/{group.name}"] = float(value)
        tracker.log(metrics, stats.step)
        tracker.log_histogram("policy/keep_prob", stats.keep_prob.cpu(), stats.step)
        self.history["step"].append(stats.step)
        self.history["group_keep"].append(group_keep.tolist())
        self.history["lam"].append(self.core.lam)
        bar.set_postfix(
            acc=f"{metrics['env/accuracy']:.3f}",
            params=f"{metrics['prune/params_frac']:.3f}",
            lam=f"{self.core.lam:.3g}",
            refresh=False,
        )

    def run(self, save: Callable[[], None], tracker: Tracker, progress: bool) -> None:
        """Learn the remaining epochs, calling ``save`` after each."""
        steps = len(self.core.loader)
        total = self.config.policy_epochs * steps
        with tqdm(
            total=total,
            initial=self.epoch * steps,
            desc="policy",
            unit="step",
            disable=not progress,
        ) as bar:
            while self.epoch < self.config.policy_epochs:
                self.agent.learn(steps, lambda s: self.on_step(s, tracker, bar))
                self.epoch += 1
                save()


def compress(
    config: CompressConfig | None,
    out: str | Path,
    *,
    resume: bool = False,
    wandb: bool = False,
    progress: bool = True,
    command: str = "",
) -> dict[str, Any]:
    """Run (or resume) the whole pipeline in ``out``; returns the report that it writes.

    Every setting is checked before the run folder appears; the folder is locked for the
    run's life, so a second process on the same ``out`` is refused.
    """
    config, files = check_run(config, Path(out), resume)
    device = resolve_device(config.device)
    splits = load_dataset(config.dataset, root=config.data_dir)
    check_batch_fits(config.batch_size, splits)
    example = torch.zeros(1, *splits.input_shape, device=device)
    torch.manual_seed(config.seed)  # the initial weights of a baseline trained here
    model = models.for_data(config.model, splits.num_classes, splits.input_shape).to(device)
    if config.checkpoint is not None:
        load_weights(model, config.checkpoint)
    with RunLock(files):
        if not resume:  # every setting checked: only now does the run folder fill
            check_run(config, files.root, resume=False)  # another run may have begun here
            write_json_atomic(files.config, config.to_dict())
        saved = load_state(files, device)
        return _run(config, files, saved, model, splits, example, device, wandb, progress, command)


def _run(
    config: CompressConfig,
    files: RunFiles,
    saved: dict,
    model: nn.Module,
    splits: DataSplits,
    example: Tensor,
    device: torch.device,
    wandb: bool,
    progress: bool,
    command: str,
) -> dict[str, Any]:
    """The phases of a checked, locked run, continuing from ``saved``."""
    phases: dict[str, float] = saved.get("phases_s", {})
    tracker = open_tracker(wandb, WANDB_PROJECT, config.to_dict(), files.root)

    def train(
        net: nn.Module, epochs: int, lr: float, key: str, policy: _PolicyPhase | None = None
    ) -> None:
        """Baseline training or fine-tuning, resumable from ``state.pt[key]`` per epoch."""

        def save(fit_state: dict) -> None:
            state = {"phases_s": phases, key: fit_state}
            if policy is not None:
                state["policy"] = policy.state_dict()
            atomic_save(state, files.state)

        fit(
            net,
            splits,
            epochs,
            lr,
            TRAIN_BATCH_SIZE,
            config.weight_decay,
            device,
            config.seed,
            progress=progress,
            resume=saved.get(key),
            on_epoch=save,
        )

    try:
        start = time.perf_counter()
        if config.checkpoint is None and files.baseline.is_file():
            load_weights(model, files.baseline)
        elif config.checkpoint is None:
            train(model, config.baseline_epochs, config.baseline_lr, "baseline_fit")
            atomic_save({"model": config.model, "state_dict": model.state_dict()}, files.baseline)
            phases["baseline"] = time.perf_counter() - start
            atomic_save({"phases_s": phases}, files.state)
        model.to(device)
        baseline = _measure(model, splits, example, device)

        policy = _PolicyPhase(config, model, splits, example, device)
        if "policy" in saved:
            policy.load_state_dict(saved["policy"])
        clock = [time.perf_counter()]

        def save_state() -> None:
            now = time.perf_counter()
            phases["policy"] = phases.get("policy", 0.0) + now - clock[0]
            clock[0] = now
            atomic_save({"policy": policy.state_dict(), "phases_s": phases}, files.state)

        policy.run(save_state, tracker, progress)
        policy.agent.save(files.root / "policy.pt")

        start = time.perf_counter()
        gates = policy.core.gates
        keep = connected_keep(gates.split(policy.agent.final_mask()), gates.groups, model)
        pruned = prune(model.eval(), keep, example)
        phases["prune"] = time.perf_counter() - start
        start = time.perf_counter()
        if config.finetune_epochs:
            train(pruned, config.finetune_epochs, config.finetune_lr, "finetune_fit", policy)
        phases["finetune"] = time.perf_counter() - start
        pruned.eval()
        report = _report(
            config,
            command,
            baseline,
            _measure(pruned, splits, example, device),
            kept_channels(pruned, gates.groups),
            policy.core.lam,
            phases,
            splits,
        )
        _write_outputs(files, report, pruned, keep, policy, splits)
        tracker.summary({f"prune/{k}": v for k, v in report["pruned"].items()})
        tracker.log_table(
            "summary",
            ["", "accuracy", "params", "macs", "latency_ms"],
            [
                [row, *(report[row][k] for k in ("accuracy", "params", "macs", "latency_ms"))]
                for row in ("baseline", "pruned")
            ],
        )
        tracker.log_artifact(
            "pruned", "model", [files.root / "pruned.pt", files.root / "report.json"]
        )
        return report
    finally:
        tracker.finish()


def kept_channels(pruned: nn.Module, groups: list) -> dict[str, list[int]]:
    """[kept, total] per group, read off the pruned network (so a group that surgery saved
    from being emptied shows the channel it kept)."""
    modules = dict(pruned.named_modules())
    widths = {
        g.name: modules[g.name].out_features
        if isinstance(modules[g.name], nn.Linear)
        else modules[g.name].out_channels
        for g in groups
    }
    return {g.name: [widths[g.name], g.size] for g in groups}


def _report(config, command, baseline, pruned, kept, lam, phases, splits) -> dict:
    return {
        "model": config.model,
        "dataset": config.dataset,
        "agent": config.agent,
        "lam": lam,
        "lam_initial": config.lam,
        "break_even_accuracy": break_even_accuracy(lam),
        "budget": None if config.budget is None else dict([config.budget]),
        "seed": config.seed,
        "command": command,
        "baseline": baseline,
        "pruned": pruned,
        "compression": baseline["params"] / pruned["params"],
        "reduction": {k: 1.0 - pruned[k] / baseline[k] for k in ("params", "macs")},
        "kept": kept,
        "epochs": {
            "baseline": None if config.checkpoint else config.baseline_epochs,
            "policy": config.policy_epochs,
            "finetune": config.finetune_epochs,
        },
        "batch_size": config.batch_size,
        "test_images": len(splits.test_y),
        "settings": config.to_dict(),
        "phases_s": phases,
        "hardware": hardware_info(),
        "versions": versions(),
    }


def _write_outputs(
    files: RunFiles,
    report: dict,
    pruned: nn.Module,
    keep: dict[str, Tensor],
    policy: _PolicyPhase,
    splits: DataSplits,
) -> None:
    root = files.root
    save_pruned(
        root / "pruned.pt", pruned, keep, splits.input_shape, report["model"], splits.num_classes
    )
    plot_kept_channels({k: tuple(v) for k, v in report["kept"].items()}, root / "kept_channels.png")
    history = policy.history
    if history["step"]:
        plot_keep_probabilities(
            np.asarray(history["step"]),
            np.asarray(history["group_keep"]),
            [g.name for g in policy.core.gates.groups],
            root / "keep_probabilities.png",
        )
    atomic_write(root / "summary.md", lambda f: f.write(summary_markdown(report).encode()))
    write_json_atomic(root / "report.json", report)
