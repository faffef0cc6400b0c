"""Every torchvision classification CNN: masked == pruned, or refused with a layer named.

The list comes from ``torchvision.models.list_models`` at collection time, so a model that
torchvision adds is tested (and must be supported or refused by name) without an edit here.
The default run checks the smallest model of each family (and the must-be-supported ones);
the rest are marked slow: tracing DenseNet-161/169/201 alone takes 40-90 s on a CPU core.
"""

import re

import pytest
import torch

from decore_env.channels.equivalence import (
    SLOW_PARAMS,
    check_torchvision,
    published_params,
    torchvision_names,
)

MUST_BE_SUPPORTED = ("resnext50_32x4d", "regnet_x_400mf", "convnext_tiny")
"""One model of each family the grouping used to refuse: grouped convs, LayerNorm2d."""
SHUFFLES = "shufflenet_"
"""Channel shuffles move channels between positions: refused, naming the block."""


def _default_run(names: list[str]) -> set[str]:
    """The smallest model of each family (name up to its first digit or '_'), plus
    MUST_BE_SUPPORTED."""
    smallest: dict[str, str] = {}
    for name in sorted(names, key=published_params):
        smallest.setdefault(re.match(r"[a-z]+", name).group(), name)
    return set(smallest.values()) | set(MUST_BE_SUPPORTED)


NAMES = torchvision_names()
DEFAULT_RUN = _default_run(NAMES)


def _param(name: str):
    slow = published_params(name) > SLOW_PARAMS or name not in DEFAULT_RUN
    return pytest.param(name, marks=pytest.mark.slow) if slow else name


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny inputs gain nothing from a second thread, and lose 10x or more (measured) when
    the other core is busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", [_param(n) for n in NAMES])
def test_masked_equals_pruned_or_refused_by_name(name):
    outcome = check_torchvision(name)  # asserts masked == pruned and cost == count
    if outcome.supported:
        assert outcome.groups > 0
    else:
        assert "layer '" in outcome.reason, outcome.reason
    if name in MUST_BE_SUPPORTED:
        assert outcome.supported, outcome.reason
    if name.startswith(SHUFFLES):
        assert "reshapes channels" in outcome.reason
