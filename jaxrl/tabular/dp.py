"""Dynamic programming on an exact tabular model (Sutton & Barto 2018, ch. 4).

The model is ``envs.TabularModel(P[S, A, S'], R[S, A], terminal[S], start[S])``.
Terminal states are absorbing and have value 0 by definition, so every
function here cuts the "continuation" into a terminal state:

``V(s) = sum_a pi(a|s) [R(s, a) + gamma * sum_{s' not terminal} P(s'|s, a) V(s')]``

which keeps the linear system ``(I - gamma P_pi) V = r_pi`` non-singular for
``gamma = 1`` as long as the policy reaches a terminal state with probability
one from every state (a *proper* policy, section 4.1 and exercise 4.1). All
functions are pure and jit-able; ``gamma`` may be traced, so a sweep over
discounts is a ``vmap``.
"""

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from envs.tabular import TabularModel
from jaxrl.tabular.policies import greedy_policy, one_hot_policy, uniform_policy

__all__ = [
    "DPResult",
    "Path",
    "greedy_path",
    "greedy_policy",
    "policy_evaluation",
    "policy_iteration",
    "q_from_v",
    "value_iteration",
]


class DPResult(NamedTuple):
    """Optimal values and a greedy policy.

    Attributes:
        v: state values ``V*(s)``, shape ``[S]``; 0 at terminal states.
        q: action values ``Q*(s, a)``, shape ``[S, A]``; 0 at terminal states.
        pi: a deterministic optimal policy, action indices, int32 ``[S]``
            (lowest index among ties; action 0 at terminal states).
    """

    v: jax.Array
    q: jax.Array
    pi: jax.Array


def _live(model: TabularModel) -> jax.Array:
    return 1.0 - jnp.asarray(model.terminal, jnp.float32)


def policy_evaluation(
    model: TabularModel, pi: ArrayLike, gamma: ArrayLike
) -> jax.Array:
    """Exact state values of a policy by solving the Bellman linear system.

    With ``P_pi[s, s'] = sum_a pi(a|s) P(s'|s, a)`` and
    ``r_pi[s] = sum_a pi(a|s) R(s, a)``, the Bellman equation (Sutton & Barto
    2018, eq. 4.4) restricted to non-terminal states ``N`` is

    ``V_N = r_pi,N + gamma P_pi,NN V_N``  =>  ``V_N = (I - gamma P_pi,NN)^-1 r_pi,N``

    and ``V = 0`` on terminal states. Rows and columns of terminal states are
    zeroed in ``P_pi``, which leaves their equation as ``V(s) = 0``.

    Args:
        model: the exact model, ``P`` of shape ``[S, A, S]``.
        pi: action probabilities ``pi[s, a]``, shape ``[S, A]``.
        gamma: discount in ``[0, 1]``, shape ``[]``. With ``gamma = 1`` the
            policy must terminate with probability one from every state, or
            the system is singular (the result is then inf/nan).

    Returns:
        ``V_pi``, shape ``[S]``.
    """
    pi = jnp.asarray(pi, jnp.float32)
    chex.assert_shape(pi, model.R.shape)
    live = _live(model)
    p_pi = jnp.einsum("sa,sat->st", pi, model.P) * live[:, None] * live[None, :]
    r_pi = jnp.sum(pi * model.R, axis=1) * live
    a = jnp.eye(model.num_states, dtype=jnp.float32) - gamma * p_pi
    return jnp.linalg.solve(a, r_pi)


def q_from_v(model: TabularModel, v: ArrayLike, gamma: ArrayLike) -> jax.Array:
    """One-step lookahead: ``Q(s, a) = R(s, a) + gamma sum_s' P(s'|s, a) V(s')``.

    Sutton & Barto (2018), eq. 4.6. Terminal next states contribute 0 whatever
    ``v`` holds there, and rows of terminal states are 0.

    Args:
        model: the exact model.
        v: state values, shape ``[S]``.
        gamma: discount, shape ``[]``.

    Returns:
        Action values, shape ``[S, A]``.
    """
    v = jnp.asarray(v, jnp.float32)
    chex.assert_shape(v, (model.num_states,))
    live = _live(model)
    q = model.R + gamma * jnp.einsum("sat,t->sa", model.P, v * live)
    return q * live[:, None]


def _greedy_backup(model: TabularModel, v: jax.Array, gamma: ArrayLike) -> jax.Array:
    return jnp.max(q_from_v(model, v, gamma), axis=1)


