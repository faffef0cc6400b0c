"""The compress pipeline: baseline -> policy -> threshold -> prune -> fine-tune -> report.

A run lives in one folder. ``config.json`` fixes what the run is; ``state.pt`` (one versioned
writer, :class:`RunState`) is rewritten atomically after every epoch of every phase (baseline
training, policy, fine-tuning: network, optimisers, samplers, data order, history), so a
killed run continues with :func:`compress` ``resume=True`` from its last epoch and, on the
CPU, reaches the same result as an uninterrupted run. The policy phase meets the task through
the env built from the run's TaskSpec, like any other agent (:mod:`agents.run.policy_phase`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from agents.names import SHARED_AGENTS
from agents.native.shared_net import SharedKeepNet
from agents.run.config import CompressConfig
from agents.run.folders import RunError, RunFiles, RunLock, check_run, load_state
from agents.run.plots import plot_keep_probabilities, plot_kept_channels
from agents.run.policy_phase import PolicyPhase
from agents.run.summary import hardware_info, summary_markdown, versions, write_json_atomic
from agents.run.tracking import Tracker, open_tracker
from decore_env.channels.surgery import prune_to, save_pruned
from decore_env.common.files import atomic_save, atomic_write, load_weights, resolve_device
from decore_env.data.splits import DataSplits, check_batch_fits
from decore_env.task.build import build_network, load_splits
from decore_env.task.rewards import break_even_accuracy
from decore_env.training.baseline import fresh_network, train_baseline
from decore_env.training.fit import Distillation, Schedule, fit
from decore_env.training.metrics import count, latency_ms, split_accuracy

TRAIN_BATCH_SIZE = 128
"""Batch size of baseline training and fine-tuning (our choice)."""
LATENCY_BATCH = 256
"""Batch of the second latency figure: the paper's batch size, throughput-like."""
WANDB_PROJECT = "decore"
"""W&B project of compress runs."""
STATE_VERSION = 4
"""Layout version of ``state.pt``; a run saved with another layout is not resumed."""


class RunState:
    """The one writer of ``state.pt``: named parts, kept together, saved atomically."""

    def __init__(self, files: RunFiles, saved: dict) -> None:
        if saved and saved.get("version") != STATE_VERSION:
            raise RunError(
                f"cannot resume {files.root}: its state.pt has layout version "
                f"{saved.get('version', 1)}, this decore writes {STATE_VERSION}; start a new run"
            )
        self.files = files
        self.parts: dict[str, Any] = saved or {"version": STATE_VERSION, "phases_s": {}}

    @property
    def phases(self) -> dict[str, float]:
        """Seconds spent per phase (kept across resumes)."""
        return self.parts["phases_s"]

    def get(self, key: str) -> Any:
        """The saved part ``key`` (a phase's state), or None if that phase has not saved."""
        return self.parts.get(key)

    def save(self, **parts: Any) -> None:
        self.parts.update(parts)
        atomic_save(self.parts, self.files.state)


def _measure(model: nn.Module, splits: DataSplits, example: Tensor, device: torch.device) -> dict:
    """Test accuracy, params, MACs (= FLOPs / 2) and median latency of ``model``."""
    params, macs = count(model, example)
    return {
        "accuracy": split_accuracy(model, splits, "test", device),
        "params": params,
        "macs": macs,
        "latency_ms": latency_ms(model, example, batch_size=1, device=device),
        "latency_ms_batch256": latency_ms(model, example, batch_size=LATENCY_BATCH, device=device),
    }


def baseline_schedule(config: CompressConfig) -> Schedule:
    """How a run trains its baseline."""
    return Schedule(
        config.baseline_epochs, config.baseline_lr, TRAIN_BATCH_SIZE, config.weight_decay
    )


def finetune_schedule(config: CompressConfig) -> Schedule:
    """How a run fine-tunes its pruned network."""
    return Schedule(config.tuning_epochs, config.finetune_lr, TRAIN_BATCH_SIZE, config.weight_decay)


