"""Baseline training and the `decore train` command, on the embedded set and CPU."""

import dataclasses
import re
import subprocess
import sys

import pytest
import torch

from agents.cli import main
from decore_env import models
from decore_env.data import load_dataset
from decore_env.metrics import accuracy
from decore_env.training import fit


@pytest.fixture(scope="module")
def embedded():
    return load_dataset("embedded")


def test_lenet5_learns_the_embedded_set(embedded):
    torch.manual_seed(0)
    model = models.create("lenet5")
    trained = fit(model, embedded, 1, 0.05, 48, 5e-4, "cpu", seed=0, progress=False)  # 250 steps
    assert trained > 0.9
    again = accuracy(model, embedded.test_x, embedded.test_y, embedded.mean, embedded.std, 512)
    assert again == pytest.approx(trained)
    assert model.training  # accuracy restores the mode it found


def test_same_seed_same_weights(embedded):
    small = dataclasses.replace(
        embedded,
        train_x=embedded.train_x[:512],
        train_y=embedded.train_y[:512],
        test_x=embedded.test_x[:100],
        test_y=embedded.test_y[:100],
    )

    def train(seed: int) -> dict[str, torch.Tensor]:
        torch.manual_seed(0)
        model = models.create("lenet5")
        fit(model, small, 1, 0.05, 64, 5e-4, "cpu", seed=seed, progress=False)
        return model.state_dict()

    first, second, other = train(1), train(1), train(2)
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


@pytest.mark.parametrize(
    "args",
    [
        ["--model", "nope"],
        ["--model", "lenet5", "--dataset", "mnsit"],
        ["--model", "lenet5", "--dataset", "{tmp}/missing"],
        ["--model", "lenet5", "--epochs", "0"],
        ["--model", "lenet5", "--lr", "abc"],
        ["--model", "lenet5", "--device", "tpu"],
        ["--model", "vgg16"],  # 3-channel model, 1-channel data
    ],
)
def test_train_rejects_bad_input(args, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["train", *(a.format(tmp=tmp_path) for a in args), "--out", str(out)]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert re.fullmatch(r"error: [^\n]+\n", captured.err)
    assert not out.exists()


def test_module_entry_point_reports_errors():
    result = subprocess.run(
        [sys.executable, "-m", "agents.cli", "train", "--model", "nope"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: unknown model 'nope'") and "lenet5" in result.stderr


def test_train_writes_a_loadable_baseline(tmp_path, capsys):
    argv = ["train", "--model", "lenet300", "--epochs", "1", "--batch-size", "500"]
    assert main([*argv, "--device", "cpu", "--out", str(tmp_path)]) == 0
    path = tmp_path / "baseline.pt"
    assert [p.name for p in tmp_path.iterdir()] == ["baseline.pt"]  # no temp file left
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("test accuracy: ") and line.endswith(f"(saved to {path})")
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["model"] == "lenet300" and ckpt["dataset"] == "embedded"
    assert ckpt["num_classes"] == 10 and ckpt["epochs"] == 1
    assert 0.8 < ckpt["accuracy"] <= 1 and f"{ckpt['accuracy']:.4f}" in line
    model = models.create("lenet300", ckpt["num_classes"])
    model.load_state_dict(ckpt["state_dict"])
