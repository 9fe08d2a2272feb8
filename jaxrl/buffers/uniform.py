"""Uniform replay of transitions and of sequences, as pure function bundles.

::

    buffer = uniform(capacity=100_000, num_envs=8, batch_size=256, n_step=3)
    state = buffer.init(example_timestep)          # one env's Timestep
    state = buffer.add(state, timestep)            # leaves [num_envs, ...]
    batch = buffer.sample(key, state, gamma)       # Transition, [batch_size]
    buffer.can_sample(state)                       # bool array

Sampling is uniform with replacement over the transitions the store can
rebuild (Lin, 1992; Mnih et al., 2015): every environment and every slot
whose n-step window and frame stack lie inside the written part.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxrl.buffers import trajectory
from jaxrl.buffers.trajectory import Timestep, TrajectoryState


class Transition(NamedTuple):
    """A replayed (n-step) transition; leaves ``[B, ...]``.

    With ``m <= n`` the steps until the episode ended (or ``n``):

    Attributes:
        obs: ``s_t`` (a frame stack, rebuilt, with ``frame_stack > 1``).
        action: ``a_t``.
        reward: ``sum_{k<m} gamma^k r_{t+k+1}``.
        discount: ``gamma^m``, 0 where the episode terminated within the
            window (a truncation bootstraps).
        next_obs: ``s_{t+m}``, the observation the m-th step reached (the
            final observation at an episode end, never a reset one).
        valid: bool, False where ``s_t``'s step is to teach nothing
            (EnvPool's delayed reset); ``None`` when every step is real.
        extras: the agent's extras at ``t`` (or ``None``).
    """

    obs: Any
    action: Any
    reward: jax.Array
    discount: jax.Array
    next_obs: Any
    valid: Any = None
    extras: Any = None


class Sequence(NamedTuple):
    """Windows of consecutive slots of one environment; leaves ``[B, L, ...]``.

    Slot ``j`` holds what the loop added at that step: ``obs`` (``s_t``,
    stacked with ``frame_stack > 1``), ``action`` ``a_t``, ``reward``
    ``r_{t+1}`` and the flags of the step from ``s_t``. A window may span
    episodes: ``is_first`` marks where one starts.

    Attributes:
        is_first: ``s_t`` is an episode's first observation.
        is_last: the step from ``s_t`` ended the episode (terminated or
            truncated).
        is_terminal: the step from ``s_t`` terminated it.
    """

    obs: Any
    action: Any
    reward: jax.Array
    is_first: jax.Array
    is_last: jax.Array
    is_terminal: jax.Array
    valid: Any = None
    final_obs: Any = None
    extras: Any = None


class Buffer(NamedTuple):
    """A replay buffer as pure functions.

    Attributes:
        init: ``(example: Timestep) -> state``; ``example`` is one
            environment's step (no env axis).
        add: ``(state, Timestep [num_envs, ...]) -> state``.
        sample: ``(key, state, gamma) -> batch``, ``[batch_size, ...]``
            (``gamma`` is unused by sequence buffers).
        can_sample: ``state -> bool array``: something can be sampled (with
            replacement; how much data is enough to learn from is the loop's
            ``learning_starts``).
        min_steps: steps (per environment) after which ``can_sample`` holds.
    """

    init: Callable[[Timestep], TrajectoryState]
    add: Callable[[TrajectoryState, Timestep], TrajectoryState]
    sample: Callable[..., Any]
    can_sample: Callable[[TrajectoryState], jax.Array]
    min_steps: int


def _check(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name}={value!r} must be an integer >= {low}")
    return value


def _ring(capacity: int, num_envs: int) -> int:
    _check("capacity", capacity, 1)
    _check("num_envs", num_envs, 1)
    if capacity % num_envs:
        raise ValueError(
            f"capacity={capacity} must be a multiple of num_envs={num_envs} "
            f"(each environment holds capacity / num_envs steps), e.g. "
            f"{capacity - capacity % num_envs or num_envs}"
        )
    return capacity // num_envs


def _store(num_envs: int, time: int, k: int, axis: int, min_steps: int):
    """``(init, add, can_sample)`` of a store of ``[num_envs, time]`` slots."""

    def init(example: Timestep) -> TrajectoryState:
        return trajectory.init(example, num_envs, time, k, axis)

    def add(state: TrajectoryState, step: Timestep) -> TrajectoryState:
        return trajectory.add(state, step, k, axis)

    def can_sample(state: TrajectoryState) -> jax.Array:
        return state.size >= min_steps

    return init, add, can_sample


def _ages(key, state, batch, low, high, num_envs):
    """``batch`` (env, slot) pairs, uniform over envs and ages in [low, high]."""
    env_key, age_key = jax.random.split(key)
    env = jax.random.randint(env_key, (batch,), 0, num_envs, dtype=jnp.int32)
    age = jax.random.randint(
        age_key, (batch,), low, jnp.maximum(high + 1, low + 1), dtype=jnp.int32
    )
    return env, trajectory.slot(state, age)


def uniform(
    capacity: int,
    num_envs: int,
    batch_size: int,
    *,
    n_step: int = 1,
    frame_stack: int = 1,
    stack_axis: int = 0,
) -> Buffer:
    """Uniform replay of n-step transitions over an env-major store.

    Args:
        capacity: steps held in all, a multiple of ``num_envs``.
        num_envs: environments adding a step each per ``add``.
        batch_size: transitions per ``sample``.
        n_step: steps summed into the return (1: one-step TD targets).
        frame_stack: frames per observation; only the newest of each is
            stored (84x84 uint8 Atari frames with 4 stacked: about 7 KB a
            transition instead of 56 KB for ``obs`` and ``next_obs`` whole).
        stack_axis: the stack axis of one observation (0 for EnvPool's
            ``[K, H, W]``).
    """
    time = _ring(capacity, num_envs)
    _check("batch_size", batch_size, 1)
    n = _check("n_step", n_step, 1)
    k = _check("frame_stack", frame_stack, 1)
    # a slot is sampleable when n newer slots exist and its stack is held
    min_steps = n + k
    if min_steps > time:
        raise ValueError(
            f"capacity={capacity} holds {time} steps per environment; a "
            f"transition with n_step={n} and frame_stack={k} needs {min_steps}"
        )

    init, add, can_sample = _store(num_envs, time, k, stack_axis, min_steps)

    def obs_at(state, env, t):
        return trajectory.stacks(state, env, t, k, stack_axis)

    def sample(key: jax.Array, state: TrajectoryState, gamma: Any) -> Transition:
        d = state.data
        env, t = _ages(key, state, batch_size, n, state.size - k, num_envs)
        gamma = jnp.asarray(gamma, jnp.float32)
        same_step = "final_obs" in d
        reward = jnp.zeros((batch_size,), jnp.float32)
        scale = jnp.ones((batch_size,), jnp.float32)
        alive = jnp.ones((batch_size,), bool)  # no end in the window yet
        terminal = jnp.zeros((batch_size,), bool)
        end_at = jnp.full((batch_size,), n, jnp.int32)  # m
        for j in range(n):  # static and short: unrolled
            tj = (t + j) % time
            reward = reward + jnp.where(alive, scale * d["reward"][env, tj], 0.0)
            scale = jnp.where(alive, scale * gamma, scale)
            ended = d["terminated"][env, tj] | d["truncated"][env, tj]
            now = alive & ended
            terminal = terminal | (now & d["terminated"][env, tj])
            end_at = jnp.where(now, j + 1, end_at)
            alive = alive & ~ended
        t_next = (t + end_at) % time
        next_obs = obs_at(state, env, t_next)
        if same_step:
            # the final observation of an episode that ended in the window
            last = (t + end_at - 1) % time
            final = d["final_obs"][env, last]
            next_obs = jnp.where(_lead(~alive, final.ndim), final, next_obs)
        return Transition(
            obs=obs_at(state, env, t),
            action=d["action"][env, t],
            reward=reward,
            discount=jnp.where(terminal, 0.0, scale),
            next_obs=next_obs,
            valid=d["valid"][env, t] if "valid" in d else None,
            extras=jax.tree.map(lambda x: x[env, t], d["extras"])
            if "extras" in d
            else None,
        )

    return Buffer(init, add, sample, can_sample, min_steps)


def sequences(
    capacity: int,
    num_envs: int,
    batch_size: int,
    length: int,
    *,
    frame_stack: int = 1,
    stack_axis: int = 0,
) -> Buffer:
    """Uniform replay of ``[batch_size, length]`` windows (recurrent agents,
    world models), each inside one environment's written slots."""
    time = _ring(capacity, num_envs)
    _check("batch_size", batch_size, 1)
    length = _check("length", length, 1)
    k = _check("frame_stack", frame_stack, 1)
    min_steps = length + k - 1
    if min_steps > time:
        raise ValueError(
            f"capacity={capacity} holds {time} steps per environment; a sequence "
            f"of length {length} with frame_stack={k} needs {min_steps}"
        )

    init, add, can_sample = _store(num_envs, time, k, stack_axis, min_steps)

    def sample(key: jax.Array, state: TrajectoryState, gamma: Any = None) -> Sequence:
        del gamma
        d = state.data
        # the window's oldest slot: its stack and all `length` slots are held
        env, t0 = _ages(key, state, batch_size, length - 1, state.size - k, num_envs)
        idx = (t0[:, None] + jnp.arange(length)[None, :]) % time  # [B, L]
        flat_env = jnp.repeat(env, length)
        obs = trajectory.stacks(state, flat_env, idx.reshape(-1), k, stack_axis)
        obs = obs.reshape((batch_size, length) + obs.shape[1:])

        def take(x):
            return x[env[:, None], idx]

        return Sequence(
            obs=obs,
            action=take(d["action"]),
            reward=take(d["reward"]),
            is_first=take(d["is_first"]),
            is_last=take(d["terminated"] | d["truncated"]),
            is_terminal=take(d["terminated"]),
            valid=take(d["valid"]) if "valid" in d else None,
            final_obs=jax.tree.map(take, d["final_obs"]) if "final_obs" in d else None,
            extras=jax.tree.map(take, d["extras"]) if "extras" in d else None,
        )

    return Buffer(init, add, sample, can_sample, min_steps)


def _lead(mask: jax.Array, ndim: int) -> jax.Array:
    """``mask [B]`` reshaped to broadcast against a ``[B, ...]`` array."""
    return mask.reshape(mask.shape + (1,) * (ndim - 1))
