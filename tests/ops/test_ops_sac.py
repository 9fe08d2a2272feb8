"""Tests for jaxrl.ops.sac: tanh-Gaussian, continuous and discrete SAC losses."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import norm

from jaxrl.ops.sac import (
    continuous_target_entropy,
    discrete_sac_actor_loss,
    discrete_sac_critic_loss,
    discrete_sac_critic_target,
    discrete_sac_temperature_loss,
    discrete_target_entropy,
    sac_actor_loss,
    sac_critic_loss,
    sac_critic_target,
    sac_temperature_loss,
    tanh_gaussian_log_prob,
    tanh_gaussian_sample,
    tanh_log_det_jacobian,
)


def test_tanh_log_det_jacobian_stable():
    u = jnp.linspace(-4.0, 4.0, 17)
    np.testing.assert_allclose(
        tanh_log_det_jacobian(u),
        np.log(1 - np.tanh(np.asarray(u, np.float64)) ** 2),
        atol=1e-5,
    )
    # The naive form gives log(0) = -inf in float32 at u = 20; this one is finite:
    # log(1 - tanh(u)^2) ~ log 4 - 2|u| for large |u|.
    big = tanh_log_det_jacobian(jnp.array([20.0, -20.0]))
    np.testing.assert_allclose(big, [math.log(4) - 40] * 2, rtol=1e-6)


@pytest.mark.parametrize("u", [-1.5, -0.2, 0.3, 1.1])
def test_tanh_gaussian_log_prob_numerical_change_of_variables(u):
    # 1-D, independently of the Jacobian formula: the density of a = tanh(u) is the
    # derivative of its CDF, F(a) = P(tanh(U) <= a) = Phi((atanh(a) - mean) / std),
    # taken by central finite differences in float64.
    mean, std = 0.3, 0.7
    a = math.tanh(u)
    h = 1e-6

    def cdf(x):
        return norm.cdf((math.atanh(x) - mean) / std)

    density = (cdf(a + h) - cdf(a - h)) / (2 * h)
    got = tanh_gaussian_log_prob(
        jnp.array([mean]), jnp.array([math.log(std)]), jnp.array([u])
    )
    np.testing.assert_allclose(got, math.log(density), rtol=1e-4, atol=1e-4)


def test_tanh_gaussian_density_integrates_to_one():
    # Integrate pi(a) over a in (-1, 1) on the u grid: int pi(tanh u) tanh'(u) du.
    u = jnp.linspace(-8.0, 8.0, 4001)
    logp = jax.vmap(
        lambda x: tanh_gaussian_log_prob(jnp.array([0.5]), jnp.array([0.2]), x[None])
    )(u)
    dadu = 1 - jnp.tanh(u) ** 2
    np.testing.assert_allclose(jnp.trapezoid(jnp.exp(logp) * dadu, u), 1.0, atol=1e-4)


def test_tanh_gaussian_sample():
    key = jax.random.key(0)
    mean, log_std = jnp.array([0.5, -2.0, 0.0]), jnp.array([-1.0, 0.0, 0.5])
    sample = jax.jit(tanh_gaussian_sample)
    a, logp = sample(key, mean, log_std)
    assert a.shape == (3,) and logp.shape == ()
    assert np.all(np.abs(a) <= 1) and np.isfinite(logp)
    # Same key, same sample; and the reported log-prob is that of the sample.
    eps = jax.random.normal(key, (3,))
    u = mean + jnp.exp(log_std) * eps
    np.testing.assert_allclose(a, jnp.tanh(u), rtol=1e-6)
    np.testing.assert_allclose(
        logp, tanh_gaussian_log_prob(mean, log_std, u), rtol=1e-5
    )
    # Reparameterised: gradients reach mean and log_std through the action.
    g = jax.jit(jax.grad(lambda m: jnp.sum(sample(key, m, log_std)[0])))(mean)
    assert np.all(g != 0)
    # A wide Gaussian saturates tanh; the log-prob stays finite.
    _, logp = sample(key, mean, jnp.array([3.0, 3.0, 3.0]))
    assert np.isfinite(logp)
    # Under vmap over keys, one sample per key equals the loop.
    keys = jax.random.split(key, 4)
    a_v, _ = jax.jit(jax.vmap(sample, (0, None, None)))(keys, mean, log_std)
    for i in range(4):
        np.testing.assert_allclose(a_v[i], sample(keys[i], mean, log_std)[0])


def test_target_entropies():
    assert continuous_target_entropy(6) == -6.0
    np.testing.assert_allclose(discrete_target_entropy(4), 0.98 * math.log(4))
    np.testing.assert_allclose(discrete_target_entropy(4, 0.5), 0.5 * math.log(4))


def test_continuous_critic_hand_derived():
    # y = 1 + 0.9 * (min(2, 3) - 0.5 * (-1)) = 1 + 0.9 * 2.5 = 3.25.
    s = lambda x: jnp.array(x)  # noqa: E731
    y = sac_critic_target(s(1.0), s(0.9), s(2.0), s(3.0), s(-1.0), s(0.5))
    np.testing.assert_allclose(y, 3.25, rtol=1e-6)
    # Terminated (discount 0): y = r = 1; truncated bootstraps as above.
    y = sac_critic_target(s(1.0), s(0.0), s(2.0), s(3.0), s(-1.0), s(0.5))
    np.testing.assert_allclose(y, 1.0, rtol=1e-6)
    # Loss with Q1 = 3, Q2 = 4: 0.5 * 0.25^2 + 0.5 * 0.75^2 = 0.3125.
    loss = sac_critic_loss(
        s(3.0), s(4.0), s(1.0), s(0.9), s(2.0), s(3.0), s(-1.0), s(0.5)
    )
    np.testing.assert_allclose(loss, 0.3125, rtol=1e-6)
    # The target is fixed: no gradient into the next-state critics or alpha.
    g = jax.grad(
        lambda q, al: sac_critic_loss(
            s(3.0), s(4.0), s(1.0), s(0.9), q, s(3.0), s(-1.0), al
        ),
        argnums=(0, 1),
    )(s(2.0), s(0.5))
    assert g[0] == 0 and g[1] == 0


def test_continuous_actor_and_temperature():
    # alpha * log pi - min(Q1, Q2) = 0.2 * -1 - 1 = -1.2.
    np.testing.assert_allclose(sac_actor_loss(1.0, 2.0, -1.0, 0.2), -1.2, rtol=1e-6)
    assert jax.grad(sac_actor_loss, argnums=3)(1.0, 2.0, -1.0, 0.2) == 0
    # Entropy estimate -log pi = 1 below the target 2: log_alpha should grow.
    # loss = -log_alpha * (log pi + H_target) = -log_alpha * (-1 + 2); grad = -1.
    g = jax.grad(sac_temperature_loss)(jnp.array(0.0), jnp.array(-1.0), 2.0)
    np.testing.assert_allclose(g, -1.0)
    # Above the target it shrinks; no gradient into the policy.
    assert jax.grad(sac_temperature_loss)(0.0, -3.0, 2.0) > 0
    assert jax.grad(sac_temperature_loss, argnums=1)(0.0, -3.0, 2.0) == 0


def np_discrete_target(r, d, q1, q2, logits, alpha):
    p = np.exp(logits - logits.max())
    p /= p.sum()
    v = 0.0
    for a in range(len(p)):
        v += p[a] * (min(q1[a], q2[a]) - alpha * np.log(p[a]))
    return r + d * v


def test_discrete_critic_hand_derived_and_numpy():
    # Uniform policy over 2 actions, alpha = 1: V = mean(min Q) + log 2
    # = (1 + 2) / 2 + log 2; y = 0.5 + 0.9 * (1.5 + log 2).
    y = discrete_sac_critic_target(
        jnp.array(0.5),
        jnp.array(0.9),
        jnp.array([1.0, 5.0]),
        jnp.array([3.0, 2.0]),
        jnp.zeros(2),
        jnp.array(1.0),
    )
    np.testing.assert_allclose(y, 0.5 + 0.9 * (1.5 + math.log(2)), rtol=1e-6)

    rng = np.random.default_rng(0)
    B, A = 5, 3
    q1_tm1, q2_tm1, q1_t, q2_t, logits = (
        rng.normal(size=(B, A)).astype(np.float32) for _ in range(5)
    )
    a_tm1 = rng.integers(0, A, size=B)
    r = rng.normal(size=B).astype(np.float32)
    d = np.array([0.99, 0.0, 0.99, 0.99, 0.0], np.float32)
    alpha = np.float32(0.3)
    loss = jax.jit(jax.vmap(discrete_sac_critic_loss, (0,) * 8 + (None,)))(
        q1_tm1, q2_tm1, a_tm1, r, d, q1_t, q2_t, logits, alpha
    )
    for i in range(B):
        y = np_discrete_target(r[i], d[i], q1_t[i], q2_t[i], logits[i], alpha)
        expected = (
            0.5 * (q1_tm1[i, a_tm1[i]] - y) ** 2 + 0.5 * (q2_tm1[i, a_tm1[i]] - y) ** 2
        )
        np.testing.assert_allclose(loss[i], expected, rtol=1e-5)


def test_discrete_actor_and_temperature():
    # Uniform over 2 actions, alpha = 1, min Q = [1, 2]:
    # sum_a 0.5 * (log 0.5 - minq_a) = -log 2 - 1.5.
    loss = discrete_sac_actor_loss(
        jnp.zeros(2), jnp.array([1.0, 2.0]), jnp.array([3.0, 2.0]), jnp.array(1.0)
    )
    np.testing.assert_allclose(loss, -math.log(2) - 1.5, rtol=1e-6)
    # The gradient moves probability towards the higher-valued action (index 1).
    g = jax.grad(discrete_sac_actor_loss)(
        jnp.zeros(2), jnp.array([1.0, 2.0]), jnp.array([3.0, 2.0]), 0.1
    )
    assert g[1] < 0 < g[0]
    # Temperature: uniform entropy log 2 above target 0.5 log 2 -> alpha shrinks.
    # loss = log_alpha * (H - H_target) = log_alpha * 0.5 log 2.
    g = jax.grad(discrete_sac_temperature_loss)(
        jnp.array(0.0), jnp.zeros(2), discrete_target_entropy(2, 0.5)
    )
    np.testing.assert_allclose(g, 0.5 * math.log(2), rtol=1e-6)
    # Matches the continuous loss averaged exactly over actions.
    logits = jnp.array([0.3, -1.0, 2.0])
    p = jax.nn.softmax(logits)
    cont = sum(p[a] * sac_temperature_loss(0.7, jnp.log(p[a]), 0.5) for a in range(3))
    np.testing.assert_allclose(
        discrete_sac_temperature_loss(0.7, logits, 0.5), cont, rtol=1e-5
    )
