"""DQN and discrete SAC on Atari for as long as a CPU affords: the replay
filling and the losses over the first gradient steps.

Each agent runs its preset (``dqn-atari``: CleanRL's ``dqn_atari_jax``;
``sac_discrete-atari``: CleanRL's ``sac_atari``) on the game with a smaller
replay, warm-up and budget (``--buffer``, ``--warmup``, ``--steps``; the
epsilon schedule of DQN keeps its fraction of the budget). Per iteration it
records the replay's fill (``replay_fill``, the fraction of its slots
written) and each loss (NaN during the warm-up); the curves are the losses'
means over ``--bins`` spans of env steps after the warm-up, per seed.

Writes ``OUT/atari_offpolicy.csv`` (per agent, seed and loss: the mean over
the first and the last fifth of the learning steps, and the replay's final
fill), ``OUT/curves.csv`` and ``OUT/atari_offpolicy.png``.

    python experiments/atari_offpolicy.py [--game Breakout] [--agents dqn,sac_discrete]
        [--steps 40000] [--warmup 10000] [--buffer 100000] [--seeds 1]
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

from jaxrl import presets  # noqa: E402

AGENTS = {
    "dqn": ("dqn-atari", ("loss",)),
    "sac_discrete": ("sac_discrete-atari", ("critic_loss", "actor_loss")),
}


def run(agent: str, task: str, args) -> tuple[dict, float]:
    name, _ = AGENTS[agent]
    settings = dict(presets.get(name).settings)
    settings.update(
        total_timesteps=str(args.steps),
        learning_starts=str(args.warmup),
        buffer_size=str(args.buffer),
    )
    m, wall = _common.train_preset(
        name,
        settings,
        env=task,
        num_seeds=args.seeds,
        seed=args.seed,
        desc=f"{agent} on {task}",
        num_chunks=10,
    )
    return {k: np.asarray(v, float) for k, v in m.items()}, wall


def loss_spans(loss: np.ndarray, env_steps: np.ndarray, bins: int):
    """Per seed, the loss's mean over ``bins`` equal spans of the learning
    iterations (those with a finite loss): ``(x [bins], [seeds, bins])``."""
    learning = np.isfinite(loss).all(axis=0)
    idx = np.flatnonzero(learning)
    if idx.size < bins:
        raise SystemExit(
            f"only {idx.size} learning iterations: give --steps well above --warmup"
        )
    parts = np.array_split(idx, bins)
    x = np.array([env_steps[p[-1]] for p in parts])
    return x, np.stack([loss[:, p].mean(axis=1) for p in parts], axis=1)


def main() -> None:
    p = _common.parser(__doc__.splitlines()[0], seeds=1, out="out/atari_offpolicy")
    p.add_argument(
        "--game", default="Breakout", help="an Atari game (default Breakout)"
    )
    p.add_argument("--agents", default="dqn,sac_discrete", help="comma-separated")
    p.add_argument("--steps", type=int, default=40_000, help="env steps per seed")
    p.add_argument("--warmup", type=int, default=10_000, help="steps before learning")
    p.add_argument("--buffer", type=int, default=100_000, help="replay capacity")
    p.add_argument("--bins", type=int, default=10, help="points per curve")
    args = p.parse_args()
    agents = [a for a in args.agents.split(",") if a]
    unknown = sorted(set(agents) - set(AGENTS))
    if not agents or unknown:
        p.error(f"--agents: {unknown or 'none given'}; allowed: {', '.join(AGENTS)}")
    if args.seeds < 1 or args.bins < 2 or not 0 < args.warmup < args.steps:
        p.error("give --seeds >= 1, --bins >= 2 and 0 < --warmup < --steps")
    out = _common.out_dir(args.out)
    task = f"envpool:{args.game}-v5"
    rows, curve_rows, results = [], [], {}
    for agent in agents:
        m, wall = run(agent, task, args)
        steps = m["env_steps"][0]
        fill = m["replay_fill"]
        print(
            f"{agent} ({AGENTS[agent][0]}) on {task}, {int(steps[-1]):,} steps "
            f"({4 * int(steps[-1]):,} frames), {wall:.0f} s: replay "
            + ", ".join(
                f"{f:.0%} full at {int(s):,} steps"
                for f, s in zip(
                    fill[0, [len(steps) // 4, len(steps) // 2, -1]],
                    steps[[len(steps) // 4, len(steps) // 2, -1]],
                    strict=True,
                )
            )
        )
        curves = {}
        for loss in AGENTS[agent][1]:
            x, spans = loss_spans(m[loss], steps, args.bins)
            curves[loss] = (x, spans)
            k = max(1, args.bins // 5)
            for i in range(args.seeds):
                first, last = spans[i, :k].mean(), spans[i, -k:].mean()
                print(f"  seed {i} {loss}: first fifth {first:.4g}, last {last:.4g}")
                rows.append([agent, i, loss, first, last, fill[i, -1], int(steps[-1])])
                curve_rows += [
                    [agent, i, loss, int(s), v]
                    for s, v in zip(x, spans[i], strict=True)
                ]
        results[agent] = (steps, fill, curves)
    _common.write_csv(
        out / "atari_offpolicy.csv",
        [
            "agent",
            "seed",
            "loss",
            "first_fifth",
            "last_fifth",
            "final_replay_fill",
            "env_steps",
        ],
        rows,
    )
    _common.write_csv(
        out / "curves.csv", ["agent", "seed", "loss", "env_steps", "value"], curve_rows
    )
    plot(results, args, out / "atari_offpolicy.png")
    print(
        f"wrote {out / 'atari_offpolicy.csv'}, {out / 'curves.csv'}, "
        f"{out / 'atari_offpolicy.png'}"
    )


def plot(results, args, path: Path) -> None:
    import matplotlib.pyplot as plt

    cols = max(1 + len(AGENTS[a][1]) for a in results)
    fig, axes = plt.subplots(
        len(results), cols, figsize=(4.3 * cols, 3.3 * len(results)), squeeze=False
    )
    for row, (agent, (steps, fill, curves)) in zip(axes, results.items(), strict=True):
        ax = row[0]
        for i in range(args.seeds):
            ax.plot(steps, 100 * fill[i], lw=1.4, label=f"seed {i}")
        ax.axvline(args.warmup, color="0.4", ls=":", lw=1, label="learning starts")
        ax.set_ylim(0, 105)
        ax.set_ylabel("replay filled (% of slots)")
        ax.set_title(f"{agent}: replay of {args.buffer:,}", fontsize=10)
        ax.legend(fontsize=8, loc="lower right")
        for ax, (loss, (x, spans)) in zip(row[1:], curves.items(), strict=False):
            for i in range(args.seeds):
                ax.plot(x, spans[i], marker="o", ms=3, lw=1.4, label=f"seed {i}")
            ax.set_title(f"{agent}: {loss} (mean per span)", fontsize=10)
            ax.set_ylabel(loss)
            ax.legend(fontsize=8)
        for ax in row[1 + len(curves) :]:
            ax.axis("off")
        for ax in row:
            ax.set_xlabel("environment steps per seed (x4 frames)")
    fig.suptitle(
        f"DQN and discrete SAC on {args.game} (EnvPool, atari preset), 2-core CPU",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


if __name__ == "__main__":
    main()
