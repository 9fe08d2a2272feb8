"""jaxrl.stats.aggregate: aggregates over runs and tasks, stratified
bootstrap intervals, performance profiles, probability of improvement."""

import numpy as np
import pytest
import scipy.stats

from jaxrl import stats

# 4 runs x 2 tasks. Task 0: 0, 1, 2, 3 (mean 1.5); task 1: 10, 10, 10, 30
# (mean 15).
SCORES = np.array([[0.0, 10.0], [1.0, 10.0], [2.0, 10.0], [3.0, 30.0]])


def test_aggregates_by_hand():
    assert stats.aggregate_mean(SCORES) == pytest.approx((1.5 + 15) / 2)
    # median of the two task means = their mean
    assert stats.aggregate_median(SCORES) == pytest.approx(8.25)
    # IQM pools the 8 runs: sorted 0 1 2 3 10 10 10 30, drop 2 at each end:
    # mean(2, 3, 10, 10) = 6.25
    assert stats.aggregate_iqm(SCORES) == pytest.approx(6.25)
    # optimality gap at gamma = 2: min(x, 2) = 0 1 2 2 2 2 2 2, sum 13
    assert stats.aggregate_optimality_gap(SCORES, gamma=2.0) == pytest.approx(
        2 - 13 / 8
    )
    # Three tasks: the median is the middle task's mean.
    three = np.array([[1.0, 5.0, 100.0], [3.0, 7.0, 300.0]])
    assert stats.aggregate_median(three) == pytest.approx(6.0)


def test_missing_runs_are_dropped_per_task_and_bad_input_refused():
    with_nan = np.array([[0.0, 4.0], [2.0, np.nan]])
    # task 0 mean 1, task 1 mean 4 (one run)
    assert stats.aggregate_mean(with_nan) == pytest.approx(2.5)
    with pytest.raises(ValueError, match=r"\[runs, tasks\]"):
        stats.aggregate_mean(np.zeros(3))
    with pytest.raises(ValueError, match=r"task\(s\) \[1\] have none"):
        stats.aggregate_mean(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="allowed: mean, median, iqm"):
        stats.interval_estimate(SCORES, "average")
    with pytest.raises(ValueError, match=r"at least 2 runs of every task; sample"):
        stats.interval_estimate(np.array([[1.0, 2.0], [3.0, np.nan]]))
    with pytest.raises(ValueError, match="allowed: percentile, BCa"):
        stats.interval_estimate(SCORES, "mean", method="basic")


def test_the_bootstrap_is_stratified_by_task():
    # Each task's runs are all equal: resampling within tasks cannot move any
    # aggregate, so the interval has zero width. A pooled bootstrap (runs of
    # different tasks mixed) would not: its IQM interval is wide.
    flat = np.array([[0.0, 10.0, 20.0]] * 5)
    for name in ("mean", "median", "iqm", "optimality_gap"):
        point, low, high = stats.interval_estimate(flat, name, n_boot=200)
        assert low == pytest.approx(point) and high == pytest.approx(point), name
    pooled = scipy.stats.bootstrap(
        (flat.reshape(-1),),
        lambda x, axis: scipy.stats.trim_mean(x, 0.25, axis=axis),
        n_resamples=200,
        rng=np.random.default_rng(0),
    ).confidence_interval
    assert pooled.high - pooled.low > 5.0


def test_interval_equals_scipys_bootstrap_of_the_tasks_as_samples():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(6, 3)) + np.arange(3)
    for method in ("percentile", "BCa"):
        point, low, high = stats.interval_estimate(
            scores, "mean", method=method, n_boot=500, seed=7
        )
        ref = scipy.stats.bootstrap(
            tuple(scores.T),
            lambda *t, axis: np.mean([np.mean(x, axis=axis) for x in t], axis=0),
            n_resamples=500,
            method=method,
            rng=np.random.default_rng(7),
        ).confidence_interval
        assert point == pytest.approx(scores.mean())
        assert (low, high) == pytest.approx((ref.low, ref.high))
        assert low < point < high
    # same seed, same interval; another seed, another
    a = stats.interval_estimate(scores, "iqm", seed=3, n_boot=300)
    assert a == stats.interval_estimate(scores, "iqm", seed=3, n_boot=300)
    assert a != stats.interval_estimate(scores, "iqm", seed=4, n_boot=300)


def test_probability_of_improvement_by_hand_and_against_mann_whitney():
    # One task: x = 1, 2 and y = 0, 2. Pairs: 1>0, 1<2, 2>0, 2=2 (half):
    # (1 + 0 + 1 + 0.5) / 4 = 0.625.
    x = np.array([[1.0], [2.0]])
    y = np.array([[0.0], [2.0]])
    assert stats.probability_of_improvement(x, y) == pytest.approx(0.625)
    assert stats.probability_of_improvement(y, x) == pytest.approx(0.375)
    rng = np.random.default_rng(2)
    x = rng.integers(0, 5, size=(7, 3)).astype(float)  # ties on purpose
    y = rng.integers(0, 5, size=(5, 3)).astype(float)
    per_task = [
        scipy.stats.mannwhitneyu(x[:, t], y[:, t]).statistic / (7 * 5) for t in range(3)
    ]
    assert stats.probability_of_improvement(x, y) == pytest.approx(np.mean(per_task))
    point, low, high = stats.probability_of_improvement_ci(x, y, n_boot=300)
    assert point == pytest.approx(np.mean(per_task))
    assert 0.0 <= low <= point <= high <= 1.0
    with pytest.raises(ValueError, match="must match"):
        stats.probability_of_improvement(x, y[:, :2])


def test_performance_profile_by_hand():
    # tau = 0.5: task 0 has 3 of 4 runs above (1, 2, 3), task 1 all 4:
    # (0.75 + 1) / 2. tau = 10: task 0 none, task 1 one (30): 0.125.
    taus = [0.5, 10.0, 100.0]
    np.testing.assert_allclose(
        stats.score_distribution(SCORES, taus), [0.875, 0.125, 0.0]
    )
    profile, low, high = stats.performance_profile(SCORES, taus, n_boot=300)
    np.testing.assert_allclose(profile, [0.875, 0.125, 0.0])
    assert np.all(low <= profile + 1e-12) and np.all(profile <= high + 1e-12)
    assert low.shape == high.shape == (3,)
    assert high[2] == 0.0  # nothing ever scores above 100


def test_normalize():
    np.testing.assert_allclose(
        stats.normalize([[5.0, 3.0]], low=[0.0, 1.0], high=[10.0, 2.0]),
        [[0.5, 2.0]],
    )
    with pytest.raises(ValueError, match="high equals low"):
        stats.normalize([1.0], low=[1.0], high=[1.0])
