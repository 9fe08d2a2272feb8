"""Recurrent PPO against feed-forward PPO on bsuite's MemoryChain (gymnax).

An episode shows a random context bit (+1 or -1) in its first observation and
pays +1 at its last step if the action then matches the bit, -1 if not; in
between the observation holds only the time left. A policy without memory can
do no better than chance (expected return 0); one with memory can reach +1.

Both agents run the preset ``ppo_gru-memorychain`` (:mod:`jaxrl.presets`),
the feed-forward one with ``gru_size=0``, over ``--seeds`` seeds in one
compiled call each. Per seed: the greedy evaluation return (mean over
``eval_episodes`` episodes) at every evaluation, the final one, and the env
steps at the first evaluation that reaches the preset's ``solved_at``.

Writes ``OUT/memory_chain.csv`` (one row per agent and seed),
``OUT/curves.csv`` (mean and 95% t-interval of the evaluation return per
agent and evaluation point) and ``OUT/memory_chain.png`` (the curves).

    python experiments/memory_chain.py [--seeds 8] [--memory-length 15]
        [--out out/memory_chain]
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

from jaxrl import presets, stats  # noqa: E402

PRESET = "ppo_gru-memorychain"


def main() -> None:
    p = _common.parser(__doc__.splitlines()[0], seeds=8, out="out/memory_chain")
    p.add_argument(
        "--memory-length",
        type=int,
        default=None,
        help="steps between the context and the query (default: the preset's)",
    )
    args = p.parse_args()
    out = _common.out_dir(args.out)
    preset = presets.get(PRESET)
    settings = dict(preset.settings)
    if args.memory_length is not None:
        settings["memory_length"] = str(args.memory_length)
    agents = {
        f"PPO + GRU({settings['gru_size']})": settings,
        "PPO, feed-forward": {**settings, "gru_size": "0"},
    }
    rows, curves = [], {}
    print(
        f"MemoryChain-bsuite, memory_length={settings['memory_length']}, "
        f"{args.seeds} seeds, solved at greedy return >= {preset.solved_at:g}"
    )
    for label, s in agents.items():
        x, ev, budget, wall = _common.eval_curves(
            PRESET, s, num_seeds=args.seeds, seed=args.seed, desc=label, num_chunks=5
        )
        first = stats.first_crossing(ev, preset.solved_at, x)
        curves[label] = (x, ev)
        for i in range(args.seeds):
            rows.append([label, args.seed, i, ev[i, -1], first[i], budget])
        solved = np.isfinite(first)
        med = np.median(np.where(solved, first, np.inf))
        mean, lo, hi = (float(v) for v in stats.mean_ci(ev[:, -1]))
        print(
            f"{label:<20} final greedy return {mean:+.3f} "
            f"[{lo:+.3f}, {hi:+.3f}] (95% t-CI over seeds), solved "
            f"{solved.mean():.0%}, median steps to solve "
            f"{'> budget' if not np.isfinite(med) else f'{med:,.0f}'}, "
            f"{wall:.0f} s"
        )
    _common.write_csv(
        out / "memory_chain.csv",
        ["agent", "base_seed", "seed", "final_eval_return", "steps_to_solve", "budget"],
        rows,
    )
    curve_rows = []
    for label, (x, ev) in curves.items():
        mean, lo, hi = stats.mean_ci(ev)
        curve_rows += [
            [label, int(s), m, a, b] for s, m, a, b in zip(x, mean, lo, hi, strict=True)
        ]
    _common.write_csv(
        out / "curves.csv",
        ["agent", "env_steps", "mean", "ci_low", "ci_high"],
        curve_rows,
    )
    plot(curves, settings, preset.solved_at, out / "memory_chain.png")
    print(
        f"wrote {out / 'memory_chain.csv'}, {out / 'curves.csv'}, "
        f"{out / 'memory_chain.png'}"
    )


def plot(curves, settings, solved_at, path: Path) -> None:
    import matplotlib.pyplot as plt

    from jaxrl.results import plots

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    labels = list(curves)
    x = curves[labels[0]][0]
    data = np.stack([curves[k][1] for k in labels])
    plots.learning_curves(
        ax,
        x,
        data,
        labels,
        band="ci",
        xlabel="environment steps",
        ylabel="greedy evaluation return",
        title=(
            f"MemoryChain-bsuite, memory_length={settings['memory_length']}: "
            "recall a bit shown at the start"
        ),
    )
    ax.axhline(0.0, color="0.4", ls=":", lw=1)
    ax.text(x[-1], 0.03, "chance", ha="right", va="bottom", fontsize=8, color="0.4")
    ax.axhline(solved_at, color="k", ls="--", lw=0.8)
    ax.set_ylim(-1.05, 1.05)
    ax.title.set_fontsize(9)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


if __name__ == "__main__":
    main()