def run_baseline(
    config: CompressConfig,
    path: str | Path,
    progress: bool = True,
    splits: DataSplits | None = None,
    command: str = "",
) -> Path:
    """Train the baseline a run of ``config`` without a checkpoint would train, and save it at
    ``path``, so that several runs can share one baseline: a run given it as ``checkpoint``
    starts where its own would. A killed call, repeated, continues from its last epoch.

    :param splits: the data ``config`` names, when already loaded.
    """
    if splits is None:
        splits = load_splits(config.task_spec())
    return train_baseline(
        path,
        config.model,
        splits,
        baseline_schedule(config),
        config.seed,
        resolve_device(config.device),
        progress,
        command,
    )


def compress(
    config: CompressConfig | None,
    out: str | Path,
    *,
    resume: bool = False,
    wandb: bool = False,
    progress: bool = True,
    command: str = "",
    wandb_group: str | None = None,
) -> dict[str, Any]:
    """Run (or resume) the whole pipeline in ``out``; returns the report that it writes
    (``wandb_group``: the W&B group of the run, e.g. its sweep).

    Every setting is checked before the run folder appears; the folder is locked for the
    run's life, so a second process on the same ``out`` is refused.
    """
    config, files = check_run(config, Path(out), resume)
    device = resolve_device(config.device)
    splits = load_splits(config.task_spec())
    check_batch_fits(config.batch_size, splits)
    model = fresh_network(config.model, splits, config.seed)  # refused before the folder appears
    if config.checkpoint is not None:
        load_weights(model, config.checkpoint)
    if config.policy_file is not None:  # a missing or foreign policy file: refused here too
        SharedKeepNet.load(config.policy_file)
    with RunLock(files):
        if not resume:  # every setting checked: only now does the run folder fill
            check_run(config, files.root, resume=False)  # another run may have begun here
            write_json_atomic(files.config, config.to_dict())
        state = RunState(files, load_state(files))
        tracker = open_tracker(
            wandb, WANDB_PROJECT, config.to_dict(), files.root, group=wandb_group
        )
        try:
            return _Run(config, files, state, splits, device, progress).run(tracker, command)
        finally:
            tracker.finish()


