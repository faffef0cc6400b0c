"""torch-pruning's dependency graph as the grouping uses it, with what torch-pruning 1.6.1
gets wrong fixed or refused by name (each found by the random-architecture tests).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence

import torch
import torch_pruning as tp
from torch import Tensor, nn

from decore_env.common.modes import eval_mode

CONV_LINEAR = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
"""The layers whose output channels form groups."""


class UnsupportedLayerError(ValueError):
    """A layer whose channels the grouping cannot map; the message names the layer."""


class _LayerNormPruner(tp.pruner.function.LayernormPruner):
    """torch-pruning's LayerNorm pruner with the kept channels in order.

    torch-pruning 1.6.1 takes the kept indices from a set and sorts them with a tensor's
    ``sort()``, which is not in place: for some index sets the kept affine terms come out
    permuted (found by the random-architecture tests). Only LayerNorms over one dim reach
    here (:func:`decore_env.channels.tracing._check_supported`).
    """

    def prune_out_channels(self, layer: nn.Module, idxs: Sequence[int]) -> nn.Module:
        width = layer.normalized_shape[-1]
        keep = torch.tensor(sorted(set(range(width)) - set(idxs)), dtype=torch.long)
        if layer.elementwise_affine:
            layer.weight = self._prune_parameter_and_grad(layer.weight, keep, -1)
            if layer.bias is not None:
                layer.bias = self._prune_parameter_and_grad(layer.bias, keep, -1)
        layer.normalized_shape = (len(keep),)
        return layer

    prune_in_channels = prune_out_channels


class _DependencyGraph(tp.DependencyGraph):
    """torch-pruning's graph with :class:`_LayerNormPruner` for LayerNorms."""

    def __init__(self) -> None:
        super().__init__()
        self.REGISTERED_PRUNERS[tp.ops.OPTYPE.LN] = _LayerNormPruner()
        pruners = [p for p in self.REGISTERED_PRUNERS.values() if p is not None]
        self._in_channel_pruning_fn = {p.prune_in_channels for p in pruners}
        self._out_channel_pruning_fn = {p.prune_out_channels for p in pruners}


def traced_graph(
    model: nn.Module, example_input: Tensor, vectors: list[tuple[nn.Parameter, int]]
) -> tp.DependencyGraph:
    """torch-pruning's dependency graph, traced in eval mode with autograd on; ``vectors``:
    parameters held outside any layer, each with the dim it is pruned along."""
    with eval_mode(model), torch.enable_grad():
        try:
            return _DependencyGraph().build_dependency(
                model, example_inputs=example_input, unwrapped_parameters=vectors
            )
        except Exception as error:  # torch-pruning's own failures name no layer
            raise UnsupportedLayerError(
                f"torch-pruning cannot trace the model ({type(error).__name__}: {error}); "
                "some layer moves channels in a way the grouping cannot follow"
            ) from error


def check_concats(graph: tp.DependencyGraph, names: Mapping) -> None:
    """Refuse a channel concatenation whose channels torch-pruning did not map.

    torch-pruning 1.6.1 maps a concatenation's channels by the width its consumer reads; a
    concatenated map flattened into a linear layer reads ``C x H x W`` features, so the
    concatenation gets no mapping and pruning would cut the wrong channels (found by the
    random-architecture tests). Pooling to 1 x 1 first keeps ``C`` and is fine.
    """
    for node in graph.module2node.values():
        if node.type != tp.ops.OPTYPE.CONCAT or node.module.offsets is not None:
            continue
        dim = getattr(node.grad_fn, "_saved_dim", 1)  # a negative dim is stored unsigned
        if dim != 1 and dim < tp.dependency.constants.MAX_VALID_DIM:
            continue  # a concatenation along another dim prunes no channel
        stack, seen = [(n, False) for n in node.outputs], set()
        while stack:
            after, reshaped = stack.pop()
            if after in seen:
                continue
            seen.add(after)
            if isinstance(after.module, CONV_LINEAR):
                if reshaped:
                    layer = after.module
                    raise UnsupportedLayerError(
                        f"layer '{names[layer]}' ({type(layer).__name__}) reads a "
                        "concatenation of channels flattened with its positions, which "
                        "torch-pruning cannot map; pool the map to 1 x 1 before the flatten"
                    )
                continue
            flat = reshaped or after.type == tp.ops.OPTYPE.RESHAPE
            stack.extend((n, flat) for n in after.outputs)


def joins_parts(item) -> bool:
    """Whether a group item is a concatenation whose channels in the group come from more
    than one of its inputs."""
    op = item.dep.target.module
    if not isinstance(op, tp.ops._ConcatOp) or not op.offsets:
        return False
    return len({bisect.bisect_right(op.offsets, int(i)) for i in item.idxs}) > 1
