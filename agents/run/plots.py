"""The run's two pictures: channels kept per group, and keep probabilities over training.

Figures are built with ``matplotlib.figure.Figure`` on an Agg canvas rather than pyplot, so
that importing or calling this module never changes matplotlib's global backend or state
(headless servers, notebooks and tests all work the same way).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from agents.native.reinforce import KEEP_THRESHOLD
from agents.run.summary import atomic_write

_DPI = 120
# More groups than this make a legend that hides the lines; the x axis of the kept-channels
# plot still names every group.
_MAX_LEGEND_GROUPS = 20


def save_figure(fig: Figure, path: str | os.PathLike) -> Path:
    """Write ``fig`` as a PNG atomically; no version stamp in it, so the same figure drawn by
    the same libraries is the same file."""
    FigureCanvasAgg(fig)
    return atomic_write(
        path, lambda f: fig.savefig(f, format="png", dpi=_DPI, metadata={"Software": None})
    )


def plot_kept_channels(kept: Mapping[str, tuple[int, int]], path: str | os.PathLike) -> Path:
    """One bar per group: its channels before pruning, and the kept ones drawn over it.

    ``kept`` maps group name -> (kept, total), as in report.json's ``kept``.
    """
    names = list(kept)
    kept_n = np.array([kept[n][0] for n in names])
    total = np.array([kept[n][1] for n in names])
    x = np.arange(len(names))
    fig = Figure(figsize=(min(max(6.0, 0.25 * len(names)), 30.0), 4.5))
    ax = fig.add_subplot()
    ax.bar(x, total, color="0.8", label="before")
    ax.bar(x, kept_n, color="tab:blue", label="kept")
    ax.set_xticks(x, names, rotation=90, fontsize=7 if len(names) > 30 else 9)
    ax.set_ylabel("channels")
    ax.set_title(f"Channels kept: {kept_n.sum():,} of {total.sum():,}")
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, path)


def plot_keep_probabilities(
    steps: np.ndarray,
    probs: np.ndarray,
    group_names: Sequence[str],
    path: str | os.PathLike,
) -> Path:
    """Mean keep probability of each group (``probs``, shape (T, G)) over the policy steps."""
    steps, probs = np.asarray(steps), np.asarray(probs)
    if probs.shape != (len(steps), len(group_names)):
        raise ValueError(
            f"probs has shape {probs.shape}; expected (steps, groups) = "
            f"({len(steps)}, {len(group_names)})"
        )
    legend = len(group_names) <= _MAX_LEGEND_GROUPS
    # Without a legend, colour by depth so that early and late layers stay distinguishable.
    depth = colormaps["viridis"](np.linspace(0.0, 1.0, len(group_names)))
    fig = Figure(figsize=(8.0, 4.5))
    ax = fig.add_subplot()
    for g, name in enumerate(group_names):
        ax.plot(steps, probs[:, g], linewidth=1, label=name, color=None if legend else depth[g])
    ax.axhline(KEEP_THRESHOLD, color="k", linestyle="--", linewidth=1, label="threshold")
    ax.set_ylim(0.0, 1.05)
    ax.set_xlabel("policy step")
    ax.set_ylabel("mean keep probability")
    if legend:
        ax.legend(fontsize=7, ncol=2)
    else:
        ax.set_title(f"{len(group_names)} groups, coloured by depth (dark = first)")
    fig.tight_layout()
    return save_figure(fig, path)
