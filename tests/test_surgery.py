"""Masked network == physically pruned network, for every registry model and any keep pattern."""

from functools import cache

import pytest
import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from torch import nn

from decore_env import models
from decore_env.channels.equivalence import (
    TOLERANCE,
    assert_masked_equals_pruned,
    draw_mask,
    realistic_norms,
)
from decore_env.channels.gates import ChannelGates
from decore_env.channels.surgery import load_pruned, prune, save_pruned
from decore_env.training.metrics import count

FAST_SHAPE = {"resnet18": (3, 32, 32), "resnet50": (3, 32, 32), "mobilenet_v2": (3, 32, 32)}


def _example(name: str, batch: int = 2) -> torch.Tensor:
    shape = FAST_SHAPE.get(name, models.input_shape(name))
    return torch.randn(batch, *shape, generator=torch.Generator().manual_seed(1))


@cache
def _setup(name: str) -> tuple[nn.Module, ChannelGates, torch.Tensor]:
    torch.manual_seed(0)
    x = _example(name)
    model = realistic_norms(models.create(name), x)
    return model, ChannelGates(model, x), x


@pytest.mark.parametrize("name", models.MODEL_NAMES)
@settings(
    max_examples=4,
    deadline=None,
    derandomize=True,
    phases=(Phase.explicit, Phase.generate),  # shrinking re-prunes large models for minutes
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 2**31 - 1),
    drop=st.floats(0.0, 0.95),
    narrow=st.integers(0, 1000),
)
def test_pruned_equals_masked_and_costs_match(name, seed, drop, narrow):
    model, gates, x = _setup(name)
    assert_masked_equals_pruned(model, gates, draw_mask(gates, seed, drop, narrow), x)


def test_per_sample_masks_match_separate_pruned_models():
    model, gates, _ = _setup("resnet56")
    x = torch.randn(3, 3, 32, 32)
    masks = torch.stack([draw_mask(gates, s, 0.5, s) for s in range(3)])
    with torch.no_grad():
        with gates.masked(masks):
            batched = model(x)
        for i in range(3):
            single = prune(model, gates.split(masks[i]), x[:1]).eval()(x[i : i + 1])
            assert torch.allclose(batched[i], single[0], atol=TOLERANCE)


def test_prune_leaves_input_model_untouched_and_works_under_no_grad():
    model, gates, x = _setup("vgg16")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    mask = draw_mask(gates, 3, 0.5, 0)
    with torch.no_grad():
        pruned = prune(model, gates.split(mask), x)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert count(pruned, x)[0] < count(model, x)[0]
    assert not model.training  # still in the mode it was given


def test_emptied_group_keeps_one_channel_and_warns():
    model, gates, x = _setup("lenet5")
    second = gates.groups[1]
    keep = gates.split(torch.ones(gates.n_agents))
    keep[second.name] = torch.zeros(second.size, dtype=torch.bool)
    with pytest.warns(UserWarning, match=f"every channel of group '{second.name}'"):
        pruned = prune(model, keep, x)
    widths = [m.out_channels for m in pruned.modules() if isinstance(m, nn.Conv2d)]
    assert widths == [6, 1]


def test_bad_keep_masks_are_refused_with_the_group_named():
    model, gates, x = _setup("lenet5")
    first = gates.groups[0].name
    keep = gates.split(torch.ones(gates.n_agents))
    keep[first] = torch.ones(5, dtype=torch.bool)
    with pytest.raises(ValueError, match=rf"group '{first}' has shape \(5,\); expected \(6,\)"):
        prune(model, keep, x)
    del keep[first]
    with pytest.raises(ValueError, match=rf"missing: \['{first}'\]"):
        prune(model, keep, x)


def test_pruned_model_saves_and_loads_without_pickled_code(tmp_path):
    model, gates, x = _setup("resnet56")
    keep = gates.split(draw_mask(gates, 5, 0.6, 2))
    pruned = prune(model, keep, x).eval()
    save_pruned(tmp_path / "pruned.pt", pruned, keep, tuple(x.shape[1:]), "resnet56", 10)
    loaded = load_pruned(tmp_path / "pruned.pt")
    with torch.no_grad():
        assert torch.equal(loaded(x), pruned(x))


def test_masked_gradients_equal_pruned_gradients():
    """Joint training through the mask trains kept weights exactly as the pruned net would."""
    model, gates, x = _setup("lenet5")
    mask = draw_mask(gates, 7, 0.5, 1)
    keep = gates.split(mask)
    pruned = prune(model, keep, x)
    target = torch.tensor([1, 3])
    model.zero_grad()
    with gates.masked(mask):
        nn.functional.cross_entropy(model(x), target).backward()
    nn.functional.cross_entropy(pruned(x), target).backward()
    conv1, conv2 = (m for m in model.modules() if isinstance(m, nn.Conv2d))
    small1, small2 = (m for m in pruned.modules() if isinstance(m, nn.Conv2d))
    kept1, kept2 = keep[gates.groups[0].name], keep[gates.groups[1].name]
    assert torch.allclose(conv2.weight.grad[kept2][:, kept1], small2.weight.grad, atol=1e-6)
    assert torch.allclose(conv1.weight.grad[kept1], small1.weight.grad, atol=1e-6)
    # Dropped channels get no gradient through the masked path.
    assert conv1.weight.grad[~kept1].abs().sum() == 0


def test_group_norm_and_grouped_conv_prune_exactly():
    """GroupNorm statistics over kept channels; both layers keep equal-width groups."""
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3),
        nn.GroupNorm(2, 8),
        nn.ReLU(),
        nn.Conv2d(8, 6, 3, groups=2),
        nn.GroupNorm(2, 6),
        nn.Flatten(),
        nn.Linear(6 * 4 * 4, 2),
    )
    x = torch.randn(2, 3, 8, 8)
    model = realistic_norms(model, x)
    gates = ChannelGates(model, x)
    assert gates.sizes == (4, 3)  # slots: 8 channels in 2 groups, 6 channels in 2 groups
    for seed in range(4):
        assert_masked_equals_pruned(model, gates, draw_mask(gates, seed, 0.5, seed), x)
