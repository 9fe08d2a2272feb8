"""Compare runs: several algorithms over several environments, with the
statistics of Agarwal et al. (2021) (:mod:`jaxrl.stats.aggregate`).

Each run folder (``jaxrl train`` writes them) is one algorithm on one env
with its seeds; folders of the same algorithm and env add their seeds
together. A run is named by its algorithm, or by ``NAME=DIR``. Each seed's
**final score** is its metric's mean over the last ``final_fraction`` of its
iterations. For the aggregates the scores of each env are min-max
normalised over every run of every algorithm on it (0: the lowest final
score seen on that env, 1: the highest), since envs' returns are on
different scales and no reference scores are given (with ``--normalize
none`` they are left raw: for runs on one env, or already normalised
metrics). For Atari games ``--normalize human`` uses the standard reference
scores instead (0: the random policy, 1: the human tester; see
:mod:`jaxrl.stats.atari`), so aggregates compare across papers.

:func:`compare` writes ``OUT/scores.csv`` (tidy, long format: name,
algorithm, env, seed, iteration, x, value), ``OUT/final_scores.csv``,
``OUT/curves.png`` (a panel per env: mean and 95% CI band per name),
``OUT/aggregates.png`` (IQM, mean, median, optimality gap with 95%
stratified-bootstrap intervals), ``OUT/profiles.png`` (performance profiles
with bands), ``OUT/improvement.png`` (the probability that the row's name
beats the column's), and the aggregates as ``OUT/aggregates.md`` and
``OUT/aggregates.tex``.
"""

import csv
import dataclasses
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jaxrl import stats
from jaxrl.results import plots
from jaxrl.results.run import load_run

__all__ = ["CompareError", "Group", "compare", "load_groups"]

AGGREGATE_NAMES = ("iqm", "mean", "median", "optimality_gap")
NORMALIZATIONS = ("minmax", "human", "none")


class CompareError(ValueError):
    """Run folders that cannot be compared; the message says why."""


@dataclasses.dataclass
class Group:
    """The seeds of one name on one env: ``curves [seeds, T]`` over ``x [T]``."""

    name: str
    algorithm: str
    env: str
    x: np.ndarray
    x_name: str
    curves: np.ndarray
    folders: list[Path]
    final: np.ndarray | None = None  # each seed's final score


def _spec(item: str) -> tuple[str | None, Path]:
    name, sep, path = item.partition("=")
    if sep and name and not Path(item).exists():
        return name, Path(path)
    return None, Path(item)


def load_groups(items: Sequence[str], metric: str = "return") -> list[Group]:
    """Read run folders (``DIR`` or ``NAME=DIR``) into groups by (name, env).

    Raises:
        CompareError: a folder that is no run folder, a sweep, a missing
            metric, or folders of one name and env whose x axes differ.
    """
    groups: dict[tuple[str, str], Group] = {}
    for item in items:
        name, folder = _spec(item)
        try:
            run = load_run(folder)
        except (FileNotFoundError, ValueError) as e:
            raise CompareError(f"{folder}: {e}") from None
        if run.config.get("sweep"):
            raise CompareError(
                f"{folder} is a sweep; compare takes runs of one setting each"
            )
        if metric not in run.metrics:
            raise CompareError(
                f"{folder} has no metric {metric!r}; it has: "
                f"{', '.join(sorted(run.metrics))}"
            )
        algorithm, env = str(run.config["algorithm"]), str(run.config["env"])
        name = name or algorithm
        curves = np.asarray(run.metrics[metric], np.float64)
        if curves.ndim != 2:
            raise CompareError(
                f"{folder}: {metric!r} has shape {curves.shape}, not [seeds, T]"
            )
        x = np.asarray(run.x)
        key = (name, env)
        if key not in groups:
            groups[key] = Group(name, algorithm, env, x, run.x_name, curves, [folder])
            continue
        g = groups[key]
        if g.algorithm != algorithm:
            raise CompareError(
                f"{folder} runs {algorithm} and {g.folders[0]} runs {g.algorithm}, "
                f"both named {name!r} on {env}: name them apart with NAME=DIR"
            )
        if g.x.shape != x.shape or not np.array_equal(g.x, x):
            raise CompareError(
                f"{folder} and {g.folders[0]} ({name!r} on {env}) log {metric!r} "
                f"at different {run.x_name} values: they are not seeds of one run"
            )
        g.curves = np.concatenate([g.curves, curves], axis=0)
        g.folders.append(folder)
    return list(groups.values())


