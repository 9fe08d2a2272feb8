"""Multi-step returns and advantages over one trajectory.

Every function here takes a single trajectory of ``T`` steps (time axis first,
unbatched); callers batch over environments with :func:`jax.vmap`. Index ``t``
of every array describes the same step: the agent in ``s_t`` takes ``a_t``,
receives ``r_t`` and lands in ``s_{t+1}``.

Three arrays keep the two ways an episode ends apart:

- ``discount_t = gamma * (1 - terminated_t)``: zero after a true terminal
  state (nothing to bootstrap from) and ``gamma`` after a truncation (the
  episode was cut by a time limit, ``s_{t+1}`` still has a value).
- ``v_t``: the value of the state *reached*, ``V(s_{t+1})``. After a truncated
  step the caller passes the value of the *final* observation (gymnax returns
  the reset observation with auto-reset; keep the final one in ``info``), not
  the value of the reset observation.
- ``done_t = terminated_t | truncated_t``: an episode boundary lies between
  step ``t`` and step ``t + 1``, so the backward recursion must not carry
  anything from ``t + 1`` (the next episode) into ``t``.

With these, a truncated step bootstraps (``r_t + gamma * v_t``) and a
terminated step does not (``r_t``), and no return leaks across episodes. The
trajectory's last step is always bootstrapped from ``v_t[T - 1]`` (times its
discount), as in a rollout of fixed length.
"""

import chex
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


def _check_trajectory(r_t, discount_t, v_t, done_t):
    r_t, discount_t, v_t, done_t = map(jnp.asarray, (r_t, discount_t, v_t, done_t))
    chex.assert_rank([r_t, discount_t, v_t, done_t], 1)
    chex.assert_equal_shape([r_t, discount_t, v_t, done_t])
    dtype = jnp.result_type(r_t.dtype, jnp.float32)
    return (
        r_t.astype(dtype),
        jnp.asarray(discount_t, dtype),
        jnp.asarray(v_t, dtype),
        jnp.asarray(done_t, dtype),
    )


def _per_step(x: ArrayLike, like: jax.Array) -> jax.Array:
    """Broadcast a scalar or ``[T]`` parameter to the trajectory's shape."""
    x = jnp.asarray(x, like.dtype)
    chex.assert_rank(x, {0, 1})
    return jnp.broadcast_to(x, like.shape)


