"""Atari throughput against the machine's two limits, all measured in one run.

- **env limit**: EnvPool stepping the preset's pool with random actions
  through the same XLA interface the agents use (``envs.envpool_env``),
  inside a compiled scan: env steps per second with no learning at all;
- **learner limit**: the agent's own gradient step alone (one pass of the
  network forward and back, and the agent's optimiser), at the preset's
  batch, on random frames, in env steps per second of the run it serves:
  PPO's minibatch step (``num_envs * num_steps / num_minibatches`` samples)
  times ``update_epochs * num_minibatches`` per rollout of ``num_envs *
  num_steps`` steps; DQN's step on ``batch_size`` replayed transitions every
  ``train_freq`` env steps;
- **end to end**: the preset's trainer (``ppo-atari``, ``dqn-atari``) on
  Breakout, a few compiled iterations after compilation; and DQN with a
  gradient step every 64 env steps in place of 4, whose time is mostly
  acting (a batch-1 CNN forward, the env step, the replay write).

Each part runs in its own process (on a 2-core machine the EnvPool pools of
one part slowed the next part's timings when they shared a process),
compiled first and then timed ``--repeats`` times; the medians are printed,
with the agent's speed as a fraction of ``min(env limit, learner limit)``,
the rate it could reach if acting and learning cost nothing beyond the slower
of the two (the ratio of the i-th timings, median and range), and as a
fraction of ``1 / (1/env + 1/learner)``, the rate when the two run one after
the other on the same cores with nothing else (a CPU's case). It also
prints the ``dqn-atari`` replay's bytes per stored transition
(``jaxrl.buffers.nbytes`` of the 1M-transition buffer, built abstractly).

The DQN runs here use a 50K replay and start learning after one batch (the
preset: 1M and 80K; neither changes the cost of a step). CleanRL's Atari
scripts need jax 0.4.8 and envpool < 0.7, which do not install beside this
project's packages, so they are not timed here.

    python experiments/bench_atari.py [--repeats 3] [--iterations 4]
"""

import argparse
import json
import statistics
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import envs
from envs.vector import make_vec
from jaxrl import buffers, presets
from jaxrl.agents import dqn, offpolicy, onpolicy, ppo
from jaxrl.config import resolve

TASK = "envpool:Breakout-v5"


def _timed(fn, *args):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - start


def env_limit(num_envs: int, steps: int):
    """``() -> seconds`` for ``steps`` random steps of a pool of ``num_envs``."""
    env, params = envs.make(TASK)
    vec = make_vec(env, params, num_envs)
    n = env.action_space(params).n

    @jax.jit
    def run(key):
        obs, state = vec.reset(key)

        def body(state, key):
            action = jax.random.randint(key, (num_envs,), 0, n)
            out = vec.step(key, state, action)
            return out.state, out.reward.sum()

        return jax.lax.scan(body, state, jax.random.split(key, steps))[1].sum()

    key = jax.random.key(0)
    run(key).block_until_ready()  # compile
    return lambda: _timed(run, key), num_envs * steps


def _resolved(preset_name: str, **overrides) -> dict:
    """The preset on ``TASK`` resolved (no trainer built, so no pool)."""
    preset = presets.get(preset_name)
    settings = {**preset.settings, **{k: str(v) for k, v in overrides.items()}}
    return resolve(preset.algo, TASK, settings)


def _trainer(preset_name: str, **overrides):
    r = _resolved(preset_name, **overrides)
    trainer = r["spec"].make_train(r["config"], r["env"], r["env_params"])
    return trainer, r["config"], r["hparams"]


def end_to_end(preset_name: str, iterations: int, **overrides):
    """``() -> seconds`` for ``iterations`` learning iterations of the preset's
    trainer, after compilation and after its warm-up; and their env steps."""
    trainer, config, hparams = _trainer(preset_name, **overrides)
    state = jax.jit(trainer.init)(jax.random.key(0), hparams)
    warm = trainer.warmup_iterations
    if warm:
        state = jax.jit(lambda s: trainer.run(s, warm, 0).state)(state)
    # donated, as the runs' chunks are (jaxrl.parallel): no copy of the replay
    run = jax.jit(lambda s: trainer.run(s, iterations, warm).state, donate_argnums=0)
    state = jax.block_until_ready(run(run(state)))  # compile, two untimed blocks
    box = [state]

    def once():
        start = time.perf_counter()
        box[0] = jax.block_until_ready(run(box[0]))
        return time.perf_counter() - start

    per_iteration = (
        config.num_envs * config.num_steps
        if isinstance(config, onpolicy.Config)
        else config.num_envs * config.train_freq
    )
    return once, iterations * per_iteration


