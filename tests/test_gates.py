"""Channel groups found from the model, mask validation, and the cost formula's inputs."""

import dataclasses

import pytest
import torch
import torch_pruning as tp
from torch import nn

from decore_env import models
from decore_env.channels.gates import ChannelGates
from decore_env.channels.tracing import Group, UnsupportedLayerError, channel_groups


def test_vgg16_has_the_papers_4736_agents_in_14_groups():
    groups = channel_groups(models.create("vgg16"), torch.randn(1, 3, 32, 32))
    assert len(groups) == 14
    assert sum(g.size for g in groups) == 4736
    assert [g.size for g in groups][:3] == [64, 64, 128]
    assert groups[-1].size == 512  # the hidden linear layer; the classifier has no agents


def test_resnet56_couples_each_residual_stream_into_one_group():
    groups = channel_groups(models.create("resnet56"), torch.randn(1, 3, 32, 32))
    # 27 inner block convs + one stream group per stage (stem/shortcuts + last convs).
    assert len(groups) == 30
    streams = [g for g in groups if len(g.layers) > 1]
    assert [g.size for g in streams] == [16, 32, 64]
    assert all(len(g.layers) == 10 for g in streams)  # 9 block outputs + stem or shortcut
    assert groups[0] == streams[0]  # forward order: the stem's group comes first


def test_groups_are_frozen():
    group = Group("a", 3, ("a",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        group.size = 4


@pytest.mark.parametrize(
    ("layer", "width", "message"),
    [
        (nn.LayerNorm([4, 8, 8]), 4, r"layer '1' \(LayerNorm\) normalises over \(4, 8, 8\)"),
        (nn.Conv2d(4, 2, 3, padding=1, groups=2), 2, r"'1' \(Conv2d\) is a depthwise conv with 4"),
        (nn.PReLU(4), 4, r"layer '1' \(PReLU\) has parameters but is neither"),
    ],
)
def test_unsupported_layers_are_named(layer, width, message):
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), layer, nn.Flatten(), nn.Linear(width * 8 * 8, 2)
    )
    with pytest.raises(UnsupportedLayerError, match=message):
        channel_groups(model, torch.randn(1, 1, 8, 8))


class _Shuffle(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        return x.view(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)


def test_channel_shuffle_is_refused_by_name():
    model = nn.Sequential(nn.Conv2d(1, 4, 1), _Shuffle(), nn.Conv2d(4, 4, 1))
    with pytest.raises(UnsupportedLayerError, match=r"layer '1' \(_Shuffle\) reshapes channels"):
        channel_groups(model, torch.randn(1, 1, 8, 8))


def test_torch_pruning_failures_become_unsupported_layer_errors(monkeypatch):
    def fail(*_args, **_kwargs):
        raise ZeroDivisionError("integer division or modulo by zero")

    monkeypatch.setattr(tp.DependencyGraph, "build_dependency", fail)
    with pytest.raises(UnsupportedLayerError, match=r"cannot trace the model \(ZeroDivisionError"):
        channel_groups(models.create("lenet5"), torch.randn(1, 1, 28, 28))


def test_a_grouped_conv_makes_agents_decide_slots():
    """4 conv groups over 8 channels: agent j keeps channel j of every conv group."""
    model = nn.Sequential(
        nn.Conv2d(3, 8, 1), nn.Conv2d(8, 12, 3, groups=4), nn.Flatten(), nn.Linear(12 * 6 * 6, 2)
    )
    gates = ChannelGates(model, torch.randn(1, 3, 8, 8))
    assert gates.sizes == (2, 3)
    assert gates.channel_agents[0].tolist() == [0, 1] * 4
    assert gates.channel_agents[1].tolist() == [0, 1, 2] * 4


def test_wrong_mask_shapes_are_refused():
    gates = ChannelGates(models.create("lenet5"), torch.randn(1, 1, 28, 28))
    with pytest.raises(ValueError, match=r"expected \(N, 226\)"):
        gates.check_mask(torch.ones(225))
    model = gates.model
    with pytest.raises(ValueError, match="mask has 3 rows but the batch has 2 samples"):
        with gates.masked(torch.ones(3, gates.n_agents)):
            model(torch.randn(2, 1, 28, 28))


def test_kept_per_group_and_cost_of_the_full_mask():
    model = models.create("lenet5")
    gates = ChannelGates(model, torch.randn(1, 1, 28, 28))
    masks = torch.ones(2, gates.n_agents)
    masks[1, :6] = 0
    masks[1, 2] = 1
    assert gates.kept_per_group(masks).tolist() == [[6, 16, 120, 84], [1, 16, 120, 84]]
    params, macs = gates.cost(masks)
    assert params[0].item() == 61706
    # Dropping 5 of 6 conv1 channels removes 5 x (25 + 1) conv1 params and 5 x 16 x 25 conv2.
    assert params[0].item() - params[1].item() == 5 * 26 + 5 * 16 * 25
    assert macs[1].item() < macs[0].item()


def test_hooks_exist_only_inside_masked():
    model = models.create("lenet5")
    gates = ChannelGates(model, torch.randn(1, 1, 28, 28))
    with gates.masked(torch.zeros(gates.n_agents)):
        assert any(m._forward_pre_hooks for m in model.modules())
    assert not any(m._forward_pre_hooks for m in model.modules())
