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
folder, bit for bit, that an uninterrupted run writes. A checkpoint that
cannot be read is moved to ``DIR/checkpoints-unreadable/`` and the run
resumes from the one before it.

``--coordinator HOST:PORT --num-processes N --process-id I`` (or ``srun`` /
``mpirun`` with several tasks) runs one run over several processes
(:mod:`jaxrl.distributed`): the seeds span every device of every process and
process 0 alone prints and writes the run folder (``--out``, shared).

Nothing is overwritten by accident: an ``--out`` that exists and is not empty
is refused unless ``--overwrite`` is given, and that replaces only a run
folder of ``jaxrl train``. After every chunk the losses and the state are
checked: a NaN or infinite parameter, or a loss at or past
``--divergence-threshold`` in magnitude, stops the run with a message naming
the metric and the iteration, and the folder keeps the metrics up to there.

``config.json`` records the run's provenance (command, package versions, git
commit, devices, processes: :mod:`jaxrl.results.provenance`); ``jaxrl
reproduce RUN_DIR --out NEW`` trains again from ``RUN_DIR/run_args.json`` and
compares the metrics bit for bit (:mod:`jaxrl.results.reproduce`). ``--log
tensorboard|wandb`` also writes each chunk's seed-mean metrics there
(:mod:`jaxrl.results.loggers`).

The command line is checked before JAX is imported, so a mistyped flag,
setting or name is answered at once. Exit status: 0 done, 2 usage error
(a folder that cannot be written before training starts included), 3 the
run stopped (it diverged, or its results could not be written), 130
interrupted; ``jaxrl reproduce`` exits 1 when the metrics differ.
"""

import argparse
import json
import math
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

DEFAULT_ALGO = "q_learning"
# --seeds when not given: the tabular chapter's 1,000 (seconds of CPU);
# 8 for a deep agent, whose seeds cost minutes each (1,000 PPO seeds are an
# hour of CPU, 1,000 Dreamer seeds days).
DEFAULT_SEEDS = 1000
DEFAULT_DEEP_SEEDS = 8
DIVERGENCE_THRESHOLD = 1e10
RUN_ARGS = "run_args.json"
CHECKPOINTS = "checkpoints"
# The arguments that define a run: stored in RUN_ARGS, reused by --resume.
_RUN_KEYS = (
    "algo",
    "env",
    "seeds",
    "seed",
    "set",
    "sweep",
    "chunks",
    "divergence_threshold",
    "solved_at",
)
# Keys a run folder of an older jaxrl may lack, with the value it ran with.
_OPTIONAL_RUN_KEYS = {"divergence_threshold": DIVERGENCE_THRESHOLD, "solved_at": None}
_FLAGS = {
    "algo": "ALGO",
    **{k: "--" + k.replace("_", "-") for k in _RUN_KEYS if k != "algo"},
}


class UsageError(ValueError):
    """Bad command-line input; printed without a traceback."""


_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def _parse_assignments(items: list[str], flag: str) -> dict[str, str]:
    """``["key=value", ...]`` as a dict; a malformed or repeated key is a
    usage error."""
    out: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key:
            raise UsageError(f"{flag} takes key=value, got {item!r}")
        if key in out:
            raise UsageError(
                f"{flag} {key} is given twice ({out[key]!r} and {value!r}); give "
                "it once"
            )
        out[key] = value
    return out


def _parse_sweeps(items: list[str]) -> dict[str, list[str]]:
    """``["key=v1,v2", ...]`` as ``{key: [v1, v2]}``; an empty value (``0.1,,0.5``
    or a trailing comma) is a usage error."""
    out = {}
    for key, text in _parse_assignments(items, "--sweep").items():
        values = [v.strip() for v in text.split(",")]
        if not text or any(not v for v in values):
            raise UsageError(
                f"--sweep {key}={text}: an empty value; give values separated by "
                "single commas, e.g. --sweep alpha=0.1,0.5"
            )
        out[key] = values
    return out


def resolve(
    algo: str,
    env_name: str | None,
    settings: dict[str, str],
    sweeps: dict[str, list[str]],
) -> dict[str, Any]:
    """:func:`jaxrl.config.resolve`, its errors as usage errors."""
    from jaxrl import config

    try:
        return config.resolve(algo, env_name, settings, sweeps)
    except config.ConfigError as e:
        raise UsageError(str(e)) from None


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
    stored = {**_OPTIONAL_RUN_KEYS, **stored}
    missing = [k for k in _RUN_KEYS if k not in stored]
    if missing:
        raise UsageError(f"--resume {folder}: {path} lacks {', '.join(missing)}")
    if getattr(args, "preset", None):
        raise UsageError("--resume takes the run's settings; drop --preset")
    if getattr(args, "no_checkpoint", False):
        raise UsageError("--resume continues from checkpoints; drop --no-checkpoint")
    if getattr(args, "overwrite", False):
        raise UsageError("--resume continues the run in its folder; drop --overwrite")
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
    if record["divergence_threshold"] != DIVERGENCE_THRESHOLD:
        argv += ["--divergence-threshold", str(record["divergence_threshold"])]
    if record["solved_at"] is not None:
        argv += ["--solved-at", str(record["solved_at"])]
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
    for key in ("seed", "env.seed", "lanes", "env.lanes"):
        if key in args.settings:
            raise UsageError(
                f"{name}: --set {key}= is set by the run itself (the pool is "
                "seeded with --seed and holds --seeds lanes)"
            )
    r["env_params"] = r["env_params"].replace(
        seed=int(args.seed), lanes=int(args.seeds)
    )


def _task(env: str) -> str:
    """``envpool:Pendulum-v1`` and ``Pendulum-v1`` are one task."""
    return env.removeprefix("envpool:")


def _expand_preset(args: argparse.Namespace) -> argparse.Namespace:
    """``--preset NAME`` as the algorithm, the default ``--env`` and settings
    under the user's own ``--set`` values (which win)."""
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
    merged = {**preset.settings, **_parse_assignments(args.set, "--set")}
    env = args.env or preset.env
    solved_at = getattr(args, "solved_at", None)
    if solved_at is None and _task(env) == _task(preset.env):
        solved_at = preset.solved_at  # the preset's threshold, on its task only
    return argparse.Namespace(
        **{
            **vars(args),
            "algo": algo,
            "env": env,
            "set": [f"{k}={v}" for k, v in merged.items()],
            "preset": None,
            "solved_at": solved_at,
        }
    )


