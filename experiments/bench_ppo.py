"""PPO on CartPole-v1 at PureJaxRL's default configuration: compile time, run
time, env steps per second at 1, 8 and 64 seeds, and the fraction of seeds
that solve the task (mean training return over the last 10 updates >= 475).

Configuration (PureJaxRL's ``ppo.py`` defaults): 4 envs x 128 steps, 5e5 env
steps, 4 epochs x 4 minibatches, lr 2.5e-4 linearly annealed, gamma 0.99, GAE
lambda 0.95, clip 0.2, entropy 0.01, value 0.5, grad norm 0.5, tanh 64x64
actor and critic. Our greedy evaluation is switched off so both sides do the
same work.

With ``--purejaxrl DIR`` (a checkout's ``purejaxrl/`` folder holding ``ppo.py``
and ``wrappers.py``; it needs ``distrax``) the same table is measured for
PureJaxRL's ``make_train`` in the same process, one after the other (its
``wrappers.py`` imports brax and navix for wrappers not used here: empty
stand-ins are put in their place), on
gymnax 1.0 through a shim that folds the six-value ``step`` back into the
five values it expects (``done = terminated or truncated``), with its debug
printing off and its orthogonal initialiser swapped for
:func:`jaxrl.nets.orthogonal` (the same matrices; flax's batched QR under
``vmap`` hangs XLA:CPU on a two-core machine).

    python experiments/bench_ppo.py [--seeds 1,8,64] [--purejaxrl PATH]
        [--timesteps 5e5] [--repeats 3]

Each seed count compiles both sides, then times them in alternation
(``--repeats`` rounds, the order swapped every round, so that a slow spell of
the machine hits both) and prints each side's median run time and the ratio
of the two per round (median, min, max): the speed of jaxrl relative to
PureJaxRL, > 1 when ours is faster.

``--breakdown N`` says where our time goes instead: N seeds x 2e5 steps with
4 epochs x 4 minibatches (the default), 1 epoch x 4 minibatches and 1 epoch x
1 minibatch; the differences split the run time into the rollout (acting,
env steps, GAE) and the gradient passes over the batch.
"""

import argparse
import importlib
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl import parallel
from jaxrl.agents import ppo
from jaxrl.nets import orthogonal

SOLVED = 475.0


def ours(num_seeds: int, timesteps: int):
    env, params = __import__("envs").make("CartPole-v1")
    config = ppo.Config(eval_every=0, total_timesteps=timesteps)
    trainer = ppo.make_train(config, env, params)
    fn = jax.jit(jax.vmap(trainer, in_axes=(0, None)))
    keys = parallel.seed_keys(0, num_seeds)
    args = (keys, ppo.HParams())

    def solved(out):
        final = np.nanmean(np.asarray(out.metrics["return"])[:, -10:], axis=1)
        return final >= SOLVED

    return fn, args, solved, config.total_timesteps


class _FiveValueStep:
    """gymnax 1.0 env whose ``step`` returns PureJaxRL's five values."""

    def __init__(self, env):
        self._env = env

    def __getattr__(self, name):
        return getattr(self._env, name)

    def step(self, key, state, action, params=None):
        obs, state, reward, terminated, truncated, info = self._env.step(
            key, state, action, params
        )
        return obs, state, reward, jnp.logical_or(terminated, truncated), info


def _stub_unused_imports() -> None:
    """PureJaxRL's wrappers.py imports brax and navix at module level for
    wrappers this benchmark does not use; empty stand-ins let it import."""
    import types

    for name in ("brax", "brax.envs", "brax.envs.wrappers", "navix"):
        sys.modules.setdefault(name, types.ModuleType(name))
    training = types.ModuleType("brax.envs.wrappers.training")
    training.EpisodeWrapper = training.AutoResetWrapper = object
    sys.modules.setdefault("brax.envs.wrappers.training", training)
    sys.modules["brax"].envs = sys.modules["brax.envs"]


def purejaxrl(path: str):
    import gymnax

    _stub_unused_imports()
    sys.path.insert(0, str(Path(path).resolve()))
    module = importlib.import_module("ppo")

    class _Gymnax:
        """gymnax as PureJaxRL's module sees it: ``make`` gives the five-value
        shim (our side keeps the real gymnax)."""

        def __getattr__(self, name):
            return getattr(gymnax, name)

        @staticmethod
        def make(name, **kw):
            env, params = gymnax.make(name, **kw)
            return _FiveValueStep(env), params

    module.gymnax = _Gymnax()
    # The same orthogonal matrices, one QR at a time under vmap: flax's
    # batched QR hangs XLA:CPU on small machines (see jaxrl.nets.orthogonal).
    module.orthogonal = orthogonal
    source = Path(module.__file__).read_text()
    # Their default config is the dict in the __main__ block.
    config = eval(  # noqa: S307 - the benchmark's own input, read from a file
        source.split("config = ", 1)[1].split("\n    }", 1)[0] + "\n    }"
    )

    config["DEBUG"] = False  # its per-episode printing would slow it down

    def build(num_seeds: int, timesteps: int):
        train = module.make_train({**config, "TOTAL_TIMESTEPS": timesteps})
        fn = jax.jit(jax.vmap(train))
        keys = jax.random.split(jax.random.PRNGKey(0), num_seeds)

        def solved(out):
            ret = np.asarray(out["metrics"]["returned_episode_returns"])
            final = ret[:, -10:].mean(axis=(1, 2, 3))
            return final >= SOLVED

        return fn, (keys,), solved, timesteps

    return build


