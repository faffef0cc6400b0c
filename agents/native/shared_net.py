"""One small network for every channel of every network: a keep logit from the agent's own view.

Input of agent j (its row of :func:`agent_features`), read from the env's observation through
its published layout (``env.unwrapped.layout``), every entry of one observation:

====  ===========================================  =============================================
col   observation entry                            as the network sees it
====  ===========================================  =============================================
0     its group's ``position`` (0 first, 1 last)   as is, in [0, 1]
1     its group's ``width`` (/ the widest group)   as is, in (0, 1]
2     its group's ``params_share``                 log10(share) / 6, clipped to [-1, 0]
3     its group's ``macs_share``                   log10(share) / 6, clipped to [-1, 0]
4     its own ``weight_norm`` (/ its group's max)  as is, in [0, 1]
5     its own ``bn_scale`` (/ its group's max)     as is, in [0, 1]
6     the task's ``params_target``                 as is, in (0, 1] (1: no target on params)
7     the task's ``macs_target``                   as is, in (0, 1]
====  ===========================================  =============================================

Shares span orders of magnitude (a LeNet-5 group touches a third of the params, a ResNet-50
group under 1%), hence the log; 1e-6 of the network is the floor. Every input is the agent's
own or its group's or the task's, never another agent's: the logit of an agent does not
depend on the order or the number of the other agents, so one set of weights serves any
network. The observation's moving entries (last accuracy, kept shares, "kept recently") are
left out: at zero-shot the policy acts before any step, where they hold only their reset
values, and a REINFORCE step credits an action with its own reward only, not with what it
does to the next observation. Lambda is left out too (undefined before a new task's first
step); the target stands in for it.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from decore_env.channels.importance import rank_in_group
from decore_env.common.files import atomic_save, read_tensors

INPUTS = (
    ("groups", "position"),
    ("groups", "width"),
    ("groups", "params_share"),
    ("groups", "macs_share"),
    ("agents", "weight_norm"),
    ("agents", "bn_scale"),
    ("global", "params_target"),
    ("global", "macs_target"),
)
"""(part of the observation, feature) of each input column, in order."""
LOG_SHARES = ("params_share", "macs_share")
"""Inputs taken as log10(x) / SHARE_DECADES, clipped to [-1, 0]."""
SHARE_DECADES = 6
"""A share of 10**-6 of the network or less reads -1."""
FEATURE_LAYOUT = "shared-v1:" + ",".join(f"{part}.{name}" for part, name in INPUTS)
"""The input layout a policy file records; a file of another layout is refused by name."""
HIDDEN = (32, 32)
"""Hidden widths of the policy network (tanh)."""
MIN_EXPECTED_WIDTH = 1e-3
"""Floor of a group's expected width in :func:`expected_width_scores` (no division by 0)."""
FILE_FORMAT = "decore-shared-policy"
"""The ``format`` entry of a saved policy."""


class PolicyFileError(ValueError):
    """A policy file that is missing or of another layout, or an observation without an input
    the policy reads."""


def check_observation(layout: Any) -> None:
    """Refuse an env whose observation lacks an input of :data:`INPUTS`, naming it."""
    names = layout.features
    missing = [f"{part}.{name}" for part, name in INPUTS if name not in names.get(part, ())]
    if missing:
        raise PolicyFileError(
            f"the task's observation has no {', '.join(missing)}, which the shared policy "
            f"reads ({FEATURE_LAYOUT}); build the env with this version of decore_env"
        )


@functools.lru_cache(maxsize=16)
def _group_of_agent(layout: Any) -> Tensor:
    """(A,) the group of each agent, for a checked layout (one per network, kept)."""
    check_observation(layout)
    return torch.repeat_interleave(torch.arange(len(layout.sizes)), torch.tensor(layout.sizes))


def agent_features(layout: Any, obs: Tensor) -> Tensor:
    """(..., A, len(INPUTS)) inputs of every agent from observations (..., D) laid out by
    ``layout`` (``env.unwrapped.layout``), transformed as the module docstring says."""
    names = layout.features
    parts = layout.unpack(torch.as_tensor(obs, dtype=torch.float32))
    group_of_agent = _group_of_agent(layout).to(parts["agents"].device)
    n_agents = parts["agents"].shape[-2]
    columns = []
    for part, name in INPUTS:
        value = parts[part][..., names[part].index(name)]
        if part == "groups":
            value = value[..., group_of_agent]
        elif part == "global":
            value = value.unsqueeze(-1).expand(*value.shape, n_agents)
        if name in LOG_SHARES:
            value = (value.clamp_min(10.0**-SHARE_DECADES).log10() / SHARE_DECADES).clamp(-1, 0)
        columns.append(value)
    return torch.stack(columns, -1)


