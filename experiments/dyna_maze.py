"""Dyna-Q on the Dyna maze, and Dyna-Q vs Dyna-Q+ on the changing mazes
(Sutton & Barto 2018, figures 8.2, 8.4 and 8.5).

Figure 8.2: steps per episode, episodes 2..50, for 0, 5 and 50 planning
steps on the 6x9 Dyna maze (+1 at the goal, gamma 0.95, alpha 0.1, epsilon
0.1; the shortest path takes 14 steps). The first episode is left out, as in
the book: every agent's Q is still zero when it ends, so it is the same
random walk for all ``n``.

Figures 8.4 and 8.5: cumulative reward against time steps on the blocking
maze (the short path on the right closes after 1,000 steps, a longer one opens
on the left; 3,000 steps) and the shortcut maze (a shorter path opens on the
right after 3,000 steps; 6,000 steps), Dyna-Q against Dyna-Q+ (bonus
``kappa sqrt(tau)`` in planning). The book does not give these agents'
settings; we keep example 8.1's alpha, epsilon and gamma, with
``--planning-steps`` (50) and ``--kappa`` (1e-3).

    python experiments/dyna_maze.py [--seeds 50] [--out out/dyna_maze]
"""

import sys
import time

import jax
import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])

from _common import out_dir, parser, write_csv  # noqa: E402

import envs  # noqa: E402
from jaxrl import parallel, stats  # noqa: E402
from jaxrl.results import plots  # noqa: E402
from jaxrl.tabular import control, dp, dyna  # noqa: E402

PLANNING = (0, 5, 50)
OPTIMUM = 14  # steps of the Dyna maze's shortest path
# "Near-optimal": a mean episode of at most 20 steps. Epsilon-greedy
# exploration (0.1) alone keeps the mean of a converged agent near 16.5.
NEAR = 20.0
CHANGING = (  # maze, steps, change, optimum before, after
    ("BlockingMaze-v0", 3000),
    ("ShortcutMaze-v0", 6000),
)
STEPS_PER_POINT = 10  # one Trainer iteration: the cumulative reward's x step


def _greedy_lengths(model, q):
    """Greedy-path lengths of each seed's table ``[N, S, A]`` (100 if the
    path does not reach the goal)."""
    pi = jax.vmap(control.greedy_policy)(q)
    paths = jax.vmap(lambda p: dp.greedy_path(model, p, 100))(pi)
    return np.where(np.asarray(paths.reached_terminal), np.asarray(paths.length), 100)


def figure_8_2(args, out):
    env, params = envs.make("DynaMaze-v0")
    hp = dyna.DynaHParams(alpha=0.1, epsilon=0.1, gamma=0.95)
    model = env.model(params)
    curves, rows, greedy = {}, [], {}
    print(
        f"Dyna maze (figure 8.2): {args.seeds} runs x {args.episodes} episodes, "
        "alpha 0.1, epsilon 0.1, gamma 0.95; optimum 14 steps"
    )
    print(
        f"{'n':>4} {'episode 1':>10} {'episode 2 [95% CI]':>22} "
        f"{'episode 3':>10} {'episode 10':>11} {'last 10':>8}  near-optimal "
        f"(mean <= {NEAR:.0f}) from episode   greedy path = 14"
    )
    for n in PLANNING:
        config = dyna.DynaQConfig(num_episodes=args.episodes, planning_steps=n)
        trainer = dyna.make_train(config, env, params)
        result = parallel.run(
            trainer, hp, seed=args.seed, num_seeds=args.seeds, desc=f"n={n}"
        )
        steps = np.asarray(result.metrics["length"], np.float64)  # [N, E]
        curves[n] = steps
        m, lo, hi = stats.mean_ci(steps)
        near = np.flatnonzero(m <= NEAR)
        first_near = int(near[0]) + 1 if near.size else None
        lengths = _greedy_lengths(model, result.state.q)
        greedy[n] = lengths
        print(
            f"{n:>4} {m[0]:>10.0f} {m[1]:>9.1f} [{lo[1]:.0f}, {hi[1]:.0f}]{'':>4}"
            f" {m[2]:>10.1f} {m[9]:>11.1f} {m[-10:].mean():>8.1f}  "
            f"{first_near if first_near else 'never':>10}{'':>22}"
            f"{np.mean(lengths == OPTIMUM):.0%}"
        )
        rows += [[n, e + 1, m[e], lo[e], hi[e]] for e in range(args.episodes)]
    write_csv(
        out / "dyna_maze.csv",
        ["planning_steps", "episode", "mean_steps", "ci_low", "ci_high"],
        rows,
    )

    fig, axes = plots.figure(1, 2, panel_size=(6.2, 4.2))
    fig.get_layout_engine().set(wspace=0.08)
    ax = axes[0, 0]
    episodes = np.arange(2, args.episodes + 1)
    plots.learning_curves(
        ax,
        episodes,
        np.stack([curves[n][:, 1:] for n in PLANNING]),
        [
            f"{n} planning steps" + (" (direct RL only)" if n == 0 else "")
            for n in PLANNING
        ],
        xlabel="episode (the first, the same random walk for every n, left out)",
        ylabel="steps per episode",
        title="Dyna-Q on the Dyna maze (S&B figure 8.2)",
        robust_ylim=False,
    )
    ax.axhline(OPTIMUM, color="0.4", lw=0.8, ls="--")
    ax.text(
        0.97,
        0.42,
        "dashed: the optimum, 14 steps\n"
        "book: near-optimal after ~25 episodes (n = 0),\n"
        "~5 (n = 5) and ~3 (n = 50)",
        transform=ax.transAxes,
        ha="right",
        fontsize="small",
        color="0.25",
    )
    ax.set_ylim(0, 800)
    ax.set_xlim(1, args.episodes + 0.5)
    # The learned greedy path of the first seed with n = 50 on the maze.
    q50 = np.asarray(result.state.q)[0]
    path = dp.greedy_path(model, control.greedy_policy(q50), 100)
    plots.grid_paths(
        axes[0, 1],
        {
            f"greedy path after {args.episodes} episodes, n=50 (seed 0)": list(
                np.asarray(path.states)[: int(path.length) + 1]
            )
        },
        params.height,
        params.width,
        walls=params.walls,
        goals=(params.goal,),
        start=params.start,
        title="The maze: S start, G goal (+1), walls grey",
    )
    plots.save(fig, out / "dyna_maze.png")
    print(f"wrote {out / 'dyna_maze.png'} and {out / 'dyna_maze.csv'}")
    print(
        "book: n = 0 needs about 25 episodes to reach near-optimal, n = 5 about "
        "5, n = 50 about 3"
    )


