"""Tests for jaxrl.buffers.replay: the uniform circular replay buffer."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from compiles import count_compilations

from jaxrl.buffers import replay


class Transition(NamedTuple):
    obs: jax.Array
    action: jax.Array
    reward: jax.Array


EXAMPLE = Transition(
    obs=jnp.zeros((2,), jnp.float32),
    action=jnp.zeros((), jnp.int32),
    reward=jnp.zeros((), jnp.float32),
)


def batch(ids):
    """Transitions whose fields all encode an id, so slots are easy to read."""
    ids = jnp.asarray(ids)
    return Transition(
        obs=jnp.stack([ids, -ids], axis=-1).astype(jnp.float32),
        action=ids.astype(jnp.int32),
        reward=ids.astype(jnp.float32) / 10,
    )


def test_init_allocates_once():
    state = replay.init(EXAMPLE, 5)
    assert state.data.obs.shape == (5, 2) and state.data.obs.dtype == jnp.float32
    assert state.data.action.shape == (5,) and state.data.action.dtype == jnp.int32
    assert int(state.size) == 0 and int(state.insert_pos) == 0
    assert state.capacity == 5
    with pytest.raises(ValueError, match="capacity"):
        replay.init(EXAMPLE, 0)


def test_add_wraps_around():
    # Capacity 5: add ids 1, 2, 3 -> slots 0-2; add 4, 5, 6 -> slots 3, 4, 0.
    # Memory then holds [6, 2, 3, 4, 5], size 5 (full), next write at slot 1.
    state = replay.init(EXAMPLE, 5)
    add = jax.jit(replay.add)
    first, second, whole = batch([1, 2, 3]), batch([4, 5, 6]), batch([7, 8, 9, 10, 11])
    with count_compilations() as compiles:
        state = add(state, first)
    assert compiles() == 1
    assert int(state.size) == 3 and int(state.insert_pos) == 3
    with count_compilations() as compiles:
        state = add(state, second)  # same shapes: no recompilation
    assert compiles() == 0
    np.testing.assert_array_equal(state.data.action, [6, 2, 3, 4, 5])
    np.testing.assert_allclose(state.data.obs[:, 1], [-6, -2, -3, -4, -5])
    assert int(state.size) == 5 and int(state.insert_pos) == 1
    # A batch as large as the buffer replaces everything.
    with count_compilations() as compiles:
        state = add(state, whole)
    assert compiles() == 1  # a new batch size compiles once
    np.testing.assert_array_equal(state.data.action, [11, 7, 8, 9, 10])


def test_add_bad_input():
    state = replay.init(EXAMPLE, 2)
    with pytest.raises(ValueError, match="capacity"):
        replay.add(state, batch([1, 2, 3]))
    wrong = batch([1])._replace(obs=jnp.zeros((1, 3)))
    with pytest.raises(ValueError, match="does not match"):
        replay.add(state, wrong)


def test_sample_uniform_over_filled_part():
    state = replay.add(replay.init(EXAMPLE, 100), batch([1, 2, 3, 4]))
    assert bool(replay.can_sample(state, 4)) and not bool(replay.can_sample(state, 5))
    out = jax.jit(replay.sample, static_argnums=2)(jax.random.key(0), state, 4000)
    ids = np.asarray(out.action)
    assert set(ids) == {1, 2, 3, 4}  # never an empty (zero) slot
    # Fields of one sample stay together.
    np.testing.assert_allclose(out.obs[:, 0], ids)
    np.testing.assert_allclose(out.reward, ids / 10, rtol=1e-6)
    # Roughly uniform: each id 1000 +- 4 sigma (sigma = sqrt(4000 * .25 * .75) ~ 27).
    counts = np.bincount(ids, minlength=5)[1:]
    assert np.all(np.abs(counts - 1000) < 110)


def test_vmap_over_seeds_matches_loop():
    # One buffer per seed, each filled with different data and sampled with its key.
    seeds = 3

    def run(key, offset):
        state = replay.init(EXAMPLE, 4)
        state = replay.add(state, batch(offset + jnp.arange(3)))
        state = replay.add(state, batch(offset + 10 + jnp.arange(2)))
        return state, replay.sample(key, state, 6), replay.can_sample(state, 4)

    keys = jax.random.split(jax.random.key(1), seeds)
    offsets = jnp.arange(seeds) * 100
    states, samples, ok = jax.jit(jax.vmap(run))(keys, offsets)
    run_one = jax.jit(run)
    assert states.data.obs.shape == (seeds, 4, 2)
    assert np.all(np.asarray(ok))
    for i in range(seeds):
        state_i, sample_i, _ = run_one(keys[i], offsets[i])
        np.testing.assert_array_equal(states.data.action[i], state_i.data.action)
        np.testing.assert_array_equal(samples.action[i], sample_i.action)
        np.testing.assert_array_equal(states.size[i], state_i.size)
    # Seed 0: ids 0, 1, 2 go to slots 0-2, then 10 to slot 3 and 11 wraps to slot 0.
    np.testing.assert_array_equal(states.data.action[0], [11, 1, 2, 10])


def test_sample_inside_cond_guarded_by_can_sample():
    def maybe_sample(state, key):
        return jax.lax.cond(
            replay.can_sample(state, 2),
            lambda: jnp.sum(replay.sample(key, state, 2).reward),
            lambda: jnp.array(-1.0),
        )

    f = jax.jit(maybe_sample)
    empty = replay.init(EXAMPLE, 3)
    assert float(f(empty, jax.random.key(0))) == -1.0
    full = replay.add(empty, batch([1, 1]))
    np.testing.assert_allclose(f(full, jax.random.key(0)), 0.2, rtol=1e-6)
