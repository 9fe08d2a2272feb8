"""Temporal-difference errors for state and action values.

Each function returns the TD error ``target - estimate`` of one transition;
the tabular agents add ``alpha * error`` to a table entry and the deep agents
regress on it. ``discount_t`` is ``gamma * (1 - terminated_t)``.
"""

import chex
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


def td_learning(
    v_tm1: ArrayLike, r_t: ArrayLike, discount_t: ArrayLike, v_t: ArrayLike
) -> jax.Array:
    """TD(0) error: ``delta = r_t + discount_t * v_t - v_tm1``.

    Sutton & Barto (2018), eq. 6.2.

    Args:
        v_tm1: value of the state the transition left, shape ``[]``.
        r_t: reward, shape ``[]``.
        discount_t: ``gamma * (1 - terminated_t)``, shape ``[]``.
        v_t: value of the state the transition reached, shape ``[]``.
    """
    chex.assert_rank([v_tm1, r_t, discount_t, v_t], 0)
    target = r_t + discount_t * jax.lax.stop_gradient(v_t)
    return target - v_tm1


def q_learning(
    q_tm1: ArrayLike,
    a_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    q_t: ArrayLike,
) -> jax.Array:
    """Q-learning error: ``r_t + discount_t * max_a q_t[a] - q_tm1[a_tm1]``.

    Watkins (1989); Sutton & Barto (2018), eq. 6.8.

    Args:
        q_tm1: action values at the state left, shape ``[A]``.
        a_tm1: action taken, integer, shape ``[]``.
        r_t: reward, shape ``[]``.
        discount_t: ``gamma * (1 - terminated_t)``, shape ``[]``.
        q_t: action values at the state reached, shape ``[A]``.
    """
    chex.assert_rank([q_tm1, a_tm1, r_t, discount_t, q_t], [1, 0, 0, 0, 1])
    target = r_t + discount_t * jax.lax.stop_gradient(jnp.max(q_t))
    return target - q_tm1[a_tm1]


def sarsa(
    q_tm1: ArrayLike,
    a_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    q_t: ArrayLike,
    a_t: ArrayLike,
) -> jax.Array:
    """SARSA error: ``r_t + discount_t * q_t[a_t] - q_tm1[a_tm1]``.

    Rummery & Niranjan (1994); Sutton & Barto (2018), eq. 6.7. ``a_t`` is the
    action the behaviour policy actually takes next (on-policy).
    """
    chex.assert_rank([q_tm1, a_tm1, r_t, discount_t, q_t, a_t], [1, 0, 0, 0, 1, 0])
    target = r_t + discount_t * jax.lax.stop_gradient(q_t[a_t])
    return target - q_tm1[a_tm1]


def expected_sarsa(
    q_tm1: ArrayLike,
    a_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    q_t: ArrayLike,
    probs_a_t: ArrayLike,
) -> jax.Array:
    """Expected SARSA error.

    ``r_t + discount_t * sum_a pi(a|s_t) q_t[a] - q_tm1[a_tm1]``.

    van Seijen et al. (2009); Sutton & Barto (2018), eq. 6.9.

    Args:
        probs_a_t: the target policy's action probabilities at ``s_t``,
            shape ``[A]``.
    """
    chex.assert_rank(
        [q_tm1, a_tm1, r_t, discount_t, q_t, probs_a_t], [1, 0, 0, 0, 1, 1]
    )
    chex.assert_equal_shape([q_t, probs_a_t])
    target = r_t + discount_t * jax.lax.stop_gradient(jnp.sum(probs_a_t * q_t))
    return target - q_tm1[a_tm1]


def double_q_learning(
    q_tm1: ArrayLike,
    a_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    q_t_value: ArrayLike,
    q_t_selector: ArrayLike,
) -> jax.Array:
    """Double Q-learning error (van Hasselt, 2010; van Hasselt et al., 2016).

    ``r_t + discount_t * q_t_value[argmax_a q_t_selector[a]] - q_tm1[a_tm1]``:
    one estimate selects the next action, the other evaluates it. In double
    DQN the online network selects and the target network evaluates.
    """
    chex.assert_rank(
        [q_tm1, a_tm1, r_t, discount_t, q_t_value, q_t_selector], [1, 0, 0, 0, 1, 1]
    )
    best = jnp.argmax(q_t_selector)
    target = r_t + discount_t * jax.lax.stop_gradient(q_t_value[best])
    return target - q_tm1[a_tm1]
