"""Spotting, in one traced forward pass, code that moves channels where the grouping cannot
follow: a reshape of the channel axis (a channel shuffle) and a split of a feature map's
channels into parts (``torch.split``, ``chunk``, ``tensor_split``, ``narrow``, ``unbind`` or
an index such as ``x[:, :c]``).

Pruning changes how many channels reach such code, while the code keeps the sizes it was
written with (``x.chunk(2, 1)``, split sizes held in an attribute, ``[:, :c]``): the pruned
network would fail, or silently cut elsewhere. So the layer whose code does it is named and
refused, with the construct.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor
from torch.overrides import TorchFunctionMode

_RESHAPES = frozenset({Tensor.view, Tensor.reshape, torch.reshape, Tensor.unflatten})
_SPLIT_DIM_AT = {
    torch.split: 2,
    Tensor.split: 2,
    torch.chunk: 2,
    Tensor.chunk: 2,
    torch.tensor_split: 2,
    Tensor.tensor_split: 2,
    torch.narrow: 1,
    Tensor.narrow: 1,
    torch.unbind: 1,
    Tensor.unbind: 1,
}
"""Each splitting function and the position of its ``dim`` argument (default dim 0)."""
FEATURE_MAP_DIMS = (4, 5)
"""Only (N, C, H, W) and (N, C, D, H, W) maps are checked for splits: in a 3-d tensor dim 1
may be a sequence (a transformer's tokens), not a channel axis, so Conv1d networks are not
checked."""


class ChannelMoves(TorchFunctionMode):
    """Records the first channel move of a forward pass in ``found`` (a refusal message).

    :param where: the stack of module names being run (the last is the innermost).
    :param types: each module name's class name, for the message.
    :param started: whether the first conv/linear layer has run; the input's preprocessing
        before it (a colour-channel reorder, ``x[:, :1]``) moves no channel of a group.
    """

    def __init__(
        self, where: list[str], types: Mapping[str, str], started: Callable[[], bool]
    ) -> None:
        super().__init__()
        self.where = where
        self.types = types
        self.started = started
        self.found: str | None = None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if self.found is None and args and isinstance(args[0], Tensor) and self.started():
            construct = _construct(func, args, kwargs or {}, out)
            if construct:
                layer = self.where[-1] if self.where else "the model"
                kind = self.types.get(layer, "")
                self.found = (
                    f"layer '{layer}'{f' ({kind})' if kind else ''} {construct}; pruning "
                    "changes how many channels reach that code, which keeps the sizes it was "
                    "written with: models with channel shuffles or channel splits are not "
                    "supported"
                )
        return out


def _construct(func: Any, args: tuple, kwargs: dict, out: Any) -> str | None:
    """What channel move ``func(*args, **kwargs) -> out`` makes, or None."""
    x: Tensor = args[0]
    if func in _RESHAPES and isinstance(out, Tensor):
        before, after = tuple(x.shape), tuple(out.shape)
        if len(before) > 2 and len(after) > 2 and before[:2] != after[:2]:
            return f"reshapes channels {before} -> {after} (a channel shuffle?)"
    if x.dim() not in FEATURE_MAP_DIMS:
        return None
    channels = x.shape[1]
    if func in _SPLIT_DIM_AT:
        at = _SPLIT_DIM_AT[func]
        dim = kwargs.get("dim", args[at] if len(args) > at else 0)
        pieces = out if isinstance(out, tuple | list) else (out,)
        whole = len(pieces) == 1 and pieces[0].shape[1] == channels
        if dim % x.dim() == 1 and not whole:
            name = getattr(func, "__name__", str(func))
            return f"splits the {channels} channels of a feature map ({name})"
    if func is Tensor.__getitem__ and _indexes_channels(args[1], channels):
        return f"selects part of the {channels} channels of a feature map (x[:, ...])"
    return None


def _indexes_channels(index: Any, channels: int) -> bool:
    """Whether ``x[index]`` keeps a part of dim 1 only (``x[:, :c]``, ``x[:, 3]``, ...)."""
    if not isinstance(index, tuple) or len(index) < 2:
        return False
    if not (isinstance(index[0], slice) and index[0] == slice(None)):
        return False
    second = index[1]
    if second is Ellipsis or second is None:
        return False
    if isinstance(second, slice):
        return second.indices(channels) != (0, channels, 1)
    return True
