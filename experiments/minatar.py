"""PPO, DQN, SAC-discrete and Dreamer on the MinAtar games (gymnax), on pixels.

Each agent runs its preset (``ppo-minatar``, ``dqn-minatar``,
``sac_discrete-minatar``, ``dreamer-minatar``: the MinAtar CNN torso on
gymnax's ``[10, 10, C]`` frames) on each game over ``--seeds`` seeds in one
compiled call. The curves are the **training** returns, as in Young & Tian
(2019)'s figure: each seed's finished episodes averaged over ``--bins`` equal
spans of env steps (DQN's include its epsilon-greedy exploration, as theirs
do; Dreamer's its sampled actions). The final return of a
seed is the mean over the last 10% of its steps; the table gives the mean and
its 95% t-interval over seeds, and a uniformly random policy's mean return
on the same game (``--random-episodes`` episodes) for scale.

Writes ``OUT/minatar.csv`` (one row per game, agent and seed),
``OUT/curves.csv`` (mean and 95% t-interval per game, agent and bin) and
``OUT/minatar.png`` (one panel per game; ``--plot-only`` redraws it from
the CSVs). Results already in ``OUT`` for other (game, agent) pairs are
kept, so a run of one agent on some games adds to an earlier run's table
and figure; a pair run again replaces its earlier rows.

    python experiments/minatar.py [--seeds 8] [--games Breakout-MinAtar,...]
        [--agents ppo,dqn,sac_discrete,dreamer] [--off-policy-games NAME,...]
        [--steps-scale 1.0] [--out out/minatar]
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

from jaxrl import presets, stats  # noqa: E402

GAMES = (
    "Breakout-MinAtar",
    "SpaceInvaders-MinAtar",
    "Asterix-MinAtar",
    "Freeway-MinAtar",
)
AGENTS = {
    "ppo": "ppo-minatar",
    "dqn": "dqn-minatar",
    "sac_discrete": "sac_discrete-minatar",
    "dreamer": "dreamer-minatar",
}
LABELS = {
    "ppo": "PPO",
    "dqn": "DQN",
    "sac_discrete": "SAC-discrete",
    "dreamer": "Dreamer",
}
COLORS = {"ppo": "C0", "dqn": "C1", "sac_discrete": "C2", "dreamer": "C3"}


def binned(returns: np.ndarray, env_steps: np.ndarray, bins: int):
    """Per seed, the mean of the iterations' training returns (NaN where no
    episode finished) in each of ``bins`` equal spans of env steps:
    ``(x [bins], curves [seeds, bins])``, ``x`` the end of each span."""
    edges = np.linspace(0, env_steps[-1], bins + 1)
    which = np.clip(np.searchsorted(edges, env_steps, side="left") - 1, 0, bins - 1)
    curves = np.full((returns.shape[0], bins), np.nan)
    for b in range(bins):
        cols = returns[:, which == b]
        has = np.isfinite(cols).any(axis=1)
        curves[has, b] = np.nanmean(cols[has], axis=1)
    return edges[1:], curves


def final_return(returns: np.ndarray, env_steps: np.ndarray) -> np.ndarray:
    """Per seed, the mean training return over the last 10% of env steps."""
    last = env_steps > 0.9 * env_steps[-1]
    return np.nanmean(returns[:, last], axis=1)


def run(agent: str, game: str, num_seeds: int, seed: int, scale: float):
    preset = presets.get(AGENTS[agent])
    settings = dict(preset.settings)
    steps = int(round(preset.config["total_timesteps"] * scale))
    settings["total_timesteps"] = str(steps)
    if "exploration_fraction" in preset.hparams:  # the same 100K-step decay
        fraction = preset.hparams["exploration_fraction"] / scale
        settings["exploration_fraction"] = str(min(1.0, fraction))
    m, wall = _common.train_preset(
        AGENTS[agent],
        settings,
        env=game,
        num_seeds=num_seeds,
        seed=seed,
        desc=f"{LABELS[agent]} on {game}",
        num_chunks=5,
    )
    return np.asarray(m["return"], float), np.asarray(m["env_steps"][0]), wall


def random_return(game: str, episodes: int, seed: int) -> float:
    """Mean return of a uniformly random policy over ``episodes`` episodes
    (one per env, run to its end or the game's step cap)."""
    import jax
    import jax.numpy as jnp

    import envs

    env, params = envs.make(game)
    n = env.action_space(params).n
    horizon = int(params.max_steps_in_episode)

    @jax.jit
    def rollout(key):
        reset_key, key = jax.random.split(key)
        obs, state = jax.vmap(env.reset, (0, None))(
            jax.random.split(reset_key, episodes), params
        )

        def step(carry, key):
            state, total, alive = carry
            act_key, step_key = jax.random.split(key)
            action = jax.random.randint(act_key, (episodes,), 0, n)
            _, state, reward, terminated, truncated, _ = jax.vmap(
                env.step, (0, 0, 0, None)
            )(jax.random.split(step_key, episodes), state, action, params)
            total = total + jnp.where(alive, reward, 0.0)
            alive = alive & ~(terminated | truncated)
            return (state, total, alive), None

        init = (state, jnp.zeros(episodes), jnp.ones(episodes, bool))
        (_, total, _), _ = jax.lax.scan(step, init, jax.random.split(key, horizon))
        return total.mean()

    return float(rollout(jax.random.key(seed)))


def main() -> None:
    p = _common.parser(__doc__.splitlines()[0], seeds=8, out="out/minatar")
    p.add_argument(
        "--games", default=",".join(GAMES), help="comma-separated gymnax names"
    )
    p.add_argument(
        "--agents",
        default="ppo,dqn,sac_discrete",
        help=f"comma-separated, of {', '.join(AGENTS)} (default: all but dreamer)",
    )
    p.add_argument(
        "--steps-scale",
        type=float,
        default=1.0,
        help="multiply each preset's budget (default 1: PPO "
        f"{presets.MINATAR_STEPS:,}, DQN {presets.MINATAR_DQN_STEPS:,}, "
        f"SAC-discrete {presets.MINATAR_SAC_STEPS:,}, Dreamer "
        f"{presets.MINATAR_DREAMER_STEPS:,} env steps per seed)",
    )
    p.add_argument(
        "--off-policy-games",
        default=None,
        help="games on which DQN, SAC-discrete and Dreamer run (default: all of "
        "--games; on a CPU they cost several times PPO's wall time per env step)",
    )
    p.add_argument("--bins", type=int, default=25, help="points per curve (default 25)")
    p.add_argument("--random-episodes", type=int, default=1000)
    p.add_argument(
        "--plot-only",
        action="store_true",
        help="redraw OUT/minatar.png from the CSVs of a finished run",
    )
    args = p.parse_args()
    if args.plot_only:
        out = Path(args.out)
        if not (out / "curves.csv").exists():
            p.error(f"--plot-only: no {out / 'curves.csv'}; run the experiment first")
        plot(*load(out), out / "minatar.png")
        print(f"wrote {out / 'minatar.png'}")
        return
    games = [g for g in args.games.split(",") if g]
    agents = [a for a in args.agents.split(",") if a]
    off_games = (
        games if args.off_policy_games is None else args.off_policy_games.split(",")
    )
    bad = [g for g in games + off_games if g not in GAMES]
    bad += [a for a in agents if a not in AGENTS]
    if bad or not games or not agents:
        p.error(
            f"unknown or empty --games/--agents {bad}; games: {', '.join(GAMES)}; "
            f"agents: {', '.join(AGENTS)}"
        )
    if args.steps_scale <= 0 or args.bins < 2 or args.seeds < 2:
        p.error("--steps-scale must be > 0, --bins and --seeds >= 2")
    out = _common.out_dir(args.out)
    rows, curve_rows = [], []
    for game in games:
        rand = random_return(game, args.random_episodes, args.seed)
        print(f"{game}: random policy {rand:.2f} (mean of {args.random_episodes})")
        for agent in [a for a in agents if a == "ppo" or game in off_games]:
            returns, env_steps, wall = run(
                agent, game, args.seeds, args.seed, args.steps_scale
            )
            x, curves = binned(returns, env_steps, args.bins)
            final = final_return(returns, env_steps)
            mean, lo, hi = (float(v) for v in stats.mean_ci(final))
            print(
                f"  {LABELS[agent]:<13} final return {mean:.2f} [{lo:.2f}, {hi:.2f}] "
                f"(95% t-CI, {args.seeds} seeds, last 10% of {int(env_steps[-1]):,} "
                f"steps), {wall:.0f} s"
            )
            for i, f in enumerate(final):
                rows.append([game, agent, args.seed, i, f, int(env_steps[-1]), rand])
            cm, clo, chi = stats.mean_ci(curves)
            curve_rows += [
                [game, agent, int(s), a, b, c]
                for s, a, b, c in zip(x, cm, clo, chi, strict=True)
            ]
    done = {(r[0], r[1]) for r in rows}
    kept = [earlier(out / name, done) for name in ("minatar.csv", "curves.csv")]
    if kept[0]:
        pairs = sorted({(r[0], r[1]) for r in kept[0]})
        print(
            f"kept the earlier results in {out} for "
            + ", ".join(f"{agent} on {game}" for game, agent in pairs)
            + " (a pair run again replaces its rows)"
        )
    _common.write_csv(
        out / "minatar.csv",
        ["game", "agent", "base_seed", "seed", "final_return", "env_steps", "random"],
        kept[0] + rows,
    )
    _common.write_csv(
        out / "curves.csv",
        ["game", "agent", "env_steps", "mean", "ci_low", "ci_high"],
        kept[1] + curve_rows,
    )
    plot(*load(out), out / "minatar.png")
    print(f"wrote {out / 'minatar.csv'}, {out / 'curves.csv'}, {out / 'minatar.png'}")


def earlier(path: Path, replaced: set) -> list[list[str]]:
    """The rows of an earlier run's CSV in the same folder whose (game,
    agent) this run did not redo: results add up across runs, not lost."""
    import csv

    if not path.exists():
        return []
    with open(path) as f:
        rows = list(csv.reader(f))[1:]
    return [r for r in rows if (r[0], r[1]) not in replaced]


def load(out: Path):
    """The curves and random returns a finished run wrote, for ``--plot-only``."""
    import csv

    curves: dict = {}
    with open(out / "curves.csv") as f:
        for r in csv.DictReader(f):
            series = curves.setdefault(r["game"], {}).setdefault(r["agent"], [])
            series.append(
                [float(r[k]) for k in ("env_steps", "mean", "ci_low", "ci_high")]
            )
    curves = {
        g: {a: tuple(np.asarray(v).T) for a, v in agents.items()}
        for g, agents in curves.items()
    }
    random, seeds = {}, set()
    with open(out / "minatar.csv") as f:
        for r in csv.DictReader(f):
            random[r["game"]] = float(r["random"])
            seeds.add(r["seed"])
    return curves, random, len(seeds)


def plot(curves, random, num_seeds, path: Path) -> None:
    """One panel per game: each agent's mean training return with its 95%
    t-interval band, and the random policy's mean as a dotted line."""
    import matplotlib.pyplot as plt

    n = len(curves)
    cols = min(n, 2)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(
        rows, cols, figsize=(5.2 * cols, 3.6 * rows), squeeze=False
    )
    for ax, (game, agents) in zip(axes.flat, curves.items(), strict=False):
        for agent in [a for a in AGENTS if a in agents]:
            x, mean, lo, hi = (np.asarray(v) for v in agents[agent])
            ok = np.isfinite(mean)  # a span in which no episode ended
            x, mean, lo, hi = x[ok], mean[ok], lo[ok], hi[ok]
            ax.plot(x, mean, color=COLORS[agent], lw=1.6, label=LABELS[agent])
            ax.fill_between(x, lo, hi, color=COLORS[agent], alpha=0.2, lw=0)
        ax.axhline(random[game], color="0.4", ls=":", lw=1, label="random policy")
        ax.set_title(game, fontsize=10)
        ax.set_xlabel("environment steps per seed")
        ax.set_ylabel("training return")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")  # the curves rise to the upper right
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    title = (
        f"MinAtar (gymnax), MinAtar CNN torso: mean and 95% CI over {num_seeds} seeds"
    )
    if cols == 1:  # one panel: two lines, or the title runs off the figure
        title = title.replace(": ", "\n", 1)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


if __name__ == "__main__":
    main()
