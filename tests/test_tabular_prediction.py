"""Prediction: hand-computed MC/TD updates, batch sums against a naive loop,
and MC, TD(0) and batch methods learning the random walk's exact values."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from compiles import count_compilations

import envs
from jaxrl.tabular import dp, policies, prediction
from jaxrl.types import check_hparams

NUM_EPISODES = 100
NUM_SEEDS = 16
# Episodes from the middle of the 5-state walk are ~9 steps long; a run past
# 100 steps (probability ~1e-6) is truncated and bootstraps.
ENV, PARAMS = envs.make("RandomWalk-v0", max_steps_in_episode=100)
TRUE_V = np.array([0, 1, 2, 3, 4, 5, 0]) / 6  # example 6.2
KEYS = jax.random.split(jax.random.key(42), NUM_SEEDS)


def _over_seeds(config, policy=None):
    train = prediction.make_train(config, ENV, PARAMS, policy)
    return jax.jit(jax.vmap(train, (0, None)))


# One compiled function per method, shared by the tests below.
TD0 = _over_seeds(prediction.PredictionConfig(NUM_EPISODES))
MC_FIRST = _over_seeds(prediction.MCFirstVisitConfig(NUM_EPISODES))
MC_EVERY_AVG = _over_seeds(
    prediction.MCEveryVisitConfig(NUM_EPISODES, step_size="sample_average")
)
BATCH_TD = _over_seeds(prediction.BatchTDConfig(NUM_EPISODES, batch_tol=1e-7))
BATCH_MC = _over_seeds(prediction.BatchMCConfig(NUM_EPISODES, batch_tol=1e-7))


def hand_episode(terminated: bool) -> prediction.Episode:
    """States 2 -> 1 -> 2 -> (3 if terminated else 1), buffer of 5 steps.

    Terminated: rewards (0, 0, 1). Truncated: rewards (0, 0, 0) and the last
    step reaches state 1.
    """
    pad = [0, 0]
    return prediction.Episode(
        obs=jnp.array([2, 1, 2] + pad),
        action=jnp.zeros(5, jnp.int32),
        reward=jnp.array([0.0, 0.0, 1.0 if terminated else 0.0] + pad),
        next_obs=jnp.array([1, 2, 3 if terminated else 1] + pad),
        terminated=jnp.array([False, False, terminated] + [False] * 2),
        length=jnp.int32(3),
    )


V0 = jnp.array([0.0, 0.5, 0.5, 0.5, 0.0])
N0 = jnp.zeros(5)


def test_td0_update_by_hand():
    v = jnp.array([0.0, 0.2, 0.6, 0.0])
    # 0.2 + 0.1 * (0 + 1 * 0.6 - 0.2) = 0.24
    v1, n1 = prediction.td0_update(v, jnp.zeros(4), 1, 0.0, 2, 1.0, 0.1)
    np.testing.assert_allclose(v1, [0, 0.24, 0.6, 0], rtol=1e-6)
    np.testing.assert_array_equal(n1, [0, 1, 0, 0])
    # Terminated: discount 0, so 0.6 + 0.1 * (1 - 0.6) = 0.64.
    v2, _ = prediction.td0_update(v, jnp.zeros(4), 2, 1.0, 3, 0.0, 0.1)
    np.testing.assert_allclose(v2[2], 0.64, rtol=1e-6)
    # Sample average: the first visit has step 1/1, so V(1) = 0 + 0.6.
    v3, _ = prediction.td0_update(v, jnp.zeros(4), 1, 0.0, 2, 1.0, 0.1, True)
    np.testing.assert_allclose(v3[1], 0.6, rtol=1e-6)


def test_returns_and_first_visits_by_hand():
    # gamma = 0.9, terminated: G_2 = 1, G_1 = 0.9, G_0 = 0.81.
    g = prediction.episode_returns(hand_episode(True), V0, 0.9)
    np.testing.assert_allclose(g, [0.81, 0.9, 1.0, 0, 0], rtol=1e-6)
    # Truncated in state 1: G_2 = 0 + 0.9 V(1) = 0.45, G_1 = 0.405, G_0 = 0.3645.
    g = prediction.episode_returns(hand_episode(False), V0, 0.9)
    np.testing.assert_allclose(g, [0.3645, 0.405, 0.45, 0, 0], rtol=1e-6)
    mask = prediction.first_visit_mask(hand_episode(True), 5)
    np.testing.assert_array_equal(mask, [True, True, False, False, False])


@pytest.mark.parametrize(
    "first_visit,sample_average,expected_v,expected_n",
    [
        # Backwards, alpha = 0.5: t=2: V(2) = 0.5 + 0.5 (1 - 0.5) = 0.75;
        # t=1: V(1) = 0.5 + 0.5 (0.9 - 0.5) = 0.7; t=0: V(2) = 0.75 + 0.5 (0.81
        # - 0.75) = 0.78.
        (False, False, [0, 0.7, 0.78, 0.5, 0], [0, 1, 2, 0, 0]),
        # First visits only (t = 0 and 1): V(2) = 0.5 + 0.5 (0.81 - 0.5) = 0.655.
        (True, False, [0, 0.7, 0.655, 0.5, 0], [0, 1, 1, 0, 0]),
        # Sample averages: V(2) = (1 + 0.81) / 2, V(1) = 0.9.
        (False, True, [0, 0.9, 0.905, 0.5, 0], [0, 1, 2, 0, 0]),
        (True, True, [0, 0.9, 0.81, 0.5, 0], [0, 1, 1, 0, 0]),
    ],
)
def test_mc_update_by_hand(first_visit, sample_average, expected_v, expected_n):
    v, n = prediction.mc_update(
        V0, N0, hand_episode(True), 0.9, 0.5, first_visit, sample_average
    )
    np.testing.assert_allclose(v, expected_v, rtol=1e-6)
    np.testing.assert_array_equal(n, expected_n)


def test_batch_sums_match_naive_loop_and_fixed_point():
    rng = np.random.default_rng(0)
    num_states, gamma, alpha = 6, 0.9, 0.02
    s = rng.integers(1, 5, 60)
    s1 = np.clip(s + rng.choice([-1, 1], 60), 0, 5)
    term = (s1 == 0) | (s1 == 5)
    r = rng.normal(size=60).astype(np.float32)
    stats = prediction.BatchStats(
        jnp.zeros(num_states), jnp.zeros(num_states), jnp.zeros((6, 6))
    )
    add = jax.jit(prediction.add_transition)
    for i in range(60):
        stats = add(stats, s[i], r[i], s1[i], term[i])
    v = rng.normal(size=num_states).astype(np.float32)
    # One sweep presents every transition: sum its alpha * delta per state.
    naive = np.zeros(num_states)
    for i in range(60):
        naive[s[i]] += alpha * (r[i] + gamma * (1 - term[i]) * v[s1[i]] - v[s[i]])
    inc = prediction.batch_increment(stats, jnp.asarray(v), alpha, gamma)
    np.testing.assert_allclose(inc, naive, atol=1e-5)
    # Sweeping to convergence reaches the certainty-equivalence solution
    # N(s) V(s) = Rsum(s) + gamma sum_s' C(s, s') V(s') on the visited states.
    v_batch, sweeps = jax.jit(prediction.batch_solve, static_argnums=(4, 5))(
        stats, jnp.asarray(v), alpha, gamma, 1e-7, 100_000
    )
    seen = np.asarray(stats.n) > 0
    n, rsum, c = map(np.asarray, stats)
    a = np.diag(n) - gamma * c
    b = rsum + gamma * c[:, ~seen] @ v[~seen]
    expected = v.astype(np.float64).copy()
    expected[seen] = np.linalg.solve(a[np.ix_(seen, seen)], b[seen])
    np.testing.assert_allclose(v_batch, expected, atol=1e-4)
    assert 0 < int(sweeps) < 100_000
    # Batch MC statistics: return sums and counts of the weighted steps.
    g = rng.normal(size=60).astype(np.float32)
    w = (rng.random(60) < 0.7).astype(np.float32)
    mc = prediction.add_returns(
        prediction.BatchStats(jnp.zeros(6), jnp.zeros(6)),
        jnp.asarray(s),
        jnp.asarray(g),
        jnp.asarray(w),
    )
    np.testing.assert_allclose(mc.n, np.bincount(s, w, 6), atol=1e-5)
    np.testing.assert_allclose(mc.target_sum, np.bincount(s, w * g, 6), atol=1e-5)


@pytest.mark.parametrize(
    "name,alpha",
    [("td0", 0.05), ("mc_first", 0.1), ("mc_every_avg", 0.0)],
)
def test_online_methods_learn_random_walk_values(name, alpha):
    train = {"td0": TD0, "mc_first": MC_FIRST, "mc_every_avg": MC_EVERY_AVG}[name]
    hp = prediction.PredictionHParams(alpha=alpha or 0.1)
    out = train(KEYS, hp)
    v_mean = np.asarray(out.state.v.mean(0))
    np.testing.assert_allclose(v_mean, TRUE_V, atol=0.06)
    np.testing.assert_allclose(out.state.v_true[0], TRUE_V, atol=1e-6)
    rms = np.asarray(out.metrics["rms_error"].mean(0))
    # V = 0.5 starts at sqrt(mean((0.5 - i/6)^2)) = sqrt(1/18) ~ 0.236.
    assert rms[-10:].mean() < min(0.12, rms[0], np.sqrt(1 / 18))
    lengths = np.asarray(out.metrics["length"])
    assert lengths.min() >= 3 and lengths.max() < 100  # C -> E -> right at best
    # The undiscounted return is 1 exactly when the walk exits on the right.
    assert set(np.unique(out.metrics["return"])) <= {0.0, 1.0}


def test_batch_mc_converges_to_sample_averages_and_batch_td_beats_it():
    # Batch MC's fixed point is the average of all returns seen, which is
    # every-visit MC with sample averages on the same episodes (same keys).
    # Sweeps are stable while alpha < ~1 / max_s N(s) (N(C) ~ 300 here).
    hp = prediction.BatchHParams(alpha=0.002)
    batch_mc = BATCH_MC(KEYS, hp)
    avg = MC_EVERY_AVG(KEYS, prediction.PredictionHParams())
    np.testing.assert_array_equal(batch_mc.metrics["length"], avg.metrics["length"])
    np.testing.assert_allclose(
        batch_mc.metrics["rms_error"], avg.metrics["rms_error"], atol=2e-3
    )
    np.testing.assert_allclose(batch_mc.state.v, avg.state.v, atol=2e-3)
    # Batch TD(0) ends at the certainty-equivalence estimate of its data ...
    batch_td = BATCH_TD(KEYS, hp)
    for i in range(2):
        n, rsum, c = (np.asarray(x[i], np.float64) for x in batch_td.state.stats)
        seen = n > 0
        a = (np.diag(n) - c)[np.ix_(seen, seen)]
        np.testing.assert_allclose(
            batch_td.state.v[i][seen], np.linalg.solve(a, rsum[seen]), atol=1e-3
        )
    # ... which beats batch MC on the random walk (fig. 6.2).
    td_rms = float(batch_td.metrics["rms_error"][:, -20:].mean())
    mc_rms = float(batch_mc.metrics["rms_error"][:, -20:].mean())
    assert td_rms < mc_rms
    # Every run sweeps after its first episode and always converges; a later
    # episode can leave the certainty-equivalence fixed point where it was
    # (the same transitions again), and then no sweep is needed.
    sweeps = np.asarray(batch_td.metrics["sweeps"])
    assert (sweeps[:, 0] > 0).all()
    assert (sweeps < prediction.PredictionConfig().batch_max_sweeps).all()


def test_same_seed_same_bits_permutation_and_no_recompile():
    hp = prediction.PredictionHParams(alpha=0.1)
    a = TD0(KEYS, hp)
    perm = np.random.default_rng(1).permutation(NUM_SEEDS)
    permuted = KEYS[perm]
    with count_compilations() as compiles:
        b = TD0(KEYS, hp)
        c = TD0(permuted, prediction.PredictionHParams(alpha=0.2))
        d = TD0(permuted, hp)
    for k in a.metrics:
        np.testing.assert_array_equal(a.metrics[k], b.metrics[k])
        np.testing.assert_array_equal(a.metrics[k][perm], d.metrics[k])
    np.testing.assert_array_equal(a.state.v[perm], d.state.v)
    assert not np.array_equal(a.state.v[perm], c.state.v)  # alpha mattered
    assert compiles() == 0


def test_given_policy_and_gamma():
    # "Always right": every episode is C -> D -> E -> exit with reward 1.
    # gamma = 0.5: V = (0, 1/8, 1/4, 1/2, 1, 0) on A..E is ... for C, D, E:
    # V(E) = 1, V(D) = 0.5, V(C) = 0.25; first-visit sample averages learn
    # them exactly from one episode, and A, B (never visited) keep V0 = 0.5
    # against their true 1/16 and 1/8.
    right = policies.one_hot_policy(jnp.ones(7, jnp.int32), 2)
    config = prediction.MCFirstVisitConfig(3, step_size="sample_average")
    train = jax.jit(prediction.make_train(config, ENV, PARAMS, right))
    out = train(jax.random.key(0), prediction.PredictionHParams(gamma=0.5))
    np.testing.assert_allclose(out.state.v, [0, 0.5, 0.5, 0.25, 0.5, 1.0, 0], rtol=1e-6)
    true_v = np.array([0, 1 / 16, 1 / 8, 1 / 4, 1 / 2, 1, 0])
    np.testing.assert_allclose(out.state.v_true, true_v, rtol=1e-6)
    rms = np.sqrt(((0.5 - 1 / 16) ** 2 + (0.5 - 1 / 8) ** 2) / 5)
    np.testing.assert_allclose(out.metrics["rms_error"], rms, rtol=1e-5)
    np.testing.assert_array_equal(out.metrics["length"], 3)
    # The exact values are DP's for the same policy and discount.
    model = jax.jit(ENV.model)(PARAMS)
    np.testing.assert_allclose(dp.policy_evaluation(model, right, 0.5), true_v)


def test_bad_input():
    with pytest.raises(ValueError, match=r"alpha=0.0.*\(0.0, 1.0\]"):
        check_hparams(prediction.PredictionHParams(alpha=0.0))
    with pytest.raises(ValueError, match=r"gamma=1.1.*\[0.0, 1.0\]"):
        check_hparams(prediction.PredictionHParams(gamma=1.1))
    with pytest.raises(ValueError, match="initial_value"):
        check_hparams(prediction.PredictionHParams(initial_value=float("nan")))
    check_hparams(prediction.BatchHParams())
    with pytest.raises(ValueError, match="method='td1'"):
        prediction.PredictionConfig(method="td1")
    with pytest.raises(ValueError, match="step_size='constant'"):
        prediction.BatchTDConfig(step_size="sample_average")
    with pytest.raises(ValueError, match="num_episodes"):
        prediction.PredictionConfig(num_episodes=0)
    with pytest.raises(ValueError, match="shape"):
        prediction.make_train(prediction.PredictionConfig(), ENV, PARAMS, jnp.ones(7))
    with pytest.raises(ValueError, match="probabilities"):
        prediction.make_train(
            prediction.PredictionConfig(), ENV, PARAMS, jnp.ones((7, 2))
        )
    bandit, bandit_params = envs.make("Bandit-v0")
    with pytest.raises(ValueError, match="not a tabular"):
        prediction.make_train(prediction.PredictionConfig(), bandit, bandit_params)
