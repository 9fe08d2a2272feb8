"""Aggregate statistics over runs and tasks, with stratified-bootstrap
intervals (Agarwal, Schwarzer, Castro, Courville & Bellemare, 2021, "Deep
reinforcement learning at the edge of the statistical precipice", NeurIPS;
the formulas of their ``rliable`` package).

A score matrix is ``[runs, tasks]``: one (normalised) score per run and task,
NaN where a task has fewer runs than others (missing, dropped). Every
interval resamples the runs **within each task** (a stratified bootstrap:
each task keeps its number of runs, tasks are never mixed), through
:func:`scipy.stats.bootstrap` with each task's runs as one of its samples,
so both its percentile and its BCa intervals are available. Same ``seed``,
same interval.
"""

from collections.abc import Callable, Sequence

import numpy as np
import scipy.stats
from numpy.typing import ArrayLike

__all__ = [
    "AGGREGATES",
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
]


def _tasks(scores: ArrayLike) -> list[np.ndarray]:
    """The runs of each task of a ``[runs, tasks]`` matrix, NaNs dropped."""
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(
            f"scores must be a [runs, tasks] matrix, got shape {arr.shape}"
        )
    tasks = [col[~np.isnan(col)] for col in arr.T]
    empty = [i for i, t in enumerate(tasks) if t.size == 0]
    if not tasks or empty:
        raise ValueError(
            f"every task needs at least one run; task(s) {empty} have none"
            if tasks
            else "scores has no task"
        )
    return tasks


# Statistics on per-task samples: each takes the tasks' runs as arrays whose
# last axis is the runs (leading axes: bootstrap resamples), as
# scipy.stats.bootstrap passes them with ``vectorized=True``.


