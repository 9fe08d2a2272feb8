"""Aggregate statistics over seeds: means with confidence intervals and friends.

Plain NumPy/SciPy on concrete arrays (results come off the device first). Every
function reduces one axis, the seed axis (``axis=0`` by default), and keeps the
others, so ``x`` of shape ``[N, T]`` (seeds by iterations) gives per-iteration
statistics of shape ``[T]``.

NaN policy: NaNs are treated as *missing* and left out, per slice, of every
statistic here (a seed whose episode never finished, a metric not logged yet).
The count ``n`` reported is the number of non-NaN values; a slice with none
gives NaN. ``inf`` is a value, not missing.

Aggregates over runs *and tasks* (a ``[runs, tasks]`` score matrix) with
stratified-bootstrap intervals, performance profiles and the probability of
improvement are in :mod:`jaxrl.stats.aggregate`, re-exported here.

References:
    Agarwal, Schwarzer, Castro, Courville & Bellemare (2021), "Deep
    reinforcement learning at the edge of the statistical precipice", NeurIPS:
    the interquartile mean (IQM) and percentile-bootstrap intervals.
"""

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.stats
from numpy.typing import ArrayLike

__all__ = [
    "AGGREGATES",
    "ATARI_GAMES",
    "atari_game",
    "atari_human_normalized",
    "atari_scores",
    "aggregate_iqm",
    "aggregate_mean",
    "aggregate_median",
    "aggregate_optimality_gap",
    "interval_estimate",
    "normalize",
    "performance_profile",
    "probability_of_improvement",
    "probability_of_improvement_ci",
    "score_distribution",
    "bootstrap_ci",
    "count",
    "first_crossing",
    "iqm",
    "iqm_ci",
    "mean_ci",
    "median_iqr",
    "summarize",
    "trailing_mean",
]


def _float_array(x: ArrayLike) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or arr.dtype == bool
    ):
        raise TypeError(f"expected a numeric array, got dtype {arr.dtype}")
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    return arr


def _check_axis(arr: np.ndarray, axis: int) -> int:
    if arr.ndim == 0:
        raise ValueError("expected an array with at least one axis, got a scalar")
    if not -arr.ndim <= axis < arr.ndim:
        raise ValueError(
            f"axis {axis} is out of range for an array of shape {arr.shape}"
        )
    return axis % arr.ndim


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")


def count(x: ArrayLike, axis: int = 0) -> np.ndarray:
    """Number of non-NaN values along ``axis``.

    Args:
        x: values, any shape with ``x.shape[axis] = N``.
        axis: the axis to reduce.

    Returns:
        Integer array of ``x``'s shape without ``axis``.
    """
    arr = _float_array(x)
    axis = _check_axis(arr, axis)
    return np.sum(~np.isnan(arr), axis=axis)


