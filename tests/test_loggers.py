"""`jaxrl train --log tensorboard|wandb`: the same scalars as metrics.csv.

One tiny sweep (2 settings x 3 seeds x 4 episodes, two chunks) is trained
with both writers, W&B as a stand-in module in ``sys.modules``; the
TensorBoard event files are read back record by record (TFRecord framing,
``Event`` protos from tensorboardX).
"""

import struct
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from jaxrl.cli import main
from jaxrl.results import load_run
from jaxrl.results.loggers import chunk_scalars

ARGV = ["train", "sarsa", "--env", "CliffWalking-v0", "--seeds", "3", "--quiet"]
ARGV += ["--set", "num_episodes=4", "--chunks", "2", "--sweep", "alpha=0.1,0.5"]


def read_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """``{tag: [(step, value), ...]}`` from the event files in ``folder``."""
    from tensorboardX.proto import event_pb2

    out: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        i = 0
        while i < len(data):
            # TFRecord: u64 length, u32 crc, payload, u32 crc.
            (length,) = struct.unpack("<Q", data[i : i + 8])
            event = event_pb2.Event.FromString(data[i + 12 : i + 12 + length])
            i += 12 + length + 4
            for value in event.summary.value:
                out.setdefault(value.tag, []).append((event.step, value.simple_value))
    return out


class FakeWandb(types.ModuleType):
    """What jaxrl calls of wandb: ``init(...)`` -> run with ``log``/``finish``."""

    def __init__(self):
        super().__init__("wandb")
        self.inits, self.logged, self.finished = [], [], 0

    def init(self, **kwargs):
        self.inits.append(kwargs)
        fake = self

        class Run:
            def log(self, scalars, step):
                fake.logged.append((step, dict(scalars)))

            def finish(self):
                fake.finished += 1

        return Run()


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory):
    pytest.importorskip("tensorboardX")
    out = tmp_path_factory.mktemp("runs") / "logged"
    fake = FakeWandb()
    saved = sys.modules.get("wandb")
    sys.modules["wandb"] = fake
    try:
        argv = [*ARGV, "--out", str(out), "--log", "tensorboard,wandb"]
        assert main(argv) == 0
    finally:
        if saved is None:
            sys.modules.pop("wandb", None)
        else:
            sys.modules["wandb"] = saved
    return out, fake


def expected(run, metric, h):
    """Seed mean of setting ``h`` per episode, from the run folder's arrays."""
    return np.nanmean(np.asarray(run.metrics[metric][h], np.float64), axis=0)


def test_tensorboard_holds_the_seed_means_of_metrics_csv(logged_run):
    out, _ = logged_run
    run = load_run(out)
    scalars = read_scalars(out / "tensorboard")
    # TensorBoard's tags allow no "=": alpha=0.1 is shown as alpha_0.1.
    assert run.labels == ("alpha=0.1", "alpha=0.5")
    tb_labels = ("alpha_0.1", "alpha_0.5")
    # Every metric of the run folder, and nothing else.
    assert {"return", "length"} <= set(run.metrics)
    tags = {f"{m}/{lab}" for m in run.metrics for lab in tb_labels}
    assert set(scalars) == tags
    for h, label in enumerate(tb_labels):
        for metric in run.metrics:
            steps, values = zip(*scalars[f"{metric}/{label}"], strict=True)
            assert list(steps) == run.x.tolist() == [1, 2, 3, 4]  # episodes
            np.testing.assert_allclose(values, expected(run, metric, h), rtol=1e-6)


def test_wandb_gets_the_same_scalars_per_step(logged_run):
    out, fake = logged_run
    run = load_run(out)
    (init,) = fake.inits
    # wandb adds "wandb/" to dir itself: its files land in OUT/wandb/.
    assert init["dir"] == str(out) and init["name"] == out.name
    assert init["config"]["algorithm"] == "sarsa"
    assert fake.finished == 1
    assert [step for step, _ in fake.logged] == [1, 2, 3, 4]
    for t, (_, scalars) in enumerate(fake.logged):
        for h, label in enumerate(run.labels):
            assert scalars[f"return/{label}"] == pytest.approx(
                expected(run, "return", h)[t], rel=1e-12
            )


