"""Run folders: one directory per experiment that people and scripts read.

:func:`write_run` turns the metrics of many seeds (and hyperparameter settings)
into a folder:

```
out_dir/
  config.json    the resolved config, plus a "_run" block describing the files
  metrics.csv    long format: setting, seed, <x_name>, one column per metric
  metrics.npz    the full arrays, exact (what load_run reads)
  summary.json   per setting and metric: final-window and area-under-curve
                 statistics across seeds (and steps to a threshold, if asked)
  summary.csv    the same as one flat table
  curves.png     one panel per metric (headline results first, no panel for a
                 counter such as env_steps): mean across seeds with a 95% CI
                 band, and each seed when there are few
```

and :func:`load_run` reads it back. Shapes: ``[N, T]`` is one setting of ``N``
seeds by ``T`` iterations; ``[H, N, T]`` is a sweep over ``H`` settings.

Definitions used in the summary (per seed, then summarised across seeds with
:func:`jaxrl.stats.summarize`: n, mean, Student-t 95% CI, std, median, IQR, IQM):

- **final**: the mean over the last ``ceil(final_fraction * T)`` iterations
  (10% by default), the usual "final performance" that smooths the last
  episodes' noise; a seed with no value in that window (a metric reported
  only sometimes) counts with its last value. An evaluation (a metric named
  ``eval_*``, already a mean over evaluation episodes) is final as the last
  one taken.
- **auc**: the mean over all ``T`` iterations, i.e. the area under the curve
  divided by its length (in iterations): higher for learning that is faster as
  well as better.
- **solve** (only for metrics given in ``thresholds``): "steps to solve", the
  first x at which the seed's curve, averaged over a trailing window, reaches
  the threshold (:func:`jaxrl.stats.first_crossing`); seeds that never reach it
  are NaN, left out of the statistics and counted in ``n_unsolved``.

NaNs in the metrics count as missing (see :mod:`jaxrl.stats`). JSON files are
strict JSON: non-finite floats are written as ``null`` and read back as NaN.
"""

import csv
import dataclasses
import enum
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from jaxrl import stats

__all__ = [
    "Run",
    "RunSummary",
    "format_summary_table",
    "load_run",
    "summarize_metrics",
    "to_jsonable",
    "write_run",
]

FORMAT_VERSION = 1
MAX_CSV_ROWS = 2_000_000
_META_KEY = "_run"
_NAME_RE = re.compile(r"^[A-Za-z0-9_.:\-]+$")
_X_KEY = "__x__"
_STAT_KEYS = (
    "n",
    "mean",
    "ci_low",
    "ci_high",
    "std",
    "median",
    "iqr_low",
    "iqr_high",
    "iqm",
)


# --------------------------------------------------------------------------- #
# Results
# --------------------------------------------------------------------------- #


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """What :func:`write_run` wrote, with the summary table in memory.

    Attributes:
        out_dir: the run folder.
        files: ``{"config": path, "metrics_csv": ..., "metrics_npz": ...,
            "summary_json": ..., "summary_csv": ..., "curves": ...}``.
        x_name: name of the x axis ("episode", "step", ...).
        labels: one label per setting (a single one for ``[N, T]`` metrics).
        metric_names: the metrics, in the order given.
        final_iterations: iterations in the final window.
        csv_stride: every how many iterations ``metrics.csv`` holds (1: all).
        summary: the content of ``summary.json``.
        rows: one dict per (setting, metric), the rows of ``summary.csv``.
    """

    out_dir: Path
    files: dict[str, Path]
    x_name: str
    labels: tuple[str, ...]
    metric_names: tuple[str, ...]
    final_iterations: int
    csv_stride: int
    summary: dict[str, Any]
    rows: tuple[dict[str, Any], ...]

    def get(self, metric: str, setting: str | None = None) -> dict[str, Any]:
        """Summary of one metric for one setting (the only one by default).

        Returns:
            ``{"final": {...}, "auc": {...}}`` (and ``"solve"`` when a
            threshold was given), each a :func:`jaxrl.stats.summarize` dict.
        """
        if setting is None:
            if len(self.labels) != 1:
                raise ValueError(
                    f"this run has {len(self.labels)} settings; pass one of "
                    f"{list(self.labels)}"
                )
            setting = self.labels[0]
        settings = self.summary["settings"]
        if setting not in settings:
            raise KeyError(f"no setting {setting!r}; have {list(settings)}")
        if metric not in settings[setting]:
            raise KeyError(f"no metric {metric!r}; have {list(self.metric_names)}")
        return settings[setting][metric]

    def format_table(self, digits: int = 3) -> str:
        """The summary as a Markdown table, one row per setting and metric."""
        return format_summary_table(self.summary, digits=digits)

    def __str__(self) -> str:
        return f"run folder {self.out_dir}\n{self.format_table()}"