def learner_limit_ppo(steps: int):
    """PPO's minibatch gradient step alone on random frames."""
    r = _resolved("ppo-atari")
    config, hparams = r["config"], r["hparams"]
    env, params = envs.make(TASK)
    space = env.observation_space(params)
    networks = onpolicy.make_networks(config, env, params)
    batch = config.num_envs * config.num_steps // config.num_minibatches
    loss_fn = ppo.make_loss(config)
    key = jax.random.key(0)
    obs = jax.random.randint(key, (batch, *space.shape), 0, 255).astype(jnp.uint8)
    actions = jax.random.randint(key, (batch,), 0, env.action_space(params).n)
    net_params = networks.init(key)

    first = jnp.zeros((1, batch), bool)

    def loss(p, obs, actions):
        # one pass of the shared trunk, as the loop's update takes it
        policy, value, _ = networks.unroll(p, (), obs[None], first)
        policy, value = jax.tree.map(lambda a: a[0], (policy, value))
        log_prob, entropy = networks.log_prob_entropy(policy, actions)
        inputs = onpolicy.LossInputs(
            log_prob=log_prob,
            old_log_prob=jax.lax.stop_gradient(log_prob),
            advantage=jnp.ones(batch),
            entropy=entropy,
            value=value,
            old_value=jax.lax.stop_gradient(value),
            target=jnp.zeros(batch),
        )
        return onpolicy.mean_loss(loss_fn, hparams, inputs)[0]

    # the agent's optimiser: global-norm clipping, then Adam
    opt = onpolicy._transform(config, hparams.max_grad_norm)
    opt_state = onpolicy._with_lr(opt.init(net_params), hparams.lr)

    # the frames are arguments, not constants: XLA would try to fold the
    # convolutions of a constant batch at compile time (minutes)
    @jax.jit
    def run(p, obs, actions):
        def body(carry, _):
            p, s = carry
            grads = jax.grad(loss)(p, obs, actions)
            return offpolicy.apply_gradients(opt, grads, s, p), None

        return jax.lax.scan(body, (p, opt_state), None, length=steps)[0]

    jax.block_until_ready(run(net_params, obs, actions))
    env_steps_per_grad_step = (config.num_envs * config.num_steps) / (
        config.update_epochs * config.num_minibatches
    )
    timed = lambda: _timed(run, net_params, obs, actions)  # noqa: E731
    return timed, steps * env_steps_per_grad_step


def learner_limit_dqn(steps: int):
    """DQN's gradient step alone: the Q-network's forward and backward on a
    batch of frames and the target network's forward on the next frames."""
    config = _resolved("dqn-atari")["config"]
    env, params = envs.make(TASK)
    space = env.observation_space(params)
    q_fn = dqn.q_function(config, env, params)
    net = dqn._network(config, env, params)[0]
    key = jax.random.key(0)
    b = config.batch_size
    obs = jax.random.randint(key, (b, *space.shape), 0, 255).astype(jnp.uint8)
    next_obs = jax.random.randint(key, (b, *space.shape), 1, 255).astype(jnp.uint8)
    p = net.init(key, obs[:1])
    actions = jax.random.randint(key, (b,), 0, env.action_space(params).n)

    def loss(p, target, obs, next_obs, actions):
        q = jnp.take_along_axis(q_fn(p, obs), actions[:, None], -1)[:, 0]
        y = jax.lax.stop_gradient(q_fn(target, next_obs).max(-1))
        return jnp.mean((q - y) ** 2)

    hparams = _resolved("dqn-atari")["hparams"]
    opt = offpolicy.adam(hparams.lr, config.max_grad_norm, config.adam_eps)
    opt_state = opt.init(p)

    @jax.jit
    def run(p, obs, next_obs, actions):
        def body(carry, _):
            p, s = carry
            grads = jax.grad(loss)(p, p, obs, next_obs, actions)
            return offpolicy.apply_gradients(opt, grads, s, p), None

        return jax.lax.scan(body, (p, opt_state), None, length=steps)[0]

    jax.block_until_ready(run(p, obs, next_obs, actions))
    timed = lambda: _timed(run, p, obs, next_obs, actions)  # noqa: E731
    return timed, steps * config.train_freq


def replay_bytes_per_transition() -> float:
    """Bytes per transition of the ``dqn-atari`` replay at its 1M capacity."""
    config = _resolved("dqn-atari")["config"]
    env, params = envs.make(TASK)
    space = env.observation_space(params)
    example = buffers.Timestep(
        obs=jnp.zeros(space.shape, space.dtype),
        action=jnp.zeros((), jnp.int32),
        reward=jnp.zeros((), jnp.float32),
        terminated=jnp.zeros((), bool),
        truncated=jnp.zeros((), bool),
        valid=jnp.ones((), bool),
    )
    buffer = buffers.uniform(
        config.buffer_size, config.num_envs, config.batch_size, frame_stack=4
    )
    return buffers.nbytes(jax.eval_shape(buffer.init, example)) / config.buffer_size


