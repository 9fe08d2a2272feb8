"""Soft actor-critic: continuous (Haarnoja et al., 2018) and discrete actions
(Christodoulou, 2019).

Per-sample, unbatched ops: batch with :func:`jax.vmap` and take the mean.
``discount_t`` is ``gamma * (1 - terminated_t)``, so a truncated transition
bootstraps and a terminated one does not. The temperature ``alpha`` enters
every critic and actor loss as a constant (``stop_gradient``); it is learned
through its own loss on ``log_alpha``.

Continuous actions use a tanh-squashed diagonal Gaussian, ``a = tanh(u)``,
``u ~ N(mean, std**2)``, with actions in ``(-1, 1)``. To act in ``[low, high]``
the caller maps ``a`` affinely; that adds the constant
``-sum log((high - low) / 2)`` to the log-density, which shifts the entropy
target but not any gradient.
"""

import math

import chex
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

_sg = jax.lax.stop_gradient
_LOG2 = math.log(2.0)


# --- Tanh-squashed Gaussian ---------------------------------------------------


def tanh_log_det_jacobian(u: ArrayLike) -> jax.Array:
    """``log |d tanh(u) / du| = log(1 - tanh(u)**2)``, elementwise, stably.

    Uses ``1 - tanh(u)**2 = 4 / (e^u + e^-u)**2``, so
    ``log(1 - tanh(u)**2) = 2 * (log 2 - u - softplus(-2u))``, which stays
    finite for large ``|u|`` where ``1 - tanh(u)**2`` rounds to zero.
    """
    u = jnp.asarray(u)
    return 2.0 * (_LOG2 - u - jax.nn.softplus(-2.0 * u))


def tanh_gaussian_log_prob(
    mean: ArrayLike, log_std: ArrayLike, u: ArrayLike
) -> jax.Array:
    """Log-density of ``a = tanh(u)``, ``u ~ N(mean, diag(std**2))``, at ``a``.

    By the change of variables (Haarnoja et al., 2018, appendix C, eq. 21):

    ::

        log pi(a) = sum_i [log N(u_i; mean_i, std_i) - log(1 - tanh(u_i)**2)]

    Takes the pre-squash ``u`` rather than ``a``: inverting ``tanh`` near
    ``|a| = 1`` loses all precision.

    Args:
        mean: shape ``[D]``.
        log_std: shape ``[D]``.
        u: pre-squash sample, shape ``[D]``.

    Returns:
        ``log pi(tanh(u))``, shape ``[]``.
    """
    chex.assert_rank([mean, log_std, u], 1)
    chex.assert_equal_shape([mean, log_std, u])
    z = (u - mean) * jnp.exp(-log_std)
    gaussian = -0.5 * z**2 - log_std - 0.5 * math.log(2.0 * math.pi)
    return jnp.sum(gaussian - tanh_log_det_jacobian(u))


def tanh_gaussian_sample(
    key: jax.Array, mean: ArrayLike, log_std: ArrayLike
) -> tuple[jax.Array, jax.Array]:
    """Reparameterised sample of a tanh-squashed Gaussian and its log-density.

    ``u = mean + std * eps`` with ``eps ~ N(0, I)``, ``a = tanh(u)``; gradients
    flow to ``mean`` and ``log_std`` through ``a`` and the log-density (the
    reparameterisation trick, Haarnoja et al., 2018, eq. 11).

    Args:
        key: PRNG key.
        mean: shape ``[D]``.
        log_std: shape ``[D]``.

    Returns:
        ``(a, log_prob)``: the action in ``(-1, 1)``, shape ``[D]``, and
        ``log pi(a)``, shape ``[]`` (see :func:`tanh_gaussian_log_prob`).
    """
    chex.assert_rank([mean, log_std], 1)
    chex.assert_equal_shape([mean, log_std])
    mean = jnp.asarray(mean)
    eps = jax.random.normal(key, mean.shape, mean.dtype)
    u = mean + jnp.exp(log_std) * eps
    return jnp.tanh(u), tanh_gaussian_log_prob(mean, log_std, u)


# --- Target entropies ---------------------------------------------------------


def continuous_target_entropy(action_dim: int) -> float:
    """Default SAC entropy target ``-|A|`` (Haarnoja et al., 2018b, sec. 5)."""
    return -float(action_dim)


def discrete_target_entropy(num_actions: int, fraction: float = 0.98) -> float:
    """Discrete SAC entropy target ``fraction * log|A|`` (Christodoulou, 2019).

    ``log|A|`` is the entropy of the uniform policy, the largest possible;
    Christodoulou uses ``fraction = 0.98``. Smaller fractions (e.g. 0.5 to
    0.9) are often more stable in practice.
    """
    return fraction * math.log(num_actions)


