"""The compress pipeline end to end on the embedded data: outputs, bad input, kill and resume."""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from envs import EPOCH_STEPS

from agents.run.config import CompressConfig, demo_config
from agents.run.folders import RunError
from agents.run.pipeline import compress
from decore_env.channels.surgery import load_pruned

TINY = demo_config(baseline_epochs=1, policy_epochs=2, finetune_epochs=1, lam=2.0)


def test_a_tiny_run_writes_every_output_and_an_offline_wandb_run(tmp_path, offline_wandb):
    report = compress(TINY, tmp_path / "run", wandb=True, progress=False, command="test")
    (wandb_run,) = (tmp_path / "run" / "wandb").glob("offline-run-*")
    assert list(wandb_run.glob("*.wandb"))
    files = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"report.json", "pruned.pt", "policy.pt", "summary.md", "config.json"} <= files
    assert {"kept_channels.png", "keep_probabilities.png"} <= files
    saved = json.loads((tmp_path / "run" / "report.json").read_text())
    assert saved["pruned"] == report["pruned"]
    for key in ("model", "dataset", "agent", "lam", "seed", "command", "kept", "phases_s"):
        assert key in saved
    assert 0.0 <= saved["pruned"]["accuracy"] <= 1.0
    assert saved["pruned"]["params"] <= saved["baseline"]["params"]
    pruned = load_pruned(tmp_path / "run" / "pruned.pt")
    kept_total = sum(k for k, _ in saved["kept"].values())
    widths = sum(
        m.out_channels if isinstance(m, torch.nn.Conv2d) else m.out_features
        for m in pruned.modules()
        if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)
    )
    assert widths == kept_total + 10  # the classifier keeps its 10 outputs


def test_existing_run_folders_are_not_overwritten_and_resume_checks_settings(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(TINY.to_dict()))
    with pytest.raises(RunError, match="already holds a run"):
        compress(TINY, run, progress=False)
    with pytest.raises(RunError, match="lam differ"):
        compress(replace(TINY, lam=3.0), run, resume=True, progress=False)
    with pytest.raises(RunError, match="not a run folder"):
        compress(None, tmp_path / "missing", resume=True, progress=False)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model": "nope"}, "unknown model 'nope'; valid names: lenet5"),
        ({"model": "vgg16"}, "cannot take 1x28x28 images"),
        ({"checkpoint": "/nonexistent/baseline.pt"}, "checkpoint /nonexistent/baseline.pt not"),
        ({"dataset": "/nonexistent/images"}, "data folder /nonexistent/images not found"),
    ],
)
def test_a_run_refused_for_its_settings_leaves_no_folder(tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        compress(replace(TINY, **change), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"lam": -1.0}, "lam must be > 0 and <= 1e"),
        ({"target_params": 1.5}, r"target fraction must be in \(0, 1\]"),
        ({"policy_epochs": 0}, "policy_epochs must be a positive int"),
    ],
)
def test_bad_settings_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        CompressConfig(**change)


def _final_mask(run) -> torch.Tensor:
    state = torch.load(run / "policy.pt", weights_only=True)
    return torch.sigmoid(state["weights"]) > 0.5


RESUME_ARGS = [
    "--baseline-epochs", "2", "--policy-epochs", "3", "--finetune-epochs", "3",
    "--lam", "2", "--no-progress",
]  # fmt: skip
DEMO = [sys.executable, "-m", "agents.run.cli", "demo"]


@pytest.fixture(scope="module")
def uninterrupted_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole") / "run"
    subprocess.run([*DEMO, "--out", str(out), *RESUME_ARGS], check=True)
    return out


def _saved(run: Path, phase: str) -> bool:
    """The run saved the state of ``phase`` after an epoch (the baseline's is a file of the
    one trainer, beside the baseline it trains)."""
    if phase == "baseline":
        return (run / "baseline.pt.fit").is_file()
    state = run / "state.pt"
    return state.exists() and phase in torch.load(state, weights_only=True)


