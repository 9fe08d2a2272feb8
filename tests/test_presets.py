"""Named presets: every one resolves, and --preset expands as documented."""

import argparse
import sys
from pathlib import Path

import numpy as np
import pytest

from jaxrl import presets
from jaxrl.cli import DEFAULT_ALGO, UsageError, _expand_preset, main
from jaxrl.config import parse_value, resolve
from jaxrl.types import check_hparams

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
import sample_efficiency  # noqa: E402


@pytest.mark.parametrize("name", presets.names())
def test_every_preset_resolves_to_a_valid_run(name):
    preset = presets.get(name)
    r = resolve(preset.algo, preset.env, dict(preset.settings), {})
    config = r["config"]
    for key, text in preset.settings.items():
        if hasattr(config, key):
            target = config
        elif hasattr(r["hparams"], key):
            target = r["hparams"]
        else:
            target = r["env_params"]
        value = getattr(target, key)
        expected = parse_value(text)
        if isinstance(value, tuple):
            value = list(value)
        if expected is None or isinstance(expected, str):
            assert value == expected, (name, key)
        else:
            assert value == pytest.approx(expected), (name, key)
    # samples-to-solve needs evaluations; Atari and MuJoCo have no gymnax twin
    # to evaluate greedily on, and no solve threshold
    assert config.eval_every > 0 or preset.solved_at is None
    check_hparams(r["hparams"])


def _args(**kw):
    base = dict(algo=DEFAULT_ALGO, env=None, set=[], preset=None)
    return argparse.Namespace(**{**base, **kw})


def test_preset_expands_before_the_users_settings():
    args = _expand_preset(_args(preset="dqn-cartpole", set=["lr=0.01", "tau=0.5"]))
    preset = presets.get("dqn-cartpole")
    assert args.algo == "dqn" and args.env == "CartPole-v1" and args.preset is None
    # Every key once: the preset's values, the user's replacing them.
    expected = {**preset.settings, "lr": "0.01", "tau": "0.5"}
    assert args.set == [f"{k}={v}" for k, v in expected.items()]
    args = _expand_preset(_args(algo="dqn", env="Acrobot-v1", preset="dqn-cartpole"))
    assert args.env == "Acrobot-v1"
    assert _expand_preset(_args()).set == []  # no preset, nothing changes


def test_bad_presets_are_refused(capsys):
    with pytest.raises(UsageError, match="is for dqn, not ppo"):
        _expand_preset(_args(algo="ppo", preset="dqn-cartpole"))
    with pytest.raises(UsageError, match="unknown preset 'nope'; allowed: "):
        _expand_preset(_args(preset="nope"))
    assert main(["train", "ppo", "--preset", "dqn-cartpole", "--quiet"]) == 2
    assert "jaxrl train dqn --preset dqn-cartpole" in capsys.readouterr().err


def test_list_shows_presets(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in presets.names():
        assert name in out


def test_steps_to_solve_and_quartiles_count_unsolved_seeds():
    ev = np.array(
        [
            [10.0, 480.0, 500.0, 500.0],  # first reaches 475 at the 2nd evaluation
            [10.0, 20.0, 30.0, 476.0],
            [500.0, 10.0, 10.0, 10.0],  # solved at once, then forgot: still counts
            [10.0, 20.0, 30.0, 40.0],  # never
        ]
    )
    x = np.tile([100.0, 200.0, 300.0, 400.0], (4, 1))
    steps = sample_efficiency.steps_to_solve(ev, x, 475.0)
    np.testing.assert_array_equal(steps, [200.0, 400.0, 100.0, np.inf])
    med, q25, q75 = sample_efficiency.quartiles(steps)
    assert (med, q25) == (200.0, 100.0) and q75 == 400.0
    med, _, q75 = sample_efficiency.quartiles(np.array([100.0, np.inf, np.inf]))
    assert np.isinf(med) and np.isinf(q75)  # fewer than half solved
    assert sample_efficiency.fmt(np.inf, 30000) == "> 30,000"


@pytest.mark.parametrize("name", presets.names())
def test_presets_are_typed_values_of_their_algorithm(name):
    # Each section names fields of its own class (a misspelt or misplaced key
    # fails here) with values of the field's type; resolve() gives instances.
    import dataclasses

    import envs
    from jaxrl import registry

    preset = presets.get(name)
    spec = registry.get(preset.algo)
    _, env_params = envs.make(preset.env)
    sections = (
        (preset.config, spec.config_cls()),
        (preset.hparams, spec.hparams_cls()),
        (preset.env_settings, env_params),
    )
    for section, default in sections:
        known = {f.name for f in dataclasses.fields(default)}
        assert set(section) <= known, (name, set(section) - known)
        for key, value in section.items():
            expected = type(getattr(default, key))
            if expected is not str:  # a number or a flag, not its text
                assert not isinstance(value, str), (name, key, "typed, not text")
            if expected is float:
                expected = int | float
            assert isinstance(value, expected), (name, key, value)
    r = preset.resolve()
    assert type(r["config"]) is spec.config_cls
    for key, value in preset.config.items():
        assert getattr(r["config"], key) == value, (name, key)
    for key, value in preset.hparams.items():
        assert getattr(r["hparams"], key) == pytest.approx(value), (name, key)
    for key, value in preset.env_settings.items():
        assert getattr(r["env_params"], key) == value


def test_dreamers_defaults_are_the_cartpole_presets_settings():
    # The README's samples-to-solve row for `jaxrl train dreamer --env
    # CartPole-v1` rests on this: the defaults run dreamer-cartpole's settings
    # (only the budget differs), and its Atari preset keeps DreamerV3's rates.
    import dataclasses

    preset = presets.get("dreamer-cartpole").resolve()
    default = resolve("dreamer", "CartPole-v1", {})
    budget = default["config"].total_timesteps
    assert budget > preset["config"].total_timesteps
    same_budget = dataclasses.replace(preset["config"], total_timesteps=budget)
    assert same_budget == default["config"]
    assert preset["hparams"] == default["hparams"]
    atari = presets.get("dreamer-atari").resolve()["hparams"]
    assert (atari.actor_lr, atari.critic_lr, atari.model_lr) == (3e-5, 3e-5, 1e-4)
