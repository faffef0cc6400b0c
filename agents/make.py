"""make_agent: any agent ``decore compress --agent`` knows, by name, from Python."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agents.names import AGENTS, LAYERWISE_AGENTS, REFERENCES, SB3_AGENTS, SHARED_AGENTS
from agents.native.reinforce import DecoreAgent, ReinforceConfig
from agents.native.settings import PLUS_AGENT_SETTINGS, SHARED_LR
from agents.native.shared import SharedReinforceAgent
from agents.native.shared_net import SharedKeepNet
from agents.references.reference import Reference

if TYPE_CHECKING:
    from agents.sb3.adapter import SB3Agent
    from agents.sb3.td3_layerwise import LayerwiseAgent


def make_agent(
    name: str, env: Any, seed: int = 0, **kwargs: Any
) -> DecoreAgent | Reference | SB3Agent | LayerwiseAgent:
    """The agent ``name`` (one of :data:`agents.names.AGENTS`) on ``env``.

    :param env: what the agent drives: the native vector env with ``tensors=True`` for
        ``reinforce`` and the references; for an SB3 algorithm the vector env with numpy
        outputs or the single env, in :func:`decore_env.envs.relaxation.relax` for SAC and TD3;
        ``DecoreCompressLayerwise-v0`` for ``td3_layerwise``.
    :param seed: the run's seed; the agent's own seeds are derived from it.
    :param kwargs: ``reinforce``: fields of :class:`~agents.native.reinforce.ReinforceConfig`
        (``reinforce-plus``: over :data:`~agents.native.settings.PLUS_AGENT_SETTINGS`); a
        reference: ``target`` and optionally ``resource``, ``images_per_mask``; an SB3
        algorithm: its constructor's arguments over :data:`agents.sb3.adapter.SETTINGS`;
        ``shared-reinforce`` and ``ppo-shared`` also ``policy_file``, a trained shared policy
        network to start from (``shared-reinforce``'s defaults: reinforce-plus's with
        ``lr`` SHARED_LR).
    """
    if name not in AGENTS:
        raise ValueError(f"unknown agent {name!r}; one of {', '.join(AGENTS)}")
    if name in REFERENCES:
        return Reference(name, env, seed=seed, **kwargs)
    policy_file = kwargs.pop("policy_file", None)
    if policy_file is not None and name not in SHARED_AGENTS:
        raise ValueError(f"policy_file starts a shared policy; {name} has none")
    net = None if policy_file is None else SharedKeepNet.load(policy_file)
    if name in SB3_AGENTS:
        from agents.sb3.adapter import SB3Agent  # stable-baselines3 loads only for its agents

        if net is not None:
            kwargs["policy_kwargs"] = {"actor": net, **kwargs.get("policy_kwargs", {})}
        return SB3Agent(name, env, seed, **kwargs)
    if name in LAYERWISE_AGENTS:
        from agents.sb3.td3_layerwise import LayerwiseAgent

        return LayerwiseAgent(env, seed=seed, **kwargs)
    if name == "shared-reinforce":
        config = ReinforceConfig(**(PLUS_AGENT_SETTINGS | {"lr": SHARED_LR} | kwargs))
        return SharedReinforceAgent(env, config, seed=seed, net=net)
    if name == "reinforce-plus":  # the preset's agent settings, the given ones over them
        kwargs = PLUS_AGENT_SETTINGS | kwargs
    return DecoreAgent(env, ReinforceConfig(**kwargs), seed=seed)