def _check_command_line(args: argparse.Namespace) -> argparse.Namespace:
    """Everything about the command line that needs no JAX: counts, the
    ``--set``/``--sweep`` syntax, names of algorithm and preset, ``--resume``
    and ``--out``. Returns ``args`` with the preset expanded and ``settings``
    and ``sweeps`` parsed."""
    from jaxrl import registry

    if getattr(args, "resume", None) is not None:
        args = _resume_args(args)
    for flag, value in (("--seeds", args.seeds), ("--chunks", args.chunks)):
        if value is not None and value < 1:
            raise UsageError(f"{flag} {value} must be >= 1")
    if args.divergence_threshold <= 0 or math.isnan(args.divergence_threshold):
        raise UsageError(
            f"--divergence-threshold {args.divergence_threshold} must be > 0 "
            "(inf checks for NaN and inf only)"
        )
    from jaxrl import distributed

    try:
        processes = distributed.check(
            getattr(args, "coordinator", None),
            getattr(args, "num_processes", None),
            getattr(args, "process_id", None),
        )
    except ValueError as e:
        raise UsageError(str(e)) from None
    if processes is not None and args.out is None:
        raise UsageError(
            "a multi-process run needs --out DIR, one folder that every process "
            "sees (a shared file system across hosts)"
        )
    args = argparse.Namespace(**{**vars(args), "processes": processes})
    _parse_assignments(args.set, "--set")  # syntax first, then the preset
    args = _expand_preset(args)
    try:
        registry.check_name(args.algo)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.seeds is None:
        seeds = DEFAULT_DEEP_SEEDS if registry.is_deep(args.algo) else DEFAULT_SEEDS
        args = argparse.Namespace(**{**vars(args), "seeds": seeds})
    solved_at = args.solved_at
    if solved_at is not None and not math.isfinite(solved_at):
        raise UsageError(f"--solved-at {solved_at} must be a finite number")
    if solved_at is not None and registry.is_bandit(args.algo):
        raise UsageError(
            f"--solved-at: {args.algo} reports reward, optimal and regret per "
            "step, no episode return to reach a threshold with; drop it"
        )
    settings = _parse_assignments(args.set, "--set")
    sweeps = _parse_sweeps(args.sweep)
    args = argparse.Namespace(**{**vars(args), "settings": settings, "sweeps": sweeps})
    if args.out is not None:
        _check_out(Path(args.out), args)
    log_names = []
    if getattr(args, "log", None):  # last: importing the loggers imports SciPy
        from jaxrl.results import loggers

        try:  # names, and their packages (found, not imported)
            log_names = loggers.parse_names(args.log)
            loggers.check_available(log_names)
        except loggers.LoggerError as e:
            raise UsageError(str(e)) from None
    return argparse.Namespace(**{**vars(args), "log": log_names})


