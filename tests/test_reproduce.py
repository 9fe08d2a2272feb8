"""Reproducible run folders: provenance in config.json and `jaxrl reproduce`.

One tiny tabular run (3 seeds x 4 episodes, two chunks) is trained once for
the module and reproduced; the other cases tamper with copies of it or build
run folders directly with ``write_run``.
"""

import json
import platform
import shutil
import subprocess
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxrl.cli import main
from jaxrl.results import load_run, write_run
from jaxrl.results.provenance import differences
from jaxrl.results.reproduce import compare_csv, compare_metrics

ARGV = ["train", "q_learning", "--env", "CliffWalking-v0", "--seeds", "3"]
ARGV += ["--set", "num_episodes=4", "--quiet", "--chunks", "2"]


@pytest.fixture(scope="module")
def original(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "original"
    assert main([*ARGV, "--out", str(out)]) == 0
    return out


def test_config_records_what_the_run_ran_on(original):
    config = json.loads((original / "config.json").read_text())
    prov = config["provenance"]
    assert prov["argv"] == [*ARGV, "--out", str(original)]
    assert prov["command"].startswith("jaxrl train q_learning --env CliffWalking-v0")
    packages = prov["packages"]
    assert packages["jax"] == jax.__version__
    assert packages["numpy"] == np.__version__
    assert packages["python"] == platform.python_version()
    for name in ("jaxlib", "flax", "optax", "gymnax"):
        assert packages[name], name
    assert prov["devices"]["count"] == len(jax.devices())
    assert prov["devices"]["backend"] == jax.default_backend()
    assert sum(prov["devices"]["kinds"].values()) == len(jax.devices())
    assert prov["process_count"] == 1
    # The commit, as git itself tells it, where the source is a checkout of
    # its own (not a copy, nor a folder inside another repository).
    root = Path(__file__).resolve().parents[1]

    def git(*args):
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True
        )
        return done.stdout.strip() if done.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    if top is not None and Path(top).resolve() == root:
        assert prov["git"]["commit"] == git("rev-parse", "HEAD")
        assert prov["git"]["dirty"] == bool(git("status", "--porcelain"))
    else:
        assert prov["git"] is None
    # Everything that reads config.json still does.
    run = load_run(original)
    assert run.config["algorithm"] == "q_learning"
    assert run.metrics["return"].shape == (3, 4)


