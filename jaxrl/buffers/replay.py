"""Uniform circular replay buffer as pure functions.

::

    state = init(example_transition, capacity)   # allocates [capacity, ...] once
    state = add(state, transitions)              # transitions: [B, ...]
    batch = sample(key, state, batch_size)       # [batch_size, ...]

A transition is any pytree of arrays (e.g. a ``NamedTuple`` of ``obs, action,
reward, ...``). Every function is pure, jit-able and vmap-able: vmap over
seeds gives one independent buffer per seed. Sampling is uniform with
replacement over the filled part (Lin, 1992; Mnih et al., 2015).
"""

from typing import Any

import chex
import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class BufferState:
    """A circular buffer's memory and cursor.

    Attributes:
        data: the transition pytree with a leading ``[capacity]`` axis.
        insert_pos: where the next transition goes, in ``[0, capacity)``.
        size: how many slots are filled, in ``[0, capacity]``.
        capacity: the number of slots (static).
    """

    data: Any
    insert_pos: jax.Array
    size: jax.Array
    capacity: int = struct.field(pytree_node=False)


def init(example_transition: Any, capacity: int) -> BufferState:
    """An empty buffer with room for ``capacity`` transitions.

    Args:
        example_transition: one transition (no batch axis); only its
            structure, shapes and dtypes are used.
        capacity: number of slots, a Python int ``>= 1``.
    """
    if not isinstance(capacity, int) or capacity < 1:
        raise ValueError(f"capacity must be a Python int >= 1, got {capacity!r}")
    data = jax.tree.map(
        lambda x: jnp.zeros((capacity,) + jnp.shape(x), jnp.asarray(x).dtype),
        example_transition,
    )
    zero = jnp.zeros((), jnp.int32)
    return BufferState(data=data, insert_pos=zero, size=zero, capacity=capacity)


def add(state: BufferState, transitions: Any) -> BufferState:
    """Write a batch of ``B`` transitions, overwriting the oldest when full.

    Slots ``insert_pos, insert_pos + 1, ..., insert_pos + B - 1`` (mod
    capacity) are written in one scatter.

    Args:
        state: the buffer.
        transitions: the transition pytree with a leading ``[B]`` axis,
            ``1 <= B <= capacity``.
    """
    leaves = jax.tree.leaves(transitions)
    if not leaves:
        raise ValueError("transitions is an empty pytree")
    chex.assert_equal_shape_prefix(leaves, 1)
    batch = leaves[0].shape[0]
    if batch > state.capacity:
        raise ValueError(
            f"cannot add {batch} transitions at once to a buffer of capacity "
            f"{state.capacity}"
        )
    chex.assert_trees_all_equal_structs(state.data, transitions)
    idx = (state.insert_pos + jnp.arange(batch, dtype=jnp.int32)) % state.capacity

    def write(buf, x):
        if buf.shape[1:] != x.shape[1:]:
            raise ValueError(
                f"transition shape {x.shape[1:]} does not match the buffer's "
                f"{buf.shape[1:]}"
            )
        return buf.at[idx].set(x.astype(buf.dtype), unique_indices=True)

    data = jax.tree.map(write, state.data, transitions)
    return state.replace(
        data=data,
        insert_pos=(state.insert_pos + batch) % state.capacity,
        size=jnp.minimum(state.size + batch, state.capacity),
    )


def can_sample(state: BufferState, batch_size: int) -> jax.Array:
    """Whether at least ``batch_size`` transitions are stored (a bool array)."""
    return state.size >= batch_size


def sample(key: jax.Array, state: BufferState, batch_size: int) -> Any:
    """``batch_size`` transitions drawn uniformly, with replacement.

    Indices are uniform over the filled slots ``[0, size)``. On an empty
    buffer it returns slot 0 (zeros); guard with :func:`can_sample`, e.g. in
    ``jax.lax.cond``.

    Args:
        state: the buffer.
        key: PRNG key.
        batch_size: a Python int.

    Returns:
        the transition pytree with a leading ``[batch_size]`` axis.
    """
    idx = jax.random.randint(
        key, (batch_size,), 0, jnp.maximum(state.size, 1), dtype=jnp.int32
    )
    return jax.tree.map(lambda buf: buf[idx], state.data)
