"""Policy-gradient losses: REINFORCE, advantage actor-critic, PPO.

The losses are per sample and distribution-agnostic: they take the
log-probability of the action taken and the policy's entropy at that state
(both scalars), so the same loss serves categorical and Gaussian policies. The
small helpers :func:`categorical_log_prob`, :func:`categorical_entropy`,
:func:`gaussian_log_prob` and :func:`gaussian_entropy` compute them from the
heads in :mod:`jaxrl.nets`. Batch with :func:`jax.vmap` and take the mean,
for the loss and for the auxiliary terms::

    loss, aux = jax.vmap(ppo_loss)(log_prob, old_log_prob, adv, ...)
    loss, aux = jax.tree.map(jnp.mean, (loss, aux))

Per-batch steps (advantage normalisation) belong to the caller.

Every loss returns ``(loss, aux)`` with ``aux`` a ``NamedTuple`` of scalars,
ready for ``jax.value_and_grad(..., has_aux=True)``. Targets (returns,
advantages, old log-probabilities and values) are held fixed with
``stop_gradient``.
"""

import math
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

_sg = jax.lax.stop_gradient


def categorical_log_prob(logits: ArrayLike, a: ArrayLike) -> jax.Array:
    """``log pi(a)`` of a categorical policy: ``log_softmax(logits)[a]``.

    Args:
        logits: unnormalised log-probabilities, shape ``[A]``.
        a: action, integer, shape ``[]``.
    """
    chex.assert_rank([logits, a], [1, 0])
    return jax.nn.log_softmax(logits)[a]


def categorical_entropy(logits: ArrayLike) -> jax.Array:
    """Entropy ``-sum_a pi(a) log pi(a)`` of a categorical policy.

    Args:
        logits: unnormalised log-probabilities, shape ``[A]``.
    """
    chex.assert_rank(logits, 1)
    log_p = jax.nn.log_softmax(logits)
    return -jnp.sum(jnp.exp(log_p) * log_p)


def gaussian_log_prob(mean: ArrayLike, log_std: ArrayLike, a: ArrayLike) -> jax.Array:
    """Log-density of a diagonal Gaussian, summed over action dimensions.

    ``sum_i -0.5 * ((a_i - mean_i) / std_i)**2 - log std_i - 0.5 * log(2 pi)``.

    Args:
        mean, log_std, a: shape ``[D]``.
    """
    chex.assert_rank([mean, log_std, a], 1)
    chex.assert_equal_shape([mean, log_std, a])
    z = (a - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z**2 - log_std - 0.5 * math.log(2 * math.pi))


def gaussian_entropy(log_std: ArrayLike) -> jax.Array:
    """Entropy of a diagonal Gaussian: ``sum_i log std_i + 0.5 * log(2 pi e)``.

    Args:
        log_std: shape ``[D]``.
    """
    chex.assert_rank(log_std, 1)
    return jnp.sum(log_std + 0.5 * math.log(2 * math.pi * math.e))


class ReinforceAux(NamedTuple):
    """Auxiliary terms of :func:`reinforce_loss`."""

    advantage: jax.Array


def reinforce_loss(
    log_prob_t: ArrayLike, return_t: ArrayLike, baseline_t: ArrayLike = 0.0
) -> tuple[jax.Array, ReinforceAux]:
    """REINFORCE with a baseline (Williams, 1992; Sutton & Barto, 2018, eq. 13.11).

    The score-function surrogate ``L = -log pi(a_t|s_t) * (G_t - b(s_t))`` with
    ``G_t - b(s_t)`` held fixed; its gradient is the negated policy-gradient
    estimate ``-(G_t - b) grad log pi(a_t|s_t)``. The baseline reduces
    variance without bias; train it separately (e.g. by regressing a value on
    ``G_t``).

    Args:
        log_prob_t: ``log pi(a_t|s_t)`` under the current parameters, ``[]``.
        return_t: the return ``G_t`` that followed ``a_t``, ``[]``.
        baseline_t: ``b(s_t)``, ``[]``; ``0`` for plain REINFORCE.

    Returns:
        ``(loss, aux)``, aux holding the advantage ``G_t - b(s_t)``.
    """
    chex.assert_rank([log_prob_t, return_t, baseline_t], 0)
    advantage = _sg(return_t - baseline_t)
    return -log_prob_t * advantage, ReinforceAux(advantage=advantage)


