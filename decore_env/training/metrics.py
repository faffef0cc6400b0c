"""Model cost and quality: parameters, MACs, latency, accuracy.

MACs everywhere in this project are multiply-accumulates of conv and linear layers
(and other matrix products), counted by `torch.utils.flop_counter.FlopCounterMode`
and halved: MACs = FLOPs / 2. The DECORE paper's "FLOPs" are such MACs, so our numbers
compare directly with its tables. BatchNorm, activations, pooling and additions are
not counted, as in the paper.
"""

import copy
import statistics
import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from decore_env.common.modes import autocast, eval_mode
from decore_env.data.loader import TensorLoader
from decore_env.data.splits import DataSplits

EVAL_BATCH = 1000
"""Images per forward pass when measuring accuracy (memory only: no effect on results)."""


def count_params(model: nn.Module) -> int:
    """Number of parameters (weights, biases; BatchNorm running stats are buffers, not counted)."""
    return sum(p.numel() for p in model.parameters())


def count(model: nn.Module, example_input: torch.Tensor) -> tuple[int, int]:
    """(params, MACs for ONE sample), MACs = FLOPs / 2 of conv + linear layers.

    `example_input` may hold a batch of N samples; the count is divided by N, so the
    result does not depend on the batch used to trace the model.
    """
    with eval_mode(model), torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(example_input.to(_device_of(model)))
    flops = counter.get_total_flops()
    return count_params(model), flops // (2 * example_input.shape[0])


def _device_of(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _same_device(a: torch.device, b: torch.device) -> bool:
    """cuda and cuda:0 are the same device when 0 is the current one."""
    current = torch.cuda.current_device() if a.type == "cuda" else 0
    return a.type == b.type and (a.index or current) == (b.index or current)


def _on_device(model: nn.Module, device: torch.device | str | None) -> nn.Module:
    """The model on `device` (None: where it already is); a moved copy, never the caller's."""
    if device is None or _same_device(torch.device(device), _device_of(model)):
        return model
    return copy.deepcopy(model).to(device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def latency_ms(
    model: nn.Module,
    example_input: torch.Tensor,
    batch_size: int = 1,
    device: torch.device | str | None = None,
    repeats: int = 20,
    warmup: int = 5,
) -> float:
    """Median wall time in milliseconds of one forward pass on a batch of `batch_size`.

    The batch repeats the first sample of `example_input`. Warm-up runs come first
    (cuDNN autotuning, caches), CUDA is synchronised around each timed run so the
    time covers the kernels, and the median resists outliers from other processes.
    """
    model = _on_device(model, device)
    dev = _device_of(model)
    x = example_input[:1].to(dev).expand(batch_size, *example_input.shape[1:]).contiguous()
    times = []
    with eval_mode(model), torch.no_grad():
        for i in range(warmup + repeats):
            _sync(dev)
            start = time.perf_counter()
            model(x)
            _sync(dev)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def accuracy(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    batch_size: int = EVAL_BATCH,
    device: torch.device | str = "cpu",
) -> float:
    """Top-1 accuracy in [0, 1] of ``model`` on uint8 images ``x`` (N, C, H, W), normalised
    with ``mean`` / ``std`` on ``device`` as in training; leaves the model's mode as it was.

    The project's one accuracy function: baselines, fine-tuned networks and reports use it.
    """
    if len(x) == 0 or len(x) != len(y):
        raise ValueError(
            f"accuracy needs as many labels as images and at least one image, "
            f"got {len(x)} images and {len(y)} labels"
        )
    device = torch.device(device)
    cuda = device.type == "cuda"
    loader = TensorLoader(
        x, y, mean, std, batch_size, device=device, shuffle=False, channels_last=cuda
    )
    correct = torch.zeros((), dtype=torch.int64, device=device)
    with eval_mode(model), torch.no_grad():
        for xb, yb in loader:
            with autocast(device):
                correct += (model(xb).argmax(1) == yb).sum()
    return correct.item() / len(x)


def split_accuracy(
    model: nn.Module, splits: DataSplits, split: str, device: torch.device | str | None = None
) -> float:
    """Top-1 of ``model`` on the split ``split`` ("train", "val" or "test") of ``splits``, on
    ``device`` (default: where the model is)."""
    x, y = splits.split(split)
    device = _device_of(model) if device is None else device
    return accuracy(model, x, y, splits.mean, splits.std, EVAL_BATCH, device)
