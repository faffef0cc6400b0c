"""The paper's reward as pure tensor functions (DECORE, eq. for R(b, i)).

    R_C(b, i)  = channels dropped in group i for sample b
    R_acc(b)   = +1 if sample b is classified correctly, else -lambda
    R(b, i)    = R_C(b, i) * R_acc(b)

Dropping a channel pays while the accuracy a satisfies a > lambda / (1 + lambda): the
expected reward per dropped channel is a - lambda (1 - a).
"""

from __future__ import annotations

import torch
from torch import Tensor


def accuracy_reward(correct: Tensor, lam: float | Tensor) -> Tensor:
    """R_acc(b): +1 for a correct prediction, -lam for a wrong one; shape of ``correct``.
    ``lam`` may be a 0-d tensor on ``correct``'s device (no host read)."""
    penalty = torch.as_tensor(lam, dtype=torch.float32, device=correct.device)
    return torch.where(correct, torch.ones((), device=correct.device), -penalty)


def dropped_per_group(masks: Tensor, group_of_agent: Tensor, n_groups: int) -> Tensor:
    """R_C(b, i): the number of dropped channels of each group, (B, G) from (B, n_agents)."""
    dropped = 1.0 - masks.to(torch.float32)
    out = torch.zeros(masks.shape[0], n_groups, device=masks.device)
    return out.index_add_(1, group_of_agent.to(masks.device), dropped)


def group_rewards(
    masks: Tensor, correct: Tensor, group_of_agent: Tensor, n_groups: int, lam: float | Tensor
) -> Tensor:
    """R(b, i) = R_C(b, i) * R_acc(b), shape (B, G)."""
    r_acc = accuracy_reward(correct, lam).unsqueeze(1)
    return dropped_per_group(masks, group_of_agent, n_groups) * r_acc


def break_even_accuracy(lam: float) -> float:
    """The accuracy above which dropping a channel has positive expected reward."""
    return lam / (1.0 + lam)
