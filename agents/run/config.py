"""Settings of a compression run, as one dataclass; the `decore` CLI is generated from it.

A run is a task (every field of :class:`~decore_env.task.spec.TaskSpec`, so ``decore compress``
and ``gym.make`` build the same task from the same values) plus the agent's settings and
the phase lengths. Defaults follow the paper where it speaks; :func:`demo_config` holds the
documented settings of the small embedded demo. Imports no torch (``decore --help`` is fast).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from agents.names import (
    AGENTS,
    BUDGETED,
    LAYERWISE_AGENTS,
    ON_POLICY,
    SB3_AGENTS,
    SHARED_AGENTS,
)
from agents.native.settings import (
    AGENT_LEVERS,
    FINAL_ARCHITECTURES,
    PAPER_INIT_WEIGHT,
    PAPER_LR,
    PRESET_AGENT_LEVERS,
    SHARED_LR,
)
from decore_env.common.checks import positive_int
from decore_env.task.spec import TaskSpec, setting, task_fields

DISTILL_TEMPERATURE = 4.0
"""Softmax temperature of distillation in fine-tuning (Hinton et al., 2015, use 1-20; 4 is a
common choice for 10-class image tasks)."""
RUN_NAMES = {"lr": "agent_lr", "baseline": "reward_baseline"}
"""Run settings named other than the ReinforceConfig field they set; the rest share the name."""
NATIVE_SETTINGS = (
    "lr",
    "init_weight",
    "baseline",
    "normalize_rewards",
    "entropy_coef",
    "l1_prior",
    "final_architecture",
)
"""The ReinforceConfig fields a run sets."""


def run_names(agent_settings: dict[str, Any]) -> dict[str, Any]:
    """ReinforceConfig settings under the names of the run's settings."""
    return {RUN_NAMES.get(name, name): value for name, value in agent_settings.items()}


