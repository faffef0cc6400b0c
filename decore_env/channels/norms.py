"""LayerNorm and GroupNorm under a channel mask: statistics over the kept channels only.

A BatchNorm treats each channel on its own, so zeroing a dropped channel after it is exact. A
LayerNorm over channels (ConvNeXt's ``LayerNorm2d``, or ``nn.LayerNorm`` on channels-last
maps) and a GroupNorm take their mean and variance *across* channels: once a channel is
removed, the others come out different. The masked network therefore replaces such a norm's
output by the norm of the kept channels alone, which is what the pruned network's narrower
norm computes. Dropped channels come out as zero.
"""

from __future__ import annotations

from torch import Tensor, nn

MIXING_NORMS = (nn.LayerNorm, nn.GroupNorm)
"""Norms whose statistics run across channels."""


def masked_norm(norm: nn.Module, x: Tensor, keep: Tensor, dim: int) -> Tensor:
    """``norm`` applied to the kept channels of ``x`` only.

    :param x: the norm's input, channels along ``dim``.
    :param keep: (N or 1, C) 0/1 gate per sample and channel.
    """
    dim = dim % x.dim()
    shape = [1] * x.dim()
    shape[dim] = x.shape[dim]
    gate = keep.view(keep.shape[0], *shape[1:]).expand_as(x)
    if isinstance(norm, nn.GroupNorm):  # statistics per sample and group, over positions too
        rows = (x.shape[0], norm.num_groups, -1)
        y = _normalise(x.reshape(rows), gate.reshape(rows), 2, norm.eps).view_as(x)
    else:
        y = _normalise(x, gate, dim, norm.eps)
    if norm.weight is not None:
        y = y * norm.weight.view(shape)
    if norm.bias is not None:
        y = y + norm.bias.view(shape)
    return y * gate


def _normalise(x: Tensor, gate: Tensor, dim: int, eps: float) -> Tensor:
    """(x - mean) / sqrt(var + eps), both over the gated entries along ``dim``.

    A sample with nothing kept gets mean 0 and var 0 instead of NaN (its output is gated to 0).
    """
    count = gate.sum(dim, keepdim=True).clamp_min(1.0)
    mean = (x * gate).sum(dim, keepdim=True) / count
    var = ((x - mean) * gate).square().sum(dim, keepdim=True) / count
    return (x - mean) * (var + eps).rsqrt()


def channel_dim(norm: nn.Module, x: Tensor, output: Tensor) -> int | None:
    """The dim of ``x`` that holds ``norm``'s channels, measured; None if none reproduces it.

    A GroupNorm's channels are dim 1. A LayerNorm over one dim normalises the last dim
    (``nn.LayerNorm``) or, in ``LayerNorm2d``-style subclasses that permute, dim 1: the
    candidate whose masked norm with everything kept reproduces ``output`` is the one.
    """
    if isinstance(norm, nn.GroupNorm):
        candidates = [1]
    else:
        width = norm.normalized_shape[0]
        candidates = [d for d in dict.fromkeys((x.dim() - 1, 1)) if x.shape[d] == width]
    for dim in candidates:
        keep = x.new_ones(1, x.shape[dim])
        if masked_norm(norm, x, keep, dim).allclose(output, rtol=1e-4, atol=1e-5):
            return dim
    return None
