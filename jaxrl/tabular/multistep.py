"""Between TD(0) and Monte Carlo: n-step returns and eligibility traces.

Pure per-step updates of a table (``V[S]`` or ``Q[S, A]``), Sutton & Barto
(2018), chapters 7 and 12, used by the prediction and control runners and
importable on their own:

* **n-step TD** (section 7.1) and **n-step SARSA / Expected SARSA** (7.2,
  eq. 7.4 and 7.7) keep the last transitions in an :class:`NStepWindow`, a
  fixed-size ring carried in the scan state. After step ``t`` (the window then
  holds ``t + 1`` transitions and the latest state is ``S_{t+1}``), the state
  ``tau = t + 1 - n`` is updated toward

  ``G = sum_{i=tau+1}^{h} gamma^{i-tau-1} R_i + gamma^{h-tau} B(S_h)``,
  ``h = t + 1``

  with ``B = V`` (n-step TD), ``Q(S_h, A_h)`` (SARSA) or
  ``sum_a pi(a|S_h) Q(S_h, a)`` (Expected SARSA), and ``B = 0`` if ``S_h`` is
  terminal. When the episode ends at ``T`` the states ``tau = T - n + 1, ...,
  T - 1`` still owed an update get theirs (:func:`nstep_flush`), each with
  ``h = T``: the book's loop "until tau = T - 1". On truncation ``B(S_T)`` is
  the bootstrap. ``n`` is traced (a sweep over ``n`` is a ``vmap``); the
  window's size, the largest ``n``, is static.
* **TD(lambda)** (section 12.2, eq. 12.5-12.7) with accumulating or
  replacing traces, **true online TD(lambda)** (section 12.5, eq. 12.11, the
  dutch trace) and **SARSA(lambda)** (section 12.7) keep a trace table ``z``
  of the table's shape; an episode starts with ``z = 0``.
* the **offline lambda-return algorithm** (section 12.1, eq. 12.4) updates
  after the episode toward lambda-returns of the episode's start values
  (:func:`jaxrl.ops.returns.lambda_returns`); it is the oracle TD(lambda)
  approaches for small ``alpha``, and the online lambda-return algorithm that
  true online TD(lambda) equals exactly (van Seijen & Sutton 2014) is the
  oracle in the tests.

Every write is a ``set`` at one index or an elementwise update of the whole
table, so a ``vmap`` over seeds gives the same bits as a loop.
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxrl.ops.returns import lambda_returns

TRACES = ("accumulating", "replacing")


class NStepWindow(NamedTuple):
    """The last transitions of an episode, a ring of ``size`` slots.

    Transition ``t`` (``S_t``, ``A_t``, ``R_{t+1}``) lives in slot
    ``t mod size``; ``t`` counts the transitions stored in this episode, so the
    latest state is ``S_t``.

    Attributes:
        obs: states ``S``, int32 ``[size]``.
        action: actions ``A``, int32 ``[size]``.
        reward: rewards ``R``, float32 ``[size]``.
        t: transitions stored so far, int32 ``[]``.
    """

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    t: jax.Array


def check_n_step(n, max_n: int) -> None:
    """At the edge: ``n`` (a value, or a sweep's values) is a whole number in
    ``[1, max_n]``, the window's size; ``None`` passes."""
    if n is None:
        return
    values = np.atleast_1d(np.asarray(n, dtype=np.float64))
    if np.any(values != np.round(values)) or np.any(values < 1):
        raise ValueError(f"n_step={n!r} must be a whole number >= 1")
    if np.any(values > max_n):
        raise ValueError(
            f"n_step={n!r} is larger than the window max_n={max_n}; "
            f"set max_n >= {int(values.max())}"
        )


def window_init(size: int) -> NStepWindow:
    """An empty window of ``size`` slots (the largest ``n`` it serves)."""
    if size < 1:
        raise ValueError(f"window size={size} must be >= 1")
    return NStepWindow(
        obs=jnp.zeros(size, jnp.int32),
        action=jnp.zeros(size, jnp.int32),
        reward=jnp.zeros(size, jnp.float32),
        t=jnp.int32(0),
    )


def window_push(
    w: NStepWindow, s: ArrayLike, a: ArrayLike, r: ArrayLike
) -> NStepWindow:
    """Store transition ``t = w.t``: ``S_t = s``, ``A_t = a``, ``R_{t+1} = r``."""
    i = w.t % w.obs.shape[0]
    return NStepWindow(
        obs=w.obs.at[i].set(jnp.asarray(s, jnp.int32)),
        action=w.action.at[i].set(jnp.asarray(a, jnp.int32)),
        reward=w.reward.at[i].set(jnp.asarray(r, jnp.float32)),
        t=w.t + 1,
    )


def nstep_target(
    w: NStepWindow, tau: ArrayLike, gamma: ArrayLike, bootstrap: ArrayLike
) -> jax.Array:
    """``G_{tau:h} = sum_{i=tau+1}^{h} gamma^{i-tau-1} R_i + gamma^{h-tau} B``
    with ``h = w.t`` (the latest state) and ``bootstrap = B(S_h)`` (0 if
    terminal).

    Needs ``w.t - size <= tau < w.t``: the rewards ``R_{tau+1} .. R_h`` are
    still in the window. A masked dot over the ring, ``O(size)``.
    """
    size = w.reward.shape[0]
    k = jnp.arange(size)
    span = w.t - tau  # h - tau rewards, 1 <= span <= size
    rewards = w.reward[(tau + k) % size]  # R_{tau+1+k}
    gamma = jnp.asarray(gamma, jnp.float32)
    powers = gamma ** k.astype(jnp.float32)
    ret = jnp.sum(jnp.where(k < span, powers * rewards, 0.0))
    return ret + gamma ** span.astype(jnp.float32) * bootstrap


def _n(n: ArrayLike, size: int) -> jax.Array:
    """``n`` as an int32 in ``[1, size]`` (the edge checks it; this clamps)."""
    return jnp.clip(jnp.round(jnp.asarray(n)), 1, size).astype(jnp.int32)


def nstep_td_step(
    v: jax.Array,
    w: NStepWindow,
    n: ArrayLike,
    gamma: ArrayLike,
    alpha: ArrayLike,
    bootstrap: ArrayLike,
) -> jax.Array:
    """The update owed after a step: ``V(S_tau) += alpha (G - V(S_tau))`` for
    ``tau = w.t - n`` if ``tau >= 0``; ``bootstrap = V(S_{w.t})``, or 0 if
    ``S_{w.t}`` is terminal. Returns ``v``."""
    size = w.obs.shape[0]
    tau = w.t - _n(n, size)
    s = w.obs[tau % size]
    g = nstep_target(w, tau, gamma, bootstrap)
    return v.at[s].set(jnp.where(tau >= 0, v[s] + alpha * (g - v[s]), v[s]))


def nstep_flush(
    table: jax.Array,
    w: NStepWindow,
    n: ArrayLike,
    gamma: ArrayLike,
    alpha: ArrayLike,
    bootstrap_fn: Callable[[jax.Array], jax.Array],
) -> jax.Array:
    """At an episode's end ``T = w.t``: the updates of ``tau = max(0, T - n +
    1), ..., T - 1`` in that order, each toward ``G_{tau:T}``.

    Args:
        table: ``V[S]`` or ``Q[S, A]``.
        bootstrap_fn: ``table -> B(S_T)``, read after each update (the book's
            loop reads the current table); return 0 for a terminal ``S_T``.
    """
    size = w.obs.shape[0]
    start = jnp.maximum(0, w.t - _n(n, size) + 1)

    def body(tau, table):
        i = tau % size
        g = nstep_target(w, tau, gamma, bootstrap_fn(table))
        if table.ndim == 1:
            s = w.obs[i]
            return table.at[s].set(table[s] + alpha * (g - table[s]))
        s, a = w.obs[i], w.action[i]
        return table.at[s, a].set(table[s, a] + alpha * (g - table[s, a]))

    return jax.lax.fori_loop(start, w.t, body, table)


def nstep_q_step(
    q: jax.Array,
    w: NStepWindow,
    n: ArrayLike,
    gamma: ArrayLike,
    alpha: ArrayLike,
    bootstrap: ArrayLike,
) -> jax.Array:
    """n-step SARSA's (or Expected SARSA's) update owed after a step:
    ``Q(S_tau, A_tau) += alpha (G - Q(S_tau, A_tau))`` for ``tau = w.t - n`` if
    ``tau >= 0``; ``bootstrap = Q(S_h, A_h)`` or ``sum_a pi(a|S_h) Q(S_h, a)``,
    0 if ``S_h`` is terminal. Returns ``q``."""
    size = w.obs.shape[0]
    tau = w.t - _n(n, size)
    i = tau % size
    s, a = w.obs[i], w.action[i]
    g = nstep_target(w, tau, gamma, bootstrap)
    new = q[s, a] + alpha * (g - q[s, a])
    return q.at[s, a].set(jnp.where(tau >= 0, new, q[s, a]))


def decay_and_mark(
    z: jax.Array, index: tuple, decay: ArrayLike, trace: str
) -> jax.Array:
    """``z <- decay * z``, then ``z[index] += 1`` (accumulating) or
    ``z[index] = 1`` (replacing); eq. 12.5 for a one-hot gradient."""
    if trace not in TRACES:
        raise ValueError(f"trace={trace!r} is unknown; allowed: {TRACES}")
    z = decay * z
    mark = z[index] + 1.0 if trace == "accumulating" else jnp.float32(1.0)
    return z.at[index].set(mark)


def td_lambda_step(
    v: jax.Array,
    z: jax.Array,
    s: ArrayLike,
    r: ArrayLike,
    s1: ArrayLike,
    discount: ArrayLike,
    gamma: ArrayLike,
    lambda_: ArrayLike,
    alpha: ArrayLike,
    trace: str = "accumulating",
) -> tuple[jax.Array, jax.Array]:
    """One step of tabular TD(lambda) (eq. 12.5-12.7).

    ``z <- gamma lambda z; z(s) += 1`` (or ``= 1``, replacing);
    ``delta = r + discount V(s') - V(s)``; ``V <- V + alpha delta z``.

    Args:
        v: values ``[S]``; z: traces ``[S]`` (0 at an episode's start).
        discount: ``gamma * (1 - terminated)``.
        trace: ``"accumulating"`` or ``"replacing"`` (static).

    Returns:
        ``(v, z)``.
    """
    z = decay_and_mark(z, (s,), gamma * lambda_, trace)
    delta = r + discount * v[s1] - v[s]
    return v + alpha * delta * z, z


class TrueOnlineState(NamedTuple):
    """True online TD(lambda)'s per-episode carry: dutch traces ``z`` ``[S]``
    and ``V_old``, the previous step's ``V(S')``; both 0 at an episode's start."""

    z: jax.Array
    v_old: jax.Array


def true_online_step(
    v: jax.Array,
    c: TrueOnlineState,
    s: ArrayLike,
    r: ArrayLike,
    s1: ArrayLike,
    discount: ArrayLike,
    gamma: ArrayLike,
    lambda_: ArrayLike,
    alpha: ArrayLike,
) -> tuple[jax.Array, TrueOnlineState]:
    """One step of true online TD(lambda) (section 12.5), one-hot features.

    With ``x = e_s``: ``V = v(s)``, ``V' = v(s')`` (0 if terminal),
    ``delta = r + gamma V' - V``,
    ``z <- gamma lambda z + (1 - alpha gamma lambda z(s)) x``,
    ``v <- v + alpha (delta + V - V_old) z - alpha (V - V_old) x``,
    ``V_old <- v(s')`` (the value before this update).

    Args:
        discount: ``gamma * (1 - terminated)`` (multiplies ``V'``).

    Returns:
        ``(v, carry)``.
    """
    gl = gamma * lambda_
    value, value1 = v[s], v[s1]
    delta = r + discount * value1 - value
    z = gl * c.z
    z = z.at[s].add(1.0 - alpha * gl * c.z[s])
    v = v + alpha * (delta + value - c.v_old) * z
    v = v.at[s].add(-alpha * (value - c.v_old))
    # After the episode's last step V_old is not read again (the next episode
    # starts from 0), so it need not be zeroed on termination.
    return v, TrueOnlineState(z=z, v_old=value1)


def sarsa_lambda_step(
    q: jax.Array,
    z: jax.Array,
    s: ArrayLike,
    a: ArrayLike,
    r: ArrayLike,
    target_q: ArrayLike,
    discount: ArrayLike,
    gamma: ArrayLike,
    lambda_: ArrayLike,
    alpha: ArrayLike,
    trace: str = "accumulating",
) -> tuple[jax.Array, jax.Array]:
    """One step of tabular SARSA(lambda) (section 12.7).

    ``z <- gamma lambda z; z(s, a) += 1`` (or ``= 1``);
    ``delta = r + discount Q(s', a') - Q(s, a)``; ``Q <- Q + alpha delta z``.

    Args:
        q, z: ``[S, A]``; target_q: ``Q(s', a')``; discount: ``gamma (1 -
            terminated)``.

    Returns:
        ``(q, z)``.
    """
    z = decay_and_mark(z, (s, a), gamma * lambda_, trace)
    delta = r + discount * target_q - q[s, a]
    return q + alpha * delta * z, z


def offline_lambda_update(
    v: jax.Array,
    obs: jax.Array,
    reward: jax.Array,
    next_obs: jax.Array,
    terminated: jax.Array,
    length: ArrayLike,
    gamma: ArrayLike,
    lambda_: ArrayLike,
    alpha: ArrayLike,
) -> jax.Array:
    """The offline lambda-return algorithm after one episode (eq. 12.4).

    ``G^lambda_t`` from the values ``v`` the episode was played with
    (:func:`jaxrl.ops.returns.lambda_returns`, bootstrapping on truncation),
    then for ``t = 0, ..., T-1`` in order ``V(S_t) += alpha (G^lambda_t -
    V(S_t))``.

    Args:
        v: values ``[S]``; obs, reward, next_obs, terminated: the episode in
            buffers ``[T_max]`` (entries past ``length`` are ignored).
    """
    steps = jnp.arange(obs.shape[0])
    done = (steps == length - 1) | terminated
    discount = gamma * (1.0 - terminated.astype(jnp.float32))
    g = lambda_returns(reward, discount, v[next_obs], done, lambda_)

    def body(t, v):
        s = obs[t]
        return v.at[s].set(v[s] + alpha * (g[t] - v[s]))

    return jax.lax.fori_loop(0, length, body, v)
