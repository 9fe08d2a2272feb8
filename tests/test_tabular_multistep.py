"""n-step TD and SARSA, TD(lambda), true online TD(lambda), SARSA(lambda) and
the offline lambda-return: the pure updates against the textbook's pseudocode
written as plain NumPy loops over fixed trajectories, and the runners against
their one-step special cases."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from jaxrl import config as jaxrl_config
from jaxrl import parallel
from jaxrl.tabular import control, multistep, prediction

# A 7-state random walk trajectory (0 and 6 terminal): S_0..S_T and R_1..R_T.
STATES = [3, 2, 3, 4, 5, 4, 5, 6]
REWARDS = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
ACTIONS = [0, 1, 1, 1, 0, 1, 1]
# V(6) is not 0, so that a truncated episode's bootstrap from its last state
# (6 read as a live state) changes the result: the two cases below differ.
V0 = np.array([0.0, 0.1, 0.3, -0.2, 0.4, 0.5, 0.7])


def np_nstep(states, rewards, n, gamma, alpha, table, terminated, actions=None):
    """S&B's n-step TD (7.1) / n-step SARSA (7.2) pseudocode, as printed: for
    t = 0, 1, ...; tau = t - n + 1; update while tau < T. On truncation the
    last state is not terminal and bootstraps. ``table`` is V or Q."""
    table = np.array(table, dtype=np.float64)
    big_t = len(rewards)
    q_mode = actions is not None

    def value(i):
        if q_mode:
            return table[states[i], actions[i]]
        return table[states[i]]

    for t in range(big_t + n):
        tau = t - n + 1
        if tau >= big_t:
            break
        if tau >= 0:
            h = min(tau + n, big_t)
            g = sum(
                gamma ** (i - tau - 1) * rewards[i - 1] for i in range(tau + 1, h + 1)
            )
            if tau + n < big_t or not terminated:
                g += gamma ** (h - tau) * value(h)
            idx = (states[tau], actions[tau]) if q_mode else states[tau]
            table[idx] += alpha * (g - table[idx])
    return table


def jax_nstep_v(states, rewards, n, gamma, alpha, v, terminated):
    """The runner's use of the pure ops: push, update, flush at the end."""
    w = multistep.window_init(16)
    v = jnp.asarray(v, jnp.float32)
    step = jax.jit(multistep.nstep_td_step)
    big_t = len(rewards)
    for t in range(big_t):
        w = multistep.window_push(w, states[t], 0, rewards[t])
        live = 0.0 if (terminated and t == big_t - 1) else 1.0
        v = step(v, w, n, gamma, alpha, live * v[states[t + 1]])
    live = 0.0 if terminated else 1.0
    last = states[-1]
    return multistep.nstep_flush(v, w, n, gamma, alpha, lambda tab: live * tab[last])


def test_nstep_target_by_hand():
    # Rewards 1, 2, 3 then bootstrap 10 at gamma 0.5:
    # 1 + 0.5 * 2 + 0.25 * 3 + 0.125 * 10 = 4.0.
    w = multistep.window_init(4)
    for r in (1.0, 2.0, 3.0):
        w = multistep.window_push(w, 0, 0, r)
    assert float(multistep.nstep_target(w, 0, 0.5, 10.0)) == pytest.approx(4.0)
    # From tau = 1: 2 + 0.5 * 3 + 0.25 * 10 = 6.0.
    assert float(multistep.nstep_target(w, 1, 0.5, 10.0)) == pytest.approx(6.0)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 12])
@pytest.mark.parametrize("terminated", [True, False])
def test_nstep_td_matches_the_pseudocode(n, terminated):
    # n = 12 > T = 7: every update waits for the end (a Monte Carlo episode).
    gamma, alpha = 0.9, 0.3
    want = np_nstep(STATES, REWARDS, n, gamma, alpha, V0, terminated)
    got = jax_nstep_v(STATES, REWARDS, n, gamma, alpha, V0, terminated)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)
    other = np_nstep(STATES, REWARDS, n, gamma, alpha, V0, not terminated)
    assert not np.allclose(want, other)  # the bootstrap matters here


