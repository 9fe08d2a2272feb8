"""jaxrl.parallel: seeds, sweeps and chunks give the same bits as plain calls."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from jaxrl import parallel
from jaxrl.types import Trainer, hparam


@struct.dataclass
class ToyHParams:
    scale: float = hparam(1.0, "(0, 10]")


@struct.dataclass
class ToyState:
    key: jax.Array
    total: jax.Array


TRACES = {"n": 0, "evals": 0}


def toy_trainer(num_iterations: int = 12) -> Trainer:
    """Each iteration adds scale * N(0, 1) to a running total."""

    def init(key, hp):
        return ToyState(key=key, total=jnp.float32(0.0) * hp.scale)

    def update(state):
        TRACES["n"] += 1
        key, noise_key = jax.random.split(state.key)
        total = state.total + jax.random.normal(noise_key)
        return ToyState(key=key, total=total), {"total": total}

    def scaled_update(state_hp):
        return update(state_hp)

    return Trainer(init=init, update=scaled_update, num_iterations=num_iterations)


def test_seed_keys_do_not_depend_on_the_number_of_seeds():
    a = jax.random.key_data(parallel.seed_keys(3, 4))
    b = jax.random.key_data(parallel.seed_keys(3, 9))
    np.testing.assert_array_equal(a, b[:4])
    with pytest.raises(ValueError, match="num_seeds=0"):
        parallel.seed_keys(0, 0)


def test_chunked_run_equals_single_call_and_loop_over_seeds():
    trainer = toy_trainer()
    hp = ToyHParams()
    whole = parallel.run(trainer, hp, seed=1, num_seeds=5, num_chunks=1, progress=False)
    chunked = parallel.run(
        trainer, hp, seed=1, num_seeds=5, num_chunks=4, progress=False
    )
    np.testing.assert_array_equal(whole.metrics["total"], chunked.metrics["total"])
    assert whole.metrics["total"].shape == (5, 12)
    keys = parallel.seed_keys(1, 5)
    for i in range(5):
        one = jax.jit(trainer)(keys[i], hp)
        np.testing.assert_array_equal(one.metrics["total"], whole.metrics["total"][i])


def test_sweep_adds_a_leading_axis_with_common_seeds():
    trainer = toy_trainer()
    hps = parallel.stack([ToyHParams(1.0), ToyHParams(2.0), ToyHParams(3.0)])
    out = parallel.run(trainer, hps, num_seeds=4, sweep=True, progress=False)
    assert out.metrics["total"].shape == (3, 4, 12)


def test_out_of_range_hyperparameter_is_refused_before_compiling():
    with pytest.raises(ValueError, match=r"scale=-1.0 is out of range: allowed \(0.0"):
        parallel.run(toy_trainer(), ToyHParams(-1.0), progress=False)


def test_chunks_compile_once():
    trainer = toy_trainer(num_iterations=20)
    TRACES["n"] = 0
    parallel.run(trainer, ToyHParams(), num_seeds=2, num_chunks=5, progress=False)
    assert TRACES["n"] == 1  # five equal chunks, one trace


def test_chunk_size_divides_when_it_can():
    assert parallel._chunk_size(100, 10) == 10
    assert parallel._chunk_size(500, 10) == 50
    assert 1000 % parallel._chunk_size(1000, 7) == 0


def test_seeds_sharded_over_two_devices_give_the_same_bits(tmp_path):
    """Run in a subprocess with two host devices; compare to one device."""
    import os
    import subprocess
    import sys

    script = (
        "import sys, numpy as np; sys.path.insert(0, 'tests');"
        "import jax; from test_parallel import *;"
        "assert len(jax.devices()) == 2;"
        "out = parallel.run(toy_trainer(), ToyHParams(), seed=1, num_seeds=4,"
        " progress=False);"
        "assert len(out.state.total.sharding.device_set) == 2;"
        f"np.save({str(tmp_path / 'two.npy')!r}, out.metrics['total'])\n"
        # A count that does not divide the devices is refused, not run on one.
        "import pytest\n"
        "with pytest.raises(parallel.DeviceCountError, match='multiple of 2'):\n"
        "    parallel.run(toy_trainer(), ToyHParams(), num_seeds=3, progress=False)"
    )
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=root)
    one = parallel.run(toy_trainer(), ToyHParams(), seed=1, num_seeds=4, progress=False)
    np.testing.assert_array_equal(np.load(tmp_path / "two.npy"), one.metrics["total"])


def test_divergence_check_reads_losses_and_the_state():
    from jaxrl.parallel import _divergence

    finite = {"params": jnp.ones(3), "key": jax.random.key(0)}
    # NaN is "no value yet" (a loss before learning starts): not divergence.
    waiting = {
        "loss": np.array([[np.nan, np.nan, 1.0]]),
        "return": np.full((1, 3), np.nan),
    }
    assert _divergence(waiting, finite, 1e10, 0, False) is None
    # A magnitude past the bound dates itself: chunk offset 10, third value.
    big = {"loss": np.array([[1.0, 2.0, 3e10], [1.0, np.inf, 1.0]])}
    message, first = _divergence(big, finite, 1e10, 10, False)
    assert first == 12 and "at iteration 12 (seed 1)" in message and "inf" in message
    # NaN parameters: found on the device; the loss's switch to NaN dates it.
    broken = {"params": jnp.array([1.0, jnp.nan]), "key": jax.random.key(0)}
    nan_after = {"loss": np.array([[1.0, 2.0, np.nan, np.nan]])}
    message, first = _divergence(nan_after, broken, 1e10, 4, False)
    assert first == 7 and "['params']" in message and "from iteration 7" in message
    assert _divergence(nan_after, finite, 1e10, 4, False) is None


def test_divergence_check_names_the_setting_of_a_sweep():
    from jaxrl.parallel import _divergence

    finite = {"params": jnp.ones((2, 3, 4))}
    loss = np.ones((2, 3, 5))  # [settings, seeds, iterations]
    loss[1, 2, 3] = -1e12
    message, first = _divergence({"loss": loss}, finite, 1e10, 0, True)
    assert first == 4 and "at iteration 4 (setting 1, seed 2)" in message


# --- The schedule as structure: warm-up, evaluation periods, chunks ----------


def scheduled_trainer(num_iterations=23, warmup_iterations=5, eval_every=4):
    """Warm-up iterations add 0, updates add N(0, 1); evaluate reports
    ``10 * total`` plus a draw from the iteration's key, and counts its calls."""

    def update(state):
        key, noise_key, _ = jax.random.split(state.key, 3)
        total = state.total + jax.random.normal(noise_key)
        return ToyState(key=key, total=total), {"total": total, "warm": False}

    def warmup(state):
        key, _, _ = jax.random.split(state.key, 3)
        return ToyState(key=key, total=state.total), {
            "total": state.total,
            "warm": True,
        }

    def evaluate(key, state):
        jax.debug.callback(lambda: TRACES.__setitem__("evals", TRACES["evals"] + 1))
        draw = jax.random.uniform(jax.random.split(key, 3)[2])
        return {"score": 10 * state.total + draw}

    return Trainer(
        init=lambda key, hp: ToyState(key=key, total=jnp.float32(0.0)),
        update=update,
        num_iterations=num_iterations,
        warmup=warmup,
        warmup_iterations=warmup_iterations,
        evaluate=evaluate,
        eval_every=eval_every,
    )