@dataclass(frozen=True)
class CompressConfig(TaskSpec):
    """Everything that decides a run's result; saved in the run folder for --resume.

    The task fields keep TaskSpec's meaning, with two defaults of the paper's pipeline:
    ``train_network`` (joint training) and ``augment`` are on. ``checkpoint`` absent: the run
    trains its own baseline first (``baseline_epochs``).
    """

    train_network: bool = setting(True, "train the network jointly with the agents (paper)")
    augment: bool = setting(True, "the data set's training augmentation (crops, flips)")
    observe: bool = setting(False, "not used by the pipeline (its agent reads none)", cli=False)
    keep_decay: float = setting(
        TaskSpec.keep_decay, "not used by the pipeline (no observations)", cli=False
    )
    train_baseline: bool = setting(
        False, "not used: without a checkpoint the pipeline trains its baseline", cli=False
    )
    baseline_epochs: int = setting(10, "epochs of baseline training when no checkpoint is given")
    baseline_lr: float = setting(0.05, "peak SGD learning rate of baseline training (one-cycle)")
    agent: str = setting("reinforce", "agent that learns the policy", choices=AGENTS)
    agent_lr: float = setting(PAPER_LR, "Adam learning rate of the channel agents")
    init_weight: float = setting(PAPER_INIT_WEIGHT, "initial agent weight (keep prob sigmoid(w))")
    reward_baseline: bool = setting(False, "subtract a running mean reward per group (not paper)")
    normalize_rewards: bool = setting(False, "scale rewards by their running std (not in paper)")
    entropy_coef: float = setting(0.0, "entropy bonus on keep probabilities (not in paper)")
    l1_prior: float = setting(
        0.0, "spread of initial agent weights by L1 rank in each group (not in paper)"
    )
    sb3_learning_rate: float | None = setting(
        None, "SB3 agents (and td3_layerwise): learning rate (default: the algorithm's)"
    )
    sb3_ent_coef: float | None = setting(
        None, "a2c, ppo, sac: entropy coefficient (default: the algorithm's)"
    )
    sb3_n_steps: int | None = setting(
        None, "a2c, ppo: vector steps per rollout (default: the project's, see SETTINGS)"
    )
    policy_file: str | None = setting(
        None,
        "shared-reinforce, ppo-shared: start from this trained shared policy network (transfer; "
        "with shared-reinforce, --policy-epochs 0 is zero-shot: its architecture, no pair scored)",
    )
    final_architecture: str = setting(
        "threshold",
        "final mask: p > 0.5 (paper), or 'budget': the top keep probabilities that meet the "
        "target (with a target; without one, p > 0.5)",
        choices=FINAL_ARCHITECTURES,
    )
    policy_epochs: int = setting(260, "epochs of policy learning over the training split")
    search_share: float = setting(
        1.0,
        "share of the policy epochs the agent searches; the rest fine-tune the pruned network "
        "(same network-training epochs, fewer pairs; with joint training only; not in paper)",
    )
    finetune_epochs: int = setting(40, "epochs of fine-tuning the pruned network")
    finetune_lr: float = setting(0.01, "peak SGD learning rate of fine-tuning (one-cycle)")
    distill_weight: float = setting(
        0.0, "weight of distillation from the baseline in fine-tuning, in [0, 1] (not in paper)"
    )
    distill_temperature: float = setting(
        DISTILL_TEMPERATURE, "softmax temperature of that distillation"
    )
    weight_decay: float = setting(5e-4, "weight decay of baseline training and fine-tuning")
    log_every: int = setting(
        10, "policy steps between logged points (1 = every step; each read syncs a GPU)"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        self._check_schedule()
        self._check_agent()

    def _check_schedule(self) -> None:
        """The run's inputs and phase lengths."""
        for name in ("model", "dataset"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"{name} of a compress run must be a name or a path (text)")
        if self.checkpoint is not None and not isinstance(self.checkpoint, str):
            raise ValueError("checkpoint of a compress run must be a path")
        for name in ("baseline_epochs", "log_every"):
            positive_int(name, getattr(self, name))
        zero_shot = self.agent == "shared-reinforce" and self.policy_file is not None
        if self.policy_epochs == 0 and not zero_shot:
            raise ValueError(
                "policy_epochs must be a positive int; 0 (zero-shot) only with --agent "
                "shared-reinforce and a --policy-file"
            )
        if self.policy_epochs != 0:
            positive_int("policy_epochs", self.policy_epochs)
        if self.finetune_epochs != 0:
            positive_int("finetune_epochs", self.finetune_epochs)
        for name in ("baseline_lr", "agent_lr", "finetune_lr"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0 < self.search_share <= 1:
            raise ValueError(f"search_share must be in (0, 1], got {self.search_share}")
        if self.search_share < 1 and not self.train_network:
            raise ValueError(
                "search_share < 1 hands joint-training epochs to fine-tuning: it needs "
                "--train-network (with a frozen network, set --finetune-epochs instead)"
            )

    def _check_agent(self) -> None:
        """The agent and its settings, fine-tuning's distillation."""
        if not 0 <= self.distill_weight <= 1:
            raise ValueError(f"distill_weight must be in [0, 1], got {self.distill_weight}")
        if not self.distill_temperature > 0:
            raise ValueError(f"distill_temperature must be > 0, got {self.distill_temperature}")
        for name in ("weight_decay", "entropy_coef"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not math.isfinite(self.init_weight):
            raise ValueError(f"init_weight must be a finite number, got {self.init_weight}")
        unused = [f.name for f in fields(self) if not f.metadata.get("cli", True)]
        changed = [n for n in unused if getattr(self, n) != getattr(CompressConfig, n)]
        if changed:
            raise ValueError(f"{', '.join(changed)} cannot be set for a compress run")
        if self.agent not in AGENTS:
            raise ValueError(f"unknown agent {self.agent!r}; choose one of {', '.join(AGENTS)}")
        self._check_sb3()
        if self.policy_file is not None and self.agent not in SHARED_AGENTS:
            raise ValueError(
                f"--policy-file starts a shared policy; agent {self.agent} has none: choose "
                f"{' or '.join(SHARED_AGENTS)}"
            )
        if self.agent in BUDGETED and self.budget is None:
            raise ValueError(
                f"agent {self.agent} prunes to a target: give --target-params or --target-macs"
            )
        if self.agent in BUDGETED and self.train_network:
            raise ValueError(
                f"agent {self.agent} does not train the network: add --no-train-network"
            )

    def _check_sb3(self) -> None:
        """The SB3 settings: numbers (a learning rate and a rollout > 0, an entropy coefficient
        >= 0), each only for the agents that have it."""
        for name, (_, agents) in SB3_SETTINGS.items():
            value = getattr(self, name)
            if value is None:
                continue
            flag = "--" + name.replace("_", "-")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{flag} must be a number; got {value!r}")
            zero_allowed = name == "sb3_ent_coef"
            if not math.isfinite(value) or value < 0 or (value == 0 and not zero_allowed):
                relation = ">= 0" if zero_allowed else "> 0"
                raise ValueError(f"{flag} must be a finite number {relation}; got {value}")
            if self.agent not in agents:
                raise ValueError(
                    f"{flag} is a setting of {', '.join(agents)}, not of agent {self.agent}: "
                    "leave it out or choose one of those agents"
                )
        if self.sb3_n_steps is not None:
            positive_int("sb3_n_steps", self.sb3_n_steps)

    @property
    def search_epochs(self) -> int:
        """Epochs the agent searches: ``search_share`` of the policy epochs, at least one
        (none for a zero-shot run, ``policy_epochs`` 0)."""
        return max(min(1, self.policy_epochs), round(self.policy_epochs * self.search_share))

    @property
    def tuning_epochs(self) -> int:
        """Fine-tuning epochs: the given ones plus the policy epochs not searched."""
        return self.finetune_epochs + self.policy_epochs - self.search_epochs

    def task_spec(self, **overrides: Any) -> TaskSpec:
        """The task of this run, as ``gym.make`` takes it."""
        values = {name: getattr(self, name) for name in task_fields()}
        return TaskSpec(**{**values, **overrides})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> CompressConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown settings {unknown}; this version knows {sorted(known)}")
        return cls(**values)


PLUS_LEVERS: dict[str, dict[str, Any]] = {
    **{lever: run_names(settings) for lever, settings in AGENT_LEVERS.items()},
    "frozen-search": {"train_network": False},
    "distill": {"distill_weight": 0.5},
    "early-settle": {"search_share": 1 / 3},
}
"""The improvements over paper mode that were measured, each a set of settings (not in the
paper):

- ``fast-start``: Adam 0.1 from initial weight 3 (keep probability 0.95): agents decide within
  short schedules (at the paper's 0.01 from 6.9 they need ~700 steps to reach p = 0.5).
- ``reward-norm``: subtract a running mean of each group's reward and divide by its running
  std (variance reduction; the paper's REINFORCE has no baseline).
- ``l1-prior``: initial weights spread by 4 by L1 rank inside each group (+/- 2 around the
  initial weight), so weak channels start nearer to being dropped.
- ``budget-final``: the final architecture keeps the channels of highest keep score (the keep
  probability; the shared policy's expected architecture) that meet the target (within 2%
  from below), so budget mode lands on the target.
- ``frozen-search``: the agents score masks on the frozen baseline instead of training the
  network jointly; the network's epochs all go to fine-tuning the pruned network (the
  benchmark gives the policy phase's epochs as fine-tuning, as to every agent that does not
  train the network; on the CLI, set ``--finetune-epochs``). Joint training fits the network
  to random masks, and the pruned network fine-tunes worse from there than from the baseline.
- ``distill``: fine-tuning learns half from the labels, half from the baseline's softened
  outputs (temperature 4).
- ``early-settle``: search for the first third of the policy epochs, then fine-tune the pruned
  network for the other two thirds (joint training only): the same network-training epochs, a
  third of the pairs.

The ablation of benchmarks/README.md measures each alone on paper mode, each left out of the
preset, and the left-out ones that fit added to it."""
PRESET_LEVERS = (*PRESET_AGENT_LEVERS, "frozen-search")
"""The levers of ``--agent reinforce-plus``, chosen as benchmarks/README.md says (the tuning
table, and the L1 prior's removal after its leave-one-out ablation)."""
ADDED_LEVERS = ("l1-prior", "distill")
"""Levers left out of the preset that the ablation adds back to it, one at a time
(``early-settle`` needs joint training, which ``frozen-search`` replaces)."""
PLUS_PRESET: dict[str, Any] = {
    k: v for lever in PRESET_LEVERS for k, v in PLUS_LEVERS[lever].items()
}
"""The settings ``--agent reinforce-plus`` starts from (the PRESET_LEVERS)."""


def without_lever(lever: str) -> dict[str, Any]:
    """The reinforce-plus settings with ``lever`` back at the run's defaults (paper mode)."""
    defaults = {f.name: f.default for f in fields(CompressConfig)}
    return PLUS_PRESET | {name: defaults[name] for name in PLUS_LEVERS[lever]}


def with_lever(lever: str) -> dict[str, Any]:
    """The reinforce-plus settings with ``lever`` added."""
    return PLUS_PRESET | PLUS_LEVERS[lever]


def frozen_finetune_epochs(config: CompressConfig) -> int:
    """Fine-tuning epochs that give a search on the frozen network as many network-training
    epochs as joint training gets: the policy epochs plus the fine-tuning ones (the
    benchmark's protocol; ``decore compress`` applies it when a preset freezes the network
    and ``--finetune-epochs`` is not given)."""
    return config.finetune_epochs + config.policy_epochs


def preset(agent: str) -> dict[str, Any]:
    """Settings an agent name brings as defaults (explicit settings override them):
    ``reinforce-plus`` the PLUS_PRESET, ``shared-reinforce`` the same with the shared
    network's learning rate."""
    if agent == "shared-reinforce":
        return PLUS_PRESET | {"agent_lr": SHARED_LR}
    return dict(PLUS_PRESET) if agent == "reinforce-plus" else {}


SB3_SETTINGS = {
    "sb3_learning_rate": ("learning_rate", (*SB3_AGENTS, *LAYERWISE_AGENTS)),
    "sb3_ent_coef": ("ent_coef", (*ON_POLICY, "sac")),
    "sb3_n_steps": ("n_steps", ON_POLICY),
}
"""Each SB3 setting of a run: the SB3 constructor argument it sets, and the agents that have
it."""


def sb3_settings(config: CompressConfig) -> dict[str, Any]:
    """The SB3 constructor arguments a run sets (the rest stay at their defaults)."""
    return {
        sb3: getattr(config, run)
        for run, (sb3, _) in SB3_SETTINGS.items()
        if getattr(config, run) is not None
    }


def native_agent_settings(config: CompressConfig) -> dict[str, Any]:
    """The native agent's settings in a run (``ReinforceConfig``'s names)."""
    return {name: getattr(config, RUN_NAMES.get(name, name)) for name in NATIVE_SETTINGS}


def demo_config(**overrides: Any) -> CompressConfig:
    """LeNet-5 on the embedded MNIST subset, sized to run in minutes on 2 CPU cores.

    Differences from the paper, each because the demo is small: lambda 6 (the default
    task's, see ``decore_env.task.defaults.DEFAULT_LAM``) instead of 200; agent learning rate
    0.1 and initial weight 3.0 instead of 0.01 and 6.9 (at the paper's values agents need ~700
    steps before any keep probability reaches 0.5); 30 policy epochs (1,170 steps) and 3
    fine-tune epochs instead of 260 and 40; 6 baseline epochs.
    """
    base = CompressConfig(
        baseline_epochs=6,
        baseline_lr=0.1,
        **PLUS_LEVERS["fast-start"],
        policy_epochs=30,
        finetune_epochs=3,
        finetune_lr=0.02,
        device="cpu",
    )
    return replace(base, **overrides)