def changing_mazes(args, out):
    agents = {
        "Dyna-Q": ("dyna_q", dyna.DynaHParams(alpha=0.1, epsilon=0.1, gamma=0.95)),
        "Dyna-Q+": (
            "dyna_q_plus",
            dyna.DynaPlusHParams(alpha=0.1, epsilon=0.1, gamma=0.95, kappa=args.kappa),
        ),
    }
    n = args.planning_steps
    print(
        f"\nchanging mazes (figures 8.4, 8.5): {args.seeds} runs, n = {n} planning "
        f"steps, alpha 0.1, epsilon 0.1, gamma 0.95, kappa {args.kappa:g} (Dyna-Q+)"
    )
    fig, axes = plots.figure(1, len(CHANGING), panel_size=(6.2, 4.2))
    rows = []
    for col, (name, num_steps) in enumerate(CHANGING):
        env, params = envs.make(name)
        change = int(params.change_at)
        before, after = env.model(params), env.model_after_change(params)
        opt = {
            k: int(dp.greedy_path(m, dp.value_iteration(m, 0.95).pi, 100).length)
            for k, m in (("before", before), ("after", after))
        }
        cumulative = {}
        print(
            f"{name}: the wall changes after {change} steps; shortest path "
            f"{opt['before']} steps before, {opt['after']} after"
        )
        print(
            f"  {'agent':<8} {'cum. reward at ' + str(change):>22} "
            f"{'at ' + str(num_steps) + ' [95% CI]':>24}   reward in the last "
            f"1000 steps   final greedy path = {opt['after']} steps"
        )
        for label, (algorithm, hp) in agents.items():
            config = dyna.DynaConfig(
                algorithm=algorithm,
                planning_steps=n,
                num_steps=num_steps,
                steps_per_iteration=STEPS_PER_POINT,
            )
            trainer = dyna.make_train(config, env, params)
            result = parallel.run(
                trainer, hp, seed=args.seed, num_seeds=args.seeds, desc=label
            )
            c = np.cumsum(np.asarray(result.metrics["reward"], np.float64), axis=1)
            cumulative[label] = c
            m, lo, hi = stats.mean_ci(c)
            at_change = change // STEPS_PER_POINT - 1
            last = c[:, -1] - c[:, -1 - 1000 // STEPS_PER_POINT]
            lengths = _greedy_lengths(after, result.state.q)
            print(
                f"  {label:<8} {m[at_change]:>22.1f} {m[-1]:>10.1f} "
                f"[{lo[-1]:.1f}, {hi[-1]:.1f}]{'':>4} {last.mean():>18.1f}"
                f"{'':>17}{np.mean(lengths == opt['after']):.0%} of runs"
            )
            x = (np.arange(c.shape[1]) + 1) * STEPS_PER_POINT
            rows += [
                [name, label, int(x[i]), m[i], lo[i], hi[i]] for i in range(len(x))
            ]
        ax = axes[0, col]
        x = (np.arange(c.shape[1]) + 1) * STEPS_PER_POINT
        plots.learning_curves(
            ax,
            x,
            np.stack(list(cumulative.values())),
            [
                f"{k} (kappa = {args.kappa:g})" if k == "Dyna-Q+" else k
                for k in cumulative
            ],
            xlabel="time steps",
            ylabel="cumulative reward",
            title=(
                "Blocking maze (S&B figure 8.4)"
                if name.startswith("Blocking")
                else "Shortcut maze (S&B figure 8.5)"
            )
            + f", n = {n}",
            max_points=None,
            robust_ylim=False,
        )
        ax.axvline(change, color="0.4", lw=0.8, ls="--")
        what = "short path closes" if name.startswith("Blocking") else "shortcut opens"
        low, high = ax.get_ylim()
        ax.text(  # at the foot of the line, clear of the legends
            change,
            low + 0.03 * (high - low),
            f" {what}",
            fontsize="x-small",
            va="bottom",
            color="0.3",
        )
        ax.set_xlim(0, num_steps)
    write_csv(
        out / "dyna_changing_mazes.csv",
        ["maze", "agent", "step", "mean_cumulative_reward", "ci_low", "ci_high"],
        rows,
    )
    plots.save(fig, out / "dyna_changing_mazes.png")
    print(
        f"wrote {out / 'dyna_changing_mazes.png'} and {out / 'dyna_changing_mazes.csv'}"
    )


def main() -> None:
    p = parser(__doc__.split("\n")[0], seeds=50, out="out/dyna_maze")
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--planning-steps", type=int, default=50)
    p.add_argument("--kappa", type=float, default=1e-3)
    args = p.parse_args()
    out = out_dir(args.out)
    t0 = time.perf_counter()
    figure_8_2(args, out)
    changing_mazes(args, out)
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
