"""Several processes, one run: 2 processes x 2 CPU devices on localhost
(jax.distributed, gloo collectives) give the metrics of 1 process x 4 devices
and of 1 device, through ``jaxrl train`` with checkpoints and ``--resume``.

Each topology is one Python process per jaxrl process (``ENTRY``), running
tabular Q-learning and PPO in turn, so JAX starts once per process; the
2-process pair also checks a seed count that does not divide the 4 devices
and resumes both runs from their first checkpoint.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jaxrl import distributed
from jaxrl.cli import main
from jaxrl.results import load_run

ROOT = Path(__file__).resolve().parents[1]
SEEDS = 4  # one per device of the 4-device runs
PPO = [
    *("--set", "num_envs=2", "--set", "num_steps=8", "--set", "total_timesteps=64"),
    *("--set", "hidden_sizes=[8]", "--set", "update_epochs=1"),
    *("--set", "num_minibatches=2", "--set", "eval_every=0"),
]
# run name -> its `jaxrl train` arguments. ppo_envpool: one pool per process,
# stepped from one device of each (2 processes x 2 devices run on 2 devices
# with 2 seeds per pool; 1 x 4 on one device, like 1 x 1).
RUNS = {
    "q_learning": ["q_learning", "--set", "num_episodes=6"],
    "ppo": ["ppo", *PPO],
    "ppo_envpool": ["ppo", "--env", "envpool:CartPole-v1", *PPO],
}
# A resumed EnvPool run continues from a fresh pool: not the same bits.
EXACT_RESUME = ("q_learning", "ppo")

# argv: OUT_ROOT [--coordinator ... --num-processes N --process-id I]. Trains
# every run of RUNS into OUT_ROOT/NAME; with several processes, first a seed
# count the devices do not divide (exit status 2), and after each run a resume
# from its first checkpoint (process 0 keeps the uninterrupted metrics in
# OUT_ROOT/NAME.first and deletes what a kill after chunk 1 would lose).
# The processes meet after each `main` (`together`), as separate commands
# would (a command waits for every process in jax.distributed.initialize).
ENTRY = """
import json, shutil, sys
from pathlib import Path
sys.path.insert(0, "tests")
from test_multihost import EXACT_RESUME, RUNS, SEEDS
from jaxrl.cli import main
root, flags = Path(sys.argv[1]), sys.argv[2:]
common = ["--chunks", "2", "--quiet", *flags]

def together(label):
    import jax
    from jax.experimental import multihost_utils
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices("test: " + label)

if flags:
    bad = ["train", "q_learning", "--seeds", "6", "--out", str(root / "bad")]
    assert main(bad + common) == 2
    assert not (root / "bad").exists()
    together("refused")
