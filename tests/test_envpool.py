"""EnvPool through its XLA interface: spaces, delayed auto-reset, PPO, the CLI.

The masking of invalid steps (pure functions) is tested without EnvPool in
tests/test_masking.py."""

import re

import pytest

pytest.importorskip("envpool")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from gymnax.environments import spaces  # noqa: E402

import envs  # noqa: E402
from envs.envpool_env import EnvPoolEnv  # noqa: E402
from envs.vector import make_vec  # noqa: E402
from jaxrl import parallel  # noqa: E402
from jaxrl.agents import dqn, ppo, sac  # noqa: E402
from jaxrl.cli import main  # noqa: E402


def test_spaces_params_and_kind():
    env, params = envs.make("envpool:CartPole-v1")
    assert isinstance(env, EnvPoolEnv)
    assert envs.kind("envpool:CartPole-v1") == "envpool"
    assert isinstance(env.action_space(params), spaces.Discrete)
    assert env.action_space(params).n == 2
    assert isinstance(env.observation_space(params), spaces.Box)
    assert env.observation_space(params).shape == (4,)
    assert params.max_steps_in_episode == 500

    env, params = envs.make("envpool:Pendulum-v1", max_steps_in_episode=7)
    box = env.action_space(params)
    assert isinstance(box, spaces.Box) and box.shape == (1,)
    np.testing.assert_allclose([box.low, box.high], [[-2.0], [2.0]])
    assert env.observation_space(params).shape == (3,)
    assert params.max_steps_in_episode == 7
    twin, twin_params = env.eval_env(params)  # greedy evaluation runs on gymnax
    assert twin.name == "Pendulum-v1" and twin_params.max_steps_in_episode == 7

    with pytest.raises(ValueError, match="unknown EnvPool task 'Nope-v0'"):
        envs.kind("envpool:Nope-v0")
    with pytest.raises(ValueError, match="no parameter"):
        envs.make("envpool:CartPole-v1", gravity=1.0)


def test_valid_is_false_exactly_on_the_delayed_reset_steps():
    # Episodes truncate after 3 steps; always pushing left cannot tip the pole
    # past 12 degrees in 3 steps, so every episode is truncated, never
    # terminated. EnvPool spends the 4th step on the reset: pattern per env
    # T T T F | T T T F | ... with truncated on the 3rd step of each block.
    env, params = envs.make("envpool:CartPole-v1", max_steps_in_episode=3)
    vec = make_vec(env, params, 2)

    def run(key):
        obs, state = vec.reset(key)

        def body(carry, key):
            state, obs = carry
            out = vec.step(key, state, jnp.zeros(2, jnp.int32))
            record = (obs, out.obs, out.final_obs, out.reward, out.terminated)
            return (out.state, out.obs), record + (out.truncated, out.valid)

        return jax.lax.scan(body, (state, obs), jax.random.split(key, 10))[1]

    obs, next_obs, final_obs, reward, term, trunc, valid = jax.jit(run)(
        jax.random.key(0)
    )
    expected_valid = np.array([1, 1, 1, 0, 1, 1, 1, 0, 1, 1], bool)
    expected_trunc = np.array([0, 0, 1, 0, 0, 0, 1, 0, 0, 0], bool)
    for b in range(2):
        np.testing.assert_array_equal(valid[:, b], expected_valid)
        np.testing.assert_array_equal(trunc[:, b], expected_trunc)
    assert not term.any()
    np.testing.assert_array_equal(reward, np.where(valid, 1.0, 0.0))
    np.testing.assert_array_equal(final_obs, next_obs)  # obs reached, no swap
    # The invalid step starts from the final observation and lands on a reset
    # observation (|x| <= 0.05 everywhere, CartPole's initial distribution).
    np.testing.assert_array_equal(obs[3], next_obs[2])
    assert np.all(np.abs(next_obs[3]) <= 0.05)


def test_seeds_share_one_pool_as_lanes():
    # A pool built with lanes=L runs under a vmap over L seeds: lane l steps
    # envs l*num_envs .. (l+1)*num_envs-1, seeded seed + l*num_envs + i, so
    # lane 1 of a 2-lane pool is exactly a 1-lane pool seeded 2 (num_envs=2).
    env, params = envs.make("envpool:CartPole-v1", max_steps_in_episode=3)

    def runner(vec):
        def run(key):
            obs, state = vec.reset(key)

            def body(carry, key):
                state, obs = carry
                out = vec.step(key, state, jnp.zeros(2, jnp.int32))
                return (out.state, out.obs), (obs, out.valid)

            return jax.lax.scan(body, (state, obs), jax.random.split(key, 6))[1]

        return run

    keys = jax.random.split(jax.random.key(0), 4)
    obs, valid = jax.jit(jax.vmap(runner(make_vec(env, params.replace(lanes=2), 2))))(
        keys[:2]
    )
    assert obs.shape == (2, 6, 2, 4) and valid.shape == (2, 6, 2)
    alone = [
        jax.jit(runner(make_vec(env, params.replace(seed=seed), 2)))(keys[0])[0]
        for seed in (0, 2)
    ]
    np.testing.assert_array_equal(obs[0], alone[0])
    np.testing.assert_array_equal(obs[1], alone[1])
    assert not np.array_equal(obs[0], obs[1])

    # Nested vmaps (settings x seeds) fold the same way: 2 x 2 lanes.
    nested = jax.jit(
        jax.vmap(jax.vmap(runner(make_vec(env, params.replace(lanes=4), 2))))
    )
    obs4 = nested(keys.reshape(2, 2))[0]
    assert obs4.shape == (2, 2, 6, 2, 4)
    np.testing.assert_array_equal(obs4[0, 1], alone[1])

    # Lanes that do not add up to the pool's are refused when the call runs.
    with pytest.raises(Exception, match="built for lanes=2"):
        jax.jit(jax.vmap(runner(make_vec(env, params.replace(lanes=2), 2))))(keys[:3])


