"""The native agent's paper values and its measured improvements, in the names of
:class:`~agents.native.reinforce.ReinforceConfig` (imports no torch)."""

from typing import Any

PAPER_LR = 0.01
"""Adam learning rate of the agents (paper)."""
PAPER_INIT_WEIGHT = 6.9
"""Initial policy weight: keep probability sigmoid(6.9) = 0.999 (both re-implementations)."""
SHARED_LR = 3e-3
"""Adam learning rate of the shared policy network (``shared-reinforce``; our choice: the
per-channel agent's 0.1 would throw an MLP's weights far past where tanh saturates)."""
FINAL_ARCHITECTURES = ("threshold", "budget")
"""How the native agent's keep probabilities become the final mask (ReinforceConfig)."""
AGENT_LEVERS: dict[str, dict[str, Any]] = {
    "fast-start": {"lr": 0.1, "init_weight": 3.0},
    "reward-norm": {"baseline": True, "normalize_rewards": True},
    "l1-prior": {"l1_prior": 4.0},
    "budget-final": {"final_architecture": "budget"},
}
"""The improvements of the agent itself (not in the paper); :data:`agents.run.config.PLUS_LEVERS`
documents each, beside the levers of the run around the agent."""
PRESET_AGENT_LEVERS = ("fast-start", "reward-norm", "budget-final")
"""The agent levers of ``reinforce-plus`` (the preset adds the run's ``frozen-search``)."""
PLUS_AGENT_SETTINGS: dict[str, Any] = {
    k: v for lever in PRESET_AGENT_LEVERS for k, v in AGENT_LEVERS[lever].items()
}
"""The ReinforceConfig settings ``reinforce-plus`` starts from."""