def test_a_resumed_run_continues_its_wandb_run(tmp_path, monkeypatch):
    import shutil

    fake = FakeWandb()
    monkeypatch.setitem(sys.modules, "wandb", fake)
    out = tmp_path / "run"
    assert main([*ARGV, "--out", str(out), "--log", "wandb"]) == 0
    # Killed after the first of its two chunks: resume with --log wandb.
    shutil.rmtree(out / "checkpoints" / "4")
    (out / "metrics.npz").unlink()
    assert main(["train", "--resume", str(out), "--log", "wandb", "--quiet"]) == 0
    first, second = fake.inits
    assert first["id"] == second["id"] and second["resume"] == "allow"
    assert (out / "wandb" / "run_id").read_text().strip() == first["id"]
    # The first run logged episodes 1-4, the resumed one 3-4 (from its checkpoint).
    assert [step for step, _ in fake.logged] == [1, 2, 3, 4, 3, 4]
    # A new run folder gets a new id.
    assert main([*ARGV, "--out", str(tmp_path / "other"), "--log", "wandb"]) == 0
    assert fake.inits[2]["id"] != first["id"]


def test_the_wandb_run_id_file(tmp_path, monkeypatch):
    from jaxrl.results.loggers import _Wandb, _wandb_run_id

    folder = tmp_path / "wandb"
    run_id = _wandb_run_id(folder)
    assert _wandb_run_id(folder) == run_id  # kept
    (folder / "run_id").write_text("not an id!\n")
    with pytest.warns(UserWarning, match="not a W&B run id"):
        assert _wandb_run_id(folder) not in (run_id, "not an id!")
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.warns(UserWarning, match="cannot keep the W&B run id"):
        assert _wandb_run_id(blocked / "wandb") is None
    # wandb's own variables win over the kept id.
    fake = FakeWandb()
    monkeypatch.setitem(sys.modules, "wandb", fake)
    monkeypatch.setenv("WANDB_RUN_ID", "abc123")
    monkeypatch.setenv("WANDB_RESUME", "must")
    _Wandb(tmp_path / "run", "run", {})
    assert "id" not in fake.inits[0] and "resume" not in fake.inits[0]


def test_chunk_scalars_by_hand():
    # Two seeds, a chunk of 3 iterations after 5 done; seed 1 has no return
    # at the 1st iteration and neither seed at the 2nd (never logged).
    # env_steps sets the step.
    metrics = {
        "return": np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, 5.0]]),
        "env_steps": np.array([[60, 70, 80], [60, 70, 80]]),
    }
    assert chunk_scalars(5, metrics) == [
        (60, {"return": 1.0, "env_steps": 60.0}),
        (70, {"env_steps": 70.0}),
        (80, {"return": 4.0, "env_steps": 80.0}),
    ]
    # Without env_steps: iterations 6, 7, 8.
    assert [s for s, _ in chunk_scalars(5, {"r": np.ones((2, 3))})] == [6, 7, 8]


def test_a_missing_package_names_its_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # not importable
    out = tmp_path / "run"
    assert main([*ARGV, "--out", str(out), "--log", "tensorboard"]) == 2
    err = capsys.readouterr().err
    assert "needs the tensorboardX package" in err
    assert "pip install 'jaxrl[tensorboard]'" in err
    assert not out.exists()  # refused before anything was written
    assert main([*ARGV, "--out", str(out), "--log", "tensorboard,csv"]) == 2
    assert "--log 'csv': unknown logger; allowed: tensorboard, wandb" in (
        capsys.readouterr().err
    )


def test_the_core_imports_no_logger_package():
    code = (
        "import sys\n"
        "import jaxrl.cli, jaxrl.results, jaxrl.results.loggers\n"
        "assert jaxrl.cli.main(['train', '--log', 'nope']) == 2\n"
        "bad = {'tensorboardX', 'wandb', 'jax'} & set(sys.modules)\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