@dataclasses.dataclass(frozen=True)
class Run:
    """A run folder read back by :func:`load_run`.

    Attributes:
        out_dir: the run folder.
        config: the config as written, without the ``"_run"`` block.
        metrics: ``{name: array}`` in the shape given to :func:`write_run`
            (``[N, T]`` or ``[H, N, T]``); from ``metrics.csv`` only if the
            ``.npz`` is missing, and then at the CSV's stride.
        x: the x value of each iteration, shape ``[T]``.
        x_name: name of the x axis.
        labels: one label per setting.
        summary: the content of ``summary.json``.
        meta: the ``"_run"`` block of ``config.json``.
    """

    out_dir: Path
    config: dict[str, Any]
    metrics: dict[str, np.ndarray]
    x: np.ndarray
    x_name: str
    labels: tuple[str, ...]
    summary: dict[str, Any]
    meta: dict[str, Any]


# --------------------------------------------------------------------------- #
# JSON
# --------------------------------------------------------------------------- #


def to_jsonable(value: Any) -> Any:
    """Convert a config value to plain JSON types, recursively.

    Dicts (keys become strings), dataclasses and NamedTuples become objects;
    lists, tuples, sets and arrays (NumPy, JAX, anything with ``__array__``)
    become lists; NumPy scalars become Python numbers; non-finite floats
    become ``None``; paths, enums, types and functions become their names; any
    other object becomes ``str(value)``.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_jsonable(getattr(value, f.name))
            for f in dataclasses.fields(value)
        }
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return {k: to_jsonable(v) for k, v in value._asdict().items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [to_jsonable(v) for v in items]
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, np.ndarray) or hasattr(value, "__array__"):
        arr = np.asarray(value)
        if arr.dtype.kind in "biuf":
            return to_jsonable(arr.tolist())
        return to_jsonable(arr.astype(str).tolist())
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, type) or callable(value):
        module = getattr(value, "__module__", "")
        name = getattr(value, "__qualname__", None) or repr(value)
        return f"{module}.{name}" if module else name
    return str(value)


def _nulls_to_nan(value: Any) -> Any:
    """Inverse of the non-finite mapping for summary numbers: None -> nan."""
    if value is None:
        return math.nan
    if isinstance(value, dict):
        return {k: _nulls_to_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nulls_to_nan(v) for v in value]
    return value


def _dumps(obj: Any, level: int = 0) -> str:
    """Indented JSON with lists of numbers and strings kept on one line."""
    pad, inner = "  " * level, "  " * (level + 1)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [
            f"{inner}{json.dumps(k)}: {_dumps(v, level + 1)}" for k, v in obj.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list) and any(isinstance(v, dict | list) for v in obj):
        items = [inner + _dumps(v, level + 1) for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(obj, allow_nan=False)


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(_dumps(to_jsonable(obj)) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- #
# Checking input
# --------------------------------------------------------------------------- #


def _check_inputs(
    metrics: Mapping[str, ArrayLike],
    x_name: str,
    x: ArrayLike | None,
    labels: Sequence[str] | str | None,
    seeds: Sequence[int] | None,
) -> tuple[dict[str, np.ndarray], np.ndarray, list[str], bool, np.ndarray]:
    """Metrics as ``[H, N, T]`` arrays, x ``[T]``, labels, sweep flag, seeds."""
    if not isinstance(metrics, Mapping) or not metrics:
        raise ValueError("metrics must be a non-empty dict {name: array}")
    if not isinstance(x_name, str) or not _NAME_RE.match(x_name):
        raise ValueError(
            f"x_name must be a name of letters, digits and _ . : -, got {x_name!r}"
        )
    reserved = {"setting", "seed", x_name}
    arrays: dict[str, np.ndarray] = {}
    shape = None
    for name, value in metrics.items():
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise ValueError(
                f"metric name {name!r} must be letters, digits and _ . : - only"
            )
        if name in reserved:
            raise ValueError(
                f"metric name {name!r} clashes with a CSV column "
                f"(setting, seed, {x_name})"
            )
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"metric {name!r} is not numeric (dtype {arr.dtype})")
        if arr.ndim not in (2, 3):
            raise ValueError(
                f"metric {name!r} has shape {arr.shape}; expected [N_seeds, T] or "
                f"[H_settings, N_seeds, T]"
            )
        if shape is None:
            shape = arr.shape
        elif arr.shape != shape:
            raise ValueError(
                f"all metrics must have one shape; {name!r} has {arr.shape}, "
                f"others {shape}"
            )
        arrays[name] = arr
    assert shape is not None
    sweep = len(shape) == 3
    n_set, n_seed, t_len = shape if sweep else (1, *shape)
    if n_seed < 1 or t_len < 1:
        raise ValueError(f"metrics need at least one seed and iteration: {shape}")
    arrays = {k: v if sweep else v[None] for k, v in arrays.items()}

    if isinstance(labels, str):
        labels = [labels]
    if labels is None:
        labels = [f"setting_{h}" for h in range(n_set)] if sweep else ["run"]
    labels = [str(lab) for lab in labels]
    if len(labels) != n_set:
        raise ValueError(f"got {len(labels)} labels for {n_set} settings")
    if len(set(labels)) != len(labels):
        raise ValueError(f"labels must be distinct, got {labels}")

    if x is None:
        xs = np.arange(1, t_len + 1)
    else:
        xs = np.asarray(x).reshape(-1)
        if xs.shape != (t_len,) or xs.dtype.kind not in "iuf":
            raise ValueError(
                f"x must be numeric with shape [T] = [{t_len}], got {np.shape(x)}"
            )
    if seeds is None:
        seed_ids = np.arange(n_seed)
    else:
        seed_ids = np.asarray(seeds).reshape(-1)
        if seed_ids.shape != (n_seed,) or seed_ids.dtype.kind not in "iu":
            raise ValueError(
                f"seeds must be {n_seed} integers (one per seed), got {np.shape(seeds)}"
            )
    return arrays, xs, labels, sweep, seed_ids


# --------------------------------------------------------------------------- #
# Summary
# --------------------------------------------------------------------------- #


def _final_iterations(t_len: int, final_fraction: float) -> int:
    if not 0.0 < final_fraction <= 1.0:
        raise ValueError(f"final_fraction must lie in (0, 1], got {final_fraction}")
    return max(1, min(t_len, math.ceil(final_fraction * t_len - 1e-9)))


def summarize_metrics(
    metrics: Mapping[str, ArrayLike],
    *,
    x: ArrayLike | None = None,
    x_name: str = "episode",
    labels: Sequence[str] | str | None = None,
    final_fraction: float = 0.1,
    thresholds: Mapping[str, float] | None = None,
    threshold_window: int = 1,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """The summary :func:`write_run` writes, computed without writing anything.

    Args:
        metrics: ``{name: [N, T] or [H, N, T]}``, as for :func:`write_run`.
        x: x value per iteration, shape ``[T]``; default ``1, ..., T``.
        x_name: name of the x axis.
        labels: one label per setting.
        final_fraction: fraction of iterations in the final window.
        thresholds: ``{metric: threshold}`` for which to report the x at which
            each seed's curve first reaches the threshold: a number (reached
            when ``>=``) or ``("<=", number)`` for lower-is-better metrics
            (episode length, loss).
        threshold_window: trailing moving-average window (in iterations)
            applied to each seed's curve before looking for the crossing.
        confidence: coverage of the Student-t intervals.

    Returns:
        ``{"x_name", "confidence", "final_window": {...}, "settings":
        {label: {metric: {"final": stats, "auc": stats[, "solve": ...]}}}}``
        with stats as from :func:`jaxrl.stats.summarize`; ``"solve"`` adds
        ``threshold``, ``op``, ``window``, ``n_unsolved`` and ``per_seed``
        (each seed's crossing x, ``None`` where it never crossed) to the
        statistics of the crossing x over the seeds that reached the
        threshold.
    """
    arrays, xs, labels, _, _ = _check_inputs(metrics, x_name, x, labels, None)
    t_len = xs.shape[0]
    w = _final_iterations(t_len, final_fraction)
    thresholds = dict(thresholds or {})
    unknown = set(thresholds) - set(arrays)
    if unknown:
        raise ValueError(f"thresholds name unknown metrics {sorted(unknown)}")
    if threshold_window < 1:
        raise ValueError(f"threshold_window must be >= 1, got {threshold_window}")
    settings: dict[str, Any] = {}
    for h, label in enumerate(labels):
        per_metric: dict[str, Any] = {}
        for name, arr in arrays.items():
            curves = arr[h].astype(np.float64)  # [N, T]
            with np.errstate(all="ignore"):
                final = _final_values(curves, 1 if name.startswith("eval_") else w)
                auc = _nanmean_last(curves, t_len)
            entry = {
                "final": stats.summarize(final, confidence=confidence),
                "auc": stats.summarize(auc, confidence=confidence),
            }
            if name in thresholds:
                op, thr = _parse_threshold(name, thresholds[name])
                smoothed = stats.trailing_mean(curves, threshold_window)
                cross = stats.first_crossing(smoothed, thr, xs, above=op == ">=")
                entry["solve"] = {
                    "threshold": thr,
                    "op": op,
                    "window": int(threshold_window),
                    "n_unsolved": int(np.sum(np.isnan(cross))),
                    "per_seed": [None if np.isnan(c) else c.item() for c in cross],
                    **stats.summarize(cross, confidence=confidence),
                }
            per_metric[name] = entry
        settings[label] = per_metric
    return {
        "format_version": FORMAT_VERSION,
        "x_name": x_name,
        "confidence": confidence,
        "final_window": {
            "fraction": final_fraction,
            "iterations": w,
            "x_first": xs[t_len - w].item(),
            "x_last": xs[-1].item(),
        },
        "settings": settings,
    }


def _parse_threshold(name: str, spec: Any) -> tuple[str, float]:
    """``0.9`` -> (">=", 0.9); ``("<=", 20)`` -> ("<=", 20.0)."""
    if isinstance(spec, tuple | list) and len(spec) == 2 and spec[0] in (">=", "<="):
        return spec[0], float(spec[1])
    try:
        return ">=", float(spec)
    except (TypeError, ValueError):
        raise ValueError(
            f"thresholds[{name!r}] must be a number (reached when >=) or "
            f'(">=" or "<=", number), got {spec!r}'
        ) from None


def _final_values(curves: np.ndarray, w: int) -> np.ndarray:
    """Per-row final value ([N, T] -> [N]): the mean of the last ``w`` columns,
    or, for a row with no value there (a metric reported only sometimes, such
    as an evaluation every k iterations), its last value; NaN only for a row
    with no value at all."""
    final = _nanmean_last(curves, w)
    valid = ~np.isnan(curves)
    last = curves.shape[1] - 1 - np.argmax(valid[:, ::-1], axis=1)
    fallback = np.where(valid.any(axis=1), curves[np.arange(len(curves)), last], np.nan)
    return np.where(np.isnan(final), fallback, final)


def _nanmean_last(curves: np.ndarray, w: int) -> np.ndarray:
    """Per-row mean of the last ``w`` columns, skipping NaNs ([N, T] -> [N])."""
    tail = curves[:, -w:]
    n = np.sum(~np.isnan(tail), axis=1)
    total = np.nansum(tail, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total / n, np.nan)


def _summary_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Flatten summary.json to one row per (setting, metric).

    Columns: setting, metric, n (seeds with a final value), ``final_<stat>``,
    ``auc_<stat>`` and, where asked, ``solve_<stat>`` (its ``n`` counts the
    seeds that reached the threshold).
    """
    rows = []
    for label, per_metric in summary["settings"].items():
        for name, entry in per_metric.items():
            row: dict[str, Any] = {
                "setting": label,
                "metric": name,
                "n": entry["final"]["n"],
            }
            for part in ("final", "auc"):
                row.update(
                    {f"{part}_{k}": v for k, v in entry[part].items() if k != "n"}
                )
            if "solve" in entry:
                row.update({f"solve_{k}": v for k, v in entry["solve"].items()})
            rows.append(row)
    return rows


def format_summary_table(summary: Mapping[str, Any], digits: int = 3) -> str:
    """A Markdown table of final and AUC statistics from a summary dict; a
    metric without a single value (``eval_return`` with evaluation off) is
    named under the table instead of a row of NaNs."""

    def f(v: Any) -> str:
        if v is None or (isinstance(v, float) and not math.isfinite(v)):
            return "nan"
        return f"{v:.{digits}g}"

    pct = round(100 * summary.get("confidence", 0.95))
    w = summary["final_window"]["iterations"]
    x_name = summary.get("x_name", "x")
    has_solve = any(
        "solve" in e for pm in summary["settings"].values() for e in pm.values()
    )
    cols = [
        "setting",
        "metric",
        "n",
        f"final mean [{pct}% CI] (last {w})",
        "final median [IQR]",
        f"AUC mean [{pct}% CI]",
    ]
    if has_solve:
        cols.append(f"{x_name} to threshold: median [IQR] (unsolved)")
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    empty: list[str] = []  # metrics without a single value (evaluation off)
    several = len(summary["settings"]) > 1
    for label, per_metric in summary["settings"].items():
        for name, e in per_metric.items():
            fin, auc = e["final"], e["auc"]
            if fin["n"] == 0 and auc["n"] == 0:
                empty.append(f"{name} ({label})" if several else name)
                continue
            cells = [
                label,
                name,
                str(fin["n"]),
                f"{f(fin['mean'])} [{f(fin['ci_low'])}, {f(fin['ci_high'])}]",
                f"{f(fin['median'])} [{f(fin['iqr_low'])}, {f(fin['iqr_high'])}]",
                f"{f(auc['mean'])} [{f(auc['ci_low'])}, {f(auc['ci_high'])}]",
            ]
            if has_solve:
                sv = e.get("solve")
                if sv is None:
                    cells.append("")
                elif sv["n"] == 0:
                    cells.append(f"never ({sv['n_unsolved']})")
                else:
                    cells.append(
                        f"{f(sv['median'])} [{f(sv['iqr_low'])}, "
                        f"{f(sv['iqr_high'])}] ({sv['n_unsolved']})"
                    )
            lines.append("| " + " | ".join(cells) + " |")
    if empty:
        lines += ["", f"No values, not shown: {', '.join(empty)}."]
    return "\n".join(lines)


# --------------------------------------------------------------------------- #
# Writing
# --------------------------------------------------------------------------- #


def _csv_indices(n_rows_per_iter: int, t_len: int, max_rows: int) -> np.ndarray:
    """Every k-th iteration, ending at the last, so rows stay under max_rows."""
    k = max(1, math.ceil(n_rows_per_iter * t_len / max_rows))
    return np.arange(t_len - 1, -1, -k)[::-1]


def _as_strings(arr: np.ndarray) -> list[str]:
    """Shortest strings that read back to the same values (NumPy's repr)."""
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    return arr.astype(str).tolist()


def _write_metrics_csv(
    path: Path,
    arrays: Mapping[str, np.ndarray],
    xs: np.ndarray,
    x_name: str,
    labels: Sequence[str],
    seed_ids: np.ndarray,
    idx: np.ndarray,
) -> int:
    """Write the long-format CSV; return the number of data rows."""
    n_seed = next(iter(arrays.values())).shape[1]
    x_strs = _as_strings(xs[idx])
    seed_strs = _as_strings(seed_ids)
    rows = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["setting", "seed", x_name, *arrays])
        for h, label in enumerate(labels):
            for n in range(n_seed):
                cols = [_as_strings(arr[h, n, idx]) for arr in arrays.values()]
                writer.writerows(
                    [label, seed_strs[n], xv, *vals]
                    for xv, *vals in zip(x_strs, *cols, strict=True)
                )
                rows += len(x_strs)
    return rows


