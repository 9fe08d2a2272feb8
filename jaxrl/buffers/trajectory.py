"""Env-major replay: every environment's steps in order, each frame stored once.

A loop adds one :class:`Timestep` of every environment per step; the store
keeps them as ``[num_envs, time]`` rings (flashbax's trajectory buffer is the
model). What a learner replays is rebuilt from neighbouring slots at sample
time:

- the next observation of slot ``t`` is the observation of slot ``t + 1``
  (or the stored ``final_obs`` where a same-step auto-reset put the reset
  observation there, see :class:`Timestep`);
- an n-step return runs over slots ``t, ..., t + m - 1`` up to the episode's
  end (Sutton & Barto, 2018, section 7.1);
- with ``frame_stack=K`` only the newest frame of each stacked observation
  is stored, and the stack of slot ``t`` is frames ``t - K + 1, ..., t``,
  each clamped to the episode's first slot (the reset frame repeated, as
  EnvPool and gym's ``FrameStack`` build it);
- sequences ``[batch, length]`` are windows of consecutive slots of one
  environment, with ``is_first``/``is_last``/``is_terminal`` flags.

Nothing is read across the write cursor: a sample uses only slots written
after the oldest one still held and before the newest.

Two conventions for what follows an episode's end are supported:

- **delayed reset** (EnvPool): the step after an end ignores the action, is
  marked ``valid=False`` and returns the reset observation; the final
  observation has its own slot. ``final_obs`` is ``None``.
- **same-step reset** (gymnax): the step that ends an episode returns the
  reset observation; the final one comes in ``final_obs`` and is stored too
  (one more observation per slot; frame stacks are not supported here).

Functions are pure, jit-able and vmap-able (one buffer per seed).
"""

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct


class Timestep(NamedTuple):
    """One step of every environment, as a loop adds it (leaves ``[num_envs, ...]``).

    Attributes:
        obs: ``s_t``, the observation acted on; with ``frame_stack=K`` the
            whole stack (only its newest frame is stored).
        action: ``a_t``.
        reward: ``r_{t+1}``, float32.
        terminated: the step from ``s_t`` ended the episode by termination.
        truncated: the step from ``s_t`` cut the episode (a time limit).
        valid: bool, False for a step to learn nothing from (EnvPool's
            delayed reset); ``None`` when every step is real.
        final_obs: ``s_{t+1}`` as the step reached it, for an environment
            batch that resets in the same step (gymnax); ``None`` when the
            next slot holds it (EnvPool).
        extras: anything else the agent keeps per step (log-probs, values,
            recurrent state); ``None`` for nothing.
    """

    obs: Any
    action: Any
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    valid: Any = None
    final_obs: Any = None
    extras: Any = None


@struct.dataclass
class TrajectoryState:
    """The rings and their cursor.

    Attributes:
        data: the stored :class:`Timestep` (``obs`` as single frames with
            ``frame_stack > 1``) plus ``is_first``, leaves ``[num_envs, time,
            ...]``.
        pos: the slot the next step goes to, in ``[0, time)``.
        size: slots written per environment, in ``[0, time]``.
        prev_end: per environment, whether its last step ended an episode
            (so the next observation is an episode's first).
    """

    data: Any
    pos: jax.Array
    size: jax.Array
    prev_end: jax.Array

    @property
    def time(self) -> int:
        """Slots per environment (static)."""
        return self.data["is_first"].shape[-1]


def nbytes(state: Any) -> int:
    """Bytes held by a buffer state's arrays (any pytree of arrays)."""
    leaves = jax.tree.leaves(state)  # arrays, or shapes from jax.eval_shape
    return int(sum(math.prod(x.shape) * x.dtype.itemsize for x in leaves))


def _newest(x: jax.Array, axis: int) -> jax.Array:
    return jnp.take(x, x.shape[axis] - 1, axis=axis)


