"""DecoreCompressEnv: DECORE's channel-pruning game as a Gymnasium environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from decore_env.observation import KEEP_DECAY
from decore_env.task import (
    DEFAULT_BATCH,
    DEFAULT_LAM,
    CheckpointArg,
    CompressionTask,
    DatasetArg,
    ModelArg,
    StepResult,
    TaskView,
    build_core,
)


class DecoreCompressEnv(TaskView, gym.Env[np.ndarray, np.ndarray]):
    """
    ## Description

    Network compression as the multi-agent game of DECORE (Alwani et al., CVPR 2022): every
    output channel of every conv and hidden linear layer of a trained network is an agent that
    keeps (1) or drops (0) its channel. Coupled channels (e.g. all convs writing into one
    residual stream) form a *group*; the agents of a group share its reward. A step scores one
    keep mask on the next ``batch_size`` training images: dropped channels are zeroed where they
    enter the next layer, so the masked network computes what the physically pruned network
    would. Good masks drop many channels without changing the predictions.

    ## Action Space

    ``MultiBinary(n_agents)``: one bit per channel, 1 keep, 0 drop, ordered group by group in
    forward order (``env.unwrapped.groups``; VGG16-BN: 4,736 agents in 14 groups, LeNet-5: 226
    in 4). Bool, integer or float numpy arrays and torch tensors are accepted as long as every
    value is exactly 0 or 1; anything else (wrong shape, 0.5, NaN) raises ``ValueError``.

    ## Observation Space

    ``Box(0, 1, (3 + 5 G + 3 A,), float32)`` for G groups and A agents: the layer states,
    one block of values per feature (full table in :mod:`decore_env.observation`).

    - ``[0]``: accuracy of the last step (0 after a reset).
    - ``[1]``, ``[2]``: params and MACs of the last mask's pruned network, as fractions of the
      full network's.
    - ``[3 + f G + i]``, group i, feature f = 0..4: position i / (G - 1); width / the widest
      group's width; share of the network's params and of its MACs that touch the group's
      channels; mean "kept recently" of its agents.
    - ``[3 + 5 G + f A + j]``, agent j, feature f = 0..2: L2 norm of its channel's weights and
      abs BatchNorm scale (1 without BN), each divided by the largest in its group; "kept
      recently", a moving average of its actions with decay ``keep_decay`` (1 after a reset).

    ``env.unwrapped.layout.unpack(obs)`` splits an observation into these parts. All entries
    come from tensors on the device; the weight entries change only with ``train_network``.

    ## Rewards

    The paper's reward: for image b and group i, R(b, i) = (channels dropped in group i) x
    (+1 if b is classified correctly, else -lam). The step's reward is R summed over groups and
    averaged over the batch's images. Dropping pays only while the accuracy exceeds
    lam / (1 + lam). A mask that drops a whole group is scored like any other: nothing flows
    through that group any more, and the accuracy and the reward show it.

    ## Starting State

    ``reset(seed=s)`` restores the network (and, with joint training, its optimiser) to its
    initial state and reseeds the data order from ``np_random``: seeded episodes repeat
    exactly. ``reset()`` without a seed keeps the jointly trained weights and continues with
    the next batches (the first reset without a seed draws a random data order).

    ## Episode End

    Never terminated (compression has no terminal state). Truncated after ``episode_steps``
    steps, by default one pass over the training split (``len(train) // batch_size`` steps).

    ## Arguments

    ```python
    gym.make("DecoreCompress-v0", model="vgg16", dataset="cifar10", checkpoint="vgg16.pt", lam=200)
    ```

    - ``model``: registry name (``decore_env.models.MODEL_NAMES``) or an ``nn.Module`` (copied).
    - ``checkpoint``: trained weights, a state-dict file or mapping. Without one, and with a
      frozen network, the rewards are meaningless: a warning says so.
    - ``dataset``: a name from ``decore_env.data.DATASET_NAMES``, an ImageFolder-style path, or
      a ``decore_env.data.DataSplits``; ``data_root`` is where torchvision sets are stored.
    - ``lam``: the penalty of a wrong prediction, finite and > 0 (settable: ``env.unwrapped.lam``).
    - ``batch_size``: images scored per step (default 256, the paper's).
    - ``train_network``: also take one SGD step on the network weights per step, on the same
      masked forward pass (the paper's joint training); default False, the network frozen in
      eval mode.
    - ``device``: default CUDA when available, else the CPU.
    - ``episode_steps``: steps per episode; default one pass over the training split.
    - ``keep_decay``: decay of the "kept recently" averages of the observation.
    - ``augment``: the data set's on-device training augmentation (random crops, flips).
    - ``render_mode``: ``"ansi"`` renders a kept / total table per group of the last mask.

    ``DecoreCompressLeNet-v0`` is this env with LeNet-5 on the embedded MNIST subset, on the
    CPU, ``lam=20``, and weights trained on first use and cached
    (:mod:`decore_env.lenet_env`); every argument can be overridden.

    ## Vectorized environment

    ``gym.make_vec("DecoreCompress-v0", num_envs=N, vectorization_mode="vector_entry_point")``
    gives :class:`~decore_env.vector.DecoreCompressVectorEnv`: N masks scored in one batched
    forward pass, each on its own ``samples_per_env`` images of a shared batch (the paper's
    per-sample masks), no Python loop over the sub-envs. Sub-envs reset and truncate together
    (``AutoresetMode.NEXT_STEP``); ``tensors=True`` returns torch tensors on the device. With a
    frozen network a sub-env's rewards equal a single env's for the same mask and images; with
    ``train_network`` its sub-envs share one network, one SGD step and the BatchNorm batch
    statistics of the joint batch.

    ## Version History

    - v0: initial version.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        model: ModelArg = "vgg16",
        checkpoint: CheckpointArg = None,
        dataset: DatasetArg = "cifar10",
        lam: float = DEFAULT_LAM,
        batch_size: int = DEFAULT_BATCH,
        train_network: bool = False,
        device: str | torch.device | None = None,
        episode_steps: int | None = None,
        keep_decay: float = KEEP_DECAY,
        augment: bool = False,
        data_root: str | Path | None = None,
        render_mode: str | None = None,
    ) -> None:
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be None or 'ansi'; got {render_mode!r}")
        core = build_core(
            model,
            checkpoint,
            dataset,
            lam,
            batch_size,
            train_network,
            device,
            augment,
            data_root,
        )
        self.task = CompressionTask(core, 1, episode_steps, keep_decay)
        self.render_mode = render_mode
        self.action_space = spaces.MultiBinary(core.gates.n_agents)
        self.observation_space = spaces.Box(0.0, 1.0, (self.layout.size,), np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        return self._start_episode(seed)[0].cpu().numpy(), {}

    def step(self, action) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        result = self.task.step(action, self.action_space.shape)
        return (
            result.observation[0].cpu().numpy(),
            float(result.reward[0]),
            False,
            result.truncated,
            _single_info(result, self.lam),
        )

    def render(self) -> str | None:
        if self.render_mode is None:
            gym.logger.warn('render() needs render_mode="ansi" at construction')
            return None
        return self.task.render_table()


def _single_info(result: StepResult, lam: float) -> dict[str, Any]:
    """Row 0 of the step's info as numpy arrays (per group) and Python scalars."""
    info = {}
    for key, value in result.info(lam).items():
        row = value[0].cpu()
        info[key] = row.numpy() if row.dim() else row.item()
    return info
