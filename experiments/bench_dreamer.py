"""Dreamer's run time against the train ratio and against seeds under vmap.

The ``dreamer-cartpole`` preset (the ``xs`` model, batch 16 x 32) on
CartPole-v1, evaluation off. For each setting the replay is first filled
(the warm-up, ``learning_starts`` steps, not timed), then ``--steps`` env
steps of learning are compiled once and timed ``--repeats`` times on the same
start state; the table gives the median. A gradient step every
``batch x length / ratio`` env steps: the ratio sets how many there are.

    python experiments/bench_dreamer.py [--ratios 64,256,1024] [--seeds 1,2,4]
        [--steps 128] [--repeats 2]

Prints env steps/s and gradient steps/s per setting (per seed and summed
over seeds), and how the time grows: against the ratio at one seed, and
against the seed count at the preset's ratio.
"""

import sys
import time

sys.path.insert(0, __file__.rsplit("/", 1)[0])

import _common  # noqa: E402,F401  (sets the plotting backend)


def measure(trainer, hparams, seeds: int, repeats: int):
    """``(compile s, median run s, learning iterations)``: the warm-up run
    once untimed, then the learning iterations compiled and timed."""
    import jax
    import numpy as np

    from jaxrl import parallel

    warm, total = trainer.warmup_iterations, trainer.num_iterations

    def warm_up(state):
        return trainer.run(state, warm).state

    def learn(state):
        return trainer.run(state, total - warm, warm).state

    state = jax.jit(jax.vmap(trainer.init, (0, None)))(
        parallel.seed_keys(0, seeds), hparams
    )
    state = jax.jit(jax.vmap(warm_up))(state)
    t0 = time.perf_counter()
    compiled = jax.jit(jax.vmap(learn)).lower(state).compile()
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(state))
        times.append(time.perf_counter() - t0)
    return compile_s, float(np.median(times)), total - warm


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ratios", default="64,256,1024", help="train ratios at 1 seed")
    p.add_argument("--seeds", default="1,2,4", help="seed counts at the base ratio")
    p.add_argument("--base-ratio", type=int, default=256)
    p.add_argument("--steps", type=int, default=128, help="timed env steps")
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args(argv)
    try:
        ratios = [int(x) for x in args.ratios.split(",")]
        seed_counts = [int(x) for x in args.seeds.split(",")]
    except ValueError:
        p.error("--ratios and --seeds take comma-separated integers")
    if min(ratios + seed_counts) < 1 or args.steps < 1 or args.repeats < 1:
        p.error("ratios, seed counts, --steps and --repeats must be >= 1")

    from jaxrl import presets
    from jaxrl.config import ConfigError, resolve

    preset = presets.get("dreamer-cartpole")
    settings = [(r, 1) for r in ratios]
    settings += [(args.base_ratio, n) for n in seed_counts]
    settings = list(dict.fromkeys(settings))  # each once, in order
    rows = []
    for ratio, seeds in settings:
        over = {
            **preset.settings,
            "train_ratio": ratio,
            "eval_every": 0,
            "total_timesteps": preset.config["learning_starts"] + args.steps,
        }
        try:
            r = resolve(preset.algo, preset.env, over, {})
        except ConfigError as e:
            p.error(f"train_ratio={ratio}: {e}")
        config = r["config"]
        trainer = r["spec"].make_train(config, r["env"], r["env_params"])
        compile_s, run_s, learning = measure(trainer, r["hparams"], seeds, args.repeats)
        env_steps = learning * config.steps_per_iteration
        grads = learning * config.gradient_steps
        rows.append((ratio, seeds, compile_s, run_s, env_steps, grads))
        print(
            f"  ratio {ratio:>5}, {seeds} seed(s): compile {compile_s:.0f} s, "
            f"run {run_s:.1f} s",
            flush=True,
        )

    print(
        f"\n{'ratio':>6} {'seeds':>6} {'compile s':>10} {'run s':>8} "
        f"{'env steps/s':>12} {'grad steps/s':>13} {'s per grad step':>16}"
    )
    for ratio, seeds, compile_s, run_s, env_steps, grads in rows:
        print(
            f"{ratio:>6} {seeds:>6} {compile_s:>10.0f} {run_s:>8.2f} "
            f"{seeds * env_steps / run_s:>12.1f} {seeds * grads / run_s:>13.2f} "
            f"{run_s / grads:>16.3f}"
        )
    one = {ratio: run for ratio, seeds, _, run, _, _ in rows if seeds == 1}
    if len(one) > 1:
        lo, hi = min(one), max(one)
        print(
            f"at 1 seed, ratio {lo} -> {hi} ({hi / lo:.0f}x the gradient steps): "
            f"{one[hi] / one[lo]:.1f}x the time"
        )
    base = {n: run for ratio, n, _, run, _, _ in rows if ratio == args.base_ratio}
    if len(base) > 1:
        lo, hi = min(base), max(base)
        print(
            f"at ratio {args.base_ratio}, {lo} -> {hi} seeds under vmap: "
            f"{base[hi] / base[lo]:.2f}x the time for {hi / lo:.0f}x the seeds"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
