"""The Q-table: Q-learning on the chapter's gridworld, values and greedy arrows.

The 10x10 world of 100 states and 4 actions (goal +10, traps -10, bumping a
wall -1), Q-learning with alpha 0.1, gamma 0.99, epsilon 0.1 as in the lesson's
NumPy listing, 1000 episodes per run. Draws the learned ``max_a Q(s, a)`` as a
heatmap with the greedy action as an arrow in each cell (one run, and the mean
table over runs) beside the exact ``V*`` and ``pi*`` of value iteration, and
the return per episode with a 95% CI band.

    python experiments/q_table.py [--seeds 100] [--out out/q_table]
"""

import sys

import jax
import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])

from _common import out_dir, parser, write_csv  # noqa: E402

import envs  # noqa: E402
from jaxrl import parallel, stats  # noqa: E402
from jaxrl.results import plots  # noqa: E402
from jaxrl.tabular import control, dp  # noqa: E402


def main() -> None:
    p = parser(__doc__.split("\n")[0], seeds=100, out="out/q_table")
    p.add_argument("--episodes", type=int, default=1000)
    args = p.parse_args()
    out = out_dir(args.out)
    env, params = envs.make("GridWorld-v0")
    model = env.model(params)
    gamma = 0.99
    hparams = control.ControlHParams(alpha=0.1, epsilon=0.1, gamma=gamma)
    trainer = control.make_train(
        control.ControlConfig(num_episodes=args.episodes), env, params
    )
    result = parallel.run(
        trainer, hparams, seed=args.seed, num_seeds=args.seeds, desc="q_learning"
    )
    q = np.asarray(result.state.q)  # [N, S, A]
    optimal = dp.value_iteration(model, gamma)
    v_star = np.asarray(optimal.v)

    greedy = jax.vmap(control.greedy_policy)(result.state.q)
    paths = jax.vmap(lambda pi: dp.greedy_path(model, pi, 200))(greedy)
    best = dp.greedy_path(model, optimal.pi, 200)
    reached = np.asarray(paths.reached_terminal) & (np.asarray(paths.ret) > 0)
    lengths = np.asarray(paths.length)
    ret = result.metrics["return"]
    last = stats.mean_ci(ret[:, -100:].mean(axis=1))
    # Error of max_a Q against V* on the states of the optimal path, which
    # the agent visits most.
    on_path = np.unique(np.asarray(best.states)[: int(best.length)])
    err = np.abs(q.max(axis=2)[:, on_path] - v_star[on_path]).mean(axis=1)
    err_ci = stats.mean_ci(err)
    print(f"Q-learning on GridWorld-v0, {args.seeds} runs x {args.episodes} episodes")
    print(
        f"  greedy policy reaches the goal from the start: {reached.mean():.0%} "
        f"of runs, path length {lengths[reached].mean():.1f} "
        f"(optimal {int(best.length)})"
    )
    print(
        f"  return over the last 100 episodes: {last[0]:.2f} "
        f"(95% CI {last[1]:.2f} .. {last[2]:.2f}); greedy optimum "
        f"{float(best.ret):.0f}"
    )
    print(
        f"  |max_a Q - V*| on the optimal path's states: {err_ci[0]:.3f} "
        f"(95% CI {err_ci[1]:.3f} .. {err_ci[2]:.3f})"
    )

    m, low, high = stats.mean_ci(ret)
    write_csv(
        out / "returns.csv",
        ["episode", "mean_return", "ci_low", "ci_high"],
        [[i + 1, m[i], low[i], high[i]] for i in range(args.episodes)],
    )
    write_csv(
        out / "q_table_mean.csv",
        ["state", "up", "right", "down", "left", "v_star"],
        [[s, *q.mean(0)[s], v_star[s]] for s in range(q.shape[1])],
    )

    grid = dict(
        walls=params.walls,
        goals=(params.goal,),
        traps=params.traps,
        start=params.start,
    )
    H, W = params.height, params.width
    fig, axes = plots.figure(2, 2, panel_size=(5.6, 5.0), layout="compressed")
    plots.grid_values(
        axes[0, 0],
        q[0].max(1),
        H,
        W,
        policy=q[0].argmax(1),
        title="One run: max_a Q(s, a), greedy arrows",
        **grid,
    )
    q_mean = q.mean(0)
    plots.grid_values(
        axes[0, 1],
        q_mean.max(1),
        H,
        W,
        policy=q_mean.argmax(1),
        title=f"Mean Q-table over {args.seeds} runs",
        **grid,
    )
    plots.grid_values(
        axes[1, 0],
        v_star,
        H,
        W,
        policy=np.asarray(optimal.pi),
        title="Value iteration: V*(s) and pi*",
        **grid,
    )
    plots.learning_curves(
        axes[1, 1],
        None,
        ret,
        ["Q-learning"],
        smooth=20,
        xlabel="episode",
        ylabel="return",
        title="Return per episode (epsilon-greedy)",
    )
    plots.save(fig, out / "q_table.png")
    print(
        f"wrote {out / 'q_table.png'}, {out / 'returns.csv'}, "
        f"{out / 'q_table_mean.csv'}"
    )


if __name__ == "__main__":
    main()