def _write_summary_csv(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]

    def cell(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, float):
            return "nan" if math.isnan(v) else f"{v:.6g}"
        return str(v)

    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([cell(row.get(c)) for c in columns])


# Axis labels with units for the usual x names.
_X_LABELS = {
    "step": "env steps",
    "env_steps": "env steps",
    "episode": "episodes",
    "iteration": "iterations",
}


def curves_figure(
    arrays: Mapping[str, np.ndarray],
    xs: np.ndarray,
    x_name: str,
    labels: Sequence[str],
    *,
    show_legend: bool = False,
    title: str | None = None,
    smooth: int = 1,
) -> Any:
    """The figure of ``curves.png``: one panel per metric (``[H, N, T]``
    arrays), headline results first (:func:`~jaxrl.results.plots.panel_order`),
    no panel for a counter (a metric that is the x axis again, such as
    ``env_steps``), x labelled with its unit."""
    from jaxrl.results import plots

    shown = plots.panel_order(arrays) or list(arrays)
    fig, axes = plots.panel_grid(len(shown), ncols=3, panel_size=(5.0, 3.6))
    for ax, name in zip(axes, shown, strict=True):
        plots.learning_curves(
            ax,
            xs,
            arrays[name],
            list(labels) if show_legend else None,
            xlabel=_X_LABELS.get(x_name, x_name),
            ylabel=name,
            title=name,
            smooth=smooth,
        )
    if title:
        fig.suptitle(title)
    return fig


