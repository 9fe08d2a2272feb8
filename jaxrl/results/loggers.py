"""Optional scalar writers for ``jaxrl train --log tensorboard|wandb``.

They are fed between compiled chunks (``parallel.run(on_metrics=...)``), never
from inside ``jit``, from the arrays that ``metrics.csv`` is written from: for
each iteration and metric, the mean over seeds (NaNs, iterations without a
value, left out; an iteration where no seed has one is not logged), one
series per sweep setting (``return/alpha=0.1``; in TensorBoard, which allows
letters, digits and ``_ . / -`` in a tag, ``return/alpha_0.1``). The step is
the run's x axis, as in ``metrics.csv``: the env steps so far when the run
counts them (``env_steps``), else the iteration number (1-based).

The writers are extras that the core does not import:

- ``tensorboard`` (``pip install 'jaxrl[tensorboard]'``, tensorboardX):
  event files in ``OUT/tensorboard/`` (``tensorboard --logdir OUT``).
- ``wandb`` (``pip install 'jaxrl[wandb]'``): a Weights & Biases run named
  after the run folder, its files in ``OUT/wandb/``; ``jaxrl train --resume``
  continues the same W&B run (its id is kept in ``OUT/wandb/run_id``; the
  iterations after the last checkpoint are logged again, with the same
  values, and W&B keeps the first). It follows wandb's own environment
  variables: ``WANDB_MODE=offline`` writes locally only (``wandb sync``
  uploads later), ``WANDB_PROJECT`` names the project (default ``jaxrl``),
  ``WANDB_RUN_ID`` and ``WANDB_RESUME`` win over the kept id.

This module imports neither package until a writer is opened, and nothing
from JAX.
"""

import importlib
import importlib.util
import math
import os
import re
import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

__all__ = [
    "LOGGERS",
    "ChunkLogger",
    "LoggerError",
    "check_available",
    "chunk_scalars",
    "open_loggers",
    "parse_names",
]

# name: (module to import, extra that installs it, folder under the run folder)
LOGGERS = {
    "tensorboard": ("tensorboardX", "tensorboard", "tensorboard"),
    "wandb": ("wandb", "wandb", "wandb"),
}


class LoggerError(ValueError):
    """An unknown logger, or one whose package is not installed."""


def parse_names(items: Iterable[str]) -> list[str]:
    """``--log`` values (repeatable, or comma lists) as distinct names, in order.

    Raises:
        LoggerError: an empty or unknown name, with what is allowed.
    """
    names: list[str] = []
    for item in items:
        for name in (part.strip() for part in item.split(",")):
            if name not in LOGGERS:
                raise LoggerError(
                    f"--log {name!r}: unknown logger; allowed: {', '.join(LOGGERS)}"
                )
            if name not in names:
                names.append(name)
    return names


def _importable(module: str) -> bool:
    if module in sys.modules:  # imported already (or blocked: None)
        return sys.modules[module] is not None
    return importlib.util.find_spec(module) is not None


def check_available(names: Iterable[str]) -> None:
    """Raise :class:`LoggerError` naming the extra to install for a logger
    whose package cannot be imported (found without importing it)."""
    for name in names:
        module, extra, _ = LOGGERS[name]
        if not _importable(module):
            raise LoggerError(
                f"--log {name} needs the {module} package, which is not "
                f"installed: pip install 'jaxrl[{extra}]'"
            )


