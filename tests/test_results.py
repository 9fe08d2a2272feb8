"""Tests for run folders (jaxrl.results.run) and plots (jaxrl.results.plots)."""

import csv
import dataclasses
import json
import math

import numpy as np
import pytest

from jaxrl import stats
from jaxrl.results import load_run, plots, summarize_metrics, to_jsonable, write_run
from jaxrl.results.run import curves_figure

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path) -> bool:
    data = path.read_bytes()
    return len(data) > 1000 and data.startswith(PNG_MAGIC)


def _read_csv(path):
    with path.open(newline="") as fh:
        return list(csv.reader(fh))


def test_write_load_round_trip_single_setting(tmp_path):
    rng = np.random.default_rng(0)
    n, t = 4, 20
    ret = rng.normal(size=(n, t)).astype(np.float32)
    length = rng.integers(1, 50, size=(n, t))
    config = {
        "algorithm": "q_learning",
        "env": "CliffWalking",
        "seeds": [0, 1, 2, 3],
        "hparams": {"alpha": np.float32(0.5), "gamma": 0.9},
    }
    out = tmp_path / "run"
    summary = write_run(out, config=config, metrics={"return": ret, "length": length})
    for name in (
        "config.json",
        "metrics.csv",
        "metrics.npz",
        "summary.json",
        "summary.csv",
    ):
        assert (out / name).is_file(), name
    assert _is_png(out / "curves.png")

    run = load_run(out)
    assert run.config == {
        "algorithm": "q_learning",
        "env": "CliffWalking",
        "seeds": [0, 1, 2, 3],
        "hparams": {"alpha": 0.5, "gamma": 0.9},
    }
    assert run.labels == ("run",) and run.x_name == "episode"
    np.testing.assert_array_equal(run.x, np.arange(1, t + 1))
    assert run.metrics["return"].dtype == np.float32
    np.testing.assert_array_equal(run.metrics["return"], ret)
    np.testing.assert_array_equal(run.metrics["length"], length)

    # Final window: 10% of 20 iterations = the last 2, averaged per seed.
    final = summary.get("return")["final"]
    per_seed = ret[:, -2:].astype(np.float64).mean(axis=1)
    assert final["n"] == n
    assert final["mean"] == pytest.approx(per_seed.mean())
    _, low, high = stats.mean_ci(per_seed)
    assert final["ci_low"] == pytest.approx(float(low))
    assert final["ci_high"] == pytest.approx(float(high))
    assert final["median"] == pytest.approx(np.median(per_seed))
    auc = summary.get("return")["auc"]
    assert auc["mean"] == pytest.approx(ret.astype(np.float64).mean())
    assert run.summary["settings"]["run"]["return"]["final"]["mean"] == (
        pytest.approx(final["mean"])
    )
    assert run.summary["final_window"]["iterations"] == 2

    rows = _read_csv(out / "metrics.csv")
    assert rows[0] == ["setting", "seed", "episode", "return", "length"]
    assert len(rows) == 1 + n * t
    assert rows[1][:3] == ["run", "0", "1"]
    assert np.float32(rows[1][3]) == ret[0, 0]
    assert "| run | return | 4 |" in str(summary)


def test_write_load_round_trip_sweep(tmp_path):
    rng = np.random.default_rng(1)
    h, n, t = 3, 5, 30
    ret = rng.normal(size=(h, n, t)) + np.arange(h)[:, None, None]
    labels = ["alpha=0.1", "alpha=0.3", "alpha=0.5"]
    x = np.arange(t) * 100
    out = tmp_path / "sweep"
    summary = write_run(
        out,
        config={"algorithm": "sarsa", "hparams": {"alpha": [0.1, 0.3, 0.5]}},
        metrics={"return": ret},
        x_name="step",
        x=x,
        labels=labels,
        seeds=[10, 11, 12, 13, 14],
    )
    assert _is_png(out / "curves.png")
    run = load_run(out)
    assert run.labels == tuple(labels)
    assert run.metrics["return"].shape == (h, n, t)
    np.testing.assert_array_equal(run.metrics["return"], ret)
    np.testing.assert_array_equal(run.x, x)
    assert run.meta["sweep"] and run.meta["shape"] == [h, n, t]

    # One summary entry per setting; final window = last 3 of 30.
    for i, label in enumerate(labels):
        final = summary.get("return", label)["final"]
        assert final["mean"] == pytest.approx(ret[i, :, -3:].mean())
    with pytest.raises(ValueError, match="settings"):
        summary.get("return")
    rows = _read_csv(out / "summary.csv")
    assert rows[0][:4] == ["setting", "metric", "n", "final_mean"]
    assert [r[0] for r in rows[1:]] == labels
    metric_rows = _read_csv(out / "metrics.csv")
    assert len(metric_rows) == 1 + h * n * t
    assert metric_rows[1][:3] == ["alpha=0.1", "10", "0"]
    assert json.loads((out / "summary.json").read_text())["x_name"] == "step"


