"""Settings of a compression run, as one dataclass; the `decore` CLI is generated from it.

Defaults follow the paper where it speaks (agent learning rate, initial weight, batch size,
joint training); :func:`demo_config` holds the documented settings of the small embedded demo.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from agents.reinforce import PAPER_INIT_WEIGHT, PAPER_LR
from decore_env.checks import check_fraction, check_lam
from decore_env.core import JOINT_LR
from decore_env.task import DEFAULT_BATCH, DEFAULT_LAM


def _opt(default: Any, help: str, **kw: Any) -> Any:
    return field(default=default, metadata={"help": help, **kw})


@dataclass(frozen=True)
class CompressConfig:
    """Everything that decides a run's result; saved in the run folder for --resume."""

    model: str = _opt("lenet5", "registry name of the network to compress")
    dataset: str = _opt("embedded", "data set name, or a folder in ImageFolder layout")
    data_dir: str | None = _opt(None, "where torchvision data sets are (or are downloaded to)")
    checkpoint: str | None = _opt(None, "baseline weights (decore train output); trained if absent")
    baseline_epochs: int = _opt(10, "epochs of baseline training when no checkpoint is given")
    baseline_lr: float = _opt(0.05, "peak SGD learning rate of baseline training (one-cycle)")
    lam: float = _opt(DEFAULT_LAM, "the paper's lambda: penalty of a wrong prediction")
    target_params: float | None = _opt(
        None, "budget mode: fraction of params to keep; lambda adapts (overrides --lam's role)"
    )
    target_macs: float | None = _opt(None, "budget mode: fraction of MACs to keep")
    agent: str = _opt("reinforce", "agent that learns the policy", choices=("reinforce",))
    agent_lr: float = _opt(PAPER_LR, "Adam learning rate of the channel agents")
    init_weight: float = _opt(PAPER_INIT_WEIGHT, "initial agent weight (keep prob sigmoid(w))")
    reward_baseline: bool = _opt(False, "subtract a running mean reward per group (not in paper)")
    normalize_rewards: bool = _opt(False, "scale rewards by their running std (not in paper)")
    entropy_coef: float = _opt(0.0, "entropy bonus on keep probabilities (not in paper)")
    policy_epochs: int = _opt(260, "epochs of policy learning over the training split")
    batch_size: int = _opt(DEFAULT_BATCH, "images per policy step, one mask each")
    joint_training: bool = _opt(True, "train the network jointly with the agents (paper)")
    joint_lr: float = _opt(JOINT_LR, "SGD learning rate of the network during joint training")
    finetune_epochs: int = _opt(40, "epochs of fine-tuning the pruned network")
    finetune_lr: float = _opt(0.01, "peak SGD learning rate of fine-tuning (one-cycle)")
    weight_decay: float = _opt(5e-4, "weight decay of baseline training and fine-tuning")
    log_every: int = _opt(
        10, "policy steps between logged points (1 = every step; each read syncs a GPU)"
    )
    seed: int = _opt(0, "seed of data order, augmentation, initialisation and actions")
    device: str = _opt("auto", "cuda, cpu, or auto (CUDA when available)")

    def __post_init__(self) -> None:
        check_lam(self.lam)
        for name in ("target_params", "target_macs"):
            if getattr(self, name) is not None:
                check_fraction(getattr(self, name))
        if self.target_params is not None and self.target_macs is not None:
            raise ValueError("give --target-params or --target-macs, not both")
        for name in ("baseline_epochs", "policy_epochs", "batch_size", "log_every"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.finetune_epochs < 0:
            raise ValueError(f"finetune_epochs must be >= 0, got {self.finetune_epochs}")
        for name in ("baseline_lr", "agent_lr", "joint_lr", "finetune_lr"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("weight_decay", "entropy_coef"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not math.isfinite(self.init_weight):
            raise ValueError(f"init_weight must be a finite number, got {self.init_weight}")

    @property
    def budget(self) -> tuple[str, float] | None:
        """("params" | "macs", target fraction) in budget mode, else None."""
        if self.target_params is not None:
            return "params", self.target_params
        if self.target_macs is not None:
            return "macs", self.target_macs
        return None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> CompressConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown settings {unknown}; this version knows {sorted(known)}")
        return cls(**values)


def demo_config(**overrides: Any) -> CompressConfig:
    """LeNet-5 on the embedded MNIST subset, sized to run in minutes on 2 CPU cores.

    Differences from the paper, each because the demo is small: lambda 6 instead of 200
    (a 6-epoch baseline reaches ~98% training accuracy, and lambda 200 only pays above
    99.5%; lambda 6 pays above 86%); agent learning rate 0.1 and initial weight 3.0 instead
    of 0.01 and 6.9 (at the paper's values agents need ~700 steps before any keep
    probability reaches 0.5); 30 policy epochs (1,380 steps) and 3 fine-tune epochs instead
    of 260 and 40.
    """
    base = CompressConfig(
        model="lenet5",
        dataset="embedded",
        baseline_epochs=6,
        baseline_lr=0.1,
        lam=6.0,
        agent_lr=0.1,
        init_weight=3.0,
        policy_epochs=30,
        finetune_epochs=3,
        finetune_lr=0.02,
        device="cpu",
    )
    return replace(base, **overrides)
