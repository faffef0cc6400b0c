"""Baseline training and the `decore train` command, on the embedded set and CPU."""

import dataclasses
import re
import subprocess
import sys

import pytest
import torch
from torch import nn

from agents.run.cli import main
from decore_env import models
from decore_env.data.sets import load_dataset
from decore_env.training.fit import Schedule, fit
from decore_env.training.metrics import accuracy


@pytest.fixture(scope="module")
def embedded():
    return load_dataset("embedded")


def test_lenet5_learns_the_embedded_set(embedded):
    torch.manual_seed(0)
    model = models.create("lenet5")
    schedule = Schedule(1, 0.05, 48)  # 250 steps
    trained = fit(model, embedded, schedule, "cpu", seed=0, progress=False)
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
        fit(model, small, Schedule(1, 0.05, 64), "cpu", seed=seed, progress=False)
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
        [sys.executable, "-m", "agents.run.cli", "train", "--model", "nope"],
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
    assert 0.5 < ckpt["accuracy"] <= 1  # far above chance after 20 steps
    assert f"{ckpt['accuracy']:.4f}" in line
    model = models.create("lenet300", ckpt["num_classes"])
    model.load_state_dict(ckpt["state_dict"])


def test_distillation_mixes_labels_and_the_teachers_softened_outputs():
    from decore_env.training.fit import Distillation

    torch.manual_seed(0)
    teacher, student = nn.Linear(4, 3), nn.Linear(4, 3)
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    logits = student(x)
    ce = nn.functional.cross_entropy(logits, y)
    assert torch.allclose(Distillation(teacher, 0.0, 4.0).loss(logits, x, y, 0.0), ce)
    # towards itself: the soft term is 0 and has no gradient
    itself = Distillation(student, 1.0, 4.0).loss(logits, x, y, 0.0)
    assert abs(itself.item()) < 1e-6
    # the soft term by hand: T^2 * sum p_t (log p_t - log p_s) / batch
    t = 4.0
    p_t = torch.softmax(teacher(x) / t, 1)
    by_hand = t * t * (p_t * (p_t.log() - torch.log_softmax(logits / t, 1))).sum(1).mean()
    mixed = Distillation(teacher, 0.3, t).loss(logits, x, y, 0.0)
    assert torch.allclose(mixed, 0.7 * ce + 0.3 * by_hand, atol=1e-6)
    mixed.backward()
    assert student.weight.grad is not None and teacher.weight.grad is None
    with pytest.raises(ValueError, match="weight"):
        Distillation(teacher, 1.5, 4.0)
