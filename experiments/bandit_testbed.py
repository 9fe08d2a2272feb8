"""The 10-armed testbed of Sutton & Barto (2018), sections 2.3-2.8.

Each run draws a fresh 10-armed problem, ``q*(a) ~ N(0, 1)``, rewards
``R ~ N(q*(A), 1)``, and lets an agent pull 1000 times; the curves average
2000 runs. The agents:

* epsilon-greedy with sample averages, ``epsilon`` in {0, 0.01, 0.1}
  (figure 2.2);
* optimistic greedy, ``Q_1 = 5``, ``epsilon = 0``, ``alpha = 0.1``, against
  the "realistic" epsilon-greedy ``Q_1 = 0``, ``epsilon = 0.1``,
  ``alpha = 0.1`` (figure 2.3);
* UCB, ``c = 2`` (figure 2.4);
* the gradient bandit, ``alpha = 0.1``, with a baseline; and figure 2.5:
  ``alpha`` in {0.1, 0.4} with and without a baseline on a testbed whose
  true values are shifted to ``q*(a) ~ N(+4, 1)``.

Every agent sees the same problems and reward noise seeds (run ``i`` uses
``fold_in(key(seed), i)``): the comparisons are paired. Each agent family is
one compiled call (``jaxrl.parallel.run``, a sweep over its settings).

Writes into ``--out``: ``curves.csv`` (per step and agent: mean and 95% CI of
reward, % optimal action and cumulative regret), ``summary.csv`` (the headline
numbers), ``fig2_2_epsilon_greedy.png``, ``fig2_3_optimistic.png``,
``fig2_4_ucb.png``, ``fig2_5_gradient.png`` and ``agents.png`` (every agent:
reward, % optimal and cumulative regret).

    python experiments/bandit_testbed.py [--seeds 2000] [--steps 1000]
"""

import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])

from _common import out_dir, parser, write_csv  # noqa: E402

import envs  # noqa: E402
from jaxrl import parallel, stats  # noqa: E402
from jaxrl.results import plots  # noqa: E402
from jaxrl.tabular import bandits  # noqa: E402

FINAL = 100  # headline numbers average the last FINAL steps of each run


@dataclass
class Curves:
    """Per-run results of one agent: reward, optimal and regret, ``[N, T]``."""

    label: str
    testbed_mean: float
    reward: np.ndarray
    optimal: np.ndarray
    cum_regret: np.ndarray


def run_family(
    config: bandits.BanditConfig,
    settings: list[tuple[str, Any]],
    *,
    testbed_mean: float,
    steps: int,
    seeds: int,
    seed: int,
) -> list[Curves]:
    """Run every ``(label, hparams)`` of one agent family in one compiled call."""
    env, env_params = envs.make(
        "Bandit-v0", mean=testbed_mean, max_steps_in_episode=steps
    )
    trainer = bandits.make_train(config, env, env_params)
    hparams = parallel.stack([hp for _, hp in settings])
    t0 = time.perf_counter()
    out = parallel.run(
        trainer,
        hparams,
        seed=seed,
        num_seeds=seeds,
        sweep=True,
        num_chunks=1,
        progress=False,
    )
    m = out.metrics  # [H, N, T]
    labels = ", ".join(label for label, _ in settings)
    print(f"  ran {labels} in {time.perf_counter() - t0:.1f} s", flush=True)
    return [
        Curves(
            label,
            testbed_mean,
            m["reward"][h],
            m["optimal"][h],
            np.cumsum(m["regret"][h], axis=-1, dtype=np.float64),
        )
        for h, (label, _) in enumerate(settings)
    ]


