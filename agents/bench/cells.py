"""The cells of a benchmark grid: a contestant on a task at a seed and a target, and the run
settings a cell gives a task."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from agents.run.config import CompressConfig

CELL_KEY = ("task", "agent", "seed", "target", "resource")
"""The columns that name a cell in every result table."""


@dataclass(frozen=True)
class Cell:
    """One run of the grid: a contestant on a task at a seed and a target."""

    task: str
    agent: str
    seed: int
    target: float
    resource: str = "params"

    def key(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in CELL_KEY}

    @property
    def name(self) -> str:
        return f"{self.task}-{self.agent}-{self.resource}{self.target:g}-seed{self.seed}"


def with_cell(
    task: CompressConfig, cell: Cell, checkpoint: str | Path, settings: Mapping[str, Any]
) -> CompressConfig:
    """``task`` at ``cell``'s seed and target, from ``checkpoint``, with ``settings``."""
    return replace(
        task,
        seed=cell.seed,
        checkpoint=str(checkpoint),
        target_params=cell.target if cell.resource == "params" else None,
        target_macs=cell.target if cell.resource == "macs" else None,
        **settings,
    )
