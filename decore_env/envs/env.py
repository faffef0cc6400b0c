"""DecoreCompressEnv: DECORE's channel-pruning game as a Gymnasium environment."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from decore_env.envs.budget import BudgetWrapper
from decore_env.envs.rendering import check_render_mode, task_frame
from decore_env.envs.view import TaskView
from decore_env.task.build import StepResult, build_task
from decore_env.task.spec import TaskSpec, spec_from


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

    ``Box(0, 1, (5 + 5 G + 3 A,), float32)`` for G groups and A agents: the layer states,
    one block of values per feature (full table in :mod:`decore_env.task.observation`).

    - ``[0]``: accuracy of the last step (0 after a reset).
    - ``[1]``, ``[2]``: params and MACs of the last mask's pruned network, as fractions of the
      full network's.
    - ``[3]``, ``[4]``: the budget's target share of params and of MACs (1 for a resource
      without a target).
    - ``[5 + f G + i]``, group i, feature f = 0..4: position i / (G - 1); width / the widest
      group's width; share of the network's params and of its MACs that touch the group's
      channels; mean "kept recently" of its agents.
    - ``[5 + 5 G + f A + j]``, agent j, feature f = 0..2: L2 norm of its channel's weights and
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

    Summed over agents, the reward lies in [-lam x A, A] for A agents: on the default task
    (226 agents, lam 6) uniformly random masks score about -370 to -460 per step (about
    -18,000 over a 39-step episode; -1.6 to -2.0 per step with ``"mean"``), the full
    network 0. RL libraries' defaults (value loss, clipping, entropy) assume rewards of
    order 1:
    ``reward_reduction="mean"`` divides the scalar reward by A (the mean over agents, in
    [-lam, 1]); ``info["group_rewards"]`` stays the paper's either way. Gymnasium's
    ``NormalizeReward`` or SB3's ``VecNormalize`` rescale it too.

    ## Starting State

    ``reset(seed=s)`` restores the network (and, with joint training, its optimiser) to its
    initial state and reseeds the data order from ``np_random``: seeded episodes repeat
    exactly. ``reset()`` without a seed keeps the jointly trained weights and continues with
    the next batches (the first reset without a seed draws a random data order). In budget
    mode lambda and the budget rule's state carry over every reset: the budget belongs to
    the training run, not to an episode.

    ## Episode End

    Never terminated (compression has no terminal state). Truncated after ``episode_steps``
    steps, by default one pass over the training split (``len(train) // batch_size`` steps).

    ## Arguments

    ```python
    gym.make("DecoreCompress-v0")  # the default task: LeNet-5, embedded MNIST subset, lam 6
    gym.make("DecoreCompress-v0", spec=TaskSpec(model="vgg16", dataset="cifar10",
                                                checkpoint="vgg16.pt", lam=200))
    gym.make("DecoreCompress-v0", model="vgg16", dataset="cifar10", checkpoint="vgg16.pt")
    ```

    Every field of :class:`~decore_env.task.spec.TaskSpec` (its docstrings say what each does), as
    ``spec=`` and/or as keywords (keywords override the spec's fields); and ``render_mode``:
    ``"ansi"`` renders a kept / total table per group of the last mask, ``"rgb_array"`` the
    same as a (360, 640, 3) uint8 picture with the step's scores in its title (what
    ``RecordVideo`` records). The ones met first:

    - ``model``: registry name (``decore_env.models.MODEL_NAMES``) or an ``nn.Module`` (copied).
    - ``checkpoint``: trained weights. A registry network without one is refused with the
      ``decore train`` command that makes them, except in the default task (weights shipped
      in the package) and with ``train_baseline=True``.
    - ``dataset``: a name from ``decore_env.data.sets.DATASET_NAMES``, an ImageFolder-style path, or
      a ``decore_env.data.splits.DataSplits``.
    - ``lam``: the penalty of a wrong prediction, in (0, 1e6] (settable: ``env.unwrapped.lam``).
    - ``target_params`` / ``target_macs``: budget mode. ``gym.make`` then wraps the env in
      :class:`~decore_env.envs.budget.BudgetWrapper`, which adapts lambda towards that kept
      fraction; the bare class ignores them.
    - ``batch_size``: images scored per step (default 256, the paper's).
    - ``train_network``: also take one SGD step on the network per step, on the same masked
      forward pass (the paper's joint training); default False, the network frozen in eval mode.
    - ``observe``: False returns empty observations (shape (0,)), for agents that never read
      them; nothing is computed for them.
    - ``compile``: ``torch.compile`` the masked forward (on CUDA steps also run under bf16
      autocast, compiled or not); ``env.close()`` removes the hooks a compiled forward keeps on
      the network.

    Registered ids (``decore tasks`` lists them): ``DecoreCompress-v0`` (the default task;
    ``DecoreCompressLeNet-v0`` is an alias), and the paper's settings
    ``DecoreCompress-VGG16-CIFAR10-v0``, ``DecoreCompress-ResNet56-CIFAR10-v0`` (lambda 200) and
    ``DecoreCompress-ResNet50-ImageNet-v0`` (lambda 6, ``dataset=`` an ImageNet folder), which
    need a checkpoint. ``DecoreCompressLayerwise-v0`` poses the default task in AMC's framing,
    one keep ratio per group (:class:`~decore_env.envs.layerwise.LayerwiseCompressEnv`).

    ## Vectorized environment

    ``gym.make_vec("DecoreCompress-v0", num_envs=N, vectorization_mode="vector_entry_point")``
    gives :class:`~decore_env.envs.vector.DecoreCompressVectorEnv`: N masks scored in one batched
    forward pass, each on its own ``samples_per_mask`` images of a shared batch (the paper's
    per-sample masks), no Python loop over the sub-envs. Sub-envs reset and truncate together
    (``AutoresetMode.NEXT_STEP``); ``tensors=True`` returns torch tensors on the device. With a
    frozen network a sub-env's rewards equal a single env's for the same mask and images; with
    ``train_network`` its sub-envs share one network, one SGD step and the BatchNorm batch
    statistics of the joint batch.

    ## Version History

    - v0: initial version. Defaults now give the default task (LeNet-5 on the embedded
      MNIST subset, lambda 6; earlier builds defaulted to VGG16 on CIFAR-10), arguments are
      the fields of ``TaskSpec``, ``info`` gained ``loss``; ``DecoreCompressLeNet-v0`` remains
      as an alias of the default task.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(
        self,
        spec: TaskSpec | None = None,
        render_mode: str | None = None,
        task_defaults: dict[str, Any] | None = None,
        **fields: Any,
    ) -> None:
        check_render_mode(render_mode, self.metadata["render_modes"])
        self.task = build_task(spec_from(spec, fields, task_defaults))
        self.render_mode = render_mode
        self.action_space = spaces.MultiBinary(self.gates.n_agents)
        size = self.task.observation_size
        self.observation_space = spaces.Box(0.0, 1.0, (size,), np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        self.check_seed(seed)
        super().reset(seed=seed)
        return self._start_episode(seed)[0].cpu().numpy(), {}

    def step(self, action) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        result = self.task.step(action, self.action_space.shape)
        return (
            result.observation[0].cpu().numpy(),
            float(result.reward[0]),
            False,
            result.truncated,
            _single_info(result),
        )

    def close(self) -> None:
        self.task.core.close()

    def render(self) -> str | np.ndarray | None:
        if self.render_mode is None:
            gym.logger.warn('render() needs render_mode="ansi" or "rgb_array" at construction')
            return None
        if self.render_mode == "ansi":
            return self.task.render_table()
        return task_frame(self.task)


def make_env(spec: TaskSpec | None = None, **kwargs: Any) -> gym.Env:
    """Entry point of the registered ids: the env, in a BudgetWrapper when the spec sets a
    budget target."""
    env = DecoreCompressEnv(spec, **kwargs)
    if env.task_spec.budget is None:
        return env
    resource, target = env.task_spec.budget
    return BudgetWrapper(env, target, resource)


def _single_info(result: StepResult) -> dict[str, Any]:
    """Row 0 of the step's info as numpy arrays (per group) and Python scalars."""
    info = {}
    for key, value in result.info().items():
        row = value[0].cpu()
        info[key] = row.numpy() if row.dim() else row.item()
    return info