for name, settings in RUNS.items():
    out = root / name
    argv = ["train", *settings, "--seeds", str(SEEDS), "--out", str(out)]
    assert main(argv + common) == 0, name
    together(name)
    if not flags:
        continue
    import jax
    if jax.process_index() == 0:
        keep = shutil.ignore_patterns("checkpoints*")
        shutil.copytree(out, root / f"{name}.first", ignore=keep)
    if name not in EXACT_RESUME:
        continue
    if jax.process_index() == 0:
        steps = sorted(int(p.name) for p in (out / "checkpoints").iterdir())
        shutil.rmtree(out / "checkpoints" / str(steps[-1]))
        for f in ("metrics.npz", "metrics.csv", "summary.json", "config.json"):
            (out / f).unlink()
    together("killed")
    assert main(["train", "--resume", str(out), *common]) == 0, name
    together(name + " resumed")
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _start(out: Path, devices: int, *flags: str) -> subprocess.Popen:
    env = dict(
        os.environ,
        XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
        JAX_PLATFORMS="cpu",
    )
    return subprocess.Popen(
        [sys.executable, "-c", ENTRY, str(out), *flags],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(procs: list[subprocess.Popen], timeout: float = 240) -> list[tuple]:
    """``[(stdout, stderr), ...]``; a process that failed fails the test."""
    outs = []
    try:
        for p in procs:
            outs.append(p.communicate(timeout=timeout))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    failed = [
        f"process {i} (exit {p.returncode}):\n{err[-3000:]}"
        for i, (p, (_, err)) in enumerate(zip(procs, outs, strict=True))
        if p.returncode != 0
    ]
    assert not failed, "\n".join(failed)
    return outs


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """``{topology: (folder, [(stdout, stderr) per process])}`` for 2 x 2,
    1 x 4 and 1 x 1 (processes x devices)."""
    root = tmp_path_factory.mktemp("multihost")
    port = str(_free_port())
    flags = ["--coordinator", f"localhost:{port}", "--num-processes", "2"]
    two = [_start(root / "2x2", 2, *flags, "--process-id", str(i)) for i in range(2)]
    out = {"2x2": (root / "2x2", _finish(two))}
    # The single-process runs share the two cores, one each.
    four, one = _start(root / "1x4", 4), _start(root / "1x1", 1)
    out["1x4"] = (root / "1x4", _finish([four]))
    out["1x1"] = (root / "1x1", _finish([one]))
    return out


def test_two_processes_refuse_seeds_that_do_not_split_over_four_devices(runs):
    _, procs = runs["2x2"]
    for _, err in procs:
        assert (
            "jaxrl: error: 6 seeds do not split evenly over 4 devices "
            "(2 processes x 2)" in err
        )


@pytest.mark.parametrize("name", sorted(RUNS))
def test_two_processes_write_one_folder_with_every_seed(runs, name):
    folder, procs = runs["2x2"]
    (out0, err0), (out1, err1) = procs
    # Process 0 reports and writes; process 1 prints nothing (gloo's C++
    # "[Gloo] Rank 2 is connected to 3 peer ranks" lines aside, which may
    # land in the middle of a line of Python's).
    assert str(folder / name) in out0 and str(folder) not in out1
    lines1 = [s for s in out1.splitlines() if "connected to" not in s]
    assert all(s.strip() in ("", "[Gloo] Rank") for s in lines1), lines1
    assert "2 processes x 2 devices" in err0 and "resuming after" in err0
    assert "resuming after" not in err1
    run = load_run(folder / name)
    assert json.loads((folder / name / "config.json").read_text())["seeds"] == SEEDS
    first = load_run(folder / f"{name}.first").metrics
    assert all(v.shape[0] == SEEDS for v in first.values())
    assert len({v.tobytes() for v in first["return"]}) > 1  # seeds differ
    if name not in EXACT_RESUME:
        return
    # Killed after chunk 1 and resumed by both processes: the same bits.
    assert set(run.metrics) == set(first)
    for key, value in first.items():
        np.testing.assert_array_equal(run.metrics[key], value, err_msg=key)


def test_an_envpool_run_keeps_one_pool_per_process(runs):
    """Each process builds a pool for its 2 seeds and steps it from one of
    its devices; the run says so. (That the pools are seeded as one pool of
    4 lanes is what the equality with 1 x 1 below checks.)"""
    (_, err0), (_, err1) = runs["2x2"][1]
    line = "EnvPool: one pool per process, stepped from one device of each"
    assert f"{line} (2 of 4 devices; 2 seeds per pool)" in err0
    assert line not in err1
    assert f"{line} (1 of 4 devices; 4 seeds per pool)" in runs["1x4"][1][0][1]
    # One process of 4 devices runs the program of one device, on one device.
    four = load_run(runs["1x4"][0] / "ppo_envpool").metrics
    one = load_run(runs["1x1"][0] / "ppo_envpool").metrics
    assert set(four) == set(one)
    for key, value in one.items():
        np.testing.assert_array_equal(four[key], value, err_msg=key)


@pytest.mark.parametrize("name", sorted(EXACT_RESUME))
def test_two_processes_equal_one_process_on_four_devices_bit_for_bit(runs, name):
    # The same global program, split the same way: each device runs one seed.
    first = load_run(runs["2x2"][0] / f"{name}.first").metrics
    four = load_run(runs["1x4"][0] / name).metrics
    assert set(four) == set(first)
    for key, value in first.items():
        np.testing.assert_array_equal(four[key], value, err_msg=f"{name} {key}")


@pytest.mark.parametrize("name", sorted(RUNS))
def test_two_processes_equal_one_device(runs, name):
    """Q-learning: bit for bit (per-seed element-wise updates, max and argmax:
    nothing whose rounding depends on how many seeds a device holds). PPO:
    to float32 rounding, rtol 1e-5 and atol 1e-6, as in test_parallel's
    2-device test: one device compiles the program for a batch of 4 seeds,
    each of 4 devices for a batch of 1, and XLA may order a reduction (a loss
    summed from cancelling terms) differently in the two. PPO on EnvPool:
    the same, on 2 devices of 2 seeds (one pool per process) against one of
    4 (one pool of 4 lanes), so every env has the seed it has in one pool."""
    first = load_run(runs["2x2"][0] / f"{name}.first").metrics
    one = load_run(runs["1x1"][0] / name).metrics
    assert set(one) == set(first)
    for key, value in first.items():
        if name == "q_learning":
            np.testing.assert_array_equal(one[key], value, err_msg=key)
        else:
            np.testing.assert_allclose(
                one[key], value, rtol=1e-5, atol=1e-6, err_msg=f"{name} {key}"
            )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--coordinator", "localhost:1234", "--num-processes", "2"],
            "--num-processes 2 needs --process-id I, this process's id in 0..1",
        ),
        (
            ["--num-processes", "2", "--process-id", "0"],
            "--num-processes 2 needs --coordinator HOST:PORT",
        ),
        (
            ["--coordinator", "localhost:1234", "--num-processes", "2"]
            + ["--process-id", "2"],
            "--process-id 2 is out of range: with --num-processes 2 it must be in 0..1",
        ),
        (
            ["--coordinator", "localhost", "--num-processes", "2"]
            + ["--process-id", "1"],
            "--coordinator 'localhost' is not HOST:PORT",
        ),
        (["--process-id", "1"], "--coordinator and --process-id need --num-proc"),
        (["--num-processes", "0"], "--num-processes 0 must be >= 1"),
    ],
)
def test_bad_process_flags_are_one_line_usage_errors(flags, message, tmp_path, capsys):
    argv = ["train", "q_learning", "--seeds", "4", "--out", str(tmp_path / "r")]
    assert main(argv + flags) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_a_multi_process_run_needs_out(capsys):
    flags = ["--coordinator", "localhost:1", "--num-processes", "2"]
    assert main(["train", "--process-id", "0", *flags]) == 2
    assert "a multi-process run needs --out DIR" in capsys.readouterr().err


