"""Eligibility traces on the 19-state random walk: Sutton & Barto (2018),
figures 12.3, 12.6 and 12.8.

The walk, the error measure and ``V_0 = 0`` are those of figure 7.2
(``experiments/nstep_random_walk.py``): RMS error over the 19 states at the
end of each of the first 10 episodes, averaged over those episodes and over
runs, against ``alpha``, one curve per ``lambda``. Four panels:

* the offline lambda-return algorithm (figure 12.3),
* TD(lambda) with accumulating traces (figure 12.6),
* TD(lambda) with replacing traces,
* true online TD(lambda) (figure 12.8).

Each panel is one compiled call over ``lambda`` x ``alpha`` x runs (both are
traced hyperparameters). Accumulating traces diverge at large ``alpha`` and
``lambda`` (the book's curves stop there); the CSV keeps those cells (``inf``
or ``nan``) and the plots clip at the book's axis, 0.55. ``alpha = 0`` is the
error of ``V_0``, computed, not run.

Writes into ``--out``: ``td_lambda.csv`` and ``td_lambda.png``.

    python experiments/td_lambda.py [--seeds 100] [--episodes 10]
"""

import sys
import time

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])

from _common import walk_19, write_csv  # noqa: E402

from jaxrl import parallel, stats  # noqa: E402
from jaxrl.results import plots  # noqa: E402
from jaxrl.tabular import prediction  # noqa: E402

LAMBDAS = (0.0, 0.4, 0.8, 0.9, 0.95, 0.975, 0.99, 1.0)
ALPHAS = tuple(round(0.05 * k, 2) for k in range(21))  # 0 .. 1
STATES = 19
# Episode cap: the offline algorithm keeps each episode in buffers of this
# size (for every lane of the sweep). A walk from the middle of 19 states
# outlasts 2,000 steps with probability ~cos(pi / 20)^2000 ~ 2e-11; a
# truncated one would bootstrap, and the run reports how many were.
MAX_STEPS = 2_000
METHODS = (
    ("offline λ-return (fig. 12.3)", prediction.OfflineLambdaConfig, {}),
    ("TD(λ), accumulating traces (fig. 12.6)", prediction.TDLambdaConfig, {}),
    (
        "TD(λ), replacing traces",
        prediction.TDLambdaConfig,
        {"trace": "replacing"},
    ),
    ("true online TD(λ) (fig. 12.8)", prediction.TrueOnlineConfig, {}),
)


def main() -> None:
    args, out, env, env_params, rms_v0 = walk_19(
        __doc__.split("\n")[0], "out/td_lambda", MAX_STEPS
    )
    t_start = time.perf_counter()
    learn_alphas = [a for a in ALPHAS if a > 0]
    grid = [(lam, a) for lam in LAMBDAS for a in learn_alphas]
    hparams = parallel.stack(
        [
            prediction.LambdaHParams(alpha=a, gamma=1.0, initial_value=0.0, lambda_=lam)
            for lam, a in grid
        ]
    )
    print(
        f"19-state random walk: {len(LAMBDAS)} lambda x {len(learn_alphas)} alpha x "
        f"{args.seeds} runs x {args.episodes} episodes per method"
    )
    tables, rows = {}, []
    for label, config_cls, kw in METHODS:
        config = config_cls(args.episodes, **kw)
        trainer = prediction.make_train(config, env, env_params)
        t0 = time.perf_counter()
        result = parallel.run(
            trainer,
            hparams,
            seed=args.seed,
            num_seeds=args.seeds,
            sweep=True,
            num_chunks=1,
            progress=False,
        )
        capped = int((np.asarray(result.metrics["length"]) >= MAX_STEPS).sum())
        print(
            f"  {label}: {time.perf_counter() - t0:.1f} s, {capped} episodes "
            f"hit the {MAX_STEPS}-step cap",
            flush=True,
        )
        with np.errstate(invalid="ignore", over="ignore"):
            score = np.asarray(result.metrics["rms_error"], np.float64).mean(-1)
        table = {(lam, 0.0): (rms_v0, rms_v0, rms_v0) for lam in LAMBDAS}
        for i, (lam, a) in enumerate(grid):
            if np.all(np.isfinite(score[i])):
                table[(lam, a)] = stats.mean_ci(score[i])
            else:  # diverged in some run
                table[(lam, a)] = (np.inf, np.inf, np.inf)
        tables[label] = table
        name = config.method
        if config.method == "td_lambda":
            name += f"_{config.trace}"
        rows += [
            [name, lam, a] + [f"{x:.5g}" for x in table[(lam, a)]]
            for lam in LAMBDAS
            for a in ALPHAS
        ]
    write_csv(
        out / "td_lambda.csv",
        ["method", "lambda", "alpha", "rms_mean", "rms_ci_low", "rms_ci_high"],
        rows,
    )

    print(
        f"\nbest alpha per lambda: average RMS over {STATES} states and the first "
        f"{args.episodes} episodes ({args.seeds} runs; V0 = 0 gives {rms_v0:.3f})"
    )
    width = max(len(label) for label in tables)
    print(f"{'lambda':<{width}} " + "".join(f"{lam:>13}" for lam in LAMBDAS))
    for label, table in tables.items():
        cells = []
        for lam in LAMBDAS:
            a = min(learn_alphas, key=lambda a: table[(lam, a)][0])
            cells.append(f"{table[(lam, a)][0]:.3f} @ {a:<4}")
        print(f"{label:<{width}} " + "".join(f"{c:>13}" for c in cells))

    fig, axes = plots.figure(2, 2, panel_size=(4.8, 3.6))
    colors = plots.palette(len(LAMBDAS))
    for ax, (label, table) in zip(axes.flat, tables.items(), strict=True):
        for j, lam in enumerate(LAMBDAS):
            means = np.array([table[(lam, a)][0] for a in ALPHAS])
            shown = means <= 0.6  # the curve stops where it leaves the axis
            ax.plot(
                np.array(ALPHAS)[shown],
                means[shown],
                color=colors[j],
                label=f"λ={lam}",
                marker="o",
                markersize=2.5,
            )
        ax.set_ylim(0.25, 0.55)
        ax.set_xlim(0, 1)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("α (step size)")
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel(
            f"average RMS error over {STATES} states\n"
            f"and first {args.episodes} episodes"
        )
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=8)
    fig.suptitle(
        f"19-state random walk ({args.seeds} runs): eligibility traces and the "
        "λ-return\n(curves stop where they leave the book's axis)"
    )
    plots.save(fig, out / "td_lambda.png")
    print(f"\nwrote {out}/: td_lambda.csv, td_lambda.png")
    print(f"total {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
