"""What the Gymnasium classes over a :class:`~decore_env.task.CompressionTask` share."""

from __future__ import annotations

import numpy as np
from torch import Tensor

from decore_env.core import CompressionCore
from decore_env.gates import Group
from decore_env.observation import ObservationLayout
from decore_env.spec import TaskSpec
from decore_env.task import CompressionTask


class TaskView:
    """The task-level surface of the single and the vector env."""

    task: CompressionTask
    np_random: np.random.Generator
    _started: bool = False

    @property
    def task_spec(self) -> TaskSpec:
        """The spec the task was built from (``gym.make(id, spec=env.unwrapped.task_spec)``
        builds the same task)."""
        return self.task.spec

    @property
    def lam(self) -> float:
        """The penalty of a wrong prediction; set it between steps to retarget compression.
        Reading it copies one number from the device."""
        return self.task.core.lam

    @lam.setter
    def lam(self, value: float) -> None:
        self.task.core.lam = value

    @property
    def core(self) -> CompressionCore:
        """The tensor-level core under the env."""
        return self.task.core

    @property
    def layout(self) -> ObservationLayout:
        """Where each entry sits in an observation; ``layout.unpack(obs)`` splits one."""
        if self.task.observer is None:
            raise AttributeError("this env was built with observe=False: it has no observations")
        return self.task.observer.layout

    @property
    def groups(self) -> list[Group]:
        """The channel groups, in the order of the action's agents."""
        return self.task.core.gates.groups

    def report_architecture(self, mask: Tensor | np.ndarray) -> None:
        """Tell the env the mask (n_agents,) the agent would output now (its deterministic
        architecture). Budget mode steers lambda on it; see :mod:`decore_env.budget`."""
        self.task.architecture = self.task.core.gates.check_mask(mask)[0].to(self.core.device)

    def state_dict(self) -> dict:
        """Everything the env's next steps depend on (network, data, clocks, RNG), for
        resuming a run; observations restart their moving averages."""
        return {
            "task": self.task.state_dict(),
            "np_random": self.np_random.bit_generator.state,
            "started": self._started,
            "autoreset": getattr(self, "_autoreset", False),
        }

    def load_state_dict(self, state: dict) -> None:
        self.task.load_state_dict(state["task"])
        self.np_random.bit_generator.state = state["np_random"]
        self._started = state["started"]
        if hasattr(self, "_autoreset"):
            self._autoreset = state["autoreset"]

    def _start_episode(self, seed: int | None) -> Tensor:
        """Call after ``super().reset(seed=seed)``: a seeded (or the very first) reset restores
        the initial network and draws the data order from ``np_random``; any other reset keeps
        the trained weights and the data stream."""
        fresh = seed is not None or not self._started
        self._started = True
        return self.task.reset(int(self.np_random.integers(2**63 - 1)) if fresh else None)
