"""Shared command-line handling and output for the experiment scripts."""

import argparse
import csv
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")


def parser(description: str, *, seeds: int, out: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--seeds", type=int, default=seeds, help=f"independent runs (default {seeds})"
    )
    p.add_argument("--out", default=out, help=f"output folder (default {out})")
    p.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    return p


def out_dir(path: str) -> Path:
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    return p


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def walk_19(description: str, out: str, max_steps: int):
    """The 19-state random walk experiments' shared start (figures 7.2 and
    12.x): parse ``--seeds`` (>= 2), ``--episodes`` (>= 1), ``--out``,
    ``--seed``; make the walk of example 7.1 (-1 left, +1 right).

    Returns:
        ``(args, out_dir, env, env_params, rms_v0)``: ``rms_v0`` is the RMS
        error over the 19 states of ``V_0 = 0``.
    """
    import numpy as np

    import envs

    p = parser(description, seeds=100, out=out)
    p.add_argument("--episodes", type=int, default=10, help="episodes (default 10)")
    args = p.parse_args()
    if args.seeds < 2:
        p.error("--seeds must be at least 2 (confidence intervals need two runs)")
    if args.episodes < 1:
        p.error("--episodes must be at least 1")
    env, env_params = envs.make(
        "RandomWalk-v0", n=19, left_reward=-1.0, max_steps_in_episode=max_steps
    )
    v_true = np.asarray(env.true_values(env_params))[1:20]
    return args, out_dir(args.out), env, env_params, float(np.sqrt(np.mean(v_true**2)))


def train_preset(
    preset_name: str,
    settings: dict | None = None,
    *,
    env: str | None = None,
    num_seeds: int,
    seed: int,
    desc: str,
    num_chunks: int = 10,
    progress: bool = True,
    with_state: bool = False,
):
    """Run a preset (``settings`` in place of its own when given; ``env`` in
    place of its environment) over seeds in one compiled call: ``(metrics
    {name: [seeds, iterations]}, wall s)``, and with ``with_state`` also the
    final state (leaves ``[seeds, ...]``) and the resolved run
    (:func:`jaxrl.config.resolve`'s dict)."""
    import time

    from jaxrl import parallel, presets
    from jaxrl.config import resolve

    preset = presets.get(preset_name)
    settings = dict(preset.settings) if settings is None else settings
    r = resolve(preset.algo, env or preset.env, settings, {})
    env_params = r["env_params"]
    if hasattr(env_params, "lanes"):  # EnvPool: the seeds share one pool
        env_params = env_params.replace(seed=int(seed), lanes=int(num_seeds))
    trainer = r["spec"].make_train(r["config"], r["env"], env_params)
    t0 = time.perf_counter()
    out = parallel.run(
        trainer,
        r["hparams"],
        seed=seed,
        num_seeds=num_seeds,
        num_chunks=num_chunks,
        progress=progress,
        desc=desc,
    )
    wall = time.perf_counter() - t0
    if with_state:
        return out.metrics, wall, out.state, r
    return out.metrics, wall


def eval_curves(
    preset_name: str,
    settings: dict | None = None,
    *,
    num_seeds: int,
    seed: int,
    desc: str,
    num_chunks: int = 10,
    progress: bool = True,
):
    """Run a preset (``settings`` in place of its own when given) over seeds
    in one compiled call: ``(env_steps [T], eval_return [seeds, T], budget,
    wall s)``: the curves at the evaluation iterations, and the env steps the
    run took."""
    import numpy as np

    m, wall = train_preset(
        preset_name,
        settings,
        num_seeds=num_seeds,
        seed=seed,
        desc=desc,
        num_chunks=num_chunks,
        progress=progress,
    )
    due = np.isfinite(m["eval_return"][0])  # evaluation iterations
    budget = int(m["env_steps"][0, -1])
    return m["env_steps"][0, due], m["eval_return"][:, due], budget, wall
