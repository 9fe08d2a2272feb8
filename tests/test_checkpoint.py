"""Checkpoints: bit-exact round trips, resumed runs equal uninterrupted ones
(after an exception and after a real SIGKILL), and other runs' checkpoints are
refused with a message that says what differs."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

import envs
from jaxrl import checkpoint, parallel, registry
from jaxrl.agents import ppo
from jaxrl.cli import main
from jaxrl.types import Trainer


def _bits(x):
    """A leaf as NumPy bits; typed PRNG keys as their raw key data."""
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        return np.asarray(jax.random.key_data(x))
    return np.asarray(x)


def assert_same_bits(a, b):
    """Same tree, dtypes (key types included), shapes and bits."""
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(_bits(x), _bits(y))


# --------------------------------------------------------------------------- #
# (a) round trips
# --------------------------------------------------------------------------- #


def test_ppo_state_round_trip_is_bit_exact(tmp_path):
    # A PPO state (flax params, optax Adam state, gymnax env state, typed key)
    # of 3 seeds; its float leaves are shifted so that no leaf equals the
    # template's by chance (Adam's moments start at zero).
    env, env_params = envs.make("CartPole-v1")
    config = ppo.Config(
        num_envs=2,
        num_steps=4,
        total_timesteps=2 * 4 * 3,
        hidden_sizes=(8,),
        update_epochs=1,
        num_minibatches=1,
        eval_every=0,
    )
    init, _ = parallel.batched(ppo.make_train(config, env, env_params))
    hp = ppo.HParams()
    state = init(parallel.seed_keys(0, 3), hp)
    state = jax.tree.map(
        lambda x: x + 0.5 if jnp.issubdtype(x.dtype, jnp.floating) else x, state
    )
    metrics = {"return": np.arange(6, dtype=np.float32).reshape(3, 2)}
    checkpoint.save(tmp_path / "ckpt", 2, state, metrics, {"algorithm": "ppo"})

    template = init(parallel.seed_keys(5, 3), hp)  # other values, same structure
    saved = checkpoint.restore(tmp_path / "ckpt", template)
    assert saved.step == 2 and saved.fingerprint == {"algorithm": "ppo"}
    assert_same_bits(saved.state, state)
    assert jax.dtypes.issubdtype(saved.state.key.dtype, jax.dtypes.prng_key)
    assert saved.state.obs.sharding == template.obs.sharding
    np.testing.assert_array_equal(saved.metrics["return"], metrics["return"])
    assert saved.metrics["return"].dtype == np.float32


def test_tabular_state_round_trip_and_keeping_the_last_two(tmp_path):
    env, env_params = envs.make("CliffWalking-v0")
    spec = registry.get("q_learning")
    trainer = spec.make_train(spec.config_cls(num_episodes=6), env, env_params)
    init, _ = parallel.batched(trainer)
    state = init(parallel.seed_keys(0, 2), spec.hparams_cls())
    state = state.replace(q=state.q + jnp.arange(state.q.size).reshape(state.q.shape))
    metrics = {
        "return": np.linspace(-5, 0, 12, dtype=np.float32).reshape(2, 6),
        "length": np.arange(12, dtype=np.int32).reshape(2, 6),
    }
    template = init(parallel.seed_keys(9, 2), spec.hparams_cls())
    with checkpoint.Checkpointer(tmp_path, max_to_keep=2) as ckpt:
        for step in (2, 4, 6):
            ckpt.save(step, state, metrics, {"step": step})
        ckpt.wait()
        assert ckpt.all_steps() == [4, 6]
        saved = ckpt.restore(template)
        assert saved.step == 6 and ckpt.read_meta(4)["fingerprint"] == {"step": 4}
    assert checkpoint.latest_step(tmp_path) == 6
    assert_same_bits(saved.state, state)
    assert saved.metrics.keys() == metrics.keys()
    for name, value in metrics.items():
        assert saved.metrics[name].dtype == value.dtype
        np.testing.assert_array_equal(saved.metrics[name], value)


# --------------------------------------------------------------------------- #
# (b) parallel.run: interrupt after k chunks, resume
# --------------------------------------------------------------------------- #


@struct.dataclass
class ToyHParams:
    scale: float = 1.0


@struct.dataclass
class ToyState:
    key: jax.Array
    total: jax.Array
    hp: ToyHParams


def toy_trainer(num_iterations: int = 12) -> Trainer:
    """Each iteration adds scale * N(0, 1) to a running total."""

    def init(key, hp):
        return ToyState(key=key, total=jnp.float32(0.0), hp=hp)

    def update(state):
        key, noise_key = jax.random.split(state.key)
        total = state.total + state.hp.scale * jax.random.normal(noise_key)
        return state.replace(key=key, total=total), {"total": total}

    return Trainer(init=init, update=update, num_iterations=num_iterations)


class Stop(Exception):
    pass


def test_interrupted_run_resumes_bit_identical(tmp_path):
    # A sweep, so state and metrics are [H, N, ...]; the command-line test
    # below resumes an [N, ...] run.
    trainer = toy_trainer()
    hp = parallel.stack([ToyHParams(1.0), ToyHParams(3.0)])
    kw = dict(seed=2, num_seeds=3, sweep=True, num_chunks=4, progress=False)
    whole = parallel.run(trainer, hp, **kw)

    def stop_after_two(done, state, metrics):
        assert metrics["total"].shape[-1] == done
        if done == 6:  # 2 chunks of 3
            raise Stop

    ckpt = tmp_path / "ckpt"
    fingerprint = {"algorithm": "toy"}
    with pytest.raises(Stop):
        parallel.run(
            trainer,
            hp,
            **kw,
            checkpoint_dir=ckpt,
            fingerprint=fingerprint,
            on_chunk=stop_after_two,
        )
    assert checkpoint.latest_step(ckpt) == 6

    seen = []
    resumed = parallel.run(
        trainer,
        hp,
        **kw,
        checkpoint_dir=ckpt,
        fingerprint=fingerprint,
        on_chunk=lambda done, *_: seen.append(done),
    )
    assert seen == [9, 12]  # only the chunks that were left ran
    np.testing.assert_array_equal(resumed.metrics["total"], whole.metrics["total"])
    assert resumed.metrics["total"].shape == (2, 3, 12)
    assert_same_bits(resumed.state, whole.state)
    # Resuming a finished run returns its result without running anything.
    again = parallel.run(
        trainer, hp, **kw, checkpoint_dir=ckpt, fingerprint=fingerprint
    )
    np.testing.assert_array_equal(again.metrics["total"], whole.metrics["total"])
    assert_same_bits(again.state, whole.state)


# --------------------------------------------------------------------------- #
# (d) another run's checkpoint is refused
# --------------------------------------------------------------------------- #


def test_checkpoint_of_another_run_is_refused(tmp_path):
    trainer = toy_trainer()
    kw = dict(num_seeds=2, num_chunks=2, progress=False, checkpoint_dir=tmp_path)
    parallel.run(trainer, ToyHParams(1.0), **kw, fingerprint={"algorithm": "toy"})
    with pytest.raises(checkpoint.FingerprintMismatchError) as e:
        parallel.run(
            trainer, ToyHParams(2.0), seed=1, **kw, fingerprint={"algorithm": "a2c"}
        )
    msg = str(e.value)
    assert "is from a different run" in msg and str(tmp_path) in msg
    assert "hparams.scale: checkpoint 1.0, this run 2.0" in msg
    assert "seed: checkpoint 0, this run 1" in msg
    assert 'run.algorithm: checkpoint "toy", this run "a2c"' in msg
    # Another number of chunks would compile another chunk: refused too.
    with pytest.raises(ValueError, match="chunk_size: checkpoint 6, this run 3"):
        parallel.run(
            trainer,
            ToyHParams(1.0),
            **{**kw, "num_chunks": 4},
            fingerprint={"algorithm": "toy"},
        )
    # Non-finite values compare equal to themselves.
    checkpoint.check_fingerprint({"clip": float("inf")}, {"clip": np.inf})


# --------------------------------------------------------------------------- #
# (c) the command line: a real SIGKILL, then --resume
# --------------------------------------------------------------------------- #

# Big enough that a chunk takes a good fraction of a second on a CPU, so the
# run is still training when the first checkpoint appears and is killed.
RUN = [
    "train",
    "q_learning",
    "--env",
    "CliffWalking-v0",
    "--seeds",
    "8",
    "--set",
    "num_episodes=4000",
    "--chunks",
    "8",
    "--quiet",
]
TOTAL = 4000


def _checkpoint_steps(folder):
    """Steps of the complete checkpoints (orbax renames a finished save's
    temporary folder to its step number)."""
    if not folder.is_dir():
        return []
    return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit())


def _kill_at_first_checkpoint(proc, folder, report):
    """Poll ``folder`` and SIGKILL ``proc`` as soon as a checkpoint appears."""
    deadline = time.monotonic() + 180
    try:
        while not _checkpoint_steps(folder):
            if proc.poll() is not None:
                report["error"] = f"exited with {proc.returncode} before a checkpoint"
                return
            if time.monotonic() > deadline:
                report["error"] = "no checkpoint after 180 s"
                return
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()


def test_killed_cli_run_resumes_to_the_same_run_folder(tmp_path):
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    log = tmp_path / "killed.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jaxrl.cli", *RUN, "--out", str(killed)],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    # A thread watches for the first checkpoint and kills the run while this
    # one trains the uninterrupted baseline (the two overlap to save time).
    report = {}
    watcher = threading.Thread(
        target=_kill_at_first_checkpoint, args=(proc, killed / "checkpoints", report)
    )
    watcher.start()
    try:
        assert main([*RUN, "--out", str(whole), "--no-checkpoint"]) == 0
        watcher.join(timeout=200)
    finally:
        if proc.poll() is None:
            proc.kill()
        watcher.join()
    assert "error" not in report, f"{report['error']}: {log.read_text()}"
    assert not (whole / "checkpoints").exists()
    assert proc.returncode == -signal.SIGKILL
    steps = _checkpoint_steps(killed / "checkpoints")
    assert 0 < steps[-1] < TOTAL, steps  # killed mid-way
    assert not (killed / "metrics.npz").exists()
    stored = json.loads((killed / "run_args.json").read_text())
    assert stored["seeds"] == 8 and stored["set"] == ["num_episodes=4000"]

    # Settings other than the stored ones are refused, and so is starting a
    # fresh run over the checkpoints.
    assert main(["train", "--resume", str(killed), "--seeds", "3"]) == 2
    assert main([*RUN, "--out", str(killed)]) == 2

    assert main(["train", "--resume", str(killed), "--quiet"]) == 0

    a, b = np.load(killed / "metrics.npz"), np.load(whole / "metrics.npz")
    assert sorted(a.files) == sorted(b.files)
    for name in a.files:
        assert a[name].dtype == b[name].dtype
        np.testing.assert_array_equal(a[name], b[name])
    assert a["return"].shape == (8, TOTAL)
    for name in ("metrics.csv", "summary.json", "summary.csv"):
        assert (killed / name).read_bytes() == (whole / name).read_bytes(), name
    ca, cb = (json.loads((d / "config.json").read_text()) for d in (killed, whole))
    ca.pop("wall_seconds"), cb.pop("wall_seconds")
    # The provenance records each process's own command and start time.
    pa, pb = ca.pop("provenance"), cb.pop("provenance")
    assert pa["argv"][:2] == ["train", "--resume"] and pa["packages"] == pb["packages"]
    assert ca == cb
    assert _checkpoint_steps(killed / "checkpoints")[-1] == TOTAL
    assert not [p for p in os.listdir(killed / "checkpoints") if "tmp" in p]


def test_resume_needs_a_run_folder(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "no run_args.json there" in capsys.readouterr().err