def test_csv_stride_and_csv_fallback(tmp_path):
    rng = np.random.default_rng(2)
    h, n, t = 2, 3, 50
    ret = rng.normal(size=(h, n, t))
    out = tmp_path / "big"
    # 300 rows > 100: every k = ceil(300 / 100) = 3rd iteration, ending at the
    # last (index 49): 1, 4, ..., 49 -> 17 iterations.
    summary = write_run(
        out, config={}, metrics={"return": ret}, max_csv_rows=100, plot=False
    )
    assert summary.csv_stride == 3
    assert not (out / "curves.png").exists()
    meta = json.loads((out / "config.json").read_text())["_run"]
    assert meta["csv_stride"] == 3 and meta["csv_rows"] == h * n * 17
    # Without the .npz, load_run reads the CSV: the strided iterations.
    (out / "metrics.npz").unlink()
    run = load_run(out)
    idx = np.arange(t - 1, -1, -3)[::-1]
    np.testing.assert_array_equal(run.metrics["return"], ret[..., idx])
    np.testing.assert_array_equal(run.x, idx + 1)
    # The summary still covers all iterations.
    final = summary.get("return", "setting_1")["final"]
    assert final["mean"] == pytest.approx(ret[1, :, -5:].mean())


def test_thresholds_steps_to_solve(tmp_path):
    # Seed 0 reaches 1.0 at x = 3, seed 1 at x = 2, seed 2 never.
    curves = np.array(
        [[0.0, 0.5, 1.0, 1.0], [0.0, 2.0, 2.0, 2.0], [0.0, 0.0, 0.0, 0.0]]
    )
    s = summarize_metrics(
        {"return": curves, "length": -curves},
        thresholds={"return": 1.0, "length": ("<=", -1.0)},
    )
    solve = s["settings"]["run"]["return"]["solve"]
    assert solve["n"] == 2 and solve["n_unsolved"] == 1
    assert solve["per_seed"] == [3.0, 2.0, None]
    assert solve["median"] == pytest.approx(2.5) and solve["op"] == ">="
    assert s["settings"]["run"]["length"]["solve"]["median"] == pytest.approx(2.5)
    # A trailing window of 2 averages seed 0 to [0, 0.25, 0.75, 1]: x = 4;
    # seed 1 to [0, 1, 2, 2]: still x = 2. Median of (4, 2) is 3.
    s2 = summarize_metrics(
        {"return": curves}, thresholds={"return": 1.0}, threshold_window=2
    )
    assert s2["settings"]["run"]["return"]["solve"]["median"] == pytest.approx(3.0)
    summary = write_run(
        tmp_path / "solve",
        config={},
        metrics={"return": curves},
        thresholds={"return": 1.0},
        plot=False,
    )
    assert "never" not in summary.format_table()
    assert summary.rows[0]["solve_n_unsolved"] == 1
    with pytest.raises(ValueError, match="unknown metrics"):
        summarize_metrics({"return": curves}, thresholds={"loss": 1.0})


def test_a_metric_without_values_is_named_not_tabled():
    from jaxrl.results import format_summary_table

    curves = np.array([[1.0, 2.0], [3.0, 4.0]])
    s = summarize_metrics({"return": curves, "eval_return": curves * np.nan})
    table = format_summary_table(s)
    assert "| run | return | 2 |" in table
    assert "| run | eval_return" not in table
    assert table.endswith("|\n\nNo values, not shown: eval_return.")
    assert "no values" not in format_summary_table(summarize_metrics({"r": curves}))


def test_nan_metrics_survive_json(tmp_path):
    ret = np.array([[1.0, np.nan], [np.nan, np.nan]])
    summary = write_run(tmp_path / "nan", config={}, metrics={"r": ret}, plot=False)
    text = (tmp_path / "nan" / "summary.json").read_text()
    assert "NaN" not in text  # strict JSON: null
    run = load_run(tmp_path / "nan")
    # Seed 0's final value is its last one (1.0), seed 1 has none; one seed
    # gives no interval: NaN written as null, read back as NaN.
    final = run.summary["settings"]["run"]["r"]["final"]
    assert final["n"] == 1 and final["mean"] == 1.0 and math.isnan(final["ci_low"])
    assert math.isnan(summary.get("r")["final"]["ci_high"])
    assert math.isnan(run.metrics["r"][0, 1])


