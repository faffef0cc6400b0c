"""What the envs render: a text table or a picture of the current architecture.

``rgb_array`` frames are what Gymnasium's ``RecordVideo`` and Stable-Baselines3's
``VecVideoRecorder`` record (and what SB3's ``make_vec_env`` asks every env for): one bar per
channel group, its full width light and its kept channels dark, the step's scores in the title.
``human`` would need a window (a display and a GUI toolkit), so it is refused by name.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from decore_env.task.build import CompressionTask

FRAME_HEIGHT, FRAME_WIDTH = 360, 640
"""Pixels of an ``rgb_array`` frame: fixed, with even sides, as video encoders want."""
_DPI = 100


def check_render_mode(mode: str | None, supported: Sequence[str]) -> None:
    """Refuse a render mode the env cannot serve, naming the ones it can."""
    if mode is None or mode in supported:
        return
    hint = (
        " ('human' needs a display: record 'rgb_array' frames with "
        "gymnasium.wrappers.RecordVideo instead)"
        if mode == "human"
        else ""
    )
    names = ", ".join(repr(m) for m in supported)
    raise ValueError(f"render_mode must be None or one of {names}; got {mode!r}{hint}")


def architecture_frame(
    names: Sequence[str], sizes: Sequence[int], kept: Sequence[int], title: str
) -> np.ndarray:
    """(FRAME_HEIGHT, FRAME_WIDTH, 3) uint8: kept / total channels of each group as bars."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(FRAME_WIDTH / _DPI, FRAME_HEIGHT / _DPI), dpi=_DPI)
    canvas = FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    where = np.arange(len(sizes))
    axes.bar(where, sizes, color="#d9d9d9", label="channels")
    axes.bar(where, kept, color="#2b6cb0", label="kept")
    axes.set_xticks(where, _tick_labels(names), rotation=90 if len(names) > 6 else 0, fontsize=7)
    axes.set_ylabel("channels")
    axes.set_title(title, fontsize=9)
    axes.legend(loc="upper left", fontsize=7, frameon=False)
    figure.tight_layout()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def task_frame(task: CompressionTask, row: int = 0) -> np.ndarray:
    """The architecture of mask ``row`` of ``task``'s latest step, its scores in the title."""
    groups = task.core.gates.groups
    step = task.last_step
    if step is None:
        title = "full network (no step yet)"
    else:
        full = task.core.gates.full_cost
        title = (
            f"step {task.steps}: top-1 {float(step.accuracy[row]):.3f} on its images, "
            f"params {float(step.params[row]) / full['params']:.1%}, "
            f"MACs {float(step.macs[row]) / full['macs']:.1%} kept, "
            f"lambda {float(step.lam[row]):.3g}"
        )
    names = [g.name for g in groups]
    return architecture_frame(names, task.core.gates.sizes, task.last_kept(row), title)


def _tick_labels(names: Sequence[str]) -> list[str]:
    """Group names short enough for a tick label (index when there are too many to read)."""
    if len(names) > 24:
        return [str(i) for i in range(len(names))]
    return [name if len(name) <= 18 else "…" + name[-17:] for name in names]
