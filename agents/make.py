"""make_agent: any agent ``decore compress --agent`` knows, by name, from Python."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agents.baselines import Reference
from agents.config import (
    AGENTS,
    LAYERWISE_AGENTS,
    PLUS_PRESET,
    REFERENCES,
    SB3_AGENTS,
    CompressConfig,
    native_agent_settings,
)
from agents.reinforce import DecoreAgent, ReinforceConfig

if TYPE_CHECKING:
    from agents.layerwise import LayerwiseAgent
    from agents.sb3 import SB3Agent


def make_agent(
    name: str, env: Any, seed: int = 0, **kwargs: Any
) -> DecoreAgent | Reference | SB3Agent | LayerwiseAgent:
    """The agent ``name`` (one of :data:`agents.config.AGENTS`) on ``env``.

    :param env: what the agent drives: the native vector env with ``tensors=True`` for
        ``reinforce`` and the references; for an SB3 algorithm the vector env with numpy
        outputs or the single env, in :func:`decore_env.relaxation.relax` for SAC and TD3;
        ``DecoreCompressLayerwise-v0`` for ``td3_layerwise``.
    :param seed: the run's seed; the agent's own seeds are derived from it.
    :param kwargs: ``reinforce``: fields of :class:`~agents.reinforce.ReinforceConfig`
        (``reinforce-plus``: over the agent settings of ``PLUS_PRESET``); a
        reference: ``target`` and optionally ``resource``, ``images_per_mask``; an SB3
        algorithm: its constructor's arguments over :data:`agents.sb3.SETTINGS`.
    """
    if name not in AGENTS:
        raise ValueError(f"unknown agent {name!r}; one of {', '.join(AGENTS)}")
    if name in REFERENCES:
        return Reference(name, env, seed=seed, **kwargs)
    if name in SB3_AGENTS:
        from agents.sb3 import SB3Agent  # stable-baselines3 loads only for its agents

        return SB3Agent(name, env, seed, **kwargs)
    if name in LAYERWISE_AGENTS:
        from agents.layerwise import LayerwiseAgent

        return LayerwiseAgent(env, seed=seed, **kwargs)
    if name == "reinforce-plus":  # the preset's agent settings, the given ones over them
        kwargs = native_agent_settings(CompressConfig(**PLUS_PRESET)) | kwargs
    return DecoreAgent(env, ReinforceConfig(**kwargs), seed=seed)
