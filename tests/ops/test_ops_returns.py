"""Tests for jaxrl.ops.returns: n-step, lambda-returns and GAE."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import rlax

from jaxrl.ops.returns import (
    generalized_advantage_estimation,
    lambda_returns,
    n_step_returns,
)

GAMMA = 0.9


def random_trajectory(seed, T=9, p_term=0.2, p_trunc=0.2):
    """A trajectory with consistent values: v_tm1[t + 1] == v_t[t] inside episodes.

    At a truncation v_t[t] is the value of the final observation, which differs
    from v_tm1[t + 1], the value of the reset observation.
    """
    rng = np.random.default_rng(seed)
    r = rng.normal(size=T).astype(np.float32)
    term = rng.random(T) < p_term
    trunc = (rng.random(T) < p_trunc) & ~term
    v_states = rng.normal(size=T + 1).astype(np.float32)  # V(s_0), ..., V(s_T)
    v_final = rng.normal(size=T).astype(np.float32)  # V(final obs) at truncation
    v_tm1 = v_states[:-1].copy()
    v_t = np.where(trunc, v_final, v_states[1:]).astype(np.float32)
    discount = (GAMMA * (1.0 - term)).astype(np.float32)
    done = (term | trunc).astype(np.float32)
    return r, discount, v_tm1, v_t, done


# --- naive forward-view references, kept deliberately simple ------------------


def np_n_step(r, discount, v_t, done, n):
    """G^(n)_t by the forward sum, stopping at a boundary or the trajectory end."""
    T = len(r)
    out = np.zeros(T)
    for t in range(T):
        g, scale = 0.0, 1.0
        for k in range(n):
            i = t + k
            g += scale * r[i]
            scale *= discount[i]
            if done[i] or k == n - 1 or i == T - 1:
                g += scale * v_t[i]
                break
        out[t] = g
    return out


def np_lambda(r, discount, v_t, done, lam):
    """Lambda-return as the weighted mix of n-step returns (Sutton & Barto 12.3).

    G^lam_t = (1 - lam) sum_{n<H} lam^(n-1) G^(n)_t + lam^(H-1) G^(H)_t, where H is
    the number of steps to the episode boundary or the trajectory end (inclusive).
    """
    T = len(r)
    out = np.zeros(T)
    for t in range(T):
        H = 1
        while not done[t + H - 1] and t + H - 1 < T - 1:
            H += 1
        G = [np_n_step(r, discount, v_t, done, n)[t] for n in range(1, H + 1)]
        out[t] = sum((1 - lam) * lam ** (n - 1) * G[n - 1] for n in range(1, H))
        out[t] += lam ** (H - 1) * G[H - 1]
    return out


def np_gae(v_tm1, r, discount, v_t, done, lam):
    """A_t = sum_k (prod_{j<k} discount_{t+j} lam) delta_{t+k}, up to a boundary."""
    T = len(r)
    delta = r + discount * v_t - v_tm1
    out = np.zeros(T)
    for t in range(T):
        scale = 1.0
        for i in range(t, T):
            out[t] += scale * delta[i]
            if done[i]:
                break
            scale *= discount[i] * lam
    return out


# --- hand-derived cases -------------------------------------------------------


def test_lambda_returns_hand_derived():
    # r = [1, 2, 3], discount = [0.9, 0.9, 0.9], v_t = [10, 20, 30], no boundary.
    # lambda = 0.5, G_3 := v_t[2] = 30:
    # G_2 = 3 + 0.9 * (0.5 * 30 + 0.5 * 30) = 30
    # G_1 = 2 + 0.9 * (0.5 * 20 + 0.5 * 30) = 24.5
    # G_0 = 1 + 0.9 * (0.5 * 10 + 0.5 * 24.5) = 16.525
    g = lambda_returns([1.0, 2, 3], [0.9] * 3, [10.0, 20, 30], [0.0] * 3, 0.5)
    np.testing.assert_allclose(g, [16.525, 24.5, 30.0], rtol=1e-6)


def test_n_step_hand_derived():
    # r = [1, 1, 1, 1], discount = 0.5 everywhere, v_t = [2, 4, 6, 8], n = 2.
    # G_0 = 1 + .5 * 1 + .25 * v_t[1] = 2.5;  G_1 = 1 + .5 + .25 * 6 = 3
    # G_2 = 1 + .5 + .25 * 8 = 3.5;  G_3 = 1 + .5 * v_t[3] = 5 (trajectory end)
    g = n_step_returns([1.0] * 4, [0.5] * 4, [2.0, 4, 6, 8], [0.0] * 4, 2)
    np.testing.assert_allclose(g, [2.5, 3.0, 3.5, 5.0], rtol=1e-6)


def test_gae_hand_derived():
    # v_tm1 = [1, 2], r = [1, 1], discount = [0.9, 0.9], v_t = [2, 3], lam = 0.5.
    # delta = [1 + 1.8 - 1, 1 + 2.7 - 2] = [1.8, 1.7]
    # A_1 = 1.7;  A_0 = 1.8 + 0.9 * 0.5 * 1.7 = 2.565
    a = generalized_advantage_estimation(
        [1.0, 2], [1.0, 1], [0.9, 0.9], [2.0, 3], [0.0, 0.0], 0.5
    )
    np.testing.assert_allclose(a, [2.565, 1.7], rtol=1e-6)


def test_truncation_bootstraps_termination_does_not():
    # Two episodes of two steps; the first ends at step 1.
    # Step 1 terminated: discount 0, G_1 = r_1 = 1 whatever v_t[1] is.
    # Step 1 truncated: discount 0.9, G_1 = r_1 + 0.9 * V(final obs) = 1 + 0.9 * 5.
    # Neither lets the next episode's returns (large rewards 100) leak into step 1.
    r = jnp.array([1.0, 1.0, 100.0, 100.0])
    v_t = jnp.array([0.0, 5.0, 0.0, 0.0])
    done = jnp.array([0.0, 1.0, 0.0, 0.0])
    term_discount = jnp.array([0.9, 0.0, 0.9, 0.9])
    trunc_discount = jnp.array([0.9, 0.9, 0.9, 0.9])
    for fn in (
        lambda d: lambda_returns(r, d, v_t, done, 0.7),
        lambda d: n_step_returns(r, d, v_t, done, 3),
    ):
        np.testing.assert_allclose(fn(term_discount)[1], 1.0, rtol=1e-6)
        np.testing.assert_allclose(fn(trunc_discount)[1], 5.5, rtol=1e-6)
    v_tm1 = jnp.array([0.0, 0.0, 0.0, 0.0])
    adv_term = generalized_advantage_estimation(
        v_tm1, r, term_discount, v_t, done, 0.95
    )
    adv_trunc = generalized_advantage_estimation(
        v_tm1, r, trunc_discount, v_t, done, 0.95
    )
    np.testing.assert_allclose(adv_term[1], 1.0, rtol=1e-6)
    np.testing.assert_allclose(adv_trunc[1], 5.5, rtol=1e-6)


def test_done_stops_recursion_even_with_nonzero_discount():
    # Without the done mask a truncated step would chain into the next episode.
    r = jnp.array([0.0, 7.0])
    g = lambda_returns(r, [0.9, 0.9], [3.0, 0.0], [1.0, 0.0], 1.0)
    np.testing.assert_allclose(g[0], 0.9 * 3.0, rtol=1e-6)


# --- equivalence with the naive loops -----------------------------------------


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n", [1, 3, 20])
def test_n_step_matches_numpy(seed, n):
    r, discount, _, v_t, done = random_trajectory(seed)
    got = n_step_returns(r, discount, v_t, done, n)
    np.testing.assert_allclose(got, np_n_step(r, discount, v_t, done, n), atol=1e-5)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("lam", [0.0, 0.6, 1.0])
def test_lambda_returns_match_numpy(seed, lam):
    r, discount, _, v_t, done = random_trajectory(seed)
    got = lambda_returns(r, discount, v_t, done, lam)
    np.testing.assert_allclose(got, np_lambda(r, discount, v_t, done, lam), atol=1e-5)


@pytest.mark.parametrize("seed", range(4))
def test_gae_matches_numpy_and_lambda_returns(seed):
    r, discount, v_tm1, v_t, done = random_trajectory(seed)
    adv = generalized_advantage_estimation(v_tm1, r, discount, v_t, done, 0.8)
    np.testing.assert_allclose(
        adv, np_gae(v_tm1, r, discount, v_t, done, 0.8), atol=1e-5
    )
    targets = lambda_returns(r, discount, v_t, done, 0.8)
    np.testing.assert_allclose(adv + v_tm1, targets, atol=1e-5)


def test_special_cases_agree():
    r, discount, _, v_t, done = random_trajectory(7)
    # lambda = 0 is the one-step target, and so is n = 1.
    np.testing.assert_allclose(
        lambda_returns(r, discount, v_t, done, 0.0), r + discount * v_t, atol=1e-6
    )
    np.testing.assert_allclose(
        n_step_returns(r, discount, v_t, done, 1), r + discount * v_t, atol=1e-6
    )
    # n >= T is the bootstrapped Monte Carlo return, lambda = 1.
    np.testing.assert_allclose(
        n_step_returns(r, discount, v_t, done, len(r)),
        lambda_returns(r, discount, v_t, done, 1.0),
        atol=1e-5,
    )


# --- rlax, on trajectories with terminations only -----------------------------


@pytest.mark.parametrize("seed", range(3))
def test_against_rlax_without_truncation(seed):
    r, discount, v_tm1, v_t, done = random_trajectory(seed, p_trunc=0.0)
    values = np.concatenate([v_tm1, v_t[-1:]])  # rlax takes V(s_0..s_T)
    np.testing.assert_allclose(v_t, values[1:])  # consistent without truncation
    np.testing.assert_allclose(
        generalized_advantage_estimation(v_tm1, r, discount, v_t, done, 0.9),
        rlax.truncated_generalized_advantage_estimation(r, discount, 0.9, values),
        atol=1e-5,
    )
    np.testing.assert_allclose(
        lambda_returns(r, discount, v_t, done, 0.9),
        rlax.lambda_returns(r, discount, v_t, 0.9),
        atol=1e-5,
    )
    for n in (1, 2, 4):
        np.testing.assert_allclose(
            n_step_returns(r, discount, v_t, done, n),
            rlax.n_step_bootstrapped_returns(r, discount, v_t, n),
            atol=1e-5,
        )


# --- transforms, gradients, input checks --------------------------------------


def test_jit_and_vmap_match_loop():
    trajs = [random_trajectory(s) for s in range(3)]
    r, discount, v_tm1, v_t, done = (np.stack(x) for x in zip(*trajs, strict=True))
    lam = jnp.array([0.0, 0.5, 0.9])  # a per-env lambda, as in a sweep

    gae = jax.jit(jax.vmap(generalized_advantage_estimation))
    lr = jax.jit(jax.vmap(lambda_returns))
    ns = jax.jit(jax.vmap(lambda *a: n_step_returns(*a, 3)))
    got_gae = gae(v_tm1, r, discount, v_t, done, lam)
    got_lr = lr(r, discount, v_t, done, lam)
    got_ns = ns(r, discount, v_t, done)
    for b in range(3):
        np.testing.assert_allclose(
            got_gae[b],
            generalized_advantage_estimation(
                v_tm1[b], r[b], discount[b], v_t[b], done[b], lam[b]
            ),
            atol=1e-6,
        )
        np.testing.assert_allclose(
            got_lr[b],
            lambda_returns(r[b], discount[b], v_t[b], done[b], lam[b]),
            atol=1e-6,
        )
        np.testing.assert_allclose(
            got_ns[b], n_step_returns(r[b], discount[b], v_t[b], done[b], 3), atol=1e-6
        )


def test_per_step_lambda_and_bool_done():
    r, discount, _, v_t, done = random_trajectory(1)
    lam = np.full(len(r), 0.6, np.float32)
    np.testing.assert_allclose(
        lambda_returns(r, discount, v_t, done.astype(bool), lam),
        lambda_returns(r, discount, v_t, done, 0.6),
        atol=1e-6,
    )


def test_stop_target_gradients():
    r, discount, v_tm1, v_t, done = random_trajectory(2)

    def total(v, stop):
        return jnp.sum(
            lambda_returns(r, discount, v, done, 0.5, stop_target_gradients=stop)
        )

    assert np.all(jax.grad(total)(v_t, True) == 0)
    assert np.any(jax.grad(total)(v_t, False) != 0)
    grad_gae = jax.grad(
        lambda v: jnp.sum(generalized_advantage_estimation(v, r, discount, v_t, done))
    )(v_tm1)
    assert np.all(grad_gae == 0)


def test_bad_inputs():
    with pytest.raises(ValueError, match="n must be"):
        n_step_returns([1.0], [1.0], [1.0], [0.0], 0)
    with pytest.raises(AssertionError):
        lambda_returns([1.0, 2.0], [1.0], [1.0, 2.0], [0.0, 0.0])