class ActorCriticAux(NamedTuple):
    """The terms of :func:`actor_critic_loss`, each a scalar.

    ``loss = policy_loss + value_coef * value_loss - entropy_coef * entropy``.
    """

    policy_loss: jax.Array
    value_loss: jax.Array
    entropy: jax.Array


def actor_critic_loss(
    log_prob_t: ArrayLike,
    entropy_t: ArrayLike,
    v_t: ArrayLike,
    return_t: ArrayLike,
    advantage_t: ArrayLike | None = None,
    value_coef: ArrayLike = 0.5,
    entropy_coef: ArrayLike = 0.01,
) -> tuple[jax.Array, ActorCriticAux]:
    """Advantage actor-critic loss, A2C (Mnih et al., 2016).

    ::

        policy_loss = -log pi(a_t|s_t) * A_t
        value_loss  = 0.5 * (G_t - V(s_t))**2
        loss        = policy_loss + value_coef * value_loss
                      - entropy_coef * H(pi(.|s_t))

    ``A_t`` and ``G_t`` are held fixed. Without ``advantage_t`` the advantage
    is ``G_t - V(s_t)`` (the n-step or lambda-return minus the critic); pass a
    GAE estimate to use that instead.

    Args:
        log_prob_t: ``log pi(a_t|s_t)``, ``[]``.
        entropy_t: ``H(pi(.|s_t))``, ``[]``.
        v_t: the critic's ``V(s_t)``, ``[]``.
        return_t: the value target ``G_t``, ``[]``.
        advantage_t: ``A_t``, ``[]``; defaults to ``G_t - V(s_t)``.
        value_coef: weight of the value loss.
        entropy_coef: weight of the entropy bonus.

    Returns:
        ``(loss, ActorCriticAux(policy_loss, value_loss, entropy))``.
    """
    chex.assert_rank([log_prob_t, entropy_t, v_t, return_t], 0)
    return_t = _sg(return_t)
    if advantage_t is None:
        advantage_t = return_t - v_t
    chex.assert_rank(advantage_t, 0)
    policy_loss = -log_prob_t * _sg(advantage_t)
    value_loss = 0.5 * (return_t - v_t) ** 2
    loss = policy_loss + value_coef * value_loss - entropy_coef * entropy_t
    return loss, ActorCriticAux(policy_loss, value_loss, entropy_t)


def clipped_surrogate_loss(
    log_prob_t: ArrayLike,
    old_log_prob_t: ArrayLike,
    advantage_t: ArrayLike,
    clip_eps: ArrayLike = 0.2,
) -> jax.Array:
    """PPO's clipped surrogate objective, negated (Schulman et al., 2017, eq. 7).

    ``L = -min(rho_t * A_t, clip(rho_t, 1 - eps, 1 + eps) * A_t)`` with the
    probability ratio ``rho_t = pi(a_t|s_t) / pi_old(a_t|s_t)``.

    Args:
        log_prob_t: ``log pi(a_t|s_t)`` under the current parameters, ``[]``.
        old_log_prob_t: ``log pi_old(a_t|s_t)`` of the behaviour policy, ``[]``.
        advantage_t: ``A_t``, ``[]``.
        clip_eps: clipping range ``eps``.

    Returns:
        the loss, ``[]``.
    """
    chex.assert_rank([log_prob_t, old_log_prob_t, advantage_t], 0)
    ratio = jnp.exp(log_prob_t - _sg(old_log_prob_t))
    advantage_t = _sg(advantage_t)
    unclipped = ratio * advantage_t
    clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * advantage_t
    return -jnp.minimum(unclipped, clipped)


