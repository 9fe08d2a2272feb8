"""The jaxrl command: run folders, sweeps and errors that say what is allowed."""

import json

import numpy as np
import pytest

from jaxrl.cli import main
from jaxrl.results import load_run

TINY = ["--seeds", "3", "--set", "num_episodes=4", "--quiet", "--chunks", "2"]


def test_list_shows_algorithms_envs_and_settings(capsys):
    assert main(["list", "-v"]) == 0
    out = capsys.readouterr().out
    for word in (
        "q_learning",
        "sarsa",
        "GridWorld-v0",
        "CartPole-v1",
        "alpha=",
        "slip=",
    ):
        assert word in out


def test_train_writes_a_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "q_learning", "--env", "CliffWalking-v0", "--out", str(out)]
    assert main(argv + TINY + ["--set", "alpha=0.5"]) == 0
    for name in (
        "config.json",
        "metrics.csv",
        "summary.json",
        "curves.png",
        "values.png",
    ):
        assert (out / name).stat().st_size > 0
    config = json.loads((out / "config.json").read_text())
    assert config["algorithm"] == "q_learning" and config["env"] == "CliffWalking-v0"
    assert config["hparams"]["alpha"] == 0.5 and config["seeds"] == 3
    run = load_run(out)
    assert run.metrics["return"].shape == (3, 4)
    assert "return" in capsys.readouterr().err


def test_sweep_runs_every_setting(tmp_path):
    out = tmp_path / "sweep"
    argv = ["train", "sarsa", "--env", "CliffWalking-v0", "--out", str(out)]
    assert (
        main(argv + TINY + ["--sweep", "alpha=0.1,0.5", "--sweep", "epsilon=0,0.1"])
        == 0
    )
    run = load_run(out)
    assert run.metrics["return"].shape == (4, 3, 4)
    assert "alpha=0.1, epsilon=0" in run.labels


@pytest.mark.parametrize(
    "argv,message",
    [
        (["train", "nope"], "unknown algorithm 'nope'; allowed: .*q_learning"),
        (["train", "q_learning", "--env", "Nope-v9"], "unknown environment 'Nope-v9'"),
        (
            ["train", "q_learning", "--set", "colour=red"],
            "unknown setting 'colour'.*alpha",
        ),
        (["train", "q_learning", "--set", "epsilon=2"], r"epsilon=2.0 is out of range"),
        (
            ["train", "q_learning", "--set", "goal=[1,1]"],
            r"goal \(1, 1\) is inside a wall",
        ),
        (["train", "q_learning", "--env", "Bandit-v0"], "needs a tabular environment"),
        (["train", "q_learning", "--sweep", "num_episodes=1,2"], "--sweep takes hyper"),
        (["train", "q_learning", "--set", "alpha"], "--set takes key=value"),
        (["train", "q_learning", "--seeds", "0"], "--seeds 0 must be >= 1"),
        (["train", "sac", "--env", "CartPole-v1"], "sac needs a Box action space"),
    ],
)
def test_bad_input_exits_2_with_what_is_allowed(argv, message, capsys):
    assert main(argv + ["--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jaxrl: error: ")
    assert pytest.importorskip("re").search(message, err), err


def test_same_seed_same_run(tmp_path):
    argv = ["train", "expected_sarsa", "--env", "CliffWalking-v0"] + TINY
    main(argv + ["--out", str(tmp_path / "a")])
    main(argv + ["--out", str(tmp_path / "b")])
    a, b = load_run(tmp_path / "a"), load_run(tmp_path / "b")
    np.testing.assert_array_equal(a.metrics["return"], b.metrics["return"])