# What a run folder of `jaxrl train` holds: --overwrite deletes a folder only
# when everything in it is one of these.
_RUN_FILES = re.compile(
    r"^(run_args\.json|\.run_args\.json\.tmp|config\.json|metrics\.(csv|npz)"
    r"|summary\.(json|csv)|curves\.png|values\.png|checkpoints(-unreadable)?"
    r"|tensorboard|wandb)$"
)


def _check_out(out: Path, args: argparse.Namespace) -> None:
    """Refuse an ``--out`` that cannot be written, or that holds something
    other than this run's own resumable folder (unless ``--overwrite``, which
    replaces a run folder of ``jaxrl train`` and nothing else)."""
    from jaxrl.checkpoint import latest_step

    resuming = getattr(args, "resume", None) is not None
    try:
        existing = out
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise UsageError(f"--out {out}: {existing} is a file, not a folder")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise UsageError(f"--out {out}: {existing} is not writable")
        if resuming or existing != out:
            return
        content = sorted(p.name for p in out.iterdir())
    except OSError as e:
        raise UsageError(f"--out {out}: {e}") from None
    if not content:
        return
    shown = ", ".join(content[:5]) + (", ..." if len(content) > 5 else "")
    if args.overwrite:
        others = [name for name in content if not _RUN_FILES.match(name)]
        cwd = Path.cwd().resolve()
        if RUN_ARGS not in content or others or out.resolve() in (cwd, *cwd.parents):
            held = ", ".join(others[:5]) or shown
            raise UsageError(
                f"--overwrite replaces a run folder of `jaxrl train` (one with "
                f"{RUN_ARGS} and nothing else) only; {out} holds other files "
                f"({held}): choose another --out"
            )
        return
    if latest_step(out / CHECKPOINTS) is not None:
        raise UsageError(
            f"{out} already holds checkpoints of a run; continue it with "
            f"`jaxrl train --resume {out}`, replace it with --overwrite, or "
            "choose another --out"
        )
    raise UsageError(
        f"--out {out} exists and is not empty ({shown}); choose another --out, "
        "or pass --overwrite to replace it"
    )


def _default_out(algo: str, env_name: str) -> Path:
    """``runs/ALGO-ENV-TIME`` (no colons; ``-2``, ``-3``, ... if taken)."""
    stem = _SAFE_NAME.sub("-", f"{algo}-{env_name}-{time.strftime('%Y%m%d-%H%M%S')}")
    out, i = Path("runs") / stem, 1
    while out.exists():
        i += 1
        out = Path("runs") / f"{stem}-{i}"
    return out


