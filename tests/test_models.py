"""Model registry: every name builds, and the paper's models have the paper's sizes."""

import pytest
import torch
import torch_pruning as tp
from torch import nn

from decore_env import models
from decore_env.training.metrics import count

TORCHVISION = {"resnet18", "resnet50", "mobilenet_v2"}
# (params, MACs per image, relative tolerance); None = not checked. MACs from PAPER.md.
PAPER_SIZES = {
    "vgg16": (14.98e6, 313.7e6, 0.01),
    "resnet56": (0.85e6, 125.5e6, 0.01),
    "resnet110": (1.73e6, 253.1e6, 0.01),
    "googlenet": (6.15e6, None, 0.03),
    "densenet40": (1.04e6, None, 0.03),
}


def _input(name: str, batch: int = 2) -> torch.Tensor:
    # torchvision models accept 32x32 inputs; 224x224 would only make the test slow.
    shape = (3, 32, 32) if name in TORCHVISION else models.input_shape(name)
    return torch.randn(batch, *shape)


def test_registry_lists_the_contract_names() -> None:
    expected = {"lenet5", "lenet300", "vgg16", "resnet56", "resnet110", "googlenet", "densenet40"}
    assert expected | TORCHVISION <= set(models.MODEL_NAMES)


def test_input_shapes() -> None:
    assert models.input_shape("lenet5") == (1, 28, 28)
    assert models.input_shape("lenet300") == (1, 28, 28)
    assert models.input_shape("vgg16") == (3, 32, 32)
    assert models.input_shape("densenet40") == (3, 32, 32)
    assert models.input_shape("resnet50") == (3, 224, 224)


@pytest.mark.parametrize("name", models.MODEL_NAMES)
def test_builds_and_ends_in_the_classifier(name: str) -> None:
    model = models.create(name, num_classes=7)
    out = model(_input(name))
    assert out.shape == (2, 7)
    last_linear = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    assert last_linear.out_features == 7


@pytest.mark.parametrize("name", sorted(PAPER_SIZES))
def test_paper_sizes(name: str) -> None:
    want_params, want_macs, tol = PAPER_SIZES[name]
    params, macs = count(models.create(name), _input(name, batch=1))
    assert params == pytest.approx(want_params, rel=tol)
    if want_macs is not None:
        assert macs == pytest.approx(want_macs, rel=tol)


def test_lenet5_params_exact() -> None:
    assert sum(p.numel() for p in models.create("lenet5").parameters()) == 61_706


def test_vgg16_convs_have_no_bias() -> None:
    convs = [m for m in models.create("vgg16").modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 13 and all(c.bias is None for c in convs)


def test_resnet56_projects_only_where_width_changes() -> None:
    convs_1x1 = [
        m
        for m in models.create("resnet56").modules()
        if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1)
    ]
    assert [(c.in_channels, c.out_channels) for c in convs_1x1] == [(16, 32), (32, 64)]


@pytest.mark.parametrize(
    "name", ["lenet5", "lenet300", "vgg16", "resnet56", "googlenet", "densenet40"]
)
def test_traceable_by_torch_pruning(name: str) -> None:
    """Removing channel 0 of every dependency group keeps the model runnable."""
    model = models.create(name).eval()
    x = _input(name, batch=1)
    classifier = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=x)
    groups = list(graph.get_all_groups(ignored_layers=[classifier]))
    assert groups
    for group in groups:
        group.prune(idxs=[0])
    assert model(x).shape == (1, 10)
    assert count(model, x)[0] < count(models.create(name), x)[0]


@pytest.mark.parametrize("call", [models.create, models.input_shape])
def test_unknown_name_lists_valid_names(call) -> None:
    with pytest.raises(ValueError, match="resnet56") as err:
        call("resnet57")
    assert "resnet57" in str(err.value)
    assert all(name in str(err.value) for name in models.MODEL_NAMES)