@pytest.mark.parametrize("n", [1, 3, 9])
def test_nstep_sarsa_matches_the_pseudocode(n):
    gamma, alpha, big_t = 0.9, 0.4, len(REWARDS)
    q0 = np.arange(14, dtype=np.float64).reshape(7, 2) / 10
    actions = ACTIONS + [0]  # A_T: read only when truncated
    want = np_nstep(STATES, REWARDS, n, gamma, alpha, q0, False, actions)
    q = jnp.asarray(q0, jnp.float32)
    w = multistep.window_init(16)
    for t in range(big_t):
        w = multistep.window_push(w, STATES[t], actions[t], REWARDS[t])
        boot = q[STATES[t + 1], actions[t + 1]]
        q = multistep.nstep_q_step(q, w, n, gamma, alpha, boot)
    end = (STATES[-1], actions[-1])
    q = multistep.nstep_flush(q, w, n, gamma, alpha, lambda tab: tab[end])
    np.testing.assert_allclose(np.asarray(q), want, rtol=1e-5, atol=1e-6)


def np_lambda_return_offline(v, lam, gamma, terminated=True):
    """Forward view (eq. 12.2-12.3, V fixed): G^lambda_t = (1 - lam) sum_n
    lam^(n-1) G_{t:t+n} + lam^(T-t-1) G_t, then the updates in order t = 0..T-1
    are made by the caller. A truncated episode's G_t bootstraps from V(S_T)."""
    big_t = len(REWARDS)

    def g_n(t, n):
        h = min(t + n, big_t)
        g = sum(gamma ** (i - t - 1) * REWARDS[i - 1] for i in range(t + 1, h + 1))
        live = t + n < big_t or not terminated
        return g + (gamma**n * v[STATES[t + n]] if live else 0.0)

    out = []
    for t in range(big_t):
        mix = sum((1 - lam) * lam ** (n - 1) * g_n(t, n) for n in range(1, big_t - t))
        out.append(mix + lam ** (big_t - t - 1) * g_n(t, big_t - t))
    return out


def _episode_arrays(pad=3, terminated=True):
    obs = jnp.array(STATES[:-1] + [0] * pad)
    reward = jnp.array(REWARDS + [0.0] * pad)
    next_obs = jnp.array(STATES[1:] + [0] * pad)
    end = [terminated]
    terminated = jnp.array([False] * (len(REWARDS) - 1) + end + [False] * pad)
    return obs, reward, next_obs, terminated, jnp.int32(len(REWARDS))


@pytest.mark.parametrize("terminated", [True, False])
@pytest.mark.parametrize("lam", [0.0, 0.5, 0.9, 1.0])
def test_offline_lambda_return_matches_the_forward_view(lam, terminated):
    gamma, alpha = 0.9, 0.2
    g = np_lambda_return_offline(V0, lam, gamma, terminated)
    want = V0.copy()
    for t, s in enumerate(STATES[:-1]):
        want[s] += alpha * (g[t] - want[s])
    arrays = _episode_arrays(terminated=terminated)
    got = multistep.offline_lambda_update(
        jnp.asarray(V0, jnp.float32), *arrays, gamma, lam, alpha
    )
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)


def _run_traces(step, v, carry, gamma, lam, alpha, **kw):
    v = jnp.asarray(v, jnp.float32)
    for t in range(len(REWARDS)):
        term = t == len(REWARDS) - 1
        discount = 0.0 if term else gamma
        v, carry = step(
            v, carry, STATES[t], REWARDS[t], STATES[t + 1], discount, gamma, lam,
            alpha, **kw
        )  # fmt: skip
    return v


@pytest.mark.parametrize("trace", multistep.TRACES)
@pytest.mark.parametrize("lam", [0.5, 0.9])
def test_td_lambda_approaches_the_offline_lambda_return_for_small_alpha(lam, trace):
    # Summed over an episode, TD(lambda)'s increments equal the offline
    # lambda-return's when V is held fixed (S&B 12.2, accumulating traces);
    # updating online moves them apart by O(alpha). Replacing traces differ
    # only where a state recurs within the episode, as 3, 4 and 5 do here.
    gamma, alpha = 0.9, 1e-4
    z0 = jnp.zeros(7, jnp.float32)
    v_td = _run_traces(multistep.td_lambda_step, V0, z0, gamma, lam, alpha, trace=trace)
    v_off = multistep.offline_lambda_update(
        jnp.asarray(V0, jnp.float32), *_episode_arrays(), gamma, lam, alpha
    )
    inc_td = (np.asarray(v_td, np.float64) - V0) / alpha
    inc_off = (np.asarray(v_off, np.float64) - V0) / alpha
    if trace == "accumulating":
        np.testing.assert_allclose(inc_td, inc_off, atol=2e-2)
    else:
        assert not np.allclose(inc_td, inc_off, atol=2e-2)


