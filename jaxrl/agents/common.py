"""Pieces every deep agent shares: episode bookkeeping and greedy evaluation."""

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from envs.vector import VecEnv, VecStep


@struct.dataclass
class EpisodeStats:
    """Running undiscounted returns of the ``num_envs`` episodes in progress.

    ``track`` folds in one batched step and returns the sum and count of the
    returns of episodes that ended at it, so a loop can report the mean return
    of the episodes completed during an iteration without storing per-step data.
    """

    running: jax.Array  # [num_envs]
    length: jax.Array  # [num_envs]

    @classmethod
    def zeros(cls, num_envs: int) -> "EpisodeStats":
        return cls(jnp.zeros(num_envs, jnp.float32), jnp.zeros(num_envs, jnp.int32))

    def track(self, step: VecStep) -> tuple["EpisodeStats", jax.Array, jax.Array]:
        """Returns ``(stats, sum of finished returns, number finished)``.

        A step with ``valid = False`` (EnvPool's delayed reset) is no step of
        the next episode: it does not count towards its length."""
        running = self.running + step.reward
        length = self.length + step.valid.astype(jnp.int32)
        done = step.terminated | step.truncated
        finished = jnp.sum(jnp.where(done, running, 0.0))
        count = jnp.sum(done)
        stats = EpisodeStats(
            running=jnp.where(done, 0.0, running), length=jnp.where(done, 0, length)
        )
        return stats, finished, count


def masked_mean(x: jax.Array, valid: jax.Array | None = None) -> jax.Array:
    """``mean(x)`` over the samples where ``valid`` holds.

    ``sum_i w_i x_i / max(sum_i w_i, 1)`` with ``w = valid`` (bool ``[B]``,
    broadcast against ``x``'s leading axis); ``valid=None`` is ``x.mean()``,
    so a batch without invalid samples (every gymnax batch) computes exactly
    the plain mean. Invalid samples get zero weight and zero gradient.
    """
    x = jnp.asarray(x)
    if valid is None:
        return x.mean()
    w = jnp.asarray(valid, bool).reshape(valid.shape + (1,) * (x.ndim - valid.ndim))
    n = jnp.maximum(jnp.sum(jnp.broadcast_to(w, x.shape)), 1).astype(x.dtype)
    return jnp.sum(jnp.where(w, x, jnp.zeros_like(x))) / n


def mean_or_nan(total: jax.Array, count: jax.Array) -> jax.Array:
    """``total / count``, NaN when ``count`` is 0 (no episode finished)."""
    return jnp.where(count > 0, total / jnp.maximum(count, 1), jnp.nan)


def evaluate(
    key: jax.Array,
    act: Callable[[jax.Array, Any], jax.Array],
    env: Any,
    env_params: Any,
    num_episodes: int,
    max_steps: int | None = None,
) -> jax.Array:
    """Mean undiscounted return of ``num_episodes`` episodes run in parallel.

    Args:
        key: PRNG key.
        act: ``(key, obs[num_episodes, ...]) -> actions``; pass the greedy or
            deterministic policy for a greedy evaluation.
        env, env_params: a gymnax environment, separate from the training batch.
        num_episodes: episodes, one per parallel environment.
        max_steps: step cap (default ``env_params.max_steps_in_episode``).

    Returns:
        The mean return, shape ``[]``. Each episode counts its rewards up to its
        first termination or truncation.
    """
    vec = VecEnv(env, env_params, num_episodes)
    max_steps = int(max_steps or env_params.max_steps_in_episode)
    reset_key, key = jax.random.split(key)
    obs, state = vec.reset(reset_key)

    def body(carry, _):
        key, obs, state, total, alive = carry
        key, act_key, step_key = jax.random.split(key, 3)
        step = vec.step(step_key, state, act(act_key, obs))
        total = total + jnp.where(alive, step.reward, 0.0)
        alive = alive & ~(step.terminated | step.truncated)
        return (key, step.obs, step.state, total, alive), None

    carry = (key, obs, state, jnp.zeros(num_episodes), jnp.ones(num_episodes, bool))
    (_, _, _, total, _), _ = jax.lax.scan(body, carry, None, length=max_steps)
    return total.mean()


def _tie(running: jax.Array, x: Any) -> Any:
    """``x`` (``running`` is True where this is used), written so that it
    depends on the loop-variant ``running``: ``where(running, x, x + 1)``."""
    x = jnp.asarray(x) if not isinstance(x, jax.Array) else x
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        impl = jax.random.key_impl(x)
        data = _tie(running, jax.random.key_data(x))
        return jax.random.wrap_key_data(data, impl=impl)
    other = ~x if x.dtype == bool else x + jnp.ones((), x.dtype)
    return jnp.where(running, x, other)


def lazy_cond(
    pred: jax.Array,
    true_fn: Callable[..., Any],
    false_fn: Callable[..., Any],
    *operands: Any,
) -> Any:
    """``lax.cond(pred, true_fn, false_fn, *operands)`` that stays lazy under vmap.

    Under ``jax.vmap`` a ``lax.cond`` whose predicate is batched becomes a
    ``select`` that evaluates both branches for every element. Written as a
    ``lax.while_loop`` of at most one trip, ``true_fn`` runs only when the
    predicate holds for at least one element (a batched ``while_loop`` runs
    while any element's condition holds) and each element keeps its own
    branch's result. The loops' predicates (learning has started, an
    evaluation iteration) are the same for every seed, so a vmapped run
    skips the work exactly as an unbatched one does. ``false_fn`` is always
    evaluated: keep it cheap. Not reverse-mode differentiable.

    ``true_fn`` must depend on the loop only through ``operands`` (pass PRNG
    keys as operands, not by closure): inside the loop every operand leaf is
    rewritten as ``where(running, x, x + 1)``, the same value but one that
    depends on the loop's variant predicate. Otherwise XLA's loop-invariant
    code motion may hoist the branch, a function of values defined outside
    the loop, out of the batched loop and compute it every time (measured: a
    10-episode CartPole evaluation in every iteration, 20x slower; an
    ``optimization_barrier`` does not survive to that pass on CPU).

    Both branches must return the same structure, shapes and dtypes.
    """

    def body(carry):
        running, _ = carry
        inputs = jax.tree.map(functools.partial(_tie, running), operands)
        return jnp.zeros((), bool), true_fn(*inputs)

    init = (jnp.asarray(pred, bool), false_fn(*operands))
    _, out = jax.lax.while_loop(lambda carry: carry[0], body, init)
    return out
