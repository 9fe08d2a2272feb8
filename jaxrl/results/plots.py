"""Plots of results: learning curves with confidence bands, grid-world values and
paths, bandit curves and value estimates.

Every plotting function draws into the ``matplotlib.axes.Axes`` it is given and
returns it, so figures compose freely. :func:`figure` and :func:`save` make and
write figures without ``pyplot``: nothing here touches pyplot's global state or
the user's chosen backend, and PNGs are rendered by Agg, so this works the same
headless, in scripts and in notebooks.

Grid conventions (shared with ``envs``): state ``s = row * width + col`` with
row 0 at the top; actions ``0 = up, 1 = right, 2 = down, 3 = left``. A cell list
(``walls``, ``goals``, ...) holds state indices or ``(row, col)`` pairs.
"""

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.colors as mcolors
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from numpy.typing import ArrayLike

from jaxrl import stats

__all__ = [
    "bandit_curves",
    "figure",
    "grid_paths",
    "grid_values",
    "learning_curves",
    "palette",
    "panel_grid",
    "panel_order",
    "save",
    "value_estimates",
]

# Unit steps (d_row, d_col) of the four grid actions: up, right, down, left.
ACTION_DELTAS = ((-1, 0), (0, 1), (1, 0), (0, -1))

_WALL = "#5f5f5f"
_CLIFF = "#6b2d1f"
_GOAL = "#1a9641"
_TRAP = "#d7191c"
_START = "#2b5fad"


# --------------------------------------------------------------------------- #
# Figures
# --------------------------------------------------------------------------- #


def figure(
    nrows: int = 1,
    ncols: int = 1,
    *,
    panel_size: tuple[float, float] = (5.0, 3.5),
    layout: str = "constrained",
    **subplot_kw: Any,
) -> tuple[Figure, np.ndarray]:
    """A new figure with a grid of panels, without ``pyplot``.

    Args:
        nrows: rows of panels.
        ncols: columns of panels.
        panel_size: ``(width, height)`` of one panel in inches.
        layout: matplotlib layout engine; ``"compressed"`` suits grid-world
            panels (fixed aspect), fitting colour bars to the grid.
        **subplot_kw: passed to ``Figure.subplots`` (``sharex``, ...).

    Returns:
        ``(fig, axes)`` with ``axes`` an object array of shape
        ``[nrows, ncols]``.
    """
    fig = Figure(figsize=(panel_size[0] * ncols, panel_size[1] * nrows), layout=layout)
    axes = fig.subplots(nrows, ncols, squeeze=False, **subplot_kw)
    return fig, axes


def panel_grid(
    n: int, *, ncols: int = 3, panel_size: tuple[float, float] = (5.0, 3.5)
) -> tuple[Figure, list[Axes]]:
    """A figure with ``n`` panels in rows of at most ``ncols``, spares hidden.

    Returns:
        ``(fig, axes)`` with ``axes`` a list of the ``n`` panels in reading order.
    """
    if n < 1:
        raise ValueError(f"need at least one panel, got n={n}")
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = figure(nrows, ncols, panel_size=panel_size)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def save(fig: Figure, path: str | Path, *, dpi: int = 150) -> Path:
    """Write ``fig`` to ``path`` (format from the suffix), creating folders.

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


def palette(n: int) -> list[tuple[float, float, float, float]]:
    """``n`` distinct colours: ``tab10`` up to 10, else samples of ``turbo``."""
    if n <= 10:
        return [matplotlib.colormaps["tab10"](i) for i in range(n)]
    turbo = matplotlib.colormaps["turbo"]
    return [turbo(v) for v in np.linspace(0.05, 0.95, n)]


# --------------------------------------------------------------------------- #
# Curves
# --------------------------------------------------------------------------- #


def _bin_curves(
    xs: np.ndarray, arr: np.ndarray, max_points: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` points per curve: consecutive iterations pooled
    into equal bins, each point the NaN-skipping mean of its bin (x: the bin's
    mean x). Unlike striding, a value reported only now and then (a return at
    an episode's end, an evaluation) is never dropped."""
    t_len = arr.shape[-1]
    if max_points is None or t_len <= max_points:
        return xs, arr
    edges = np.linspace(0, t_len, max_points + 1).round().astype(int)
    valid = ~np.isnan(arr)
    csum = np.concatenate(
        [np.zeros(arr.shape[:-1] + (1,)), np.cumsum(np.where(valid, arr, 0), -1)], -1
    )
    ccnt = np.concatenate([np.zeros(arr.shape[:-1] + (1,)), np.cumsum(valid, -1)], -1)
    total = csum[..., edges[1:]] - csum[..., edges[:-1]]
    count = ccnt[..., edges[1:]] - ccnt[..., edges[:-1]]
    with np.errstate(invalid="ignore", divide="ignore"):
        binned = np.where(count > 0, total / count, np.nan)
    xsum = np.concatenate([[0.0], np.cumsum(xs)])
    bx = (xsum[edges[1:]] - xsum[edges[:-1]]) / np.diff(edges)
    return bx, binned


