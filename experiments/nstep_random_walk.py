"""n-step TD on the 19-state random walk: Sutton & Barto (2018), figure 7.2.

The walk of example 7.1: 19 states between two terminal ends, start in the
middle, left or right with equal probability, -1 on leaving to the left and
+1 on the right, 0 otherwise, ``gamma = 1``, so the true values run linearly
from -18/20 to +18/20. Every estimate starts at ``V_0 = 0``. For each ``n`` in
{1, 2, 4, ..., 512} and ``alpha`` in {0, 0.1, ..., 1} the figure's measure is
the RMS error over the 19 states at the end of each of the first 10 episodes,
averaged over those episodes and over runs.

The whole grid (10 ``n`` x 10 ``alpha`` x runs) is one compiled call: ``n``
is a traced hyperparameter (:class:`~jaxrl.tabular.prediction.NStepHParams`)
over a 512-slot window, so the sweep is a ``vmap``. ``alpha = 0`` learns
nothing; its error is that of ``V_0`` (0.55 here), computed, not run. The
policy is sampled from the same keys in every setting, so with one ``--seed``
every cell sees the same walks (paired comparisons).

Writes into ``--out``: ``nstep_random_walk.csv`` (mean and 95% CI per ``n`` and
``alpha``) and ``figure_7_2.png``.

    python experiments/nstep_random_walk.py [--seeds 100] [--episodes 10]
"""

import sys
import time

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])

from _common import walk_19, write_csv  # noqa: E402

from jaxrl import parallel, stats  # noqa: E402
from jaxrl.results import plots  # noqa: E402
from jaxrl.tabular import prediction  # noqa: E402

NS = tuple(2**k for k in range(10))  # 1 .. 512
ALPHAS = tuple(round(0.1 * k, 1) for k in range(11))  # 0 .. 1
STATES = 19
# Episode cap (it sizes nothing here, but bounds the loop): a walk from the
# middle of 19 states outlasts 20,000 steps with probability below 1e-100.
MAX_STEPS = 20_000


def main() -> None:
    args, out, env, env_params, rms_v0 = walk_19(
        __doc__.split("\n")[0], "out/nstep_random_walk", MAX_STEPS
    )
    t_start = time.perf_counter()
    config = prediction.NStepTDConfig(args.episodes, max_n=max(NS))
    trainer = prediction.make_train(config, env, env_params)
    learn_alphas = [a for a in ALPHAS if a > 0]
    grid = [(n, a) for n in NS for a in learn_alphas]
    hparams = parallel.stack(
        [
            prediction.NStepHParams(alpha=a, gamma=1.0, initial_value=0.0, n_step=n)
            for n, a in grid
        ]
    )
    print(
        f"19-state random walk, n-step TD: {len(NS)} n x {len(learn_alphas)} alpha "
        f"x {args.seeds} runs x {args.episodes} episodes, one compiled call"
    )
    t0 = time.perf_counter()
    result = parallel.run(
        trainer, hparams, seed=args.seed, num_seeds=args.seeds, sweep=True
    )
    rms = np.asarray(result.metrics["rms_error"])  # [H, N, E]
    steps = int(np.asarray(result.metrics["length"]).sum())
    print(f"  {time.perf_counter() - t0:.1f} s, {steps:,} env steps in all")
    score = rms.mean(axis=-1)  # [H, N]: average over the first episodes

    rows, table = [], {}
    for n in NS:
        rows.append([n, 0.0, f"{rms_v0:.5g}", f"{rms_v0:.5g}", f"{rms_v0:.5g}"])
        table[(n, 0.0)] = (rms_v0, rms_v0, rms_v0)
    for i, (n, a) in enumerate(grid):
        mean, lo, hi = stats.mean_ci(score[i])
        table[(n, a)] = (mean, lo, hi)
        rows.append([n, a, f"{mean:.5g}", f"{lo:.5g}", f"{hi:.5g}"])
    rows.sort(key=lambda r: (r[0], r[1]))
    write_csv(
        out / "nstep_random_walk.csv",
        ["n", "alpha", "rms_mean", "rms_ci_low", "rms_ci_high"],
        rows,
    )

    print(
        f"\naverage RMS error over {STATES} states and the first {args.episodes} "
        f"episodes ({args.seeds} runs); V0 = 0 gives {rms_v0:.3f}"
    )
    print("    n " + "".join(f"{a:>7}" for a in ALPHAS))
    for n in NS:
        print(f"{n:>5} " + "".join(f"{table[(n, a)][0]:>7.3f}" for a in ALPHAS))
    print("\nbest alpha per n [95% CI]:")
    best = {}
    for n in NS:
        a = min(learn_alphas, key=lambda a: table[(n, a)][0])
        best[n] = (a, *table[(n, a)])
        mean, lo, hi = best[n][1:]
        print(f"  n={n:<4} alpha={a:<4} {mean:.3f} [{lo:.3f}, {hi:.3f}]")
    n_star = min(NS, key=lambda n: best[n][1])
    print(
        f"lowest: n={n_star}, alpha={best[n_star][0]}: {best[n_star][1]:.3f}; "
        f"n=1 (TD(0)) best {best[1][1]:.3f}, n=512 (~MC) best {best[512][1]:.3f}"
    )

    fig, axes = plots.figure(1, 1, panel_size=(7.2, 4.6))
    ax = axes[0, 0]
    colors = plots.palette(len(NS))
    for j, n in enumerate(NS):
        means = [table[(n, a)][0] for a in ALPHAS]
        ax.plot(
            ALPHAS,
            means,
            label=f"n={n}",
            color=colors[j],
            marker="o",
            markersize=3,
        )
    ax.set_ylim(0.25, 0.55)
    ax.set_xlim(0, 1)
    ax.set_xlabel("α (step size)")
    ax.set_ylabel(
        f"average RMS error over {STATES} states\nand first {args.episodes} episodes"
    )
    ax.set_title(
        f"Figure 7.2: n-step TD on the 19-state random walk ({args.seeds} runs)\n"
        "curves above 0.55 leave the book's axis"
    )
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(alpha=0.3)
    plots.save(fig, out / "figure_7_2.png")
    print(f"\nwrote {out}/: nstep_random_walk.csv, figure_7_2.png")
    print(f"total {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