def chunk_scalars(
    start: int,
    metrics: Mapping[str, np.ndarray],
    labels: Sequence[str] | None = None,
) -> list[tuple[int, dict[str, float]]]:
    """The scalars of one chunk: ``[(step, {tag: seed mean}), ...]``.

    Args:
        start: iterations done before the chunk.
        metrics: ``{name: [N, n]}``, or ``[H, N, n]`` for a sweep: the
            chunk's ``n`` iterations of ``N`` seeds (and ``H`` settings).
        labels: the ``H`` sweep labels; ``None`` for a run of one setting.

    Returns:
        One entry per iteration that has a value: its step (``env_steps`` of
        the first seed where the run counts them, else the 1-based iteration)
        and ``{metric: mean over seeds}`` (``{metric/label: ...}`` for a
        sweep), NaNs left out.
    """
    if not metrics:
        return []
    n = next(iter(metrics.values())).shape[-1]
    if "env_steps" in metrics:
        steps = np.asarray(metrics["env_steps"]).reshape(-1, n)[0].astype(np.int64)
    else:
        steps = start + np.arange(1, n + 1)
    columns: dict[str, np.ndarray] = {}
    for name, values in metrics.items():
        arr = np.asarray(values, np.float64)
        arr = arr.reshape((len(labels) if labels else 1), -1, n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN iteration
            means = np.nanmean(arr, axis=1)  # [H, n]
        if labels:
            columns.update({f"{name}/{lab}": means[h] for h, lab in enumerate(labels)})
        else:
            columns[name] = means[0]
    out = []
    for t in range(n):
        scalars = {
            tag: float(col[t]) for tag, col in columns.items() if math.isfinite(col[t])
        }
        if scalars:
            out.append((int(steps[t]), scalars))
    return out


class _Writer(Protocol):
    def write(self, step: int, scalars: Mapping[str, float]) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


# What TensorBoard allows in a tag; tensorboardX replaces the rest with "_".
_TB_TAG = re.compile(r"[^A-Za-z0-9_./-]")


class _TensorBoard:
    """tensorboardX's ``SummaryWriter``: one scalar series per tag."""

    def __init__(self, log_dir: Path):
        from tensorboardX import SummaryWriter

        self.writer = SummaryWriter(logdir=str(log_dir))

    def write(self, step: int, scalars: Mapping[str, float]) -> None:
        for tag, value in scalars.items():
            self.writer.add_scalar(_TB_TAG.sub("_", tag), value, global_step=step)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()


def _wandb_run_id(folder: Path) -> str | None:
    """The W&B run id of this run folder, kept in ``OUT/wandb/run_id``: a
    resumed run (``jaxrl train --resume``) logs into the same W&B run.
    ``None`` (W&B picks one; warned) where the file cannot be read or
    written."""
    import secrets

    path = folder / "run_id"
    try:
        if path.is_file():
            run_id = path.read_text().strip()
            if re.fullmatch(r"[A-Za-z0-9_-]{1,64}", run_id):
                return run_id
            warnings.warn(
                f"{path} holds {run_id[:70]!r}, not a W&B run id: a new one "
                "replaces it",
                stacklevel=2,
            )
        run_id = secrets.token_hex(8)
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(run_id + "\n")
    except (OSError, UnicodeDecodeError) as e:
        warnings.warn(
            f"cannot keep the W&B run id in {path} ({e}): a resumed run will "
            "open a new W&B run",
            stacklevel=2,
        )
        return None
    return run_id


class _Wandb:
    """A W&B run; offline with ``WANDB_MODE=offline``."""

    def __init__(self, run_dir: Path, name: str, config: Mapping[str, Any]):
        wandb = importlib.import_module("wandb")
        # wandb writes under DIR/wandb/ itself (offline-run-*/, latest-run):
        # given the run folder, its files land in OUT/wandb/, not OUT/wandb/wandb/.
        # The folder must exist: wandb falls back to a temporary one otherwise.
        run_dir.mkdir(parents=True, exist_ok=True)
        resume: dict[str, Any] = {}  # WANDB_RUN_ID / WANDB_RESUME: wandb's own
        if "WANDB_RUN_ID" not in os.environ:
            resume["id"] = _wandb_run_id(run_dir / "wandb")
        if "WANDB_RESUME" not in os.environ:
            resume["resume"] = "allow"
        self.run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", "jaxrl"),
            name=name,
            dir=str(run_dir),
            config=dict(config),
            **resume,
        )

    def write(self, step: int, scalars: Mapping[str, float]) -> None:
        self.run.log(dict(scalars), step=step)

    def flush(self) -> None:
        pass  # wandb sends in the background

    def close(self) -> None:
        self.run.finish()


class ChunkLogger:
    """``on_metrics`` for :func:`jaxrl.parallel.run`: writes each chunk's
    scalars (:func:`chunk_scalars`) to every writer. Close it when done."""

    def __init__(self, writers: Sequence[_Writer], labels: Sequence[str] | None):
        self.writers = list(writers)
        self.labels = list(labels) if labels else None

    def __call__(self, start: int, metrics: Mapping[str, np.ndarray]) -> None:
        for step, scalars in chunk_scalars(start, metrics, self.labels):
            for writer in self.writers:
                writer.write(step, scalars)
        for writer in self.writers:  # visible while the run goes on
            writer.flush()

    def close(self) -> None:
        for writer in self.writers:
            writer.close()


def open_loggers(
    names: Sequence[str],
    out_dir: str | Path,
    *,
    config: Mapping[str, Any] | None = None,
    labels: Sequence[str] | None = None,
) -> ChunkLogger:
    """Open the writers ``names`` for the run folder ``out_dir``.

    Args:
        names: from :func:`parse_names`.
        out_dir: the run folder; each writer writes under
            ``out_dir/<its folder>`` (``tensorboard/``, ``wandb/``).
        config: JSON-able run settings, given to W&B as the run's config.
        labels: the sweep labels, ``None`` for a run of one setting.

    Raises:
        LoggerError: a writer's package is missing (the message names the
            extra).
    """
    check_available(names)
    out = Path(out_dir)
    writers: list[_Writer] = []
    for name in names:
        if name == "tensorboard":
            writers.append(_TensorBoard(out / LOGGERS[name][2]))
        else:  # wandb adds its folder, LOGGERS' "wandb", itself
            writers.append(_Wandb(out, out.name, config or {}))
    return ChunkLogger(writers, labels)
