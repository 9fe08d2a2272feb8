"""The Dreamer agent: its env layout, world model, imagination and loop.

Compiling is the cost on a CPU: the runs use a probe-sized model (registered
here as ``SIZES["probe"]``), compile without XLA's expensive optimisations,
and share one compiled chunk between the tests that run the loop.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import envs
from envs.vector import DelayedResetVec, VecEnv
from jaxrl import checkpoint, parallel, registry
from jaxrl.agents import dreamer
from jaxrl.agents import world_model as wm
from jaxrl.ops import symexp_bins

wm.SIZES.setdefault("probe", wm.ModelSize(32, 4, 4, 32, 1, 4))
SIZE = wm.SIZES["probe"]


@pytest.fixture(autouse=True)
def _fast_compile():
    old = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", old)


# --- the delayed reset ---------------------------------------------------------


def test_delayed_reset_keeps_each_episodes_last_observation():
    env, params = envs.make("CartPole-v1")
    vec, plain = DelayedResetVec(env, params, 2), VecEnv(env, params, 2)
    obs, state = vec.reset(jax.random.key(0))
    step = jax.jit(vec.step)
    plain_step = jax.jit(plain.step)
    action = jnp.zeros(2, jnp.int32)  # always left: CartPole falls in ~10 steps
    seen_end = seen_reset = 0
    for t in range(40):
        key = jax.random.key(t)
        before = state
        out = step(key, state, action)
        ref = plain_step(key, before.inner, action)
        for e in range(2):
            if before.pending[e]:
                # the step after an end: the held reset obs, nothing learned
                assert not out.valid[e] and out.reward[e] == 0.0
                assert not (out.terminated[e] or out.truncated[e])
                np.testing.assert_array_equal(out.obs[e], before.reset_obs[e])
                np.testing.assert_array_equal(out.state.inner.time[e], 0)
                seen_reset += 1
            else:
                assert out.valid[e] and out.reward[e] == ref.reward[e]
                done = bool(ref.terminated[e] | ref.truncated[e])
                # an ending step returns the obs it reached, the plain batch's
                # final obs, and holds the reset obs for the next step
                np.testing.assert_array_equal(out.obs[e], ref.final_obs[e])
                assert bool(out.state.pending[e]) == done
                if done:
                    np.testing.assert_array_equal(out.state.reset_obs[e], ref.obs[e])
                    seen_end += 1
        state = out.state
    assert seen_end >= 4 and seen_reset >= 4


# --- the world model learns a deterministic chain ------------------------------

N_STATES, LENGTH, BATCH = 6, 24, 16


def chain_batch(seed: int):
    """Walks on a ring of 6 states, one-hot observations; action 0/1/2 moves
    -1/0/+1; the step into state 0 pays 1."""
    rng = np.random.default_rng(seed)
    pos = np.zeros((BATCH, LENGTH), np.int64)
    pos[:, 0] = rng.integers(0, N_STATES, BATCH)
    action = rng.integers(0, 3, (BATCH, LENGTH))
    for t in range(1, LENGTH):
        pos[:, t] = (pos[:, t - 1] + action[:, t - 1] - 1) % N_STATES
    nxt = (pos + action - 1) % N_STATES
    obs = np.eye(N_STATES, dtype=np.float32)[pos]
    reward = (nxt == 0).astype(np.float32)
    is_first = np.zeros((BATCH, LENGTH), bool)
    is_first[:, 0] = True
    return pos, obs, action.astype(np.int32), reward, is_first


@functools.cache
def trained_chain_model():
    model = wm.WorldModel(SIZE, (N_STATES,), 3, discrete=True)
    bins = symexp_bins(255)
    params = model.init(
        jax.random.key(0), jax.random.key(1), jnp.zeros(N_STATES), jnp.int32(0)
    )
    opt = optax.adam(3e-3)
    data = [chain_batch(s) for s in range(8)]
    obs, action, reward, is_first = (
        jnp.stack([d[i] for d in data]) for i in (1, 2, 3, 4)
    )

    def loss(p, key, o, a, r, f):
        keys = jax.random.split(key, BATCH)
        terms, _ = jax.vmap(
            lambda k, o, a, r, f: wm.sequence_loss(
                model, p, k, o, a, r, f, jnp.zeros_like(f), bins, free_nats=0.0
            )
        )(keys, o, a, r, f)
        return terms.loss.mean(), terms

    @jax.jit
    def train(params):
        def step(carry, i):
            p, s = carry
            j = i % 8
            (_, terms), g = jax.value_and_grad(loss, has_aux=True)(
                p, jax.random.key(i), obs[j], action[j], reward[j], is_first[j]
            )
            updates, s = opt.update(g, s, p)
            return (optax.apply_updates(p, updates), s), terms.recon.mean()

        (p, _), recon = jax.lax.scan(step, (params, opt.init(params)), jnp.arange(1200))
        return p, recon

    params, recon = train(params)
    return model, params, np.asarray(recon)


def test_world_model_learns_a_deterministic_chain_open_loop():
    # Trained without free bits: they leave the prior free within 1 nat of
    # the posterior, most of the chain's log 6 = 1.8 nats (with them, 600
    # steps gave 63% open-loop accuracy, 96% without; 1,200 steps: 99.7%).
    model, params, recon = trained_chain_model()
    assert recon[-50:].mean() < 0.2 * recon[:10].mean()
    pos, obs, action, _, is_first = chain_batch(99)  # held out
    context = 4

    bins = symexp_bins(255)
    keys = jax.random.split(jax.random.key(5), BATCH)
    pred = jax.jit(
        jax.vmap(
            lambda k, o, a, f: wm.open_loop(model, params, k, o, a, f, context, bins)
        )
    )(keys, obs, action, is_first)
    # symexp of the decoded symlog one-hots: the argmax is the state
    predicted = np.argmax(np.asarray(pred.obs), -1)
    # 20 imagined steps from 4 observed ones, never corrected by an obs.
    accuracy = np.mean(predicted == pos[:, context:])
    assert accuracy > 0.95, accuracy
    # The reward head, open loop too: 1 for the step into state 0, else 0.
    error = np.abs(np.asarray(pred.reward) - (pos[:, context:] == 0))
    assert error.mean() < 0.1, error.mean()


def test_imagination_weights_stop_at_a_predicted_episode_end():
    # c = [1, 1, 0, 1]: s_2 is terminal, so its actions and what follows get
    # no weight; w_t = gamma^t prod_{k<=t} c_k.
    cont = jnp.array([[1.0], [1.0], [0.0], [1.0], [1.0]])
    w = dreamer.imagination_weights(cont, 0.5)
    np.testing.assert_allclose(w[:, 0], [1.0, 0.5, 0.0, 0.0])


# --- the loop ------------------------------------------------------------------

CONFIG = dict(
    total_timesteps=96,
    learning_starts=32,
    batch_size=2,
    seq_length=8,
    horizon=3,
    train_ratio=8,
    buffer_size=256,
    eval_every=0,
    size="probe",
)


@functools.cache
def cartpole_trainer():
    env, params = envs.make("CartPole-v1")
    config = dreamer.DreamerConfig(**CONFIG)
    return dreamer.make_train(config, env, params), config


def test_config_derives_the_loop_from_the_train_ratio_and_refuses_bad_ones():
    c = dreamer.DreamerConfig(**CONFIG)
    # 2 x 8 = 16 replayed steps per gradient step, 8 per env step: every 2.
    assert (c.train_freq, c.gradient_steps, c.replay_ratio) == (2, 1, 8.0)
    c = dreamer.DreamerConfig(**{**CONFIG, "train_ratio": 32})
    assert (c.train_freq, c.gradient_steps, c.replay_ratio) == (1, 2, 32.0)
    with pytest.raises(ValueError, match="whole number"):
        dreamer.DreamerConfig(**{**CONFIG, "train_ratio": 3})
    with pytest.raises(ValueError, match="size='huge' is unknown; allowed: xs"):
        dreamer.DreamerConfig(**{**CONFIG, "size": "huge"})
    spec = registry.get("dreamer")
    assert spec.config_cls is dreamer.DreamerConfig
    assert spec.default_env == "CartPole-v1"


def test_seeds_under_vmap_equal_single_runs_and_resume_equals_uninterrupted(tmp_path):
    trainer, config = cartpole_trainer()
    hp = dreamer.DreamerHParams()
    kw = dict(seed=4, num_chunks=2, progress=False)
    both = parallel.run(trainer, hp, num_seeds=2, **kw)
    metrics = both.metrics
    assert np.isfinite(metrics["model_loss"][:, -1]).all()
    learned = np.isfinite(metrics["model_loss"][0])
    assert learned.sum() == trainer.num_iterations - trainer.warmup_iterations
    # The world model's loss falls over even this short run.
    assert (
        metrics["model_loss"][:, -1].mean()
        < metrics["model_loss"][:, learned][:, 0].mean()
    )

    class Stop(Exception):
        pass

    def stop(done, state, metrics):
        raise Stop

    ckpt = tmp_path / "ckpt"
    fp = {"algorithm": "dreamer"}
    with pytest.raises(Stop):
        parallel.run(
            trainer,
            hp,
            num_seeds=2,
            **kw,
            checkpoint_dir=ckpt,
            fingerprint=fp,
            on_chunk=stop,
        )
    assert 0 < checkpoint.latest_step(ckpt) < trainer.num_iterations
    resumed = parallel.run(
        trainer, hp, num_seeds=2, **kw, checkpoint_dir=ckpt, fingerprint=fp
    )
    for name, values in metrics.items():
        np.testing.assert_array_equal(resumed.metrics[name], values, err_msg=name)
    jax.tree.map(
        np.testing.assert_array_equal,
        resumed.state.learner.params,
        both.state.learner.params,
    )
    # Seed i of the vmapped run is the single run with seed 4 + ... key i.
    keys = parallel.seed_keys(4, 2)
    run_one = jax.jit(lambda key: trainer(key, hp))
    for i in range(2):
        single = run_one(keys[i])
        for name in ("model_loss", "return", "ac_loss"):
            np.testing.assert_allclose(
                single.metrics[name],
                metrics[name][i],
                rtol=2e-4,
                atol=1e-5,
                err_msg=name,
            )


def test_continuous_actions_beyond_the_bounds_keep_their_gradient():
    # a * sg(1 / max(1, |a|)): 2 -> 1 with gradient 1/2; inside: identity.
    model = wm.WorldModel(SIZE, (3,), 2, discrete=False)

    def encoded(a):
        return model.apply({}, a, method=wm.WorldModel.action_input)

    a = jnp.array([2.0, -0.5])
    np.testing.assert_allclose(encoded(a), [1.0, -0.5])
    np.testing.assert_allclose(jax.grad(lambda a: encoded(a).sum())(a), [0.5, 1.0])


def test_continuous_actions_run_on_pendulum_within_the_bounds():
    env, params = envs.make("Pendulum-v1")
    config = dreamer.DreamerConfig(**{**CONFIG, "eval_every": 4, "eval_episodes": 2})
    trainer = dreamer.make_train(config, env, params)
    out = jax.jit(lambda key: trainer(key, dreamer.DreamerHParams()))(jax.random.key(0))
    m = out.metrics
    learned = np.isfinite(np.asarray(m["actor_loss"]))
    assert learned.sum() == trainer.num_iterations - trainer.warmup_iterations
    for name in ("model_loss", "actor_loss", "critic_loss", "entropy"):
        assert np.isfinite(np.asarray(m[name])[learned]).all(), name
    assert np.isfinite(np.asarray(m["eval_return"])[3::4]).all()
    # stored actions are the policy's, clipped to [-1, 1]; the env gets them
    # mapped onto Pendulum's [-2, 2]
    actions = np.asarray(out.state.buffer.data["action"])
    assert actions.shape[-1] == 1 and np.abs(actions).max() <= 1.0
    assert np.abs(actions).max() > 0.5


def test_env_action_maps_model_actions_onto_the_bounds():
    # Pendulum's torque lies in [-2, 2]: a = 0.5 -> -2 + 1.5 / 2 * 4 = 1.0;
    # a = 1.5 is past the model's range and clips to 2.0. Discrete actions
    # pass through.
    env, params = envs.make("Pendulum-v1")
    got = dreamer.env_action(jnp.array([[0.5], [1.5], [-1.0]]), env, params)
    np.testing.assert_allclose(np.asarray(got), [[1.0], [2.0], [-2.0]])
    cart, cart_params = envs.make("CartPole-v1")
    assert int(dreamer.env_action(jnp.int32(1), cart, cart_params)) == 1
