"""TD(0) against constant-alpha Monte Carlo on the 5-state random walk.

Sutton & Barto (2018), example 6.2 and figure 6.2. The walk A-B-C-D-E starts
in C, moves left or right with equal probability, and pays +1 on leaving to
the right (0 on the left); ``gamma = 1``, so the true values are
``1/6, ..., 5/6``. All estimates start at ``V_0 = 0.5``.

* (a) example 6.2, left: the values after 0, 1, 10 and 100 episodes of one
  run of TD(0) with ``alpha = 0.1``, against the true values.
* (b) example 6.2, right: the RMS error over the five states against
  episodes, averaged over runs, for TD(0) ``alpha`` in {0.05, 0.1, 0.15} and
  constant-alpha (every-visit) MC ``alpha`` in {0.01, 0.02, 0.03, 0.04}.
  Each method's alpha grid is one compiled call (a ``parallel.stack`` sweep).
* (c) figure 6.2: batch TD(0) against batch MC, ``alpha = 0.001``, after
  each episode sweeping over all episodes seen until convergence.

The policy is fixed and sampled from the same keys in every method, so
with the same ``--seed`` every method sees the same walks: the comparisons
are paired.

Writes into ``--out``: ``values.csv`` and ``rms.csv`` (mean and 95% CI per
episode of every curve), ``example_6_2.png`` (a and b) and ``figure_6_2.png``
(c).

    python experiments/random_walk.py [--seeds 100] [--episodes 100]
"""

import sys
import time

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])

from _common import out_dir, parser, write_csv  # noqa: E402

import envs  # noqa: E402
from jaxrl import parallel, stats  # noqa: E402
from jaxrl.results import plots  # noqa: E402
from jaxrl.tabular import prediction  # noqa: E402

TD_ALPHAS = (0.05, 0.1, 0.15)
MC_ALPHAS = (0.01, 0.02, 0.03, 0.04)
BATCH_ALPHA = 0.001
V0 = 0.5  # initial estimate of every non-terminal state
SNAPSHOTS = (1, 10, 100)  # episodes after which panel (a) shows TD's values
STATES = ("A", "B", "C", "D", "E")
# Episode cap, which sizes MC's episode buffers (the env's default, 10 000,
# makes MC ~20x slower). A walk from C outlasts n steps with probability
# ~cos(pi/6)^n: below 1e-31 for 500, so the cap never binds in practice.
MAX_STEPS = 500
TD_COLORS = ["#9ecae1", "#3182bd", "#08306b"]
MC_COLORS = ["#fcbba1", "#fb6a4a", "#cb181d", "#67000d"]