def test_plan_by_hand():
    from jaxrl.types import Piece

    t = scheduled_trainer()  # warm-up 0..4, evaluations after 4, 8, ..., 20
    assert t.plan(0, 23) == (
        Piece(True, 4, True),  # iterations 0-3, evaluation after the 4th
        Piece(True, 1, False),  # 4: the last warm-up iteration
        Piece(False, 3, True),  # 5-7, evaluation after the 8th
        Piece(False, 4, True, repeat=3),  # 8-19: three periods
        Piece(False, 3, False),  # 20-22
    )
    assert t.plan(9, 4) == (Piece(False, 3, True), Piece(False, 1, False))
    with pytest.raises(ValueError, match="outside the run"):
        t.plan(20, 4)


def test_scheduled_run_equals_an_iteration_by_iteration_loop():
    """Every chunking gives the bits of a plain Python loop that calls warm-up,
    update and evaluate by the schedule; evaluate runs only when due."""
    trainer = scheduled_trainer()
    key = parallel.seed_keys(2, 1)[0]
    state = trainer.init(key, None)
    warmup, update = jax.jit(trainer.warmup), jax.jit(trainer.update)
    evaluate = jax.jit(trainer.evaluate)
    totals, scores = [], []
    for i in range(trainer.num_iterations):
        before = state.key
        state, m = (warmup if i < trainer.warmup_iterations else update)(state)
        totals.append(m["total"])
        due = (i + 1) % trainer.eval_every == 0
        scores.append(evaluate(before, state)["score"] if due else np.nan)
    TRACES["evals"] = 0
    for num_chunks in (1, 3, 7):
        out = parallel.run(
            trainer, None, seed=2, num_seeds=3, num_chunks=num_chunks, progress=False
        )
        np.testing.assert_array_equal(out.metrics["total"][0], np.array(totals))
        np.testing.assert_array_equal(out.metrics["score"][0], np.array(scores))
        np.testing.assert_array_equal(out.metrics["warm"][0], np.arange(23) < 5)
    jax.effects_barrier()
    # chunkings x evaluations (under vmap a debug callback runs once per batch);
    # a batched gate would have run it in all 23 iterations.
    assert TRACES["evals"] == 3 * 5


