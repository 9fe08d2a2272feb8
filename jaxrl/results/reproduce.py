"""Bit-for-bit comparison of two run folders, for ``jaxrl reproduce``.

``jaxrl reproduce RUN_DIR --out NEW`` trains again from ``RUN_DIR``'s
recorded command (``run_args.json``) into ``NEW`` and compares the two with
:func:`compare_metrics`: every metric array of ``metrics.npz`` (and the x
axis) must have the same dtype, shape and bits (NaN payloads included), and
``metrics.csv`` the same bytes. A difference is reported with where it first
appears: the iteration (1-based, and its x value), the setting and the seed,
the two values, and the largest absolute difference over the metric.
"""

import csv
import dataclasses
import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jaxrl.results.run import Run

__all__ = ["Difference", "compare_csv", "compare_metrics", "format_differences"]


@dataclasses.dataclass(frozen=True)
class Difference:
    """One metric that differs between the original run and the new one.

    Attributes:
        metric: the metric's name (``"x axis"`` for the x values, ``"csv"``
            for ``metrics.csv``).
        what: ``"values"``, ``"missing"``, ``"shape"`` or ``"dtype"``.
        detail: a sentence saying how it differs and where.
        count: how many elements differ (0 when not comparable).
        iteration: the first iteration (1-based) at which it differs.
        setting: that element's setting label (``None`` for one setting).
        seed: that element's seed.
        original: the original value there.
        new: the new value there.
        max_abs_diff: the largest ``|original - new|`` over the metric.
    """

    metric: str
    what: str
    detail: str
    count: int = 0
    iteration: int | None = None
    setting: str | None = None
    seed: int | None = None
    original: float | None = None
    new: float | None = None
    max_abs_diff: float | None = None


def _bits(arr: np.ndarray) -> np.ndarray:
    """The array's elements as unsigned integers of the same width (so NaNs
    with one payload compare equal and -0.0 differs from 0.0)."""
    arr = np.ascontiguousarray(arr)
    if arr.dtype == bool:
        return arr.view(np.uint8)
    return arr.view(np.dtype(f"u{arr.dtype.itemsize}"))


def _where(run: Run, index: tuple[int, ...]) -> tuple[str | None, int | None, int]:
    """Setting label, seed id and 1-based iteration of a metric index."""
    seeds = list(run.meta.get("seeds", []))
    sweep = bool(run.meta.get("sweep"))
    if sweep:
        h, n, t = index
        setting = run.labels[h] if h < len(run.labels) else str(h)
    else:
        (n, t), setting = index, None
    seed = int(seeds[n]) if n < len(seeds) else n
    return setting, seed, t + 1


def _one(name: str, a: np.ndarray, b: np.ndarray, original: Run) -> Difference | None:
    if a.shape != b.shape:
        return Difference(name, "shape", f"shape {a.shape} then, {b.shape} now")
    if a.dtype != b.dtype:
        return Difference(name, "dtype", f"dtype {a.dtype} then, {b.dtype} now")
    bad = _bits(a) != _bits(b)
    if not bad.any():
        return None
    count = int(bad.sum())
    if a.ndim == 1:  # the x axis
        t = int(np.argmax(bad))
        index: tuple[int, ...] = (t,)
        setting, seed, iteration = None, None, t + 1
    else:
        # First by iteration, then by setting and seed.
        t = int(np.argmax(bad.reshape(-1, bad.shape[-1]).any(axis=0)))
        index = (*(int(i) for i in np.argwhere(bad[..., t])[0]), t)
        setting, seed, iteration = _where(original, index)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
    finite = diff[np.isfinite(diff)]
    max_abs = float(finite.max()) if finite.size else math.inf
    va, vb = float(a[index]), float(b[index])
    x = original.x[t] if t < len(original.x) else None
    where = f"iteration {iteration}"
    if x is not None and a.ndim > 1:
        where += f" ({original.x_name} {x})"
    if setting is not None:
        where += f", setting {setting!r}"
    if seed is not None:
        where += f", seed {seed}"
    detail = (
        f"{count} of {a.size} values differ; first at {where}: {va!r} then, "
        f"{vb!r} now; largest |difference| {max_abs:.6g}"
    )
    return Difference(
        name, "values", detail, count, iteration, setting, seed, va, vb, max_abs
    )


def compare_metrics(original: Run, new: Run) -> list[Difference]:
    """Every metric (and the x axis) that is not the same bits in both runs,
    in the original's metric order, then the metrics only the new run has."""
    out = []
    x = _one("x axis", np.asarray(original.x), np.asarray(new.x), original)
    if x is not None:
        out.append(x)
    for name in [
        *original.metrics,
        *(k for k in new.metrics if k not in original.metrics),
    ]:
        if name not in new.metrics:
            out.append(Difference(name, "missing", "in the original run only"))
        elif name not in original.metrics:
            out.append(Difference(name, "missing", "in the new run only"))
        else:
            diff = _one(
                name,
                np.asarray(original.metrics[name]),
                np.asarray(new.metrics[name]),
                original,
            )
            if diff is not None:
                out.append(diff)
    return out


def compare_csv(original: Path, new: Path) -> Difference | None:
    """``metrics.csv`` of two runs, byte for byte; a difference names the
    first line that differs (its setting, seed, x and columns)."""
    try:
        a, b = original.read_bytes(), new.read_bytes()
    except OSError as e:
        return Difference("csv", "missing", f"cannot read metrics.csv: {e}")
    if a == b:
        return None
    lines_a = a.decode("utf-8", "replace").splitlines()
    lines_b = b.decode("utf-8", "replace").splitlines()
    pairs = zip(lines_a, lines_b, strict=False)
    i = next((i for i, (la, lb) in enumerate(pairs) if la != lb), None)
    if i is None:
        i = min(len(lines_a), len(lines_b))
        return Difference(
            "csv",
            "shape",
            f"metrics.csv has {len(lines_a)} lines then, {len(lines_b)} now "
            f"(alike up to line {i})",
        )
    header = next(csv.reader([lines_a[0]]))
    row_a = next(csv.reader(io.StringIO(lines_a[i])), [])
    row_b = next(csv.reader(io.StringIO(lines_b[i])), [])
    if i == 0:
        return Difference(
            "csv", "values", f"metrics.csv header {row_a} then, {row_b} now"
        )
    cols = [
        f"{h} {va} then, {vb} now"
        for h, va, vb in zip(header, row_a, row_b, strict=False)
        if va != vb
    ]
    key = ", ".join(f"{h} {v}" for h, v in zip(header[:3], row_a[:3], strict=False))
    return Difference(
        "csv",
        "values",
        f"metrics.csv line {i + 1} ({key}) differs: {'; '.join(cols)}",
    )


def format_differences(differences: Sequence[Difference]) -> str:
    """One line per difference: ``metric: detail``."""
    return "\n".join(f"  {d.metric}: {d.detail}" for d in differences)
