"""Cliff walking: Q-learning vs SARSA vs Expected SARSA (Sutton & Barto, ex. 6.6).

Epsilon-greedy behaviour (epsilon 0.1), alpha 0.5, gamma 1, 500 episodes on
the 4x12 grid: -1 a step, -100 and back to the start on the cliff. Draws the
sum of rewards per episode averaged over runs (figure 6.4, with 95% CI bands)
and each method's learned greedy path: Q-learning learns the optimal path along
the cliff edge but, exploring, falls off now and then; SARSA learns the longer
safe path and earns more online; Expected SARSA does better still.

    python experiments/cliff_walking.py [--seeds 500] [--out out/cliff_walking]
"""

import sys
from collections import Counter

import jax
import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])

from _common import out_dir, parser, write_csv  # noqa: E402

import envs  # noqa: E402
from jaxrl import parallel, stats  # noqa: E402
from jaxrl.results import plots  # noqa: E402
from jaxrl.tabular import control, dp  # noqa: E402

# The book's episodes have no step limit; the env's default cap (1,000) is
# lifted to one no episode here comes near, and the run counts any that hit it.
MAX_STEPS = 1_000_000
ALGORITHMS = {
    "Q-learning": "q_learning",
    "SARSA": "sarsa",
    "Expected SARSA": "expected_sarsa",
}


def main() -> None:
    p = parser(__doc__.split("\n")[0], seeds=500, out="out/cliff_walking")
    p.add_argument("--episodes", type=int, default=500)
    args = p.parse_args()
    out = out_dir(args.out)
    env, params = envs.make("CliffWalking-v0", max_steps_in_episode=MAX_STEPS)
    model = env.model(params)
    hparams = control.ControlHParams(alpha=0.5, epsilon=0.1, gamma=1.0)
    optimal = dp.value_iteration(model, 1.0)
    returns, paths, rows = {}, {}, []
    print(f"{args.seeds} runs x {args.episodes} episodes, epsilon 0.1, alpha 0.5")
    print(f"{'method':<15} {'last 100 episodes: mean (95% CI)':>34}  greedy path")
    for label, algorithm in ALGORITHMS.items():
        config = control.ControlConfig(num_episodes=args.episodes, algorithm=algorithm)
        trainer = control.make_train(config, env, params)
        result = parallel.run(
            trainer, hparams, seed=args.seed, num_seeds=args.seeds, desc=label
        )
        ret = result.metrics["return"]  # [N, episodes]
        ep_len = np.asarray(result.metrics["length"])
        cut = int(np.asarray(result.metrics["truncated"]).sum())
        returns[label] = ret
        greedy = jax.vmap(control.greedy_policy)(result.state.q)
        path = jax.vmap(lambda pi: dp.greedy_path(model, pi, 100))(greedy)
        lengths = np.asarray(path.length)
        reached = np.asarray(path.reached_terminal)
        # The path most seeds learned, for the figure.
        common = Counter(
            tuple(s[: n + 1])
            for s, n, ok in zip(np.asarray(path.states), lengths, reached, strict=True)
            if ok
        ).most_common(1)
        if common:
            paths[f"{label} ({common[0][1]}/{args.seeds} runs)"] = list(common[0][0])
        last = ret[:, -100:].mean(axis=1)
        mean, lo, hi = stats.mean_ci(last)
        edge = np.mean(
            reached & (lengths == int(dp.greedy_path(model, optimal.pi, 100).length))
        )
        print(
            f"{label:<15} {mean:>12.1f} ({lo:.1f} .. {hi:.1f}){'':>8}"
            f"  optimal 13-step edge path in {edge:.0%} of runs, "
            f"mean length {lengths[reached].mean():.1f}, goal reached in "
            f"{reached.mean():.0%}; longest episode {ep_len.max():,} steps, "
            f"{cut} truncated"
        )
        m, low, high = stats.mean_ci(ret)
        rows += [[label, i + 1, m[i], low[i], high[i]] for i in range(args.episodes)]
    write_csv(
        out / "cliff_returns.csv",
        ["method", "episode", "mean_return", "ci_low", "ci_high"],
        rows,
    )

    fig, axes = plots.figure(2, 1, panel_size=(8.0, 3.8))
    ax = axes[0, 0]
    plots.learning_curves(
        ax,
        None,
        np.stack(list(returns.values())),
        list(returns),
        smooth=10,
        xlabel="episode",
        ylabel="sum of rewards during episode",
        title="Cliff walking (epsilon = 0.1, alpha = 0.5)",
    )
    ax.set_ylim(-100, 0)
    grid = dict(cliff=params.cliff, start=params.start, goals=(params.goal,))
    plots.grid_paths(
        axes[1, 0],
        paths,
        params.height,
        params.width,
        title="Learned greedy paths (most common per method)",
        **grid,
    )
    plots.save(fig, out / "cliff_walking.png")
    print(f"wrote {out / 'cliff_walking.png'} and {out / 'cliff_returns.csv'}")


if __name__ == "__main__":
    main()
