"""Action selection and TD control: hand values, learning Q* and Q_pi exactly on
a tiny deterministic grid, purity and compilation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from compiles import count_compilations

import envs
from jaxrl import registry
from jaxrl.tabular import control, dp, policies
from jaxrl.types import check_hparams

# A 2 x 3 grid, start bottom-left, goal top-right (+10), bumps -1:
#   . . G        states 0 1 2
#   S . .               3 4 5
# Episodes are truncated after 3 steps, so most of them end by truncation:
# only correct bootstrapping at truncation lets TD control reach the values
# of the untruncated MDP that dynamic programming computes.
ENV, PARAMS = envs.make(
    "GridWorld-v0",
    height=2,
    width=3,
    start=(1, 0),
    goal=(0, 2),
    walls=(),
    traps=(),
    max_steps_in_episode=3,
)
MODEL = jax.jit(ENV.model)(PARAMS)
GAMMA = 0.9
NUM_SEEDS = 8
KEYS = jax.random.split(jax.random.key(7), NUM_SEEDS)
TRACES = []


def _over_seeds(config):
    train = control.make_train(config, ENV, PARAMS)

    def counted(key, hparams):
        TRACES.append(config.algorithm)  # runs only while tracing
        return train(key, hparams)

    return jax.jit(jax.vmap(counted, (0, None)))


# One compiled function per algorithm, shared by the tests below.
Q_LEARNING = _over_seeds(control.QLearningConfig(num_episodes=1500))
SARSA = _over_seeds(control.SarsaConfig(num_episodes=20_000))  # small alpha
EXPECTED_SARSA = _over_seeds(control.ExpectedSarsaConfig(num_episodes=1500))


def test_epsilon_greedy_probs_by_hand():
    # epsilon / A + (1 - epsilon) * [tie share]: 0.05 + 0.8 * (0, 1/2, 1/2, 0).
    probs = policies.epsilon_greedy_probs(jnp.array([1.0, 3.0, 3.0, 0.0]), 0.2)
    np.testing.assert_allclose(probs, [0.05, 0.45, 0.45, 0.05], rtol=1e-6)
    np.testing.assert_allclose(policies.greedy_probs(jnp.zeros(4)), [0.25] * 4)
    # softmax of (0, ln 3) = (1/4, 3/4).
    np.testing.assert_allclose(
        policies.softmax_probs(jnp.array([0.0, np.log(3.0)])), [0.25, 0.75], rtol=1e-6
    )
    np.testing.assert_allclose(policies.uniform_policy(2, 4), np.full((2, 4), 0.25))


def test_ties_are_broken_at_random():
    # A zero-initialised table must not always pick action 0.
    keys = jax.random.split(jax.random.key(0), 4000)
    greedy = jax.vmap(policies.epsilon_greedy, (0, None, None))
    counts = np.bincount(greedy(keys, jnp.zeros(4), 0.0), minlength=4)
    np.testing.assert_allclose(counts / 4000, 0.25, atol=0.03)
    # Only the tied maxima are chosen by a greedy policy, each half the time.
    counts = np.bincount(
        greedy(keys, jnp.array([0.0, 1.0, 1.0, 0.0]), 0.0), minlength=4
    )
    assert counts[0] == counts[3] == 0
    np.testing.assert_allclose(counts[1:3] / 4000, 0.5, atol=0.03)
    argmax = jax.vmap(policies.random_argmax, (0, None))(keys, jnp.array([2.0, 2.0]))
    assert 0.45 < float(argmax.mean()) < 0.55
    # Extraction is deterministic: lowest index.
    np.testing.assert_array_equal(policies.greedy_policy(jnp.zeros((3, 4))), 0)


def test_td_errors_by_hand():
    # Q(0) = (0, 0), Q(1) = (1, 3); S=0, A=0, R=1, discount 0.5, S'=1, A'=0.
    q = jnp.array([[0.0, 0.0], [1.0, 3.0]])
    args = (q, 0, 0, 1.0, 0.5, 1, 0, 0.2)
    # Q-learning: 1 + 0.5 * max(1, 3) = 2.5.
    assert float(control.td_error("q_learning", *args)) == pytest.approx(2.5)
    # SARSA: 1 + 0.5 * Q(1, A'=0) = 1.5.
    assert float(control.td_error("sarsa", *args)) == pytest.approx(1.5)
    # Expected SARSA, epsilon = 0.2: pi(.|1) = (0.1, 0.9), so
    # 1 + 0.5 * (0.1 * 1 + 0.9 * 3) = 2.4.
    assert float(control.td_error("expected_sarsa", *args)) == pytest.approx(2.4)


def test_q_learning_learns_q_star_with_truncation():
    # Q-learning is off-policy: with uniformly random behaviour (epsilon = 1)
    # and alpha = 1 on a deterministic MDP it is asynchronous value
    # iteration and reaches Q* exactly.
    out = Q_LEARNING(KEYS, control.ControlHParams(alpha=1.0, epsilon=1.0, gamma=GAMMA))
    optimal = dp.value_iteration(MODEL, GAMMA)
    for i in range(NUM_SEEDS):
        np.testing.assert_allclose(out.state.q[i], optimal.q, atol=1e-4)
    # Its greedy policy is optimal: Q*(s, pi(s)) = V*(s) on non-terminal states.
    live = ~np.asarray(MODEL.terminal)
    pi = np.asarray(control.greedy_policy(out.state.q[0]))
    chosen = np.asarray(optimal.q)[np.arange(6), pi]
    np.testing.assert_allclose(chosen[live], np.asarray(optimal.v)[live], atol=1e-4)
    # Where the optimal action is unique, it equals DP's pi*.
    q_star = np.asarray(optimal.q)
    unique = (np.sort(q_star, 1)[:, -1] - np.sort(q_star, 1)[:, -2] > 1e-3) & live
    assert unique.sum() >= 3
    np.testing.assert_array_equal(pi[unique], np.asarray(optimal.pi)[unique])
    assert (out.metrics["length"] <= 3).all()


def test_expected_sarsa_and_sarsa_learn_q_pi():
    # On-policy with epsilon = 1 the target policy is uniform random, so both
    # learn Q_pi(s, a) = R + gamma sum_s' P V_pi(s') of that policy.
    v_pi = dp.policy_evaluation(MODEL, policies.uniform_policy(6, 4), GAMMA)
    q_pi = np.asarray(dp.q_from_v(MODEL, v_pi, GAMMA))
    assert np.abs(q_pi - np.asarray(dp.value_iteration(MODEL, GAMMA).q)).max() > 2
    # Expected SARSA's target is deterministic here, so alpha = 1 converges.
    hp = control.ControlHParams(alpha=1.0, epsilon=1.0, gamma=GAMMA)
    out = EXPECTED_SARSA(KEYS, hp)
    np.testing.assert_allclose(out.state.q[0], q_pi, atol=1e-3)
    # SARSA's target samples A', so it needs a small step, many episodes and
    # an average over seeds; the average's standard error is about 0.11.
    out = SARSA(jax.random.split(jax.random.key(1), 32), hp.replace(alpha=0.05))
    np.testing.assert_allclose(out.state.q.mean(0), q_pi, atol=0.45)


def test_vmap_equals_loop_same_seed_no_recompile():
    hp = control.ControlHParams(alpha=0.5, epsilon=0.1, gamma=GAMMA)
    batched = Q_LEARNING(KEYS, hp)
    with count_compilations() as compiles:
        again = Q_LEARNING(KEYS, hp.replace(alpha=0.3))  # new values, same shapes
        same = Q_LEARNING(KEYS, hp)
    assert compiles() == 0
    assert not np.array_equal(batched.state.q, again.state.q)
    single = jax.jit(
        control.make_train(control.QLearningConfig(num_episodes=1500), ENV, PARAMS)
    )
    for i in range(3):
        out = single(KEYS[i], hp)
        np.testing.assert_array_equal(batched.state.q[i], out.state.q)
        for k in ("return", "length"):
            np.testing.assert_array_equal(batched.metrics[k][i], out.metrics[k])
    np.testing.assert_array_equal(batched.state.q, same.state.q)
    np.testing.assert_array_equal(batched.metrics["return"], same.metrics["return"])
    assert TRACES.count("q_learning") == 1


def test_bad_input():
    with pytest.raises(ValueError, match=r"epsilon=-0.1.*\[0.0, 1.0\]"):
        check_hparams(control.ControlHParams(epsilon=-0.1))
    with pytest.raises(ValueError, match=r"alpha=1.5.*\(0.0, 1.0\]"):
        check_hparams(control.ControlHParams(alpha=1.5))
    with pytest.raises(ValueError, match=r"gamma=2.0"):
        check_hparams(control.ControlHParams(gamma=2.0))
    # A sweep is validated element by element.
    with pytest.raises(ValueError, match="alpha"):
        check_hparams(control.ControlHParams(alpha=np.array([0.1, 0.0])))
    check_hparams(control.ControlHParams())
    with pytest.raises(ValueError, match="algorithm='dqn'"):
        control.ControlConfig(algorithm="dqn")
    with pytest.raises(ValueError, match="num_episodes"):
        control.SarsaConfig(num_episodes=0)


TABULAR_NAMES = [
    "bandit_epsilon_greedy", "bandit_optimistic", "bandit_ucb", "bandit_gradient",
    "mc_first_visit", "mc_every_visit", "td0", "batch_td", "batch_mc",
    "q_learning", "sarsa", "expected_sarsa",
]  # fmt: skip


def test_registered_algorithms_trace_on_their_default_env():
    # Tracing only (jax.eval_shape): every registered runner builds from its
    # default Config and HParams on its default env, with the metrics promised.
    names = registry.names()
    for name in TABULAR_NAMES:
        assert name in names
        spec = registry.get(name)
        assert spec.env_kind in ("tabular", "bandit")
        assert envs.kind(spec.default_env) == spec.env_kind
        env, params = envs.make(spec.default_env)
        hparams = spec.hparams_cls()
        check_hparams(hparams)
        train = spec.make_train(spec.config_cls(), env, params)
        out = jax.eval_shape(train, jax.random.key(0), hparams)
        expected = {
            "bandit": {"reward", "optimal", "regret"},
            "tabular": {"return", "length"},
        }[spec.env_kind]
        assert expected <= set(out.metrics), name
        for metric in out.metrics.values():
            assert metric.shape == (train.num_iterations,)


# Step mode: 6000 steps per seed in iterations of 500, auto-reset between
# episodes, so no seed waits for another's episode to end.
Q_STEPS_CONFIG = control.ControlConfig(num_steps=6000, steps_per_iteration=500)
Q_STEPS = jax.jit(jax.vmap(control.make_train(Q_STEPS_CONFIG, ENV, PARAMS), (0, None)))


def test_step_mode_learns_q_star_and_counts_episodes():
    # As above, epsilon = 1 and alpha = 1 make Q-learning asynchronous value
    # iteration; episodes of at most 3 steps in 500-step iterations: >= 166.
    hp = control.ControlHParams(alpha=1.0, epsilon=1.0, gamma=GAMMA)
    out = Q_STEPS(KEYS, hp)
    optimal = dp.value_iteration(MODEL, GAMMA)
    np.testing.assert_allclose(out.state.q[0], optimal.q, atol=1e-4)
    assert out.metrics["episodes"].shape == (NUM_SEEDS, 12)
    assert (out.metrics["episodes"] >= 500 // 3).all()
    assert (out.metrics["length"] <= 3).all() and (out.metrics["length"] >= 1).all()
    # Every step is accounted for: finished episodes plus the one in progress.
    finished = (out.metrics["episodes"] * out.metrics["length"]).sum(1)
    np.testing.assert_allclose(finished + out.state.episode_length, 6000, atol=1e-2)


def test_step_mode_vmap_equals_loop_and_sarsa_restarts_cleanly():
    hp = control.ControlHParams(alpha=0.5, epsilon=0.1, gamma=GAMMA)
    batched = Q_STEPS(KEYS, hp)
    single = jax.jit(control.make_train(Q_STEPS_CONFIG, ENV, PARAMS))(KEYS[2], hp)
    np.testing.assert_array_equal(batched.state.q[2], single.state.q)
    np.testing.assert_array_equal(
        batched.metrics["return"][2], single.metrics["return"]
    )
    # SARSA in step mode: with alpha = 1, epsilon = 0 on this deterministic grid,
    # every finished episode after learning takes the 3-step shortest path.
    sarsa = control.ControlConfig(
        algorithm="sarsa", num_steps=3000, steps_per_iteration=500
    )
    out = jax.jit(control.make_train(sarsa, ENV, PARAMS))(
        KEYS[0], hp.replace(alpha=1.0, epsilon=0.0)
    )
    np.testing.assert_allclose(out.metrics["length"][-1], 3.0)
    np.testing.assert_allclose(out.metrics["return"][-1], 10.0)


def test_step_mode_config_errors():
    with pytest.raises(ValueError, match="not a multiple of steps_per_iteration"):
        control.ControlConfig(num_steps=1000, steps_per_iteration=300)
    with pytest.raises(ValueError, match="num_steps=-1"):
        control.ControlConfig(num_steps=-1)