def test_launchers_are_detected_from_the_environment_alone():
    srun = {
        "SLURM_JOB_ID": "7",
        "SLURM_PROCID": "1",
        "SLURM_LOCALID": "0",
        "SLURM_STEP_NODELIST": "node[001-002]",
        "SLURM_STEP_NUM_TASKS": "2",
        "SLURM_NTASKS": "2",
    }
    assert distributed.from_environment(srun).launcher == "slurm"
    # A batch script (or `srun -n 1`) is one task of a many-task allocation:
    # not a multi-process run, so it never waits for processes that won't come.
    batch = {k: v for k, v in srun.items() if k != "SLURM_STEP_NUM_TASKS"}
    assert distributed.from_environment(batch) is None
    assert distributed.from_environment({**srun, "SLURM_STEP_NUM_TASKS": "1"}) is None
    mpirun = {
        "OMPI_MCA_orte_hnp_uri": "1.0;tcp://10.0.0.1:1",
        "OMPI_COMM_WORLD_SIZE": "4",
    }
    assert distributed.from_environment(mpirun).launcher == "ompi"
    assert distributed.from_environment({}) is None
    # Flags win over a launcher; --num-processes 1 turns detection off.
    assert distributed.check(None, 1, None, environ=srun) is None
    assert distributed.check(None, None, None, environ=srun).launcher == "slurm"
    got = distributed.check("h:5", 2, 1, environ={})
    assert got == distributed.Processes("h:5", 2, 1, "flags")
