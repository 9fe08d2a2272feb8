"""Pieces every deep agent shares: episode bookkeeping and greedy evaluation."""

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
        the next episode: it does not count towards its length. Where the
        step carries ``score`` and ``game_over`` (Atari), the return is the
        game score: the unclipped rewards summed until the game is over,
        across lives."""
        reward = step.reward if step.score is None else step.score
        running = self.running + reward
        length = self.length + step.valid.astype(jnp.int32)
        if step.game_over is None:
            done = step.terminated | step.truncated
        else:
            done = step.game_over
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
    act: Callable[[jax.Array, Any, Any], tuple[jax.Array, Any]],
    env: Any,
    env_params: Any,
    num_episodes: int,
    max_steps: int | None = None,
    actor_state: Any = (),
) -> jax.Array:
    """Mean undiscounted return of ``num_episodes`` episodes run in parallel.

    Args:
        key: PRNG key.
        act: ``(key, actor_state, obs[num_episodes, ...]) -> (actions,
            actor_state)``; pass the greedy or deterministic policy for a
            greedy evaluation.
        env, env_params: a gymnax environment, separate from the training batch.
        num_episodes: episodes, one per parallel environment.
        max_steps: step cap (default ``env_params.max_steps_in_episode``).
        actor_state: the state every episode starts from (``()`` for a
            feed-forward policy); each parallel environment runs one episode,
            so it is never reset.

    Returns:
        The mean return, shape ``[]``. Each episode counts its rewards up to its
        first termination or truncation.
    """
    vec = VecEnv(env, env_params, num_episodes)
    max_steps = int(max_steps or env_params.max_steps_in_episode)
    reset_key, key = jax.random.split(key)
    obs, state = vec.reset(reset_key)

    def body(carry, _):
        key, obs, state, actor_state, total, alive = carry
        key, act_key, step_key = jax.random.split(key, 3)
        action, actor_state = act(act_key, actor_state, obs)
        step = vec.step(step_key, state, action)
        total = total + jnp.where(alive, step.reward, 0.0)
        alive = alive & ~(step.terminated | step.truncated)
        return (key, step.obs, step.state, actor_state, total, alive), None

    zeros, ones = jnp.zeros(num_episodes), jnp.ones(num_episodes, bool)
    carry = (key, obs, state, actor_state, zeros, ones)
    (*_, total, _), _ = jax.lax.scan(body, carry, None, length=max_steps)
    return total.mean()
