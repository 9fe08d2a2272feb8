"""Atari human-normalised scores: the shipped table, names, `--normalize human`."""

import fnmatch
import importlib.resources
import tomllib
from pathlib import Path

import numpy as np
import pytest

from jaxrl import stats
from jaxrl.cli import main
from jaxrl.results import write_run
from jaxrl.results.compare import CompareError, compare


@pytest.mark.parametrize(
    "game,random,human",
    [
        # Mnih et al. (2015) / Badia et al. (2020), as in the data file.
        ("Pong", -20.7, 14.6),
        ("Breakout", 1.7, 30.5),
        ("Seaquest", 68.4, 42054.7),
        ("MontezumaRevenge", 0.0, 4753.3),
        ("Skiing", -17098.1, -4336.9),
        ("Defender", 2874.5, 18688.9),
        ("Surround", -10.0, 6.5),
        ("VideoPinball", 0.0, 17667.9),
    ],
)
def test_reference_scores_by_value(game, random, human):
    assert stats.atari_scores(game) == (random, human)
    assert stats.atari_scores(f"envpool:{game}-v5") == (random, human)


def test_the_table_has_the_57_games_and_ships_in_the_package():
    assert len(stats.ATARI_GAMES) == 57
    for game in stats.ATARI_GAMES:
        random, human = stats.atari_scores(game)
        assert human > random, game
    data = importlib.resources.files("jaxrl.stats") / "atari_scores.csv"
    header = data.read_text()
    assert "Mnih et al. (2015)" in header and "Badia et al." in header
    # pyproject ships it as package data.
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    package_data = tomllib.loads(pyproject.read_text())["tool"]["setuptools"][
        "package-data"
    ]["jaxrl.stats"]
    assert any(fnmatch.fnmatch("atari_scores.csv", p) for p in package_data)


def test_environment_names_map_to_games():
    for name in ("envpool:Pong-v5", "Pong-v5", "ALE/Pong-v5", "PongNoFrameskip-v4"):
        assert stats.atari_game(name) == "Pong"
    assert stats.atari_game("ms_pacman") == "MsPacman"
    assert stats.atari_game("envpool:UpNDown-v5") == "UpNDown"


def test_human_normalised_scores_by_hand():
    # Pong: (s + 20.7) / 35.3; Breakout: (s - 1.7) / 28.8, so 16.1 is halfway.
    np.testing.assert_allclose(
        stats.atari_human_normalized([-20.7, 14.6, np.nan], "envpool:Pong-v5"),
        [0.0, 1.0, np.nan],
    )
    assert stats.atari_human_normalized(16.1, "Breakout") == pytest.approx(0.5)
    assert stats.atari_human_normalized([[30.5]], "Breakout").shape == (1, 1)


def test_unknown_games_are_refused_with_what_is_allowed():
    with pytest.raises(ValueError, match=r"'envpool:CartPole-v1' is not one of the "
                       r"57 Atari games.*allowed: Alien, Amidar"):  # fmt: skip
        stats.atari_game("envpool:CartPole-v1")
    with pytest.raises(ValueError, match="not one of the 57"):
        stats.atari_human_normalized([1.0], "Pong2")


def _run(path, algorithm, env, finals):
    """Seed ``i`` scores ``finals[i]`` at every one of 10 iterations."""
    curves = np.repeat(np.asarray(finals, np.float64)[:, None], 10, axis=1)
    write_run(
        path,
        config={"algorithm": algorithm, "env": env, "sweep": False},
        metrics={"return": curves},
        x_name="env_steps",
        x=np.arange(1, 11) * 100,
        plot=False,
    )
    return str(path)


def test_compare_normalize_human(tmp_path, capsys):
    runs = [
        # Pong: human 14.6, random -20.7; Breakout: human 30.5, random 1.7.
        _run(tmp_path / "p_ppo", "ppo", "envpool:Pong-v5", [14.6, -3.05]),
        _run(tmp_path / "b_ppo", "ppo", "envpool:Breakout-v5", [30.5, 30.5]),
        _run(tmp_path / "p_dqn", "dqn", "envpool:Pong-v5", [-20.7, -20.7]),
        _run(tmp_path / "b_dqn", "dqn", "envpool:Breakout-v5", [16.1, 1.7]),
    ]
    result = compare(runs, tmp_path / "cmp", normalize="human", n_boot=50)
    # ppo: Pong 1.0 and 0.5, Breakout 1.0 and 1.0 -> mean 0.875;
    # dqn: Pong 0 and 0, Breakout 0.5 and 0 -> mean 0.125.
    assert result["aggregates"]["ppo"]["mean"][0] == pytest.approx(0.875)
    assert result["aggregates"]["dqn"]["mean"][0] == pytest.approx(0.125)
    out = tmp_path / "cli"
    argv = ["compare", *runs, "--out", str(out), "--n-boot", "20"]
    assert main([*argv, "--normalize", "human"]) == 0
    assert "| ppo | 1.000" in capsys.readouterr().out  # IQM of 1, 1, 1, 0.5
    # Not an Atari game: a message, exit status 2.
    other = [
        _run(tmp_path / "c_ppo", "ppo", "CartPole-v1", [1, 2]),
        _run(tmp_path / "c_dqn", "dqn", "CartPole-v1", [1, 3]),
    ]
    with pytest.raises(CompareError, match="needs Atari games.*CartPole-v1"):
        compare(other, tmp_path / "x", normalize="human")
    argv = ["compare", *other, "--out", str(out), "--normalize", "human"]
    assert main(argv) == 2
    assert "jaxrl: error: --normalize human needs Atari games" in (
        capsys.readouterr().err
    )
