"""Environments: exact models against stepping, layouts, and bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.grid import EnvState as GridState
from envs.random_walk import EnvState as WalkState

TABULAR = [
    ("GridWorld-v0", {}),
    ("GridWorld-v0", {"slip": 0.2}),
    ("CliffWalking-v0", {}),
    ("WindyGridworld-v0", {}),
    ("DynaMaze-v0", {}),
    ("RandomWalk-v0", {}),
    ("RandomWalk-v0", {"n": 19, "left_reward": -1.0}),
]


def _empirical(env, params, num_samples):
    """Step every (s, a) ``num_samples`` times; return next-state counts and
    mean rewards, shapes ``[S, A, S]`` and ``[S, A]``."""
    S, A = env.num_states(params), env.num_actions
    state_cls = GridState if isinstance(env, envs.grid.GridWorld) else WalkState

    def one(key, s, a):
        state = state_cls(time=jnp.int32(0), pos=jnp.int32(s))
        _, _, r, term, trunc, info = env.step(key, state, a, params)
        return info["final_observation"], r

    keys = jax.random.split(jax.random.key(0), num_samples)
    s = jnp.arange(S)[:, None].repeat(A, 1)
    a = jnp.arange(A)[None, :].repeat(S, 0)
    step = jax.vmap(
        jax.vmap(jax.vmap(one, (None, 0, 0)), (None, 0, 0)), (0, None, None)
    )
    s1, r = step(keys, s, a)  # [N, S, A]
    counts = jax.nn.one_hot(s1, S).mean(0)
    return np.asarray(counts), np.asarray(r.mean(0))


@pytest.mark.parametrize("name,overrides", TABULAR)
def test_model_matches_stepping(name, overrides):
    env, params = envs.make(name, **overrides)
    model = env.model(params)
    P, R = np.asarray(model.P), np.asarray(model.R)
    live = ~np.asarray(model.terminal)
    deterministic = float(overrides.get("slip", 0.0)) == 0.0
    counts, rewards = _empirical(env, params, 1 if deterministic else 4000)
    if deterministic:
        np.testing.assert_array_equal(counts[live], P[live])
        np.testing.assert_allclose(rewards[live], R[live], rtol=0, atol=1e-6)
    else:
        # 4000 samples: the standard error of a frequency is <= 0.008.
        np.testing.assert_allclose(counts[live], P[live], atol=0.04)
        np.testing.assert_allclose(rewards[live], R[live], atol=0.35)
    np.testing.assert_allclose(P.sum(-1), 1.0, atol=1e-6)
    assert float(model.start.sum()) == pytest.approx(1.0)
    # The start state is where reset puts the agent.
    obs, _ = env.reset(jax.random.key(1), params)
    assert int(np.argmax(model.start)) == int(obs)


def test_gridworld_default_is_the_chapters_world():
    env, p = envs.make("GridWorld-v0")
    assert env.num_states(p) == 100 and env.num_actions == 4
    model = env.model(p)
    goal = p.goal[0] * p.width + p.goal[1]
    # Entering the goal pays +10, a trap -10, bumping into the top edge -1.
    assert float(model.R[goal + p.width, 0]) == 10.0  # from below the goal, up
    trap = p.traps[0][0] * p.width + p.traps[0][1]
    np.testing.assert_allclose(model.R[:, :][model.P[:, :, trap] > 0].min(), -10.0)
    assert float(model.R[p.goal[1] - 1, 0]) == -1.0  # top row, up into the edge


def _reachable(model, start):
    P = np.asarray(model.P).max(1) > 0
    seen, frontier = {start}, [start]
    while frontier:
        s = frontier.pop()
        for s1 in np.flatnonzero(P[s]):
            if s1 not in seen:
                seen.add(int(s1))
                frontier.append(int(s1))
    return seen


@pytest.mark.parametrize(
    "name", ["GridWorld-v0", "CliffWalking-v0", "WindyGridworld-v0", "DynaMaze-v0"]
)
def test_goal_reachable_from_start(name):
    env, p = envs.make(name)
    model = env.model(p)
    start = int(np.argmax(model.start))
    assert p.goal[0] * p.width + p.goal[1] in _reachable(model, start)


def test_cliff_sends_back_to_start_without_ending():
    env, p = envs.make("CliffWalking-v0")
    state = GridState(time=jnp.int32(0), pos=jnp.int32(3 * 12 + 0))
    obs, state, r, term, trunc, _ = env.step(jax.random.key(0), state, 1, p)  # right
    assert float(r) == -100.0 and not bool(term) and int(obs) == 36


def test_windy_pushes_up_by_the_column_wind():
    env, p = envs.make("WindyGridworld-v0")
    # From (3, 6) (wind 2) moving right: to (3, 7) then two cells up -> (1, 7).
    state = GridState(time=jnp.int32(0), pos=jnp.int32(3 * 10 + 6))
    obs, *_ = env.step(jax.random.key(0), state, 1, p)
    assert int(obs) == 1 * 10 + 7


def test_random_walk_start_and_rewards():
    env, p = envs.make("RandomWalk-v0")
    obs, state = env.reset(jax.random.key(0), p)
    assert int(obs) == 3  # C, the middle of A..E
    np.testing.assert_allclose(env.true_values(p)[1:6], np.arange(1, 6) / 6, atol=1e-6)
    _, p19 = envs.make("RandomWalk-v0", n=19, left_reward=-1.0)
    obs, _ = env.reset(jax.random.key(0), p19)
    assert int(obs) == 10


def test_truncation_is_not_termination():
    env, p = envs.make("RandomWalk-v0", max_steps_in_episode=1)
    obs, state = env.reset(jax.random.key(0), p)
    _, _, _, term, trunc, _ = env.step(jax.random.key(1), state, 1, p)
    assert bool(trunc) and not bool(term)


def test_bandit_info_is_exact():
    env, p = envs.make("Bandit-v0", num_arms=5, reward_std=0.0)
    assert env.num_actions == 5
    obs, state = env.reset(jax.random.key(0), p)
    _, _, r, term, trunc, info = env.step(jax.random.key(1), state, 2, p)
    np.testing.assert_allclose(r, info["q_star"][2])
    assert int(info["optimal_arm"]) == int(np.argmax(state.q_star))
    assert not bool(term)


def test_bandit_instances_differ_by_key_and_drift_moves_q():
    env, p = envs.make("Bandit-v0", drift_std=0.1)
    _, s0 = env.reset(jax.random.key(0), p)
    _, s1 = env.reset(jax.random.key(1), p)
    assert not np.allclose(s0.q_star, s1.q_star)
    _, s2, *_ = env.step(jax.random.key(2), s0, 0, p)
    assert not np.allclose(s0.q_star, s2.q_star)


def test_gymnax_names_pass_through():
    env, p = envs.make("CartPole-v1", max_steps_in_episode=100)
    assert p.max_steps_in_episode == 100
    assert envs.kind("CartPole-v1") == "gymnax"


@pytest.mark.parametrize(
    "name,overrides,match",
    [
        ("Nope-v0", {}, "unknown environment 'Nope-v0'.*GridWorld-v0"),
        ("GridWorld-v0", {"colour": 1}, "no parameter.*colour.*allowed"),
        ("GridWorld-v0", {"goal": (1, 1)}, "goal .* inside a wall"),
        ("GridWorld-v0", {"start": (10, 0)}, "start .* not a .*inside the 10x10"),
        ("GridWorld-v0", {"slip": 1.5}, r"slip=1.5 .*allowed \[0, 1\]"),
        ("WindyGridworld-v0", {"wind": (1, 2)}, "one entry per column"),
        ("RandomWalk-v0", {"n": 0}, "n=0 must be >= 1"),
        ("Bandit-v0", {"num_arms": 1}, "num_arms=1 must be >= 2"),
        ("GridWorld-v0", {"width": 2.5}, "integer"),
    ],
)
def test_bad_input_is_refused_with_what_is_allowed(name, overrides, match):
    with pytest.raises(ValueError, match=match):
        envs.make(name, **overrides)