def test_a_reproduction_matches_bit_for_bit(original, tmp_path, capsys):
    new = tmp_path / "again"
    capsys.readouterr()
    assert main(["reproduce", str(original), "--out", str(new), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"match: {new} reproduces {original} bit for bit")
    np.testing.assert_array_equal(
        load_run(new).metrics["return"], load_run(original).metrics["return"]
    )
    prov = json.loads((new / "config.json").read_text())["provenance"]
    assert prov["argv"][:2] == ["reproduce", str(original)]
    # The train command's rules for --out: a non-empty folder is refused,
    # and so is the run being reproduced.
    assert main(["reproduce", str(original), "--out", str(new)]) == 2
    assert "choose another --out" in capsys.readouterr().err
    assert main(["reproduce", str(original), "--out", str(original)]) == 2
    assert "is the run to reproduce" in capsys.readouterr().err


def test_a_tampered_metrics_file_is_found_where_it_was_changed(
    original, tmp_path, capsys
):
    tampered = tmp_path / "tampered"
    shutil.copytree(original, tampered)
    with np.load(tampered / "metrics.npz") as data:
        arrays = {k: data[k] for k in data.files}
    was = arrays["return"][1, 2]
    arrays["return"][1, 2] = was + 0.5  # seed 1, the 3rd episode
    np.savez_compressed(tampered / "metrics.npz", **arrays)
    capsys.readouterr()
    new = tmp_path / "new"
    assert main(["reproduce", str(tampered), "--out", str(new), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("mismatch:")
    line = next(x for x in out.splitlines() if x.strip().startswith("return:"))
    assert "1 of 12 values differ" in line
    assert "first at iteration 3 (episode 3), seed 1" in line
    assert f"{float(was) + 0.5!r} then, {float(was)!r} now" in line
    assert "largest |difference| 0.5" in line
    assert "length:" not in out  # only what changed is named


def test_a_tampered_csv_names_its_line(original, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    lines = (copy / "metrics.csv").read_text().splitlines()
    # header: setting, seed, episode, then the metrics; line 3 is seed 0,
    # episode 2.
    column = lines[0].split(",").index("return")
    cells = lines[2].split(",")
    cells[column] = "12345"
    lines[2] = ",".join(cells)
    (copy / "metrics.csv").write_text("\n".join(lines) + "\n")
    diff = compare_csv(original / "metrics.csv", copy / "metrics.csv")
    assert diff is not None
    assert "line 3 (setting run, seed 0, episode 2)" in diff.detail
    assert "then, 12345 now" in diff.detail
    assert compare_csv(original / "metrics.csv", original / "metrics.csv") is None


def test_a_sweep_difference_names_the_setting_and_seed(tmp_path):
    rng = np.random.default_rng(0)
    values = rng.normal(size=(2, 3, 5)).astype(np.float32)  # [H, N, T]
    config = {"algorithm": "q_learning", "env": "GridWorld-v0"}
    labels = ["alpha=0.1", "alpha=0.5"]
    write_run(tmp_path / "a", config=config, metrics={"return": values},
              labels=labels, seeds=[10, 11, 12], plot=False)  # fmt: skip
    changed = values.copy()
    changed[1, 2, 3] = np.nan  # a NaN where there was a number
    changed[0, 1, 4] += 1.0  # later iteration: not the first difference
    write_run(tmp_path / "b", config=config, metrics={"return": changed},
              labels=labels, seeds=[10, 11, 12], plot=False)  # fmt: skip
    (diff,) = compare_metrics(load_run(tmp_path / "a"), load_run(tmp_path / "b"))
    assert diff.metric == "return" and diff.count == 2
    assert (diff.iteration, diff.setting, diff.seed) == (4, "alpha=0.5", 12)
    assert np.isnan(diff.new) and diff.original == float(values[1, 2, 3])
    assert diff.max_abs_diff == pytest.approx(1.0)
    # Same bits, NaNs included: nothing to report.
    write_run(tmp_path / "c", config=config, metrics={"return": changed},
              labels=labels, seeds=[10, 11, 12], plot=False)  # fmt: skip
    assert compare_metrics(load_run(tmp_path / "b"), load_run(tmp_path / "c")) == []


def test_not_a_run_folder_is_refused_in_one_line(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    # A folder of write_run alone (no recorded command) is no run of train.
    write_run(tmp_path / "bare", config={"algorithm": "x", "env": "y"},
              metrics={"return": np.zeros((2, 3))}, plot=False)  # fmt: skip
    for folder in (empty, tmp_path / "bare", tmp_path / "nowhere"):
        assert main(["reproduce", str(folder), "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("jaxrl: error: ") and err.count("\n") == 1, err
        assert "is not a run folder of `jaxrl train`" in err
        assert "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_provenance_differences_are_said_in_words():
    then = {
        "packages": {"jax": "0.10.2", "jaxlib": "0.10.2", "envpool": None},
        "git": {"commit": "a" * 40, "dirty": False},
        "devices": {"backend": "gpu", "count": 8, "kinds": {"NVIDIA H100": 8}},
        "process_count": 2,
    }
    assert differences(then, then) == []
    now = {
        "packages": {"jax": "0.10.3", "jaxlib": "0.10.2", "envpool": "1.2.5"},
        "git": {"commit": "b" * 40, "dirty": True},
        "devices": {"backend": "cpu", "count": 1, "kinds": {"cpu": 1}},
        "process_count": 1,
    }
    lines = differences(then, now)
    assert "jax 0.10.2 then, 0.10.3 now" in lines
    assert "envpool absent then, 1.2.5 now" in lines
    assert f"jaxrl commit {'a' * 12} then, {'b' * 12} now" in lines
    assert "the jaxrl source had uncommitted changes now" in lines
    assert "devices: backend gpu then, cpu now" in lines
    assert "2 process(es) then, 1 now" in lines
    assert differences(None, now) == [
        "the original run records no provenance (an older jaxrl)"
    ]
