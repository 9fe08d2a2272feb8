"""Tests for jaxrl.stats: hand-derived cases, SciPy, and naive loops."""

import math

import numpy as np
import pytest
import scipy.stats

from jaxrl import stats


def test_mean_ci_hand_computed():
    # x = [1, 2, 3, 4]: mean 2.5; squared deviations 2.25 + 0.25 + 0.25 + 2.25
    # = 5, so s = sqrt(5 / 3) = 1.290994; sem = s / 2 = 0.645497;
    # t_{0.975, 3} = 3.182446; half width = 3.182446 * 0.645497 = 2.054260.
    mean, low, high = stats.mean_ci([1.0, 2.0, 3.0, 4.0])
    assert float(mean) == pytest.approx(2.5)
    assert float(high - mean) == pytest.approx(2.054260, abs=1e-6)
    assert float(mean - low) == pytest.approx(2.054260, abs=1e-6)


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_mean_ci_matches_scipy(axis, confidence):
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(7, 5))
    mean, low, high = stats.mean_ci(x, axis=axis, confidence=confidence)
    n = x.shape[axis]
    ref_low, ref_high = scipy.stats.t.interval(
        confidence,
        df=n - 1,
        loc=x.mean(axis=axis),
        scale=scipy.stats.sem(x, axis=axis),
    )
    np.testing.assert_allclose(mean, x.mean(axis=axis))
    np.testing.assert_allclose(low, ref_low)
    np.testing.assert_allclose(high, ref_high)


def test_mean_ci_small_n_and_nans():
    # One value: the mean, and no interval.
    mean, low, high = stats.mean_ci([5.0])
    assert float(mean) == 5.0 and math.isnan(low) and math.isnan(high)
    # No value (all NaN): all NaN, without warnings.
    with np.testing.assert_no_warnings():
        out = stats.mean_ci([np.nan, np.nan])
    assert all(math.isnan(v) for v in out)
    # NaNs are left out: the same as the interval of the remaining values.
    x = np.array([[1.0, 2.0], [np.nan, 4.0], [3.0, np.nan], [5.0, 8.0]])
    mean, low, high = stats.mean_ci(x)
    for col in range(2):
        kept = x[~np.isnan(x[:, col]), col]
        ref = stats.mean_ci(kept)
        np.testing.assert_allclose([mean[col], low[col], high[col]], ref)
    # Constant values: zero width.
    mean, low, high = stats.mean_ci([2.0, 2.0, 2.0])
    assert float(low) == float(high) == 2.0


def test_mean_ci_rejects_bad_input():
    with pytest.raises(ValueError, match="confidence"):
        stats.mean_ci([1.0, 2.0], confidence=95)
    with pytest.raises(ValueError, match="axis"):
        stats.mean_ci([1.0, 2.0], axis=1)
    with pytest.raises(ValueError, match="scalar"):
        stats.mean_ci(3.0)
    with pytest.raises(TypeError, match="numeric"):
        stats.mean_ci(["a", "b"])


def test_median_iqr_hand_and_nans():
    # Linear interpolation over [1, 2, 3, 4]: positions 0.75, 1.5, 2.25.
    med, q25, q75 = stats.median_iqr([4.0, 1.0, 3.0, 2.0])
    assert (float(med), float(q25), float(q75)) == (2.5, 1.75, 3.25)
    med, q25, q75 = stats.median_iqr([[1.0, np.nan], [3.0, np.nan]])
    assert med[0] == 2.0 and math.isnan(med[1])


def test_iqm_hand_and_scipy():
    # Sorted: [-50, 1, 2, 3, 4, 7, 8, 100]; n = 8 drops 2 from each end,
    # leaving [2, 3, 4, 7] with mean 4.
    assert float(stats.iqm([1, 2, 3, 4, 100, -50, 7, 8])) == pytest.approx(4.0)
    # n = 5 drops 1 from each end: [1, 2, 10, 3, 4] -> [2, 3, 4] -> 3.
    assert float(stats.iqm([1, 2, 10, 3, 4])) == pytest.approx(3.0)
    # Fewer than 4 values: plain mean.
    assert float(stats.iqm([1.0, 2.0, 6.0])) == pytest.approx(3.0)
    x = np.random.default_rng(1).standard_cauchy(size=(13, 6))
    np.testing.assert_allclose(stats.iqm(x), scipy.stats.trim_mean(x, 0.25, axis=0))
    np.testing.assert_allclose(
        stats.iqm(x, axis=1), scipy.stats.trim_mean(x, 0.25, axis=1)
    )
    # NaNs are left out per column.
    y = np.array([[1.0, 1.0], [2.0, np.nan], [3.0, 5.0], [np.nan, np.nan]])
    np.testing.assert_allclose(stats.iqm(y), [2.0, 3.0])
    assert math.isnan(stats.iqm([np.nan]))