def test_write_run_rejects_bad_input(tmp_path):
    good = np.zeros((2, 5))
    with pytest.raises(ValueError, match="one shape"):
        write_run(tmp_path, config={}, metrics={"a": good, "b": np.zeros((2, 4))})
    with pytest.raises(ValueError, match="labels"):
        write_run(tmp_path, config={}, metrics={"a": good[None]}, labels=["x", "y"])
    with pytest.raises(ValueError, match="reserved"):
        write_run(tmp_path, config={"_run": 1}, metrics={"a": good})
    with pytest.raises(ValueError, match="metric name"):
        write_run(tmp_path, config={}, metrics={"a b": good})
    with pytest.raises(ValueError, match="clashes"):
        write_run(tmp_path, config={}, metrics={"seed": good})
    with pytest.raises(ValueError, match=r"\[N_seeds, T\]"):
        write_run(tmp_path, config={}, metrics={"a": np.zeros(5)})
    with pytest.raises(ValueError, match="x must"):
        write_run(tmp_path, config={}, metrics={"a": good}, x=[1, 2])
    with pytest.raises(FileNotFoundError):
        load_run(tmp_path / "missing")


def test_to_jsonable():
    @dataclasses.dataclass(frozen=True)
    class Config:
        num_envs: int = 4
        lr: float = 1e-3

    out = to_jsonable(
        {
            "cfg": Config(),
            "a": np.arange(3),
            "f": np.float32(0.5),
            "nan": float("nan"),
            "t": (1, 2),
            1: "int key",
        }
    )
    assert out == {
        "cfg": {"num_envs": 4, "lr": 1e-3},
        "a": [0, 1, 2],
        "f": 0.5,
        "nan": None,
        "t": [1, 2],
        "1": "int key",
    }
    json.dumps(out, allow_nan=False)


def test_grid_plots_write_png(tmp_path):
    # 4 x 12 cliff walking: start (3, 0), goal (3, 11), cliff between.
    height, width = 4, 12
    cliff = [(3, c) for c in range(1, 11)]
    values = -np.linspace(1.0, 13.0, height * width)
    policy = np.ones(height * width, dtype=int)  # all "right"
    fig, axes = plots.figure(2, 1, panel_size=(8.0, 3.2), layout="compressed")
    plots.grid_values(
        axes[0, 0],
        values,
        height,
        width,
        cliff=cliff,
        goals=[(3, 11)],
        start=(3, 0),
        policy=policy,
        title="values",
    )
    q_path = [36, 24, *range(25, 36), 47]
    sarsa_path = [36, 24, 12, 0, *range(1, 12), 23, 35, 47]
    plots.grid_paths(
        axes[1, 0],
        {"Q-learning": q_path, "SARSA": sarsa_path},
        height,
        width,
        cliff=cliff,
        goals=[47],
        start=36,
        title="paths",
    )
    path = plots.save(fig, tmp_path / "fig" / "cliff.png")
    assert _is_png(path)
    # Values of both signs, walls, a trap and an [S, 4] policy with ties.
    fig, axes = plots.figure(1, 1, layout="compressed")
    q = np.zeros((9, 4))
    q[4] = [1.0, 1.0, 0.0, 0.0]
    plots.grid_values(
        axes[0, 0],
        np.linspace(-1.0, 1.0, 9),
        3,
        3,
        walls=[1],
        traps=[(0, 2)],
        goals=[8],
        policy=q,
    )
    assert _is_png(plots.save(fig, tmp_path / "grid.png"))
    with pytest.raises(ValueError, match="policy"):
        plots.grid_values(axes[0, 0], np.zeros(9), 3, 3, policy=np.zeros(4))
    with pytest.raises(ValueError, match="states"):
        plots.grid_values(axes[0, 0], np.zeros(8), 3, 3)
    with pytest.raises(ValueError, match="outside"):
        plots.grid_values(axes[0, 0], np.zeros(9), 3, 3, walls=[(3, 0)])


def test_curve_plots_write_png(tmp_path):
    rng = np.random.default_rng(3)
    fig, axes = plots.panel_grid(4, ncols=2)
    plots.learning_curves(
        axes[0], None, rng.normal(size=(2, 5, 40)), ["a", "b"], xlabel="episode"
    )
    plots.learning_curves(axes[1], np.arange(40), rng.normal(size=(1, 40)), band="iqr")
    rewards = {"eps=0.1": rng.normal(size=(6, 50)), "greedy": rng.normal(size=50)}
    optimal = {"eps=0.1": rng.uniform(size=(6, 50)) < 0.5, "greedy": np.zeros(50)}
    plots.bandit_curves(axes[2:4], rewards, optimal, title="bandit")
    assert axes[3].get_ylim() == (0.0, 100.0)
    assert _is_png(plots.save(fig, tmp_path / "curves.png"))
    fig, axes = plots.figure()
    true = np.arange(1, 6) / 6
    plots.value_estimates(
        axes[0, 0],
        list("ABCDE"),
        {"0": np.full(5, 0.5), "100": true + rng.normal(0, 0.05, (8, 5))},
        true,
    )
    assert _is_png(plots.save(fig, tmp_path / "values.png"))
    with pytest.raises(ValueError, match="labels"):
        plots.learning_curves(axes[0, 0], None, np.zeros((2, 3, 4)), ["one"])