def _final(curves: np.ndarray, final_fraction: float) -> np.ndarray:
    """Each seed's mean over its last ``final_fraction`` of iterations (NaNs,
    iterations without a finished episode, skipped)."""
    t = curves.shape[1]
    w = max(1, int(round(final_fraction * t)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN seed
        return np.nanmean(curves[:, t - w :], axis=1)


def _score_matrices(groups, names, envs, normalize: str):
    """``{name: [runs, envs]}`` (NaN-padded), normalised per env."""
    finals = {(g.name, g.env): g.final for g in groups}
    if normalize == "human":
        for (n, env), f in finals.items():
            finals[(n, env)] = stats.atari_human_normalized(f, env)
    if normalize == "minmax":
        for env in envs:
            values = np.concatenate([finals[(n, env)] for n in names])
            lo, hi = np.nanmin(values), np.nanmax(values)
            span = hi - lo if hi > lo else 1.0
            for n in names:
                finals[(n, env)] = (finals[(n, env)] - lo) / span
    runs = max(len(v) for v in finals.values())
    out = {}
    for n in names:
        m = np.full((runs, len(envs)), np.nan)
        for j, env in enumerate(envs):
            f = finals[(n, env)]
            m[: len(f), j] = f
        out[n] = m
    return out


def compare(
    items: Sequence[str],
    out: str | Path,
    *,
    metric: str = "return",
    final_fraction: float = 0.1,
    normalize: str = "minmax",
    n_boot: int = 2000,
    seed: int = 0,
) -> dict:
    """Compare run folders; write the files listed in the module docstring.

    Returns:
        ``{"aggregates": {name: {aggregate: (point, low, high)}},
        "improvement": {(x, y): (point, low, high)}, "files": [paths]}``.

    Raises:
        CompareError: unreadable or inconsistent folders (see
            :func:`load_groups`), or names that do not cover the same envs.
    """
    if not 0.0 < final_fraction <= 1.0:
        raise CompareError(f"final_fraction={final_fraction} must be in (0, 1]")
    if normalize not in NORMALIZATIONS:
        raise CompareError(
            f"normalize={normalize!r}: allowed: {', '.join(NORMALIZATIONS)}"
        )
    groups = load_groups(items, metric)
    names = sorted({g.name for g in groups})
    envs = sorted({g.env for g in groups})
    if normalize == "human":
        unknown = []
        for env in envs:
            try:
                stats.atari_game(env)
            except ValueError:
                unknown.append(env)
        if unknown:
            raise CompareError(
                "--normalize human needs Atari games (the 57 with random and "
                f"human reference scores, e.g. envpool:Pong-v5); not one: "
                f"{', '.join(unknown)}. Use --normalize minmax or none"
            )
    have = {(g.name, g.env) for g in groups}
    missing = [f"{n} on {e}" for n in names for e in envs if (n, e) not in have]
    if missing:
        raise CompareError(
            "every name needs runs on every env to be aggregated; missing: "
            + ", ".join(missing)
        )
    few = [f"{g.name} on {g.env}" for g in groups if g.curves.shape[0] < 2]
    if few:
        raise CompareError(
            "the intervals need at least 2 seeds of every name on every env; "
            "1 seed: " + ", ".join(few)
        )
    for g in groups:
        g.final = _final(g.curves, final_fraction)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = []

    # tidy scores
    path = out / "scores.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["name", "algorithm", "env", "seed", "iteration", "x", metric])
        for g in groups:
            for s in range(g.curves.shape[0]):
                for t in range(g.curves.shape[1]):
                    w.writerow(
                        [g.name, g.algorithm, g.env, s, t, g.x[t], g.curves[s, t]]
                    )
    files.append(path)
    path = out / "final_scores.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["name", "algorithm", "env", "seed", f"final_{metric}"])
        for g in groups:
            w.writerows(
                [g.name, g.algorithm, g.env, s, v] for s, v in enumerate(g.final)
            )
    files.append(path)

    colors = dict(zip(names, plots.palette(len(names)), strict=True))
    # learning curves per env
    fig, axes = plots.panel_grid(len(envs), ncols=3)
    for ax, env in zip(axes, envs, strict=True):
        for g in (g for g in groups if g.env == env):
            plots.learning_curves(
                ax, g.x, g.curves, [g.name], colors=[colors[g.name]], legend=False
            )
        ax.set_title(env)
        ax.set_xlabel(groups[0].x_name.replace("_", " "))
        ax.set_ylabel(metric)
        ax.legend(fontsize=8)
    files.append(plots.save(fig, out / "curves.png"))

    scores = _score_matrices(groups, names, envs, normalize)
    aggregates = {
        n: {
            a: stats.interval_estimate(scores[n], a, n_boot=n_boot, seed=seed)
            for a in AGGREGATE_NAMES
        }
        for n in names
    }
    what = {"minmax": "min-max normalised ", "human": "human-normalised "}.get(
        normalize, ""
    )
    fig, axes = plots.figure(
        1, len(AGGREGATE_NAMES), panel_size=(3.2, 0.6 + 0.45 * len(names))
    )
    for ax, a in zip(axes[0], AGGREGATE_NAMES, strict=True):
        for i, n in enumerate(names):
            p, lo, hi = aggregates[n][a]
            ax.plot(
                [lo, hi],
                [i, i],
                color=colors[n],
                lw=6,
                alpha=0.5,
                solid_capstyle="butt",
            )
            ax.plot([p], [i], "|", color="k", ms=14)
        ax.set_yticks(
            range(len(names)), names if a == AGGREGATE_NAMES[0] else [""] * len(names)
        )
        ax.set_ylim(-0.7, len(names) - 0.3)
        ax.set_title(
            a.replace("_", " ")
            + (" (lower is better)" if a == "optimality_gap" else "")
        )
        ax.set_xlabel(f"{what}final {metric}")
    fig.suptitle(
        f"{len(envs)} env(s), 95% stratified-bootstrap intervals ({n_boot} resamples)"
    )
    files.append(plots.save(fig, out / "aggregates.png"))

    # performance profiles
    pooled = np.concatenate([scores[n][np.isfinite(scores[n])] for n in names])
    taus = np.linspace(pooled.min(), pooled.max(), 101)
    fig, axes = plots.figure(1, 1, panel_size=(5.0, 3.5))
    ax = axes[0, 0]
    for n in names:
        prof, lo, hi = stats.performance_profile(
            scores[n], taus, n_boot=n_boot, seed=seed
        )
        ax.plot(taus, prof, color=colors[n], label=n)
        ax.fill_between(taus, lo, hi, color=colors[n], alpha=0.2)
    ax.set_xlabel(f"{what}final {metric} (tau)")
    ax.set_ylabel("fraction of runs with score > tau")
    ax.set_title("performance profiles (95% bands)")
    ax.legend(fontsize=8)
    files.append(plots.save(fig, out / "profiles.png"))

    # probability of improvement
    improvement = {}
    k = len(names)
    matrix = np.full((k, k), np.nan)
    for i, x in enumerate(names):
        for j, y in enumerate(names):
            if i != j:
                improvement[(x, y)] = stats.probability_of_improvement_ci(
                    scores[x], scores[y], n_boot=n_boot, seed=seed
                )
                matrix[i, j] = improvement[(x, y)][0]
    fig, axes = plots.figure(1, 1, panel_size=(1.2 + 1.1 * k, 0.8 + 0.9 * k))
    ax = axes[0, 0]
    im = ax.imshow(matrix, vmin=0, vmax=1, cmap="RdBu")
    for (i, j), v in np.ndenumerate(matrix):
        if np.isfinite(v):
            _, lo, hi = improvement[(names[i], names[j])]
            ax.text(
                j,
                i,
                f"{v:.2f}\n[{lo:.2f}, {hi:.2f}]",
                ha="center",
                va="center",
                fontsize=8,
            )
    ax.set_xticks(range(k), names, rotation=30, ha="right")
    ax.set_yticks(range(k), names)
    ax.set_title("P(row beats column)")
    fig.colorbar(im, ax=ax, shrink=0.8)
    files.append(plots.save(fig, out / "improvement.png"))

    # tables
    head = ["name"] + [a.replace("_", " ") for a in AGGREGATE_NAMES]
    rows = [
        [n]
        + [
            f"{p:.3f} [{lo:.3f}, {hi:.3f}]"
            for p, lo, hi in (aggregates[n][a] for a in AGGREGATE_NAMES)
        ]
        for n in names
    ]
    md = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    (out / "aggregates.md").write_text("\n".join(md) + "\n")
    files.append(out / "aggregates.md")
    tex = [
        "\\begin{tabular}{l" + "c" * len(AGGREGATE_NAMES) + "}",
        " & ".join(head).replace("_", "\\_") + " \\\\",
        "\\hline",
    ]
    tex += [" & ".join(r).replace("_", "\\_") + " \\\\" for r in rows]
    tex.append("\\end{tabular}")
    (out / "aggregates.tex").write_text("\n".join(tex) + "\n")
    files.append(out / "aggregates.tex")
    return {"aggregates": aggregates, "improvement": improvement, "files": files}
