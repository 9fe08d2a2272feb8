"""Every registered algorithm runs from the command line with its default
settings on its default environment, checkpoints on, and resumes.

The budget (and, for deep agents, the network width) is cut by the keys
below, chosen by what the algorithm's config has; everything else is the
algorithm's default. A state that orbax cannot save, a metric the run folder
cannot write, a resume that does not continue bit for bit or a first step
that blows up (the divergence guard is on) fails here the day an algorithm
is registered.
"""

import json
import shutil

import numpy as np
import pytest

from jaxrl import registry
from jaxrl.cli import main
from jaxrl.config import fields
from jaxrl.results import load_run

# Budget keys by environment kind; a key the config lacks is skipped.
TINY = {
    "bandit": {"num_steps": "40"},
    "tabular": {"num_episodes": "6"},
    "deep": {
        "total_timesteps": "256",
        "num_envs": "2",
        "num_steps": "16",
        "learning_starts": "64",
        "buffer_size": "256",
        "batch_size": "16",
        "eval_every": "2",
        "eval_episodes": "1",
        "hidden_sizes": "[8]",
        "seq_length": "8",
        "horizon": "3",
    },
}
MAX_ITERATIONS = 200  # what "tiny" means; raise a new algorithm's cut if hit


def _tiny_settings(name: str) -> list[str]:
    spec = registry.get(name)
    kind = spec.env_kind if spec.env_kind in TINY else "deep"
    have = fields(spec.config_cls)
    return [f"{k}={v}" for k, v in TINY[kind].items() if k in have]


def test_the_static_name_list_is_what_registers():
    assert sorted(registry.BUILTIN) == registry.names()


def test_the_deep_and_bandit_lists_are_the_registered_kinds():
    kinds = {n: registry.get(n).env_kind for n in registry.names()}
    assert sorted(registry.DEEP) == [n for n, k in kinds.items() if k not in TINY]
    assert sorted(registry.BANDIT) == [n for n, k in kinds.items() if k == "bandit"]
    assert all(registry.is_deep(n) == (n in registry.DEEP) for n in kinds)
    assert all(registry.is_bandit(n) == (n in registry.BANDIT) for n in kinds)


def test_a_plugin_algorithm_is_classed_by_its_env_kind(monkeypatch):
    for name, kind, deep in (
        ("my_agent", "discrete", True),
        ("my_td", "tabular", False),
    ):
        spec = registry.AlgoSpec(name, "", object, object, print, kind, "")
        monkeypatch.setitem(registry._ALGOS, name, spec)
        assert registry.is_deep(name) == deep and not registry.is_bandit(name)
    assert not registry.is_deep("no_such_algorithm")


@pytest.mark.parametrize(
    "argv, seeds",
    [
        (["train", "q_learning"], 1000),
        (["train", "bandit_ucb"], 1000),
        (["train", "ppo"], 8),
        (["train", "--preset", "dreamer-cartpole"], 8),
        (["train", "ppo", "--seeds", "3"], 3),
    ],
)
def test_seeds_default_by_kind(argv, seeds):
    from jaxrl.cli import _check_command_line, build_parser

    args = _check_command_line(build_parser().parse_args(argv))
    assert args.seeds == seeds


@pytest.mark.parametrize("name", sorted(registry.BUILTIN))
def test_every_algorithm_runs_and_resumes_from_the_cli(name, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", name, "--seeds", "2", "--chunks", "2", "--quiet"]
    for item in _tiny_settings(name):
        argv += ["--set", item]
    assert main(argv + ["--out", str(out)]) == 0, capsys.readouterr().err
    first = load_run(out)
    iterations = next(iter(first.metrics.values())).shape[-1]
    assert 2 <= iterations <= MAX_ITERATIONS, f"extend TINY for {name}"
    steps = sorted(int(p.name) for p in (out / "checkpoints").iterdir())
    assert steps[-1] == iterations and len(steps) == 2

    # Kill after the first chunk: only its checkpoint is left. Resume.
    shutil.rmtree(out / "checkpoints" / str(steps[-1]))
    for f in ("metrics.npz", "metrics.csv", "summary.json"):
        (out / f).unlink()
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    assert f"resuming after {steps[0]} of {iterations}" in capsys.readouterr().err
    again = load_run(out)
    assert set(again.metrics) == set(first.metrics)
    for key, values in first.metrics.items():
        np.testing.assert_array_equal(again.metrics[key], values, err_msg=key)
    config = json.loads((out / "config.json").read_text())
    assert config["algorithm"] == name and "stopped" not in config


def test_every_hyperparameter_declares_its_range_once():
    # The range lives in the field's metadata (jaxrl.types.hparam) and is
    # checked in one place; a field without one would escape every check.
    import dataclasses

    from jaxrl.types import check_hparams, hparam

    for name in registry.names():
        cls = registry.get(name).hparams_cls
        undeclared = [
            f.name for f in dataclasses.fields(cls) if "allowed" not in f.metadata
        ]
        assert not undeclared, f"{name}: {undeclared} declare no interval"
        check_hparams(cls())  # the defaults are allowed
    with pytest.raises(
        ValueError, match=r"lr=0.0 is out of range: allowed \(0.0, inf\)"
    ):
        check_hparams(registry.get("ppo").hparams_cls(lr=0.0))
    with pytest.raises(ValueError, match="interval reads like"):
        hparam(1.0, "0 to 1")