def train(args: argparse.Namespace) -> Path:
    args = _check_command_line(args)  # no JAX yet: usage errors come fast
    resuming = getattr(args, "resume", None) is not None

    import jax

    from jaxrl import config as jaxrl_config
    from jaxrl import distributed, parallel
    from jaxrl.checkpoint import (
        CheckpointError,
        FingerprintMismatchError,
        latest_step,
    )
    from jaxrl.results import provenance, to_jsonable

    try:  # before JAX touches a device; a no-op for one process
        distributed.initialize(getattr(args, "processes", None))
    except RuntimeError as e:
        raise UsageError(str(e)) from None
    primary = jax.process_index() == 0  # writes the run folder and prints
    r = resolve(args.algo, args.env, args.settings, args.sweeps)
    spec, config, hparams = r["spec"], r["config"], r["hparams"]
    if r["env_name"].startswith("envpool:"):
        _check_envpool_run(args, r)
    labels = None
    run_hparams = hparams
    if r["sweep"]:
        try:
            settings, labels = jaxrl_config.expand_sweep(
                hparams, r["sweep"], r["config"]
            )
        except jaxrl_config.ConfigError as e:
            raise UsageError(str(e)) from None
        run_hparams = parallel.stack(settings)
    out = Path(args.out) if args.out else _default_out(spec.name, r["env_name"])
    try:
        trainer = spec.make_train(config, r["env"], r["env_params"])
    except ValueError as e:  # e.g. an action space the agent cannot use
        raise UsageError(str(e)) from None
    devices = parallel.run_devices(trainer)
    try:  # refused before anything is written
        parallel.seed_mesh(args.seeds, devices)
    except parallel.DeviceCountError as e:
        raise UsageError(str(e)) from None
    checkpoints = None if args.no_checkpoint else out / CHECKPOINTS
    if jax.process_count() > 1:
        # Every process has checked --out (_check_command_line) before
        # process 0 writes it; a command started once per process has
        # waited in distributed.initialize already, a second `main` in the
        # same processes has not.
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("jaxrl: --out checked")
    try:
        if primary and args.overwrite and out.exists():
            shutil.rmtree(out)
        if primary and not resuming:
            _write_run_args(out, args, r["env_name"])
    except OSError as e:
        raise UsageError(f"cannot write the run folder {out}: {e}") from None
    if jax.process_count() > 1:  # the others start once the folder is ready
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("jaxrl: run folder ready")
    if primary:
        print(
            f"{spec.name} on {r['env_name']}: {args.seeds} seeds"
            + (f" x {len(labels)} settings" if labels else "")
            + f", {trainer.num_iterations} iterations, on {jax.default_backend()}"
            + _processes_text(jax),
            file=sys.stderr,
        )
    if primary and len(devices) < jax.device_count():
        print(
            f"EnvPool: one pool per process, stepped from one device of each "
            f"({len(devices)} of {jax.device_count()} devices; "
            f"{args.seeds // len(devices)} seeds per pool)",
            file=sys.stderr,
        )
    skip = getattr(r["env_params"], "frame_skip", None)
    if primary and skip and hasattr(config, "total_timesteps"):
        steps = int(config.total_timesteps)
        print(
            f"Atari ({r['env_params'].preset} preset): {steps:,} env steps = "
            f"{skip * steps:,} frames per seed (frame skip {skip}); 'return' is "
            "the game score: unclipped rewards over all lives, per finished game",
            file=sys.stderr,
        )
    if primary and resuming and latest_step(checkpoints) is None:
        print(
            f"no checkpoint in {checkpoints} yet: starting from the beginning",
            file=sys.stderr,
        )
    fingerprint = {
        "algorithm": spec.name,
        "env": r["env_name"],
        "config": to_jsonable(config),
        "hparams": to_jsonable(hparams),
        "sweep": r["sweep"],
        "env_params": to_jsonable(r["env_params"]),
    }
    resolved = {
        "algorithm": spec.name,
        "env": r["env_name"],
        "seeds": args.seeds,
        "seed": args.seed,
        "config": config,
        "hparams": hparams,
        "sweep": r["sweep"],
        "env_params": r["env_params"],
        "backend": jax.default_backend(),
        "provenance": provenance.collect(getattr(args, "argv", None)),
    }
    if getattr(args, "solved_at", None) is not None:
        resolved["solved_at"] = args.solved_at
    chunk_log = _open_loggers(args.log, out, resolved, labels) if primary else None
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
            divergence_threshold=args.divergence_threshold,
            log=lambda message: print(message, file=sys.stderr),
            on_metrics=chunk_log,
        )
    except (FingerprintMismatchError, CheckpointError, parallel.DeviceCountError) as e:
        raise UsageError(str(e)) from None
    except parallel.DivergenceError as e:
        resolved["stopped"] = {
            "reason": str(e),
            "first_iteration": e.first_iteration,
            "after_iteration": e.iteration,
        }
        if primary:
            _write_results(out, resolved, spec, config, e.metrics, labels, None, r)
        raise RunError(
            f"{e}\nThe run stopped; {out} holds its metrics up to there."
        ) from None
    except KeyboardInterrupt:
        saved = checkpoints is not None and latest_step(checkpoints) is not None
        if primary and saved:
            print(
                f"\ninterrupted; continue with `jaxrl train --resume {out}`",
                file=sys.stderr,
            )
        raise
    finally:
        if chunk_log is not None:
            chunk_log.close()
    resolved["wall_seconds"] = round(time.perf_counter() - t0, 3)
    state = output.state
    if jax.process_count() > 1 and hasattr(state, "q"):  # values.png reads q
        state = state.replace(q=parallel.to_host(state.q))
    if not primary:
        return out
    summary = _write_results(
        out, resolved, spec, config, output.metrics, labels, state, r
    )
    print(summary.format_table(), file=sys.stderr)
    print(str(out))
    return out


