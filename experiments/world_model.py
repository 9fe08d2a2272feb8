"""The Dreamer agent's world model: what it predicts open loop, and how fast
it trains.

Trains the ``dreamer`` agent (a preset, ``--preset``, with ``--set KEY=VALUE``
overrides) over ``--seeds`` seeds in one compiled call, then, from seed 0's
final parameters, plays one real episode on the env with the greedy policy
and compares the real observations and rewards with the model's **open-loop**
predictions (:func:`jaxrl.agents.world_model.open_loop`): it observes the first
``--context`` steps and imagines the next ``--horizon`` with the real actions,
never seeing another observation.

Prints the run's env steps/s and gradient steps/s (wall clock, compilation
included). Writes ``OUT/open_loop.csv`` (step, dimension, real and predicted
values), ``OUT/metrics.csv`` (each iteration's model-loss terms and returns,
mean over seeds) and ``OUT/open_loop.png``.

    python experiments/world_model.py [--preset dreamer-cartpole] [--seeds 1]
        [--context 5] [--horizon 30] [--set total_timesteps=20480]
"""

import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

from jaxrl import presets  # noqa: E402


def real_episode(key, r, params, steps: int):
    """One greedy episode of ``steps`` steps (or until it ends) on the run's
    gymnax env: ``(obs [T, ...], action [T], reward [T], done [T])``."""
    import jax
    import jax.numpy as jnp

    from jaxrl.agents import dreamer
    from jaxrl.agents import world_model as wm

    env, env_params, config = r["env"], r["env_params"], r["config"]
    model, actor, _, _ = dreamer.networks(config, env, env_params)

    def body(carry, step_key):
        obs, env_state, state, a_in = carry
        act_key, env_key = jax.random.split(step_key)
        action, state = dreamer.observe_and_act(
            model, actor, params, act_key, (state, a_in), obs, mode=True
        )
        nxt, env_state, reward, terminated, truncated, _ = env.step(
            env_key, env_state, dreamer.env_action(action, env, env_params), env_params
        )
        a_in = model.apply(params["model"], action, method=wm.WorldModel.action_input)
        done = jnp.logical_or(terminated, truncated)
        return (nxt, env_state, state, a_in), (obs, action, reward, done)

    reset_key, key = jax.random.split(key)
    obs, env_state = env.reset(reset_key, env_params)
    a_in = jnp.zeros((model.action_dim,), jnp.float32)
    carry = (obs, env_state, wm.initial_state(model.size), a_in)
    _, out = jax.jit(lambda c, k: jax.lax.scan(body, c, k))(
        carry, jax.random.split(key, steps)
    )
    return tuple(np.asarray(x) for x in out)


