"""Remove dropped channels for real: a keep mask in, a physically smaller network out.

Saving: the pruned network has layer widths that no constructor knows. Rather than pickling
the module (loading a pickle runs whatever code the file names), :func:`save_pruned` writes
what rebuilds it: the architecture (a registry name, or none for a user's own module), the
input shape, the keep mask per group and the state dict, all loadable with
``torch.load(..., weights_only=True)``. :func:`load_pruned` prunes a fresh network with the
saved mask and loads the weights into it.
"""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from decore_env import models
from decore_env.channels.gates import ChannelGates
from decore_env.channels.tracing import Group, UnsupportedLayerError, trace_groups
from decore_env.common.files import PRUNED_FORMAT, atomic_save, mismatch_detail, read_tensors

PRUNED_VERSION = 1
"""Layout version of :func:`save_pruned` files."""

KeepMask = Mapping[str, Tensor]


def _check_keep(keep: KeepMask, groups: list[Group]) -> None:
    expected = {g.name: g.size for g in groups}
    missing = sorted(set(expected) - set(keep))
    unknown = sorted(set(keep) - set(expected))
    if missing or unknown:
        raise ValueError(
            f"keep mask does not match the model's groups (missing: {missing}, unknown: "
            f"{unknown}); pass one bool tensor per group name of channel_groups()"
        )
    for name, size in expected.items():
        shape = tuple(torch.as_tensor(keep[name]).shape)
        if shape != (size,):
            raise ValueError(f"keep mask of group '{name}' has shape {shape}; expected ({size},)")


def _strongest_agent(group: Group, modules: Mapping[str, nn.Module], among: Sequence[int]) -> int:
    """The agent of ``among`` whose channels have the largest L1 weight norm over the group's
    producers."""
    per_agent = torch.zeros(group.size + 1)  # the last entry collects channels outside
    for layer, channel_agents in zip(group.layers, group.layer_agents, strict=True):
        norms = modules[layer].weight.detach().abs().flatten(1).sum(1)
        where = torch.tensor(channel_agents, dtype=torch.long) % (group.size + 1)
        per_agent.index_add_(0, where, norms.float())
    candidates = torch.as_tensor(list(among), dtype=torch.long)
    return int(candidates[torch.argmax(per_agent[candidates])])


def connected_keep(keep: KeepMask, groups: list[Group], model: nn.Module) -> dict[str, Tensor]:
    """``keep`` as CPU bool tensors, with no group and no layer emptied.

    A group whose every agent is dropped keeps its agent with the largest weight norm in
    ``model``, so the pruned network stays connected; likewise a layer of a group whose own
    channels are all dropped (a branch of a concatenation that is then added to other
    channels) keeps its strongest agent, as no pruned layer can have zero outputs. A warning
    says so each time. This is the mask that :func:`prune` applies and :func:`save_pruned`
    records.
    """
    _check_keep(keep, groups)
    modules = dict(model.named_modules())
    out = {}
    for group in groups:
        kept = torch.as_tensor(keep[group.name]).bool().cpu().clone()
        if not kept.any():
            best = _strongest_agent(group, modules, range(group.size))
            warnings.warn(
                f"every channel of group '{group.name}' was dropped; keeping agent "
                f"{best} (largest weight norm) so the network stays connected",
                stacklevel=3,
            )
            kept[best] = True
        for i, layer in enumerate(group.layers):
            own = group.own_agents(i)
            if own and not kept[own].any():
                best = _strongest_agent(group, modules, own)
                warnings.warn(
                    f"every output channel of layer '{layer}' (group '{group.name}') was "
                    f"dropped; keeping agent {best} (largest weight norm of its own) as no "
                    "pruned layer can have zero outputs",
                    stacklevel=3,
                )
                kept[best] = True
        out[group.name] = kept
    return out


def prune_to(
    model: nn.Module, gates: ChannelGates, mask: Tensor, example_input: Tensor
) -> tuple[nn.Module, dict[str, Tensor]]:
    """The network ``mask`` (n_agents,) of ``gates`` describes, physically pruned from
    ``model``, and the keep mask per group it was pruned with (no group emptied:
    :func:`connected_keep`)."""
    keep = connected_keep(gates.split(mask), gates.groups, model)
    return prune(model, keep, example_input), keep


def prune(model: nn.Module, keep: KeepMask, example_input: Tensor) -> nn.Module:
    """A new network without the channels whose ``keep`` entry is False.

    ``keep`` maps each group name of :func:`~decore_env.channels.tracing.channel_groups` to a bool
    tensor of the group's size, one entry per agent (a channel, or a slot of a group that a
    grouped conv reads: see :mod:`decore_env.channels.gates`). The input model is never modified. A
    group is never emptied (see :func:`connected_keep`). In eval mode the result computes
    exactly what the masked model computes.
    """
    pruned = copy.deepcopy(model)
    traced = trace_groups(pruned, example_input)
    keep = connected_keep(keep, traced.groups, pruned)
    with torch.no_grad():
        for group, tp_group, agents in zip(
            traced.groups, traced.tp_groups, traced.agents, strict=True
        ):
            drop = torch.nonzero(~keep[group.name][agents]).flatten().tolist()
            if drop:
                root = tp_group.items[0].dep
                try:
                    traced.graph.get_pruning_group(root.target.module, root.handler, drop).prune()
                except torch.OutOfMemoryError:
                    raise
                except (KeyError, IndexError, RuntimeError) as error:  # torch-pruning's own
                    raise UnsupportedLayerError(
                        f"pruning group '{group.name}' (layers {', '.join(group.layers)}) "
                        f"failed in torch-pruning ({type(error).__name__}: {error}); a layer "
                        "of that group moves channels in a way the grouping does not follow"
                    ) from error
    return pruned


