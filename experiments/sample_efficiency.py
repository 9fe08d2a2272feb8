"""Samples to solve: environment steps until the greedy evaluation solves the task.

For each preset (:mod:`jaxrl.presets`): ``--seeds`` runs in one compiled call,
a greedy evaluation (``eval_episodes`` episodes, mean return) every
``eval_every`` iterations, and per seed the environment steps at the first
evaluation that reaches the preset's ``solved_at`` (475 on CartPole-v1, -200
on Pendulum-v1). A seed that never reaches it within the budget counts as
``> budget``: the median and the quartiles are taken over all seeds with those
set to infinity (so a median above the budget means fewer than half solved),
next to the fraction of seeds solved. Steps are counted at evaluation points,
so they are upper bounds with the resolution of ``eval_every``.

Writes ``OUT/sample_efficiency.csv`` (one row per preset), ``OUT/steps.csv``
(one row per seed), ``OUT/curves.npz`` (each preset's evaluation curves,
``NAME/steps`` ``[T]`` and ``NAME/eval_return`` ``[seeds, T]``) and
``OUT/sample_efficiency.png`` (the evaluation curves,
median and interquartile band over seeds, with each preset's median steps to
solve marked).

    python experiments/sample_efficiency.py [--seeds 32] [--seed 1]
        [--presets NAME,...] [--out out/sample_efficiency]
"""

import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

from jaxrl import presets, stats  # noqa: E402

DEFAULT = (
    "ppo-cartpole",
    "dqn-cartpole",
    "sac_discrete-cartpole",
    "a2c-cartpole",
    "reinforce-cartpole",
    "sac-pendulum",
)


def steps_to_solve(eval_return: np.ndarray, env_steps: np.ndarray, solved_at: float):
    """Per seed, env steps at the first evaluation >= ``solved_at`` (inf if
    none). ``eval_return`` and ``env_steps`` are ``[N, T]``."""
    first = stats.first_crossing(eval_return, solved_at, env_steps[0])
    return np.where(np.isnan(first), np.inf, first)


def quartiles(steps: np.ndarray) -> tuple[float, float, float]:
    """Median and quartiles over all seeds, unsolved (inf) ones included;
    no interpolation, so an infinite quartile means "not reached"."""
    q = np.percentile(steps, [50, 25, 75], method="inverted_cdf")
    return float(q[0]), float(q[1]), float(q[2])


def run_preset(name: str, num_seeds: int, seed: int, progress: bool):
    preset = presets.get(name)
    x, curve, budget, wall = _common.eval_curves(
        name, num_seeds=num_seeds, seed=seed, desc=name, progress=progress
    )
    steps = steps_to_solve(curve, x[None], preset.solved_at)
    return preset, steps, budget, curve, x, wall


def fmt(x: float, budget: int) -> str:
    return f"> {budget:,}" if math.isinf(x) else f"{x:,.0f}"


def main() -> None:
    p = _common.parser(__doc__.split("\n")[0], seeds=32, out="out/sample_efficiency")
    p.add_argument(
        "--presets",
        default=",".join(DEFAULT),
        help=f"comma-separated presets (default {','.join(DEFAULT)})",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args()
    names = [n for n in args.presets.split(",") if n]
    for name in names:
        presets.get(name)  # fail early on a typo
    out = _common.out_dir(args.out)
    rows, seed_rows, curves = [], [], {}
    header = (
        f"{'preset':<22} {'solved at':>9} {'median':>10} {'IQR':>22} "
        f"{'solved':>7} {'budget':>9} {'wall s':>7}"
    )
    lines = []
    for name in names:
        preset, steps, budget, curve, x, wall = run_preset(
            name, args.seeds, args.seed, not args.quiet
        )
        med, q25, q75 = quartiles(steps)
        frac = float(np.isfinite(steps).mean())
        rows.append(
            [name, preset.algo, preset.env, preset.solved_at, args.seeds, budget]
            + [med, q25, q75, frac, round(wall, 1)]
        )
        seed_rows += [[name, i, s] for i, s in enumerate(steps)]
        curves[name] = (x, curve, med, preset.solved_at)
        iqr = f"[{fmt(q25, budget)}, {fmt(q75, budget)}]"
        lines.append(
            f"{name:<22} {preset.solved_at:>9g} {fmt(med, budget):>10} {iqr:>22} "
            f"{frac:>7.0%} {budget:>9,} {wall:>7.0f}"
        )
        print(header, *lines, sep="\n", flush=True)
    _common.write_csv(
        out / "sample_efficiency.csv",
        [
            "preset",
            "algo",
            "env",
            "solved_at",
            "seeds",
            "budget",
            "median_steps",
            "q25_steps",
            "q75_steps",
            "fraction_solved",
            "wall_s",
        ],
        rows,
    )
    _common.write_csv(
        out / "steps.csv", ["preset", "seed", "steps_to_solve"], seed_rows
    )
    arrays = {}
    for name, (x, curve, _, _) in curves.items():
        arrays[f"{name}/steps"], arrays[f"{name}/eval_return"] = x, curve
    np.savez_compressed(out / "curves.npz", **arrays)
    plot(curves, out / "sample_efficiency.png")
    print(
        f"wrote {out}/sample_efficiency.csv, steps.csv, curves.npz, "
        "sample_efficiency.png"
    )


def plot(curves, path: Path) -> None:
    import matplotlib.pyplot as plt

    envs_ = sorted({presets.get(n).env for n in curves})
    fig, axes = plt.subplots(
        1, len(envs_), figsize=(6.5 * len(envs_), 4.2), squeeze=False
    )
    for ax, env in zip(axes[0], envs_, strict=True):
        solved_at = None
        for name, (x, curve, med, threshold) in curves.items():
            if presets.get(name).env != env:
                continue
            solved_at = threshold
            mid, lo, hi = stats.median_iqr(curve)
            (line,) = ax.plot(x, mid, label=name)
            ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2)
            if math.isfinite(med):
                ax.axvline(med, color=line.get_color(), ls=":", lw=1)
        ax.axhline(solved_at, color="k", ls="--", lw=0.8)
        ax.set(
            xscale="log",
            xlabel="environment steps",
            ylabel="greedy evaluation return",
            title=f"{env}: median and IQR over seeds (dotted: median steps to solve)",
        )
        ax.title.set_fontsize(9)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
