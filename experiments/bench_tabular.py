"""Seed-steps per second: vmapped JAX Q-learning vs the textbook NumPy loop.

Both run the same task, Q-learning with epsilon-greedy behaviour on the
chapter's 10x10 gridworld (``GridWorld-v0``), for the same number of episodes
per seed, and both count real environment steps. The NumPy side is the loop as
the textbook writes it, one seed after another:

    Q[s, a] += alpha * (target - Q[s, a])

with the environment as lookup tables (next state, reward, terminal) built from
the env's exact model, the fastest a plain Python step can be. A sequential
loop's seed-steps per second do not depend on how many seeds it is asked for,
so it is measured once on a few seeds and compared against every JAX size.

    python experiments/bench_tabular.py [--sizes 1,100,1000,10000] [--episodes 100]
"""

import argparse
import sys
import time

import jax
import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])

import envs  # noqa: E402
from jaxrl import parallel  # noqa: E402
from jaxrl.tabular import control  # noqa: E402

ALPHA, EPSILON, GAMMA = 0.5, 0.1, 0.99


def numpy_q_learning(next_s, rew, term, start, max_steps, episodes, rng):
    """The textbook's tabular Q-learning, one seed, plain NumPy. Returns steps."""
    n_states, n_actions = rew.shape
    Q = np.zeros((n_states, n_actions))
    steps = 0
    for _ in range(episodes):
        s = start
        for _t in range(max_steps):
            if rng.random() < EPSILON:
                a = rng.integers(n_actions)
            else:
                q = Q[s]
                a = rng.choice(np.flatnonzero(q == q.max()))
            s1, r, done = next_s[s, a], rew[s, a], term[next_s[s, a]]
            target = r if done else r + GAMMA * np.max(Q[s1])
            Q[s, a] += ALPHA * (target - Q[s, a])
            steps += 1
            s = s1
            if done:
                break
    return steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="1,100,1000,10000")
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument(
        "--steps", type=int, default=10_000, help="steps per seed in step mode"
    )
    p.add_argument("--numpy-seeds", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    env, params = envs.make("GridWorld-v0")
    model = env.model(params)
    next_s = np.asarray(model.P.argmax(-1))
    rew = np.asarray(model.R)
    term = np.asarray(model.terminal)
    start = int(np.asarray(model.start).argmax())
    max_steps = int(params.max_steps_in_episode)

    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    np_steps = sum(
        numpy_q_learning(next_s, rew, term, start, max_steps, args.episodes, rng)
        for _ in range(args.numpy_seeds)
    )
    np_rate = np_steps / (time.perf_counter() - t0)
    print(
        f"NumPy textbook loop: {np_steps} steps over {args.numpy_seeds} seeds, "
        f"{np_rate:,.0f} seed-steps/s"
    )

    hparams = control.ControlHParams(alpha=ALPHA, epsilon=EPSILON, gamma=GAMMA)
    modes = {
        # Every seed steps every iteration; episodes auto-reset (the fast mode).
        "step": control.ControlConfig(
            num_steps=args.steps, steps_per_iteration=args.steps // 10
        ),
        # The textbook's unit: under vmap each episode's loop runs until the
        # longest seed's episode ends, so some lanes idle.
        "episode": control.ControlConfig(num_episodes=args.episodes),
    }
    print(
        f"{'mode':>8} {'seeds':>7} {'compile s':>10} {'run s':>8} "
        f"{'seed-steps/s':>14} {'vs NumPy':>9} {'lanes busy':>10}"
    )
    for n in sizes:
        keys = parallel.seed_keys(0, n)
        for mode, config in modes.items():
            trainer = control.make_train(config, env, params)
            fn = jax.jit(jax.vmap(trainer, in_axes=(0, None)))
            t0 = time.perf_counter()
            fn.lower(keys, hparams).compile()
            compile_s = time.perf_counter() - t0
            best = float("inf")
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                out = jax.block_until_ready(fn(keys, hparams))
                best = min(best, time.perf_counter() - t0)
            if mode == "step":
                steps, busy = n * args.steps, 1.0
            else:
                lengths = np.asarray(out.metrics["length"])  # [N, episodes]
                steps = int(lengths.sum())
                busy = steps / (lengths.max(axis=0).sum() * n)
            rate = steps / best
            print(
                f"{mode:>8} {n:>7} {compile_s:>10.2f} {best:>8.3f} {rate:>14,.0f} "
                f"{rate / np_rate:>8.1f}x {busy:>10.0%}"
            )


if __name__ == "__main__":
    main()