def _points(arr: np.ndarray, max_points: int | None) -> int | None:
    """How many points to draw of ``[H, N, T]`` curves: ``max_points``, or
    fewer for a series whose seeds report at different iterations (a return
    at each episode's end): about half a seed's count of values, so that most
    points pool a value of most seeds instead of tracing one seed at a time."""
    valid = ~np.isnan(arr)
    reported = valid.any(axis=1).sum()
    if reported == 0 or valid.all(axis=1).sum() >= 0.5 * reported:
        return max_points
    per_seed = float(np.median(valid.sum(axis=-1)))
    cap = arr.shape[-1] if max_points is None else max_points
    return int(np.clip(per_seed // 2, 10, cap))


def _band(
    curves: np.ndarray, band: str, confidence: float
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, str]:
    """Centre line and band over axis 0 of ``[N, T]`` curves, and a description."""
    if band == "ci":
        mid, lo, hi = stats.mean_ci(curves, axis=0, confidence=confidence)
        return mid, lo, hi, f"mean, {round(100 * confidence)}% CI"
    if band == "iqr":
        mid, lo, hi = stats.median_iqr(curves, axis=0)
        return mid, lo, hi, "median, IQR"
    if band == "none":
        mid = stats.mean_ci(curves, axis=0, confidence=confidence)[0]
        return mid, None, None, "mean"
    raise ValueError(f"band must be 'ci', 'iqr' or 'none', got {band!r}")


def _prepare_curves(
    x: ArrayLike | None, curves: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Curves as ``[H, N, T]`` floats and x as ``[T]``, checked."""
    arr = np.asarray(curves, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(
            f"curves must have shape [N, T] or [H, N, T], got {np.shape(curves)}"
        )
    t_len = arr.shape[-1]
    if x is None:
        xs = np.arange(1, t_len + 1, dtype=np.float64)
    else:
        xs = np.asarray(x, dtype=np.float64).reshape(-1)
    if xs.shape != (t_len,):
        raise ValueError(f"x must have shape [T] = [{t_len}], got {xs.shape}")
    return xs, arr


# Up to this many points a line gets markers too: a sparse series (a few
# evaluations) reads as points, not as a polyline that seems to interpolate.
_MARKERS_UP_TO = 60


def _plot_valid(ax: Axes, xs: np.ndarray, ys: np.ndarray, **kw: Any) -> None:
    """A line through the finite points of ``ys`` only (a NaN is a missing
    value, not a gap that hides its neighbours), with markers when few."""
    ok = np.isfinite(ys)
    if ok.sum() <= _MARKERS_UP_TO:
        kw = {"marker": "o", "markersize": 3, **kw}
    ax.plot(xs[ok], ys[ok], **kw)


def _draw_curves(
    ax: Axes,
    xs: np.ndarray,
    arr: np.ndarray,
    labels: Sequence[str] | None,
    colors: Sequence[Any],
    *,
    band: str,
    confidence: float,
    smooth: int,
    max_points: int | None,
    band_alpha: float,
    linewidth: float,
    seed_lines: int = 0,
    min_band_seeds: int = 2,
) -> tuple[str, tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]]:
    """Draw ``[H, N, T]`` curves; return a description like "mean, 95% CI"
    and the x, centre lines and all arrays drawn (for the y-range)."""
    n_set, n_seed, t_len = arr.shape
    arr = stats.trailing_mean(arr, int(smooth))
    xs, arr = _bin_curves(xs, arr, _points(arr, max_points))
    desc = ""
    drawn: list[np.ndarray] = []
    means: list[np.ndarray] = []
    for h in range(n_set):
        mid, lo, hi, desc = _band(arr[h], band, confidence)
        if lo is not None:  # a band only where enough seeds have a value
            few = np.sum(~np.isnan(arr[h]), axis=0) < max(2, min_band_seeds)
            lo, hi = np.where(few, np.nan, lo), np.where(few, np.nan, hi)
        if n_seed <= seed_lines and n_seed > 1:
            for n in range(n_seed):
                _plot_valid(
                    ax,
                    xs,
                    arr[h, n],
                    color=colors[h],
                    lw=0.7,
                    alpha=0.35,
                    markersize=1.5,
                )
            drawn.append(arr[h])
        label = labels[h] if labels is not None else None
        _plot_valid(ax, xs, mid, color=colors[h], lw=linewidth, label=label)
        drawn.append(mid)
        means.append(mid)
        if lo is not None and n_seed >= min_band_seeds:
            ok = np.isfinite(lo) & np.isfinite(hi)
            ax.fill_between(
                xs[ok], lo[ok], hi[ok], color=colors[h], alpha=band_alpha, lw=0
            )
            drawn += [lo, hi]
    if n_seed < min_band_seeds:
        desc = desc.split(",")[0]  # no band drawn
    if 1 < n_seed <= seed_lines:
        desc += " and each seed"
    if smooth > 1:
        desc += f", smoothed over {int(smooth)}"
    return desc, (xs, means, drawn)


# How far (in heights of the rest of the curve) the mean's first 10% must
# reach beyond the rest before the y-axis is cut: measured on our runs, the
# first cliff-walking episodes reach 13-110 heights beyond, while the ramps
# of a bandit's reward or a gridworld's return reach 4-5 and stay in view.
_CUT_BEYOND = 8.0


def _robust_ylim(
    ax: Axes, xs: np.ndarray, means: Sequence[np.ndarray], drawn: Sequence[np.ndarray]
) -> bool:
    """Keep the first points from flattening the rest: when a mean curve over
    the first 10% of the x range reaches beyond that curve's later range by
    more than :data:`_CUT_BEYOND` times its height, limit the y-axis to what
    was drawn after the first 10% (padded). Returns whether it did."""
    if xs.size < 10:
        return False
    later = xs >= xs[0] + 0.1 * (xs[-1] - xs[0])

    def finite(a: np.ndarray) -> np.ndarray:
        return a[np.isfinite(a)]

    cut = False
    for mid in means:
        head, rest = finite(mid[~later]), finite(mid[later])
        if head.size and rest.size and rest.max() > rest.min():
            beyond = max(rest.min() - head.min(), head.max() - rest.max())
            cut |= beyond > _CUT_BEYOND * (rest.max() - rest.min())
    if not cut:
        return False
    rest = finite(np.concatenate([np.ravel(np.asarray(d)[..., later]) for d in drawn]))
    lo, hi = rest.min(), rest.max()
    ax.set_ylim(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
    return True


def _style_axes(
    ax: Axes, xlabel: str | None, ylabel: str | None, title: str | None
) -> None:
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.margins(x=0)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def learning_curves(
    ax: Axes,
    x: ArrayLike | None,
    curves: ArrayLike,
    labels: Sequence[str] | None = None,
    *,
    band: str = "ci",
    confidence: float = 0.95,
    smooth: int = 1,
    colors: Sequence[Any] | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    title: str | None = None,
    legend: bool | None = None,
    max_points: int | None = 500,
    band_alpha: float = 0.2,
    linewidth: float = 1.6,
    seed_lines: int = 10,
    min_band_seeds: int = 5,
    robust_ylim: bool = True,
) -> Axes:
    """Learning curves across seeds: a centre line and a shaded band per setting.

    Args:
        ax: the axes to draw into.
        x: x value of each of the ``T`` points, shape ``[T]``; ``None`` for
            ``1, ..., T``.
        curves: ``[H, N, T]`` (H settings, N seeds, T points) or ``[N, T]``
            (one setting). NaNs are missing values (see :mod:`jaxrl.stats`):
            lines run through the points that have values, so a series
            reported only at episode ends or evaluations is drawn, with
            markers when it has few points.
        labels: one legend label per setting.
        band: ``"ci"`` (mean and Student-t interval), ``"iqr"`` (median and
            interquartile range) or ``"none"`` (mean only).
        confidence: coverage of the ``"ci"`` band.
        smooth: trailing moving-average window applied to each seed's curve
            before the statistics; 1 for none.
        colors: one colour per setting; default :func:`palette`.
        xlabel: x-axis label.
        ylabel: y-axis label.
        title: axes title.
        legend: draw a legend; default when ``labels`` is given. Its title says
            what the line and band are and over how many seeds; without a
            legend a small note in the corner says it.
        max_points: at most this many points per line: consecutive points are
            pooled into bins (NaN-skipping means); ``None`` for all.
        band_alpha: opacity of the band.
        linewidth: width of the centre lines.
        seed_lines: with at most this many seeds, each seed is drawn too, as a
            thin line under the centre line.
        min_band_seeds: no band with fewer seeds than this (a Student-t
            interval of 2-4 seeds is wider than the data; the seeds are shown).
        robust_ylim: when the mean over the first 10% of the x range (early
            episodes) reaches far beyond the rest (:data:`_CUT_BEYOND`), limit
            the y-axis to the rest; the note says so.

    Returns:
        ``ax``.
    """
    xs, arr = _prepare_curves(x, curves)
    n_set, n_seed, _ = arr.shape
    if labels is not None and len(labels) != n_set:
        raise ValueError(f"got {len(labels)} labels for {n_set} settings")
    colors = list(colors) if colors is not None else palette(n_set)
    desc, (bx, means, drawn) = _draw_curves(
        ax,
        xs,
        arr,
        labels,
        colors,
        band=band,
        confidence=confidence,
        smooth=smooth,
        max_points=max_points,
        band_alpha=band_alpha,
        linewidth=linewidth,
        seed_lines=seed_lines,
        min_band_seeds=min_band_seeds,
    )
    _style_axes(ax, xlabel, ylabel, title)
    clipped = robust_ylim and _robust_ylim(ax, bx, means, drawn)
    if n_seed > 1:
        note = f"{desc} ({_plural(n_seed, 'seed')})"
    else:
        note = "1 seed" + (f", smoothed over {int(smooth)}" if smooth > 1 else "")
    if clipped:
        note += "; first 10% cut off the y-axis"
    if legend is None:
        legend = labels is not None
    if legend:
        ax.legend(title=note, fontsize="small", title_fontsize="small")
    else:
        ax.text(
            0.99,
            0.02,
            note,
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize="x-small",
            color="0.35",
        )
    return ax


# Which panels come first in a run's curves: the headline results, then the
# losses, then diagnostics; counters (their x is the axis already) get none.
# A prediction run's error leads: its policy is fixed, so its return and
# length say nothing about learning.
_HEADLINE = (
    "rms_error",
    "return",
    "eval_return",
    "score",
    "eval_score",
    "reward",
    "regret",
    "optimal",
    "length",
)
COUNTERS = frozenset({"env_steps", "frames", "iteration", "episodes", "steps"})


def panel_order(names: Iterable[str]) -> list[str]:
    """Metric names in the order a run's figure shows them: headline results
    (value error, return, evaluation return, reward, regret, length), then losses
    (names containing ``loss``), then the rest, each group in the given order;
    counters (:data:`COUNTERS`) are left out."""

    def rank(name: str) -> tuple[int, int]:
        if name in _HEADLINE:
            return 0, _HEADLINE.index(name)
        for i, key in enumerate(_HEADLINE):
            if name.startswith(key + "_") or name.endswith("_" + key):
                return 1, i
        return (2, 0) if "loss" in name else (3, 0)

    kept = [n for n in names if n not in COUNTERS]
    return sorted(kept, key=rank)  # stable: ties keep the given order


def bandit_curves(
    axes: Sequence[Axes],
    rewards: Mapping[str, ArrayLike],
    optimal: Mapping[str, ArrayLike] | None = None,
    *,
    x: ArrayLike | None = None,
    band: str = "ci",
    confidence: float = 0.95,
    smooth: int = 1,
    colors: Sequence[Any] | None = None,
    title: str | None = None,
) -> Sequence[Axes]:
    """Average reward and % optimal action against step, one line per agent.

    Sutton & Barto (2018), Figure 2.2.

    Args:
        axes: two axes (reward, optimal) or one when ``optimal`` is ``None``.
        rewards: ``{agent label: reward}`` with reward of shape ``[N, T]`` (runs
            by steps) or ``[T]`` (already averaged: no band).
        optimal: ``{agent label: optimal}``, 1 where the optimal arm was pulled
            (or a fraction), same shapes; plotted in percent.
        x: step numbers, shape ``[T]``; default ``1, ..., T``.
        band: as in :func:`learning_curves`.
        confidence: coverage of the ``"ci"`` band.
        smooth: trailing moving-average window, as in :func:`learning_curves`.
        colors: one colour per agent.
        title: title over the reward panel.

    Returns:
        ``axes``.
    """
    n_panels = 1 if optimal is None else 2
    if len(axes) < n_panels:
        raise ValueError(f"need {n_panels} axes, got {len(axes)}")
    names = list(rewards)
    colors = list(colors) if colors is not None else palette(len(names))
    panels = [(axes[0], rewards, 1.0, "average reward")]
    if optimal is not None:
        missing = set(names) - set(optimal)
        if missing:
            raise ValueError(f"optimal lacks agents {sorted(missing)}")
        panels.append((axes[1], optimal, 100.0, "% optimal action"))
    for ax, data, scale, ylabel in panels:
        notes = set()
        for i, name in enumerate(names):
            raw = np.asarray(data[name], dtype=np.float64) * scale
            xs, arr = _prepare_curves(x, raw if raw.ndim == 2 else raw[None])
            desc, _ = _draw_curves(
                ax,
                xs,
                arr,
                [name],
                [colors[i]],
                band=band if raw.ndim == 2 else "none",
                confidence=confidence,
                smooth=smooth,
                max_points=2000,
                band_alpha=0.2,
                linewidth=1.2,
            )
            if raw.ndim == 2:
                notes.add(f"{desc} ({_plural(arr.shape[1], 'run')})")
        _style_axes(ax, "steps", ylabel, None)
        ax.legend(
            title="; ".join(sorted(notes)) or None,
            fontsize="small",
            title_fontsize="small",
        )
    if optimal is not None:
        axes[1].set_ylim(0, 100)
    if title:
        axes[0].set_title(title)
    return axes


def value_estimates(
    ax: Axes,
    states: Sequence[Any],
    estimates: Mapping[str, ArrayLike],
    true_values: ArrayLike | None = None,
    *,
    confidence: float = 0.95,
    colors: Sequence[Any] | None = None,
    xlabel: str = "state",
    ylabel: str = "estimated value",
    title: str | None = None,
) -> Axes:
    """Estimated state values against the true ones, one line per estimate.

    Sutton & Barto (2018), Example 6.2 (left): the random walk's values after
    0, 1, 10 and 100 episodes of TD(0).

    Args:
        ax: the axes to draw into.
        states: the ``S`` states in plotting order, as tick labels (``"A"``...).
        estimates: ``{label: values}`` with values of shape ``[S]``, or
            ``[N, S]`` for N seeds (drawn as the mean with a CI error bar).
        true_values: the true values, shape ``[S]``, drawn black and dashed.
        confidence: coverage of the error bars for ``[N, S]`` estimates.
        colors: one colour per estimate.
        xlabel: x-axis label.
        ylabel: y-axis label.
        title: axes title.

    Returns:
        ``ax``.
    """
    n_states = len(states)
    pos = np.arange(n_states)
    colors = list(colors) if colors is not None else palette(len(estimates))
    handles: list[Any] = []
    for i, (name, vals) in enumerate(estimates.items()):
        arr = np.asarray(vals, dtype=np.float64)
        if arr.shape[-1] != n_states or arr.ndim not in (1, 2):
            raise ValueError(
                f"estimates[{name!r}] must have shape [S] or [N, S] with "
                f"S = {n_states}, got {arr.shape}"
            )
        if arr.ndim == 1:
            (handle,) = ax.plot(
                pos, arr, "o-", color=colors[i], ms=4, lw=1.4, label=name
            )
        else:
            mid, lo, hi = stats.mean_ci(arr, axis=0, confidence=confidence)
            err = np.nan_to_num(np.stack([mid - lo, hi - mid]))
            handle = ax.errorbar(
                pos,
                mid,
                yerr=err,
                fmt="o-",
                color=colors[i],
                ms=4,
                lw=1.4,
                capsize=2,
                label=name,
            )
        handles.append(handle)
    if true_values is not None:
        tv = np.asarray(true_values, dtype=np.float64).reshape(-1)
        if tv.shape != (n_states,):
            raise ValueError(f"true_values must have shape [{n_states}]")
        handles += ax.plot(pos, tv, "--", color="black", lw=1.4, label="true values")
    ax.set_xticks(pos, [str(s) for s in states])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(handles=handles, fontsize="small")
    return ax


# --------------------------------------------------------------------------- #
# Grid worlds
# --------------------------------------------------------------------------- #


def _cells(cells: Iterable[Any] | int | None, height: int, width: int) -> set[int]:
    """Normalise state indices or (row, col) pairs to a set of state indices."""
    if cells is None:
        return set()
    if isinstance(cells, int | np.integer):
        cells = [cells]
    out = set()
    for c in cells:
        if isinstance(c, int | np.integer):
            s = int(c)
        elif len(c) == 2:
            r, col = int(c[0]), int(c[1])
            if not (0 <= r < height and 0 <= col < width):
                raise ValueError(
                    f"cell {tuple(c)} is outside the {height}x{width} grid"
                )
            s = r * width + col
        else:
            raise ValueError(f"a cell is a state index or (row, col), got {c!r}")
        if not 0 <= s < height * width:
            raise ValueError(
                f"state {s} is outside the {height}x{width} grid "
                f"(0..{height * width - 1})"
            )
        out.add(s)
    return out


def _as_cell_list(cell: Any) -> list[Any]:
    """One cell (an index or a (row, col) pair) or None as a list of cells."""
    return [] if cell is None else [cell]


def _cell_fontsize(ax: Axes, height: int, width: int) -> float:
    """A font size (points) that fits a few characters in one cell."""
    fig = ax.figure
    pos = ax.get_position()
    w_in, h_in = fig.get_size_inches()
    cell_pts = 72 * min(pos.width * w_in / width, pos.height * h_in / height)
    return float(np.clip(cell_pts * 0.24, 5.0, 12.0))


def _setup_grid_axes(ax: Axes, height: int, width: int, fs: float) -> None:
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)  # row 0 at the top
    ax.set_aspect("equal")
    ax.set_xticks(np.arange(width))
    ax.set_yticks(np.arange(height))
    ax.set_xticks(np.arange(-0.5, width, 1.0), minor=True)
    ax.set_yticks(np.arange(-0.5, height, 1.0), minor=True)
    ax.tick_params(labelsize=max(6.0, fs * 0.8), length=0)
    ax.tick_params(which="minor", length=0)
    ax.grid(which="minor", color="white", lw=1.0)
    ax.grid(which="major", visible=False)
    ax.set_xlabel("column")
    ax.set_ylabel("row")


def _draw_special_cells(
    ax: Axes,
    width: int,
    *,
    walls: set[int],
    goals: set[int],
    traps: set[int],
    cliff: set[int],
    start: set[int],
    fs: float,
    fill_terminals: bool,
) -> None:
    """Walls and cliff filled and hatched; goal, trap and start outlined."""
    for s in walls:
        r, c = divmod(s, width)
        ax.add_patch(
            Rectangle(
                (c - 0.5, r - 0.5),
                1,
                1,
                fc=_WALL,
                ec="#3a3a3a",
                hatch="///",
                lw=0.0,
                zorder=2,
            )
        )
    for s in cliff:
        r, c = divmod(s, width)
        ax.add_patch(
            Rectangle(
                (c - 0.5, r - 0.5),
                1,
                1,
                fc=_CLIFF,
                ec="#c98a6a",
                hatch="xx",
                lw=0.0,
                zorder=2,
            )
        )
    if cliff:
        # Label the cliff once, over its longest run of cells in one row.
        rows: dict[int, list[int]] = {}
        for s in cliff:
            rows.setdefault(s // width, []).append(s % width)
        r, cols = max(rows.items(), key=lambda kv: len(kv[1]))
        if len(cols) >= 3:
            ax.text(
                (min(cols) + max(cols)) / 2,
                r,
                "The Cliff",
                ha="center",
                va="center",
                color="white",
                fontsize=fs * 1.1,
                weight="bold",
                zorder=4,
                bbox={"fc": _CLIFF, "ec": "none", "pad": 1.5},
            )
    marks = [(goals, _GOAL, "G"), (traps, _TRAP, "T"), (start, _START, "S")]
    for cells, color, letter in marks:
        for s in cells:
            r, c = divmod(s, width)
            if fill_terminals and letter != "S":
                ax.add_patch(
                    Rectangle(
                        (c - 0.5, r - 0.5), 1, 1, fc=color, alpha=0.25, lw=0, zorder=1.5
                    )
                )
            ax.add_patch(
                Rectangle(
                    (c - 0.46, r - 0.46),
                    0.92,
                    0.92,
                    fc="none",
                    ec=color,
                    lw=2.0,
                    zorder=3,
                )
            )
            # Top-left over an empty cell; bottom-left under a value.
            dy, va = (0.4, "bottom") if fill_terminals is False else (-0.4, "top")
            ax.text(
                c - 0.4,
                r + dy,
                letter,
                ha="left",
                va=va,
                color=color,
                fontsize=fs * 0.9,
                weight="bold",
                zorder=4,
                bbox={"fc": "white", "ec": "none", "pad": 0.5, "alpha": 0.8},
            )


def _check_grid(values_len: int | None, height: int, width: int) -> None:
    if height < 1 or width < 1:
        raise ValueError(f"grid must be at least 1x1, got {height}x{width}")
    if values_len is not None and values_len != height * width:
        raise ValueError(
            f"expected height * width = {height * width} states, got {values_len}"
        )


def _text_color(rgba: Any) -> str:
    r, g, b = mcolors.to_rgb(rgba)
    luminance = 0.299 * r + 0.587 * g + 0.114 * b
    return "black" if luminance > 0.55 else "white"


def grid_values(
    ax: Axes,
    values: ArrayLike,
    height: int,
    width: int,
    *,
    walls: Iterable[Any] = (),
    goals: Iterable[Any] = (),
    traps: Iterable[Any] = (),
    cliff: Iterable[Any] = (),
    start: Any = None,
    policy: ArrayLike | None = None,
    annotate: bool = True,
    title: str | None = None,
    cmap: str | mcolors.Colormap | None = None,
    fmt: str = ".2f",
    colorbar: bool = True,
    value_label: str = "value",
) -> Axes:
    """Heatmap of state values on a ``height x width`` grid, with a policy.

    Walls are grey and hatched, cliff cells dark and cross-hatched (no value or
    arrow is drawn on either); goals (G, green), traps (T, red) and the start
    (S, blue) are outlined and lettered. Goals, traps and cliff cells are
    terminal: they get no arrow. Values with both signs use a diverging colour
    map centred on zero (red negative, blue positive); otherwise ``viridis``.
    NaN values (unvisited states) are light grey. Make the figure with
    ``figure(..., layout="compressed")`` so that the colour bar matches the
    grid's height.

    Args:
        ax: the axes to draw into.
        values: state values, shape ``[S]`` with ``S = height * width`` (or
            ``[height, width]``); ``s = row * width + col``, row 0 at the top.
        height: grid rows.
        width: grid columns.
        walls: wall cells, as state indices or ``(row, col)`` pairs.
        goals: goal cells.
        traps: trap cells (terminal with a bad reward).
        cliff: cliff cells.
        start: the start cell (an index or ``(row, col)``), or ``None``.
        policy: ``[S]`` integer actions (0 up, 1 right, 2 down, 3 left), or
            ``[S, 4]`` action values or probabilities, for which an arrow is
            drawn for every action tied at the maximum.
        annotate: write each value in its cell.
        title: axes title.
        cmap: colour map; default as described above.
        fmt: format spec of the values written, e.g. ``".1f"``.
        colorbar: draw a colour bar beside the grid.
        value_label: colour-bar label.

    Returns:
        ``ax``.
    """
    vals = np.asarray(values, dtype=np.float64)
    if vals.shape == (height, width):
        vals = vals.reshape(-1)
    if vals.ndim != 1:
        raise ValueError(f"values must have shape [S] or [H, W], got {vals.shape}")
    _check_grid(vals.shape[0], height, width)
    walls_s = _cells(walls, height, width)
    cliff_s = _cells(cliff, height, width)
    goals_s = _cells(goals, height, width)
    traps_s = _cells(traps, height, width)
    start_s = _cells(_as_cell_list(start), height, width)
    hidden = walls_s | cliff_s
    shown = np.array([s not in hidden for s in range(height * width)])
    finite = vals[shown & np.isfinite(vals)]
    if cmap is None:
        diverging = finite.size > 0 and finite.min() < 0 < finite.max()
        cmap = "RdBu" if diverging else "viridis"
    else:
        diverging = False
    cmap = (
        cmap if isinstance(cmap, mcolors.Colormap) else matplotlib.colormaps[cmap]
    ).with_extremes(bad="#e6e6e6")
    if diverging:
        norm: mcolors.Normalize = mcolors.CenteredNorm(vcenter=0.0)
    elif finite.size and finite.min() == finite.max():
        norm = mcolors.Normalize(finite.min() - 1.0, finite.max() + 1.0)
    else:
        norm = mcolors.Normalize()
    if finite.size:
        norm.autoscale_None(finite)
    masked = np.ma.masked_invalid(np.where(shown, vals, np.nan))
    im = ax.imshow(
        masked.reshape(height, width), cmap=cmap, norm=norm, interpolation="nearest"
    )
    fs = _cell_fontsize(ax, height, width)
    _setup_grid_axes(ax, height, width, fs)
    _draw_special_cells(
        ax,
        width,
        walls=walls_s,
        goals=goals_s,
        traps=traps_s,
        cliff=cliff_s,
        start=start_s,
        fs=fs,
        fill_terminals=False,
    )
    terminal = goals_s | traps_s | cliff_s
    arrows = _policy_arrows(policy, height, width, hidden | terminal)
    for s in range(height * width):
        if s in hidden:
            continue
        r, c = divmod(s, width)
        v = vals[s]
        color = _text_color(cmap(norm(v)) if np.isfinite(v) else "#e6e6e6")
        if annotate:
            y = r - 0.2 if s in arrows else r
            text = "nan" if np.isnan(v) else format(v, fmt)
            ax.text(
                c, y, text, ha="center", va="center", fontsize=fs, color=color, zorder=4
            )
        # One arrow spans the cell's lower part; tied actions radiate from it.
        cy, half = (r + 0.17, 0.22) if annotate else (r, 0.3)
        for a in arrows.get(s, ()):
            dr, dc = ACTION_DELTAS[a]
            back = 0.0 if len(arrows[s]) > 1 else half
            ax.annotate(
                "",
                xy=(c + half * dc, cy + half * dr),
                xytext=(c - back * dc, cy - back * dr),
                arrowprops={
                    "arrowstyle": "-|>",
                    "color": color,
                    "lw": 1.3,
                    "mutation_scale": fs * 1.1,
                    "shrinkA": 0,
                    "shrinkB": 0,
                },
                zorder=4,
            )
    if colorbar and finite.size:
        # Match the bar to the grid's height where the grid is width-limited.
        pos = ax.get_position()
        fig_w, fig_h = ax.figure.get_size_inches()
        box_aspect = (pos.height * fig_h) / max(pos.width * fig_w, 1e-9)
        shrink = float(np.clip((height / width) / box_aspect, 0.3, 1.0))
        cb = ax.figure.colorbar(im, ax=ax, shrink=shrink, pad=0.02, fraction=0.05)
        cb.set_label(value_label)
        cb.ax.tick_params(labelsize=max(6.0, fs * 0.8))
    if title:
        ax.set_title(title)
    return ax


def _policy_arrows(
    policy: ArrayLike | None, height: int, width: int, skip: set[int]
) -> dict[int, tuple[int, ...]]:
    """``{state: actions to draw}`` for a ``[S]`` or ``[S, 4]`` policy."""
    if policy is None:
        return {}
    pol = np.asarray(policy)
    n = height * width
    if pol.shape == (n,):
        if not np.issubdtype(pol.dtype, np.integer):
            if not np.all(pol == np.round(pol)):
                raise ValueError("a [S] policy must hold integer actions 0..3")
            pol = pol.astype(int)
        if np.any((pol < 0) | (pol > 3)):
            raise ValueError(
                "policy actions must be 0 (up), 1 (right), 2 (down) or 3 (left)"
            )
        return {s: (int(pol[s]),) for s in range(n) if s not in skip}
    if pol.shape == (n, 4):
        pol = pol.astype(np.float64)
        best = np.max(pol, axis=1, keepdims=True)
        tol = 1e-9 * np.maximum(1.0, np.abs(best))
        ties = pol >= best - tol
        return {
            s: tuple(int(a) for a in np.flatnonzero(ties[s]))
            for s in range(n)
            if s not in skip
        }
    raise ValueError(
        f"policy must have shape [S] = [{n}] (actions) or [S, 4] (action "
        f"values), got {pol.shape}"
    )


def grid_paths(
    ax: Axes,
    paths: Mapping[str, Sequence[int]],
    height: int,
    width: int,
    *,
    walls: Iterable[Any] = (),
    goals: Iterable[Any] = (),
    traps: Iterable[Any] = (),
    cliff: Iterable[Any] = (),
    start: Any = None,
    colors: Sequence[Any] | None = None,
    title: str | None = None,
    legend: bool = True,
) -> Axes:
    """State paths over a grid, one colour per path.

    For the cliff-walking comparison (Sutton & Barto 2018, Example 6.6):
    Q-learning's greedy path runs along the cliff edge, SARSA's safer path
    further away. Paths that share cells are drawn slightly offset so both
    stay visible; each starts with a dot and ends with an arrow head.

    Args:
        ax: the axes to draw into.
        paths: ``{label: [s_0, s_1, ...]}`` state indices in visiting order.
        height: grid rows.
        width: grid columns.
        walls: wall cells, as state indices or ``(row, col)`` pairs.
        goals: goal cells.
        traps: trap cells.
        cliff: cliff cells.
        start: the start cell, or ``None``.
        colors: one colour per path.
        title: axes title.
        legend: draw a legend of the paths.

    Returns:
        ``ax``.
    """
    _check_grid(None, height, width)
    ax.imshow(
        np.zeros((height, width)),
        cmap=mcolors.ListedColormap(["#f4f4f0"]),
        vmin=0,
        vmax=1,
    )
    fs = _cell_fontsize(ax, height, width)
    _setup_grid_axes(ax, height, width, fs)
    ax.grid(which="minor", color="#c8c8c8", lw=0.8)
    _draw_special_cells(
        ax,
        width,
        walls=_cells(walls, height, width),
        goals=_cells(goals, height, width),
        traps=_cells(traps, height, width),
        cliff=_cells(cliff, height, width),
        start=_cells(_as_cell_list(start), height, width),
        fs=fs,
        fill_terminals=True,
    )
    colors = list(colors) if colors is not None else palette(len(paths))
    n_paths = len(paths)
    for i, (name, path) in enumerate(paths.items()):
        states = np.asarray(list(path), dtype=int).reshape(-1)
        if states.size == 0:
            continue
        if np.any((states < 0) | (states >= height * width)):
            raise ValueError(
                f"path {name!r} has states outside 0..{height * width - 1}"
            )
        rows, cols = np.divmod(states, width)
        off = 0.14 * (i - (n_paths - 1) / 2) if n_paths > 1 else 0.0
        xs, ys = cols + off, rows + off
        ax.plot(
            xs,
            ys,
            "-",
            color=colors[i],
            lw=2.5,
            label=f"{name} ({states.size - 1} steps)",
            zorder=5,
            solid_capstyle="round",
            solid_joinstyle="round",
        )
        ax.plot(xs[0], ys[0], "o", color=colors[i], ms=7, zorder=6)
        if states.size > 1:
            ax.annotate(
                "",
                xy=(xs[-1], ys[-1]),
                xytext=(xs[-2], ys[-2]),
                arrowprops={
                    "arrowstyle": "-|>",
                    "color": colors[i],
                    "lw": 2.5,
                    "mutation_scale": 16,
                    "shrinkA": 0,
                    "shrinkB": 0,
                },
                zorder=6,
            )
    if legend and n_paths:
        ax.legend(
            loc="upper center",
            bbox_to_anchor=(0.5, -0.18 * max(1, 4 / height)),
            ncols=min(n_paths, 3),
            fontsize="small",
            frameon=False,
        )
    if title:
        ax.set_title(title)
    return ax