def test_final_value_of_a_sparse_metric_is_its_last_value(tmp_path):
    # Values at iterations 4 and 8 of 20; the final window (last 2) holds
    # none: each seed's final value is its last one, not NaN (n=0).
    ev = np.full((3, 20), np.nan)
    ev[:, [3, 7]] = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    ev[2, 7] = np.nan  # seed 2's last value is at iteration 4
    # An evaluation is final as the last one taken, even with several in the
    # window: iterations 18 and 19 evaluated, the 19th counts.
    late = np.full((3, 20), np.nan)
    late[:, 18], late[:, 19] = 100.0, [1.0, 2.0, 3.0]
    summary = write_run(
        tmp_path / "run",
        config={},
        metrics={"sparse": ev, "eval_return": late},
        plot=False,
    )
    final = summary.get("sparse")["final"]
    assert final["n"] == 3
    assert final["mean"] == pytest.approx(np.mean([2.0, 4.0, 5.0]))
    assert summary.get("eval_return")["final"]["mean"] == pytest.approx(2.0)


def _lines_data(ax):
    return [np.asarray(line.get_ydata(), float) for line in ax.get_lines()]


def test_sparse_series_are_drawn_through_their_values():
    # A return seen only at episode ends: 3 values among 200 NaNs per seed.
    # The mean line must hold exactly the finite points (not be blank), and
    # with 2 seeds each seed is drawn thinly, with no CI band.
    curves = np.full((2, 200), np.nan)
    curves[0, [10, 90, 150]] = [1.0, 2.0, 3.0]
    curves[1, [10, 90, 150]] = [3.0, 4.0, 5.0]
    fig, axes = plots.figure()
    ax = axes[0, 0]
    plots.learning_curves(ax, np.arange(200), curves, max_points=None)
    lines = _lines_data(ax)
    assert len(lines) == 3  # two seeds, then the mean
    np.testing.assert_array_equal(lines[-1], [2.0, 3.0, 4.0])
    np.testing.assert_array_equal(lines[0], [1.0, 2.0, 3.0])
    assert ax.get_lines()[-1].get_marker() == "o"  # few points: markers
    assert not ax.collections  # no band for 2 seeds


def test_binning_keeps_sparse_values_that_striding_dropped():
    # 10,000 iterations shown as 100 bins: every bin holding a value keeps
    # its mean; the old stride kept every 100th point and lost all of them.
    curves = np.full((1, 10_000), np.nan)
    curves[0, 5::100] = 7.0
    fig, axes = plots.figure()
    plots.learning_curves(axes[0, 0], None, curves, max_points=100)
    (mean,) = _lines_data(axes[0, 0])
    assert mean.size == 100 and np.all(mean == 7.0)


def test_many_seeds_get_a_band_and_first_episodes_do_not_flatten_the_axis():
    rng = np.random.default_rng(0)
    curves = rng.normal(-20.0, 1.0, size=(12, 500))
    curves[:, :10] = -1000.0  # the first episodes fall off the cliff
    fig, axes = plots.figure()
    ax = axes[0, 0]
    plots.learning_curves(ax, None, curves)
    assert len(ax.collections) == 1  # the CI band
    assert len(ax.get_lines()) == 1  # 12 > 10 seeds: no per-seed lines
    low, high = ax.get_ylim()
    assert -40 < low < -20 < high < 0  # the rest fills the panel
    assert "first 10% cut off" in ax.texts[0].get_text()
    # A learning ramp is the result, not an outlier: it stays in view.
    ramp = 1.5 * (1 - np.exp(-np.arange(1000) / 60.0)) + rng.normal(0, 0.02, (12, 1000))
    fig, axes = plots.figure()
    plots.learning_curves(axes[0, 0], None, ramp)
    assert axes[0, 0].get_ylim()[0] < 0.05
    assert "cut" not in axes[0, 0].texts[0].get_text()


def test_panels_put_the_headline_first_and_skip_counters(tmp_path):
    n, t = 2, 6
    metrics = {
        name: np.arange(n * t, dtype=float).reshape(n, t)
        for name in ("approx_kl", "env_steps", "eval_return", "loss", "return")
    }
    assert plots.panel_order(metrics) == ["return", "eval_return", "loss", "approx_kl"]
    fig = curves_figure(
        {k: v[None] for k, v in metrics.items()}, np.arange(t), "step", ["run"]
    )
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in shown] == [
        "return",
        "eval_return",
        "loss",
        "approx_kl",
    ]
    assert {ax.get_xlabel() for ax in shown} == {"env steps"}