def mean_ci(
    x: ArrayLike, axis: int = 0, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and Student-t confidence interval along ``axis``.

    With ``n`` non-NaN values, sample mean ``m`` and sample standard deviation
    ``s`` (``ddof=1``), the interval is

        m +- t_{(1 + confidence) / 2, n - 1} * s / sqrt(n).

    It assumes independent draws (one value per seed) and is exact for
    normally distributed values; by the central limit theorem it is close for
    means of a few dozen seeds of anything with a finite variance.

    Args:
        x: values, shape ``[..., N, ...]`` with the ``N`` seeds on ``axis``.
        axis: the seed axis, reduced.
        confidence: coverage of the interval, in ``(0, 1)``.

    Returns:
        ``(mean, low, high)``, each of ``x``'s shape without ``axis`` (0-d
        arrays for a 1-D ``x``). Where ``n = 1`` the mean is that value and
        the bounds are NaN (one seed says nothing about spread); where
        ``n = 0`` all three are NaN. If all values are equal the interval has
        zero width.
    """
    _check_confidence(confidence)
    arr = _float_array(x)
    axis = _check_axis(arr, axis)
    n = np.sum(~np.isnan(arr), axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nansum(arr, axis=axis) / n
        dev = arr - np.expand_dims(mean, axis)
        var = np.nansum(dev * dev, axis=axis) / (n - 1)
        sem = np.sqrt(var / n)
        t = scipy.stats.t.ppf(0.5 + confidence / 2.0, np.where(n > 1, n - 1, 1))
        half = np.where(n > 1, t * sem, np.nan)
        mean = np.where(n > 0, mean, np.nan)
        # inf - inf (a diverged run) is NaN, without a warning
        return mean, np.asarray(mean - half), np.asarray(mean + half)


def median_iqr(
    x: ArrayLike, axis: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median and interquartile range (25th and 75th percentiles) along ``axis``.

    Percentiles use NumPy's default linear interpolation, so for ``[1, 2, 3, 4]``
    they are 1.75, 2.5 and 3.25.

    Args:
        x: values, shape ``[..., N, ...]`` with the ``N`` seeds on ``axis``.
        axis: the seed axis, reduced.

    Returns:
        ``(median, q25, q75)``, each of ``x``'s shape without ``axis``; NaN
        where a slice has no non-NaN value.
    """
    arr = _float_array(x)
    axis = _check_axis(arr, axis)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices
        q = np.nanpercentile(arr, [50.0, 25.0, 75.0], axis=axis)
    return np.asarray(q[0]), np.asarray(q[1]), np.asarray(q[2])


def iqm(x: ArrayLike, axis: int = 0) -> np.ndarray:
    """Interquartile mean: the mean of the middle 50% of values along ``axis``.

    Agarwal et al. (2021). With ``n`` non-NaN values sorted, the lowest and the
    highest ``floor(n / 4)`` are dropped and the rest averaged, as
    ``scipy.stats.trim_mean(x, 0.25)`` does. Robust to a few outlying seeds
    like the median, but uses half of the data rather than one or two values.
    For ``n < 4`` nothing is dropped and it is the mean.

    Args:
        x: values, shape ``[..., N, ...]`` with the ``N`` seeds on ``axis``.
        axis: the seed axis, reduced.

    Returns:
        Array of ``x``'s shape without ``axis``; NaN where a slice has no
        non-NaN value.
    """
    arr = _float_array(x)
    axis = _check_axis(arr, axis)
    arr = np.sort(np.moveaxis(arr, axis, -1), axis=-1)  # NaNs sort last
    n = np.sum(~np.isnan(arr), axis=-1)
    cut = n // 4
    idx = np.arange(arr.shape[-1])
    keep = (idx >= cut[..., None]) & (idx < (n - cut)[..., None])
    with np.errstate(invalid="ignore", divide="ignore"):
        total = np.sum(np.where(keep, arr, 0.0), axis=-1)
        return np.where(n > 0, total / (n - 2 * cut), np.nan)


