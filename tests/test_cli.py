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
        (["train", "q_learning", "--sweep", "alpha=0.1,,0.5"], "an empty value"),
        (["train", "q_learning", "--sweep", "alpha=0.1,"], "an empty value"),
        (
            ["train", "q_learning", "--sweep", "alpha=0.1,0.2", "--sweep", "alpha=0.3"],
            "--sweep alpha is given twice",
        ),
        (["train", "q_learning", "--sweep", "alpha=0.1,0.1"], "a value is repeated"),
        (
            ["train", "q_learning", "--set", "alpha=0.1", "--set", "alpha=0.2"],
            "--set alpha is given twice",
        ),
        (
            ["train", "q_learning", "--set", "alpha=0.1", "--sweep", "alpha=0.2,0.3"],
            "alpha is both set and swept",
        ),
        (["train", "q_learning", "--set", "=1"], "--set takes key=value"),
        (["train", "q_learning", "--chunks", "0"], "--chunks 0 must be >= 1"),
        (["train", "q_learning", "--solved-at", "nan"], "--solved-at nan must be"),
        (["train", "bandit_ucb", "--solved-at", "1"], "no episode return"),
        (
            ["train", "q_learning", "--set", "alpha=abc"],
            "alpha takes a number, got 'abc'",
        ),
        (
            ["train", "q_learning", "--set", "num_episodes=1.5"],
            "num_episodes takes an integer, got 1.5",
        ),
        (
            ["train", "q_learning", "--set", "slip=yes"],
            "slip takes a number, got 'yes'",
        ),
        (
            ["train", "ppo", "--set", "anneal_lr=1"],
            "anneal_lr takes true or false, got 1",
        ),
        (["train", "q_learning", "--sweep", "alpha=a,b"], "alpha takes a number"),
        (
            ["train", "q_learning", "--divergence-threshold", "0"],
            "--divergence-threshold 0.0 must be > 0",
        ),
        # A registered name's algorithm is no setting: the run would carry
        # the wrong name.
        (
            ["train", "sarsa_lambda", "--set", "algorithm=q_learning"],
            r"algorithm is fixed by the algorithm's name \(sarsa_lambda is "
            r"algorithm='sarsa_lambda'\)",
        ),
        (["train", "nstep_td", "--set", "method=td0"], "method is fixed"),
        # Settings kept for other algorithms are not offered.
        (
            ["train", "td0", "--set", "max_n=4"],
            r"unknown setting 'max_n' for td0 .*config: num_episodes, step_size;",
        ),
        (["train", "q_learning", "--set", "trace=replacing"], "unknown setting"),
        (
            ["train", "nstep_td", "--set", "n_step=64"],
            "n_step=64 is larger than the window max_n=32; set max_n >= 64",
        ),
    ],
)
def test_bad_input_exits_2_with_what_is_allowed(argv, message, capsys):
    assert main(argv + ["--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jaxrl: error: ")
    assert pytest.importorskip("re").search(message, err), err


def test_same_seed_same_run(tmp_path):
    argv = ["train", "expected_sarsa", "--env", "CliffWalking-v0"] + TINY
    assert main(argv + ["--out", str(tmp_path / "a")]) == 0
    assert main(argv + ["--out", str(tmp_path / "b")]) == 0
    a, b = load_run(tmp_path / "a"), load_run(tmp_path / "b")
    np.testing.assert_array_equal(a.metrics["return"], b.metrics["return"])


def test_usage_errors_come_before_jax_is_imported():
    # Syntax, counts, names and --out are checked with the standard library
    # alone: no JAX import (seconds) before the message.
    code = (
        "import sys\n"
        "from jaxrl.cli import main\n"
        "for argv in (['train', 'nope'], ['train', '--chunks', '0'],\n"
        "        ['train', '--sweep', 'alpha=1,,2'], ['train', '--set', 'a'],\n"
        "        ['train', '--preset', 'nope'], ['train', '--resume', 'nowhere'],\n"
        "        ['train', '--out', sys.argv[1] + '/x']):\n"
        "    assert main(argv) == 2, argv\n"
        "assert 'jax' not in sys.modules, 'jax was imported'\n"
    )
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", code, __file__], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("jaxrl: error: ") == 7
    assert "Traceback" not in result.stderr


def test_out_that_holds_something_else_is_refused(tmp_path, capsys):
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    argv = ["train", "q_learning"] + TINY
    assert main(argv + ["--out", str(other)]) == 2
    assert "exists and is not empty (notes.txt)" in capsys.readouterr().err
    # --overwrite replaces run folders only, never other files.
    assert main(argv + ["--out", str(other), "--overwrite"]) == 2
    assert "replaces a run folder of `jaxrl train`" in capsys.readouterr().err
    assert (other / "notes.txt").read_text() == "keep me"
    # Not even a run folder that also holds something of the user's.
    run = tmp_path / "run"
    assert main(argv + ["--out", str(run)]) == 0
    (run / "notes.txt").write_text("keep me too")
    assert main(argv + ["--out", str(run), "--overwrite"]) == 2
    assert "holds other files (notes.txt)" in capsys.readouterr().err
    assert (run / "notes.txt").read_text() == "keep me too"
    # A file where a folder should be: a message before any work.
    assert main(argv + ["--out", str(other / "notes.txt" / "run")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_overwrite_replaces_an_earlier_run_whole(tmp_path, capsys):
    out = tmp_path / "run"
    grid = ["train", "q_learning", "--out", str(out)] + TINY
    assert main(grid) == 0
    assert (out / "values.png").is_file()
    walk = ["train", "td0", "--out", str(out)] + TINY
    assert main(walk) == 2  # the grid run's checkpoints are there
    assert "--resume" in capsys.readouterr().err
    assert main(walk + ["--overwrite"]) == 0
    # Nothing of the grid run is left beside the random-walk run.
    assert not (out / "values.png").exists()
    assert json.loads((out / "config.json").read_text())["algorithm"] == "td0"


def test_default_folder_names_have_no_colons():
    from jaxrl.cli import _default_out

    out = _default_out("sac", "envpool:Pendulum-v1")
    assert ":" not in str(out) and out.name.startswith("sac-envpool-Pendulum-v1-")


def test_a_damaged_checkpoint_falls_back_to_the_one_before(tmp_path, capsys):
    base = ["train", "q_learning", "--seeds", "3", "--quiet", "--chunks", "3"]
    base += ["--set", "num_episodes=6"]
    whole, out = tmp_path / "whole", tmp_path / "run"
    assert main(base + ["--out", str(whole)]) == 0
    assert main(base + ["--out", str(out)]) == 0
    # Truncate every data file of the newest checkpoint (after 6 episodes).
    for f in (out / "checkpoints" / "6").rglob("d/*"):
        f.write_bytes(f.read_bytes()[:10])
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "the checkpoint after 6 iterations cannot be read" in err
    assert "resuming after 4 of 6 iterations" in err and "Traceback" not in err
    assert (out / "checkpoints-unreadable" / "6").is_dir()  # kept, not deleted
    np.testing.assert_array_equal(
        load_run(out).metrics["return"], load_run(whole).metrics["return"]
    )
    # Every checkpoint damaged: a message, no traceback.
    for f in (out / "checkpoints").rglob("d/*"):
        f.write_bytes(f.read_bytes()[:10])
    assert main(["train", "--resume", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "jaxrl: error: no checkpoint in" in err and "can be read" in err
    assert "Traceback" not in err


def test_a_diverging_run_stops_with_what_went_wrong(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "ppo", "--seeds", "2", "--quiet", "--chunks", "2"]
    for item in ("total_timesteps=256", "num_envs=2", "num_steps=16", "lr=1e6"):
        argv += ["--set", item]
    assert main(argv + ["--out", str(out)]) == 3
    err = capsys.readouterr().err
    assert "training diverged: loss metric" in err and "at iteration 1" in err
    assert "Traceback" not in err
    # The folder holds what ran: metrics up to the stop, and why it stopped.
    config = json.loads((out / "config.json").read_text())
    assert config["stopped"]["after_iteration"] == 4
    assert config["stopped"]["first_iteration"] == 1
    assert load_run(out).metrics["loss"].shape == (2, 4)


def test_solved_at_reports_the_first_crossing_per_seed(tmp_path, capsys):
    argv = ["train", "q_learning", "--env", "CliffWalking-v0"] + TINY
    assert main(argv + ["--out", str(tmp_path / "a")]) == 0
    returns = load_run(tmp_path / "a").metrics["return"]  # [3 seeds, 4 episodes]
    threshold = float(np.sort(returns.ravel())[returns.size // 2])
    out = tmp_path / "b"
    assert main(argv + ["--out", str(out), "--solved-at", str(threshold)]) == 0
    assert "episode to threshold" in capsys.readouterr().err
    run = load_run(out)
    np.testing.assert_array_equal(run.metrics["return"], returns)
    first = [
        1 + int(np.argmax(r >= threshold)) if np.any(r >= threshold) else None
        for r in returns
    ]
    solved = [f for f in first if f is not None]
    (setting,) = run.summary["settings"].values()
    solve = setting["return"]["solve"]
    assert solve["threshold"] == threshold and solve["op"] == ">="
    assert solve["n_unsolved"] == first.count(None) and solve["n"] == len(solved)
    assert solve["median"] == pytest.approx(np.median(solved))
    assert solve["per_seed"] == first
    assert json.loads((out / "config.json").read_text())["solved_at"] == threshold
    record = json.loads((out / "run_args.json").read_text())
    assert record["solved_at"] == threshold and "--solved-at" in record["command"]
    # Killed after the first chunk, resumed without the flag: the same summary.
    import shutil

    shutil.rmtree(out / "checkpoints" / "4")
    for name in ("metrics.npz", "summary.json", "config.json"):
        (out / name).unlink()
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    assert load_run(out).summary["settings"] == run.summary["settings"]
    refused = ["train", "--resume", str(out), "--solved-at", "1e9"]
    assert main(refused) == 2


def test_solved_at_defaults_to_the_presets_threshold_on_its_env():
    from jaxrl.cli import _check_command_line, build_parser

    def solved_at(*argv):
        args = build_parser().parse_args(["train", *argv])
        return _check_command_line(args).solved_at

    assert solved_at("--preset", "dreamer-cartpole") == 475.0
    assert solved_at("--preset", "sac-pendulum") == -200.0
    assert solved_at("--preset", "dreamer-cartpole", "--solved-at", "200") == 200.0
    assert solved_at("--preset", "ppo-cartpole", "--env", "Acrobot-v1") is None
    assert solved_at("ppo") is None


def test_solve_metric_is_the_evaluation_where_there_is_one():
    from jaxrl.cli import _solve_metric

    nan = np.full((2, 3), np.nan)
    some = nan.copy()
    some[:, -1] = 1.0  # evaluated at the last iteration only
    assert _solve_metric({"return": nan, "eval_return": some}) == "eval_return"
    assert _solve_metric({"return": nan, "eval_return": nan}) == "return"
    assert _solve_metric({"return": nan}) == "return"
