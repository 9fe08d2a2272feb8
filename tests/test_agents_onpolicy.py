"""On-policy agents (PPO, A2C, REINFORCE) and their shared loop.

Compiling is the cost on a CPU, so each agent is compiled once for all the
discrete probe environments (their dynamics are a traced parameter, see
``probe_envs.DiscreteProbe``: the env parameters are an argument of the jitted
run) and once for the continuous probe; module-scoped fixtures share the
results between tests. The runs are tiny: 4 envs x 8 steps, 16 hidden units,
150 iterations.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import probe_envs
import pytest
from compiles import count_compilations
from gymnax.environments import spaces

import envs
from jaxrl import parallel, registry
from jaxrl.agents import a2c, onpolicy, ppo, reinforce
from jaxrl.types import check_hparams

AGENTS = {"ppo": ppo, "a2c": a2c, "reinforce": reinforce}
ITERS = 150  # discrete probes
ITERS_CONTINUOUS = 400
GAMMA = 0.5
# The runs are tiny, so compile time is what costs: skip XLA's backend
# optimisations for the functions jitted here (about half the compile time).
FAST_COMPILE = {"xla_backend_optimization_level": 0}


def probe_config(mod, iterations=ITERS, eval_every=0):
    kw = dict(
        num_envs=4,
        num_steps=8,
        total_timesteps=4 * 8 * iterations,
        hidden_sizes=(16,),
        eval_every=eval_every,
        eval_episodes=4,
    )
    if mod is ppo:
        kw.update(update_epochs=2, num_minibatches=2)
    return mod.Config(**kw)


@functools.cache
def probe_runner(name: str, continuous: bool):
    """``(run, jitted run, networks)`` for an agent on the discrete or the
    continuous probes: ``run(key, hparams, env_params) -> TrainOutput``."""
    mod = AGENTS[name]
    if continuous:
        env = probe_envs.ContinuousActionReward()
        # One greedy evaluation, after the last iteration.
        config = probe_config(mod, ITERS_CONTINUOUS, eval_every=ITERS_CONTINUOUS)
    else:
        env = probe_envs.DiscreteProbe()
        config = probe_config(mod)

    def run(key, hparams, env_params):
        return mod.make_train(config, env, env_params)(key, hparams)

    jitted = jax.jit(run, compiler_options=FAST_COMPILE)
    return run, jitted, onpolicy.make_networks(config, env, env.default_params)


def probe_hparams(name: str):
    return AGENTS[name].HParams(lr=1e-2, gamma=GAMMA)


@pytest.fixture(scope="module", params=list(AGENTS))
def discrete(request):
    """Every discrete probe trained by one agent, from one compilation."""
    name = request.param
    _, run, nets = probe_runner(name, False)
    out = {}
    key, hp = jax.random.key(0), probe_hparams(name)
    for i, probe in enumerate(probe_envs.DISCRETE):
        env = probe()
        params = env.default_params
        with count_compilations() as compiles:
            out[env.name] = run(key, hp, params)
        assert i == 0 or compiles() == 0  # no recompilation across probes
    return name, nets, out


def _obs(*values):
    return jnp.asarray(values, jnp.float32)[:, None]


def test_value_of_constant_reward_is_one(discrete):
    _, nets, out = discrete
    v = nets.value(out["ConstantReward"].state.params, _obs(0.0))
    np.testing.assert_allclose(v, [1.0], atol=0.05)


def test_value_depends_on_observation(discrete):
    _, nets, out = discrete
    v = nets.value(out["ObsDependentReward"].state.params, _obs(-1.0, 1.0))
    np.testing.assert_allclose(v, [-1.0, 1.0], atol=0.1)


def test_two_step_value_is_discounted(discrete):
    # V(1) = 1 (the last reward), V(0) = 0 + gamma * V(1) = 0.5.
    _, nets, out = discrete
    v = nets.value(out["TwoStepDiscount"].state.params, _obs(0.0, 1.0))
    np.testing.assert_allclose(v, [GAMMA, 1.0], atol=0.05)


def test_policy_picks_the_rewarded_action(discrete):
    _, nets, out = discrete
    res = out["ActionDependentReward"]
    logits = nets.policy(res.state.params, _obs(0.0))
    assert jax.nn.softmax(logits)[0, 1] > 0.9
    assert np.isnan(res.metrics["eval_return"]).all()  # eval_every=0: never
    assert np.nanmean(res.metrics["return"][-10:]) > 0.8


def test_policy_depends_on_observation(discrete):
    _, nets, out = discrete
    params = out["ObsActionDependentReward"].state.params
    np.testing.assert_array_equal(
        nets.greedy(None, params, (), _obs(-1.0, 1.0))[0], [0, 1]
    )
    # ...and the value of the (near-)optimal policy is the reward, +1.
    np.testing.assert_allclose(nets.value(params, _obs(-1.0, 1.0)), 1.0, atol=0.2)


def test_truncation_bootstraps_from_the_final_observation(discrete):
    # TimeLimitChain, gamma = 0.5: V(B) = 1 / (1 - gamma) = 2, V(A) = 1. Treating
    # the time limit as termination would give V(B) = 1, bootstrapping from the
    # reset observation A would give V(B) = 4/3.
    _, nets, out = discrete
    v = nets.value(out["TimeLimitChain"].state.params, _obs(0.0, 1.0))
    np.testing.assert_allclose(v, [1.0, 2.0], atol=0.1)


@pytest.mark.parametrize("name", list(AGENTS))
def test_gaussian_policy_finds_the_best_continuous_action(name):
    _, run, nets = probe_runner(name, True)
    env = probe_envs.ContinuousActionReward()
    out = run(jax.random.key(1), probe_hparams(name), env.default_params)
    mean, log_std = nets.policy(out.state.params, _obs(0.0))
    assert abs(float(mean[0, 0]) - 0.5) < 0.15  # target 0.5
    assert float(log_std[0, 0]) < 0.0  # narrower than the initial std 1
    assert out.metrics["eval_return"][-1] > -0.05  # reward -(a - 0.5)^2
    assert np.isnan(out.metrics["eval_return"][:-1]).all()


def naive_advantages(v_tm1, r, term, trunc, v_t, gamma, lam):
    """GAE by a Python loop over time, per environment (the reference)."""
    T, B = r.shape
    adv = np.zeros((T, B))
    for b in range(B):
        next_adv = 0.0
        for t in reversed(range(T)):
            discount = 0.0 if term[t, b] else gamma
            delta = r[t, b] + discount * v_t[t, b] - v_tm1[t, b]
            carry = 0.0 if (term[t, b] or trunc[t, b]) else discount * lam
            next_adv = delta + carry * next_adv
            adv[t, b] = next_adv
    return adv, adv + v_tm1


def test_advantages_bootstrap_on_truncation_not_on_termination():
    # Two envs, same rewards 1, 2, 3 and values; step 1 ends the episode by
    # truncation in env 0 and by termination in env 1; step 2 is cut by the
    # rollout. gamma = 0.9, lambda = 1 (Monte-Carlo returns within the rollout).
    # V(s_t) = 10, 20, 30; V(s'_t) = 20, 5 (the final observation), 40.
    #   G_2 = 3 + 0.9 * 40 = 39 (both: bootstrap at the rollout's cut)
    #   env 0: G_1 = 2 + 0.9 * 5 = 6.5,  G_0 = 1 + 0.9 * 6.5 = 6.85
    #   env 1: G_1 = 2,                  G_0 = 1 + 0.9 * 2 = 2.8
    v_tm1 = np.array([[10.0, 10.0], [20.0, 20.0], [30.0, 30.0]])
    v_t = np.array([[20.0, 20.0], [5.0, 5.0], [40.0, 40.0]])
    r = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    term = np.array([[False, False], [False, True], [False, False]])
    trunc = np.array([[False, False], [True, False], [False, False]])
    adv, target = onpolicy.compute_advantages(v_tm1, r, term, trunc, v_t, 0.9, 1.0)
    np.testing.assert_allclose(target, [[6.85, 2.8], [6.5, 2.0], [39.0, 39.0]])
    np.testing.assert_allclose(adv, target - v_tm1, atol=1e-5)


def test_advantages_match_a_naive_loop_under_jit():
    rng = np.random.default_rng(0)
    T, B = 12, 3
    v_tm1, v_t, r = (rng.normal(size=(T, B)).astype(np.float32) for _ in range(3))
    term = rng.random((T, B)) < 0.15
    trunc = (rng.random((T, B)) < 0.15) & ~term
    f = jax.jit(onpolicy.compute_advantages)
    adv, target = f(v_tm1, r, term, trunc, v_t, 0.95, 0.8)
    ref_adv, ref_target = naive_advantages(v_tm1, r, term, trunc, v_t, 0.95, 0.8)
    np.testing.assert_allclose(adv, ref_adv, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(target, ref_target, rtol=1e-5, atol=1e-5)


def test_next_values_equal_a_full_pass_with_few_or_many_truncations():
    # V(s'_t) from acting's values and passes over the truncated steps only
    # equals the critic run on every final observation where it matters (not
    # where the episode terminated), for 0, 1, B and more than B truncations
    # in a rollout, one run at a time and under vmap.
    T, B = 6, 3
    rng = np.random.default_rng(1)

    def value_after(states, obs):  # a "critic" reading the state and the obs
        return obs.sum(-1) + 10.0 * states[..., 0]

    def case(num_truncated):
        obs = rng.normal(size=(T + 1, B, 2)).astype(np.float32)
        final_obs = obs[1:].copy()
        states = rng.normal(size=(T, B, 1)).astype(np.float32)
        flat = rng.permutation(T * B)
        truncated = np.zeros(T * B, bool)
        truncated[flat[:num_truncated]] = True
        truncated = truncated.reshape(T, B)
        terminated = (rng.random((T, B)) < 0.3) & ~truncated
        done = truncated | terminated
        # auto-reset: the next observation is a fresh one after an episode end
        obs[1:][done] = rng.normal(size=(done.sum(), 2))
        states_next = np.where(done[..., None], 0.0, states)  # reset after ends
        values = value_after(
            np.concatenate([np.zeros((1, B, 1)), states_next[:-1]]), obs[:-1]
        ).astype(np.float32)
        return values, truncated, terminated, final_obs, states

    cases = [case(n) for n in (0, 1, B, 2 * B + 1, T * B)]
    fn = jax.jit(functools.partial(onpolicy.next_values, value_after))
    for values, truncated, terminated, final_obs, states in cases:
        got = fn(values, truncated, final_obs, states, states[-1])
        full = value_after(states, final_obs)
        keep = ~terminated
        np.testing.assert_allclose(np.asarray(got)[keep], full[keep], rtol=1e-6)
    stacked = [np.stack(x) for x in zip(*cases, strict=True)]
    values, truncated, terminated, final_obs, states = stacked
    got = jax.jit(jax.vmap(fn))(values, truncated, final_obs, states, states[:, -1])
    full = value_after(states, final_obs)
    np.testing.assert_allclose(
        np.asarray(got)[~terminated], full[~terminated], rtol=1e-6
    )


def test_same_seed_same_bits_and_another_seed_differs():
    _, run, _ = probe_runner("a2c", False)  # compiled by the fixture already
    env = probe_envs.ObsActionDependentReward()
    hp = probe_hparams("a2c")
    k3, k4, params = jax.random.key(3), jax.random.key(4), env.default_params
    other_lr = hp.replace(lr=3e-3)
    with count_compilations() as compiles:
        a = run(k3, hp, params)
        b = run(k3, hp, params)
        c = run(k4, hp, params)
        # A different learning rate is a traced value: same compiled function.
        run(k3, other_lr, params)
    assert compiles() == 0
    for k in a.metrics:
        np.testing.assert_array_equal(a.metrics[k], b.metrics[k])
    assert not np.array_equal(a.metrics["policy_loss"], c.metrics["policy_loss"])


def test_parallel_run_on_cartpole_equals_a_loop_over_seeds():
    env, env_params = envs.make("CartPole-v1")
    config = ppo.Config(
        num_envs=4,
        num_steps=16,
        total_timesteps=4 * 16 * 4,
        update_epochs=2,
        num_minibatches=2,
        hidden_sizes=(),  # linear actor and critic: less to compile
        eval_every=2,
        eval_episodes=2,
    )
    trainer = ppo.make_train(config, env, env_params)
    assert trainer.num_iterations == 4
    hp = ppo.HParams()
    out = parallel.run(trainer, hp, seed=0, num_seeds=2, num_chunks=2, progress=False)
    expected = {
        "env_steps",
        "return",
        "eval_return",
        "loss",
        "policy_loss",
        "value_loss",
        "entropy",
        "approx_kl",
        "clip_fraction",
    }
    assert set(out.metrics) == expected
    for k, v in out.metrics.items():
        assert v.shape == (2, 4), k
    np.testing.assert_array_equal(out.metrics["env_steps"][0], [64, 128, 192, 256])
    ev = out.metrics["eval_return"]  # after iterations 2 and 4 only
    assert np.isnan(ev[:, [0, 2]]).all() and (ev[:, [1, 3]] >= 1).all()
    assert np.isfinite(out.metrics["return"][:, 1:]).all()  # episodes finished
    # vmap over seeds, in chunks, equals a Python loop over seeds to float
    # tolerance, not bit for bit: batched and unbatched matmuls (and the two
    # compilations) may round differently on the CPU.
    single = jax.jit(trainer, compiler_options=FAST_COMPILE)
    keys = parallel.seed_keys(0, 2)
    for i in range(2):
        one = single(keys[i], hp)
        for k in expected:
            np.testing.assert_allclose(
                one.metrics[k], out.metrics[k][i], rtol=1e-4, atol=1e-6, err_msg=k
            )
        leaves = zip(
            jax.tree.leaves(one.state.params),
            jax.tree.leaves(out.state.params),
            strict=True,
        )
        for a, b in leaves:
            np.testing.assert_allclose(a, b[i], rtol=1e-4, atol=1e-6)


def test_config_errors_are_clear():
    with pytest.raises(ValueError, match=r"num_envs\*num_steps=4\*10=40 does not"):
        ppo.Config(num_envs=4, num_steps=10, num_minibatches=3)
    with pytest.raises(ValueError, match="less than one rollout"):
        ppo.Config(num_envs=4, num_steps=128, total_timesteps=100)
    with pytest.raises(ValueError, match="one gradient step per rollout"):
        a2c.Config(update_epochs=4)
    with pytest.raises(ValueError, match="one gradient step per rollout"):
        reinforce.Config(num_minibatches=2)
    with pytest.raises(ValueError, match="activation='gelu' is unknown"):
        ppo.Config(activation="gelu")
    with pytest.raises(ValueError, match="hidden_sizes"):
        ppo.Config(hidden_sizes=(64, 0))
    with pytest.raises(ValueError, match="num_envs=0 must be an integer >= 1"):
        a2c.Config(num_envs=0)
    with pytest.raises(ValueError, match="optimizer='sgd' is unknown"):
        a2c.Config(optimizer="sgd")
    with pytest.raises(ValueError, match="needs a ppo.Config"):
        ppo.make_train(a2c.Config(), *probe_envs.make("ConstantReward"))
    # What the command line passes (JSON): lists and 5e5 are normalised.
    c = ppo.Config(hidden_sizes=[8, 8], total_timesteps=5e5)
    assert c.hidden_sizes == (8, 8) and c.total_timesteps == 500_000
    assert c.num_iterations == 500_000 // 512


class _DictActions(probe_envs.DiscreteProbe):
    def action_space(self, params=None):
        return spaces.Dict({"a": spaces.Discrete(2)})


class _MatrixActions(probe_envs.DiscreteProbe):
    def action_space(self, params=None):
        return spaces.Box(-1.0, 1.0, (2, 2))


@pytest.mark.parametrize("name", list(AGENTS))
def test_unsupported_spaces_are_refused(name):
    mod = AGENTS[name]
    env, env_params = envs.make("GridWorld-v0")  # integer observations
    with pytest.raises(ValueError, match="unsupported observation space"):
        mod.make_train(mod.Config(), env, env_params)
    env = _DictActions()
    with pytest.raises(ValueError, match="unsupported action space"):
        mod.make_train(mod.Config(), env, env.default_params)
    env = _MatrixActions()
    with pytest.raises(ValueError, match="needs a 1-D Box"):
        mod.make_train(mod.Config(), env, env.default_params)


@pytest.mark.parametrize(
    "name, field, value",
    [
        ("ppo", "clip_eps", 0.0),
        ("ppo", "gamma", 1.5),
        ("ppo", "gae_lambda", -0.1),
        ("ppo", "lr", 0.0),
        ("a2c", "max_grad_norm", 0.0),
        ("a2c", "ent_coef", -1.0),
        ("reinforce", "vf_coef", -0.5),
    ],
)
def test_out_of_range_hparams_are_refused(name, field, value):
    hp = AGENTS[name].HParams(**{field: value})
    with pytest.raises(ValueError, match=f"{field}={value}.* is out of range"):
        check_hparams(hp)
    check_hparams(AGENTS[name].HParams())


def test_ppo_defaults_are_purejaxrl_cartpole():
    c, hp = ppo.Config(), ppo.HParams()
    assert (c.num_envs, c.num_steps, c.total_timesteps) == (4, 128, 500_000)
    assert (c.update_epochs, c.num_minibatches) == (4, 4)
    assert (c.hidden_sizes, c.activation, c.anneal_lr) == ((64, 64), "tanh", True)
    assert (hp.lr, hp.gamma, hp.gae_lambda, hp.clip_eps) == (2.5e-4, 0.99, 0.95, 0.2)
    assert (hp.ent_coef, hp.vf_coef, hp.max_grad_norm) == (0.01, 0.5, 0.5)


def test_registered():
    for name, mod in AGENTS.items():
        spec = registry.get(name)
        assert spec.make_train is mod.make_train
        assert spec.config_cls is mod.Config and spec.hparams_cls is mod.HParams
        assert (spec.env_kind, spec.default_env) == ("discrete", "CartPole-v1")


# ---------------------------------------------------------------- recurrent


def test_recurrent_unroll_replays_what_acting_did_and_forgets_at_resets():
    # The contract: act(key, params, actor_state, obs) step by step, the loop
    # resetting the state where `first` holds, gives the log-probabilities
    # that unroll recomputes from the start state; and after a reset the
    # output no longer depends on what came before.
    env, env_params = envs.make("MemoryChain-bsuite")
    config = ppo.Config(
        num_envs=3, num_steps=6, num_minibatches=1, gru_size=8, hidden_sizes=(8,)
    )
    nets = onpolicy.make_networks(config, env, env_params)
    assert nets.recurrent
    k = jax.random.split(jax.random.key(0), 4)
    params = nets.init(k[0])
    obs = jax.random.normal(k[1], (6, 3, 3))
    first = jnp.array([[1, 0, 0, 1, 0, 0]] * 3, bool).T.at[2, 1].set(True)
    state = nets.initial_state((3,))
    log_probs, actions = [], []
    for t, key in enumerate(jax.random.split(k[2], 6)):
        state = nets.reset(state, first[t])
        action, state, extras = nets.act(key, params, state, obs[t])
        log_probs.append(extras["log_prob"])
        actions.append(action)
    start = jax.random.normal(k[3], (3, 8))  # whatever it held: reset at t=0
    policy, value, states = nets.unroll(params, start, obs, first)
    replayed, _ = nets.log_prob_entropy(policy, jnp.stack(actions))
    np.testing.assert_allclose(replayed, jnp.stack(log_probs), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(states[-1], state, rtol=1e-5, atol=1e-6)
    # Another history before the reset at t=3: the same outputs from t=3 on.
    other = obs.at[:3].set(-obs[:3])
    _, value_other, _ = nets.unroll(params, start, other, first)
    np.testing.assert_array_equal(value_other[3:], value[3:])
    assert not np.allclose(value_other[:3], value[:3])


def memory_chain_run(gru_size: int):
    env, env_params = envs.make("MemoryChain-bsuite", memory_length=4)
    config = ppo.Config(
        num_envs=16,
        num_steps=16,
        total_timesteps=16 * 16 * 25,
        hidden_sizes=(32,),
        gru_size=gru_size,
        anneal_lr=False,
        eval_every=25,
        eval_episodes=64,
    )
    trainer = ppo.make_train(config, env, env_params)
    run = jax.jit(jax.vmap(trainer, in_axes=(0, None)), compiler_options=FAST_COMPILE)
    out = run(parallel.seed_keys(0, 2), ppo.HParams(lr=1e-3))
    return np.asarray(out.metrics["eval_return"])[:, -1]


def test_recurrent_ppo_remembers_what_feed_forward_ppo_cannot():
    # MemoryChain shows a +-1 context bit only at an episode's start and pays
    # +1 (-1) if the last action matches (misses) it: without memory the
    # greedy policy's mean over 64 episodes is 0 +- 0.125 (one sd), with a GRU
    # it can reach +1.
    recurrent = memory_chain_run(gru_size=32)
    feed_forward = memory_chain_run(gru_size=0)
    assert recurrent.min() >= 0.9, recurrent
    assert np.abs(feed_forward).max() <= 0.5, feed_forward


def test_recurrent_minibatches_must_be_whole_environments():
    with pytest.raises(ValueError, match="num_minibatches=4 must divide num_envs=6"):
        ppo.Config(num_envs=6, num_steps=8, gru_size=8, num_minibatches=4)
    with pytest.raises(ValueError, match="torso='resnet' is unknown"):
        ppo.Config(torso="resnet")


def test_recurrent_run_resumes_bit_identically(tmp_path):
    # The GRU carry and the `first` flags are part of the checkpointed state:
    # a run stopped after a chunk continues to the same bits.
    env, env_params = envs.make("MemoryChain-bsuite", memory_length=4)
    config = ppo.Config(
        num_envs=8,
        num_steps=16,
        total_timesteps=8 * 16 * 12,
        gru_size=16,
        hidden_sizes=(16,),
        eval_every=4,
        eval_episodes=8,
    )
    trainer = ppo.make_train(config, env, env_params)
    kw = dict(num_seeds=2, num_chunks=3, progress=False)
    full = parallel.run(trainer, ppo.HParams(), **kw)

    class Stop(Exception):
        pass

    def stop(done, state, metrics):
        if done == 4:
            raise Stop

    with pytest.raises(Stop):
        parallel.run(
            trainer, ppo.HParams(), checkpoint_dir=tmp_path, on_chunk=stop, **kw
        )
    lines = []
    resumed = parallel.run(
        trainer, ppo.HParams(), checkpoint_dir=tmp_path, log=lines.append, **kw
    )
    assert lines == ["resuming after 4 of 12 iterations"]
    for name, values in full.metrics.items():
        np.testing.assert_array_equal(resumed.metrics[name], values, err_msg=name)
