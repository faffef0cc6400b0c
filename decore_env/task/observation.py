"""Observations of the compression envs: the state of every group and channel, on the device.

One observation is a flat float32 vector, every entry in [0, 1], for G groups and A agents. It
is laid out feature by feature, a block of G (or A) values per feature, groups and agents in
the action's order:

=======================  ======================================================================
index                    entry
=======================  ======================================================================
0                        accuracy of the last step's masked forward pass (0 before any step)
1                        params of the last mask's pruned network / params of the full network
2                        MACs of the last mask's pruned network / MACs of the full network
3                        the budget's target share of params (1 when the budget is not on
                         params, or there is none)
4                        the budget's target share of MACs (likewise)
5 + 0 G + i              group i: position in forward order, i / (G - 1)
5 + 1 G + i              group i: width, channels / channels of the widest group
5 + 2 G + i              group i: share of the network's params that touch its channels
5 + 3 G + i              group i: share of the network's MACs that touch its channels
5 + 4 G + i              group i: fraction of its channels kept recently (mean of its agents')
5 + 5 G + 0 A + j        agent j: L2 norm of its channel's weights / the largest in its group
5 + 5 G + 1 A + j        agent j: abs BatchNorm scale of its channel / the largest in its group
                         (1 where no BatchNorm follows the layer)
5 + 5 G + 2 A + j        agent j: how often it was kept recently (exponential moving average
                         of its actions, 1 after a reset)
=======================  ======================================================================

:meth:`ObservationLayout.unpack` returns the parts as (..., 5), (..., G, 5) and (..., A, 3)
views. The target is the task's budget (its spec's, or the target a budget wrapper was given
later): a policy that reads it can serve several budgets, and it is known before any step.
Everything is computed from tensors already on the device: the static entries once, the weight
entries at each reset (and after every step with joint training), the rest from the mask and
cost that the step computes anyway. No FLOP counter runs per step; one observation is a single
concatenation of contiguous blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from decore_env.channels.gates import ChannelGates
from decore_env.common.modes import eval_mode
from decore_env.task.core import CompressionCore
from decore_env.task.defaults import KEEP_DECAY

GLOBAL_FEATURES = ("accuracy", "params_kept", "macs_kept", "params_target", "macs_target")
GROUP_FEATURES = ("position", "width", "params_share", "macs_share", "kept_recently")
AGENT_FEATURES = ("weight_norm", "bn_scale", "kept_recently")

_WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


@dataclass(frozen=True)
class ObservationLayout:
    """Where each entry sits in the flat observation (see the module docstring).

    :param sizes: channels per group, in the action's group order.
    """

    sizes: tuple[int, ...]

    @property
    def n_groups(self) -> int:
        return len(self.sizes)

    @property
    def n_agents(self) -> int:
        return sum(self.sizes)

    @property
    def features(self) -> dict[str, tuple[str, ...]]:
        """The feature names of each part :meth:`unpack` returns, in order."""
        return {"global": GLOBAL_FEATURES, "groups": GROUP_FEATURES, "agents": AGENT_FEATURES}

    @property
    def size(self) -> int:
        """Length of one observation."""
        return (
            len(GLOBAL_FEATURES)
            + len(GROUP_FEATURES) * self.n_groups
            + len(AGENT_FEATURES) * self.n_agents
        )

    def unpack(self, obs):
        """Views of one or a batch of observations (numpy or torch): ``global`` (..., 5),
        ``groups`` (..., G, 5) and ``agents`` (..., A, 3), features in the order of
        GLOBAL_FEATURES, GROUP_FEATURES and AGENT_FEATURES."""
        lead = obs.shape[:-1]
        start = len(GLOBAL_FEATURES)
        end = start + len(GROUP_FEATURES) * self.n_groups
        groups = obs[..., start:end].reshape(*lead, len(GROUP_FEATURES), self.n_groups)
        agents = obs[..., end:].reshape(*lead, len(AGENT_FEATURES), self.n_agents)
        return {
            "global": obs[..., :start],
            "groups": groups.swapaxes(-1, -2),
            "agents": agents.swapaxes(-1, -2),
        }


def group_cost_shares(gates: ChannelGates, device: torch.device) -> Tensor:
    """(G, 2) share of the network's params (column 0) and MACs (column 1) that touch each
    group's channels: what the network loses when the group is dropped entirely (layers that
    read the group count too, so the shares of coupled groups overlap)."""
    n_groups = len(gates.groups)
    group_of_agent = gates.group_of_agent.to(device)
    member = group_of_agent.unsqueeze(0) == torch.arange(n_groups, device=device)[:, None]
    full = torch.stack(gates.cost(torch.ones(1, gates.n_agents, device=device)), 1)
    without = torch.stack(gates.cost((~member).float()), 1)  # row i drops group i
    return (full - without) / full.clamp_min(1.0)


def norms_after(model: nn.Module, example_input: Tensor) -> dict[str, nn.Module]:
    """The BatchNorm called right after each conv/linear layer, by the layer's name.

    Found from the call order of one forward pass, so post-norm blocks of any architecture
    match, and a pre-activation BatchNorm (which normalises the next layer's input) does not.
    """
    calls: list[nn.Module] = []
    leaves = [m for m in model.modules() if not any(True for _ in m.children())]
    handles = [m.register_forward_hook(lambda mod, _i, _o: calls.append(mod)) for m in leaves]
    try:
        with eval_mode(model), torch.no_grad():
            model(example_input)
    finally:
        for h in handles:
            h.remove()
    names = {m: n for n, m in model.named_modules()}
    return {
        names[layer]: norm
        for layer, norm in zip(calls, calls[1:], strict=False)
        if isinstance(layer, _WEIGHTED)
        and isinstance(norm, _NORMS)
        and norm.affine
        and norm.num_features == layer.weight.shape[0]
    }


class ObservationBuilder:
    """Builds the observations of ``n_obs`` masks scored side by side on one core.

    :param core: the core whose network and groups are observed.
    :param n_obs: observations per step (1 for the single env, N for the vector env).
    :param keep_decay: decay of the "kept recently" moving averages, in [0, 1).
    :param budget: the task's (resource, target), or None.
    """

    def __init__(
        self,
        core: CompressionCore,
        n_obs: int,
        keep_decay: float = KEEP_DECAY,
        budget: tuple[str, float] | None = None,
    ):
        if not 0.0 <= keep_decay < 1.0:
            raise ValueError(f"keep_decay must be in [0, 1); got {keep_decay}")
        gates, device = core.gates, core.device
        self.core = core
        self.n_obs = n_obs
        self.keep_decay = keep_decay
        self.layout = ObservationLayout(gates.sizes)
        n_groups, n_agents = self.layout.n_groups, self.layout.n_agents
        sizes = torch.tensor(gates.sizes, dtype=torch.float32, device=device)
        member = core.group_of_agent.unsqueeze(0) == torch.arange(n_groups, device=device)[:, None]
        self._group_mean = (member.float() / sizes[:, None]).T.contiguous()  # (A, G)
        full = torch.stack(gates.cost(torch.ones(1, n_agents, device=device)), 1)
        self._full_cost = full.clamp_min(1.0)
        share = group_cost_shares(gates, device)
        position = torch.arange(n_groups, device=device) / max(n_groups - 1, 1)
        width = sizes / sizes.max()
        self._group_static = torch.cat([position, width, share.T.flatten().float()])  # (4 G,)
        self._target = torch.ones(1, 2, device=device)
        if budget is not None:
            self.set_target(*budget)
        modules = dict(core.model.named_modules())
        example = torch.zeros(1, *core.loader.x.shape[1:], device=device)
        norms = norms_after(core.model, example)
        self._layers = [
            ([modules[n] for n in g.layers], [norms[n] for n in g.layers if n in norms], agents)
            for g, agents in zip(gates.groups, gates.channel_agents, strict=True)
        ]
        self.reset()

    def set_target(self, resource: str, target: float) -> None:
        """Show the budget's ``target`` share of ``resource`` ("params" or "macs")."""
        self._target.fill_(1.0)[0, ("params", "macs").index(resource)] = target

    def reset(self) -> None:
        """Start of an episode: every channel counts as kept, no accuracy measured yet."""
        device = self.core.device
        self._keep = torch.ones(self.n_obs, self.layout.n_agents, device=device)
        self._global = torch.tensor([[0.0, 1.0, 1.0]], device=device).expand(self.n_obs, 3)
        self._channels = self._channel_features()

    def update(self, masks: Tensor, accuracy: Tensor, params: Tensor, macs: Tensor) -> None:
        """Fold in one step: masks (M, A) float 0/1, and accuracy, params, MACs, each (M,)."""
        keep = self._keep.mul(self.keep_decay).add_(masks, alpha=1.0 - self.keep_decay)
        self._keep = keep.clamp_max_(1.0)  # rounding must not leave the Box
        cost = torch.stack([params, macs], 1) / self._full_cost
        self._global = torch.cat([accuracy.unsqueeze(1), cost.float()], 1)
        if self.core.train_network:
            self._channels = self._channel_features()

    def observation(self) -> Tensor:
        """(M, layout.size) float32 observations, a new tensor on every call."""
        m = self.n_obs
        kept = (self._keep @ self._group_mean).clamp_max_(1.0)  # (M, G) group means
        blocks = [self._global, self._target, self._group_static, kept, self._channels, self._keep]
        return torch.cat([b.expand(m, -1) for b in blocks], 1)

    @torch.no_grad()
    def _channel_features(self) -> Tensor:
        """(2 A,): weight norm per channel, then BN scale per channel, each scaled to its
        group's largest.

        The layers of a group are coupled index by index, so channel j of every layer in the
        group is one channel of the group; a group's entries are the mean over its layers, and
        an agent's the mean over its channels (several where a grouped conv ties a slot).
        """
        weights, scales = [], []
        for layers, norms, agents in self._layers:
            weight = torch.stack([m.weight.flatten(1).norm(dim=1) for m in layers]).mean(0)
            if norms:
                scale = torch.stack([n.weight.abs() for n in norms]).mean(0)
            else:
                scale = torch.ones_like(weight)
            weight, scale = _per_agent(weight, agents), _per_agent(scale, agents)
            tiny = torch.finfo(weight.dtype).tiny
            weights.append(weight / weight.max().clamp_min(tiny))
            scales.append(scale / scale.max().clamp_min(tiny))
        return torch.cat(weights + scales).float()


def _per_agent(values: Tensor, agents: Tensor) -> Tensor:
    """Mean of per-channel ``values`` over the channels each agent decides."""
    agents = agents.to(values.device)
    sums = torch.zeros(int(agents.max()) + 1, device=values.device).index_add_(0, agents, values)
    return sums / torch.bincount(agents)
