"""Bandit agents: hand-computed updates, learning on the testbed, purity."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from compiles import count_compilations

import envs
from jaxrl.tabular import bandits
from jaxrl.types import check_hparams

NUM_STEPS = 300
NUM_RUNS = 64
ENV, PARAMS = envs.make("Bandit-v0")


def _vmapped(config, params=PARAMS):
    """``train`` over a batch of keys and a batch of hyperparameter settings."""
    train = bandits.make_train(config, ENV, params)
    over_keys = jax.vmap(train, (0, None))
    return jax.jit(jax.vmap(over_keys, (None, 0)))


# Compiled functions shared by the tests below; every call of EPS_GREEDY has
# the same shapes (NUM_RUNS keys, 2 settings), so it compiles once.
EPS_GREEDY = _vmapped(bandits.BanditConfig(num_steps=NUM_STEPS))
KEYS = jax.random.split(jax.random.key(0), NUM_RUNS)


def _hparams(**kwargs):
    """HParams with every field a length-m array (m settings)."""
    m = max(np.size(v) for v in kwargs.values())
    fields = bandits.BanditHParams().__dict__ | kwargs
    return bandits.BanditHParams(
        **{
            k: jnp.broadcast_to(jnp.asarray(v, jnp.float32), (m,))
            for k, v in fields.items()
        }
    )


SWEEP = _hparams(epsilon=[0.1, 1.0])  # 1.0 = uniformly random pulls


def test_ucb_scores_by_hand():
    # t = 4, c = 2: Q + 2 sqrt(ln 4 / N); the unpulled arm scores +inf.
    q = jnp.array([1.0, 0.5, 0.0])
    n = jnp.array([1.0, 2.0, 0.0])
    s = bandits.ucb_scores(q, n, jnp.float32(4.0), jnp.float32(2.0))
    np.testing.assert_allclose(
        s[:2], [1 + 2 * np.sqrt(np.log(4)), 0.5 + 2 * np.sqrt(np.log(4) / 2)], rtol=1e-6
    )
    assert np.isposinf(s[2])


def test_gradient_update_by_hand():
    # H = 0 (pi = 1/2 each), A = 0, R = 3, baseline 1, alpha = 0.5:
    # H(0) += 0.5 * 2 * (1 - 1/2) = 0.5 ; H(1) += 0.5 * 2 * (0 - 1/2) = -0.5.
    h = jnp.zeros(2)
    h = bandits.gradient_bandit_update(h, jnp.array([0.5, 0.5]), 0, 3.0, 1.0, 0.5)
    np.testing.assert_allclose(h, [0.5, -0.5])


def test_sample_average_is_exact_with_noiseless_rewards():
    # reward_std = 0: every reward of arm a is q*(a), so after any number of
    # pulls the sample average Q(a) = q*(a) for every arm pulled.
    config = bandits.BanditConfig(num_steps=50)
    params = PARAMS.replace(reward_std=0.0)
    train = jax.jit(bandits.make_train(config, ENV, params))
    out = train(jax.random.key(3), bandits.BanditHParams(epsilon=1.0))
    pulled = np.asarray(out.state.n) > 0
    assert pulled.sum() >= 8
    np.testing.assert_allclose(
        out.state.q[pulled], out.state.env_state.q_star[pulled], rtol=1e-6
    )
    assert float(out.state.n.sum()) == 50.0
    # Regret is zero exactly when the optimal arm was pulled.
    np.testing.assert_array_equal(
        out.metrics["regret"] == 0.0, out.metrics["optimal"] == 1.0
    )


def test_epsilon_greedy_and_ucb_beat_random():
    out = EPS_GREEDY(KEYS, SWEEP)
    optimal = np.asarray(out.metrics["optimal"][:, :, -100:].mean((1, 2)))
    regret = np.asarray(out.metrics["regret"].sum(-1).mean(-1))
    # Random pulls find the best of 10 arms 10% of the time.
    assert optimal[1] == pytest.approx(0.1, abs=0.04)
    assert optimal[0] > optimal[1] + 0.3
    assert regret[0] < 0.6 * regret[1]
    ucb = jax.jit(
        jax.vmap(
            bandits.make_train(bandits.UCBConfig(NUM_STEPS), ENV, PARAMS), (0, None)
        )
    )
    out = ucb(KEYS, bandits.BanditHParams(c=2.0))
    assert float(out.metrics["optimal"][:, -100:].mean()) > optimal[1] + 0.3


def test_gradient_bandit_learns_with_offset_mean():
    # Fig. 2.5 setting: q*(a) ~ N(4, 1); the baseline makes the offset harmless.
    params = PARAMS.replace(mean=4.0)
    config = bandits.GradientConfig(num_steps=NUM_STEPS)
    train = jax.jit(jax.vmap(bandits.make_train(config, ENV, params), (0, None)))
    out = train(KEYS, bandits.BanditHParams(alpha=0.1))
    assert float(out.metrics["optimal"][:, -100:].mean()) > 0.5


def test_same_seed_same_bits_vmap_equals_loop_no_recompile():
    a = EPS_GREEDY(KEYS, SWEEP)
    perm = np.random.default_rng(0).permutation(NUM_RUNS)
    permuted = KEYS[perm]
    with count_compilations() as compiles:
        b = EPS_GREEDY(KEYS, SWEEP)
        # Reordering the seeds reorders the runs and changes nothing else.
        c = EPS_GREEDY(permuted, SWEEP)
    for k in a.metrics:
        np.testing.assert_array_equal(a.metrics[k], b.metrics[k])
    for k in a.metrics:
        np.testing.assert_array_equal(a.metrics[k][:, perm], c.metrics[k])
    assert compiles() == 0
    # A Python loop of unbatched runs gives the same bits as the vmapped one.
    single = jax.jit(
        bandits.make_train(bandits.BanditConfig(num_steps=NUM_STEPS), ENV, PARAMS)
    )
    hp = bandits.BanditHParams(epsilon=0.1)
    for i in range(3):
        out = single(KEYS[i], hp)
        for k in a.metrics:
            np.testing.assert_array_equal(a.metrics[k][0, i], out.metrics[k])
        np.testing.assert_array_equal(a.state.q[0, i], out.state.q)


def test_bad_hyperparameters_and_config():
    with pytest.raises(ValueError, match=r"epsilon=1.5.*\[0.0, 1.0\]"):
        check_hparams(bandits.BanditHParams(epsilon=1.5))
    with pytest.raises(ValueError, match=r"alpha=0.0.*\(0.0, 1.0\]"):
        check_hparams(bandits.BanditHParams(alpha=0.0))
    with pytest.raises(ValueError, match=r"hyperparameter c=-1"):
        check_hparams(bandits.BanditHParams(c=-1.0))
    check_hparams(bandits.BanditHParams())
    check_hparams(bandits.OptimisticHParams())
    with pytest.raises(ValueError, match="agent='greedy'"):
        bandits.BanditConfig(agent="greedy")
    with pytest.raises(ValueError, match="step_size"):
        bandits.BanditConfig(step_size="harmonic")
    with pytest.raises(ValueError, match="max_steps_in_episode"):
        bandits.make_train(bandits.BanditConfig(num_steps=5000), ENV, PARAMS)
    walk, walk_params = envs.make("RandomWalk-v0")
    with pytest.raises(ValueError, match="not a bandit"):
        bandits.make_train(bandits.BanditConfig(), walk, walk_params)


def test_gradient_baseline_convention_is_a_setting():
    # H starts at 0 (uniform pi); the first pull leaves H at 0 either way
    # (both baselines equal R_1). After the second pull, with A_2 the same
    # under both (the same key, the same uniform pi):
    #   excluding R_2: H = alpha (R_2 - R_1) (e_A2 - 1/k)
    #   including R_2: H = alpha (R_2 - (R_1 + R_2) / 2) (e_A2 - 1/k),
    # exactly half of it.
    out = {}
    for includes in (False, True):
        config = bandits.GradientConfig(num_steps=2, baseline_includes_current=includes)
        train = jax.jit(bandits.make_train(config, ENV, PARAMS))
        out[includes] = np.asarray(
            train(KEYS[0], bandits.BanditHParams(alpha=0.1)).state.h
        )
    assert np.abs(out[False]).max() > 0
    np.testing.assert_allclose(out[True], out[False] / 2, rtol=1e-5, atol=1e-7)
