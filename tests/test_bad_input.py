"""Every bad input to the `decore` command: exit status 2, one `error:` line, no traceback,
and no run folder left behind (or the resumable one left as it was)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from agents.run.cli import main
from agents.run.config import demo_config
from decore_env import models
from decore_env.channels.gates import ChannelGates
from decore_env.channels.surgery import connected_keep, prune, save_pruned

TINY = ["--baseline-epochs", "1", "--policy-epochs", "1", "--finetune-epochs", "0"]


def _image_folder(root: Path, classes: list[str]) -> Path:
    for split in ("train", "test"):
        for name in classes:
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(2):
                Image.new("L", (8, 8), 40 * i).save(folder / f"{i}.png")
    return root


def _checkpoints(tmp: Path) -> None:
    """Files that are no baseline weights, each in its own way."""
    model = models.create("lenet5")
    torch.save(model.state_dict(), tmp / "good.pt")
    data = (tmp / "good.pt").read_bytes()
    (tmp / "truncated.pt").write_bytes(data[: len(data) // 2])
    (tmp / "empty.pt").write_bytes(b"")
    (tmp / "random.pt").write_bytes(os.urandom(256))
    torch.save([1, 2, 3], tmp / "list.pt")
    x = torch.zeros(1, 1, 28, 28)
    gates = ChannelGates(model, x)
    keep = connected_keep(gates.split(torch.ones(gates.n_agents)), gates.groups, model)
    save_pruned(tmp / "pruned.pt", prune(model, keep, x), keep, (1, 28, 28), "lenet5", 10)


def _resumable(root: Path, state: bytes | None = None, config: str | None = None) -> Path:
    root.mkdir()
    (root / "config.json").write_text(config or json.dumps(demo_config().to_dict()))
    if state is not None:
        (root / "state.pt").write_bytes(state)
    return root


@pytest.fixture
def world(tmp_path, monkeypatch, crafted_file):
    """A scratch folder holding every bad file the cases refer to, as the working folder."""
    monkeypatch.chdir(tmp_path)
    _checkpoints(tmp_path)
    _image_folder(tmp_path / "one-class", ["only"])
    (tmp_path / "a-file").write_text("not a folder")
    _resumable(tmp_path / "bad-state", state=os.urandom(128))
    crafted_file(tmp_path / "evil-state.pt", tmp_path / "ran")
    _resumable(tmp_path / "evil-run", state=(tmp_path / "evil-state.pt").read_bytes())
    _resumable(tmp_path / "bad-config", config="{not json")
    _resumable(tmp_path / "old-config", config=json.dumps({"lam": 1.0, "colour": "red"}))
    (tmp_path / "unfinished").mkdir()
    return tmp_path


CASES = {
    # compress / demo: settings refused before any folder is written
    "unknown model": (["compress", "--model", "nope"], "unknown model 'nope'"),
    "model misfits data": (["compress", "--model", "vgg16"], "cannot take 1x28x28 images"),
    "missing checkpoint": (["compress", "--checkpoint", "missing.pt"], "missing.pt not found"),
    "random-bytes checkpoint": (["demo", "--checkpoint", "random.pt"], "not a readable tensor"),
    "truncated checkpoint": (["demo", "--checkpoint", "truncated.pt"], "not a readable tensor"),
    "empty checkpoint": (["demo", "--checkpoint", "empty.pt"], "not a readable tensor"),
    "list checkpoint": (["demo", "--checkpoint", "list.pt"], "holds a list, not a state dict"),
    "pruned as checkpoint": (["demo", "--checkpoint", "pruned.pt"], "is a pruned network"),
    "missing data folder": (["demo", "--dataset", "nowhere"], "unknown data set 'nowhere'"),
    "single-class data": (["demo", "--dataset", "one-class"], "needs at least 2"),
    "batch over split": (["demo", "--batch-size", "100000"], "larger than the training split"),
    "lambda 1e308": (["demo", "--lam", "1e308"], "lam must be > 0 and <= 1e+06"),
    "lambda 1e39": (["demo", "--lam", "1e39"], "lam must be > 0 and <= 1e+06"),
    "lambda zero": (["demo", "--lam", "0"], "lam must be > 0"),
    "lambda nan": (["demo", "--lam", "nan"], "lam must be finite"),
    "lambda text": (["demo", "--lam", "lots"], "invalid float value: 'lots'"),
    "target over 1": (["demo", "--target-params", "1.5"], "target fraction must be in (0, 1]"),
    "two targets": (["demo", "--target-params", ".5", "--target-macs", ".5"], "not both"),
    "zero epochs": (["demo", "--policy-epochs", "0"], "policy_epochs must be a positive int"),
    "unknown agent": (["demo", "--agent", "dqn"], "invalid choice: 'dqn'"),
    "reference without target": (["demo", "--agent", "greedy"], "give --target-params"),
    "reference training": (
        ["demo", "--agent", "greedy", "--target-params", ".3"],
        "add --no-train-network",
    ),
    "policy file, no shared agent": (
        ["demo", "--policy-file", "good.pt"],
        "choose shared-reinforce or ppo-shared",
    ),
    "missing policy file": (
        ["demo", "--agent", "shared-reinforce", "--policy-file", "nope.pt"],
        "no policy file at nope.pt",
    ),
    "weights as policy file": (
        ["demo", "--agent", "shared-reinforce", "--policy-file", "good.pt"],
        "not a shared policy file",
    ),
    "zero-shot without policy": (
        ["demo", "--agent", "shared-reinforce", "--policy-epochs", "0"],
        "policy_epochs must be a positive int",
    ),
    "bad device": (["demo", "--device", "tpu"], "device 'tpu'"),
    "out is a file": (["demo", "--out", "a-file"], "a-file is a file, not a folder"),
    "out unwritable": (["demo", "--out", "/proc/decore-run"], "cannot write in /proc"),
    "unknown option": (["demo", "--colour", "red"], "unrecognized arguments: --colour"),
    # resume: refused, the run left as it was
    "resume no run": (["compress", "--resume", "nowhere"], "nowhere is not a run folder"),
    "resume bad state": (["compress", "--resume", "bad-state"], "cannot resume bad-state"),
    "resume crafted pickle": (["compress", "--resume", "evil-run"], "not a readable tensor"),
    "resume bad config": (["compress", "--resume", "bad-config"], "config.json is not a valid"),
    "resume old config": (["compress", "--resume", "old-config"], "unknown settings ['colour']"),
    "resume with other out": (
        ["compress", "--resume", "bad-state", "--out", "elsewhere"],
        "leave out --out",
    ),
    # train
    "train unknown model": (["train", "--model", "nope"], "unknown model 'nope'"),
    "train out is a file": (["train", "--model", "lenet5", "--out", "a-file"], "is a file"),
    "train out unwritable": (
        ["train", "--model", "lenet5", "--out", "/proc/decore-run"],
        "cannot write in /proc",
    ),
    "train batch over split": (
        ["train", "--model", "lenet5", "--batch-size", "100000"],
        "larger than the training split",
    ),
    # export
    "export no run": (["export", "nowhere"], "nowhere holds no pruned.pt"),
    "export unfinished run": (["export", "unfinished"], "unfinished holds no pruned.pt"),
    "export bad format": (["export", "unfinished", "--format", "tflite"], "invalid choice"),
}


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".lock"  # the lock file of a run folder is no content
    }


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_and_leaves_nothing(world, capsys, case):
    argv, message = CASES[case]
    if argv[0] in ("compress", "demo") and "--resume" not in argv:
        argv = [argv[0], *TINY, "--no-progress", *argv[1:]]
        if "--out" not in argv:
            argv += ["--out", "run"]
    before = _snapshot(world)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert message in err[0]
    assert not (world / "run").exists() and not (world / "runs").exists()
    assert _snapshot(world) == before  # nothing written, nothing changed
    assert not (world / "ran").exists()  # no code from a crafted file ran


def test_bad_input_from_the_console_script_is_one_line_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "agents.run.cli", "demo", "--lam", "1e39", "--out", "run"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: lam must be > 0 and <= 1e+06 (the penalty of a wrong prediction); got 1e+39"
    ]
    assert not (tmp_path / "run").exists()
