"""The tracker: the disabled one is free, the W&B one writes a complete offline run."""

import subprocess
import sys

import numpy as np
import torch

from agents.run.tracking import Tracker, WandbTracker, open_tracker


def test_disabled_tracker_does_nothing(tmp_path):
    tracker = open_tracker(False, "decore-test", {"lam": 4.0}, tmp_path / "run")
    assert type(tracker) is Tracker
    tracker.log({"env/accuracy": 0.5}, 0)
    tracker.log_histogram("policy/keep_prob", np.ones(3), 0)
    tracker.log_table("summary", ["a"], [[1]])
    tracker.summary({"prune/macs": 1})
    tracker.log_artifact("pruned", "model", [tmp_path / "missing.pt"])
    tracker.finish()
    assert not (tmp_path / "run").exists()


def test_import_does_not_import_wandb():
    code = "import sys, agents.run.tracking; sys.exit('wandb' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_wandb_offline_run(tmp_path, offline_wandb):
    # One test for everything: each wandb.init starts a service process (seconds).
    run_dir = tmp_path / "run"
    tracker = open_tracker(True, "decore-test", {"lam": 4.0, "seed": 0}, run_dir, name="t")
    assert isinstance(tracker, WandbTracker)
    for step in range(3):
        tracker.log({"env/accuracy": 0.5 + 0.1 * step, "policy/keep_frac": 1.0 - step}, step)
    tracker.log_histogram("policy/keep_prob", torch.rand(100), 2)
    tracker.log_table("summary", ["", "accuracy"], [["baseline", 0.9], ["pruned", 0.88]])
    tracker.summary({"prune/macs": 1000, "prune/params": 100})
    report = tmp_path / "report.json"
    report.write_text("{}")
    tracker.log_artifact("pruned", "model", [report])
    tracker.finish()
    tracker.finish()  # idempotent

    runs = list((run_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    records = list(runs[0].glob("*.wandb"))
    assert len(records) == 1 and records[0].stat().st_size > 0
    assert list(runs[0].glob("files/media/table/summary_*.table.json"))