class _Run:
    """The phases of one checked, locked run, continuing from its saved state."""

    def __init__(
        self,
        config: CompressConfig,
        files: RunFiles,
        state: RunState,
        splits: DataSplits,
        device: torch.device,
        progress: bool,
    ) -> None:
        self.config, self.files, self.state = config, files, state
        self.splits, self.device, self.progress = splits, device, progress
        self.example = torch.zeros(1, *splits.input_shape, device=device)

    def baseline(self, command: str) -> Path | str:
        """The baseline checkpoint: given, saved by an earlier attempt, or trained now
        (resumable per epoch, like every phase)."""
        config, files = self.config, self.files
        if config.checkpoint is not None:
            return config.checkpoint
        if not files.baseline.is_file():
            start = time.perf_counter()
            run_baseline(config, files.baseline, self.progress, self.splits, command)
            self.state.phases["baseline"] = time.perf_counter() - start
            self.state.save()
        return files.baseline

    def finetune(self, pruned: nn.Module, teacher: nn.Module) -> None:
        """Fine-tune the pruned network, resumable from the state per epoch."""
        config = self.config
        distill = None
        if config.distill_weight:  # the baseline teaches its pruned copy
            distill = Distillation(
                teacher.eval(), config.distill_weight, config.distill_temperature
            )
        fit(
            pruned,
            self.splits,
            finetune_schedule(config),
            self.device,
            config.seed,
            progress=self.progress,
            resume=self.state.get("finetune_fit"),
            on_epoch=lambda fit_state: self.state.save(finetune_fit=fit_state),
            distill=distill,
        )

    def policy(self, checkpoint: str | Path, tracker: Tracker) -> PolicyPhase:
        """The policy phase, learnt to its last epoch (resumed where it stopped)."""
        phase = PolicyPhase(self.config, checkpoint, self.splits)
        if self.state.get("policy") is not None:
            phase.load_state_dict(self.state.get("policy"))
        clock = [time.perf_counter()]

        def save() -> None:
            now = time.perf_counter()
            phases = self.state.phases
            phases["policy"] = phases.get("policy", 0.0) + now - clock[0]
            clock[0] = now
            self.state.save(policy=phase.state_dict())

        phase.run(save, tracker, self.progress)
        phase.agent.save(self.files.root / "policy.pt")
        if self.config.agent in SHARED_AGENTS:  # the network a transfer to others starts from
            phase.agent.save_policy(self.files.root / "shared-policy.pt")
        phase.env.close()  # the trained network is pruned next: no hooks of a compiled forward
        return phase

    def run(self, tracker: Tracker, command: str) -> dict[str, Any]:
        config, phases = self.config, self.state.phases
        checkpoint = self.baseline(command)
        model = build_network(config.task_spec(checkpoint=str(checkpoint)), self.splits)
        model.to(self.device)
        baseline = _measure(model, self.splits, self.example, self.device)
        policy = self.policy(checkpoint, tracker)

        start = time.perf_counter()
        trained = policy.env.unwrapped.network.eval()  # jointly trained, or the frozen baseline
        gates = policy.env.unwrapped.gates
        pruned, keep = prune_to(trained, gates, policy.architecture(), self.example)
        phases["prune"] = phases.get("prune", 0.0) + time.perf_counter() - start
        searched = split_accuracy(pruned.eval(), self.splits, "test", self.device)
        start = time.perf_counter()
        if config.tuning_epochs:
            self.finetune(pruned, model)
        phases["finetune"] = phases.get("finetune", 0.0) + time.perf_counter() - start
        pruned.eval()
        report = _report(
            config,
            command,
            baseline,
            _measure(pruned, self.splits, self.example, self.device),
            kept_channels(pruned, trained, gates.groups),
            policy.env.unwrapped.lam,
            phases,
            self.splits,
        )
        report["searched"] = {"accuracy": searched, "pairs": policy.agent.num_timesteps}
        report["curve"] = None if policy.recorder is None else policy.recorder.points
        _write_outputs(self.files, report, pruned, keep, policy, self.splits)
        _track_results(tracker, report, self.files)
        return report


def _track_results(tracker: Tracker, report: dict, files: RunFiles) -> None:
    tracker.summary({f"prune/{k}": v for k, v in report["pruned"].items()})
    columns = ("accuracy", "params", "macs", "latency_ms")
    tracker.log_table(
        "summary",
        ["", *columns],
        [[row, *(report[row][k] for k in columns)] for row in ("baseline", "pruned")],
    )
    tracker.log_artifact("pruned", "model", [files.root / "pruned.pt", files.root / "report.json"])


def _width(model: nn.Module, name: str) -> int:
    layer = dict(model.named_modules())[name]
    return layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels


def kept_channels(pruned: nn.Module, full: nn.Module, groups: list) -> dict[str, list[int]]:
    """[kept, total] channels per group, read off the pruned and the full network (so a group
    that surgery saved from being emptied shows the channel it kept, and a group of slots,
    fewer agents than channels, counts channels)."""
    return {g.name: [_width(pruned, g.name), _width(full, g.name)] for g in groups}


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
            "policy": config.search_epochs,
            "finetune": config.tuning_epochs,
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
    policy: PolicyPhase,
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
            [g.name for g in policy.env.unwrapped.groups],
            root / "keep_probabilities.png",
        )
    atomic_write(root / "summary.md", lambda f: f.write(summary_markdown(report).encode()))
    write_json_atomic(root / "report.json", report)