def value_iteration(
    model: TabularModel,
    gamma: ArrayLike,
    theta: ArrayLike = 1e-8,
    max_iters: int = 10_000,
) -> DPResult:
    """Value iteration (Sutton & Barto 2018, section 4.4).

    ``V_{k+1}(s) = max_a [R(s, a) + gamma sum_s' P(s'|s, a) V_k(s')]`` from
    ``V_0 = 0``, in a ``lax.while_loop`` until
    ``max_s |V_{k+1}(s) - V_k(s)| <= theta`` or ``max_iters`` sweeps. The
    sweeps are synchronous (Jacobi), so the iterates are those of the Bellman
    optimality operator. With ``gamma = 1`` it converges when every optimal
    policy is proper (stochastic shortest path conditions).

    Args:
        model: the exact model.
        gamma: discount in ``[0, 1]``.
        theta: stopping threshold on the largest change (float32 values
            usually reach their fixed point exactly; ``max_iters`` guards
            against a last-bit oscillation).
        max_iters: most sweeps (static).

    Returns:
        :class:`DPResult` ``(V*, Q*, pi*)``.
    """

    def cond(carry):
        _, delta, i = carry
        return (delta > theta) & (i < max_iters)

    def body(carry):
        v, _, i = carry
        v_new = _greedy_backup(model, v, gamma)
        return v_new, jnp.max(jnp.abs(v_new - v)), i + 1

    v0 = jnp.zeros(model.num_states, jnp.float32)
    v, _, _ = jax.lax.while_loop(cond, body, (v0, jnp.float32(jnp.inf), 0))
    q = q_from_v(model, v, gamma)
    return DPResult(v=v, q=q, pi=greedy_policy(q))


def policy_iteration(
    model: TabularModel,
    gamma: ArrayLike,
    max_iters: int = 1_000,
    tol: float = 1e-5,
) -> DPResult:
    """Policy iteration (Sutton & Barto 2018, section 4.3).

    Alternates exact evaluation (:func:`policy_evaluation`) and greedy
    improvement ``pi'(s) = argmax_a Q_pi(s, a)`` until the policy is stable.
    It starts from the uniform random policy, which is proper in any episodic
    model whose terminal states are reachable from everywhere; a fixed start
    such as "always action 0" can loop forever (e.g. into a wall), making
    ``gamma = 1`` evaluation singular. The current action is kept unless
    another is better by more than ``tol * (1 + |max_a Q|)``, so float
    round-off between equally good actions cannot make the loop cycle (the
    subtle non-termination bug of the book's pseudocode, exercise 4.4).

    Args:
        model: the exact model.
        gamma: discount in ``[0, 1]``.
        max_iters: most improvement steps (static); finite MDPs need few.
        tol: relative tolerance for keeping the current action.

    Returns:
        :class:`DPResult` ``(V*, Q*, pi*)``.
    """
    num_states, num_actions = model.R.shape

    def evaluate(actions):
        v = policy_evaluation(model, one_hot_policy(actions, num_actions), gamma)
        return v, q_from_v(model, v, gamma)

    def improve(q, actions):
        q_max = jnp.max(q, axis=1)
        q_cur = jnp.take_along_axis(q, actions[:, None], axis=1)[:, 0]
        keep = q_cur >= q_max - tol * (1.0 + jnp.abs(q_max))
        return jnp.where(keep, actions, greedy_policy(q))

    v_rand = policy_evaluation(model, uniform_policy(num_states, num_actions), gamma)
    actions0 = greedy_policy(q_from_v(model, v_rand, gamma))

    def cond(carry):
        _, stable, i = carry
        return (~stable) & (i < max_iters)

    def body(carry):
        actions, _, i = carry
        _, q = evaluate(actions)
        new = improve(q, actions)
        return new, jnp.all(new == actions), i + 1

    actions, _, _ = jax.lax.while_loop(cond, body, (actions0, jnp.bool_(False), 0))
    v, q = evaluate(actions)
    return DPResult(v=v, q=q, pi=actions)


class Path(NamedTuple):
    """A path followed through a model.

    Attributes:
        states: visited states, int32 ``[max_steps + 1]``; after the path
            ends (terminal state reached) the last state repeats.
        length: number of steps taken before reaching a terminal state, or
            ``max_steps`` if none was reached, int32 ``[]``.
        ret: undiscounted sum of expected rewards along the path, ``[]``.
        reached_terminal: whether a terminal state was reached, bool ``[]``.
    """

    states: jax.Array
    length: jax.Array
    ret: jax.Array
    reached_terminal: jax.Array


def greedy_path(
    model: TabularModel, pi: ArrayLike, max_steps: int, start: ArrayLike | None = None
) -> Path:
    """Follow a deterministic policy ``pi[S]`` through the model's most likely
    transitions (``argmax_s' P(s'|s, pi(s))``, the exact path when the model is
    deterministic), from ``start`` (default: the most likely start state).

    Used to draw learned greedy paths (the cliff-walking figure) and to check
    that a learned policy reaches the goal. Pure and vmap-able over ``pi``.
    """
    pi = jnp.asarray(pi)
    chex.assert_rank(pi, 1)
    s0 = jnp.argmax(model.start) if start is None else jnp.asarray(start)
    nxt = jnp.argmax(model.P, axis=-1)  # [S, A]

    def step(carry, _):
        s, done, length, ret = carry
        a = pi[s]
        s1 = jnp.where(done, s, nxt[s, a])
        ret = ret + jnp.where(done, 0.0, model.R[s, a])
        length = length + (~done)
        done = done | model.terminal[s1]
        return (s1, done, length, ret), s1

    init = (s0, model.terminal[s0], jnp.int32(0), jnp.float32(0.0))
    (_, done, length, ret), states = jax.lax.scan(step, init, None, length=max_steps)
    states = jnp.concatenate([s0[None], states]).astype(jnp.int32)
    return Path(states=states, length=length, ret=ret, reached_terminal=done)