def _builders(iterations: int) -> dict:
    ppo_cfg = _resolved("ppo-atari")["config"]
    return {
        "env limit (8 envs)": lambda: env_limit(ppo_cfg.num_envs, ppo_cfg.num_steps),
        "env limit (1 env)": lambda: env_limit(1, 512),
        "PPO learner limit": lambda: learner_limit_ppo(
            ppo_cfg.update_epochs * ppo_cfg.num_minibatches
        ),
        "DQN learner limit": lambda: learner_limit_dqn(128),
        "PPO end to end": lambda: end_to_end("ppo-atari", iterations),
        "DQN end to end": lambda: end_to_end(
            "dqn-atari", 64 * iterations, buffer_size=50_000, learning_starts=32
        ),
        # the same with a gradient step every 64 env steps: mostly acting
        "DQN acting (train_freq 64)": lambda: end_to_end(
            "dqn-atari",
            8 * iterations,
            buffer_size=50_000,
            learning_starts=32,
            train_freq=64,
        ),
    }


def _measure(name: str, iterations: int, repeats: int) -> list[float]:
    """One part in this process: build and compile it, then time it."""
    start = time.perf_counter()
    once, steps = _builders(iterations)[name]()
    print(f"  {name}: compiled in {time.perf_counter() - start:.0f} s", flush=True)
    rates = []
    for _ in range(repeats):
        seconds = once()
        rates.append(steps / seconds)
        print(f"  {name}: {steps} steps in {seconds:.2f} s", flush=True)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timings (default 3)")
    parser.add_argument(
        "--iterations",
        type=int,
        default=1,
        help="PPO iterations (8 x 128 steps each) per timing; DQN runs 64x "
        "as many of its 4-step iterations (default 1)",
    )
    parser.add_argument("--part", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.repeats < 1 or args.iterations < 1:
        parser.error("--repeats and --iterations must be >= 1")
    if args.part is not None:  # a child process: one part, rates as JSON
        rates = _measure(args.part, args.iterations, args.repeats)
        print("RATES " + json.dumps(rates), flush=True)
        return

    print(f"jax {jax.__version__} on {jax.devices()[0].platform}; task {TASK}")
    print(f"dqn-atari replay: {replay_bytes_per_transition():,.0f} bytes/transition")
    rates: dict[str, list[float]] = {}
    for name in _builders(args.iterations):
        # each part in its own process: on a 2-core machine the EnvPool pools
        # of one part slowed the next part's timings when they shared one
        command = [sys.executable, "-u", __file__, "--part", name]
        command += ["--repeats", str(args.repeats)]
        command += ["--iterations", str(args.iterations)]
        child = subprocess.run(command, capture_output=True, text=True)
        lines = child.stdout.splitlines()
        for line in lines:
            if not line.startswith("RATES "):
                print(line, flush=True)
        found = [json.loads(x[6:]) for x in lines if x.startswith("RATES ")]
        if child.returncode != 0 or not found:
            sys.exit(f"{name} failed:\n{child.stderr[-2000:]}")
        rates[name] = found[0]
    med = {name: statistics.median(v) for name, v in rates.items()}
    print(f"\n{'part':<28} {'env steps/s':>12} {'min':>9} {'max':>9}")
    for name, values in rates.items():
        print(
            f"{name:<28} {med[name]:>12,.0f} {min(values):>9,.0f} {max(values):>9,.0f}"
        )
    for agent, env_part, learner in (
        ("PPO", "env limit (8 envs)", "PPO learner limit"),
        ("DQN", "env limit (1 env)", "DQN learner limit"),
    ):
        ratios = [
            a / min(e, lr)
            for a, e, lr in zip(
                rates[f"{agent} end to end"],
                rates[env_part],
                rates[learner],
                strict=True,
            )
        ]
        bound = "env" if med[env_part] < med[learner] else "learner"
        # acting and learning one after the other on the same cores: the
        # time per env step is at least the sum of the two parts' times
        serial = [
            a * (1 / e + 1 / lr)
            for a, e, lr in zip(
                rates[f"{agent} end to end"],
                rates[env_part],
                rates[learner],
                strict=True,
            )
        ]
        print(
            f"{agent}: end to end / min(env, learner) = {np.median(ratios):.2f} "
            f"(timings {min(ratios):.2f}-{max(ratios):.2f}; the {bound} limit "
            f"binds); / (1 / (1/env + 1/learner)) = {np.median(serial):.2f} "
            f"(both parts in turn); frames/s = 4 x env steps/s = "
            f"{4 * med[f'{agent} end to end']:,.0f}"
        )


if __name__ == "__main__":
    main()