class PrunedFileError(ValueError):
    """A file that is not a pruned network saved by :func:`save_pruned`, or does not fit."""


def save_pruned(
    path: str | os.PathLike,
    pruned: nn.Module,
    keep: KeepMask,
    input_shape: tuple[int, ...],
    model_name: str | None,
    num_classes: int,
) -> None:
    """Write ``pruned`` as what rebuilds it (no pickled code), atomically.

    :param keep: the mask ``pruned`` was made with, as :func:`connected_keep` returns it.
    :param input_shape: (C, H, W) of one input image (tracing the groups needs an example).
    :param model_name: the registry name of the unpruned network; ``None`` for a network of
        your own, which :func:`load_pruned` then needs as ``model=``.
    """
    atomic_save(
        {
            "format": PRUNED_FORMAT,
            "version": PRUNED_VERSION,
            "model": model_name,
            "num_classes": int(num_classes),
            "input_shape": [int(d) for d in input_shape],
            "keep": {name: torch.as_tensor(k).bool().cpu() for name, k in keep.items()},
            "state_dict": {k: v.detach().cpu() for k, v in pruned.state_dict().items()},
        },
        path,
    )


def load_pruned(path: str | os.PathLike, model: nn.Module | None = None) -> nn.Module:
    """The pruned network saved at ``path``, in eval mode; reads tensors only, runs no code.

    :param model: a fresh, unpruned instance of the architecture, needed when the file was
        saved from a network of your own (``model_name=None``); registry networks are rebuilt
        by name. It is copied, never modified.
    """
    try:
        saved = read_tensors(path)
    except ValueError as exc:
        raise PrunedFileError(f"{exc}; pass a pruned.pt written by decore") from exc
    if not isinstance(saved, Mapping) or saved.get("format") != PRUNED_FORMAT:
        raise PrunedFileError(
            f"{path} is not a pruned network saved by decore_env.channels.surgery.save_pruned"
        )
    _check_fields(saved, path)
    if saved.get("version", 0) > PRUNED_VERSION:
        raise PrunedFileError(
            f"{path} has layout version {saved['version']}; this decore reads up to "
            f"{PRUNED_VERSION}: upgrade decore-env"
        )
    shape = tuple(saved["input_shape"])
    if model is None:
        if saved["model"] is None:
            raise PrunedFileError(
                f"{path} was saved from a network of your own; pass a fresh instance of it: "
                "load_pruned(path, model=MyNet())"
            )
        model = models.for_data(saved["model"], saved["num_classes"], shape)
    try:
        pruned = prune(model, saved["keep"], torch.zeros(1, *shape))  # a copy: model untouched
    except (UnsupportedLayerError, torch.OutOfMemoryError):
        raise
    except (ValueError, KeyError, IndexError, RuntimeError) as exc:
        raise PrunedFileError(f"{path}: its keep masks do not fit the network ({exc})") from exc
    try:
        pruned.load_state_dict(saved["state_dict"])
    except RuntimeError as exc:
        raise PrunedFileError(
            f"{path} does not fit the given model: {mismatch_detail(exc)}"
        ) from exc
    return pruned.eval()


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


_FIELDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "version": ("an int", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "model": ("a registry name or None", lambda v: v is None or isinstance(v, str)),
    "num_classes": ("an int > 0", _is_count),
    "input_shape": (
        "three ints > 0 (C, H, W)",
        lambda v: isinstance(v, list | tuple) and len(v) == 3 and all(map(_is_count, v)),
    ),
    "keep": (
        "a mapping of group name -> 1-d bool tensor",
        lambda v: (
            isinstance(v, Mapping)
            and all(
                isinstance(k, Tensor) and k.dtype == torch.bool and k.dim() == 1 for k in v.values()
            )
        ),
    ),
    "state_dict": (
        "a mapping of name -> tensor",
        lambda v: isinstance(v, Mapping) and all(isinstance(t, Tensor) for t in v.values()),
    ),
}
"""Each field :func:`save_pruned` writes, what it must be, and the check."""


def _check_fields(saved: Mapping, path: str | os.PathLike) -> None:
    """Refuse a missing or malformed field by name (a file edited or written by hand)."""
    for name, (expected, valid) in _FIELDS.items():
        if name not in saved:
            if name == "version":  # files written before the layout had versions
                continue
            raise PrunedFileError(
                f"{path} has no {name!r} field; pass a pruned.pt written by decore"
            )
        if not valid(saved[name]):
            raise PrunedFileError(
                f"{path}: field {name!r} is {saved[name]!r:.60}, not {expected}; pass a "
                "pruned.pt written by decore"
            )
