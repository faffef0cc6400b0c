"""DECORE compression as a Gymnasium environment: channel groups, masks, real channel removal.

Importing the package registers ``DecoreCompress-v0`` (the default task: LeNet-5 on the
embedded MNIST subset), its alias ``DecoreCompressLeNet-v0``, the layer-wise
``DecoreCompressLayerwise-v0`` and the paper's task ids
(:data:`decore_env.tasks.TASKS`); the env modules (and torch) load only when an env is made,
so ``import decore_env`` stays fast.
"""

import gymnasium as gym

from decore_env.tasks import TASKS

__version__ = "0.1.0"

for _task_id, _task in TASKS.items():
    gym.register(
        id=_task_id,
        entry_point=_task.entry_point,
        vector_entry_point=_task.vector_entry_point,
        kwargs={"task_defaults": dict(_task.kwargs)} if _task.kwargs else {},
    )
