"""jaxrl.buffers.uniform: what the env-major store rebuilds equals what a naive
buffer of whole transitions holds, on random episodes with random ends."""

import collections

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.buffers import Timestep, nbytes, sequences, uniform

K, FRAME = 4, (3, 2)  # stack depth, frame shape (tiny; [K, H, W] as EnvPool)


class DelayedResetEnvs:
    """``num_envs`` envs with EnvPool's conventions: stacked uint8 frames
    (the reset frame repeated), and after an episode's end one invalid step
    that ignores the action and returns the reset observation."""

    def __init__(self, num_envs, seed, p_term=0.08, p_trunc=0.04):
        self.rng = np.random.default_rng(seed)
        self.n, self.p_term, self.p_trunc = num_envs, p_term, p_trunc
        self.stacks = [self._reset() for _ in range(num_envs)]
        self.pending = [False] * num_envs  # the next step is the reset one

    def _frame(self):
        return self.rng.integers(0, 256, FRAME, dtype=np.uint8)

    def _reset(self):
        return collections.deque([self._frame()] * K, maxlen=K)

    def obs(self):
        return np.stack([np.stack(s) for s in self.stacks])

    def step(self):
        """Returns (reward, terminated, truncated, valid) per env and moves on."""
        out = []
        for e in range(self.n):
            if self.pending[e]:
                self.stacks[e] = self._reset()
                self.pending[e] = False
                out.append((0.0, False, False, False))
                continue
            self.stacks[e].append(self._frame())
            term = self.rng.random() < self.p_term
            trunc = not term and self.rng.random() < self.p_trunc
            self.pending[e] = term or trunc
            out.append((float(self.rng.normal()), term, trunc, True))
        return [np.array(x) for x in zip(*out, strict=True)]


def fill_delayed(num_envs, steps, seed):
    """Add ``steps`` steps to a store; also return the naive record per id:
    ``id -> (obs stack, next obs stack, reward, terminated, truncated, valid)``.
    Action ``id = step * num_envs + env`` names each stored step."""
    envs = DelayedResetEnvs(num_envs, seed)
    log = {}
    steps_of = [[] for _ in range(num_envs)]
    history = []
    for t in range(steps):
        obs = envs.obs()
        reward, term, trunc, valid = envs.step()
        ids = t * num_envs + np.arange(num_envs)
        history.append(
            Timestep(
                obs=jnp.asarray(obs),
                action=jnp.asarray(ids, jnp.int32),
                reward=jnp.asarray(reward, jnp.float32),
                terminated=jnp.asarray(term),
                truncated=jnp.asarray(trunc),
                valid=jnp.asarray(valid),
            )
        )
        for e in range(num_envs):
            log[int(ids[e])] = [obs[e], None, reward[e], term[e], trunc[e], valid[e]]
            steps_of[e].append(int(ids[e]))
    next_obs = envs.obs()
    for e in range(num_envs):  # the next observation, as the env returned it
        ids = steps_of[e]
        for i, j in zip(ids, ids[1:] + [None], strict=True):
            log[i][1] = log[j][0] if j is not None else next_obs[e]
    return history, log, steps_of


def naive_n_step(log, steps_of, env, i, n, gamma):
    """The n-step target by a plain loop over the naive records."""
    ids = steps_of[env]
    at = ids.index(i)
    reward, scale, terminal = np.float32(0.0), np.float32(1.0), False
    last = i
    for k in range(n):
        j = ids[at + k]
        reward = reward + scale * np.float32(log[j][2])
        scale = scale * np.float32(gamma)
        last = j
        if log[j][3] or log[j][4]:
            terminal = bool(log[j][3])
            break
    return reward, (0.0 if terminal else scale), log[last][1]


def run_adds(buffer, history):
    example = jax.tree.map(lambda x: x[0], history[0])
    state = buffer.init(example)
    add = jax.jit(buffer.add)
    for step in history:
        state = add(state, step)
    return state


@pytest.mark.parametrize("n_step", [1, 3])
def test_stacks_and_n_step_targets_equal_a_naive_buffer(n_step):
    num_envs, capacity, steps, gamma = 3, 3 * 40, 70, 0.9  # wraps the ring
    history, log, steps_of = fill_delayed(num_envs, steps, seed=n_step)
    buffer = uniform(capacity, num_envs, 512, n_step=n_step, frame_stack=K)
    state = run_adds(buffer, history)
    assert bool(buffer.can_sample(state))
    batch = jax.jit(buffer.sample)(jax.random.key(0), state, gamma)
    held = set()
    for e in range(num_envs):  # the last 40 steps of each env are held
        held |= set(steps_of[e][-40:])
    seen_ends = 0
    for b, i in enumerate(np.asarray(batch.action)):
        e = i % num_envs
        assert i in held
        # never the newest n steps (their windows are not written yet) and
        # never so old that its frames are gone
        position = steps_of[e].index(i)
        assert steps - n_step >= position + 1 and position >= steps - 40 + K - 1
        obs, _, _, _, _, valid = log[i]
        np.testing.assert_array_equal(np.asarray(batch.obs[b]), obs)
        assert bool(batch.valid[b]) == valid
        reward, discount, next_obs = naive_n_step(log, steps_of, e, i, n_step, gamma)
        np.testing.assert_array_equal(np.asarray(batch.next_obs[b]), next_obs)
        np.testing.assert_allclose(float(batch.reward[b]), reward, rtol=1e-6)
        np.testing.assert_allclose(float(batch.discount[b]), discount, rtol=1e-6)
        seen_ends += bool(discount == 0.0) or bool(log[i][4])
    assert seen_ends > 5  # the batch did cross episode ends
    # starts of episodes were sampled too: their stacks repeat the reset frame
    repeats = [np.array_equal(o[0], o[-1]) for o in np.asarray(batch.obs)]
    assert sum(repeats) > 5


