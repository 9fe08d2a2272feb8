"""The ``jaxrl`` command.

``jaxrl train [ALGO] [--env NAME] [--seeds N] [--out DIR] [--set key=value ...]
[--sweep key=v1,v2 ...]`` trains ``ALGO`` on ``NAME`` for ``N`` seeds in one
compiled call and writes a run folder; ``jaxrl list`` shows the algorithms,
the environments and each one's settings. Plain ``jaxrl train`` runs
Q-learning on the chapter's gridworld over 1,000 seeds.

The run executes in compiled chunks (``--chunks``) and saves a checkpoint in
``DIR/checkpoints/`` after each one (``--no-checkpoint`` turns this off); its
settings are written to ``DIR/run_args.json`` before training starts, so
``jaxrl train --resume DIR`` continues a killed run and ends with the run
folder, bit for bit, that an uninterrupted run writes.
"""

import argparse
import dataclasses
import itertools
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

DEFAULT_ALGO = "q_learning"
DEFAULT_SEEDS = 1000
RUN_ARGS = "run_args.json"
CHECKPOINTS = "checkpoints"
# The arguments that define a run: stored in RUN_ARGS, reused by --resume.
_RUN_KEYS = ("algo", "env", "seeds", "seed", "set", "sweep", "chunks")
_FLAGS = {"algo": "ALGO", **{k: f"--{k}" for k in _RUN_KEYS if k != "algo"}}


class UsageError(ValueError):
    """Bad command-line input; printed without a traceback."""


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        return text


def _parse_assignments(items: list[str], flag: str) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"{flag} takes key=value, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def _fields(obj_or_cls: Any) -> dict[str, Any]:
    return {
        f.name: (
            getattr(obj_or_cls, f.name)
            if not isinstance(obj_or_cls, type)
            else f.default
        )
        for f in dataclasses.fields(obj_or_cls)
    }


def resolve(
    algo: str,
    env_name: str | None,
    settings: dict[str, str],
    sweeps: dict[str, str],
) -> dict[str, Any]:
    """Resolve names and ``key=value`` settings into config, hparams and env.

    A key names a field of the algorithm's ``Config`` or ``HParams``, or of the
    environment's params (``env.`` prefix optional when unambiguous).

    Raises:
        UsageError: unknown names or keys, with what is allowed.
    """
    import envs
    from jaxrl import registry

    try:
        spec = registry.get(algo)
    except ValueError as e:
        raise UsageError(str(e)) from None
    env_name = env_name or spec.default_env
    try:
        env_kind = envs.kind(env_name)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if env_kind != spec.env_kind and not (
        spec.env_kind in ("discrete", "continuous")
        and env_kind in ("gymnax", "envpool")
    ):
        raise UsageError(
            f"{algo} needs a {spec.env_kind} environment; {env_name} is {env_kind}. "
            f"Try --env {spec.default_env}"
        )
    _, default_env_params = envs.make(env_name)
    config_keys = _fields(spec.config_cls)
    hparam_keys = _fields(spec.hparams_cls)
    env_keys = envs.param_fields(default_env_params)
    config_over, hparam_over, env_over = {}, {}, {}
    for key, text in settings.items():
        value = _parse_value(text)
        if key.startswith("env."):
            target, name = env_over, key[4:]
            if name not in env_keys:
                raise UsageError(
                    f"{env_name} has no parameter {name!r}; allowed: "
                    f"{', '.join(env_keys)}"
                )
        elif key in config_keys:
            target, name = config_over, key
        elif key in hparam_keys:
            target, name = hparam_over, key
        elif key in env_keys:
            target, name = env_over, key
        else:
            raise UsageError(
                f"unknown setting {key!r} for {algo} on {env_name}; allowed: "
                f"config: {', '.join(config_keys)}; hparams: "
                f"{', '.join(hparam_keys)}; env: {', '.join(env_keys)}"
            )
        target[name] = value
    sweep_values = {}
    for key, text in sweeps.items():
        if key not in hparam_keys:
            raise UsageError(
                f"--sweep takes hyperparameters ({', '.join(hparam_keys)}); "
                f"{key!r} is not one (config and env settings set shapes and "
                "cannot be swept in one compiled call)"
            )
        values = [_parse_value(v) for v in text.split(",") if v.strip()]
        if not values:
            raise UsageError(f"--sweep {key}= needs at least one value")
        sweep_values[key] = values
    try:
        env, env_params = envs.make(env_name, **env_over)
        config = spec.config_cls(**config_over)
        hparams = spec.hparams_cls(**{k: float(v) for k, v in hparam_over.items()})
        if hasattr(hparams, "validate"):
            hparams.validate()
    except (ValueError, TypeError) as e:
        raise UsageError(str(e)) from None
    return {
        "spec": spec,
        "env_name": env_name,
        "env": env,
        "env_params": env_params,
        "config": config,
        "hparams": hparams,
        "sweep": sweep_values,
    }