def run(config, alphas, *, seeds, seed, snapshots=()):
    """One compiled call over seeds and the ``alphas`` sweep.

    Returns:
        ``(rms [H, N, E + 1], {episodes: V of A-E [H, N, 5]}, true V of A-E)``;
        ``rms`` starts with the error of ``V_0`` (episode 0).
    """
    env, env_params = envs.make("RandomWalk-v0", max_steps_in_episode=MAX_STEPS)
    trainer = prediction.make_train(config, env, env_params)
    hparams = parallel.stack(
        [
            prediction.PredictionHParams(alpha=a, gamma=1.0, initial_value=V0)
            for a in alphas
        ]
    )
    snaps = {}

    def keep(done, state, _metrics):
        if done in snapshots:
            snaps[done] = np.array(state.v)  # a copy: the state is donated next

    # One episode per chunk when snapshots are wanted, else a single call.
    chunks = config.num_episodes if snapshots else 1
    t0 = time.perf_counter()
    out = parallel.run(
        trainer,
        hparams,
        seed=seed,
        num_seeds=seeds,
        sweep=True,
        num_chunks=chunks,
        progress=False,
        on_chunk=keep,
    )
    print(
        f"  {config.method} alpha {', '.join(map(str, alphas))}: "
        f"{time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    missing = set(snapshots) - set(snaps)
    if missing:
        raise RuntimeError(f"no snapshot after episodes {sorted(missing)}")
    v_true = np.array(out.state.v_true)  # [H, N, S], the same everywhere
    live = slice(1, len(STATES) + 1)
    rms0 = np.sqrt(np.mean((V0 - v_true[..., live]) ** 2, axis=-1))
    rms = np.concatenate([rms0[..., None], out.metrics["rms_error"]], axis=-1)
    return rms, {k: v[..., live] for k, v in snaps.items()}, v_true[0, 0, live]


def main() -> None:
    p = parser(__doc__.split("\n")[0], seeds=100, out="out/random_walk")
    p.add_argument(
        "--episodes", type=int, default=100, help="episodes per run (default 100)"
    )
    args = p.parse_args()
    if args.seeds < 2:
        p.error("--seeds must be at least 2 (confidence intervals need two runs)")
    if args.episodes < max(SNAPSHOTS):
        p.error(f"--episodes must be at least {max(SNAPSHOTS)}")
    out = out_dir(args.out)
    t_start = time.perf_counter()
    common = {"seeds": args.seeds, "seed": args.seed}
    n_ep = args.episodes

    print(f"5-state random walk: {args.seeds} runs x {n_ep} episodes")
    td_rms, td_values, v_true = run(
        prediction.PredictionConfig(n_ep, "td0"),
        TD_ALPHAS,
        snapshots=SNAPSHOTS,
        **common,
    )
    mc_rms, _, _ = run(prediction.MCEveryVisitConfig(n_ep), MC_ALPHAS, **common)
    btd_rms, _, _ = run(prediction.BatchTDConfig(n_ep), (BATCH_ALPHA,), **common)
    bmc_rms, _, _ = run(prediction.BatchMCConfig(n_ep), (BATCH_ALPHA,), **common)

    curves = (
        [(f"TD(0) α={a}", "td0", a, td_rms[i]) for i, a in enumerate(TD_ALPHAS)]
        + [(f"MC α={a}", "mc", a, mc_rms[i]) for i, a in enumerate(MC_ALPHAS)]
        + [
            (f"batch TD(0) α={BATCH_ALPHA}", "batch_td", BATCH_ALPHA, btd_rms[0]),
            (f"batch MC α={BATCH_ALPHA}", "batch_mc", BATCH_ALPHA, bmc_rms[0]),
        ]
    )
    episodes = np.arange(n_ep + 1)

    # ---- CSV and headline numbers ----------------------------------------- #
    rows = []
    print(
        f"\nRMS error over the 5 states (mean over {args.seeds} runs, 95% CI), "
        f"V0 = {V0}"
    )
    print(
        f"{'method':<22} {f'after {n_ep} episodes':>24} "
        f"{'mean over episodes 1-' + str(n_ep):>28}"
    )
    finals = {}
    for label, method, alpha, rms in curves:
        mean, lo, hi = stats.mean_ci(rms, axis=0)
        rows += [
            [method, alpha, int(e), f"{mean[e]:.5g}", f"{lo[e]:.5g}", f"{hi[e]:.5g}"]
            for e in episodes
        ]
        area = stats.mean_ci(rms[:, 1:].mean(axis=1))
        finals[label] = rms[:, -1]
        print(
            f"{label:<22} {mean[-1]:>8.4f} [{lo[-1]:.4f}, {hi[-1]:.4f}] "
            f"{area[0]:>12.4f} [{area[1]:.4f}, {area[2]:.4f}]"
        )
    write_csv(
        out / "rms.csv",
        ["method", "alpha", "episode", "rms_mean", "rms_ci_low", "rms_ci_high"],
        rows,
    )

    def best(prefix):
        labels = [c[0] for c in curves if c[0].startswith(prefix)]
        return min(labels, key=lambda k: finals[k].mean())

    print()
    for a, b in ((best("TD(0)"), best("MC")), (curves[-2][0], curves[-1][0])):
        diff = stats.mean_ci(finals[a] - finals[b])
        winner = a if diff[2] < 0 else b if diff[1] > 0 else "neither (CI spans 0)"
        print(
            f"{a} minus {b}, RMS after {n_ep} episodes (paired runs): "
            f"{diff[0]:+.4f} [{diff[1]:+.4f}, {diff[2]:+.4f}] -> lower: {winner}"
        )

    i01 = TD_ALPHAS.index(0.1)
    values = {0: np.full((args.seeds, len(STATES)), V0)}
    values |= {k: v[i01] for k, v in td_values.items()}
    write_csv(
        out / "values.csv",
        ["episodes", "state", "true_value", "run0", "mean", "ci_low", "ci_high"],
        [
            [k, s, f"{v_true[j]:.5g}", f"{v[0, j]:.5g}"]
            + [f"{float(x[j]):.5g}" for x in stats.mean_ci(v, axis=0)]
            for k, v in values.items()
            for j, s in enumerate(STATES)
        ],
    )

    def fmt(v):
        return " ".join(f"{x:.3f}" for x in v)

    print(f"\nTD(0) α=0.1, values of A-E in run 0 (true: {fmt(v_true)}):")
    for k, v in values.items():
        rms0 = np.sqrt(np.mean((v[0] - v_true) ** 2))
        print(f"  after {k:>3} episodes: {fmt(v[0])}  RMS {rms0:.3f}")

    # ---- figures ---------------------------------------------------------- #
    fig, axes = plots.figure(1, 2, panel_size=(5.6, 4.2))
    fig.suptitle("Example 6.2: random walk, TD(0) vs constant-α MC")
    plots.value_estimates(
        axes[0, 0],
        STATES,
        {f"{k} episode{'s' * (k != 1)}": v[0] for k, v in values.items()},
        v_true,
        colors=["0.6", "#e6550d", "#31a354", "#3182bd"],
        title="TD(0) α=0.1, values of one run",
    )
    plots.learning_curves(
        axes[0, 1],
        episodes,
        np.stack([c[3] for c in curves[:7]]),
        [c[0] for c in curves[:7]],
        colors=TD_COLORS + MC_COLORS,
        xlabel="walks / episodes",
        ylabel="empirical RMS error, averaged over states",
        title=f"RMS error ({args.seeds} runs)",
    )
    axes[0, 1].set_ylim(0, 0.25)
    plots.save(fig, out / "example_6_2.png")

    fig, axes = plots.figure(1, 1, panel_size=(6.0, 4.2))
    plots.learning_curves(
        axes[0, 0],
        episodes,
        np.stack([c[3] for c in curves[7:]]),
        ["batch TD(0)", "batch MC"],
        colors=["#3182bd", "#cb181d"],
        xlabel="walks / episodes",
        ylabel="RMS error, averaged over states",
        title=f"Figure 6.2: batch training, α={BATCH_ALPHA} ({args.seeds} runs)",
    )
    # The book's axis stops at 0.25; after the first episodes the batch
    # estimates (V of the visited states jumps to the returns seen) are above
    # it, up to ~0.39, so show the whole curve.
    axes[0, 0].set_ylim(0, None)
    plots.save(fig, out / "figure_6_2.png")

    print(f"\nwrote {out}/: rms.csv, values.csv, example_6_2.png, figure_6_2.png")
    print(f"total {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