def test_bootstrap_ci_reproducible_and_sane():
    x = np.random.default_rng(2).normal(1.0, 1.0, size=(40, 3))
    a = stats.bootstrap_ci(x, np.nanmean, seed=7, n_boot=500)
    b = stats.bootstrap_ci(x, np.nanmean, seed=7, n_boot=500)
    c = stats.bootstrap_ci(x, np.nanmean, seed=8, n_boot=500)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[1], c[1])
    point, low, high = a
    np.testing.assert_allclose(point, x.mean(axis=0))
    assert np.all(low < point) and np.all(point < high)
    # For the mean of 40 normal draws the bootstrap interval is close to the
    # t interval (percentile bootstrap is a little narrow at small n).
    _, t_low, t_high = stats.mean_ci(x)
    np.testing.assert_allclose(high - low, t_high - t_low, rtol=0.25)
    # Reduces the given axis.
    p1, l1, h1 = stats.bootstrap_ci(x.T, np.nanmean, axis=1, seed=7, n_boot=500)
    np.testing.assert_array_equal(p1, point)
    np.testing.assert_allclose(l1, low)
    # One seed: a zero-width interval at the value.
    p, lo, hi = stats.bootstrap_ci([3.0], np.nanmean, n_boot=50)
    assert float(p) == float(lo) == float(hi) == 3.0


def test_iqm_ci():
    x = np.random.default_rng(3).normal(size=30)
    point, low, high = stats.iqm_ci(x, seed=0, n_boot=300)
    assert float(point) == pytest.approx(scipy.stats.trim_mean(x, 0.25))
    assert low < point < high


def test_first_crossing_hand_curves():
    curves = np.array(
        [
            [0.0, 0.5, 1.0, 2.0],  # reaches 1.0 at index 2
            [1.5, 0.0, 0.0, 0.0],  # reaches at once (index 0)
            [0.0, 0.2, 0.3, 0.9],  # never
            [np.nan, np.nan, 1.0, 0.0],  # NaN never counts; index 2
        ]
    )
    x = np.array([10, 20, 30, 40])
    out = stats.first_crossing(curves, 1.0, x)
    np.testing.assert_array_equal(out[[0, 1, 3]], [30.0, 10.0, 30.0])
    assert math.isnan(out[2])
    # Default x is the index; per-curve thresholds broadcast.
    out = stats.first_crossing(curves[:2], [2.0, 1.5])
    np.testing.assert_array_equal(out, [3.0, 0.0])
    # Lower is better: first time at or below 0.
    out = stats.first_crossing(curves[:3], 0.0, above=False)
    np.testing.assert_array_equal(out, [0.0, 1.0, 0.0])
    # A [H, N, T] stack gives [H, N].
    assert stats.first_crossing(np.zeros((2, 3, 5)), 1.0).shape == (2, 3)
    with pytest.raises(ValueError, match="x must have shape"):
        stats.first_crossing(curves, 1.0, x=[1, 2])
    with pytest.raises(ValueError, match="broadcast"):
        stats.first_crossing(curves, [1.0, 2.0])


def test_trailing_mean_against_loop():
    x = np.random.default_rng(4).normal(size=(3, 17))
    x[1, 5] = np.nan
    x[2, :4] = np.nan
    window = 4
    out = stats.trailing_mean(x, window)
    ref = np.full_like(x, np.nan)
    for i in range(x.shape[0]):
        for t in range(x.shape[1]):
            seg = x[i, max(0, t - window + 1) : t + 1]
            seg = seg[~np.isnan(seg)]
            if seg.size:
                ref[i, t] = seg.mean()
    np.testing.assert_allclose(out, ref)
    # Hand case: [1, 2, 3, 4] with window 2 -> [1, 1.5, 2.5, 3.5].
    np.testing.assert_allclose(stats.trailing_mean([1, 2, 3, 4], 2), [1, 1.5, 2.5, 3.5])
    with pytest.raises(ValueError, match="window"):
        stats.trailing_mean(x, 0)


def test_summarize():
    s = stats.summarize([1.0, 2.0, 3.0, 4.0, np.nan])
    assert s["n"] == 4 and isinstance(s["n"], int)
    assert s["mean"] == pytest.approx(2.5)
    assert s["ci_high"] - s["mean"] == pytest.approx(2.054260, abs=1e-6)
    assert s["std"] == pytest.approx(math.sqrt(5 / 3))
    assert (s["median"], s["iqr_low"], s["iqr_high"]) == (2.5, 1.75, 3.25)
    assert s["iqm"] == pytest.approx(2.5)
    assert set(s) == {
        "n",
        "mean",
        "ci_low",
        "ci_high",
        "std",
        "median",
        "iqr_low",
        "iqr_high",
        "iqm",
    }
    s2 = stats.summarize(np.arange(12.0).reshape(4, 3))
    assert s2["mean"].shape == (3,)
    np.testing.assert_array_equal(s2["n"], [4, 4, 4])
    one = stats.summarize([7.0])
    assert one["mean"] == 7.0 and math.isnan(one["ci_low"]) and math.isnan(one["std"])