@pytest.mark.parametrize("name", ["envpool:CartPole-v1", "envpool:Pendulum-v1"])
def test_ppo_trains_on_envpool(name):
    env, params = envs.make(name, max_steps_in_episode=10)
    config = ppo.Config(
        num_envs=2,
        num_steps=16,
        total_timesteps=2 * 16 * 3,
        update_epochs=2,
        num_minibatches=2,
        hidden_sizes=(8,),
        eval_every=3,
        eval_episodes=2,
    )
    out = jax.jit(ppo.make_train(config, env, params))(jax.random.key(0), ppo.HParams())
    m = jax.tree.map(np.asarray, out.metrics)
    np.testing.assert_array_equal(m["env_steps"], [32, 64, 96])
    for k in ("loss", "policy_loss", "value_loss", "entropy", "return"):
        assert np.isfinite(m[k]).all(), (k, m[k])
    assert np.isfinite(m["eval_return"][-1])  # evaluated on the gymnax twin
    # Episodes of 10 steps + 1 delayed reset: lengths never count the reset.
    assert int(out.state.episode_stats.length.max()) <= 10


OFF_POLICY = dict(
    num_envs=2,
    train_freq=4,
    total_timesteps=2 * 4 * 12,
    buffer_size=96,
    batch_size=16,
    learning_starts=32,
    hidden_sizes=(8,),
    eval_every=6,
    eval_episodes=2,
)


@pytest.mark.parametrize(
    "name, make_train, config, hparams",
    [
        ("envpool:CartPole-v1", dqn.make_train, dqn.DQNConfig, dqn.DQNHParams),
        (
            "envpool:CartPole-v1",
            sac.make_train_discrete,
            sac.SACDiscreteConfig,
            sac.SACDiscreteHParams,
        ),
        ("envpool:Pendulum-v1", sac.make_train, sac.SACConfig, sac.SACHParams),
    ],
)
def test_off_policy_agents_train_on_envpool(name, make_train, config, hparams):
    old = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)  # tiny run
    try:
        # Two seeds sharing one pool, through the same runner as the CLI.
        env, params = envs.make(name, max_steps_in_episode=10)
        trainer = make_train(config(**OFF_POLICY), env, params.replace(lanes=2))
        both = parallel.run(
            trainer, hparams(), num_seeds=2, num_chunks=1, progress=False
        )
    finally:
        jax.config.update("jax_disable_most_optimizations", old)
    obs = np.asarray(both.state.buffer.data["obs"])  # [seeds, envs, time, ...]
    assert not np.array_equal(obs[0], obs[1])  # each seed steps its own envs
    out = jax.tree.map(lambda x: x[0], both)  # seed 0
    m = jax.tree.map(np.asarray, out.metrics)
    np.testing.assert_array_equal(m["env_steps"], np.arange(1, 13) * 8)
    assert np.isfinite(m["return"]).any()
    assert np.isfinite(m["eval_return"]).sum() == 2  # every 6th: on the twin
    learning = m["env_steps"] > 32
    for k in ("critic_loss", "loss", "q_mean", "entropy", "alpha"):
        if k in m:
            assert np.isfinite(m[k][learning]).all(), (k, m[k])
    # The buffer stores validity: False exactly on EnvPool's delayed resets,
    # which are the steps from a final observation to a reset observation
    # with reward 0 (CartPole pays 1 on every real step).
    data = out.state.buffer.data
    valid = np.asarray(data["valid"])
    assert valid.shape == (2, 48) and 0 < (~valid).sum() < 96
    if name.endswith("CartPole-v1"):
        np.testing.assert_array_equal(valid, np.asarray(data["reward"]) == 1.0)
    # Episodes of 10 steps + 1 delayed reset: lengths never count the reset.
    assert int(out.state.stats.length.max()) <= 10


def test_cli_runs_several_seeds_on_one_pool_and_refuses_sweeps(tmp_path, capsys):
    argv = ["train", "ppo", "--env", "envpool:CartPole-v1", "--seeds", "2"]
    tiny = ["num_envs=2", "num_steps=8", "total_timesteps=32", "update_epochs=1"]
    tiny += ["num_minibatches=1", "hidden_sizes=8", "eval_every=0"]
    sets = [x for t in tiny for x in ("--set", t)]
    out = tmp_path / "run"
    assert main(argv + sets + ["--out", str(out), "--quiet", "--no-checkpoint"]) == 0
    metrics = np.load(out / "metrics.npz")
    assert metrics["env_steps"].shape == (2, 2)  # [seeds, iterations]
    np.testing.assert_array_equal(metrics["env_steps"][:, -1], [32, 32])
    assert not np.array_equal(metrics["loss"][0], metrics["loss"][1])

    assert main(argv + ["--sweep", "lr=1e-3,3e-4", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert re.search(r"--sweep: an EnvPool environment .* one setting per", err)
    assert main(argv + ["--set", "lanes=3", "--quiet"]) == 2
    assert "set by the run itself" in capsys.readouterr().err