def main() -> None:
    p = parser(__doc__.split("\n")[0], seeds=2000, out="out/bandit_testbed")
    p.add_argument(
        "--steps", type=int, default=1000, help="pulls per run (default 1000)"
    )
    args = p.parse_args()
    if args.seeds < 2:
        p.error("--seeds must be at least 2 (confidence intervals need two runs)")
    if args.steps < FINAL:
        p.error(f"--steps must be at least {FINAL}")
    out = out_dir(args.out)
    t_start = time.perf_counter()
    common = {"steps": args.steps, "seeds": args.seeds, "seed": args.seed}
    HP, OHP = bandits.BanditHParams, bandits.OptimisticHParams

    print(f"10-armed testbed: {args.seeds} runs x {args.steps} steps")
    eps = run_family(
        bandits.BanditConfig(args.steps, "epsilon_greedy", "sample_average"),
        [
            ("ε=0 (greedy)", HP(epsilon=0.0)),
            ("ε=0.01", HP(epsilon=0.01)),
            ("ε=0.1", HP(epsilon=0.1)),
        ],
        testbed_mean=0.0,
        **common,
    )
    optimistic = run_family(
        bandits.OptimisticConfig(args.steps),
        [
            ("optimistic greedy Q1=5, ε=0, α=0.1", OHP(initial_value=5.0)),
            ("realistic ε-greedy Q1=0, ε=0.1, α=0.1", OHP(0.1, 0.1, initial_value=0.0)),
        ],
        testbed_mean=0.0,
        **common,
    )
    ucb = run_family(
        bandits.UCBConfig(args.steps),
        [("UCB c=2", HP(c=2.0))],
        testbed_mean=0.0,
        **common,
    )
    gradient = run_family(
        bandits.GradientConfig(args.steps, baseline=True),
        [("gradient α=0.1, baseline", HP(alpha=0.1))],
        testbed_mean=0.0,
        **common,
    )
    fig25 = []
    for baseline in (True, False):
        word = "with" if baseline else "without"
        fig25 += run_family(
            bandits.GradientConfig(args.steps, baseline=baseline),
            [(f"α={a}, {word} baseline", HP(alpha=a)) for a in (0.1, 0.4)],
            testbed_mean=4.0,
            **common,
        )
    agents = eps + optimistic + ucb + gradient

    # ---- statistics, CSV, headline numbers ------------------------------- #
    steps = np.arange(1, args.steps + 1)
    curve_rows, summary_rows = [], []
    print(
        f"\nLast {FINAL} steps (mean over runs, 95% CI); cumulative regret at step "
        f"{args.steps}; average reward over all steps"
    )
    print(
        f"{'agent':<40} {'testbed':>7} {'avg reward':>22} {'% optimal':>20} "
        f"{'cum. regret':>22} {'all-steps reward':>17}"
    )
    for c in agents + fig25:
        per_step = [
            stats.mean_ci(c.reward, axis=0),
            stats.mean_ci(100.0 * c.optimal, axis=0),
            stats.mean_ci(c.cum_regret, axis=0),
        ]
        for t in range(args.steps):
            curve_rows.append(
                [c.label, c.testbed_mean, int(steps[t])]
                + [f"{float(x[t]):.5g}" for triple in per_step for x in triple]
            )
        final_r = stats.mean_ci(c.reward[:, -FINAL:].mean(axis=1))
        final_o = stats.mean_ci(100.0 * c.optimal[:, -FINAL:].mean(axis=1))
        regret = stats.mean_ci(c.cum_regret[:, -1])
        all_r = stats.mean_ci(c.reward.mean(axis=1))
        summary_rows.append(
            [c.label, c.testbed_mean]
            + [f"{float(x):.5g}" for x in (*final_r, *final_o, *regret, *all_r)]
        )

        def ci(m, lo, hi, d=3):
            return f"{m:.{d}f} [{lo:.{d}f}, {hi:.{d}f}]"

        print(
            f"{c.label:<40} {c.testbed_mean:>+7.0f} {ci(*final_r):>22} "
            f"{ci(*final_o, d=1):>20} {ci(*regret, d=1):>22} {all_r[0]:>17.3f}"
        )
    stat_cols = [
        f"{metric}_{s}"
        for metric in ("reward", "optimal_pct", "cum_regret")
        for s in ("mean", "ci_low", "ci_high")
    ]
    write_csv(
        out / "curves.csv", ["agent", "testbed_mean", "step", *stat_cols], curve_rows
    )
    write_csv(
        out / "summary.csv",
        ["agent", "testbed_mean"]
        + [
            f"{name}_{s}"
            for name in (
                f"reward_last{FINAL}",
                f"optimal_pct_last{FINAL}",
                f"cum_regret_step{args.steps}",
                "reward_all_steps",
            )
            for s in ("mean", "ci_low", "ci_high")
        ],
        summary_rows,
    )

    by = {c.label: c for c in agents + fig25}
    ucb_c, eps_c = by["UCB c=2"], by["ε=0.1"]
    ucb_mean = ucb_c.reward.mean(0)
    eps_mean = eps_c.reward.mean(0)
    ahead = ucb_mean > eps_mean
    # first step after which UCB's mean reward stays above epsilon-greedy's
    behind = np.flatnonzero(~ahead)
    lead_from = int(behind[-1]) + 2 if behind.size else 1
    diff = stats.mean_ci(ucb_c.reward[:, 10:].mean(1) - eps_c.reward[:, 10:].mean(1))
    print(
        f"\nUCB minus ε=0.1, mean reward over steps 11-{args.steps} (paired runs): "
        f"{diff[0]:+.3f} [{diff[1]:+.3f}, {diff[2]:+.3f}]; UCB's per-step mean "
        f"stays above ε=0.1's from step {lead_from} on"
    )
    same = np.array_equal(
        by["gradient α=0.1, baseline"].optimal, by["α=0.1, with baseline"].optimal
    )
    print(
        "gradient bandit with baseline is shift-invariant: same arms pulled on the "
        f"+0 and +4 testbeds in every run: {same}"
    )
    opt_c = by["optimistic greedy Q1=5, ε=0, α=0.1"]
    spike = int(np.argmax(opt_c.optimal[:, :50].mean(0)))
    print(
        f"optimistic greedy: spike of {100 * opt_c.optimal[:, spike].mean():.1f}% "
        f"optimal at step {spike + 1} (book: step 11)"
    )

    # ---- figures ---------------------------------------------------------- #
    def panels(n, title, width=6.0):
        fig, axes = plots.figure(n, 1, panel_size=(width, 3.4))
        fig.suptitle(title)
        return fig, list(axes[:, 0])

    # Figure 2.2: the book's colours (green greedy, red 0.01, blue 0.1).
    book = ["#2ca02c", "#d62728", "#1f77b4"]
    fig, axes = panels(
        2, "Figure 2.2: ε-greedy (sample averages) on the 10-armed testbed"
    )
    plots.bandit_curves(
        axes,
        {c.label: c.reward for c in eps},
        {c.label: c.optimal for c in eps},
        colors=book,
    )
    plots.save(fig, out / "fig2_2_epsilon_greedy.png")

    def percent_optimal(title, curves, colors, name):
        fig, axes = panels(1, title)
        plots.learning_curves(
            axes[0],
            steps,
            100.0 * np.stack([c.optimal for c in curves]),
            [c.label for c in curves],
            colors=colors,
            xlabel="steps",
            ylabel="% optimal action",
        )
        axes[0].set_ylim(0, 100)
        plots.save(fig, out / name)

    percent_optimal(
        "Figure 2.3: optimistic initial values",
        optimistic,
        ["#1f77b4", "#7f7f7f"],
        "fig2_3_optimistic.png",
    )

    fig, axes = panels(1, "Figure 2.4: UCB vs ε-greedy")
    plots.bandit_curves(
        axes,
        {c.label: c.reward for c in (ucb_c, eps_c)},
        colors=["#1f77b4", "#7f7f7f"],
    )
    plots.save(fig, out / "fig2_4_ucb.png")

    percent_optimal(
        "Figure 2.5: gradient bandit, testbed with q*(a) ~ N(+4, 1)",
        fig25,
        ["#1f77b4", "#9ecae1", "#8c564b", "#d2a679"],
        "fig2_5_gradient.png",
    )

    fig, axes = panels(3, "All agents on the 10-armed testbed", width=7.5)
    colors = plots.palette(len(agents))
    plots.bandit_curves(
        axes[:2],
        {c.label: c.reward for c in agents},
        {c.label: c.optimal for c in agents},
        colors=colors,
    )
    plots.learning_curves(
        axes[2],
        steps,
        np.stack([c.cum_regret for c in agents]),
        [c.label for c in agents],
        colors=colors,
        xlabel="steps",
        ylabel="cumulative regret",
        legend=False,
    )
    axes[1].get_legend().remove()
    axes[0].legend(
        title=axes[0].get_legend().get_title().get_text(),
        fontsize="x-small",
        title_fontsize="x-small",
        loc="lower right",
        ncols=2,
    )
    plots.save(fig, out / "agents.png")

    print(f"\nwrote {out}/: curves.csv, summary.csv, fig2_2_epsilon_greedy.png, ")
    print("  fig2_3_optimistic.png, fig2_4_ucb.png, fig2_5_gradient.png, agents.png")
    print(f"total {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
