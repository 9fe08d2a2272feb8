"""EnvPool through its XLA interface: spaces, delayed auto-reset, PPO, the CLI."""

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
from jaxrl.agents import onpolicy, ppo  # noqa: E402
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

    # A vmap of size 1 (one seed through jaxrl.parallel) squeezes through; a
    # larger one is refused with a message.
    assert jax.jit(jax.vmap(run))(jax.random.key(0)[None])[-1].shape == (1, 10, 2)
    with pytest.raises(ValueError, match="cannot be vmapped"):
        jax.jit(jax.vmap(run))(jax.random.split(jax.random.key(0), 2))


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


def test_masked_loss_and_advantages_ignore_invalid_samples():
    key = jax.random.key(1)
    n = 8
    k = jax.random.split(key, 5)
    valid = np.array([1, 1, 0, 1, 0, 1, 1, 1], bool)
    raw = jax.random.normal(k[0], (n,)) * 3.0 + 1.0
    inputs = onpolicy.LossInputs(
        log_prob=jax.random.normal(k[1], (n,)) * 0.1 - 0.7,
        entropy=jnp.full((n,), 0.69),
        value=jax.random.normal(k[2], (n,)),
        old_log_prob=jax.random.normal(k[3], (n,)) * 0.1 - 0.7,
        old_value=jax.random.normal(k[4], (n,)),
        advantage=raw,
        target=raw + 1.0,
    )
    # Standardisation uses the valid samples' mean and (population) std only.
    adv = onpolicy.standardize(raw, valid)
    r = np.asarray(raw)[valid]
    np.testing.assert_allclose(
        np.asarray(adv)[valid], (r - r.mean()) / (r.std() + 1e-8), rtol=1e-5
    )
    np.testing.assert_array_equal(np.asarray(adv)[~valid], 0.0)
    np.testing.assert_allclose(
        onpolicy.standardize(raw),
        onpolicy.standardize(raw, np.ones(n, bool)),
        rtol=1e-5,
        atol=1e-6,
    )

    loss_fn = ppo.make_loss(ppo.Config())
    hp = jax.tree.map(jnp.float32, ppo.HParams())
    inputs = inputs._replace(advantage=adv)
    masked, aux = onpolicy.masked_loss(loss_fn, hp, inputs, valid)
    subset = jax.tree.map(lambda x: x[valid], inputs)
    ref, ref_aux = loss_fn(hp, subset)
    np.testing.assert_allclose(masked, ref, rtol=1e-5)
    for name in ref_aux:
        np.testing.assert_allclose(aux[name], ref_aux[name], rtol=1e-5, atol=1e-7)
    # Garbage in an invalid sample changes nothing, and gets no gradient.
    junk = inputs._replace(
        value=inputs.value.at[2].set(1e3), target=inputs.target.at[4].set(-1e3)
    )
    np.testing.assert_allclose(
        onpolicy.masked_loss(loss_fn, hp, junk, valid)[0], masked, rtol=1e-6
    )
    grad = jax.grad(lambda x: onpolicy.masked_loss(loss_fn, hp, x, valid)[0])(inputs)
    for leaf in (grad.log_prob, grad.value, grad.entropy):
        np.testing.assert_array_equal(np.asarray(leaf)[~valid], 0.0)


def test_gae_is_cut_before_the_delayed_reset_step():
    # t=1 ends the episode (truncated); t=2 is the delayed reset (invalid).
    # done_1 cuts A_1 from A_2, so whatever the invalid step holds, the valid
    # steps' advantages are the same.
    def adv(r2, v2):
        v_tm1 = jnp.array([[0.5], [0.2], [v2], [0.1]])
        r = jnp.array([[1.0], [1.0], [r2], [1.0]])
        trunc = jnp.array([[False], [True], [False], [False]])
        v_t = jnp.array([[0.2], [0.3], [0.0], [0.4]])
        return onpolicy.compute_advantages(
            v_tm1, r, jnp.zeros_like(trunc), trunc, v_t, 0.9, 0.95
        )[0]

    a, b = adv(0.0, 0.0), adv(100.0, -50.0)
    np.testing.assert_array_equal(a[:2], b[:2])
    np.testing.assert_array_equal(a[3:], b[3:])


def test_cli_refuses_several_seeds_for_envpool(capsys):
    argv = ["train", "ppo", "--env", "envpool:CartPole-v1", "--seeds", "2"]
    assert main(argv + ["--quiet"]) == 2
    err = capsys.readouterr().err
    assert re.search(r"--seeds 2: an EnvPool environment .* one seed per process", err)
