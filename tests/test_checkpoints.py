"""One baseline checkpoint format, written by the one trainer; the earlier shapes still load."""

import hashlib
from pathlib import Path

import pytest
import torch

from decore_env import models
from decore_env.common.files import CheckpointError, load_weights
from decore_env.data.sets import load_dataset
from decore_env.training.baseline import BASELINE_FORMAT, fresh_network, train_baseline
from decore_env.training.fit import Schedule


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A lenet300 baseline from the one trainer (one short epoch on the embedded set)."""
    splits = load_dataset("embedded")
    path = tmp_path_factory.mktemp("baseline") / "baseline.pt"
    train_baseline(path, "lenet300", splits, Schedule(1, 0.05, 500), 0, "cpu", progress=False)
    return path, torch.load(path, weights_only=True), splits


def test_the_trainer_writes_the_one_format_and_no_state_file(trained):
    path, checkpoint, splits = trained
    assert checkpoint["format"] == BASELINE_FORMAT and checkpoint["model"] == "lenet300"
    assert checkpoint["input_shape"] == splits.input_shape and checkpoint["epochs"] == 1
    assert checkpoint["schedule"]["batch_size"] == 500 and 0 <= checkpoint["accuracy"] <= 1
    assert [p.name for p in path.parent.iterdir()] == ["baseline.pt"]


@pytest.mark.parametrize(
    "shape",
    [
        "bare state dict (the default task's cache before the one format)",
        "model and state_dict (compress runs before the one format)",
        "decore train's dict before the one format",
        "the one format",
    ],
)
def test_every_checkpoint_shape_loads_the_same_weights(trained, tmp_path, shape):
    _, checkpoint, splits = trained
    weights = checkpoint["state_dict"]
    saved = {
        "bare": weights,
        "model": {"model": "lenet300", "state_dict": weights},
        "decore": {"model": "lenet300", "dataset": "embedded", "state_dict": weights, "epochs": 1},
        "the": checkpoint,
    }[shape.split()[0]]
    torch.save(saved, tmp_path / "old.pt")
    net = fresh_network("lenet300", splits, seed=1)
    load_weights(net, tmp_path / "old.pt")
    for name, tensor in net.state_dict().items():
        assert torch.equal(tensor, weights[name]), name


def test_weights_of_another_network_are_refused_in_one_line(trained):
    path, _, splits = trained
    with pytest.raises(CheckpointError, match="does not fit the model"):
        load_weights(models.for_data("lenet5", splits.num_classes, splits.input_shape), path)


def test_the_default_task_uses_its_shipped_weights_and_trains_nothing(monkeypatch):
    """The same network on every machine: the file is the one the README names, it loads
    tensor-only, and gym.make builds the default task without training."""
    import gymnasium as gym

    import decore_env  # noqa: F401  (registers the ids)
    from decore_env.task import weights

    path = weights.default_weights()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == weights.DEFAULT_WEIGHTS_SHA256
    checkpoint = torch.load(path, weights_only=True)
    assert checkpoint["format"] == BASELINE_FORMAT and checkpoint["model"] == "lenet5"
    assert checkpoint["command"] == "python scripts/train_default_weights.py"
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert weights.DEFAULT_WEIGHTS_SHA256 in readme
    for key in ("val_accuracy", "accuracy"):
        assert f"{100 * checkpoint[key]:.2f}%" in readme, key

    def no_training(*args, **kwargs):
        raise AssertionError("the default task trained a baseline")

    monkeypatch.setattr(weights, "train_baseline", no_training)
    env = gym.make("DecoreCompress-v0", seed=5)
    net = env.unwrapped.network
    for name, tensor in net.state_dict().items():
        assert torch.equal(tensor, checkpoint["state_dict"][name]), name
