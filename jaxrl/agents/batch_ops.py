"""Batched operations the on-policy loop applies to a rollout ``[T, B]`` or a
minibatch ``[N]``: advantages, their standardisation, and the mean of an
agent's per-sample loss over the valid samples.

The unbatched ops they build on (GAE, the losses) live in :mod:`jaxrl.ops`.
"""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jaxrl.ops import generalized_advantage_estimation

__all__ = ["compute_advantages", "mean_loss", "standardize"]


def compute_advantages(
    v_tm1: jax.Array,
    r_t: jax.Array,
    terminated_t: jax.Array,
    truncated_t: jax.Array,
    v_t: jax.Array,
    gamma: jax.Array,
    lambda_: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """GAE advantages and value targets of a batched rollout.

    With ``discount_t = gamma * (1 - terminated_t)`` and ``done_t =
    terminated_t | truncated_t`` this is
    :func:`~jaxrl.ops.generalized_advantage_estimation` per environment::

        A_t = delta_t + discount_t * lambda * (1 - done_t) * A_{t+1},
        delta_t = r_t + discount_t * v_t - v_tm1_t,   A_T = 0,
        G_t = A_t + v_tm1_t.

    A truncated step bootstraps from ``v_t`` (pass the value of the final
    observation, not of the reset one); a terminated step does not.

    Args:
        v_tm1: ``V(s_t)``, ``[T, B]``.
        r_t: rewards, ``[T, B]``.
        terminated_t, truncated_t: bool, ``[T, B]``.
        v_t: ``V(s'_t)`` of the observation each step reached, ``[T, B]``.
        gamma: discount, ``[]``.
        lambda_: GAE parameter, ``[]``; ``1`` gives Monte-Carlo returns
            bootstrapped at the rollout's end.

    Returns:
        ``(advantages, targets)``, each ``[T, B]``.
    """
    terminated_t = jnp.asarray(terminated_t, bool)
    done_t = terminated_t | jnp.asarray(truncated_t, bool)
    discount_t = gamma * (1.0 - terminated_t.astype(jnp.float32))
    gae = jax.vmap(
        generalized_advantage_estimation, in_axes=(1, 1, 1, 1, 1, None), out_axes=1
    )
    advantages = gae(v_tm1, r_t, discount_t, v_t, done_t, lambda_)
    return advantages, advantages + v_tm1


def standardize(advantage: jax.Array, valid: jax.Array | None = None) -> jax.Array:
    """``(A - mean) / (std + 1e-8)`` over the valid samples of ``[N]``.

    ``mean = sum(w A) / n``, ``std**2 = sum(w (A - mean)**2) / n`` with
    ``w = valid`` and ``n = max(sum(w), 1)``; invalid samples come out 0.
    ``valid=None`` is the plain (all-valid) standardisation.
    """
    if valid is None:
        return (advantage - advantage.mean()) / (advantage.std() + 1e-8)
    w = jnp.asarray(valid, jnp.float32)
    n = jnp.maximum(w.sum(), 1.0)
    mean = jnp.sum(w * advantage) / n
    std = jnp.sqrt(jnp.sum(w * (advantage - mean) ** 2) / n)
    return jnp.where(valid, (advantage - mean) / (std + 1e-8), 0.0)


def mean_loss(
    loss_fn: Callable[[Any, Any], tuple[jax.Array, dict[str, jax.Array]]],
    hparams: Any,
    inputs: Any,
    valid: jax.Array | None = None,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """An agent's per-sample loss, averaged over a minibatch's valid samples.

    ``loss_fn(hparams, sample) -> (loss, {name: scalar})`` sees one sample
    (unbatched leaves); it is ``vmap``-ed over the minibatch ``[N]`` and the
    loss and every reported term ``l_i`` are averaged as
    ``sum_i w_i l_i / max(sum_i w_i, 1)`` with ``w = valid``: an invalid
    sample contributes nothing to the value or the gradient. ``valid=None``
    (every sample valid, e.g. any gymnax batch) is the plain mean.

    Args:
        loss_fn: the per-sample loss.
        hparams: passed to ``loss_fn``.
        inputs: a minibatch, leaves ``[N, ...]``.
        valid: bool ``[N]`` or None.
    """
    per_loss, per_aux = jax.vmap(lambda x: loss_fn(hparams, x))(inputs)
    if valid is None:
        return per_loss.mean(), {k: jnp.mean(v) for k, v in per_aux.items()}
    valid = jnp.asarray(valid, bool)
    n = jnp.maximum(valid.sum(), 1).astype(jnp.float32)

    def mean(x):
        return jnp.sum(jnp.where(valid, x, 0.0)) / n

    return mean(per_loss), {k: mean(v) for k, v in per_aux.items()}