def _jsonable(x: Any) -> Any:
    import numpy as np

    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {f.name: _jsonable(getattr(x, f.name)) for f in dataclasses.fields(x)}
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if hasattr(x, "shape"):
        arr = np.asarray(x)
        return arr.item() if arr.ndim == 0 else arr.tolist()
    return x


def _train_defaults() -> dict[str, Any]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {k: sub.choices["train"].get_default(k) for k in _RUN_KEYS}


def _resume_args(args: argparse.Namespace) -> argparse.Namespace:
    """``args`` with the run-defining settings read from ``--resume DIR``."""
    folder = Path(args.resume)
    path = folder / RUN_ARGS
    if not path.is_file():
        raise UsageError(
            f"--resume {folder}: no {RUN_ARGS} there, so it is not a run folder "
            "written by `jaxrl train`"
        )
    try:
        stored = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise UsageError(f"--resume {folder}: cannot read {path}: {e}") from None
    missing = [k for k in _RUN_KEYS if k not in stored]
    if missing:
        raise UsageError(f"--resume {folder}: {path} lacks {', '.join(missing)}")
    if getattr(args, "no_checkpoint", False):
        raise UsageError("--resume continues from checkpoints; drop --no-checkpoint")
    if args.out is not None and Path(args.out) != folder:
        raise UsageError(f"--resume {folder} writes into {folder}; drop --out")
    defaults = _train_defaults()
    for key in _RUN_KEYS:
        given = getattr(args, key)
        if given != defaults[key] and given != stored[key]:
            raise UsageError(
                f"--resume {folder} takes the run's settings from {path}; "
                f"{_FLAGS[key]} {given!r} differs from the run's {stored[key]!r}: "
                "drop it"
            )
    return argparse.Namespace(
        **{**vars(args), **{k: stored[k] for k in _RUN_KEYS}, "out": str(folder)}
    )


def _write_run_args(out: Path, args: argparse.Namespace, env_name: str) -> None:
    """Store the run-defining arguments in ``out/run_args.json`` (atomically)."""
    import shlex

    record = {k: getattr(args, k) for k in _RUN_KEYS}
    record["env"] = env_name
    argv = [record["algo"], "--env", env_name, "--seeds", str(record["seeds"])]
    argv += ["--seed", str(record["seed"]), "--chunks", str(record["chunks"])]
    for item in record["set"]:
        argv += ["--set", item]
    for item in record["sweep"]:
        argv += ["--sweep", item]
    record["command"] = shlex.join(["jaxrl", "train", *argv, "--out", str(out)])
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{RUN_ARGS}.tmp"
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(out / RUN_ARGS)


def _check_envpool_run(args: argparse.Namespace, r: dict[str, Any]) -> None:
    """An EnvPool run's seeds share one pool (``lanes = --seeds``, see
    :mod:`envs.envpool_env`), seeded with ``--seed``; one sweep setting per
    run."""
    name = r["env_name"]
    if r["sweep"] and math.prod(len(v) for v in r["sweep"].values()) > 1:
        raise UsageError(
            f"--sweep: an EnvPool environment ({name}) runs one setting per "
            "process (the seeds of a run share its pool); pass one value per key"
        )
    assigned = _parse_assignments(args.set, "--set")
    for key in ("seed", "env.seed", "lanes", "env.lanes"):
        if key in assigned:
            raise UsageError(
                f"{name}: --set {key}= is set by the run itself (the pool is "
                "seeded with --seed and holds --seeds lanes)"
            )
    r["env_params"] = r["env_params"].replace(
        seed=int(args.seed), lanes=int(args.seeds)
    )


def _expand_preset(args: argparse.Namespace) -> argparse.Namespace:
    """``--preset NAME`` as the algorithm, the default ``--env`` and ``--set``
    values ahead of the user's own (which win)."""
    from jaxrl import presets

    name = getattr(args, "preset", None)
    if not name:
        return args
    try:
        preset = presets.get(name)
    except ValueError as e:
        raise UsageError(str(e)) from None
    algo = args.algo
    if algo == DEFAULT_ALGO and preset.algo != DEFAULT_ALGO:
        algo = preset.algo  # ALGO left out: the preset's
    if algo != preset.algo:
        raise UsageError(
            f"--preset {name} is for {preset.algo}, not {algo}: use "
            f"`jaxrl train {preset.algo} --preset {name}`"
        )
    return argparse.Namespace(
        **{
            **vars(args),
            "algo": algo,
            "env": args.env or preset.env,
            "set": preset.as_set_args() + list(args.set),
            "preset": None,
        }
    )


