"""Tests for jaxrl.ops.dqn: Huber, DQN and double-DQN losses."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import rlax

from jaxrl.ops.dqn import double_dqn_loss, dqn_loss, huber_loss


def test_huber_hand_derived():
    # delta = 1: |x| <= 1 -> 0.5 x^2;  else |x| - 0.5.
    # x = 0.5 -> 0.125;  x = -2 -> 1.5;  x = 1 -> 0.5 (both pieces agree).
    np.testing.assert_allclose(
        huber_loss(jnp.array([0.5, -2.0, 1.0])), [0.125, 1.5, 0.5], rtol=1e-6
    )
    # delta = 2, x = 3 -> 2 * (3 - 1) = 4.
    np.testing.assert_allclose(huber_loss(3.0, 2.0), 4.0, rtol=1e-6)


def test_huber_gradient_is_clipped_error():
    x = jnp.array([-3.0, -0.4, 0.2, 5.0])
    grad = jax.vmap(jax.grad(huber_loss))(x)
    np.testing.assert_allclose(grad, np.clip(x, -1.0, 1.0), rtol=1e-6)


@pytest.mark.parametrize("delta", [0.5, 1.0, 3.0])
def test_huber_matches_rlax(delta):
    x = jnp.linspace(-5.0, 5.0, 41)
    np.testing.assert_allclose(
        huber_loss(x, delta), rlax.huber_loss(x, delta), atol=1e-6
    )


def test_dqn_loss_hand_derived():
    # q_tm1[a=1] = 2, target = 1 + 0.5 * max(q_t) = 1 + 0.5 * 4 = 3, td = 1.
    # Huber(1) = 0.5, squared 0.5 * 1 = 0.5.  With r = 3: td = 3, Huber = 2.5.
    q_tm1 = jnp.array([0.0, 2.0])
    q_t = jnp.array([4.0, -1.0])
    args = (q_tm1, jnp.array(1), jnp.array(1.0), jnp.array(0.5), q_t)
    np.testing.assert_allclose(dqn_loss(*args), 0.5, rtol=1e-6)
    np.testing.assert_allclose(dqn_loss(*args, huber_delta=None), 0.5, rtol=1e-6)
    args3 = (q_tm1, jnp.array(1), jnp.array(3.0), jnp.array(0.5), q_t)
    np.testing.assert_allclose(dqn_loss(*args3), 2.5, rtol=1e-6)
    np.testing.assert_allclose(dqn_loss(*args3, huber_delta=None), 4.5, rtol=1e-6)
    # Termination (discount 0): target = r = 1, td = -1, loss 0.5.
    term = (q_tm1, jnp.array(1), jnp.array(1.0), jnp.array(0.0), q_t)
    np.testing.assert_allclose(dqn_loss(*term), 0.5, rtol=1e-6)


def test_double_dqn_hand_derived():
    # The selector picks action 1, the value net gives q_t_value[1] = 10 (not its
    # max 20): target = 0 + 1 * 10 = 10, td = 10 - 9 = 1, Huber = 0.5.
    loss = double_dqn_loss(
        jnp.array([9.0, 0.0]),
        jnp.array(0),
        jnp.array(0.0),
        jnp.array(1.0),
        jnp.array([20.0, 10.0]),
        jnp.array([0.0, 1.0]),
    )
    np.testing.assert_allclose(loss, 0.5, rtol=1e-6)


def _batch(seed, B=6, A=4):
    rng = np.random.default_rng(seed)
    return (
        jnp.asarray(rng.normal(size=(B, A)) * 3, jnp.float32),
        jnp.asarray(rng.integers(0, A, size=B)),
        jnp.asarray(rng.normal(size=B), jnp.float32),
        jnp.asarray(rng.choice([0.0, 0.99], size=B), jnp.float32),
        jnp.asarray(rng.normal(size=(B, A)) * 3, jnp.float32),
        jnp.asarray(rng.normal(size=(B, A)) * 3, jnp.float32),
    )


def test_matches_rlax_under_jit_and_vmap():
    q_tm1, a_tm1, r_t, discount_t, q_t_value, q_t_selector = _batch(0)
    got = jax.jit(jax.vmap(double_dqn_loss))(
        q_tm1, a_tm1, r_t, discount_t, q_t_value, q_t_selector
    )
    td = jax.vmap(rlax.double_q_learning)(
        q_tm1, a_tm1, r_t, discount_t, q_t_value, q_t_selector
    )
    np.testing.assert_allclose(got, rlax.huber_loss(td, 1.0), atol=1e-5)

    got = jax.jit(jax.vmap(dqn_loss))(q_tm1, a_tm1, r_t, discount_t, q_t_value)
    td = jax.vmap(rlax.q_learning)(q_tm1, a_tm1, r_t, discount_t, q_t_value)
    np.testing.assert_allclose(got, rlax.huber_loss(td, 1.0), atol=1e-5)


def test_gradient_only_through_taken_action():
    q_tm1, a_tm1, r_t, discount_t, q_t, _ = _batch(1, B=1)
    args = (a_tm1[0], r_t[0], discount_t[0])
    g_online, g_target = jax.grad(
        lambda q0, q1: dqn_loss(q0, *args, q1), argnums=(0, 1)
    )(q_tm1[0], q_t[0])
    mask = np.arange(q_tm1.shape[1]) != int(a_tm1[0])
    assert np.all(g_online[mask] == 0) and g_online[int(a_tm1[0])] != 0
    assert np.all(g_target == 0)


def test_rank_checks():
    with pytest.raises(AssertionError):
        dqn_loss(jnp.zeros(3), jnp.zeros(2, jnp.int32), 0.0, 0.9, jnp.zeros(3))