def _mean(*tasks: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean([np.mean(t, axis=axis) for t in tasks], axis=0)


def _median(*tasks: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.median([np.mean(t, axis=axis) for t in tasks], axis=0)


def _iqm(*tasks: np.ndarray, axis: int = -1) -> np.ndarray:
    return scipy.stats.trim_mean(np.concatenate(tasks, axis=axis), 0.25, axis=axis)


def _optimality_gap(*tasks: np.ndarray, axis: int = -1, gamma: float = 1.0):
    pooled = np.concatenate(tasks, axis=axis)
    return gamma - np.mean(np.minimum(pooled, gamma), axis=axis)


def aggregate_mean(scores: ArrayLike) -> float:
    """The mean over tasks of each task's mean over runs."""
    return float(_mean(*_tasks(scores)))


def aggregate_median(scores: ArrayLike) -> float:
    """The median over tasks of each task's mean over runs (rliable's
    ``aggregate_median``): robust to outlying tasks, but it ignores how the
    runs of a task spread."""
    return float(_median(*_tasks(scores)))


def aggregate_iqm(scores: ArrayLike) -> float:
    """The interquartile mean of all runs of all tasks pooled: the mean of the
    middle 50% (``scipy.stats.trim_mean(..., 0.25)``), robust to outliers and
    more efficient than the median (Agarwal et al., 2021, section 4)."""
    return float(_iqm(*_tasks(scores)))


def aggregate_optimality_gap(scores: ArrayLike, gamma: float = 1.0) -> float:
    """``gamma - mean(min(score, gamma))`` over all runs and tasks: how far the
    scores fall short of ``gamma`` (1 for human-normalised Atari), what is
    above it counting as ``gamma``. Lower is better."""
    return float(_optimality_gap(*_tasks(scores), gamma=gamma))


AGGREGATES: dict[str, Callable[..., np.ndarray]] = {
    "mean": _mean,
    "median": _median,
    "iqm": _iqm,
    "optimality_gap": _optimality_gap,
}


def _bootstrap(samples, statistic, *, method, n_boot, confidence, seed):
    if method not in ("percentile", "BCa"):
        raise ValueError(f"method={method!r} is unknown; allowed: percentile, BCa")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    few = [i for i, x in enumerate(samples) if np.shape(x)[-1] < 2]
    if few:
        raise ValueError(
            f"a bootstrap interval needs at least 2 runs of every task; "
            f"sample(s) {few} have 1"
        )
    result = scipy.stats.bootstrap(
        samples,
        statistic,
        n_resamples=n_boot,
        confidence_level=confidence,
        method=method,
        vectorized=True,
        paired=False,
        axis=-1,
        rng=np.random.default_rng(seed),
    )
    ci = result.confidence_interval
    return np.asarray(ci.low), np.asarray(ci.high)


def interval_estimate(
    scores: ArrayLike,
    aggregate: str = "iqm",
    *,
    method: str = "percentile",
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """An aggregate with its stratified-bootstrap interval (rliable's
    ``get_interval_estimates``).

    Args:
        scores: ``[runs, tasks]``, NaN for missing runs.
        aggregate: ``"mean"``, ``"median"``, ``"iqm"`` or ``"optimality_gap"``
            (with ``gamma = 1``).
        method: ``"percentile"`` (rliable's default) or ``"BCa"``
            (bias-corrected and accelerated; Efron, 1987).
        n_boot: bootstrap resamples.
        confidence: the interval's coverage.
        seed: the resampling seed.

    Returns:
        ``(point, low, high)``.
    """
    if aggregate not in AGGREGATES:
        raise ValueError(
            f"aggregate={aggregate!r} is unknown; allowed: {', '.join(AGGREGATES)}"
        )
    tasks = _tasks(scores)
    statistic = AGGREGATES[aggregate]
    point = float(statistic(*tasks))
    low, high = _bootstrap(
        tasks,
        statistic,
        method=method,
        n_boot=n_boot,
        confidence=confidence,
        seed=seed,
    )
    return point, float(low), float(high)


def normalize(scores: ArrayLike, low: ArrayLike, high: ArrayLike) -> np.ndarray:
    """``(score - low) / (high - low)`` per task (the last axis): e.g. Atari's
    human-normalised score with ``low`` the random policy's and ``high`` the
    human's score of each game."""
    scores = np.asarray(scores, dtype=np.float64)
    low, high = np.asarray(low, np.float64), np.asarray(high, np.float64)
    if np.any(high == low):
        raise ValueError("high equals low for some task: nothing to normalise by")
    return (scores - low) / (high - low)


def score_distribution(scores: ArrayLike, taus: Sequence[float]) -> np.ndarray:
    """The performance profile: for each threshold ``tau``, the fraction of runs
    scoring above it, averaged over tasks (each task weighs the same whatever
    its number of runs; rliable's ``run_score_distribution``).

    Returns:
        ``[len(taus)]``, non-increasing in ``tau``.
    """
    taus = np.asarray(taus, np.float64)
    return _profile(*_tasks(scores), taus=taus)


def _profile(*tasks: np.ndarray, taus: np.ndarray, axis: int = -1) -> np.ndarray:
    """``[..., K]`` (taus last) from tasks with the runs on the last axis."""
    del axis  # runs are on the last axis
    fractions = [np.mean(np.expand_dims(t, -1) > taus, axis=-2) for t in tasks]
    return np.mean(fractions, axis=0)


def performance_profile(
    scores: ArrayLike,
    taus: Sequence[float],
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`score_distribution` with a pointwise stratified-bootstrap band
    (percentile intervals): ``(profile, low, high)``, each ``[len(taus)]``."""
    taus = np.asarray(taus, np.float64)
    tasks = _tasks(scores)

    def statistic(*samples, axis=-1):
        # scipy wants a vector statistic's own axis first, resamples after
        return np.moveaxis(_profile(*samples, taus=taus, axis=axis), -1, 0)

    point = _profile(*tasks, taus=taus)
    low, high = _bootstrap(
        tasks,
        statistic,
        method="percentile",
        n_boot=n_boot,
        confidence=confidence,
        seed=seed,
    )
    return point, low, high


def _improvement(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``P(X > Y) + P(X = Y) / 2`` over all pairs of the last axes: the
    Mann-Whitney ``U`` of ``x`` over ``n * m``."""
    greater = np.expand_dims(x, -1) > np.expand_dims(y, -2)
    equal = np.expand_dims(x, -1) == np.expand_dims(y, -2)
    return np.mean(greater + 0.5 * equal, axis=(-2, -1))


def probability_of_improvement(x: ArrayLike, y: ArrayLike) -> float:
    """The probability that algorithm X beats Y on a task drawn at random:
    per task, ``P(X_t > Y_t)`` from a run of each drawn at random (ties count
    one half; the Mann-Whitney ``U`` statistic over ``n m``), averaged over
    tasks (Agarwal et al., 2021, section 4).

    Args:
        x, y: ``[runs, tasks]`` score matrices of the two algorithms on the same
            tasks (their run counts may differ).
    """
    tx, ty = _tasks(x), _tasks(y)
    if len(tx) != len(ty):
        raise ValueError(f"x has {len(tx)} tasks and y {len(ty)}: they must match")
    return float(np.mean([_improvement(a, b) for a, b in zip(tx, ty, strict=True)]))


def probability_of_improvement_ci(
    x: ArrayLike,
    y: ArrayLike,
    *,
    method: str = "percentile",
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """:func:`probability_of_improvement` with a stratified-bootstrap interval:
    the runs of X and of Y are resampled independently within each task.

    Returns:
        ``(point, low, high)``.
    """
    tx, ty = _tasks(x), _tasks(y)
    if len(tx) != len(ty):
        raise ValueError(f"x has {len(tx)} tasks and y {len(ty)}: they must match")
    k = len(tx)

    def statistic(*samples, axis=-1):
        del axis  # runs are on the last axis
        per_task = [_improvement(samples[i], samples[k + i]) for i in range(k)]
        return np.mean(per_task, axis=0)

    point = float(statistic(*tx, *ty))
    low, high = _bootstrap(
        tx + ty,
        statistic,
        method=method,
        n_boot=n_boot,
        confidence=confidence,
        seed=seed,
    )
    return point, float(low), float(high)