def expected_width_scores(logits: Tensor, sizes: Sequence[int]) -> Tensor:
    """(A,) keep scores that project the policy's expected architecture onto a target.

    The policy's expected width of group g is E_g = sum of its keep probabilities; its
    channel of rank r (by logit, 0 = most kept) scores -(r + 1/2) / E_g, the drop order of
    :func:`agents.references.reference.balanced_order` with E_g for the group's width.
    Dropping the lowest scores first therefore keeps the t E_g best channels of every group
    for one common t, which the projection sets to meet the target: the policy decides how
    wide each group is and which channels fill it. Why not rank every channel by its logit:
    one network gives a group's channels nearly the same logit, so a global ranking drops
    whole groups in turn (measured on the MNIST task at 10% params, 5x its search budget,
    seed 0: val one-shot top-1 0.730 ranked by logits, 0.891 by these scores).
    """
    if sum(sizes) != len(logits):
        raise ValueError(f"{len(logits)} logits for groups of {sum(sizes)} channels in all")
    rank = rank_in_group(sizes, logits).to(logits)
    expected = torch.stack([p.sum() for p in torch.split(torch.sigmoid(logits), list(sizes))])
    width = torch.repeat_interleave(
        expected.clamp_min(MIN_EXPECTED_WIDTH), torch.tensor(list(sizes), device=logits.device)
    )
    return -(rank + 0.5) / width


class SharedKeepNet(nn.Module):
    """The keep logit of each agent from its own inputs: an MLP applied row by row.

    The last layer starts at zero weights and bias ``init_logit``, so every channel starts
    with the same keep probability sigmoid(init_logit), as the native agent's channels do.
    """

    def __init__(self, init_logit: float = 3.0, hidden: Sequence[int] = HIDDEN) -> None:
        super().__init__()
        if not math.isfinite(init_logit):
            raise ValueError(f"init_logit must be a finite number, got {init_logit}")
        widths = [len(INPUTS), *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(widths, widths[1:], strict=False):
            layers += [nn.Linear(a, b), nn.Tanh()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(widths[-1], 1)
        nn.init.zeros_(self.head.weight)
        nn.init.constant_(self.head.bias, init_logit)
        self.hidden = tuple(hidden)

    def forward(self, features: Tensor) -> Tensor:
        """(..., A, len(INPUTS)) inputs -> (..., A) keep logits."""
        return self.head(self.body(features)).squeeze(-1)

    def save(self, path: str | os.PathLike) -> None:
        """Write the weights with their input layout (atomically; loads with weights_only)."""
        state = {k: v.detach().cpu() for k, v in self.state_dict().items()}
        atomic_save(
            {
                "format": FILE_FORMAT,
                "layout": FEATURE_LAYOUT,
                "hidden": list(self.hidden),
                "state": state,
            },
            path,
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> SharedKeepNet:
        """The network saved at ``path``; a file of another layout is refused, naming both."""
        if not Path(path).is_file():
            raise PolicyFileError(
                f"no policy file at {path}; give the shared-policy.pt of a shared-reinforce or "
                "ppo-shared run folder"
            )
        saved = read_tensors(path)
        if not isinstance(saved, dict) or saved.get("format") != FILE_FORMAT:
            raise PolicyFileError(
                f"{path} is not a shared policy file (no format {FILE_FORMAT!r}); a run of "
                "shared-reinforce or ppo-shared writes one as shared-policy.pt in its folder"
            )
        if saved.get("layout") != FEATURE_LAYOUT:
            raise PolicyFileError(
                f"{path} was saved for inputs {saved.get('layout')}; this version reads "
                f"{FEATURE_LAYOUT}: retrain the policy with this version"
            )
        try:
            net = cls(hidden=saved["hidden"])
            net.load_state_dict(saved["state"])
        except (KeyError, TypeError, RuntimeError) as exc:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise PolicyFileError(f"{path} holds no whole policy network ({detail:.120})") from None
        return net
