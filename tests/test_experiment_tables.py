"""The experiment scripts' bookkeeping (no JAX): MinAtar's binned training
curves and the GPU script's table against CleanRL's and DreamerV3's
published scores."""

import csv
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
import atari_gpu  # noqa: E402
import atari_offpolicy  # noqa: E402
import minatar  # noqa: E402


def test_binned_curves_average_the_finished_episodes_of_each_span():
    steps = np.arange(1, 9) * 10  # 8 iterations, 10 env steps each
    returns = np.array(
        [
            [1, np.nan, 3, np.nan, np.nan, np.nan, 7, 8],
            [np.nan] * 8,  # a seed that finished no episode
        ]
    )
    x, curves = minatar.binned(returns, steps, 4)
    np.testing.assert_allclose(x, [20, 40, 60, 80])
    np.testing.assert_allclose(curves[0], [1, 3, np.nan, 7.5])
    assert np.isnan(curves[1]).all()
    # the last 10% of 80 steps: the iteration ending at 80
    np.testing.assert_allclose(minatar.final_return(returns[:1], steps), [8])


def _summary(folder: Path, mean, lo, hi, n=3):
    folder.mkdir(parents=True)
    final = {"mean": mean, "ci_low": lo, "ci_high": hi, "n": n}
    summary = {"settings": {"run": {"return": {"final": final}}}}
    (folder / "summary.json").write_text(json.dumps(summary))


def test_gpu_table_compares_finished_runs_with_the_published_scores(tmp_path):
    _summary(tmp_path / "ppo-Pong", 20.5, 20.1, 20.9)  # CI holds 20.8
    _summary(tmp_path / "ppo-Breakout", 300.0, 250.0, 350.0)  # below 421
    atari_gpu._add_wall(tmp_path, "ppo-Pong", 1200.0)
    atari_gpu._add_wall(tmp_path, "ppo-Pong", 600.0)  # resumed: the sum counts
    atari_gpu.table(tmp_path, ["ppo"], ["Pong", "Breakout", "BeamRider"])
    with open(tmp_path / "atari_gpu.csv") as f:
        pong, breakout, beam = list(csv.reader(f))[1:]
    assert pong[3:9] == ["20.5", "[20.1, 20.9]", "20.8", "yes", "30", "34-40"]
    assert breakout[6] == "no"
    assert beam[3] == "not run"
    assert (tmp_path / "atari_gpu.md").read_text().count("\n") == 5
    # a finished run is kept, not started again
    assert atari_gpu.final_score(tmp_path / "ppo-Pong")[0] == 20.5
    assert atari_gpu.command("ppo", "Pong", 3, tmp_path / "new")[:3] == [
        "jaxrl",
        "train",
        "ppo",
    ]
    assert pong[9] == "CleanRL, 10M steps"


def test_gpu_table_holds_dreamers_atari100k_games_against_dreamerv3(tmp_path):
    _summary(tmp_path / "dreamer-Boxing", 30.0, 20.0, 40.0, n=2)  # below 52.9
    _summary(tmp_path / "dreamer-Breakout", 20.0, None, None, n=1)  # one seed
    # only the pairs with a published target: Dreamer has no BeamRider row
    atari_gpu.table(tmp_path, ["dreamer"], list(atari_gpu.GAMES))
    with open(tmp_path / "atari_gpu.csv") as f:
        rows = list(csv.reader(f))[1:]
    assert [r[1] for r in rows] == ["Pong", "Breakout", "Boxing"]
    assert rows[2][3:7] == ["30.0", "[20.0, 40.0]", "52.9-86.8", "no"]
    # one seed has no interval: its score itself is held against the range
    assert rows[1][3:7] == ["20.0", "", "17.5-42.7", "yes"]
    assert rows[0][3] == "not run" and rows[0][9] == "DreamerV3, 100K steps"
    _summary(tmp_path / "dreamer-Pong", None, None, None, n=1)  # no game ended
    atari_gpu.table(tmp_path, ["dreamer"], ["Pong"])
    with open(tmp_path / "atari_gpu.csv") as f:
        (pong,) = list(csv.reader(f))[1:]
    assert pong[3] == "no game ended" and pong[6] == "n/a"
    cmd = atari_gpu.command("dreamer", "Boxing", 3, tmp_path / "new")
    assert cmd[cmd.index("--preset") + 1] == "dreamer-atari"


def test_train_preset_shares_one_envpool_pool_between_seeds():
    # Seeds of an EnvPool run are lanes of one pool; a pool built for one
    # lane refuses two (the experiment helper must size it like the CLI does).
    import _common

    settings = {
        "num_envs": "2",
        "num_steps": "8",
        "total_timesteps": "32",
        "num_minibatches": "1",
        "update_epochs": "1",
    }
    m, _ = _common.train_preset(
        "ppo-cartpole",
        settings,
        env="envpool:CartPole-v1",
        num_seeds=2,
        seed=0,
        desc="tiny",
        num_chunks=1,
        progress=False,
    )
    env_steps = np.asarray(m["env_steps"])
    assert env_steps.shape == (2, 2)
    np.testing.assert_array_equal(env_steps[:, -1], [32, 32])


def test_loss_spans_skip_the_warm_up_and_average_equal_spans():
    # 2 warm-up iterations (NaN), then 6 learning ones in 3 spans of 2.
    loss = np.array([[np.nan, np.nan, 1, 3, 5, 7, 9, 11]], float)
    steps = np.arange(1, 9) * 4
    x, spans = atari_offpolicy.loss_spans(loss, steps, 3)
    np.testing.assert_array_equal(x, [16, 24, 32])
    np.testing.assert_array_equal(spans, [[2, 6, 10]])


def test_minatar_keeps_the_earlier_pairs_and_replaces_those_run_again(tmp_path):
    path = tmp_path / "minatar.csv"
    path.write_text(
        "game,agent,x\nBreakout-MinAtar,ppo,1\nBreakout-MinAtar,dqn,2\n"
        "Asterix-MinAtar,ppo,3\n"
    )
    kept = minatar.earlier(path, {("Breakout-MinAtar", "dqn")})
    assert kept == [["Breakout-MinAtar", "ppo", "1"], ["Asterix-MinAtar", "ppo", "3"]]
    assert minatar.earlier(tmp_path / "none.csv", set()) == []
