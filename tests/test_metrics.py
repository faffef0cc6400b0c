"""Metrics: exact params/MACs on a hand-counted model, accuracy on known outputs, latency."""

import pytest
import torch
from torch import nn

from decore_env.training.metrics import accuracy, count, count_params, latency_ms


def _tiny() -> nn.Sequential:
    """1x4x4 input -> conv3x3 (1->2) -> BN -> ReLU -> flatten 8 -> linear 8->3."""
    return nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3)
    )


def test_count_exact_on_hand_computed_model() -> None:
    # params: conv 2*9 + 2, BN 2 + 2, linear 8*3 + 3 = 51.
    # MACs per image: conv 2 channels * 2x2 positions * 9 = 72, linear 8*3 = 24; BN/ReLU free.
    model = _tiny()
    assert count_params(model) == 51
    assert count(model, torch.randn(1, 1, 4, 4)) == (51, 96)
    assert count(model, torch.randn(5, 1, 4, 4)) == (51, 96)  # per image, whatever the batch


def test_count_leaves_model_untouched() -> None:
    model = _tiny().train()
    stats = model[1].running_mean.clone()
    count(model, torch.randn(4, 1, 4, 4) + 3.0)
    assert model.training
    assert torch.equal(model[1].running_mean, stats)


def _identity_classifier() -> nn.Sequential:
    """Predicts the index of the largest input feature (of N x 3 x 1 x 1 images)."""
    linear = nn.Linear(3, 3)
    with torch.no_grad():
        linear.weight.copy_(torch.eye(3))
        linear.bias.zero_()
    return nn.Sequential(nn.Flatten(), linear)


RAW = ((0.0, 0.0, 0.0), (1 / 255, 1 / 255, 1 / 255))
"""mean 0, std 1/255: uint8 pixels pass through as their values."""


def _pixels(rows: list[list[int]]) -> torch.Tensor:
    """(N, 3) values as uint8 images (N, 3, 1, 1)."""
    return torch.tensor(rows, dtype=torch.uint8).view(-1, 3, 1, 1)


def test_accuracy_on_known_outputs() -> None:
    images = _pixels([[9, 0, 0], [0, 9, 0], [0, 0, 9], [9, 0, 0], [0, 9, 0]])  # 0, 1, 2, 0, 1
    labels = torch.tensor([0, 1, 0, 0, 2])  # 3 of 5 right
    model = _identity_classifier().train()
    assert accuracy(model, images, labels, *RAW, batch_size=2) == pytest.approx(0.6)
    assert accuracy(model, images, labels, *RAW, batch_size=64) == pytest.approx(0.6)
    assert model.training


def test_accuracy_rejects_mismatched_inputs() -> None:
    with pytest.raises(ValueError, match="labels"):
        accuracy(_identity_classifier(), _pixels([[1, 0, 0]] * 3), torch.zeros(2).long(), *RAW)


def test_latency_is_positive_and_keeps_mode() -> None:
    model = _tiny().train()
    ms = latency_ms(model, torch.randn(1, 1, 4, 4), batch_size=8, device="cpu", repeats=3)
    assert 0.0 < ms < 1000.0
    assert model.training


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_paths_leave_the_cpu_model_in_place() -> None:
    model = _identity_classifier()
    images, labels = _pixels([[9, 0, 0], [0, 9, 0], [0, 0, 9]]), torch.tensor([0, 1, 1])
    assert accuracy(model, images, labels, *RAW, device="cuda") == pytest.approx(2 / 3)
    example = images[:1].float()
    assert latency_ms(model, example, batch_size=4, device="cuda", repeats=3) > 0.0
    assert model[1].weight.device.type == "cpu"
