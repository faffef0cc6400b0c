"""The params and MACs of the pruned network any mask describes, without pruning it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from decore_env.channels.tracing import LayerMap, is_depthwise


class CostModel:
    """params(mask) and MACs(mask) as sums over layers of in_kept x out_kept products.

    Per layer j: params_j = w_j * in_j * out_j + b_j * out_j and MACs_j = m_j * in_j * out_j,
    where in_j / out_j are kept input / output channels (a flattened channel counts once per
    spatial position; a grouped conv's inputs count per conv group, since each output sees
    one group), so the cost of N masks is two matrix products.
    """

    def __init__(self, maps: Sequence[LayerMap], spatial: Mapping, n: int):
        width = len(maps)
        in_counts = torch.zeros(n + 1, width, dtype=torch.float64)
        out_counts = torch.zeros(n + 1, width, dtype=torch.float64)
        coef = torch.zeros(3, width, dtype=torch.float64)  # rows: w_j, b_j, m_j
        for j, m in enumerate(maps):
            out_counts[:, j] = torch.bincount(m.out_agents, minlength=n + 1)
            if m.in_agents is None:  # norm or scale: parameters per channel
                coef[1, j] = m.per_channel
                continue
            module = m.module
            if getattr(module, "groups", 1) > 1 and is_depthwise(module):
                in_counts[n, j] = 1.0  # one input per output channel, however many are kept
            else:  # a grouped conv keeps its groups: each output sees in / groups inputs
                in_counts[:, j] = torch.bincount(m.in_agents, minlength=n + 1)
                in_counts[:, j] /= getattr(module, "groups", 1)
            kernel = module.weight[0, 0].numel()
            coef[0, j] = kernel
            coef[1, j] = 1.0 if module.bias is not None else 0.0
            coef[2, j] = kernel * spatial.get(module, 0)
        self._tables = (in_counts, out_counts, coef)

    def __call__(self, mask: Tensor) -> tuple[Tensor, Tensor]:
        if self._tables[0].device != mask.device:
            self._tables = tuple(t.to(mask.device) for t in self._tables)
        in_counts, out_counts, coef = self._tables
        ones = torch.ones(mask.shape[0], 1, device=mask.device, dtype=torch.float64)
        ext = torch.cat([mask.double(), ones], dim=1)
        kept_in, kept_out = ext @ in_counts, ext @ out_counts
        pairs = kept_in * kept_out
        return pairs @ coef[0] + kept_out @ coef[1], pairs @ coef[2]
