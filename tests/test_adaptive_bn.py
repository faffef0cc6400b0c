"""Adaptive BatchNorm: statistics re-estimated under a mask are the pruned network's."""

import torch

from decore_env import models
from decore_env.channels.equivalence import TOLERANCE, draw_mask, realistic_norms
from decore_env.channels.gates import ChannelGates
from decore_env.channels.surgery import prune
from decore_env.data.splits import DataSplits
from decore_env.training.adaptive_bn import adapted_bn, batch_norms


def _splits(n: int) -> DataSplits:
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=gen)
    y = torch.randint(0, 10, (n,), generator=gen)
    held = (x[:8], y[:8])
    return DataSplits(x, y, *held, *held, 10, (0.5,) * 3, (0.25,) * 3, "random")


def test_masked_statistics_are_the_pruned_networks_and_are_restored_after():
    """ResNet-56 (a registry network with BatchNorm), 30% of its agents dropped: statistics
    re-estimated under the mask give what re-estimating them on the pruned network gives;
    outside the block the statistics and the weights are as before."""
    model = models.create("resnet56", num_classes=10)
    example = torch.zeros(1, 3, 32, 32)
    realistic_norms(model, example)
    gates = ChannelGates(model, example)
    mask = draw_mask(gates, seed=0, drop=0.3, narrow=3)
    splits = _splits(96)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    momenta = [m.momentum for m in batch_norms(model)]
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad(), gates.masked(mask[None]), adapted_bn(model, splits, "cpu", images=64):
        adapted = {k: v.clone() for k, v in model.state_dict().items()}
        masked = model(x)
    keep = {name: part.bool() for name, part in gates.split(mask).items()}
    pruned_net = prune(model, keep, example)  # from the statistics of the full network
    with torch.no_grad(), adapted_bn(pruned_net, splits, "cpu", images=64):
        pruned = pruned_net(x)  # re-estimated on the pruned network itself
    scale = masked.abs().max()
    assert (masked - pruned).abs().max() <= TOLERANCE * scale + 1e-5
    norm_keys = [k for k in before if "running_mean" in k]
    assert any(not torch.equal(before[k], adapted[k]) for k in norm_keys)  # re-estimated
    weights = [k for k in before if k.endswith("weight") or k.endswith("bias")]
    assert all(torch.equal(before[k], adapted[k]) for k in weights)  # no weight changes
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # restored
    assert [m.momentum for m in batch_norms(model)] == momenta