def _processes_text(jax: Any) -> str:
    """`` (2 processes x 2 devices)`` in a multi-process run, else ``""``."""
    if jax.process_count() == 1:
        return ""
    return f" ({jax.process_count()} processes x {jax.local_device_count()} devices)"


def _open_loggers(
    names: list[str], out: Path, resolved: dict[str, Any], labels: list[str] | None
) -> Any:
    """The ``--log`` writers (:mod:`jaxrl.results.loggers`) as an
    ``on_metrics`` callback, or ``None`` without ``--log``."""
    if not names:
        return None
    from jaxrl.results import loggers, to_jsonable

    try:
        return loggers.open_loggers(
            names, out, config=to_jsonable(resolved), labels=labels
        )
    except loggers.LoggerError as e:
        raise UsageError(str(e)) from None
    except Exception as e:  # a writer that cannot start (W&B login, ...)
        raise UsageError(
            f"--log {','.join(names)}: cannot start the logger: {e}"
        ) from None


class RunError(RuntimeError):
    """A run that could not finish (it diverged); exit status 3."""


def _write_results(
    out: Path,
    resolved: dict[str, Any],
    spec: Any,
    config: Any,
    metrics: dict,
    labels: list[str] | None,
    state: Any,
    r: dict[str, Any],
) -> Any:
    from jaxrl.results import write_run

    x_name, x = _x_axis(spec, config, metrics)
    thresholds = None
    if resolved.get("solved_at") is not None:
        thresholds = {_solve_metric(metrics): resolved["solved_at"]}
    try:
        summary = write_run(
            out,
            config=resolved,
            metrics=metrics,
            x_name=x_name,
            x=x,
            labels=labels,
            thresholds=thresholds,
        )
        if state is not None:
            _plot_state(out, r, state, sweep=bool(labels))
    except OSError as e:
        raise RunError(f"cannot write the run folder {out}: {e}") from None
    return summary


def _solve_metric(metrics: dict) -> str:
    """What --solved-at is checked on: the greedy evaluation where the run
    has one (not all NaN), else the training return."""
    import numpy as np

    ev = metrics.get("eval_return")
    if ev is not None and not np.all(np.isnan(np.asarray(ev, dtype=np.float64))):
        return "eval_return"
    return "return"


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


def compare_runs(args: argparse.Namespace) -> None:
    """``jaxrl compare``: see :mod:`jaxrl.results.compare`."""
    from jaxrl.results.compare import CompareError, compare

    if args.n_boot < 1:
        raise UsageError(f"--n-boot {args.n_boot} must be >= 1")
    try:
        result = compare(
            args.runs,
            args.out,
            metric=args.metric,
            final_fraction=args.final_fraction,
            normalize=args.normalize,
            n_boot=args.n_boot,
            seed=args.seed,
        )
    except CompareError as e:
        raise UsageError(str(e)) from None
    print(Path(args.out, "aggregates.md").read_text(), end="")
    for path in result["files"]:
        print(f"wrote {path}", file=sys.stderr)