def n_step_returns(
    r_t: ArrayLike,
    discount_t: ArrayLike,
    v_t: ArrayLike,
    done_t: ArrayLike,
    n: int,
    *,
    stop_target_gradients: bool = True,
) -> jax.Array:
    """n-step bootstrapped returns, one per step of the trajectory.

    Sutton & Barto (2018), eq. 7.1; Mnih et al. (2016) and Hessel et al. (2018)
    use them as targets. The k-step return ``G^(k)_t`` from step ``t`` is

    ::

        G^(k)_t = r_t + discount_t * v_t                  if done_t or k = 1
        G^(k)_t = r_t + discount_t * G^(k-1)_{t+1}        otherwise
        G^(k)_T = v_{T-1}  for every k   (past the end: bootstrap)

    so that, inside one episode and away from the trajectory's end,
    ``G^(n)_t = sum_{i<n} (prod_{j<i} discount_{t+j}) r_{t+i}
    + (prod_{j<n} discount_{t+j}) v_{t+n-1}``. The sum stops early at an episode
    boundary (bootstrapping from ``v_t`` there, which ``discount_t = 0`` zeroes
    on termination) and at the end of the trajectory (bootstrapping from
    ``v_{T-1}``). It runs as one reverse :func:`jax.lax.scan` that carries the
    vector ``[G^(1)_{t+1}, ..., G^(n-1)_{t+1}]``, ``O(T n)`` work.

    Args:
        r_t: rewards, shape ``[T]``.
        discount_t: ``gamma * (1 - terminated_t)``, shape ``[T]``.
        v_t: values of the states reached, ``V(s_{t+1})`` (of the final
            observation on truncation), shape ``[T]``.
        done_t: episode boundary after step ``t`` (terminated or truncated),
            bool or float, shape ``[T]``.
        n: number of steps, a Python int ``>= 1``.
        stop_target_gradients: stop gradients flowing into ``v_t``.

    Returns:
        the n-step returns ``G^(n)_t``, shape ``[T]``.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a Python int >= 1, got {n!r}")
    r_t, discount_t, v_t, done_t = _check_trajectory(r_t, discount_t, v_t, done_t)
    if stop_target_gradients:
        v_t = jax.lax.stop_gradient(v_t)

    def step(g_next, xs):
        # g_next = [G^(1)_{t+1}, ..., G^(n-1)_{t+1}]
        r, discount, v, done = xs
        # [G^(0)_{t+1}, ..., G^(n-1)_{t+1}], each replaced by v_t at a boundary.
        prev = jnp.concatenate([v[None], g_next])
        prev = jnp.where(done > 0, v, prev)
        g = r + discount * prev  # [G^(1)_t, ..., G^(n)_t]
        return g[:-1], g[-1]

    init = jnp.full((n - 1,), v_t[-1], v_t.dtype)
    _, returns = jax.lax.scan(step, init, (r_t, discount_t, v_t, done_t), reverse=True)
    return returns


def lambda_returns(
    r_t: ArrayLike,
    discount_t: ArrayLike,
    v_t: ArrayLike,
    done_t: ArrayLike,
    lambda_: ArrayLike = 1.0,
    *,
    stop_target_gradients: bool = True,
) -> jax.Array:
    """TD(lambda) returns, one per step of the trajectory.

    Sutton & Barto (2018), eq. 12.18 (recursive form of the lambda-return,
    Watkins 1989). The recursion, computed backwards with
    ``jax.lax.scan(..., reverse=True)``:

    ::

        G_t = r_t + discount_t * ((1 - c_t) * v_t + c_t * G_{t+1})
        c_t = lambda_t * (1 - done_t)
        G_T = v_{T-1}   (so the last step bootstraps from v_{T-1})

    At an episode boundary (``done_t = 1``) ``G_t = r_t + discount_t * v_t``:
    ``r_t + gamma * V(s_final)`` on truncation, ``r_t`` on termination.
    ``lambda_ = 1`` gives the bootstrapped Monte Carlo return, ``lambda_ = 0``
    the one-step TD target.

    Args:
        r_t: rewards, shape ``[T]``.
        discount_t: ``gamma * (1 - terminated_t)``, shape ``[T]``.
        v_t: values of the states reached, ``V(s_{t+1})`` (of the final
            observation on truncation), shape ``[T]``.
        done_t: episode boundary after step ``t``, bool or float, shape ``[T]``.
        lambda_: mixing parameter, scalar or shape ``[T]``.
        stop_target_gradients: stop gradients flowing into ``v_t``.

    Returns:
        the lambda-returns ``G_t``, shape ``[T]``.
    """
    r_t, discount_t, v_t, done_t = _check_trajectory(r_t, discount_t, v_t, done_t)
    lambda_ = _per_step(lambda_, r_t)
    if stop_target_gradients:
        v_t = jax.lax.stop_gradient(v_t)

    def step(g_next, xs):
        r, discount, v, done, lam = xs
        c = lam * (1.0 - done)
        g = r + discount * ((1.0 - c) * v + c * g_next)
        return g, g

    _, returns = jax.lax.scan(
        step, v_t[-1], (r_t, discount_t, v_t, done_t, lambda_), reverse=True
    )
    return returns


def generalized_advantage_estimation(
    v_tm1: ArrayLike,
    r_t: ArrayLike,
    discount_t: ArrayLike,
    v_t: ArrayLike,
    done_t: ArrayLike,
    lambda_: ArrayLike = 0.95,
    *,
    stop_target_gradients: bool = True,
) -> jax.Array:
    """Generalized advantage estimates (Schulman et al., 2016, eq. 16).

    The recursion, computed backwards with ``jax.lax.scan(..., reverse=True)``:

    ::

        delta_t = r_t + discount_t * v_t - v_tm1_t
        A_t     = delta_t + discount_t * lambda_t * (1 - done_t) * A_{t+1}
        A_T     = 0

    ``v_tm1`` (the value of the state the step left, ``V(s_t)``) and ``v_t``
    (the value of the state reached, ``V(s_{t+1})``) are separate arrays
    because they differ at a truncation: ``v_t`` there is the value of the
    final observation while ``v_tm1`` of the next step is the value of the
    reset observation. The value targets are ``A_t + v_tm1_t``, which equal
    :func:`lambda_returns` with the same arguments whenever
    ``v_tm1[t + 1] == v_t[t]`` inside each episode (as it is for values from
    one network).

    Args:
        v_tm1: values of the states left, ``V(s_t)``, shape ``[T]``.
        r_t: rewards, shape ``[T]``.
        discount_t: ``gamma * (1 - terminated_t)``, shape ``[T]``.
        v_t: values of the states reached, ``V(s_{t+1})`` (of the final
            observation on truncation), shape ``[T]``.
        done_t: episode boundary after step ``t``, bool or float, shape ``[T]``.
        lambda_: GAE parameter, scalar or shape ``[T]``.
        stop_target_gradients: stop gradients flowing into ``v_tm1`` and
            ``v_t`` (advantages are constants for the policy gradient).

    Returns:
        the advantages ``A_t``, shape ``[T]``.
    """
    r_t, discount_t, v_t, done_t = _check_trajectory(r_t, discount_t, v_t, done_t)
    v_tm1 = jnp.asarray(v_tm1, r_t.dtype)
    chex.assert_equal_shape([v_tm1, r_t])
    lambda_ = _per_step(lambda_, r_t)
    if stop_target_gradients:
        v_tm1 = jax.lax.stop_gradient(v_tm1)
        v_t = jax.lax.stop_gradient(v_t)
    delta_t = r_t + discount_t * v_t - v_tm1
    coef_t = discount_t * lambda_ * (1.0 - done_t)

    def step(a_next, xs):
        delta, coef = xs
        a = delta + coef * a_next
        return a, a

    _, advantages = jax.lax.scan(
        step, jnp.zeros((), r_t.dtype), (delta_t, coef_t), reverse=True
    )
    return advantages
