"""`jaxrl compare`: run folders in, tidy CSV, aggregates, figures, tables out.

The run folders are written directly (``write_run``), with returns made up
so that the expected aggregates can be worked out by hand.
"""

import csv

import numpy as np
import pytest

from jaxrl.cli import main
from jaxrl.results import write_run
from jaxrl.results.compare import CompareError, compare

T = 10


def run_folder(path, algorithm, env, finals, x=None, metric="return"):
    """A run whose seed ``i`` has ``metric`` ramping up to ``finals[i]``, held
    over the last 30% of its ``T`` iterations."""
    curves = np.array([np.minimum(np.linspace(0, f / 0.7, T), f) for f in finals])
    write_run(
        path,
        config={"algorithm": algorithm, "env": env, "sweep": False},
        metrics={metric: curves},
        x_name="env_steps",
        x=np.arange(1, T + 1) * 100 if x is None else x,
        plot=False,
    )
    return str(path)


@pytest.fixture
def runs(tmp_path):
    # On env A, ppo's seeds end at 8, 9, 10 and dqn's at 0, 1, 2; on env B
    # ppo 5, 5 and dqn 4, 6 (and a second dqn folder adds a seed at 5).
    return [
        run_folder(tmp_path / "a_ppo", "ppo", "A", [8, 9, 10]),
        run_folder(tmp_path / "a_dqn", "dqn", "A", [0, 1, 2]),
        run_folder(tmp_path / "b_ppo", "ppo", "B", [5, 5]),
        run_folder(tmp_path / "b_dqn", "dqn", "B", [4, 6]),
        run_folder(tmp_path / "b_dqn2", "dqn", "B", [5]),
    ]


def test_compare_by_hand(runs, tmp_path):
    out = tmp_path / "cmp"
    result = compare(runs, out, n_boot=200)
    # Final scores (last 10% = the last iteration) min-max normalised per env:
    # A over [0, 10]: ppo 0.8 0.9 1.0, dqn 0 0.1 0.2; B over [4, 6]:
    # ppo 0.5 0.5, dqn 0 1 0.5.
    agg = result["aggregates"]
    assert agg["ppo"]["mean"][0] == pytest.approx((0.9 + 0.5) / 2)
    assert agg["dqn"]["mean"][0] == pytest.approx((0.1 + 0.5) / 2)
    for name in ("ppo", "dqn"):
        point, low, high = agg[name]["iqm"]
        assert low <= point <= high
    # P(ppo > dqn): on A every pair, 1; on B pairs of 0.5 vs (0, 1, 0.5):
    # (1 + 0 + 0.5) / 3 = 0.5, so (1 + 0.5) / 2 = 0.75.
    assert result["improvement"][("ppo", "dqn")][0] == pytest.approx(0.75)
    assert result["improvement"][("dqn", "ppo")][0] == pytest.approx(0.25)
    for name in (
        "scores.csv",
        "final_scores.csv",
        "curves.png",
        "aggregates.png",
        "profiles.png",
        "improvement.png",
        "aggregates.md",
        "aggregates.tex",
    ):
        assert (out / name).stat().st_size > 0, name
    with open(out / "scores.csv") as f:
        rows = list(csv.DictReader(f))
    # 3 + 3 + 2 + 3 seeds x 10 iterations, long format
    assert len(rows) == 11 * T
    assert {r["name"] for r in rows} == {"ppo", "dqn"}
    md = (out / "aggregates.md").read_text()
    assert md.startswith("| name | iqm | mean | median | optimality gap |")
    assert "ppo" in md and "\\begin{tabular}" in (out / "aggregates.tex").read_text()


def test_compare_from_the_cli_and_its_errors(runs, tmp_path, capsys):
    out = tmp_path / "cli"
    argv = ["compare", *runs, "--out", str(out), "--n-boot", "50"]
    assert main(argv) == 0
    assert "| ppo |" in capsys.readouterr().out
    # names: NAME=DIR keeps two runs of one algorithm apart
    other = run_folder(tmp_path / "a_ppo2", "ppo", "A", [1, 1])
    b_other = run_folder(tmp_path / "b_ppo2", "ppo", "B", [1, 1])
    argv = ["compare", runs[0], runs[2], f"slow={other}", f"slow={b_other}"]
    assert main(argv + ["--out", str(tmp_path / "named"), "--n-boot", "50"]) == 0
    assert "| slow |" in capsys.readouterr().out
    # a name without runs on every env
    assert main(["compare", runs[0], runs[1], runs[2], "--out", str(out)]) == 2
    assert "missing: dqn on B" in capsys.readouterr().err
    # one seed: no interval
    one = run_folder(tmp_path / "one", "ppo", "A", [1])
    assert main(["compare", one, runs[1], "--out", str(out)]) == 2
    assert "at least 2 seeds" in capsys.readouterr().err
    # a metric the folders do not have
    assert main(["compare", *runs, "--out", str(out), "--metric", "loss"]) == 2
    assert "has no metric 'loss'; it has: return" in capsys.readouterr().err
    # not a run folder
    assert main(["compare", str(tmp_path), "--out", str(out)]) == 2
    assert "not a run folder" in capsys.readouterr().err
    # two folders of one name and env logged on different x grids
    odd = run_folder(tmp_path / "odd", "ppo", "A", [3], x=np.arange(T) * 7)
    with pytest.raises(CompareError, match="different env_steps values"):
        compare([runs[0], odd], tmp_path / "x")
    # two algorithms under one name
    with pytest.raises(CompareError, match="name them apart"):
        compare([f"x={runs[0]}", f"x={runs[1]}"], tmp_path / "y")
