"""Paired comparisons over seeds: the paired t interval and Holm's adjustment."""

import numpy as np
import pytest
from scipy import stats as scipy_stats

from agents.bench.stats import holm, paired_difference


def test_the_paired_interval_is_the_t_interval_of_the_per_seed_differences():
    x = [0.91, 0.93, 0.90, 0.95, 0.92]
    y = [0.90, 0.91, 0.90, 0.92, 0.93]
    diff = paired_difference(x, y)
    d = np.subtract(x, y)
    half = scipy_stats.t.ppf(0.975, 4) * d.std(ddof=1) / np.sqrt(5)
    assert diff.mean == pytest.approx(d.mean())
    assert (diff.low, diff.high) == pytest.approx((d.mean() - half, d.mean() + half))
    assert diff.p_value == pytest.approx(scipy_stats.ttest_rel(x, y).pvalue)
    assert diff.p_improvement == pytest.approx((3 + 0.5) / 5) and diff.n == 5


def test_pairing_separates_what_side_by_side_intervals_cannot():
    """Seeds move both contestants alike: the unpaired spread is large, the paired one tiny."""
    base = np.array([0.80, 0.90, 0.85, 0.95, 0.88, 0.83])
    diff = paired_difference(base + 0.01, base)
    assert diff.low > 0 and diff.p_value < 1e-6 and diff.p_improvement == 1.0


def test_equal_results_and_bad_pairs():
    same = paired_difference([0.5, 0.6], [0.5, 0.6])
    assert (same.mean, same.low, same.high, same.p_value) == (0.0, 0.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="same >= 2 seeds"):
        paired_difference([0.5], [0.4])
    with pytest.raises(ValueError, match="same >= 2 seeds"):
        paired_difference([0.5, 0.6, 0.7], [0.4, 0.5])


def test_holm_steps_down_and_keeps_the_order():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([0.001]) == pytest.approx([0.001])


@pytest.mark.parametrize(("runs", "tasks"), [(10, 1), (10, 3), (5, 4)])
def test_iqm_interval_and_improvement_agree_with_rliable(runs, tasks):
    """The reference implementation (rliable, with arch's stratified bootstrap): the IQM and
    P(improvement) to rounding, the bootstrap interval to 4% of its width (different
    resampling streams)."""
    from rliable import library, metrics

    from agents.bench.stats import bootstrap_ci, iqm, probability_of_improvement

    rng = np.random.default_rng(runs * 10 + tasks)
    scores = rng.normal(0.6, 0.1, size=(runs, tasks))
    assert iqm(scores.ravel()) == pytest.approx(metrics.aggregate_iqm(scores), abs=1e-12)
    _, intervals = library.get_interval_estimates(
        {"x": scores},
        lambda s: np.array([metrics.aggregate_iqm(s)]),
        reps=10_000,
        random_state=np.random.RandomState(0),
    )
    theirs = intervals["x"].ravel()
    ours = bootstrap_ci([scores[:, t] for t in range(tasks)], samples=10_000)
    width = theirs[1] - theirs[0]
    assert abs(ours[0] - theirs[0]) <= 0.04 * width and abs(ours[1] - theirs[1]) <= 0.04 * width
    other = rng.normal(0.55, 0.1, size=(runs, 1))
    expected = metrics.probability_of_improvement(scores[:, :1], other)
    assert probability_of_improvement(scores[:, 0], other[:, 0]) == pytest.approx(expected)
