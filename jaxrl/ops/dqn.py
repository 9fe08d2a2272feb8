"""Losses of the DQN family on a single transition.

The TD errors come from :mod:`jaxrl.ops.value`; this module turns them into
regression losses. ``discount_t`` is ``gamma * (1 - terminated_t)``, so a
truncated transition bootstraps and a terminated one does not. Batch with
:func:`jax.vmap` and take the mean.
"""

import chex
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxrl.ops.value import double_q_learning, q_learning


def huber_loss(x: ArrayLike, delta: ArrayLike = 1.0) -> jax.Array:
    """Huber loss (Huber, 1964), elementwise.

    ::

        L(x) = 0.5 * x**2                    if |x| <= delta
        L(x) = delta * (|x| - 0.5 * delta)   otherwise

    Quadratic near zero and linear in the tails, so its gradient is
    ``clip(x, -delta, delta)``: this is the "error clipping" of Mnih et al.
    (2015). Computed as ``0.5 * q**2 + delta * (|x| - q)`` with
    ``q = min(|x|, delta)``.

    Args:
        x: errors, any shape.
        delta: where the quadratic turns linear, ``> 0``.

    Returns:
        the losses, the shape of ``x``.
    """
    abs_x = jnp.abs(x)
    quadratic = jnp.minimum(abs_x, delta)
    linear = abs_x - quadratic
    return 0.5 * quadratic**2 + delta * linear


def _regression_loss(td_error: jax.Array, huber_delta: ArrayLike | None):
    if huber_delta is None:
        return 0.5 * td_error**2
    return huber_loss(td_error, huber_delta)


def dqn_loss(
    q_tm1: ArrayLike,
    a_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    q_t: ArrayLike,
    huber_delta: ArrayLike | None = 1.0,
) -> jax.Array:
    """DQN loss of one transition (Mnih et al., 2015).

    ``L = huber(r_t + discount_t * max_a q_t[a] - q_tm1[a_tm1])``, the target
    held fixed (:func:`jaxrl.ops.value.q_learning`).

    Args:
        q_tm1: online-network action values at ``s_{t-1}``, shape ``[A]``.
        a_tm1: action taken, integer, shape ``[]``.
        r_t: reward, shape ``[]``.
        discount_t: ``gamma * (1 - terminated_t)``, shape ``[]``.
        q_t: target-network action values at ``s_t``, shape ``[A]``.
        huber_delta: Huber threshold; ``None`` gives the squared loss
            ``0.5 * td**2``.

    Returns:
        the loss, shape ``[]``.
    """
    chex.assert_rank([q_tm1, a_tm1, r_t, discount_t, q_t], [1, 0, 0, 0, 1])
    td_error = q_learning(q_tm1, a_tm1, r_t, discount_t, q_t)
    return _regression_loss(td_error, huber_delta)


def double_dqn_loss(
    q_tm1: ArrayLike,
    a_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    q_t_value: ArrayLike,
    q_t_selector: ArrayLike,
    huber_delta: ArrayLike | None = 1.0,
) -> jax.Array:
    """Double DQN loss of one transition (van Hasselt et al., 2016).

    ``L = huber(r_t + discount_t * q_t_value[argmax_a q_t_selector[a]]
    - q_tm1[a_tm1])`` (:func:`jaxrl.ops.value.double_q_learning`): the online
    network selects the next action and the target network evaluates it.

    Args:
        q_tm1: online-network action values at ``s_{t-1}``, shape ``[A]``.
        a_tm1: action taken, integer, shape ``[]``.
        r_t: reward, shape ``[]``.
        discount_t: ``gamma * (1 - terminated_t)``, shape ``[]``.
        q_t_value: target-network action values at ``s_t``, shape ``[A]``.
        q_t_selector: online-network action values at ``s_t``, shape ``[A]``.
        huber_delta: Huber threshold; ``None`` gives the squared loss.

    Returns:
        the loss, shape ``[]``.
    """
    chex.assert_rank(
        [q_tm1, a_tm1, r_t, discount_t, q_t_value, q_t_selector], [1, 0, 0, 0, 1, 1]
    )
    td_error = double_q_learning(q_tm1, a_tm1, r_t, discount_t, q_t_value, q_t_selector)
    return _regression_loss(td_error, huber_delta)