def measure(builds: dict, seeds: list[int], timesteps: int, repeats: int) -> None:
    """Per seed count: compile every side, then time them in alternation
    (the first side first in even rounds, last in odd ones), ``repeats``
    rounds; print each side's median run time and the per-round ratios."""
    first = next(iter(builds))
    for n in seeds:
        compiled = {}
        for name, build in builds.items():
            fn, args, solved, steps = build(n, timesteps)
            t0 = time.perf_counter()
            compiled[name] = (fn.lower(*args).compile(), args, solved, steps)
            compiled[name] += (time.perf_counter() - t0,)
        times = {name: [] for name in builds}
        solved_frac = {}
        for r in range(repeats):
            order = list(builds) if r % 2 == 0 else list(builds)[::-1]
            for name in order:
                fn, args, solved, _, _ = compiled[name]
                t0 = time.perf_counter()
                out = jax.block_until_ready(fn(*args))
                times[name].append(time.perf_counter() - t0)
                solved_frac[name] = solved(out).mean()
        for name in builds:
            run_s = float(np.median(times[name]))
            print(
                f"{name:<10} {n:>6} {compiled[name][4]:>10.1f} {run_s:>8.1f} "
                f"{n * compiled[name][3] / run_s:>14,.0f} {solved_frac[name]:>8.0%}",
                flush=True,
            )
        for name in builds:
            if name == first:
                continue
            ratios = np.asarray(times[name]) / np.asarray(times[first])
            print(
                f"{'':<10} {n:>6} speed of {first} / {name}: median "
                f"{np.median(ratios):.3f}x over {repeats} alternating rounds "
                f"[min {ratios.min():.3f}, max {ratios.max():.3f}]",
                flush=True,
            )


def update_flops(config: ppo.Config, obs_dim: int = 4, num_actions: int = 2) -> float:
    """Multiply-add FLOPs of one iteration of our PPO for one seed, counted by
    hand (XLA's ``cost_analysis`` counts a loop body once, not once per trip).

    With ``f(n_out) = 2 * sum(fan_in * fan_out)`` over an MLP's layers
    (``obs_dim -> hidden... -> n_out``), ``f_a = f(num_actions)`` (actor),
    ``f_c = f(1)`` (critic) and ``N = num_envs * num_steps`` samples:
    acting ``N (f_a + f_c)`` (the policy and ``V(s_t)``), and
    ``update_epochs`` gradient passes over the batch at about 3x a forward
    pass (forward, then backward for the weights and the inputs): ``3 epochs
    N (f_a + f_c)``. The critic's passes over the final observations (after
    the rollout's last step, and of truncated steps: ``num_envs`` each, one or
    two an iteration), activations, Adam and GAE are not counted (each is
    O(num_envs), O(parameters) or O(N), small beside the matmuls)."""

    def f(n_out):
        sizes = (obs_dim, *config.hidden_sizes, n_out)
        return 2 * sum(i * o for i, o in zip(sizes[:-1], sizes[1:], strict=True))

    n, f_a, f_c = config.batch_size, f(num_actions), f(1)
    return n * (f_a + f_c) + 3 * config.update_epochs * n * (f_a + f_c)


def breakdown(num_seeds: int) -> None:
    env, params = __import__("envs").make("CartPole-v1")
    steps = 200_000
    flops = num_seeds * update_flops(ppo.Config())
    iterations = steps // ppo.Config().batch_size
    print(
        f"one iteration at {num_seeds} seeds: {flops / 1e9:.3f} GFLOP (counted "
        f"by hand); a {steps:,}-step run: {flops * iterations / 1e12:.3f} TFLOP"
    )
    print(f"where the time goes: {num_seeds} seeds x {steps:,} steps, run s")
    for epochs, minibatches in ((4, 4), (1, 4), (1, 1)):
        config = ppo.Config(
            eval_every=0,
            total_timesteps=steps,
            update_epochs=epochs,
            num_minibatches=minibatches,
        )
        fn = jax.jit(jax.vmap(ppo.make_train(config, env, params), in_axes=(0, None)))
        args = (parallel.seed_keys(0, num_seeds), ppo.HParams())
        compiled = fn.lower(*args).compile()
        jax.block_until_ready(compiled(*args))  # warm
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        wall = time.perf_counter() - t0
        rate = f", {flops * iterations / wall / 1e9:.1f} GFLOP/s" if epochs == 4 else ""
        print(
            f"  {epochs} epoch(s) x {minibatches} minibatch(es): {wall:6.2f}{rate}",
            flush=True,
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", default="1,8,64")
    p.add_argument(
        "--timesteps",
        type=float,
        default=5e5,
        help="env steps per seed, both sides (default 5e5, PureJaxRL's)",
    )
    p.add_argument(
        "--repeats", type=int, default=3, help="alternating timed rounds (default 3)"
    )
    p.add_argument(
        "--purejaxrl",
        default=None,
        help="path to PureJaxRL's purejaxrl/ folder (optional)",
    )
    p.add_argument(
        "--breakdown",
        type=int,
        default=0,
        metavar="N",
        help="instead: time the rollout and the epochs of our PPO at N seeds",
    )
    args = p.parse_args()
    if args.breakdown:
        breakdown(args.breakdown)
        return
    seeds = [int(s) for s in args.seeds.split(",")]
    timesteps = int(args.timesteps)
    print(
        f"PPO CartPole-v1, {timesteps:,} steps per seed, on "
        f"{jax.default_backend()}; run s: median of {args.repeats} alternating "
        "rounds; solved: the last round's seeds (meaningful at the full 5e5)"
    )
    print(
        f"{'':<10} {'seeds':>6} {'compile s':>10} {'run s':>8} "
        f"{'env steps/s':>14} {'solved':>8}"
    )
    builds = {"jaxrl": ours}
    if args.purejaxrl:
        builds["PureJaxRL"] = purejaxrl(args.purejaxrl)
    measure(builds, seeds, timesteps, args.repeats)


if __name__ == "__main__":
    main()