def _default_title(config: Mapping[str, Any]) -> str | None:
    algo, env = config.get("algorithm"), config.get("env")
    if isinstance(algo, str) and isinstance(env, str):
        return f"{algo} on {env}"
    return algo if isinstance(algo, str) else None


def write_run(
    out_dir: str | Path,
    *,
    config: Mapping[str, Any],
    metrics: Mapping[str, ArrayLike],
    x_name: str = "episode",
    x: ArrayLike | None = None,
    labels: Sequence[str] | str | None = None,
    seeds: Sequence[int] | None = None,
    final_fraction: float = 0.1,
    thresholds: Mapping[str, float] | None = None,
    threshold_window: int = 1,
    smooth: int = 1,
    plot: bool = True,
    title: str | None = None,
    max_csv_rows: int = MAX_CSV_ROWS,
) -> RunSummary:
    """Write a run folder: config, metrics (CSV and NPZ), summary, curves.

    Files in ``out_dir`` (created if needed) with these names are overwritten.

    Args:
        out_dir: the run folder.
        config: the resolved config (algorithm, env, seeds, hyperparameters,
            ...), written to ``config.json`` with a ``"_run"`` block added that
            describes the files; values are converted by :func:`to_jsonable`.
        metrics: ``{name: array}``, each ``[N_seeds, T]`` or, for a sweep,
            ``[H_settings, N_seeds, T]``; all the same shape. Names use letters,
            digits and ``_ . : -``.
        x_name: name of the x axis and of its CSV column.
        x: x value per iteration, shape ``[T]`` (env steps, ...); default
            ``1, ..., T`` (iteration ``i`` is the ``i + 1``-th).
        labels: one string per setting, e.g. ``"alpha=0.1"``; default
            ``setting_0, ...`` for a sweep and ``"run"`` for ``[N, T]``.
        seeds: the seed of each of the ``N`` seeds, for the CSV's seed column;
            default ``0, ..., N - 1``.
        final_fraction: fraction of the iterations in the final window.
        thresholds: ``{metric: threshold}`` for a steps-to-solve summary: a
            number (reached when ``>=``) or ``("<=", number)``.
        threshold_window: trailing average window for the threshold crossing.
        smooth: trailing moving-average window of the plotted curves only.
        plot: write ``curves.png``.
        title: figure title; default ``"<algorithm> on <env>"`` from config.
        max_csv_rows: above this many rows (``H * N * T``) ``metrics.csv`` holds
            every k-th iteration only, ending at the last; ``k`` is recorded as
            ``_run.csv_stride`` in ``config.json``. ``metrics.npz`` is complete.

    Returns:
        A :class:`RunSummary`.
    """
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a dict, got {type(config).__name__}")
    if _META_KEY in config:
        raise ValueError(f"config must not have a {_META_KEY!r} key (reserved)")
    if max_csv_rows < 1:
        raise ValueError(f"max_csv_rows must be positive, got {max_csv_rows}")
    arrays, xs, labels, sweep, seed_ids = _check_inputs(
        metrics, x_name, x, labels, seeds
    )
    n_set, n_seed, t_len = next(iter(arrays.values())).shape
    summary = summarize_metrics(
        {k: v if sweep else v[0] for k, v in arrays.items()},
        x=xs,
        x_name=x_name,
        labels=labels,
        final_fraction=final_fraction,
        thresholds=thresholds,
        threshold_window=threshold_window,
    )
    rows = _summary_rows(summary)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "config": out / "config.json",
        "metrics_csv": out / "metrics.csv",
        "metrics_npz": out / "metrics.npz",
        "summary_json": out / "summary.json",
        "summary_csv": out / "summary.csv",
    }
    idx = _csv_indices(n_set * n_seed, t_len, max_csv_rows)
    csv_stride = int(idx[1] - idx[0]) if idx.size > 1 else t_len
    csv_rows = _write_metrics_csv(
        files["metrics_csv"], arrays, xs, x_name, labels, seed_ids, idx
    )
    np.savez_compressed(
        files["metrics_npz"],
        **{_X_KEY: xs},
        **{k: v if sweep else v[0] for k, v in arrays.items()},
    )
    _write_json(files["summary_json"], summary)
    _write_summary_csv(files["summary_csv"], rows)
    if plot:
        from jaxrl.results import plots

        files["curves"] = out / "curves.png"
        fig = curves_figure(
            arrays,
            xs,
            x_name,
            labels,
            show_legend=sweep or n_set > 1,
            title=title if title is not None else _default_title(config),
            smooth=smooth,
        )
        plots.save(fig, files["curves"])
    else:
        (out / "curves.png").unlink(missing_ok=True)
    meta = {
        "format_version": FORMAT_VERSION,
        "x_name": x_name,
        "metrics": list(arrays),
        "shape": [n_set, n_seed, t_len] if sweep else [n_seed, t_len],
        "sweep": sweep,
        "labels": labels,
        "seeds": seed_ids,
        "final_fraction": final_fraction,
        "final_iterations": summary["final_window"]["iterations"],
        "csv_stride": csv_stride,
        "csv_rows": csv_rows,
        "files": {k: p.name for k, p in files.items()},
    }
    _write_json(files["config"], {**config, _META_KEY: meta})
    return RunSummary(
        out_dir=out,
        files=files,
        x_name=x_name,
        labels=tuple(labels),
        metric_names=tuple(arrays),
        final_iterations=summary["final_window"]["iterations"],
        csv_stride=csv_stride,
        summary=_nulls_to_nan(to_jsonable(summary)),
        rows=tuple(_nulls_to_nan(to_jsonable(r)) for r in rows),
    )