def _recorded_train_args(
    folder: Path, args: argparse.Namespace
) -> tuple[argparse.Namespace, str]:
    """The ``jaxrl train`` arguments recorded in ``folder/run_args.json``,
    writing into ``args.out`` in one process, and the recorded command."""
    import shlex

    path = folder / RUN_ARGS
    if not (folder / "config.json").is_file() or not path.is_file():
        raise UsageError(
            f"{folder} is not a run folder of `jaxrl train` (it needs config.json "
            f"and {RUN_ARGS})"
        )
    try:
        command = json.loads(path.read_text())["command"]
        tokens = shlex.split(command)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UsageError(f"{folder}: cannot read the recorded command: {e}") from None
    if tokens[:2] != ["jaxrl", "train"]:
        raise UsageError(f"{path}: the recorded command is not `jaxrl train`")
    try:
        recorded = build_parser().parse_args(tokens[1:])
    except SystemExit:
        raise UsageError(f"{path}: the recorded command does not parse") from None
    # One process, even under srun/mpirun (detection off): the folder is
    # written and compared by this process alone.
    multi = {"coordinator": None, "num_processes": 1, "process_id": None}
    namespace = argparse.Namespace(
        **{
            **vars(recorded),
            **multi,
            "out": args.out,
            "overwrite": args.overwrite,
            "quiet": args.quiet,
            "resume": None,
            "argv": getattr(args, "argv", None),
        }
    )
    return namespace, command


def reproduce_run(args: argparse.Namespace) -> int:
    """``jaxrl reproduce RUN_DIR --out NEW``: train again from ``RUN_DIR``'s
    recorded command into ``NEW`` (refused as ``jaxrl train`` refuses an
    ``--out``), then compare the metrics bit for bit
    (:mod:`jaxrl.results.reproduce`) and warn where versions, commit or
    devices differ from the recording. Returns 0 when they match, 1 when not.
    """
    import contextlib

    from jaxrl.results import load_run, provenance
    from jaxrl.results import reproduce as rep

    original, new = Path(args.run_dir), Path(args.out)
    train_args, command = _recorded_train_args(original, args)
    import zipfile

    try:
        before = load_run(original)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise UsageError(f"{original}: cannot read its metrics: {e}") from None
    if new.resolve() == original.resolve():
        raise UsageError(f"--out {new} is the run to reproduce; choose another")
    if not args.overwrite and new.is_dir() and any(new.iterdir()):
        raise UsageError(
            f"--out {new} exists and is not empty: reproduce trains into a new "
            "folder; choose another --out (or --overwrite to replace a run folder)"
        )
    print(f"re-running {command} into {new}", file=sys.stderr)
    try:  # train's own output to stderr: stdout carries the verdict alone
        with contextlib.redirect_stdout(sys.stderr):
            train(train_args)
    except RunError:
        if "stopped" not in before.config:
            raise
        print("the run stopped, as the original did", file=sys.stderr)
    after = load_run(new)
    for line in provenance.differences(
        before.config.get("provenance"), after.config.get("provenance")
    ):
        print(f"jaxrl reproduce: warning: {line}", file=sys.stderr)
    found = rep.compare_metrics(before, after)
    csv_diff = rep.compare_csv(original / "metrics.csv", new / "metrics.csv")
    if csv_diff is not None:
        found.append(csv_diff)
    if not found:
        shape = "x".join(str(n) for n in next(iter(before.metrics.values())).shape)
        print(
            f"match: {new} reproduces {original} bit for bit ({len(before.metrics)} "
            f"metrics of shape [{shape}], and metrics.csv)"
        )
        return 0
    print(
        f"mismatch: {new} differs from {original} in {len(found)} place(s):\n"
        + rep.format_differences(found)
    )
    return 1