def init(
    example: Timestep, num_envs: int, time: int, frame_stack: int = 1, axis: int = 0
) -> TrajectoryState:
    """An empty store of ``time`` slots for each of ``num_envs`` environments.

    Args:
        example: one environment's :class:`Timestep` (no env axis): only its
            structure, shapes and dtypes are used.
        num_envs, time: ring shape.
        frame_stack: frames per stacked observation (1: observations are
            stored whole).
        axis: the stack axis of ``obs`` (0 for EnvPool's ``[K, H, W]``).
    """
    if frame_stack > 1 and example.final_obs is not None:
        raise ValueError(
            "frame_stack > 1 needs the delayed-reset convention (final_obs=None): "
            "a same-step reset leaves no slot for the final frames"
        )
    stored = example._replace(
        obs=_newest(example.obs, axis) if frame_stack > 1 else example.obs
    )
    record = dict(stored._asdict(), is_first=jnp.zeros((), bool))
    record = {k: v for k, v in record.items() if v is not None}
    data = jax.tree.map(
        lambda x: jnp.zeros((num_envs, time) + jnp.shape(x), jnp.asarray(x).dtype),
        record,
    )
    zero = jnp.zeros((), jnp.int32)
    return TrajectoryState(
        data=data, pos=zero, size=zero, prev_end=jnp.ones((num_envs,), bool)
    )


def add(
    state: TrajectoryState, step: Timestep, frame_stack: int = 1, axis: int = 0
) -> TrajectoryState:
    """Write one :class:`Timestep` of every environment at the cursor."""
    if step.final_obs is None and step.valid is None:
        raise ValueError(
            "a timestep needs valid (delayed reset: EnvPool) or final_obs "
            "(same-step reset: gymnax) to say where episodes start"
        )
    obs = step.obs
    if frame_stack > 1:
        # the env axis comes first: the stack axis of one env's obs moves by 1
        obs = _newest(obs, axis + 1 if axis >= 0 else axis)
    record = dict(step._replace(obs=obs)._asdict(), is_first=state.prev_end)
    record = {k: v for k, v in record.items() if v is not None}
    if record.keys() != state.data.keys():
        raise ValueError(
            f"timestep fields {sorted(record)} do not match the buffer's "
            f"{sorted(state.data)}"
        )
    data = jax.tree.map(
        lambda buf, x: buf.at[:, state.pos].set(x.astype(buf.dtype)),
        state.data,
        record,
    )
    if step.final_obs is None:
        # after an end comes the final observation's (invalid) slot, then
        # the reset observation: the first of the next episode
        end = ~step.valid
    else:
        end = step.terminated | step.truncated
    return state.replace(
        data=data,
        pos=(state.pos + 1) % state.time,
        size=jnp.minimum(state.size + 1, state.time),
        prev_end=end,
    )


def slot(state: TrajectoryState, age: jax.Array) -> jax.Array:
    """The ring index of the slot written ``age`` steps before the newest."""
    return (state.pos - 1 - age) % state.time


def stacks(
    state: TrajectoryState, env: jax.Array, t: jax.Array, k: int, axis: int = 0
) -> jax.Array:
    """The ``k``-frame stacks of slots ``t`` of environments ``env`` ([B]).

    Frame ``j`` back is slot ``t - j``, or the episode's first slot if that
    is later; the stack is ordered oldest to newest along ``axis``."""
    frames = state.data["obs"]
    if k == 1:
        return frames[env, t]
    back = jnp.arange(k)  # 0 = newest
    idx = (t[:, None] - back[None, :]) % state.time  # [B, k]
    first = state.data["is_first"][env[:, None], idx]  # [B, k]
    # the nearest episode start at or before t within the window, as a lag
    lag = jnp.where(first, back[None, :], k)
    start = jnp.min(lag, axis=1, keepdims=True)  # k: no start in the window
    clamped = (t[:, None] - jnp.minimum(back[None, :], start)) % state.time
    stack = frames[env[:, None], clamped[:, ::-1]]  # [B, k, ...] oldest first
    return jnp.moveaxis(stack, 1, axis + 1 if axis >= 0 else axis)
