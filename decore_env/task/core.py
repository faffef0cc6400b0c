"""The tensor-level core every environment wraps: masks in, per-sample rewards out.

No numpy, no observation, no host copies: masks, images, correctness and rewards stay on the
core's device, so an agent that drives the core directly (the native REINFORCE agent) never
synchronises with the host inside a step.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from decore_env.channels.gates import ChannelGates
from decore_env.common.checks import check_lam
from decore_env.data.loader import TensorLoader
from decore_env.task.defaults import JOINT_LR, JOINT_MOMENTUM, JOINT_WEIGHT_DECAY
from decore_env.task.forward import MaskedForward
from decore_env.task.rewards import group_rewards


@dataclass(frozen=True)
class Scored:
    """What one forward pass of masked samples yields, all tensors on the core's device.

    :param correct: (B,) bool, the masked network classified sample b correctly.
    :param group_rewards: (B, G) the paper's R(b, i) per sample and group.
    :param kept: (B, G) channels kept per group by the mask of sample b.
    :param loss: scalar cross-entropy of the masked forward pass (detached).
    """

    correct: Tensor
    group_rewards: Tensor
    kept: Tensor
    loss: Tensor


class CompressionCore:
    """Scores keep masks with one batched, per-sample masked forward pass.

    :param model: the network to compress (moved to ``loader.device``).
    :param gates: channel groups and masks of ``model``.
    :param loader: the training batches; each :meth:`step` takes its next batch.
    :param lam: the paper's lambda, penalty of a wrong prediction.
    :param train_network: also take one SGD step on the network weights per scored batch,
        on the same masked forward pass (the paper's joint training). Otherwise the network
        is frozen in eval mode.
    :param compile: ``torch.compile`` the masked forward (see :mod:`decore_env.task.forward`).
    """

    def __init__(
        self,
        model: nn.Module,
        gates: ChannelGates,
        loader: TensorLoader,
        lam: float,
        train_network: bool = False,
        lr: float = JOINT_LR,
        momentum: float = JOINT_MOMENTUM,
        weight_decay: float = JOINT_WEIGHT_DECAY,
        compile: bool = False,
    ) -> None:
        self.device = loader.device
        self.model = model.to(self.device)
        self.gates = gates
        self.forward = MaskedForward(self.model, gates, self.device, compile)
        self.loader = loader
        self.lam_tensor = torch.tensor(check_lam(lam), device=self.device)
        """lambda as a 0-d tensor on the device: budget control changes it without a sync."""
        self.train_network = train_network
        self.n_groups = len(gates.groups)
        self.group_of_agent = gates.group_of_agent.to(self.device)
        self.optimizer = (
            torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
            if train_network
            else None
        )
        self._initial = self.state_dict()

    @property
    def lam(self) -> float:
        """The penalty of a wrong prediction (reading it copies one number from the device)."""
        return float(self.lam_tensor)

    @lam.setter
    def lam(self, value: float) -> None:
        self.lam_tensor.fill_(check_lam(value))

    # ------------------------------------------------------------------ scoring
    def step(self, masks: Tensor) -> Scored:
        """Score ``masks`` (M, n_agents) on the loader's next batch of B = k * M images.

        Mask m is applied to images m*k ... m*k + k - 1 (k = B / M samples per mask).
        """
        images, labels = self.loader.next_batch()
        return self.score(masks, images, labels)

    def score(self, masks: Tensor, images: Tensor, labels: Tensor) -> Scored:
        """Score ``masks`` on given images; see :meth:`step` for how masks map to images."""
        masks = self.gates.check_mask(masks).to(self.device)
        batch = images.shape[0]
        if batch % masks.shape[0]:
            raise ValueError(
                f"{masks.shape[0]} masks cannot share a batch of {batch} images evenly; "
                "use a batch size that is a multiple of the number of masks"
            )
        per_sample = masks.repeat_interleave(batch // masks.shape[0], dim=0)
        logits, loss = self.forward.run(lambda: self._pass(images, labels, per_sample))
        if self.train_network:
            self.optimizer.step()
        correct = logits.detach().argmax(1) == labels
        rewards = group_rewards(
            per_sample, correct, self.group_of_agent, self.n_groups, self.lam_tensor
        )
        kept = self.gates.kept_per_group(per_sample)
        return Scored(correct, rewards, kept, loss.detach())

    def _pass(self, images: Tensor, labels: Tensor, per_sample: Tensor) -> tuple[Tensor, Tensor]:
        """Logits and loss of the masked forward; with joint training, the loss's gradients
        too (the optimiser steps after, so a compile fallback can repeat this whole)."""
        if self.train_network:
            self.model.train()
            logits = self.forward(images, per_sample)
            loss = nn.functional.cross_entropy(logits, labels)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            return logits, loss
        self.model.eval()
        with torch.no_grad():
            logits = self.forward(images, per_sample)
        return logits, nn.functional.cross_entropy(logits, labels)

    def close(self) -> None:
        """Leave the network as it was given (no hooks kept for a compiled forward)."""
        self.forward.close()

    # -------------------------------------------------------------------- state
    def state_dict(self) -> dict:
        """Network weights, optimiser state and data order: all that a step depends on."""
        return copy.deepcopy(
            {
                "model": self.model.state_dict(),
                "optimizer": None if self.optimizer is None else self.optimizer.state_dict(),
                "loader": self.loader.state_dict(),
            }
        )

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        if self.optimizer is not None:
            self.optimizer.load_state_dict(state["optimizer"])
        self.loader.load_state_dict(state["loader"])

    def restore_initial(self, seed: int | None = None) -> None:
        """Back to the network and optimiser the core started with; with ``seed``, restart
        the data order and the augmentation from it."""
        self.load_state_dict(copy.deepcopy(self._initial))
        if seed is not None:
            self.loader.reseed(seed)