class PPOAux(NamedTuple):
    """The terms of :func:`ppo_loss`, each a scalar (average them over the batch).

    ``loss = policy_loss + value_coef * value_loss - entropy_coef * entropy``.

    Attributes:
        policy_loss: the negated clipped surrogate.
        value_loss: the (optionally clipped) value loss.
        entropy: ``H(pi(.|s_t))``.
        approx_kl: ``(rho - 1) - log rho``, an unbiased, non-negative estimate
            of ``KL(pi_old || pi)`` (Schulman, 2020, "Approximating KL
            divergence").
        clip_fraction: ``1`` where ``|rho - 1| > clip_eps``, else ``0``.
    """

    policy_loss: jax.Array
    value_loss: jax.Array
    entropy: jax.Array
    approx_kl: jax.Array
    clip_fraction: jax.Array


def ppo_loss(
    log_prob_t: ArrayLike,
    old_log_prob_t: ArrayLike,
    advantage_t: ArrayLike,
    entropy_t: ArrayLike,
    v_t: ArrayLike,
    old_v_t: ArrayLike,
    return_t: ArrayLike,
    clip_eps: ArrayLike = 0.2,
    value_clip_eps: ArrayLike | None = None,
    value_coef: ArrayLike = 0.5,
    entropy_coef: ArrayLike = 0.01,
) -> tuple[jax.Array, PPOAux]:
    """PPO-Clip loss of one sample (Schulman et al., 2017, eq. 9).

    ::

        rho_t       = exp(log pi(a_t|s_t) - log pi_old(a_t|s_t))
        policy_loss = -min(rho_t A_t, clip(rho_t, 1 - eps, 1 + eps) A_t)
        value_loss  = 0.5 * (V(s_t) - G_t)**2                     (no clipping)
        value_loss  = 0.5 * max((V - G_t)**2, (V_clip - G_t)**2)  (clipping)
        V_clip      = V_old + clip(V - V_old, -value_clip_eps, value_clip_eps)
        loss        = policy_loss + value_coef * value_loss
                      - entropy_coef * H(pi(.|s_t))

    Value clipping is the variant of the OpenAI baselines ``ppo2`` code
    (Engstrom et al., 2020 and Andrychowicz et al., 2021 find it does not
    help); it is off by default. Normalise advantages over the minibatch
    before calling, if wanted.

    Args:
        log_prob_t: ``log pi(a_t|s_t)`` under the current parameters, ``[]``.
        old_log_prob_t: ``log pi_old(a_t|s_t)`` from the rollout, ``[]``.
        advantage_t: ``A_t`` (e.g. GAE), ``[]``.
        entropy_t: ``H(pi(.|s_t))`` under the current parameters, ``[]``.
        v_t: the critic's ``V(s_t)`` under the current parameters, ``[]``.
        old_v_t: ``V_old(s_t)`` from the rollout, ``[]``.
        return_t: value target ``G_t`` (e.g. ``A_t + V_old(s_t)``), ``[]``.
        clip_eps: policy clipping range.
        value_clip_eps: value clipping range; ``None`` for no clipping.
        value_coef: weight of the value loss.
        entropy_coef: weight of the entropy bonus.

    Returns:
        ``(loss, PPOAux(policy_loss, value_loss, entropy, approx_kl,
        clip_fraction))``.
    """
    chex.assert_rank(
        [log_prob_t, old_log_prob_t, advantage_t, entropy_t, v_t, old_v_t, return_t],
        0,
    )
    policy_loss = clipped_surrogate_loss(
        log_prob_t, old_log_prob_t, advantage_t, clip_eps
    )
    return_t = _sg(return_t)
    value_loss = 0.5 * (v_t - return_t) ** 2
    if value_clip_eps is not None:
        old_v_t = _sg(old_v_t)
        v_clipped = old_v_t + jnp.clip(v_t - old_v_t, -value_clip_eps, value_clip_eps)
        value_loss = jnp.maximum(value_loss, 0.5 * (v_clipped - return_t) ** 2)
    loss = policy_loss + value_coef * value_loss - entropy_coef * entropy_t

    log_ratio = _sg(log_prob_t - old_log_prob_t)
    ratio = jnp.exp(log_ratio)
    approx_kl = (ratio - 1.0) - log_ratio
    clip_fraction = (jnp.abs(ratio - 1.0) > clip_eps).astype(ratio.dtype)
    aux = PPOAux(policy_loss, value_loss, entropy_t, approx_kl, clip_fraction)
    return loss, aux
