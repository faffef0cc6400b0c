"""The tuning protocol: the same tuning budget for every contestant that has settings to tune.

Each contestant gets at most :data:`MAX_CONFIGS` configurations (its current settings first),
scored by the search track's metric on the val split (one-shot top-1 of the projected
architecture) over the tuning seeds, never the reported ones. The configuration with the best
mean val top-1 is chosen and frozen before any reported run; the references (uniform, l1_*,
random, random_search, greedy) have nothing to tune. Imports nothing heavy: the sweep's
contestant table is built from these names.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from itertools import product
from typing import Any

MAX_CONFIGS = 6
"""Configurations per contestant, whatever its number of settings."""
TUNING_SEEDS = (100, 101)
"""Seeds of tuning runs; the tracks report seeds 0 to 9 only."""
TUNING_TARGET = 0.1
"""The kept fraction of params the configurations are tuned at (the search track's first)."""


def _grid(**values: Sequence[Any]) -> tuple[dict[str, Any], ...]:
    """Every combination of ``values`` (None: leave that setting at its default)."""
    names = list(values)
    combos = product(*(values[n] for n in names))
    return tuple({n: v for n, v in zip(names, c, strict=True) if v is not None} for c in combos)


TUNING_GRIDS: dict[str, tuple[dict[str, Any], ...]] = {
    "reinforce": _grid(agent_lr=(None, 0.003, 0.03, 0.1)),
    "reinforce-plus": _grid(agent_lr=(None, 0.03, 0.3), entropy_coef=(None, 0.01)),
    "a2c": _grid(sb3_learning_rate=(None, 2e-4, 2e-3), sb3_ent_coef=(None, 0.01)),
    "ppo": _grid(sb3_learning_rate=(None, 1e-4, 1e-3), sb3_ent_coef=(None, 0.01)),
    "sac": _grid(sb3_learning_rate=(None, 1e-4, 1e-3)),
    "td3": _grid(sb3_learning_rate=(None, 3e-4, 3e-3)),
    "td3_layerwise": _grid(sb3_learning_rate=(None, 3e-4, 3e-3)),
}
"""Each tunable contestant's configurations, on top of its settings; the first is those
settings unchanged. Learning rates from about 3x below to 3x above the default (SB3's: A2C
7e-4, PPO 3e-4, SAC 3e-4, TD3 1e-3; reinforce-plus 0.1), and up to 10x above paper mode's
0.01 (which barely moves in 30 epochs); an entropy bonus (0.01) for A2C, PPO and
reinforce-plus. Paper mode and SAC spend their configurations on the learning rate alone
(SAC tunes its entropy coefficient itself)."""
CHOSEN: dict[str, int] = {
    "reinforce": 2,
    "reinforce-plus": 5,
    "a2c": 1,
    "ppo": 5,
    "sac": 2,
    "td3": 0,
    "td3_layerwise": 0,
}
"""The frozen choice of each tunable contestant: the index of its configuration that every
reported search-track run (and so the fine-tune track) uses, as :func:`choose` picks it
from ``benchmarks/results/tuning.csv`` (all configurations x both tuning seeds: 43 rows at
commit eb267e6, 19 at 417b76e; a test keeps the two in step)."""
SEPARATOR = "#"
"""Between a contestant and its configuration's index in a tuning run's name."""


def variant(contestant: str, index: int) -> str:
    """The name of ``contestant``'s ``index``-th configuration (``"ppo#2"``)."""
    return f"{contestant}{SEPARATOR}{index}"


def tuned(contestant: str) -> dict[str, Any]:
    """The settings the frozen choice adds to ``contestant``'s ({} for the references, the
    tuning runs and configuration 0)."""
    return dict(TUNING_GRIDS[contestant][CHOSEN[contestant]]) if contestant in CHOSEN else {}


def variants() -> dict[str, tuple[str, dict[str, Any]]]:
    """Every tuning run's name -> (its contestant, its settings over the contestant's)."""
    return {
        variant(contestant, i): (contestant, settings)
        for contestant, configs in TUNING_GRIDS.items()
        for i, settings in enumerate(configs)
    }


def choose(rows: Sequence[Mapping[str, str]]) -> dict[str, tuple[str, float, list[int]]]:
    """Per contestant, the configuration of ``rows`` (search-track rows of tuning runs) with the
    best mean val top-1 over the seeds all its configurations ran: (its name, that mean, the
    seeds). Ties go to the earlier configuration (the unchanged settings first)."""
    runs: dict[str, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for row in rows:
        contestant, separator, _ = row["agent"].partition(SEPARATOR)
        if separator and contestant in TUNING_GRIDS:  # other rows are no tuning runs
            runs[contestant][row["agent"]][int(row["seed"])] = float(row["val_acc"])
    chosen = {}
    for contestant, by_variant in runs.items():
        seeds = sorted(set.intersection(*(set(v) for v in by_variant.values())))
        if not seeds:
            continue
        scored = [
            (sum(by_variant[name][s] for s in seeds) / len(seeds), -i, name)
            for i in range(len(TUNING_GRIDS[contestant]))
            if (name := variant(contestant, i)) in by_variant
        ]
        mean, _, name = max(scored)
        chosen[contestant] = (name, mean, seeds)
    return chosen