# --------------------------------------------------------------------------- #
# Reading
# --------------------------------------------------------------------------- #


def _read_metrics_csv(
    path: Path, meta: Mapping[str, Any]
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Rebuild ``[H, N, T']`` arrays from the long-format CSV."""
    x_name = meta["x_name"]
    names = list(meta["metrics"])
    labels = list(meta["labels"])
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        expected = ["setting", "seed", x_name, *names]
        if header != expected:
            raise ValueError(f"{path}: header {header} is not {expected}")
        data = list(reader)
    shape = meta["shape"] if meta["sweep"] else [1, *meta["shape"]]
    n_set, n_seed = shape[0], shape[1]
    if len(data) % (n_set * n_seed):
        raise ValueError(f"{path}: {len(data)} rows do not fill {n_set}x{n_seed}")
    t_csv = len(data) // (n_set * n_seed)
    label_idx = {lab: h for h, lab in enumerate(labels)}
    seed_idx = {str(s): n for n, s in enumerate(meta["seeds"])}
    out = {k: np.full((n_set, n_seed, t_csv), np.nan) for k in names}
    xs = np.full(t_csv, np.nan)
    counters: dict[tuple[int, int], int] = {}
    for row in data:
        h, n = label_idx[row[0]], seed_idx[row[1]]
        t = counters.get((h, n), 0)
        counters[(h, n)] = t + 1
        xs[t] = float(row[2])
        for k, v in zip(names, row[3:], strict=True):
            out[k][h, n, t] = float(v)
    return out, xs


def load_run(out_dir: str | Path) -> Run:
    """Read a run folder written by :func:`write_run`.

    Args:
        out_dir: the run folder.

    Returns:
        A :class:`Run`: config, metrics in their original shape, x, labels,
        summary. Metrics come from ``metrics.npz`` (exact); if it is missing,
        from ``metrics.csv`` (as float64, at the CSV's stride).
    """
    out = Path(out_dir)
    cfg_path = out / "config.json"
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{out} is not a run folder: no config.json")
    config = json.loads(cfg_path.read_text(encoding="utf-8"))
    meta = config.pop(_META_KEY, None)
    if not isinstance(meta, dict) or "metrics" not in meta:
        raise ValueError(f"{cfg_path} has no {_META_KEY!r} block from write_run")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(
            f"{out} was written by a newer jaxrl (format "
            f"{meta['format_version']} > {FORMAT_VERSION})"
        )
    npz_path = out / "metrics.npz"
    if npz_path.is_file():
        with np.load(npz_path) as data:
            xs = data[_X_KEY]
            metrics = {k: data[k] for k in meta["metrics"]}
    else:
        arrays, xs = _read_metrics_csv(out / "metrics.csv", meta)
        metrics = {k: v if meta["sweep"] else v[0] for k, v in arrays.items()}
    summary_path = out / "summary.json"
    summary = (
        _nulls_to_nan(json.loads(summary_path.read_text(encoding="utf-8")))
        if summary_path.is_file()
        else {}
    )
    return Run(
        out_dir=out,
        config=config,
        metrics=metrics,
        x=xs,
        x_name=meta["x_name"],
        labels=tuple(meta["labels"]),
        summary=summary,
        meta=meta,
    )