def main(argv=None) -> int:
    p = _common.parser(__doc__.splitlines()[0], seeds=1, out="out/world_model")
    p.add_argument("--preset", default="dreamer-cartpole")
    p.add_argument("--context", type=int, default=5, help="observed steps")
    p.add_argument("--horizon", type=int, default=30, help="imagined steps")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args(argv)
    if args.context < 1 or args.horizon < 1:
        p.error("--context and --horizon must be >= 1")
    preset = presets.get(args.preset)
    settings = dict(preset.settings)
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            p.error(f"--set {item!r}: expected KEY=VALUE")
        settings[key] = value
    out = _common.out_dir(args.out)

    import jax
    import jax.numpy as jnp

    from jaxrl.agents import dreamer
    from jaxrl.agents import world_model as wm

    metrics, wall, state, r = _common.train_preset(
        args.preset,
        settings,
        num_seeds=args.seeds,
        seed=args.seed,
        desc=f"dreamer on {preset.env}",
        with_state=True,
    )
    config = r["config"]
    env_steps = int(np.asarray(metrics["env_steps"])[0, -1])
    learned = np.isfinite(np.asarray(metrics["model_loss"])[0]).sum()
    grad_steps = int(learned) * config.gradient_steps
    print(
        f"{args.seeds} seed(s) x {env_steps:,} env steps in {wall:.0f} s "
        f"(compilation included): {args.seeds * env_steps / wall:,.1f} env "
        f"steps/s, {args.seeds * grad_steps / wall:,.2f} gradient steps/s "
        f"(train ratio {config.replay_ratio:g}, batch {config.batch_size} x "
        f"{config.seq_length}, size {config.size})"
    )
    names = [k for k in metrics if k != "env_steps"]
    warnings.simplefilter("ignore", RuntimeWarning)  # NaN means: no evaluation
    _common.write_csv(
        out / "metrics.csv",
        ["env_steps"] + names,
        zip(
            np.asarray(metrics["env_steps"])[0],
            *[np.nanmean(np.asarray(metrics[k]), 0) for k in names],
            strict=True,
        ),
    )

    params = jax.tree.map(lambda x: x[0], state.learner.params)
    steps = args.context + args.horizon
    obs, action, reward, done = real_episode(
        jax.random.key(args.seed + 1), r, params, steps
    )
    end = int(np.argmax(done)) + 1 if done.any() else steps
    if end <= args.context:
        print(f"the greedy episode ended after {end} steps: no open-loop figure")
        return 1
    model, _, _, bins = dreamer.networks(config, r["env"], r["env_params"])
    is_first = jnp.zeros(end, bool).at[0].set(True)
    pred = jax.jit(wm.open_loop, static_argnums=(0, 6))(
        model,
        params["model"],
        jax.random.key(args.seed + 2),
        jnp.asarray(obs[:end]),
        jnp.asarray(action[:end]),
        is_first,
        args.context,
        bins,
    )
    real = obs[args.context : end].reshape(end - args.context, -1)
    guess = np.asarray(pred.obs).reshape(end - args.context, -1)
    # pred.reward[i] is the reward of the step into slot context + i
    real_r = reward[args.context - 1 : end - 1]
    rows = []
    t = np.arange(args.context, end)
    for d in range(real.shape[1]):
        rows += [
            (int(s), f"obs[{d}]", a, b)
            for s, a, b in zip(t, real[:, d], guess[:, d], strict=True)
        ]
    rows += [
        (int(s), "reward", a, b)
        for s, a, b in zip(t, real_r, np.asarray(pred.reward), strict=True)
    ]
    _common.write_csv(
        out / "open_loop.csv", ["step", "series", "real", "predicted"], rows
    )
    err = np.sqrt(np.mean((real - guess) ** 2, axis=1))
    print(
        f"open loop from step {args.context}: RMS error per obs dim "
        f"{err[: min(5, len(err))].mean():.3f} over the first 5 imagined steps, "
        f"{err.mean():.3f} over {len(err)}"
    )

    import matplotlib.pyplot as plt

    dims = real.shape[1]
    fig, axes = plt.subplots(1, dims + 1, figsize=(3.2 * (dims + 1), 3.2))
    full = obs[:end].reshape(end, -1)
    for d in range(dims):
        ax = axes[d]
        ax.plot(np.arange(end), full[:, d], "k-", label="real")
        ax.plot(t, guess[:, d], "C1--", label="model, open loop")
        ax.axvline(args.context - 0.5, color="0.6", ls=":")
        ax.set_title(f"observation {d}")
        ax.set_xlabel("step of the episode")
    ax = axes[-1]
    ax.plot(np.arange(1, end), reward[: end - 1], "k-", label="real")
    ax.plot(t, np.asarray(pred.reward), "C1--", label="model, open loop")
    ax.axvline(args.context - 0.5, color="0.6", ls=":", label="last observed step")
    ax.set_title("reward")
    ax.set_xlabel("step of the episode")
    both = np.concatenate([reward[: end - 1], np.asarray(pred.reward)])
    ax.set_ylim(min(0.0, both.min()) - 0.1, max(1.0, both.max()) + 0.1)
    ax.legend(loc="lower left", fontsize=8)
    fig.suptitle(
        f"Dreamer's world model on {preset.env} after {env_steps:,} env steps: "
        f"{args.context} steps observed, then {end - args.context} imagined "
        "with the real actions"
    )
    fig.tight_layout()
    fig.savefig(out / "open_loop.png", dpi=120)
    print(
        f"wrote {out / 'open_loop.png'}, {out / 'open_loop.csv'}, {out / 'metrics.csv'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