def train(args: argparse.Namespace) -> Path:
    import jax

    from jaxrl import parallel
    from jaxrl.checkpoint import FingerprintMismatchError, latest_step
    from jaxrl.results import write_run

    resuming = getattr(args, "resume", None) is not None
    if resuming:
        if getattr(args, "preset", None):
            raise UsageError("--resume takes the run's settings; drop --preset")
        args = _resume_args(args)
    args = _expand_preset(args)
    r = resolve(
        args.algo,
        args.env,
        _parse_assignments(args.set, "--set"),
        _parse_assignments(args.sweep, "--sweep"),
    )
    spec, config, hparams = r["spec"], r["config"], r["hparams"]
    if args.seeds < 1:
        raise UsageError(f"--seeds {args.seeds} must be >= 1")
    if r["env_name"].startswith("envpool:"):
        _check_envpool_run(args, r)
    labels = None
    run_hparams = hparams
    if r["sweep"]:
        keys = list(r["sweep"])
        grid = list(itertools.product(*(r["sweep"][k] for k in keys)))
        settings = []
        for combo in grid:
            hp = hparams.replace(
                **{k: float(v) for k, v in zip(keys, combo, strict=True)}
            )
            try:
                hp.validate() if hasattr(hp, "validate") else None
            except ValueError as e:
                raise UsageError(str(e)) from None
            settings.append(hp)
        labels = [
            ", ".join(f"{k}={v}" for k, v in zip(keys, c, strict=True)) for c in grid
        ]
        run_hparams = parallel.stack(settings)
    out = Path(
        args.out
        or Path("runs")
        / f"{spec.name}-{r['env_name']}-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    checkpoints = None if getattr(args, "no_checkpoint", False) else out / CHECKPOINTS
    done = latest_step(checkpoints) if checkpoints is not None else None
    if done is not None and not resuming:
        raise UsageError(
            f"{out} already holds checkpoints of a run; continue it with "
            f"`jaxrl train --resume {out}`, or choose another --out (or delete "
            f"{checkpoints} to start over)"
        )
    try:
        trainer = spec.make_train(config, r["env"], r["env_params"])
    except ValueError as e:  # e.g. an action space the agent cannot use
        raise UsageError(str(e)) from None
    print(
        f"{spec.name} on {r['env_name']}: {args.seeds} seeds"
        + (f" x {len(labels)} settings" if labels else "")
        + f", {trainer.num_iterations} iterations, on {jax.default_backend()}",
        file=sys.stderr,
    )
    if resuming:
        print(
            f"resuming {out} after {done} of {trainer.num_iterations} iterations"
            if done is not None
            else f"no checkpoint in {checkpoints} yet: starting from the beginning",
            file=sys.stderr,
        )
    else:
        _write_run_args(out, args, r["env_name"])
    fingerprint = {
        "algorithm": spec.name,
        "env": r["env_name"],
        "config": _jsonable(config),
        "hparams": _jsonable(hparams),
        "sweep": r["sweep"],
        "env_params": _jsonable(r["env_params"]),
    }
    t0 = time.perf_counter()
    try:
        output = parallel.run(
            trainer,
            run_hparams,
            seed=args.seed,
            num_seeds=args.seeds,
            sweep=bool(labels),
            num_chunks=args.chunks,
            progress=not args.quiet,
            desc=spec.name,
            checkpoint_dir=checkpoints,
            fingerprint=fingerprint,
        )
    except FingerprintMismatchError as e:
        raise UsageError(str(e)) from None
    except KeyboardInterrupt:
        if checkpoints is not None and latest_step(checkpoints) is not None:
            print(
                f"\ninterrupted; continue with `jaxrl train --resume {out}`",
                file=sys.stderr,
            )
        raise
    seconds = time.perf_counter() - t0
    resolved = {
        "algorithm": spec.name,
        "env": r["env_name"],
        "seeds": args.seeds,
        "seed": args.seed,
        "config": _jsonable(config),
        "hparams": _jsonable(hparams),
        "sweep": r["sweep"],
        "env_params": _jsonable(r["env_params"]),
        "backend": jax.default_backend(),
        "wall_seconds": round(seconds, 3),
    }
    x_name, x = _x_axis(spec, config, output.metrics)
    summary = write_run(
        out, config=resolved, metrics=output.metrics, x_name=x_name, x=x, labels=labels
    )
    _plot_state(out, r, output.state, sweep=bool(labels))
    print(summary.format_table(), file=sys.stderr)
    print(str(out))
    return out


def _x_axis(spec: Any, config: Any, metrics: dict) -> tuple[str, Any]:
    """What one iteration is: an env step for bandits, an episode for tabular
    runs counted in episodes, and for deep agents the env steps so far."""
    import numpy as np

    if "env_steps" in metrics:
        steps = np.asarray(metrics["env_steps"])
        return "step", steps.reshape(-1, steps.shape[-1])[0]
    if spec.env_kind == "bandit":
        return "step", None
    if spec.env_kind == "tabular" and not getattr(config, "num_steps", 0):
        return "episode", None
    return "iteration", None


def _plot_state(out: Path, r: dict, state: Any, *, sweep: bool) -> None:
    """For grid envs, draw the seed-mean greedy values and policy arrows."""
    import numpy as np

    q = getattr(state, "q", None)
    params = r["env_params"]
    if q is None or not hasattr(params, "height"):
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jaxrl.results import plots

    q = np.asarray(q)
    if sweep:
        q = q[0]
    q_mean = q.mean(axis=0)  # [S, A] over seeds
    fig, ax = plt.subplots(figsize=(1 + 0.6 * params.width, 1 + 0.6 * params.height))
    plots.grid_values(
        ax,
        q_mean.max(axis=1),
        params.height,
        params.width,
        walls=params.walls,
        goals=(params.goal,),
        traps=params.traps,
        cliff=params.cliff,
        start=params.start,
        policy=q_mean.argmax(axis=1),
        title=f"{r['spec'].name}: max_a Q (mean over seeds), greedy arrows",
    )
    fig.tight_layout()
    fig.savefig(out / "values.png", dpi=120)
    plt.close(fig)


def list_all(args: argparse.Namespace) -> None:
    import envs
    from jaxrl import presets, registry

    print("Algorithms (jaxrl train ALGO):")
    for name in registry.names():
        spec = registry.get(name)
        print(
            f"  {name:<24} {spec.description}  [env: {spec.env_kind}, "
            f"default {spec.default_env}]"
        )
        if args.verbose:
            print(f"      config:  {_fmt_fields(_fields(spec.config_cls))}")
            print(f"      hparams: {_fmt_fields(_fields(spec.hparams_cls))}")
    known = envs.names()
    print("\nEnvironments (--env NAME):")
    for name in known["jaxrl"]:
        env, params = envs.make(name)
        print(f"  {name:<24} {envs._OURS[name].description}")
        if args.verbose:
            print(f"      params:  {_fmt_fields(envs.param_fields(params))}")
    print(f"  gymnax: {', '.join(known['gymnax'])}")
    print("\nPresets (jaxrl train ALGO --preset NAME):")
    for name in presets.names():
        preset = presets.get(name)
        print(f"  {name:<24} {preset.description}  [{preset.algo} on {preset.env}]")
        if args.verbose:
            print(f"      set:     {' '.join(preset.as_set_args())}")
    if not args.verbose:
        print("\n`jaxrl list -v` shows every setting and its default.")


def _fmt_fields(fields: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in fields.items())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaxrl", description="Functional reinforcement learning in JAX."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train an algorithm over many seeds")
    t.add_argument(
        "algo",
        nargs="?",
        default=DEFAULT_ALGO,
        help=f"algorithm name (default {DEFAULT_ALGO}; see `jaxrl list`)",
    )
    t.add_argument("--env", default=None, help="environment (default: the algorithm's)")
    t.add_argument(
        "--preset",
        default=None,
        metavar="NAME",
        help="named settings (`jaxrl list` shows them); --set values override",
    )
    t.add_argument(
        "--seeds",
        type=int,
        default=DEFAULT_SEEDS,
        help=f"number of seeds (default {DEFAULT_SEEDS})",
    )
    t.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    t.add_argument(
        "--out", default=None, help="run folder (default runs/ALGO-ENV-TIME)"
    )
    t.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config, hyperparameter or env setting (repeatable)",
    )
    t.add_argument(
        "--sweep",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="sweep a hyperparameter in the same compiled call",
    )
    t.add_argument(
        "--chunks",
        type=int,
        default=10,
        help="compiled chunks (progress is shown between them)",
    )
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument(
        "--resume",
        default=None,
        metavar="DIR",
        help=f"continue the run in DIR from its latest checkpoint, with the "
        f"settings stored in DIR/{RUN_ARGS}",
    )
    t.add_argument(
        "--no-checkpoint",
        action="store_true",
        help=f"save no checkpoints in OUT/{CHECKPOINTS}/ between chunks "
        "(the run cannot be resumed)",
    )
    t.set_defaults(func=train)
    ls = sub.add_parser("list", help="list algorithms and environments")
    ls.add_argument("-v", "--verbose", action="store_true")
    ls.set_defaults(func=list_all)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except UsageError as e:
        print(f"jaxrl: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
