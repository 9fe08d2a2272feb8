"""Action selection from tables of values or preferences.

Every function here works on one state's row (``q`` of shape ``[A]``) and is
batched by the caller with :func:`jax.vmap`; :func:`greedy_policy` is the
exception and takes a whole table ``[S, A]``.

Ties among maximal actions are broken uniformly at random (Sutton & Barto 2018,
section 2.2: "ties broken randomly"). This matters from the first step: with a
zero-initialised table every action is maximal, and ``argmax`` would always
pick action 0, which in a grid world can mean walking into the same wall for
the whole episode.
"""

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


def greedy_probs(q: ArrayLike) -> jax.Array:
    """The greedy policy with ties split evenly.

    ``pi(a) = 1[q(a) = max_b q(b)] / |argmax_b q(b)|``.

    Args:
        q: action values, shape ``[A]``.

    Returns:
        Action probabilities, shape ``[A]``.
    """
    q = jnp.asarray(q)
    is_max = (q == jnp.max(q)).astype(jnp.float32)
    return is_max / jnp.sum(is_max)


def epsilon_greedy_probs(q: ArrayLike, epsilon: ArrayLike) -> jax.Array:
    """Epsilon-greedy action probabilities with ties among maxima split evenly.

    ``pi(a) = epsilon / A + (1 - epsilon) * greedy_probs(q)(a)``
    (Sutton & Barto 2018, sections 2.2 and 5.4).

    Args:
        q: action values, shape ``[A]``.
        epsilon: exploration probability in ``[0, 1]``, shape ``[]``.

    Returns:
        Action probabilities, shape ``[A]``; they sum to one.
    """
    q = jnp.asarray(q)
    num_actions = q.shape[-1]
    return epsilon / num_actions + (1.0 - epsilon) * greedy_probs(q)


def softmax_probs(h: ArrayLike, temperature: ArrayLike = 1.0) -> jax.Array:
    """Soft-max (Gibbs) action probabilities.

    ``pi(a) = exp(h(a) / tau) / sum_b exp(h(b) / tau)`` (Sutton & Barto 2018,
    eq. 2.11).

    Args:
        h: preferences or values, shape ``[A]``.
        temperature: ``tau > 0``, shape ``[]``.

    Returns:
        Action probabilities, shape ``[A]``.
    """
    return jax.nn.softmax(jnp.asarray(h) / temperature)


def sample(key: jax.Array, probs: ArrayLike) -> jax.Array:
    """Sample an action index from probabilities ``[A]``; returns int32 ``[]``.

    Inverse-CDF sampling from one uniform draw (:func:`sample_uniform`). One
    draw per action instead of the ``A`` of Gumbel-max keeps the per-step cost
    of the tabular loops low; an action of probability 0 is never returned.
    """
    probs = jnp.asarray(probs)
    return sample_uniform(jax.random.uniform(key, dtype=probs.dtype), probs)


def sample_uniform(u: ArrayLike, probs: ArrayLike) -> jax.Array:
    """The action that a uniform draw ``u`` in ``[0, 1)`` picks from ``probs``.

    The first ``a`` whose cumulative probability exceeds ``u * sum(probs)``
    (inverse CDF), int32 ``[]``. Loops that draw all of an iteration's uniforms
    in one call (``jax.random.uniform(key, (steps, k))``) pass them here,
    instead of splitting a key per step.
    """
    probs = jnp.asarray(probs)
    cdf = jnp.cumsum(probs)
    u = jnp.asarray(u, cdf.dtype) * cdf[-1]
    # Count the actions whose cumulative mass is <= u; skip zero-mass actions
    # at the end (cdf equal to the total) so rounding cannot pick them.
    a = jnp.sum(cdf <= u)
    last = jnp.max(jnp.where(probs > 0, jnp.arange(probs.shape[-1]), 0))
    return jnp.minimum(a, last).astype(jnp.int32)


def random_argmax(key: jax.Array, q: ArrayLike) -> jax.Array:
    """``argmax_a q(a)`` with ties broken uniformly at random; int32 ``[]``."""
    return sample(key, greedy_probs(q))


def epsilon_greedy(key: jax.Array, q: ArrayLike, epsilon: ArrayLike) -> jax.Array:
    """Sample an epsilon-greedy action (random tie-breaking); int32 ``[]``.

    Args:
        key: PRNG key, used once.
        q: action values, shape ``[A]``.
        epsilon: exploration probability in ``[0, 1]``.
    """
    return sample(key, epsilon_greedy_probs(q, epsilon))


def epsilon_greedy_uniform(u: ArrayLike, q: ArrayLike, epsilon: ArrayLike) -> jax.Array:
    """The epsilon-greedy action (random tie-breaking) that a uniform draw
    ``u`` in ``[0, 1)`` picks (:func:`sample_uniform`); int32 ``[]``."""
    return sample_uniform(u, epsilon_greedy_probs(q, epsilon))


def softmax(key: jax.Array, h: ArrayLike, temperature: ArrayLike = 1.0) -> jax.Array:
    """Sample from the soft-max of preferences ``h`` ``[A]``; int32 ``[]``."""
    return sample(key, softmax_probs(h, temperature))


def greedy_policy(q: ArrayLike) -> jax.Array:
    """Deterministic greedy policy of a table: ``pi(s) = argmax_a Q(s, a)``.

    Ties go to the lowest action index (deterministic extraction, for
    reporting and comparing policies; use :func:`random_argmax` to act).

    Args:
        q: action values, shape ``[S, A]``.

    Returns:
        Actions, int32, shape ``[S]``.
    """
    return jnp.argmax(jnp.asarray(q), axis=-1).astype(jnp.int32)


def uniform_policy(num_states: int, num_actions: int) -> jax.Array:
    """The uniform random policy ``pi[s, a] = 1 / A``, shape ``[S, A]``."""
    return jnp.full((num_states, num_actions), 1.0 / num_actions, jnp.float32)


def one_hot_policy(actions: ArrayLike, num_actions: int) -> jax.Array:
    """A deterministic policy ``[S]`` of actions as probabilities ``[S, A]``."""
    return jax.nn.one_hot(actions, num_actions, dtype=jnp.float32)