@pytest.mark.parametrize(
    ("sig", "phase"),
    [
        pytest.param(signal.SIGKILL, "baseline", marks=pytest.mark.slow),
        (signal.SIGKILL, "policy"),
        pytest.param(signal.SIGINT, "policy", marks=pytest.mark.slow),
        (signal.SIGKILL, "finetune_fit"),
    ],
    ids=["SIGKILL-baseline", "SIGKILL-policy", "SIGINT-policy", "SIGKILL-finetune"],
)
def test_stopped_run_resumes_to_the_uninterrupted_result(tmp_path, uninterrupted_run, sig, phase):
    stopped = tmp_path / "stopped"
    proc = subprocess.Popen(
        [*DEMO, "--out", str(stopped), *RESUME_ARGS],
        stderr=subprocess.PIPE,
        text=True,
        # a shell's background job ignores SIGINT, and a child inherits that: restore Ctrl-C
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not _saved(stopped, phase):
        time.sleep(0.1)
    assert proc.poll() is None, f"the run ended before it could be stopped in {phase}"
    os.kill(proc.pid, sig)
    _, stderr = proc.communicate(timeout=120)
    if sig == signal.SIGINT:  # Ctrl-C: a clean stop that says how to go on
        assert proc.returncode == 130
        assert f"decore compress --resume {stopped}" in stderr
        assert "Traceback" not in stderr
    assert not (stopped / "report.json").exists()
    subprocess.run([*DEMO[:-1], "compress", "--resume", str(stopped), "--no-progress"], check=True)
    assert torch.equal(_final_mask(stopped), _final_mask(uninterrupted_run))
    resumed = json.loads((stopped / "report.json").read_text())
    whole = json.loads((uninterrupted_run / "report.json").read_text())
    assert resumed["kept"] == whole["kept"]
    for row in ("baseline", "pruned"):
        assert resumed[row]["accuracy"] == whole[row]["accuracy"]


def test_compress_settings_and_gym_make_build_the_same_task():
    """The pipeline's env (from CompressConfig, its data already loaded) and gym.make of the
    same spec score the same masks with the same rewards, joint training included."""
    import gymnasium as gym

    from agents.run.policy_phase import policy_env
    from decore_env.data.sets import load_dataset
    from decore_env.task.weights import cached_baseline

    config = demo_config(batch_size=32, seed=3)
    splits = load_dataset("embedded")
    checkpoint = cached_baseline("lenet5", splits, 0, "cpu")
    from_compress = policy_env(config, checkpoint, splits)
    from_gym = gym.make_vec(
        "DecoreCompress-v0",
        num_envs=32,
        vectorization_mode="vector_entry_point",
        spec=config.task_spec(checkpoint=str(checkpoint), observe=False),
        tensors=True,
    )
    masks = torch.rand(4, 32, 226, generator=torch.Generator().manual_seed(0)) > 0.4
    rewards = []
    for env in (from_compress, from_gym):
        env.reset(seed=config.seed)
        rewards.append(torch.stack([env.step(m)[-1]["group_rewards"] for m in masks]))
    assert torch.equal(rewards[0], rewards[1])


@pytest.mark.parametrize("agent", ["l1_global", "random_search"])
def test_a_reference_goes_through_the_same_pipeline_at_its_target(tmp_path, agent, capsys):
    from agents.run.cli import main

    out = tmp_path / "run"
    argv = [
        "demo", "--agent", agent, "--target-params", "0.3", "--no-train-network",
        "--baseline-epochs", "1", "--policy-epochs", "1", "--finetune-epochs", "1",
        "--no-progress", "--out", str(out),
    ]  # fmt: skip
    assert main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    kept = report["pruned"]["params"] / report["baseline"]["params"]
    assert report["agent"] == agent and abs(kept / 0.3 - 1) <= 0.02
    saved = torch.load(out / "policy.pt", weights_only=True)
    assert saved["reference"] == agent and saved["pairs"] == (
        EPOCH_STEPS * 256 if agent != "l1_global" else 0
    )


def test_an_sb3_agent_goes_through_the_same_pipeline(tmp_path):
    from agents.run.cli import main

    out = tmp_path / "run"
    argv = [
        "demo", "--agent", "a2c", "--baseline-epochs", "1", "--policy-epochs", "1",
        "--finetune-epochs", "1", "--no-progress", "--out", str(out),
    ]  # fmt: skip
    assert main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    saved = torch.load(out / "policy.pt", weights_only=True)
    assert report["agent"] == "a2c" and saved["agent"] == "a2c"
    steps = EPOCH_STEPS  # one epoch of the embedded set at batch 256; A2C rolls out 5 steps
    assert saved["pairs"] == 256 * 5 * -(-steps // 5) and steps <= saved["pairs"] // 256 < steps + 5
    kept = sum(k for k, _ in report["kept"].values())
    assert kept == int(saved["mask"].sum())  # the pruned network is the policy's mode


def test_reinforce_plus_starts_from_its_preset_and_lands_on_the_target(tmp_path):
    from agents.run.cli import main
    from agents.run.config import PLUS_PRESET

    out = tmp_path / "run"
    argv = [
        "demo", "--agent", "reinforce-plus", "--target-params", "0.3", "--baseline-epochs", "1",
        "--policy-epochs", "2", "--l1-prior", "2", "--no-progress", "--out", str(out),
    ]  # fmt: skip
    assert main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    settings = report["settings"]
    assert settings["agent"] == "reinforce-plus" and settings["l1_prior"] == 2.0  # given wins
    for name in ("reward_baseline", "train_network", "final_architecture", "agent_lr"):
        assert settings[name] == PLUS_PRESET[name]
    assert settings["train_network"] is False and settings["distill_weight"] == 0.0
    kept = report["pruned"]["params"] / report["baseline"]["params"]
    assert 0.3 * 0.98 <= kept <= 0.3  # the budget architecture
    # the frozen network's 2 policy epochs go to fine-tuning (the demo fine-tunes 3)
    assert report["epochs"]["policy"] == 2 and report["epochs"]["finetune"] == 2 + 3
    assert (
        torch.load(out / "policy.pt", weights_only=True)["num_timesteps"] == 2 * EPOCH_STEPS * 256
    )