def np_online_lambda_return(v0, lam, gamma, alpha):
    """The online lambda-return algorithm (S&B 12.4, eq. 12.10): for each
    horizon h = 1..T redo the updates t = 0..h-1 from the episode's start
    values toward truncated lambda-returns G^lambda_{t:h}, whose n-step parts
    bootstrap from the values at the end of horizon t + n - 1."""
    big_t = len(REWARDS)
    ends = [np.array(v0, np.float64)]  # ends[k]: values after horizon k

    def g_n(t, n, h):
        end = min(t + n, h)
        g = sum(gamma ** (i - t - 1) * REWARDS[i - 1] for i in range(t + 1, end + 1))
        if end < big_t:  # S_end is not terminal
            g += gamma ** (end - t) * ends[end - 1][STATES[end]]
        return g

    for h in range(1, big_t + 1):
        v = np.array(v0, np.float64)
        for t in range(h):
            mix = sum(
                (1 - lam) * lam ** (n - 1) * g_n(t, n, h) for n in range(1, h - t)
            )
            g = mix + lam ** (h - t - 1) * g_n(t, h - t, h)
            v[STATES[t]] += alpha * (g - v[STATES[t]])
        ends.append(v)
    return ends[-1]


@pytest.mark.parametrize("lam", [0.0, 0.6, 0.95])
def test_true_online_td_lambda_equals_the_online_lambda_return(lam):
    # van Seijen & Sutton (2014): the same values at every step, not only
    # for small alpha; here at a large alpha = 0.5.
    gamma, alpha = 0.9, 0.5
    want = np_online_lambda_return(V0, lam, gamma, alpha)
    carry = multistep.TrueOnlineState(z=jnp.zeros(7), v_old=jnp.float32(0))
    got = _run_traces(multistep.true_online_step, V0, carry, gamma, lam, alpha)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)


def test_sarsa_lambda_step_by_hand():
    # z <- 0.9 * 0.5 * z, then z(1, 0) += 1: [[0, 0], [1 + 0.45, 0]] from
    # z = [[0, 0], [1, 0]]; delta = 1 + 0.9 * 2 - 0.5 = 2.3; Q += 0.1 delta z.
    q = jnp.array([[0.0, 0.0], [0.5, 0.0]])
    z = jnp.array([[0.0, 0.0], [1.0, 0.0]])
    q1, z1 = multistep.sarsa_lambda_step(q, z, 1, 0, 1.0, 2.0, 0.9, 0.9, 0.5, 0.1)
    np.testing.assert_allclose(np.asarray(z1), [[0, 0], [1.45, 0]], rtol=1e-6)
    np.testing.assert_allclose(
        np.asarray(q1), [[0, 0], [0.5 + 0.1 * 2.3 * 1.45, 0]], rtol=1e-6
    )
    _, z2 = multistep.sarsa_lambda_step(
        q, z, 1, 0, 1.0, 2.0, 0.9, 0.9, 0.5, 0.1, trace="replacing"
    )
    np.testing.assert_allclose(np.asarray(z2), [[0, 0], [1.0, 0]])


# Runners: each multi-step method at its one-step setting equals the one-step
# runner on the same keys (same actions, same updates up to rounding).
WALK, WALK_PARAMS = envs.make("RandomWalk-v0", max_steps_in_episode=100)
KEYS = jax.random.split(jax.random.key(3), 8)
START_RMS = np.sqrt(10 / 180)


def _prediction(config, hparams):
    train = prediction.make_train(config, WALK, WALK_PARAMS)
    return jax.jit(jax.vmap(train, (0, None)))(KEYS, hparams)


def test_prediction_runners_reduce_to_td0():
    td0 = _prediction(
        prediction.PredictionConfig(30), prediction.PredictionHParams(alpha=0.1)
    )
    cases = [
        (prediction.NStepTDConfig(30, max_n=8), prediction.NStepHParams(0.1, n_step=1)),
        (prediction.TDLambdaConfig(30), prediction.LambdaHParams(0.1, lambda_=0.0)),
        (prediction.TrueOnlineConfig(30), prediction.LambdaHParams(0.1, lambda_=0.0)),
    ]
    for config, hparams in cases:
        out = _prediction(config, hparams)
        np.testing.assert_array_equal(out.metrics["length"], td0.metrics["length"])
        np.testing.assert_allclose(
            out.state.v, td0.state.v, rtol=1e-5, atol=1e-6, err_msg=config.method
        )


