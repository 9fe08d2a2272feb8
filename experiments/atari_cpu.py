"""A short PPO run on Atari that a CPU can afford, against a random policy.

PPO runs the ``ppo-atari`` preset (CleanRL's settings; EnvPool's ``atari``
env preset) on each game for ``--steps`` env steps per seed, the seeds
sharing one EnvPool pool. Its curve is the **game score** (unclipped, summed
over all lives) of the games finished in each of ``--bins`` spans of env
steps, averaged per seed. The random policy plays the same env preset
(uniform actions over the minimal action set, 8 envs) until
``--random-games`` games have ended; its mean score and 95% t-interval over
games are the reference line.

Writes ``OUT/atari_cpu.csv`` (per game: the random score and each seed's
final score, the mean over the last 20% of its steps), ``OUT/curves.csv``
and ``OUT/atari_cpu.png``.

    python experiments/atari_cpu.py [--games Breakout] [--steps 81920]
        [--seeds 2] [--out out/atari_cpu]
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
from minatar import binned  # noqa: E402

from jaxrl import presets, stats  # noqa: E402

PRESET = "ppo-atari"


def random_scores(task: str, games: int, seed: int, num_envs: int = 8) -> np.ndarray:
    """Game scores of a uniformly random policy: at least ``games`` finished
    games (or the first 200,000 env steps' worth)."""
    import jax

    import envs
    from envs.vector import make_vec

    env, params = envs.make(task)
    vec = make_vec(env, params, num_envs)
    n = env.action_space(params).n
    chunk = 1_000

    @jax.jit
    def run(state, key):
        def body(state, key):
            action = jax.random.randint(key, (num_envs,), 0, n)
            out = vec.step(key, state, action)
            return out.state, (out.score, out.game_over, out.valid)

        return jax.lax.scan(body, state, jax.random.split(key, chunk))

    key = jax.random.key(seed)
    _, state = vec.reset(key)
    scores, running = [], np.zeros(num_envs)
    for i in range(200_000 // (chunk * num_envs)):
        state, (score, over, valid) = run(state, jax.random.fold_in(key, i))
        score, over, valid = (np.asarray(a) for a in (score, over, valid))
        for t in range(chunk):
            running += np.where(valid[t], score[t], 0.0)
            for e in np.flatnonzero(over[t] & valid[t]):
                scores.append(running[e])
                running[e] = 0.0
        if len(scores) >= games:
            break
    return np.asarray(scores)


def train(task: str, steps: int, num_seeds: int, seed: int):
    settings = {**presets.get(PRESET).settings, "total_timesteps": str(steps)}
    m, wall = _common.train_preset(
        PRESET,
        settings,
        env=task,
        num_seeds=num_seeds,
        seed=seed,
        desc=f"PPO on {task}",
        num_chunks=12,
    )
    return np.asarray(m["return"], float), np.asarray(m["env_steps"][0]), wall


def main() -> None:
    p = _common.parser(__doc__.splitlines()[0], seeds=2, out="out/atari_cpu")
    p.add_argument(
        "--games", default="Breakout", help="comma-separated, e.g. Breakout,Pong"
    )
    p.add_argument(
        "--steps", type=int, default=81_920, help="env steps per seed (default 81,920)"
    )
    p.add_argument("--bins", type=int, default=12, help="points per curve (default 12)")
    p.add_argument("--random-games", type=int, default=30)
    args = p.parse_args()
    games = [g for g in args.games.split(",") if g]
    if not games or args.steps < 1024 or args.bins < 2 or args.seeds < 1:
        p.error("give --games, --steps >= 1024, --bins >= 2 and --seeds >= 1")
    out = _common.out_dir(args.out)
    rows, curve_rows, results = [], [], {}
    for game in games:
        task = f"envpool:{game}-v5"
        rand = random_scores(task, args.random_games, args.seed)
        r_mean, r_lo, r_hi = (float(v) for v in stats.mean_ci(rand))
        print(
            f"{task}: random policy {r_mean:.2f} [{r_lo:.2f}, {r_hi:.2f}] "
            f"(95% t-CI over {len(rand)} games)"
        )
        returns, env_steps, wall = train(task, args.steps, args.seeds, args.seed)
        x, curves = binned(returns, env_steps, args.bins)
        last = env_steps > 0.8 * env_steps[-1]
        final = np.nanmean(returns[:, last], axis=1)
        print(
            f"  PPO ({PRESET}) score over the last 20% of {int(env_steps[-1]):,} "
            f"steps ({4 * int(env_steps[-1]):,} frames): "
            + ", ".join(f"seed {i}: {f:.2f}" for i, f in enumerate(final))
            + f"; {wall:.0f} s"
        )
        results[game] = (x, curves, rand)
        for i, f in enumerate(final):
            rows.append([game, args.seed, i, f, int(env_steps[-1]), r_mean, r_lo, r_hi])
        for i in range(args.seeds):
            curve_rows += [
                [game, i, int(s), c] for s, c in zip(x, curves[i], strict=True)
            ]
    _common.write_csv(
        out / "atari_cpu.csv",
        [
            "game",
            "base_seed",
            "seed",
            "final_score",
            "env_steps",
            "random_mean",
            "random_ci_low",
            "random_ci_high",
        ],
        rows,
    )
    _common.write_csv(
        out / "curves.csv", ["game", "seed", "env_steps", "score"], curve_rows
    )
    plot(results, args.seeds, out / "atari_cpu.png")
    print(
        f"wrote {out / 'atari_cpu.csv'}, {out / 'curves.csv'}, {out / 'atari_cpu.png'}"
    )


def plot(results, num_seeds: int, path: Path) -> None:
    import matplotlib.pyplot as plt

    n = len(results)
    fig, axes = plt.subplots(1, n, figsize=(5.4 * n, 3.8), squeeze=False)
    for ax, (game, (x, curves, rand)) in zip(axes[0], results.items(), strict=True):
        for i in range(num_seeds):
            ok = np.isfinite(curves[i])
            ax.plot(
                x[ok], curves[i, ok], marker="o", ms=3, lw=1.4, label=f"PPO, seed {i}"
            )
        mean, lo, hi = stats.mean_ci(rand)
        ax.axhline(mean, color="0.3", ls=":", lw=1.2, label="random policy")
        ax.axhspan(lo, hi, color="0.5", alpha=0.15, lw=0)
        ax.set_title(f"{game} (EnvPool, atari preset)", fontsize=10)
        ax.set_xlabel("environment steps per seed (x4 frames)")
        ax.set_ylabel("game score per finished game")
        ax.legend(fontsize=8, loc="upper left")
    fig.suptitle("PPO (ppo-atari) on a 2-core CPU against a random policy", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


if __name__ == "__main__":
    main()