def test_chunks_after_the_warmup_compile_once():
    from compiles import count_compilations

    trainer = scheduled_trainer(num_iterations=5 + 8 * 6, eval_every=4)
    size, pieces = parallel.chunk_plan(trainer, 6)
    assert (
        size == 8
        and pieces[0] == (0, 5)
        and pieces[1:] == [(5 + 8 * i, 8) for i in range(6)]
    )
    init, advance = parallel.batched(trainer)
    state = init(parallel.seed_keys(0, 2), None)
    with count_compilations() as compiles:
        for start, n in pieces:
            state, _ = advance(state, trainer.plan(start, n))
    assert compiles() == 2  # the warm-up chunk, then one for all six others


def tiny_deep_runs():
    """Tiny PPO and DQN runs of 2 seeds on CartPole: ``{name: metrics}``."""
    import envs
    from jaxrl.agents import dqn, ppo

    env, env_params = envs.make("CartPole-v1")
    ppo_config = ppo.Config(
        num_envs=2,
        num_steps=8,
        total_timesteps=2 * 8 * 4,
        hidden_sizes=(8,),
        update_epochs=1,
        num_minibatches=2,
        eval_every=2,
        eval_episodes=2,
    )
    dqn_config = dqn.Config(
        num_envs=2,
        total_timesteps=64,
        buffer_size=64,
        batch_size=8,
        learning_starts=16,
        hidden_sizes=(8,),
        eval_every=16,
        eval_episodes=2,
    )
    out = {}
    for name, mod, config in (("ppo", ppo, ppo_config), ("dqn", dqn, dqn_config)):
        trainer = mod.make_train(config, env, env_params)
        res = parallel.run(
            trainer,
            mod.HParams(),
            seed=3,
            num_seeds=2,
            num_chunks=2,
            progress=False,
        )
        leaf = jax.tree.leaves(
            res.state.params if name == "ppo" else res.state.learner.params
        )[0]
        out[name] = {**res.metrics, "param": np.asarray(leaf)}
        out[name + "_devices"] = len(leaf.sharding.device_set)
    return out


def test_ppo_and_dqn_on_two_devices_give_the_results_of_one(tmp_path):
    """The seed axis on a 2-device mesh (explicit shardings): each device runs
    one seed, and every metric and parameter equals the one-device run's to
    float32 rounding. (Each device compiles the program for a batch of one
    seed, the single device for two; XLA may order a reduction differently in
    the two, and a loss that sums to ~1e-5 from cancelling terms then differs
    in its last bits: observed 4e-3 relative, 7e-8 absolute, on one PPO
    policy-loss entry on one machine, none on another.)"""
    import os
    import pickle
    import subprocess
    import sys

    path = tmp_path / "two.pkl"
    script = (
        "import sys, pickle; sys.path.insert(0, 'tests');"
        "import jax; from test_parallel import *;"
        "assert len(jax.devices()) == 2;"
        f"pickle.dump(tiny_deep_runs(), open({str(path)!r}, 'wb'))"
    )
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=root)
    two = pickle.load(open(path, "rb"))
    one = tiny_deep_runs()
    for name in ("ppo", "dqn"):
        assert two[name + "_devices"] == 2 and one[name + "_devices"] == 1
        assert set(two[name]) == set(one[name])
        for key, value in one[name].items():
            np.testing.assert_allclose(
                two[name][key], value, rtol=1e-5, atol=1e-6, err_msg=f"{name} {key}"
            )


def test_the_progress_bar_shows_the_chunks_latest_value():
    nan = np.nan
    # 2 seeds, 4 iterations; evaluated at iteration 2 only (not the last).
    evals = np.array([[nan, 10.0, nan, nan], [nan, 20.0, nan, nan]])
    assert parallel._latest(evals) == 15.0
    # A seed without a value there is left out of the mean.
    assert parallel._latest(np.array([[1.0, 4.0], [2.0, nan]])) == 4.0
    assert parallel._latest(np.full((2, 3), nan)) is None
