"""First-visit and every-visit Monte Carlo evaluation on the chapter's gridworld.

Evaluates the uniform random policy on ``GridWorld-v0`` (10x10, goal +10,
traps -10, bumping into a wall or the edge -1; every episode starts at S in
the bottom-left corner) with ``gamma = 0.9``. Each state's estimate is the
sample average of the returns that followed its visits (Sutton & Barto
2018, section 5.1): the first visit of each episode only, or every visit.
They converge to the exact ``V_pi`` from dynamic programming
(``dp.policy_evaluation``), the lesson's "more episodes = better estimates".

Episodes are cut at ``--max-steps`` (200, the env's default; about a third of
the random policy's episodes reach it). A cut episode's returns start from
the current estimate of the state it reached, ``gamma^k V(s)``, which for
``gamma = 0.9`` weighs at most ``0.9^(max_steps - t)`` on the return from
step ``t``.

Estimates start at 0, and a state not yet visited keeps that 0, in the
heatmaps as in the RMS error (over all non-terminal, non-wall states). Goal
and trap cells are terminal: their value is 0 by definition.

Writes into ``--out``: ``rms.csv`` (RMS error per episode, mean and 95% CI
over runs), ``values.csv`` (per state: exact value and the estimates' mean
and CI after each snapshot), ``mc_gridworld_values.png`` (heatmaps of the
mean estimate after each snapshot next to the exact values, and the RMS
error curves) and ``mc_gridworld_rms.png`` (the RMS error curves alone).

    python experiments/mc_gridworld.py [--seeds 20] [--snapshots 10,100,1000]
"""

import math
import sys
import time

import jax
import numpy as np
from matplotlib.ticker import NullFormatter

sys.path.insert(0, __file__.rsplit("/", 1)[0])

from _common import out_dir, parser, write_csv  # noqa: E402

import envs  # noqa: E402
from jaxrl import parallel, stats  # noqa: E402
from jaxrl.results import plots  # noqa: E402
from jaxrl.tabular import dp, policies, prediction  # noqa: E402

METHODS = {"first-visit MC": True, "every-visit MC": False}
COLORS = {"first-visit MC": "#1f77b4", "every-visit MC": "#d62728"}


def run(env, env_params, first_visit, hparams, *, episodes, snapshots, seeds, seed):
    """One compiled run over seeds.

    Returns:
        ``(rms [N, E], {episodes: (V [N, S], visits [N, S])}, lengths [N, E])``.
    """
    config = prediction.PredictionConfig(
        episodes, "mc", first_visit=first_visit, step_size="sample_average"
    )
    trainer = prediction.make_train(config, env, env_params)
    chunk = math.gcd(*snapshots)
    snaps = {}

    def keep(done, state, _metrics):
        if done in snapshots:
            # copies: the state is donated to the next chunk
            snaps[done] = (np.array(state.v), np.array(state.n))

    t0 = time.perf_counter()
    out = parallel.run(
        trainer,
        hparams,
        seed=seed,
        num_seeds=seeds,
        num_chunks=episodes // chunk,
        progress=False,
        on_chunk=keep,
    )
    name = "first" if first_visit else "every"
    print(f"  {name}-visit MC: {time.perf_counter() - t0:.1f} s", flush=True)
    missing = set(snapshots) - set(snaps)
    if missing:
        raise RuntimeError(f"no snapshot after episodes {sorted(missing)}")
    return out.metrics["rms_error"], snaps, out.metrics["length"]