# --- Continuous-action SAC ----------------------------------------------------


def sac_critic_target(
    r_t: ArrayLike,
    discount_t: ArrayLike,
    q1_t: ArrayLike,
    q2_t: ArrayLike,
    log_prob_a_t: ArrayLike,
    alpha: ArrayLike,
) -> jax.Array:
    """Soft Bellman target with clipped double Q (Haarnoja et al., 2018b, eq. 3).

    ``y = r_t + discount_t * (min(Q1'(s_t, a_t), Q2'(s_t, a_t)) - alpha * log
    pi(a_t|s_t))`` with ``a_t ~ pi(.|s_t)`` sampled fresh and ``Q1', Q2'`` the
    target critics (Fujimoto et al., 2018 for the twin minimum). Held fixed.

    Args:
        r_t: reward, ``[]``.
        discount_t: ``gamma * (1 - terminated_t)``, ``[]``.
        q1_t, q2_t: target critics at ``(s_t, a_t)``, ``[]``.
        log_prob_a_t: ``log pi(a_t|s_t)``, ``[]``.
        alpha: temperature, ``[]``.

    Returns:
        the target ``y``, ``[]``.
    """
    chex.assert_rank([r_t, discount_t, q1_t, q2_t, log_prob_a_t, alpha], 0)
    soft_v_t = jnp.minimum(q1_t, q2_t) - alpha * log_prob_a_t
    return _sg(r_t + discount_t * soft_v_t)


def sac_critic_loss(
    q1_tm1: ArrayLike,
    q2_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    q1_t: ArrayLike,
    q2_t: ArrayLike,
    log_prob_a_t: ArrayLike,
    alpha: ArrayLike,
) -> jax.Array:
    """Twin soft-Q regression loss ``0.5 (Q1 - y)**2 + 0.5 (Q2 - y)**2``.

    Haarnoja et al. (2018b), eq. 5, for each of the two online critics, with
    ``y`` from :func:`sac_critic_target`.

    Args:
        q1_tm1, q2_tm1: online critics at the replayed ``(s_{t-1}, a_{t-1})``,
            ``[]``.
        r_t, discount_t, q1_t, q2_t, log_prob_a_t, alpha: as in
            :func:`sac_critic_target`.

    Returns:
        the loss, ``[]``.
    """
    chex.assert_rank([q1_tm1, q2_tm1], 0)
    y = sac_critic_target(r_t, discount_t, q1_t, q2_t, log_prob_a_t, alpha)
    return 0.5 * (q1_tm1 - y) ** 2 + 0.5 * (q2_tm1 - y) ** 2


def sac_actor_loss(
    q1: ArrayLike, q2: ArrayLike, log_prob: ArrayLike, alpha: ArrayLike
) -> jax.Array:
    """SAC policy loss ``alpha * log pi(a|s) - min(Q1(s, a), Q2(s, a))``.

    Haarnoja et al. (2018b), eq. 7, with ``a`` the reparameterised sample of
    :func:`tanh_gaussian_sample` so gradients reach the policy through ``a``
    (differentiate with respect to the actor's parameters only).

    Args:
        q1, q2: online critics at ``(s, a)``, ``[]``.
        log_prob: ``log pi(a|s)``, ``[]``.
        alpha: temperature (held fixed), ``[]``.

    Returns:
        the loss, ``[]``.
    """
    chex.assert_rank([q1, q2, log_prob, alpha], 0)
    return _sg(alpha) * log_prob - jnp.minimum(q1, q2)


def sac_temperature_loss(
    log_alpha: ArrayLike, log_prob: ArrayLike, target_entropy: ArrayLike
) -> jax.Array:
    """Automatic temperature loss ``-log_alpha * (log pi(a|s) + H_target)``.

    Haarnoja et al. (2018b), eq. 18, parameterised by ``log_alpha`` (as in the
    authors' code) so ``alpha`` stays positive; ``log pi(a|s)`` is held
    fixed. Its gradient raises ``alpha`` when the policy's entropy
    ``-log pi`` falls below ``target_entropy`` and lowers it otherwise.

    Args:
        log_alpha: the learned log-temperature, ``[]``.
        log_prob: ``log pi(a|s)`` of a fresh sample, ``[]``.
        target_entropy: e.g. :func:`continuous_target_entropy`, ``[]``.

    Returns:
        the loss, ``[]``.
    """
    chex.assert_rank([log_alpha, log_prob, target_entropy], 0)
    return -log_alpha * _sg(log_prob + target_entropy)


# --- Discrete-action SAC ------------------------------------------------------


