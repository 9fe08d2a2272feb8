"""Tests for jaxrl.ops.world_model: symlog, two-hot, KL balance, return scale."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import rlax

from jaxrl.ops import lambda_returns
from jaxrl.ops.world_model import (
    categorical_kl,
    imagined_lambda_returns,
    kl_balance_loss,
    return_scale,
    return_scale_init,
    return_scale_update,
    straight_through_sample,
    symexp,
    symexp_bins,
    symlog,
    two_hot,
    two_hot_loss,
    two_hot_mean,
    unimix_logits,
)


def test_symlog_by_hand_and_symexp_inverts_it():
    # symlog(e - 1) = log(e) = 1; symlog(-(e^2 - 1)) = -2; symlog(0) = 0.
    x = jnp.array([np.e - 1, -(np.e**2 - 1), 0.0, 1e6])
    np.testing.assert_allclose(symlog(x)[:3], [1.0, -2.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(symexp(symlog(x)), x, rtol=1e-5)
    # Near 0 symlog is the identity: d/dx log(1 + x) = 1 / (1 + x).
    assert jax.grad(symlog)(1e-4) == pytest.approx(1 / (1 + 1e-4))
    assert jax.grad(symlog)(-1e-4) == pytest.approx(1 / (1 + 1e-4))


def test_symexp_bins_are_symmetric_ascending_and_hold_zero():
    b = symexp_bins(255)
    assert b.shape == (255,)
    assert np.all(np.diff(np.asarray(b)) > 0)
    np.testing.assert_array_equal(b, -b[::-1])
    assert b[127] == 0.0
    np.testing.assert_allclose(b[-1], np.expm1(20.0), rtol=1e-6)
    # The half-grid is linspace(-20, 0, 128) in symlog space.
    np.testing.assert_allclose(symlog(b[:128]), np.linspace(-20, 0, 128), atol=1e-5)
    with pytest.raises(ValueError, match="at least 2"):
        symexp_bins(1)


def test_two_hot_by_hand():
    bins = jnp.array([-2.0, 0.0, 1.0, 5.0])
    # 0.25 lies between bins 0 and 1 (width 1): weights 0.75 and 0.25.
    np.testing.assert_allclose(two_hot(0.25, bins), [0, 0.75, 0.25, 0])
    # 3 lies between 1 and 5 (width 4): (5 - 3) / 4 = 0.5 on each.
    np.testing.assert_allclose(two_hot(3.0, bins), [0, 0, 0.5, 0.5])
    # On a bin: all its weight; outside: clipped to the end bins.
    np.testing.assert_allclose(two_hot(1.0, bins), [0, 0, 1, 0])
    np.testing.assert_allclose(two_hot(9.0, bins), [0, 0, 0, 1])
    np.testing.assert_allclose(two_hot(-9.0, bins), [1, 0, 0, 0])


def test_two_hot_matches_rlax_on_uniform_bins():
    bins = jnp.linspace(-3.0, 3.0, 13)
    x = jnp.array([-2.9, -1.3, 0.01, 0.7, 2.49])
    ours = jax.vmap(two_hot, in_axes=(0, None))(x, bins)
    theirs = rlax.transform_to_2hot(x, -3.0, 3.0, 13)
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_two_hot_mean_decodes_the_encoding_over_symexp_bins():
    bins = symexp_bins(255)
    x = jnp.array([-1234.5, -3.0, -0.02, 0.0, 0.5, 7.0, 88_000.0])
    w = jax.vmap(two_hot, in_axes=(0, None))(x, bins)
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-6)
    logits = jnp.log(jnp.maximum(w, 1e-30))
    decoded = jax.vmap(two_hot_mean, in_axes=(0, None))(logits, bins)
    np.testing.assert_allclose(decoded, x, rtol=1e-4, atol=1e-5)
    # Equal logits decode to exactly 0 (the symmetric sum cancels).
    assert two_hot_mean(jnp.zeros(255), bins) == 0.0


def test_two_hot_loss_is_cross_entropy_and_its_gradient_is_softmax_minus_target():
    bins = jnp.array([-1.0, 0.0, 1.0])
    logits = jnp.array([0.3, -0.2, 0.5])
    # Target 0.5: weights [0, 0.5, 0.5].
    p = jax.nn.softmax(logits)
    expected = -(0.5 * np.log(p[1]) + 0.5 * np.log(p[2]))
    assert two_hot_loss(logits, 0.5, bins) == pytest.approx(expected, rel=1e-6)
    g = jax.grad(two_hot_loss)(logits, 0.5, bins)
    np.testing.assert_allclose(g, p - jnp.array([0, 0.5, 0.5]), atol=1e-6)


def test_unimix_keeps_every_probability_at_least_the_uniform_share():
    logits = jnp.array([[50.0, 0.0, -50.0, 0.0]])
    p = jnp.exp(unimix_logits(logits, 0.01))
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-6)
    assert float(p.min()) >= 0.01 / 4 - 1e-9
    # (1 - 0.01) * 1 + 0.01 / 4 on the dominant class.
    assert float(p[0, 0]) == pytest.approx(0.99 + 0.0025, rel=1e-5)


def test_straight_through_sample_is_one_hot_with_the_softmax_gradient():
    logits = jnp.array([[0.1, 0.5, -0.3], [2.0, 0.0, 0.0]])
    key = jax.random.key(0)
    s = straight_through_sample(key, logits)
    np.testing.assert_array_equal(s.sum(-1), [1.0, 1.0])
    assert set(np.unique(np.asarray(s))) <= {0.0, 1.0}
    w = jnp.array([[1.0, 2.0, 3.0]])
    g = jax.grad(lambda lg: jnp.sum(straight_through_sample(key, lg) * w))(logits)
    # d/dlogits sum_k p_k w_k = p * (w - p.w) per row.
    p = jax.nn.softmax(logits)
    expected = p * (w - (p * w).sum(-1, keepdims=True))
    np.testing.assert_allclose(g, expected, atol=1e-6)


def test_categorical_kl_by_hand():
    # p = [0.5, 0.5], q = [0.25, 0.75]:
    # KL = 0.5 log(0.5/0.25) + 0.5 log(0.5/0.75) = 0.5 log 2 + 0.5 log(2/3).
    p = jnp.log(jnp.array([[0.5, 0.5]]))
    q = jnp.log(jnp.array([[0.25, 0.75]]))
    expected = 0.5 * np.log(2) + 0.5 * np.log(2 / 3)
    assert categorical_kl(p, q) == pytest.approx(expected, rel=1e-6)
    # Two independent latents: the sum of their KLs.
    assert categorical_kl(jnp.tile(p, (2, 1)), jnp.tile(q, (2, 1))) == pytest.approx(
        2 * expected, rel=1e-6
    )
    # rlax's KL over one categorical agrees.
    assert rlax.categorical_kl_divergence(p[0], q[0]) == pytest.approx(
        expected, rel=1e-5
    )


def test_kl_balance_gradients_go_where_the_stop_gradients_say():
    post = jnp.array([[1.0, -0.5, 0.2], [0.0, 0.3, -1.0]])
    prior = jnp.array([[-0.4, 0.8, 0.1], [0.5, 0.5, 0.5]])
    kl = categorical_kl(post, prior)
    assert kl > 0.05

    def dyn(a, b):
        return kl_balance_loss(a, b, free_nats=0.0).dynamics

    def rep(a, b):
        return kl_balance_loss(a, b, free_nats=0.0).representation

    # Dynamics: only the prior gets a gradient; representation: only the
    # posterior. Each equals the full KL's gradient for its own argument.
    g_full_post, g_full_prior = jax.grad(categorical_kl, argnums=(0, 1))(post, prior)
    g_post, g_prior = jax.grad(dyn, argnums=(0, 1))(post, prior)
    np.testing.assert_array_equal(g_post, 0.0)
    np.testing.assert_allclose(g_prior, g_full_prior, atol=1e-6)
    g_post, g_prior = jax.grad(rep, argnums=(0, 1))(post, prior)
    np.testing.assert_array_equal(g_prior, 0.0)
    np.testing.assert_allclose(g_post, g_full_post, atol=1e-6)
    # Free bits: below `free_nats` the value is clipped and no gradient flows.
    out = kl_balance_loss(post, prior, free_nats=float(kl) + 1.0)
    assert out.dynamics == pytest.approx(float(kl) + 1.0)
    assert out.kl == pytest.approx(float(kl), rel=1e-6)
    g = jax.grad(
        lambda a, b: kl_balance_loss(a, b, float(kl) + 1.0).dynamics, argnums=(0, 1)
    )(post, prior)
    np.testing.assert_array_equal(g[1], 0.0)


def test_return_scale_is_a_debiased_ema_of_the_percentile_range():
    # Batch 1 is 0..100 (5th/95th percentiles 5 and 95), batch 2 is 0..10
    # (0.5 and 9.5). With decay 0.9 the debiased EMAs after two updates are
    # low = (0.9 * 0.1 * 5 + 0.1 * 0.5) / (1 - 0.81) and likewise high.
    s = return_scale_init()
    assert return_scale(s) == 1.0
    s = return_scale_update(s, jnp.arange(101.0), decay=0.9)
    assert s.low == pytest.approx(5.0, rel=1e-5)
    assert s.high == pytest.approx(95.0, rel=1e-5)
    s = return_scale_update(s, jnp.linspace(0, 10, 101), decay=0.9)
    low = (0.9 * 0.1 * 5 + 0.1 * 0.5) / 0.19
    high = (0.9 * 0.1 * 95 + 0.1 * 9.5) / 0.19
    assert s.low == pytest.approx(low, rel=1e-5)
    assert s.high == pytest.approx(high, rel=1e-5)
    assert return_scale(s) == pytest.approx(high - low, rel=1e-5)
    # A narrow range is not scaled up: max(1, S).
    s = return_scale_update(return_scale_init(), jnp.linspace(0, 0.1, 11))
    assert return_scale(s) == 1.0


def test_imagined_lambda_returns_by_hand_and_against_the_shared_op():
    # H = 2, gamma 0.5, lambda 0.5, continue [1, 0]:
    # R_1 = r_1 + 0.5 * 0 * (...) = r_1 = 2
    # R_0 = r_0 + 0.5 * 1 * (0.5 * v_0 + 0.5 * R_1) = 1 + 0.5 * (1.5 + 1) = 2.25
    r = jnp.array([1.0, 2.0])
    c = jnp.array([1.0, 0.0])
    v = jnp.array([3.0, 4.0])
    out = imagined_lambda_returns(r, c, v, 0.5, 0.5)
    np.testing.assert_allclose(out, [2.25, 2.0], rtol=1e-6)
    # Equals the shared op with discount gamma * c and no hard boundaries.
    rng = np.random.default_rng(0)
    r, v = rng.normal(size=(2, 15)).astype(np.float32)
    c = rng.random(15).astype(np.float32)
    ref = lambda_returns(r, 0.997 * c, v, np.zeros(15), 0.95)
    np.testing.assert_allclose(imagined_lambda_returns(r, c, v, 0.997), ref)
    # A naive loop: R_H = v_{H-1}; R_t = r_t + g c_t ((1 - l) v_t + l R_{t+1}).
    ret, out = v[-1], []
    for t in reversed(range(15)):
        ret = r[t] + 0.997 * c[t] * (0.05 * v[t] + 0.95 * ret)
        out.append(ret)
    np.testing.assert_allclose(ref, out[::-1], rtol=1e-5)
