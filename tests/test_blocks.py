"""Building blocks of other model libraries: each prunes exactly (masked == pruned for random
masks, params and MACs as predicted) or is refused by name, never an unnamed crash."""

import pytest
import torch
from blocks import BLOCKS, network

from decore_env.channels.equivalence import assert_masked_equals_pruned, draw_mask, realistic_norms
from decore_env.channels.gates import ChannelGates
from decore_env.channels.tracing import UnsupportedLayerError

EXACT = ("ghost module", "inverted residual with squeeze-excitation")
REFUSED = {
    "mixed-kernel depthwise split": r"layer '3' \(MixedKernel\) splits the 16 channels .*\(split\)",
    "cross-stage-partial split": r"layer '3' \(CSP\) splits the 16 channels .*\(chunk\)",
    "multi-scale residual split (Res2Net)": r"layer '3' \(Res2\) splits the 16 channels",
}


@pytest.mark.parametrize("construct", EXACT)
def test_supported_blocks_prune_exactly_for_random_masks(construct):
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    model = realistic_norms(BLOCKS[construct](), x)
    gates = ChannelGates(model, x)
    for seed in range(5):
        assert_masked_equals_pruned(model, gates, draw_mask(gates, seed, 0.5, seed), x)


@pytest.mark.parametrize("construct", REFUSED)
def test_channel_splits_are_refused_naming_the_layer_and_the_construct(construct):
    x = torch.randn(2, 3, 8, 8)
    with pytest.raises(UnsupportedLayerError, match=REFUSED[construct]):
        ChannelGates(BLOCKS[construct]().eval(), x)


def test_every_construct_is_covered():
    assert set(BLOCKS) == {*EXACT, *REFUSED}


class _Slice(torch.nn.Module):
    def forward(self, x):
        return x[:, :4]


class _Whole(torch.nn.Module):
    def forward(self, x):
        return x[:, :] + x[:, ...].chunk(1, 1)[0]


def test_a_channel_slice_is_refused_and_a_whole_one_is_not():
    convs = [torch.nn.Conv2d(3, 8, 1), torch.nn.Conv2d(8, 4, 1)]
    x = torch.randn(1, 3, 4, 4)
    sliced = torch.nn.Sequential(convs[0], _Slice(), torch.nn.Conv2d(4, 4, 1))
    with pytest.raises(UnsupportedLayerError, match=r"layer '1' \(_Slice\) selects part of"):
        ChannelGates(sliced, x)
    assert ChannelGates(torch.nn.Sequential(convs[0], _Whole(), convs[1]), x).n_agents == 8


def test_a_channel_mapped_past_a_layers_width_is_refused_naming_the_layer(monkeypatch):
    """The net under the named refusals: channels the grouping places where a layer has none
    (simulated by a layer reported narrower than it is)."""
    from decore_env.channels import tracing

    real = tracing._channels
    monkeypatch.setattr(tracing, "_channels", lambda target, *a: real(target, *a) // 2)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 1), torch.nn.Conv2d(8, 4, 1))
    with pytest.raises(UnsupportedLayerError, match=r"layer '\d' \(Conv2d\) gets channels of"):
        ChannelGates(model, torch.randn(1, 3, 4, 4))


def test_a_failure_inside_torch_pruning_is_refused_naming_the_group(monkeypatch):
    import torch_pruning as tp

    from decore_env.channels.surgery import prune

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 1), torch.nn.Conv2d(8, 4, 1))
    x = torch.randn(1, 3, 4, 4)
    gates = ChannelGates(model, x)

    def fail(self, *args, **kwargs):
        raise KeyError("a parameter pruned twice")

    monkeypatch.setattr(tp.dependency.Group, "prune", fail)
    mask = torch.ones(gates.n_agents)
    mask[0] = 0
    with pytest.raises(UnsupportedLayerError, match=r"pruning group '0' \(layers 0\) failed"):
        prune(model, gates.split(mask), x)


def test_a_mask_that_empties_one_branch_of_a_shared_group_keeps_that_layers_strongest_channel():
    """Branches concatenated, then added to other channels: one group, two layers writing
    their own channels. Dropping every channel of one branch would leave a conv without
    outputs; the pruned network keeps that layer's strongest channel and says so."""
    from blocks import Branches, ConvUnit, Residual

    from decore_env.channels.surgery import prune_to

    block = torch.nn.Sequential(
        Branches(ConvUnit(8, 4, 1), ConvUnit(8, 4, 1)), Residual(ConvUnit(8, 8, 3))
    )
    x = torch.randn(2, 3, 8, 8)
    model = realistic_norms(network(block, 8, 8), x)
    gates = ChannelGates(model, x)
    shared = next(g for g in gates.groups if len(g.layer_agents) == 3)
    left, right = shared.own_agents(0), shared.own_agents(1)
    assert set(left).isdisjoint(right)
    mask = torch.ones(gates.n_agents)
    offset = sum(g.size for g in gates.groups[: gates.groups.index(shared)])
    mask[[offset + a for a in right]] = 0
    with pytest.warns(UserWarning, match=r"every output channel of layer '3\.0\.right\.0'"):
        pruned, keep = prune_to(model, gates, mask, x)
    assert int(keep[shared.name][right].sum()) == 1
    assert pruned.get_submodule("3.0.right.0").out_channels == 1
    assert pruned(x).shape == (2, 10)
