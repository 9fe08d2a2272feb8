"""Dynamic programming: hand-solved MDPs, the textbook random walk, grid worlds."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.tabular import TabularModel
from jaxrl.tabular import dp, policies

policy_evaluation = jax.jit(dp.policy_evaluation)
value_iteration = jax.jit(dp.value_iteration)
policy_iteration = jax.jit(dp.policy_iteration)


@functools.cache
def make_model(name: str, **overrides) -> tuple:
    """``(env, params, model)``; the model built in one compiled call."""
    env, params = envs.make(name, **overrides)
    return env, params, jax.jit(env.model)(params)


def two_state_model() -> TabularModel:
    """States A=0, B=1 and terminal T=2; actions 0 and 1.

    A, action 0: stay in A, reward 1.    A, action 1: go to B, reward 0.
    B, action 0: go to A, reward 0.      B, action 1: go to T, reward 2.
    """
    P = np.zeros((3, 2, 3), np.float32)
    P[0, 0, 0] = P[0, 1, 1] = P[1, 0, 0] = P[1, 1, 2] = 1.0
    P[2, :, 2] = 1.0
    R = np.array([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]], np.float32)
    return TabularModel(
        P=jnp.asarray(P),
        R=jnp.asarray(R),
        terminal=jnp.array([False, False, True]),
        start=jnp.array([1.0, 0.0, 0.0]),
    )


def test_policy_evaluation_two_state_by_hand():
    # Uniform policy, gamma = 1/2:
    #   V_A = 1/2 (1 + V_A / 2) + 1/2 (V_B / 2) = 1/2 + V_A / 4 + V_B / 4
    #   V_B = 1/2 (V_A / 2) + 1/2 (2 + 0)       = V_A / 4 + 1
    # => (3/4) V_A = 1/2 + V_A / 16 + 1/4  =>  V_A = 12/11, V_B = 14/11.
    model = two_state_model()
    v = policy_evaluation(model, policies.uniform_policy(3, 2), 0.5)
    np.testing.assert_allclose(v, [12 / 11, 14 / 11, 0.0], rtol=1e-6)
    # gamma = 1 with the terminating policy "always action 1":
    #   V_B = 2, V_A = 0 + V_B = 2 (the continuation into T is cut, so the
    #   system is non-singular although T loops onto itself in P).
    v = policy_evaluation(model, policies.one_hot_policy(jnp.array([1, 1, 0]), 2), 1.0)
    np.testing.assert_allclose(v, [2.0, 2.0, 0.0], rtol=1e-6)


def test_optimal_two_state_by_hand_and_vmap_over_gamma():
    # gamma = 1/2: staying in A forever is worth 1 / (1 - 1/2) = 2, going to B
    #   is 1/2 V_B; at B, exiting pays 2, going back 1/2 V_A = 1.
    #   V* = (2, 2), pi* = (stay, exit); Q*(A) = (2, 1), Q*(B) = (1, 2).
    # gamma = 0.9: staying is 1 / 0.1 = 10; at B going back is 0.9 * 10 = 9 > 2.
    #   V* = (10, 9), pi* = (stay, back); Q*(A) = (10, 8.1), Q*(B) = (9, 2).
    model = two_state_model()
    gammas = jnp.array([0.5, 0.9])
    for solve in (value_iteration, policy_iteration):
        out = jax.vmap(solve, (None, 0))(model, gammas)
        np.testing.assert_allclose(out.v, [[2, 2, 0], [10, 9, 0]], rtol=1e-5)
        np.testing.assert_allclose(
            out.q,
            [[[2, 1], [1, 2], [0, 0]], [[10, 8.1], [9, 2], [0, 0]]],
            rtol=1e-5,
        )
        np.testing.assert_array_equal(out.pi[:, :2], [[0, 1], [0, 0]])


def test_q_from_v_consistency():
    # V_pi(s) = sum_a pi(a|s) Q_pi(s, a), and Q of the two-state model by hand.
    model = two_state_model()
    pi = policies.uniform_policy(3, 2)
    v = policy_evaluation(model, pi, 0.5)
    q = dp.q_from_v(model, v, 0.5)
    np.testing.assert_allclose(jnp.sum(pi * q, 1), v, rtol=1e-6)
    # Q(A, 0) = 1 + V_A / 2, Q(B, 1) = 2 (terminal next state contributes 0).
    np.testing.assert_allclose(q[0, 0], 1 + 6 / 11, rtol=1e-6)
    np.testing.assert_allclose(q[1, 1], 2.0, rtol=1e-6)


def test_random_walk_textbook_values():
    # Example 6.2: under the random policy with gamma = 1, V(A..E) = 1/6..5/6.
    _, _, model = make_model("RandomWalk-v0")
    v = policy_evaluation(model, policies.uniform_policy(7, 2), 1.0)
    np.testing.assert_allclose(v, np.array([0, 1, 2, 3, 4, 5, 0]) / 6, atol=1e-6)
    # Example 7.1's 19-state walk with -1 on the left: V(i) = -1 + 2 i / 20.
    env, params, model19 = make_model("RandomWalk-v0", n=19, left_reward=-1.0)
    v = policy_evaluation(model19, policies.uniform_policy(21, 2), 1.0)
    np.testing.assert_allclose(v, env.true_values(params), atol=1e-5)
    # Going right is optimal. Undiscounted, V* = 1 everywhere; with gamma = 0.9,
    # V*(i) = 0.9 ** (5 - i) and "right" is the only optimal action (at
    # gamma = 1, "left then right" ties with "right" from state 2 on).
    out = jax.vmap(value_iteration, (None, 0))(model, jnp.array([1.0, 0.9]))
    np.testing.assert_allclose(out.v[0], [0, 1, 1, 1, 1, 1, 0], atol=1e-6)
    np.testing.assert_allclose(out.v[1, 1:6], 0.9 ** np.arange(4, -1, -1), rtol=1e-6)
    np.testing.assert_array_equal(out.pi[1, 1:6], 1)


def naive_policy_evaluation(P, R, terminal, pi, gamma, sweeps):
    """Iterative policy evaluation (S&B section 4.1), a plain NumPy loop."""
    v = np.zeros(P.shape[0])
    for _ in range(sweeps):
        v_new = np.zeros_like(v)
        for s in np.flatnonzero(~terminal):
            v_new[s] = pi[s] @ (R[s] + gamma * P[s] @ v)
        v = v_new
    return v


def test_policy_evaluation_matches_naive_loop_on_slippery_grid():
    _, _, model = make_model("GridWorld-v0", slip=0.2)
    pi = np.asarray(policies.uniform_policy(100, 4))
    v = policy_evaluation(model, pi, 0.9)
    v_naive = naive_policy_evaluation(
        np.asarray(model.P, np.float64),
        np.asarray(model.R, np.float64),
        np.asarray(model.terminal),
        pi,
        0.9,
        sweeps=300,
    )  # 0.9 ** 300 ~ 2e-14: converged
    np.testing.assert_allclose(v, v_naive, atol=1e-4)


@pytest.mark.parametrize(
    "name,overrides,gamma",
    [("GridWorld-v0", {"slip": 0.2}, 0.9), ("CliffWalking-v0", {}, 1.0)],
)
def test_value_and_policy_iteration_agree(name, overrides, gamma):
    _, _, model = make_model(name, **overrides)
    vi = value_iteration(model, gamma)
    pi_ = policy_iteration(model, gamma)
    np.testing.assert_allclose(vi.v, pi_.v, atol=1e-3)
    # Both policies are greedy with respect to Q* (ties may differ).
    live = ~np.asarray(model.terminal)
    for pi in (vi.pi, pi_.pi):
        chosen = np.take_along_axis(np.asarray(vi.q), np.asarray(pi)[:, None], 1)[:, 0]
        np.testing.assert_allclose(chosen[live], vi.v[live], atol=1e-3)
    # Bellman optimality: V* = max_a Q*, and Q* = q_from_v(V*).
    np.testing.assert_allclose(vi.q.max(1), vi.v, atol=1e-4)
    np.testing.assert_allclose(dp.q_from_v(model, vi.v, gamma), vi.q, atol=1e-5)
    # And the greedy policy's exact value is V*.
    v_pi = policy_evaluation(model, policies.one_hot_policy(pi_.pi, 4), gamma)
    np.testing.assert_allclose(v_pi, vi.v, atol=1e-3)


def test_cliff_walking_optimal_return():
    # Example 6.6: the optimal path along the cliff edge takes 13 steps of -1.
    _, _, model = make_model("CliffWalking-v0")
    out = value_iteration(model, 1.0)
    assert float(out.v[int(model.start.argmax())]) == pytest.approx(-13.0)


def test_greedy_policy_lowest_index_among_ties():
    q = jnp.array([[0.0, 1.0, 1.0], [2.0, 0.0, 2.0], [0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(dp.greedy_policy(q), [1, 0, 0])


def test_greedy_path_on_the_cliff():
    # The optimal cliff path: up, 11 x right along the edge, down: 13 steps,
    # return -13 (S&B example 6.6). A policy that walks into the cliff
    # (right from the start) never ends and keeps paying -100.
    env, params = envs.make("CliffWalking-v0")
    model = env.model(params)
    path = dp.greedy_path(model, dp.value_iteration(model, 1.0).pi, 30)
    assert int(path.length) == 13 and float(path.ret) == -13.0
    assert bool(path.reached_terminal)
    assert [int(s) for s in path.states[:3]] == [36, 24, 25]
    assert int(path.states[-1]) == 47  # the goal repeats after the end
    right = jnp.ones(48, jnp.int32)
    bad = dp.greedy_path(model, right, 5)
    assert not bool(bad.reached_terminal) and float(bad.ret) == -500.0