def discrete_sac_critic_target(
    r_t: ArrayLike,
    discount_t: ArrayLike,
    q1_t: ArrayLike,
    q2_t: ArrayLike,
    logits_t: ArrayLike,
    alpha: ArrayLike,
) -> jax.Array:
    """Discrete soft Bellman target (Christodoulou, 2019, eq. 10).

    The expectation over the next action is exact:

    ::

        V(s_t) = sum_a pi(a|s_t) [min(Q1'(s_t, a), Q2'(s_t, a)) - alpha log pi(a|s_t)]
        y      = r_t + discount_t * V(s_t)

    Args:
        r_t: reward, ``[]``.
        discount_t: ``gamma * (1 - terminated_t)``, ``[]``.
        q1_t, q2_t: target critics at ``s_t``, ``[A]``.
        logits_t: policy logits at ``s_t``, ``[A]``.
        alpha: temperature, ``[]``.

    Returns:
        the target ``y``, held fixed, ``[]``.
    """
    chex.assert_rank([r_t, discount_t, q1_t, q2_t, logits_t, alpha], [0, 0, 1, 1, 1, 0])
    chex.assert_equal_shape([q1_t, q2_t, logits_t])
    log_p = jax.nn.log_softmax(logits_t)
    soft_v_t = jnp.sum(jnp.exp(log_p) * (jnp.minimum(q1_t, q2_t) - alpha * log_p))
    return _sg(r_t + discount_t * soft_v_t)


def discrete_sac_critic_loss(
    q1_tm1: ArrayLike,
    q2_tm1: ArrayLike,
    a_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    q1_t: ArrayLike,
    q2_t: ArrayLike,
    logits_t: ArrayLike,
    alpha: ArrayLike,
) -> jax.Array:
    """``0.5 (Q1[a_tm1] - y)**2 + 0.5 (Q2[a_tm1] - y)**2``, discrete SAC.

    ``y`` from :func:`discrete_sac_critic_target`.

    Args:
        q1_tm1, q2_tm1: online critics at ``s_{t-1}``, ``[A]``.
        a_tm1: action taken, integer, ``[]``.
        r_t, discount_t, q1_t, q2_t, logits_t, alpha: as in
            :func:`discrete_sac_critic_target`.

    Returns:
        the loss, ``[]``.
    """
    chex.assert_rank([q1_tm1, q2_tm1, a_tm1], [1, 1, 0])
    chex.assert_equal_shape([q1_tm1, q2_tm1])
    y = discrete_sac_critic_target(r_t, discount_t, q1_t, q2_t, logits_t, alpha)
    return 0.5 * (q1_tm1[a_tm1] - y) ** 2 + 0.5 * (q2_tm1[a_tm1] - y) ** 2


def discrete_sac_actor_loss(
    logits: ArrayLike, q1: ArrayLike, q2: ArrayLike, alpha: ArrayLike
) -> jax.Array:
    """Discrete SAC policy loss (Christodoulou, 2019, eq. 12).

    ``sum_a pi(a|s) [alpha log pi(a|s) - min(Q1(s, a), Q2(s, a))]``: the exact
    expectation, no sampling or reparameterisation. ``Q`` and ``alpha`` are
    held fixed.

    Args:
        logits: policy logits at ``s``, ``[A]``.
        q1, q2: online critics at ``s``, ``[A]``.
        alpha: temperature, ``[]``.

    Returns:
        the loss, ``[]``.
    """
    chex.assert_rank([logits, q1, q2, alpha], [1, 1, 1, 0])
    chex.assert_equal_shape([logits, q1, q2])
    log_p = jax.nn.log_softmax(logits)
    min_q = _sg(jnp.minimum(q1, q2))
    return jnp.sum(jnp.exp(log_p) * (_sg(alpha) * log_p - min_q))


def discrete_sac_temperature_loss(
    log_alpha: ArrayLike, logits: ArrayLike, target_entropy: ArrayLike
) -> jax.Array:
    """Discrete SAC temperature loss (Christodoulou, 2019, eq. 11).

    ``-log_alpha * sum_a pi(a|s) (log pi(a|s) + H_target)
    = log_alpha * (H(pi(.|s)) - H_target)`` with the policy held fixed: the
    continuous loss with the expectation over actions taken exactly.

    Args:
        log_alpha: the learned log-temperature, ``[]``.
        logits: policy logits at ``s``, ``[A]``.
        target_entropy: e.g. :func:`discrete_target_entropy`, ``[]``.

    Returns:
        the loss, ``[]``.
    """
    chex.assert_rank([log_alpha, logits, target_entropy], [0, 1, 0])
    log_p = jax.nn.log_softmax(logits)
    entropy = -jnp.sum(jnp.exp(log_p) * log_p)
    return log_alpha * _sg(entropy - target_entropy)