def list_all(args: argparse.Namespace) -> None:
    import envs
    from jaxrl import presets, registry
    from jaxrl.config import fields as _fields
    from jaxrl.config import settable

    print("Algorithms (jaxrl train ALGO):")
    for name in registry.names():
        spec = registry.get(name)
        print(
            f"  {name:<24} {spec.description}  [env: {spec.env_kind}, "
            f"default {spec.default_env}]"
        )
        if args.verbose:
            print(f"      config:  {_fmt_fields(settable(spec.config_cls))}")
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
        default=None,
        help=f"number of seeds (default {DEFAULT_DEEP_SEEDS} for a deep agent, "
        f"{DEFAULT_SEEDS} for the tabular and bandit algorithms)",
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
        "--overwrite",
        action="store_true",
        help="replace the run folder --out if it holds an earlier run",
    )
    t.add_argument(
        "--divergence-threshold",
        type=float,
        default=DIVERGENCE_THRESHOLD,
        metavar="X",
        help="stop the run (exit status 3) at the end of a chunk in which a "
        "loss reached |X| or became inf, or after which a parameter (any float "
        f"of the state) is NaN or inf (default {DIVERGENCE_THRESHOLD:g}; inf: "
        "non-finite values only)",
    )
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
    t.add_argument(
        "--solved-at",
        type=float,
        default=None,
        metavar="X",
        help="also report, per seed, the step (episode) at which the greedy "
        "evaluation (eval_return; the return where there is none) first "
        "reaches X, in the summary (default: the preset's threshold on its "
        "task, e.g. 475 for dreamer-cartpole; --resume keeps it)",
    )
    t.add_argument(
        "--log",
        action="append",
        default=[],
        metavar="WRITER",
        help="also log the seed-mean of every metric between chunks to "
        "tensorboard (OUT/tensorboard/) or wandb (OUT/wandb/; WANDB_MODE=offline "
        "works offline): repeatable or a comma list; extras "
        "'jaxrl[tensorboard]', 'jaxrl[wandb]'",
    )
    hosts = t.add_argument_group(
        "many processes (jax.distributed; see the README's 'Many hosts')"
    )
    hosts.add_argument(
        "--coordinator",
        default=None,
        metavar="HOST:PORT",
        help="address of process 0, the same on every process",
    )
    hosts.add_argument(
        "--num-processes",
        type=int,
        default=None,
        metavar="N",
        help="processes taking part (default: one, or srun's / mpirun's tasks)",
    )
    hosts.add_argument(
        "--process-id",
        type=int,
        default=None,
        metavar="I",
        help="this process's id, 0..N-1; process 0 writes the run folder",
    )
    t.set_defaults(func=train)
    c = sub.add_parser(
        "compare",
        help="compare run folders: curves, aggregates with intervals, "
        "performance profiles, probability of improvement",
    )
    c.add_argument(
        "runs",
        nargs="+",
        metavar="RUN_DIR",
        help="run folders (NAME=DIR names one; by default its algorithm)",
    )
    c.add_argument("--out", required=True, help="folder for the tables and figures")
    c.add_argument("--metric", default="return", help="metric to compare (return)")
    c.add_argument(
        "--final-fraction",
        type=float,
        default=0.1,
        help="a seed's score is its mean over this last fraction of iterations",
    )
    c.add_argument(
        "--normalize",
        choices=("minmax", "human", "none"),
        default="minmax",
        help="per-env score normalisation before aggregating (default minmax; "
        "human: Atari's random=0, human=1 reference scores)",
    )
    c.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples")
    c.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    c.set_defaults(func=compare_runs)
    rp = sub.add_parser(
        "reproduce",
        help="train again from a run folder's recorded command and check that "
        "the metrics match bit for bit",
    )
    rp.add_argument("run_dir", metavar="RUN_DIR", help="a run folder of jaxrl train")
    rp.add_argument("--out", required=True, help="folder for the new run")
    rp.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --out if it holds an earlier run (as jaxrl train does)",
    )
    rp.add_argument("--quiet", action="store_true", help="no progress bar")
    rp.set_defaults(func=reproduce_run)
    ls = sub.add_parser("list", help="list algorithms and environments")
    ls.add_argument("-v", "--verbose", action="store_true")
    ls.set_defaults(func=list_all)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command; exit status 0 on success, 2 for a usage error, 3 for
    a run that stopped (it diverged, or its results could not be written) and
    130 when interrupted; ``jaxrl reproduce`` exits 1 when the metrics differ."""
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for provenance
    try:
        status = args.func(args)
    except UsageError as e:
        print(f"jaxrl: error: {e}", file=sys.stderr)
        return 2
    except RunError as e:
        print(f"jaxrl: error: {e}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("jaxrl: interrupted", file=sys.stderr)
        return 130
    return status if isinstance(status, int) else 0


if __name__ == "__main__":
    raise SystemExit(main())