def test_prediction_multistep_learns_and_sweeps_equal_single_runs():
    # A sweep over (n_step, alpha) in one call equals each setting alone, and
    # every method's error falls well below its start: V0 = 0.5 against the
    # true 1/6 .. 5/6 is an RMS of sqrt(10 / 180) = 0.236.
    config = prediction.NStepTDConfig(40, max_n=8)
    settings = [
        prediction.NStepHParams(alpha=a, n_step=n) for n, a in ((2, 0.2), (8, 0.1))
    ]
    train = prediction.make_train(config, WALK, WALK_PARAMS)
    swept = jax.jit(jax.vmap(jax.vmap(train, (0, None)), (None, 0)))(
        KEYS, parallel.stack(settings)
    )
    for i, hp in enumerate(settings):
        one = _prediction(config, hp)
        np.testing.assert_array_equal(
            swept.metrics["rms_error"][i], one.metrics["rms_error"]
        )
        rms = np.asarray(one.metrics["rms_error"])
        assert rms[:, -10:].mean() < 0.6 * START_RMS
    for config in (
        prediction.TDLambdaConfig(40, trace="replacing"),
        prediction.TrueOnlineConfig(40),
        prediction.OfflineLambdaConfig(40),
    ):
        rms = np.asarray(
            _prediction(config, prediction.LambdaHParams(0.1)).metrics["rms_error"]
        )
        assert rms[:, -10:].mean() < 0.6 * START_RMS, config.method


WINDY, WINDY_PARAMS = envs.make("WindyGridworld-v0", max_steps_in_episode=2000)


def _control(config, hparams):
    train = control.make_train(config, WINDY, WINDY_PARAMS)
    return jax.jit(jax.vmap(train, (0, None)))(KEYS[:4], hparams)


def test_control_runners_reduce_to_sarsa_and_learn():
    base = control.ControlHParams(alpha=0.5)
    sarsa = _control(control.SarsaConfig(60), base)
    for config, hparams in (
        (
            control.NStepSarsaConfig(60, max_n=4),
            control.NStepControlHParams(0.5, n_step=1),
        ),
        (control.SarsaLambdaConfig(60), control.LambdaControlHParams(0.5, lambda_=0.0)),
    ):
        out = _control(config, hparams)
        np.testing.assert_array_equal(out.metrics["length"], sarsa.metrics["length"])
        np.testing.assert_allclose(out.state.q, sarsa.state.q, rtol=1e-5, atol=1e-5)
    expected = _control(control.ExpectedSarsaConfig(60), base)
    out = _control(
        control.NStepExpectedSarsaConfig(60, max_n=4),
        control.NStepControlHParams(0.5, n_step=1),
    )
    np.testing.assert_array_equal(out.metrics["length"], expected.metrics["length"])
    np.testing.assert_allclose(out.state.q, expected.state.q, rtol=1e-5, atol=1e-5)
    # With n = 4 and lambda = 0.9 the windy gridworld's episodes shorten from
    # thousands of steps toward the optimum 15 (with epsilon 0.1, ~17-25).
    for config, hparams in (
        (
            control.NStepSarsaConfig(60, max_n=4),
            control.NStepControlHParams(0.5, n_step=4),
        ),
        (
            control.NStepExpectedSarsaConfig(60, max_n=4),
            control.NStepControlHParams(0.5, n_step=4),
        ),
        (control.SarsaLambdaConfig(60), control.LambdaControlHParams(0.5, lambda_=0.9)),
    ):
        metrics = _control(config, hparams).metrics
        length = np.asarray(metrics["length"])
        assert length[:, :3].mean() > 100, config.algorithm
        assert length[:, -10:].mean() < 40, config.algorithm
        # An episode is flagged truncated exactly when it hit the cap.
        np.testing.assert_array_equal(metrics["truncated"], length == 2000)


def test_multistep_config_errors():
    # A field kept for other algorithms is refused away from its default.
    with pytest.raises(ValueError, match="max_n=4 does not apply to td0"):
        prediction.PredictionConfig(max_n=4)
    with pytest.raises(ValueError, match="trace='replacing' does not apply"):
        control.ControlConfig(trace="replacing")
    with pytest.raises(ValueError, match="runs in episodes"):
        control.NStepSarsaConfig(num_steps=1000)
    with pytest.raises(ValueError, match="trace="):
        prediction.TDLambdaConfig(trace="dutch")
    with pytest.raises(ValueError, match="larger than the window max_n=8"):
        prediction.NStepTDConfig(max_n=8).check_hparams(
            prediction.NStepHParams(n_step=9)
        )
    with pytest.raises(ValueError, match="whole number"):
        control.NStepSarsaConfig().check_hparams(
            control.NStepControlHParams(n_step=1.5)
        )
    with pytest.raises(jaxrl_config.ConfigError, match="max_n >= 64"):
        r = jaxrl_config.resolve("nstep_td", None, {"max_n": 32})
        jaxrl_config.expand_sweep(r["hparams"], {"n_step": [4, 64]}, r["config"])