def test_same_step_reset_next_obs_is_the_final_one():
    """gymnax's convention: the ending step returns the reset observation and
    the final one in final_obs; truncation bootstraps from the final one."""
    rng = np.random.default_rng(0)
    num_envs, steps = 2, 30
    history, naive = [], {}
    obs = rng.normal(size=(num_envs, 2)).astype(np.float32)
    for t in range(steps):
        reached = rng.normal(size=(num_envs, 2)).astype(np.float32)
        trunc = rng.random(num_envs) < 0.2
        reset = rng.normal(size=(num_envs, 2)).astype(np.float32)
        nxt = np.where(trunc[:, None], reset, reached)
        ids = t * num_envs + np.arange(num_envs)
        history.append(
            Timestep(
                obs=jnp.asarray(obs),
                action=jnp.asarray(ids, jnp.int32),
                reward=jnp.ones(num_envs, jnp.float32),
                terminated=jnp.zeros(num_envs, bool),
                truncated=jnp.asarray(trunc),
                final_obs=jnp.asarray(reached),
            )
        )
        for e in range(num_envs):
            naive[int(ids[e])] = (obs[e], reached[e], trunc[e])
        obs = nxt
    buffer = uniform(num_envs * steps, num_envs, 256, n_step=1)
    state = run_adds(buffer, history)
    batch = jax.jit(buffer.sample)(jax.random.key(1), state, 0.5)
    for b, i in enumerate(np.asarray(batch.action)):
        o, reached, _ = naive[int(i)]
        np.testing.assert_array_equal(np.asarray(batch.obs[b]), o)
        np.testing.assert_array_equal(np.asarray(batch.next_obs[b]), reached)
        assert float(batch.discount[b]) == 0.5  # truncation still bootstraps
    assert batch.valid is None


def test_sequences_never_cross_the_cursor_and_flag_episode_starts():
    num_envs, steps, length = 2, 50, 8
    history, log, steps_of = fill_delayed(num_envs, steps, seed=5)
    buffer = sequences(num_envs * 20, num_envs, 64, length, frame_stack=K)
    state = run_adds(buffer, history)
    seq = jax.jit(buffer.sample)(jax.random.key(2), state)
    ids = np.asarray(seq.action)
    assert ids.shape == (64, length)
    # consecutive steps of one env: ids step by num_envs; a window across the
    # cursor would jump from the newest step to the oldest
    np.testing.assert_array_equal(np.diff(ids, axis=1), num_envs)
    for b in range(64):
        e = ids[b, 0] % num_envs
        assert steps_of[e].index(ids[b, 0]) >= steps - 20 + K - 1
        for j in range(length):
            i = int(ids[b, j])
            np.testing.assert_array_equal(np.asarray(seq.obs[b, j]), log[i][0])
            assert bool(seq.is_last[b, j]) == bool(log[i][3] or log[i][4])
            assert bool(seq.is_terminal[b, j]) == bool(log[i][3])
            prev = steps_of[e].index(i) - 1
            first = prev < 0 or not log[steps_of[e][prev]][5]
            assert bool(seq.is_first[b, j]) == first
    assert np.asarray(seq.is_first).any() and np.asarray(seq.is_last).any()


def test_atari_frames_are_stored_once():
    """84x84 uint8 frames stacked 4: <= 7,200 bytes a transition (1M <= 7.2 GB)."""
    example = Timestep(
        obs=jnp.zeros((4, 84, 84), jnp.uint8),
        action=jnp.zeros((), jnp.int32),
        reward=jnp.zeros((), jnp.float32),
        terminated=jnp.zeros((), bool),
        truncated=jnp.zeros((), bool),
        valid=jnp.zeros((), bool),
    )
    capacity = 8 * 100
    buffer = uniform(capacity, 8, 32, frame_stack=4)
    state = jax.eval_shape(buffer.init, example)  # sizes without allocating
    per_transition = nbytes(state) / capacity
    assert per_transition <= 7_200, per_transition
    assert per_transition >= 84 * 84  # the frame is there, once
    whole = uniform(capacity, 8, 32)  # no frame stack: the stack stored whole
    assert nbytes(jax.eval_shape(whole.init, example)) / capacity > 4 * 84 * 84


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="multiple of num_envs=3"):
        uniform(100, 3, 8)
    with pytest.raises(ValueError, match="n_step=0 must be an integer >= 1"):
        uniform(30, 3, 8, n_step=0)
    with pytest.raises(ValueError, match="needs 7"):
        uniform(3 * 5, 3, 6, n_step=3, frame_stack=4)
