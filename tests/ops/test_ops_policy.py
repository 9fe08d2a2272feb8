"""Tests for jaxrl.ops.policy: REINFORCE, A2C and PPO losses and helpers."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import rlax
from jax.scipy.stats import norm

from jaxrl.ops.policy import (
    actor_critic_loss,
    categorical_entropy,
    categorical_log_prob,
    clipped_surrogate_loss,
    gaussian_entropy,
    gaussian_log_prob,
    ppo_loss,
    reinforce_loss,
)


def test_categorical_helpers():
    # Uniform over 4 actions: log pi = -log 4, entropy = log 4.
    logits = jnp.zeros(4)
    np.testing.assert_allclose(categorical_log_prob(logits, 2), -math.log(4), rtol=1e-6)
    np.testing.assert_allclose(categorical_entropy(logits), math.log(4), rtol=1e-6)
    # logits [0, log 3]: pi = [1/4, 3/4]; H = -(.25 log .25 + .75 log .75).
    logits = jnp.array([0.0, math.log(3.0)])
    np.testing.assert_allclose(
        categorical_log_prob(logits, 1), math.log(0.75), rtol=1e-6
    )
    h = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    np.testing.assert_allclose(categorical_entropy(logits), h, rtol=1e-6)
    # A near-deterministic policy has (almost) zero entropy and no NaN.
    assert abs(float(categorical_entropy(jnp.array([0.0, -1e4])))) < 1e-6


def test_gaussian_helpers():
    mean = jnp.array([0.5, -1.0])
    log_std = jnp.array([0.0, math.log(2.0)])
    a = jnp.array([1.0, 0.0])
    expected = norm.logpdf(1.0, 0.5, 1.0) + norm.logpdf(0.0, -1.0, 2.0)
    np.testing.assert_allclose(gaussian_log_prob(mean, log_std, a), expected, rtol=1e-6)
    # Entropy of N(0, s^2) is 0.5 log(2 pi e s^2).
    expected = 0.5 * math.log(2 * math.pi * math.e) * 2 + math.log(2.0)
    np.testing.assert_allclose(gaussian_entropy(log_std), expected, rtol=1e-6)


def test_reinforce_hand_derived_gradient():
    # L = -log softmax(logits)[a] * (G - b); dL/dlogits = -(onehot(a) - pi) * (G - b).
    # Uniform pi over 2 actions, a = 0, G - b = 3 - 1 = 2: grad = -([1, 0] - .5) * 2
    # = [-1, 1]; loss = log 2 * 2.
    def loss(logits):
        return reinforce_loss(categorical_log_prob(logits, 0), 3.0, 1.0)

    (value, aux), grad = jax.value_and_grad(loss, has_aux=True)(jnp.zeros(2))
    np.testing.assert_allclose(value, 2 * math.log(2), rtol=1e-6)
    np.testing.assert_allclose(grad, [-1.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(aux.advantage, 2.0)
    # No gradient reaches the baseline through the policy loss.
    g_b = jax.grad(lambda b: reinforce_loss(jnp.array(-1.0), 3.0, b)[0])(1.0)
    assert g_b == 0


def test_actor_critic_hand_derived():
    # log pi = -1, H = 0.5, V = 1, G = 3 -> A = 2 (default G - V).
    # policy = 1 * 2 = 2; value = 0.5 * 4 = 2; loss = 2 + 0.5 * 2 - 0.1 * 0.5 = 2.95.
    loss, aux = actor_critic_loss(
        jnp.array(-1.0),
        jnp.array(0.5),
        jnp.array(1.0),
        jnp.array(3.0),
        value_coef=0.5,
        entropy_coef=0.1,
    )
    np.testing.assert_allclose(loss, 2.95, rtol=1e-6)
    np.testing.assert_allclose(
        [aux.policy_loss, aux.value_loss, aux.entropy], [2.0, 2.0, 0.5], rtol=1e-6
    )
    # An explicit advantage (e.g. GAE) replaces G - V in the policy term only.
    loss, aux = actor_critic_loss(
        jnp.array(-1.0),
        jnp.array(0.5),
        jnp.array(1.0),
        jnp.array(3.0),
        advantage_t=jnp.array(-1.0),
    )
    np.testing.assert_allclose(aux.policy_loss, -1.0, rtol=1e-6)
    np.testing.assert_allclose(aux.value_loss, 2.0, rtol=1e-6)
    # The value gradient is -(G - V) * value_coef = -2 * 0.5; the policy term
    # contributes nothing to it (the advantage is held fixed).
    g_v = jax.grad(lambda v: actor_critic_loss(-1.0, 0.5, v, 3.0)[0])(1.0)
    np.testing.assert_allclose(g_v, -1.0, rtol=1e-6)


@pytest.mark.parametrize(
    "ratio, adv, expected",
    [
        # ratio 1.5 > 1 + eps with A > 0: clipped to 1.2 -> -1.2 * 2 = -2.4.
        (1.5, 2.0, -2.4),
        # ratio 0.5 with A > 0: min(0.5 A, 0.8 A) = 0.5 A -> -1.0 (unclipped).
        (0.5, 2.0, -1.0),
        # ratio 0.5 with A < 0: min(-1, -1.6) -> clipped 0.8 * -2 -> 1.6.
        (0.5, -2.0, 1.6),
        # ratio 1.5 with A < 0: min(-3, -2.4) = -3 -> 3.0 (unclipped, pessimistic).
        (1.5, -2.0, 3.0),
    ],
)
def test_clipped_surrogate_hand_derived(ratio, adv, expected):
    loss = clipped_surrogate_loss(
        jnp.array(math.log(ratio)), jnp.array(0.0), jnp.array(adv), 0.2
    )
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_clipped_region_has_no_policy_gradient():
    grad = jax.grad(clipped_surrogate_loss)(jnp.array(math.log(1.5)), 0.0, 2.0, 0.2)
    assert grad == 0
    grad = jax.grad(clipped_surrogate_loss)(jnp.array(math.log(0.5)), 0.0, 2.0, 0.2)
    np.testing.assert_allclose(grad, -0.5 * 2.0, rtol=1e-5)  # d(-rho A)/dlog rho


def _ppo_batch(seed, B=16):
    rng = np.random.default_rng(seed)
    f = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    old = f(rng.normal(size=B) - 1.0)
    return dict(
        log_prob_t=old + f(rng.normal(size=B) * 0.3),
        old_log_prob_t=old,
        advantage_t=f(rng.normal(size=B)),
        entropy_t=f(rng.random(B)),
        v_t=f(rng.normal(size=B)),
        old_v_t=f(rng.normal(size=B)),
        return_t=f(rng.normal(size=B)),
    )


def test_ppo_policy_term_matches_rlax_under_jit_and_vmap():
    b = _ppo_batch(0)
    loss, aux = jax.jit(jax.vmap(ppo_loss))(**b)
    ratio = jnp.exp(b["log_prob_t"] - b["old_log_prob_t"])
    expected = rlax.clipped_surrogate_pg_loss(ratio, b["advantage_t"], 0.2)
    np.testing.assert_allclose(jnp.mean(aux.policy_loss), expected, rtol=1e-5)
    total = aux.policy_loss + 0.5 * aux.value_loss - 0.01 * aux.entropy
    np.testing.assert_allclose(loss, total, rtol=1e-5)
    # Same numbers, looping over samples.
    for i in range(3):
        li, _ = ppo_loss(**{k: v[i] for k, v in b.items()})
        np.testing.assert_allclose(li, loss[i], rtol=1e-5)


def test_ppo_aux_terms():
    b = _ppo_batch(1)
    _, aux = jax.vmap(lambda **k: ppo_loss(**k, clip_eps=0.1))(**b)
    ratio = np.exp(np.asarray(b["log_prob_t"] - b["old_log_prob_t"]))
    np.testing.assert_allclose(aux.clip_fraction, np.abs(ratio - 1) > 0.1)
    np.testing.assert_allclose(
        aux.approx_kl, ratio - 1 - np.log(ratio), rtol=1e-4, atol=1e-7
    )
    assert np.all(np.asarray(aux.approx_kl) >= 0)
    # At rho = 1 the KL estimate and clip fraction are exactly zero.
    _, aux = ppo_loss(*(jnp.array(x) for x in (-1.0, -1.0, 1.0, 0.0, 0.0, 0.0, 0.0)))
    assert aux.approx_kl == 0 and aux.clip_fraction == 0


def test_ppo_value_clipping_hand_derived():
    # V_old = 0, V = 1, G = 2, value_clip_eps = 0.2: V_clip = 0.2.
    # unclipped 0.5 * (1 - 2)^2 = 0.5; clipped 0.5 * (0.2 - 2)^2 = 1.62; max = 1.62.
    args = dict(
        log_prob_t=0.0,
        old_log_prob_t=0.0,
        advantage_t=0.0,
        entropy_t=0.0,
        v_t=1.0,
        old_v_t=0.0,
        return_t=2.0,
    )
    args = {k: jnp.array(v) for k, v in args.items()}
    _, aux = ppo_loss(**args, value_clip_eps=0.2)
    np.testing.assert_allclose(aux.value_loss, 1.62, rtol=1e-5)
    _, aux = ppo_loss(**args)
    np.testing.assert_allclose(aux.value_loss, 0.5, rtol=1e-6)
    # The clipped branch is flat in V: gradient 0 in the value through that branch.
    g = jax.grad(lambda v: ppo_loss(**{**args, "v_t": v}, value_clip_eps=0.2)[0])(
        jnp.array(1.0)
    )
    assert g == 0
    # Entropy bonus lowers the loss by entropy_coef * H.
    l0, _ = ppo_loss(**args)
    l1, _ = ppo_loss(**{**args, "entropy_t": jnp.array(2.0)}, entropy_coef=0.1)
    np.testing.assert_allclose(l0 - l1, 0.2, rtol=1e-5)


def test_traced_hyperparameters_vmap():
    # Hyperparameters are traced floats, so a sweep over clip_eps is a vmap.
    b = {k: v[0] for k, v in _ppo_batch(2).items()}
    eps = jnp.array([0.1, 0.2, 0.3])
    loss, _ = jax.vmap(lambda e: ppo_loss(**b, clip_eps=e, value_clip_eps=e))(eps)
    for i, e in enumerate([0.1, 0.2, 0.3]):
        np.testing.assert_allclose(
            loss[i], ppo_loss(**b, clip_eps=e, value_clip_eps=e)[0], rtol=1e-5
        )
