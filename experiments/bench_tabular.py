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
With ``--repeats R`` both sides are timed R times, alternating (NumPy, then
every JAX size), and the table gives each side's median and the spread of
the ratio over the rounds.

Where the time goes: the script counts the kernels (fusions and copies) of
the compiled per-step loop body, which XLA:CPU runs one after another at
every step, and prints for each size the time per scan step, per kernel and
per seed-step, with the memory traffic the table and state reads imply.

    python experiments/bench_tabular.py [--sizes 1,100,1000,10000] [--episodes 100]
"""

import argparse
import re
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


def _time(fn, *args) -> float:
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - t0


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
    if args.repeats < 1 or args.numpy_seeds < 1 or not all(n >= 1 for n in sizes):
        p.error("--repeats, --numpy-seeds and every size must be >= 1")

    env, params = envs.make("GridWorld-v0")
    model = env.model(params)
    next_s = np.asarray(model.P.argmax(-1))
    rew = np.asarray(model.R)
    term = np.asarray(model.terminal)
    start = int(np.asarray(model.start).argmax())
    max_steps = int(params.max_steps_in_episode)

    def numpy_rate(round_: int) -> float:
        rng = np.random.default_rng(round_)
        t0 = time.perf_counter()
        steps = sum(
            numpy_q_learning(next_s, rew, term, start, max_steps, args.episodes, rng)
            for _ in range(args.numpy_seeds)
        )
        return steps / (time.perf_counter() - t0)

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
    compiled, compile_s, work = {}, {}, {}
    for n in sizes:
        keys = parallel.seed_keys(0, n)
        for mode, config in modes.items():
            trainer = control.make_train(config, env, params)
            fn = jax.jit(jax.vmap(trainer, in_axes=(0, None)))
            t0 = time.perf_counter()
            compiled[mode, n] = fn.lower(keys, hparams).compile()
            compile_s[mode, n] = time.perf_counter() - t0
            out = compiled[mode, n](keys, hparams)  # warm, and count the steps
            if mode == "step":
                work[mode, n] = (n * args.steps, 1.0)
            else:
                lengths = np.asarray(out.metrics["length"])  # [N, episodes]
                steps = int(lengths.sum())
                work[mode, n] = (steps, steps / (lengths.max(axis=0).sum() * n))

    np_rates, times = [], {k: [] for k in compiled}
    for r in range(args.repeats):
        np_rates.append(numpy_rate(r))
        for (mode, n), fn in compiled.items():
            times[mode, n].append(_time(fn, parallel.seed_keys(0, n), hparams))
    np_rate = float(np.median(np_rates))
    print(
        f"NumPy textbook loop: {args.numpy_seeds} seeds x {args.episodes} episodes, "
        f"median {np_rate:,.0f} seed-steps/s over {args.repeats} rounds "
        f"(min {min(np_rates):,.0f}, max {max(np_rates):,.0f})"
    )
    print(
        f"{'mode':>8} {'seeds':>7} {'compile s':>10} {'run s':>8} "
        f"{'seed-steps/s':>14} {'vs NumPy':>9} {'ratio range':>16} {'lanes busy':>10}"
    )
    per_step_s = []
    for (mode, n), ts in times.items():
        steps, busy = work[mode, n]
        run_s = float(np.median(ts))
        rate = steps / run_s
        ratios = [steps / t / npr for t, npr in zip(ts, np_rates, strict=True)]
        print(
            f"{mode:>8} {n:>7} {compile_s[mode, n]:>10.2f} {run_s:>8.3f} "
            f"{rate:>14,.0f} {rate / np_rate:>8.1f}x "
            f"{f'{min(ratios):.0f}-{max(ratios):.0f}x':>16} {busy:>10.0%}"
        )
        if mode == "step":
            per_step_s.append((n, run_s / args.steps))
    # Where the time goes: the step body's kernels, from the compiled HLO.
    n_big = max(n for mode, n in compiled if mode == "step")
    kernels = step_kernels(compiled["step", n_big].as_text())
    print(
        f"step mode, compiled loop body: {kernels['fusion']} fused kernels and "
        f"{kernels['copy']} copies per scan step"
    )
    for n, per_step in per_step_s:
        touched = 2 * 4 * 4 + 4 + 12 * 4  # Q(s,.), Q(s',.), one write, the carry
        print(
            f"  {n:>6} seeds: {per_step * 1e6:8.1f} us per scan step, "
            f"{per_step / (kernels['fusion'] + kernels['copy']) * 1e6:5.2f} us per "
            f"kernel, {per_step / n * 1e9:6.1f} ns per seed-step "
            f"(~{touched} B of table and state: "
            f"{touched * n / per_step / 1e9:.2f} GB/s)"
        )


def step_kernels(hlo: str) -> dict[str, int]:
    """Kernels of the largest while-loop body in compiled HLO text: the
    per-step loop of step mode (the others draw random bits)."""
    bodies = set(re.findall(r"body=%?([\w.\-]+)", hlo))
    best: dict[str, int] = {"fusion": 0, "copy": 0}
    current, counts = None, None
    for line in hlo.splitlines():
        head = re.match(r"^(?:ENTRY )?%?([\w.\-]+) .*\{$", line)
        if head:
            current = head.group(1) if head.group(1) in bodies else None
            counts = {"fusion": 0, "copy": 0}
            continue
        if current and line.startswith("}"):
            if sum(counts.values()) > sum(best.values()):
                best = counts
            current = None
            continue
        if current:
            op = re.search(r"= \S+ ([\w\-]+)\(", line)
            if op and op.group(1) in counts:
                counts[op.group(1)] += 1
    return best


if __name__ == "__main__":
    main()