def main() -> None:
    p = parser(__doc__.split("\n")[0], seeds=20, out="out/mc_gridworld")
    p.add_argument(
        "--snapshots",
        default="10,100,1000",
        help="episode counts for the heatmaps; the last is the run's length "
        "(default 10,100,1000)",
    )
    p.add_argument("--gamma", type=float, default=0.9, help="discount (default 0.9)")
    p.add_argument(
        "--max-steps", type=int, default=200, help="episode cap (default 200)"
    )
    args = p.parse_args()
    try:
        snapshots = sorted({int(s) for s in args.snapshots.split(",")})
    except ValueError:
        p.error(f"--snapshots must be comma-separated integers, got {args.snapshots}")
    if snapshots[0] < 1:
        p.error("--snapshots must be >= 1")
    if args.seeds < 2:
        p.error("--seeds must be at least 2 (confidence intervals need two runs)")
    if not 0.0 <= args.gamma < 1.0:
        p.error("--gamma must lie in [0, 1) (the random policy can wander forever)")
    out = out_dir(args.out)
    t_start = time.perf_counter()
    episodes = snapshots[-1]

    env, env_params = envs.make("GridWorld-v0", max_steps_in_episode=args.max_steps)
    model = env.model(env_params)
    n_states = env.num_states(env_params)
    pi = policies.uniform_policy(n_states, env.num_actions)
    v_true = np.asarray(jax.jit(dp.policy_evaluation)(model, pi, args.gamma))
    live = ~np.asarray(model.terminal)  # walls are marked terminal too
    hparams = prediction.PredictionHParams(gamma=args.gamma, initial_value=0.0)

    print(
        f"GridWorld-v0, uniform random policy, gamma {args.gamma}: {args.seeds} runs "
        f"x {episodes} episodes (cap {args.max_steps} steps)"
    )
    results = {
        name: run(
            env,
            env_params,
            first_visit,
            hparams,
            episodes=episodes,
            snapshots=snapshots,
            seeds=args.seeds,
            seed=args.seed,
        )
        for name, first_visit in METHODS.items()
    }
    lengths = results["first-visit MC"][2]
    print(
        f"  episode length: mean {lengths.mean():.0f} steps, "
        f"{100 * (lengths >= args.max_steps).mean():.0f}% cut at {args.max_steps}"
    )

    # ---- CSV and headline numbers ----------------------------------------- #
    rms0 = float(np.sqrt(np.mean(v_true[live] ** 2)))  # V_0 = 0
    x = np.arange(episodes + 1)
    rms = {
        name: np.concatenate([np.full((args.seeds, 1), rms0), r], axis=1)
        for name, (r, _, _) in results.items()
    }
    rows = []
    for name, r in rms.items():
        mean, lo, hi = stats.mean_ci(r, axis=0)
        rows += [
            [name, int(e), f"{mean[e]:.5g}", f"{lo[e]:.5g}", f"{hi[e]:.5g}"] for e in x
        ]
    write_csv(
        out / "rms.csv",
        ["method", "episode", "rms_mean", "rms_ci_low", "rms_ci_high"],
        rows,
    )
    rows = []
    for name, (_, snaps, _) in results.items():
        for k, (v, n) in snaps.items():
            mean, lo, hi = stats.mean_ci(v, axis=0)
            visited = np.mean(n > 0, axis=0)
            rows += [
                [name, k, s, s // env_params.width, s % env_params.width]
                + [f"{float(a):.5g}" for a in (v_true[s], mean[s], lo[s], hi[s])]
                + [f"{visited[s]:.3g}"]
                for s in np.flatnonzero(live)
            ]
    write_csv(
        out / "values.csv",
        ["method", "episodes", "state", "row", "col", "true_value"]
        + ["estimate_mean", "estimate_ci_low", "estimate_ci_high", "frac_runs_visited"],
        rows,
    )

    print(
        f"\nRMS error over the {int(live.sum())} non-terminal states "
        f"(mean over {args.seeds} runs, 95% CI); V_0 = 0 gives {rms0:.3f}"
    )
    print(
        f"{'episodes':>8} "
        + " ".join(f"{name:>24}" for name in METHODS)
        + f" {'every - first (paired)':>28} {'unvisited':>10}"
    )
    for k in snapshots:
        cells = []
        for name in METHODS:
            m, lo, hi = stats.mean_ci(rms[name][:, k])
            cells.append(f"{m:.3f} [{lo:.3f}, {hi:.3f}]")
        d = stats.mean_ci(rms["every-visit MC"][:, k] - rms["first-visit MC"][:, k])
        n = results["first-visit MC"][1][k][1][:, live]
        print(
            f"{k:>8} "
            + " ".join(f"{c:>24}" for c in cells)
            + f" {f'{d[0]:+.3f} [{d[1]:+.3f}, {d[2]:+.3f}]':>28}"
            + f" {100 * np.mean(n == 0):>9.1f}%"
        )
    print("  (unvisited: share of (run, state) pairs still at V_0 = 0)")

    # ---- figures ---------------------------------------------------------- #
    layout = {
        "walls": env_params.walls,
        "goals": [env_params.goal],
        "traps": env_params.traps,
        "start": env_params.start,
        "fmt": ".1f",
    }
    h, w = env_params.height, env_params.width
    ncols = len(snapshots) + 1
    fig, axes = plots.figure(2, ncols, panel_size=(4.6, 4.3), layout="compressed")
    fig.suptitle(
        f"Monte Carlo evaluation of the random policy on GridWorld-v0 "
        f"(γ={args.gamma}): mean estimate of {args.seeds} runs vs exact DP values",
        fontsize="x-large",
    )
    for row, (name, (_, snaps, _)) in enumerate(results.items()):
        for col, k in enumerate(snapshots):
            ax = axes[row, col]
            mean = stats.mean_ci(snaps[k][0], axis=0)[0]
            r = stats.mean_ci(rms[name][:, k])[0]
            plots.grid_values(
                ax,
                mean,
                h,
                w,
                title=f"{name}, {k} episode{'s' * (k != 1)} (RMS {r:.2f})",
                **layout,
            )
    plots.grid_values(
        axes[0, -1],
        v_true,
        h,
        w,
        title="exact V_π (dynamic programming)",
        **layout,
    )
    _rms_panel(axes[1, -1], x, rms, args.seeds, snapshots)
    plots.save(fig, out / "mc_gridworld_values.png")

    fig, axes = plots.figure(1, 1, panel_size=(6.0, 4.2))
    _rms_panel(axes[0, 0], x, rms, args.seeds, snapshots)
    axes[0, 0].set_title(f"MC evaluation on GridWorld-v0, γ={args.gamma}")
    plots.save(fig, out / "mc_gridworld_rms.png")

    print(
        f"\nwrote {out}/: rms.csv, values.csv, mc_gridworld_values.png, "
        "mc_gridworld_rms.png"
    )
    print(f"total {time.perf_counter() - t_start:.0f} s")


def _rms_panel(ax, x, rms, seeds, snapshots):
    """RMS error against episodes (log-log), both methods, CI bands."""
    y_max = max(float(r.max()) for r in rms.values())
    y_min = min(float(r[:, 1:].mean(0).min()) for r in rms.values())
    plots.learning_curves(
        ax,
        x[1:],
        np.stack([r[:, 1:] for r in rms.values()]),
        list(rms),
        colors=[COLORS[k] for k in rms],
        xlabel="episodes",
        ylabel="RMS error of V (over states)",
        title=f"RMS error vs exact V_π ({seeds} runs)",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ticks = (0.1, 0.2, 0.3, 0.5, 1, 2, 3, 5, 10)
    ticks = [t for t in ticks if 0.7 * y_min <= t <= 1.2 * y_max]
    ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
    ax.yaxis.set_minor_formatter(NullFormatter())
    for k in snapshots:
        ax.axvline(k, color="0.6", lw=0.8, ls=":")


if __name__ == "__main__":
    main()
