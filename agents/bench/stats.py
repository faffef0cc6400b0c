"""Aggregate statistics over seeds, after rliable (Agarwal et al., NeurIPS 2021).

Few seeds and a few outliers: the interquartile mean (IQM, the mean of the middle 50% of the
runs) is robust to outliers yet uses more runs than the median, and a percentile bootstrap
confidence interval says how far it could move. The bootstrap is stratified: runs are
resampled within each stratum (a task), never across. Seeded, so a table rendered twice from
the same rows is the same byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BOOTSTRAP_SAMPLES = 2000
"""Bootstrap resamples per interval (rliable's default is 2000 too)."""
CONFIDENCE = 0.95
"""Coverage of the intervals."""
BOOTSTRAP_SEED = 0
"""Seed of the resampling: intervals are reproducible."""


def iqm(values: Sequence[float] | np.ndarray) -> float:
    """Interquartile mean: drop the lowest and highest quarter (``floor(n / 4)`` runs each,
    as ``scipy.stats.trim_mean(x, 0.25)``), average the rest."""
    x = np.sort(np.asarray(values, dtype=float))
    if x.size == 0:
        raise ValueError("the IQM of no values is undefined")
    cut = int(0.25 * x.size)
    return float(x[cut : x.size - cut].mean())


def bootstrap_ci(
    strata: Sequence[Sequence[float]],
    samples: int = BOOTSTRAP_SAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """Percentile interval of the IQM of all runs, resampling the runs of each stratum with
    replacement (stratified bootstrap). One stratum: the plain bootstrap over seeds."""
    rng = np.random.default_rng(seed)
    groups = [np.asarray(s, dtype=float) for s in strata]
    stats = np.empty(samples)
    for b in range(samples):
        resampled = [g[rng.integers(0, g.size, g.size)] for g in groups]
        stats[b] = iqm(np.concatenate(resampled))
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(stats, [tail, 100 - tail])
    return float(low), float(high)


def probability_of_improvement(x: Sequence[float], y: Sequence[float]) -> float:
    """P(X > Y) + P(X = Y) / 2 for a run X of one agent and a run Y of another, over all pairs
    of their runs (the Mann-Whitney statistic, rliable's per-task probability of improvement)."""
    a, b = np.asarray(x, dtype=float)[:, None], np.asarray(y, dtype=float)[None, :]
    return float(((a > b) + 0.5 * (a == b)).mean())