def bootstrap_ci(
    x: ArrayLike,
    statistic: Callable[..., Any],
    *,
    axis: int = 0,
    seed: int | np.random.Generator = 0,
    n_boot: int = 2000,
    confidence: float = 0.95,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Percentile-bootstrap confidence interval of ``statistic`` along ``axis``.

    Resamples the ``N`` seeds with replacement ``n_boot`` times, recomputes the
    statistic on each resample and takes the ``(1 -+ confidence) / 2``
    percentiles of those values (Efron & Tibshirani 1993, ch. 13; the interval
    ``rliable`` reports for Agarwal et al. 2021). Every slice along the other
    axes uses the same resampled seed indices, so seeds stay paired across
    iterations and metrics. Same ``seed``, same interval.

    With ``N = 1`` every resample is the one value and the interval has zero
    width: it says nothing about spread, check ``n`` before trusting it.

    Args:
        x: values, shape ``[..., N, ...]`` with the ``N`` seeds on ``axis``.
        statistic: ``statistic(values, axis=k) -> array`` reducing axis ``k``,
            such as :func:`iqm`, ``np.nanmean`` or ``np.nanmedian``. It should
            skip NaNs itself if ``x`` has any.
        axis: the seed axis, reduced.
        seed: an integer seed or a ``numpy.random.Generator``.
        n_boot: number of bootstrap resamples; 2000 gives percentile bounds
            reproducible to about two digits between seeds.
        confidence: coverage of the interval, in ``(0, 1)``.

    Returns:
        ``(point, low, high)``: the statistic on ``x`` itself and the interval
        bounds, each of ``x``'s shape without ``axis``. Resamples on which the
        statistic is NaN are left out of the percentiles.
    """
    _check_confidence(confidence)
    if n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    arr = _float_array(x)
    axis = _check_axis(arr, axis)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    arr0 = np.moveaxis(arr, axis, 0)  # [N, ...]
    n = arr0.shape[0]
    point = np.asarray(statistic(arr0, axis=0))
    if n == 0:
        nan = np.full(point.shape, np.nan)
        return point, nan, nan.copy()
    idx = rng.integers(0, n, size=(n_boot, n))
    # Resample in chunks so that [chunk, N, ...] stays near 8M elements.
    chunk = max(1, int(8_000_000 // max(1, arr0.size)))
    boots = [
        np.asarray(statistic(arr0[idx[i : i + chunk]], axis=1))
        for i in range(0, n_boot, chunk)
    ]
    boot = np.concatenate(boots, axis=0)  # [n_boot, ...]
    alpha = 100.0 * (1.0 - confidence) / 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanpercentile(boot, [alpha, 100.0 - alpha], axis=0)
    return point, np.asarray(low), np.asarray(high)


def iqm_ci(
    x: ArrayLike,
    axis: int = 0,
    *,
    seed: int | np.random.Generator = 0,
    n_boot: int = 2000,
    confidence: float = 0.95,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Interquartile mean with a percentile-bootstrap interval.

    :func:`iqm` with :func:`bootstrap_ci`; see both.

    Returns:
        ``(iqm, low, high)``, each of ``x``'s shape without ``axis``.
    """
    return bootstrap_ci(
        x, iqm, axis=axis, seed=seed, n_boot=n_boot, confidence=confidence
    )


def first_crossing(
    curve: ArrayLike,
    threshold: ArrayLike,
    x: ArrayLike | None = None,
    *,
    above: bool = True,
) -> np.ndarray:
    """First ``x`` at which a curve reaches a threshold ("steps to solve").

    For each curve, the smallest ``t`` with ``curve[..., t] >= threshold``
    (``<=`` when ``above=False``, for losses and episode lengths), reported as
    ``x[t]``. NaN entries of the curve never count as reaching. Smooth noisy
    per-episode curves first, or one lucky episode counts as solved.

    Args:
        curve: values, shape ``[..., T]`` with time on the last axis, e.g.
            ``[N, T]`` for one curve per seed.
        threshold: a scalar or an array broadcastable to ``curve.shape[:-1]``.
        x: the x value of each of the ``T`` points, shape ``[T]`` (steps,
            episodes); default ``0, 1, ..., T - 1``, the index.
        above: whether reaching means ``>=`` (True) or ``<=`` (False).

    Returns:
        Float array of shape ``curve.shape[:-1]``: the x of the first crossing,
        NaN for a curve that never reaches the threshold. Aggregate across
        seeds with :func:`median_iqr` (NaN seeds are left out) and report how
        many were NaN.
    """
    arr = _float_array(curve)
    if arr.ndim == 0:
        raise ValueError("curve must have a time axis, shape [..., T]")
    t_len = arr.shape[-1]
    xs = (
        np.arange(t_len, dtype=np.float64)
        if x is None
        else np.asarray(x, dtype=np.float64)
    )
    if xs.shape != (t_len,):
        raise ValueError(f"x must have shape [T] = [{t_len}], got {xs.shape}")
    thr = np.asarray(threshold, dtype=np.float64)
    try:
        thr = np.broadcast_to(thr, arr.shape[:-1])
    except ValueError:
        raise ValueError(
            f"threshold of shape {thr.shape} does not broadcast to the curves' "
            f"leading shape {arr.shape[:-1]}"
        ) from None
    hit = arr >= thr[..., None] if above else arr <= thr[..., None]
    if t_len == 0:
        return np.full(arr.shape[:-1], np.nan)
    first = np.argmax(hit, axis=-1)
    return np.where(np.any(hit, axis=-1), xs[first], np.nan)


def trailing_mean(x: ArrayLike, window: int) -> np.ndarray:
    """NaN-skipping trailing moving average over the last axis, same length.

    Point ``t`` is the mean of the non-NaN values among
    ``x[..., max(0, t - window + 1) : t + 1]`` (fewer at the start), NaN if
    there are none. Used to smooth noisy per-episode curves for plots and
    threshold crossings.

    Args:
        x: curves, shape ``[..., T]``.
        window: number of points averaged; 1 returns ``x`` as floats.

    Returns:
        Float array of ``x``'s shape.
    """
    if int(window) != window or window < 1:
        raise ValueError(f"window must be a positive integer, got {window!r}")
    arr = _float_array(x)
    if arr.ndim == 0:
        raise ValueError("x must have a time axis, shape [..., T]")
    window = int(window)
    if window == 1:
        return arr
    valid = ~np.isnan(arr)
    pad = [(0, 0)] * (arr.ndim - 1) + [(1, 0)]
    csum = np.pad(np.cumsum(np.where(valid, arr, 0.0), axis=-1), pad)
    ccnt = np.pad(np.cumsum(valid, axis=-1), pad)
    t_len = arr.shape[-1]
    hi = np.arange(1, t_len + 1)
    lo = np.maximum(0, hi - window)
    s = csum[..., hi] - csum[..., lo]
    c = ccnt[..., hi] - ccnt[..., lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(c > 0, s / c, np.nan)


def summarize(x: ArrayLike, axis: int = 0, confidence: float = 0.95) -> dict[str, Any]:
    """The usual summary of values across seeds.

    Args:
        x: values, shape ``[..., N, ...]`` with the ``N`` seeds on ``axis``;
            typically ``[N]``, one final score per seed.
        axis: the seed axis, reduced.
        confidence: coverage of the Student-t interval of the mean.

    Returns:
        A dict with ``n`` (non-NaN count), ``mean``, ``ci_low``, ``ci_high``
        (:func:`mean_ci`), ``std`` (``ddof=1``), ``median``, ``iqr_low``,
        ``iqr_high`` (:func:`median_iqr`) and ``iqm`` (:func:`iqm`). For a 1-D
        ``x`` the values are Python ``int``/``float`` (JSON-ready); otherwise
        arrays of ``x``'s shape without ``axis``.
    """
    arr = _float_array(x)
    axis = _check_axis(arr, axis)
    n = np.sum(~np.isnan(arr), axis=axis)
    mean, low, high = mean_ci(arr, axis=axis, confidence=confidence)
    median, q25, q75 = median_iqr(arr, axis=axis)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        std = np.where(n > 1, np.nanstd(arr, axis=axis, ddof=1), np.nan)
    out = {
        "n": n,
        "mean": mean,
        "ci_low": low,
        "ci_high": high,
        "std": std,
        "median": median,
        "iqr_low": q25,
        "iqr_high": q75,
        "iqm": iqm(arr, axis=axis),
    }
    if arr.ndim == 1:
        return {k: int(v) if k == "n" else float(v) for k, v in out.items()}
    return out


from jaxrl.stats.aggregate import (  # noqa: E402
    AGGREGATES,
    aggregate_iqm,
    aggregate_mean,
    aggregate_median,
    aggregate_optimality_gap,
    interval_estimate,
    normalize,
    performance_profile,
    probability_of_improvement,
    probability_of_improvement_ci,
    score_distribution,
)
from jaxrl.stats.atari import (  # noqa: E402
    ATARI_GAMES,
    atari_game,
    atari_human_normalized,
    atari_scores,
)
