"""Statistics over seeds: aggregates after rliable (Agarwal et al., NeurIPS 2021) and paired
comparisons.

Few seeds and a few outliers: the interquartile mean (IQM, the mean of the middle 50% of the
runs) is robust to outliers yet uses more runs than the median, and a percentile bootstrap
confidence interval says how far it could move. The bootstrap is stratified: runs are
resampled within each stratum (a task), never across. Seeded, so a table rendered twice from
the same rows is the same byte for byte.

Two contestants run with the same seed share the data order (and, on a task with shipped
weights, the network), so their results pair up: :func:`paired_difference` compares them
seed by seed (a paired t interval, df = seeds - 1), which separates far better than two
intervals side by side; :func:`holm` adjusts the p-values of one contestant's comparisons
against several references.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

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


@dataclass(frozen=True)
class PairedDifference:
    """x - y over seeds run by both, seed by seed."""

    mean: float
    """Mean of the per-seed differences."""
    low: float
    high: float
    """The paired t interval of the mean (df = n - 1) at :data:`CONFIDENCE`."""
    p_value: float
    """Two-sided p of the paired t test (mean difference 0); before any adjustment."""
    p_improvement: float
    """Share of seeds where x beats y, ties counting half: P(improvement) on the same pairs."""
    n: int
    """Seeds in the comparison."""


def paired_difference(
    x: Sequence[float], y: Sequence[float], confidence: float = CONFIDENCE
) -> PairedDifference:
    """Compare ``x`` and ``y``, the results of two contestants on the same seeds (in the same
    order). Needs at least two seeds; identical results give a zero-width interval, p = 1."""
    if len(x) != len(y) or len(x) < 2:
        raise ValueError(
            f"a paired comparison needs the same >= 2 seeds on both sides; got {len(x)} and "
            f"{len(y)} results"
        )
    d = np.asarray(x, dtype=float) - np.asarray(y, dtype=float)
    mean, se = float(d.mean()), float(d.std(ddof=1) / np.sqrt(d.size))
    half = float(scipy_stats.t.ppf(0.5 + confidence / 2, d.size - 1)) * se
    p = 1.0 if se == 0 else float(2 * scipy_stats.t.sf(abs(mean) / se, d.size - 1))
    if se == 0 and mean != 0:
        p = 0.0
    better = float(((d > 0) + 0.5 * (d == 0)).mean())
    return PairedDifference(mean, mean - half, mean + half, p, better, int(d.size))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of ``p_values`` (one family of comparisons): the k-th
    smallest p times (m - k + 1), made non-decreasing, capped at 1; order kept."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p, kind="stable")
    scaled = p[order] * (p.size - np.arange(p.size))
    adjusted = np.minimum(np.maximum.accumulate(scaled), 1.0)
    out = np.empty_like(adjusted)
    out[order] = adjusted
    return out.tolist()
