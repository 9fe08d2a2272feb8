"""Checkpoints of a batched training run, through orbax-checkpoint.

A checkpoint holds what a run needs to continue exactly where it stopped:

- ``state``: the whole batched training state (network parameters, optimiser
  state, env states, typed PRNG key arrays, hyperparameters, ...), restored
  onto the structure of a freshly initialised state so dtypes, shapes and
  shardings match the run that reads it;
- ``history``: the metrics gathered so far, ``{name: [..., T_done]}`` NumPy
  arrays;
- ``meta``: the number of iterations done and a *fingerprint* of the run (a
  JSON dict: algorithm, config, hyperparameters, seeds, ...) so that a
  checkpoint is never resumed into a different run.

Checkpoint ``step`` is the number of iterations done. Saving goes through
orbax's ``CheckpointManager``: it writes into a temporary folder and renames
it when complete, so a process killed mid-save leaves the previous checkpoint
as the latest; it keeps the last ``max_to_keep`` checkpoints and cleans the
temporary folders of killed saves on the next start. Saves are asynchronous:
:meth:`Checkpointer.save` returns once the arrays are copied off the device,
and the files are written while the next chunk runs (the state may then be
donated to the next compiled call).

In a multi-process run every process calls the same methods on one shared
folder (a network file system across hosts): each writes the shards of the
state on its own devices, and orbax synchronises the processes and has
process 0 write the metrics and ``meta``.

Typed PRNG key arrays (``jax.random.key``) are saved with their
implementation by orbax-checkpoint's own key support (0.12) and restored bit
for bit; the tests check it.

Example::

    with Checkpointer(run_dir / "checkpoints") as ckpt:
        ckpt.save(done, state, metrics, fingerprint)
        ...
        saved = ckpt.restore(template_state)  # Checkpoint(step, state, ...)
"""

import json
import logging
import math
import os
import sys
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "Checkpointer",
    "FingerprintMismatchError",
    "check_fingerprint",
    "latest_step",
    "normalize_fingerprint",
    "restore",
    "save",
]

FORMAT_VERSION = 1
_STATE, _HISTORY, _META = "state", "history", "meta"


class FingerprintMismatchError(ValueError):
    """A checkpoint belongs to a different run than the one resuming it."""


class CheckpointError(RuntimeError):
    """No checkpoint in a folder that holds some can be read."""


class Checkpoint(NamedTuple):
    """One checkpoint read back.

    Attributes:
        step: iterations done when it was saved.
        state: the training state, on the template's structure and shardings.
        metrics: ``{name: np.ndarray [..., step]}``, the metrics so far.
        fingerprint: the run's fingerprint as saved (normalised JSON).
    """

    step: int
    state: Any
    metrics: dict[str, np.ndarray]
    fingerprint: dict[str, Any]


def normalize_fingerprint(value: Any) -> Any:
    """A fingerprint as plain, comparable JSON.

    Dataclasses, NamedTuples and mappings become objects (string keys);
    lists, tuples, sets and arrays become lists (a 0-d array its item);
    non-finite floats become the strings ``"inf"``, ``"-inf"`` and ``"nan"``
    so that they compare equal to themselves; other objects become
    ``str(value)``. The result round-trips through JSON unchanged.
    """
    return json.loads(json.dumps(_plain(value), sort_keys=True))


def _plain(x: Any) -> Any:
    import dataclasses

    if x is None or isinstance(x, bool | int | str):
        return x
    if isinstance(x, float):
        if math.isfinite(x):
            return x
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {f.name: _plain(getattr(x, f.name)) for f in dataclasses.fields(x)}
    if isinstance(x, tuple) and hasattr(x, "_asdict"):
        return {k: _plain(v) for k, v in x._asdict().items()}
    if isinstance(x, Mapping):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, set | frozenset):
        return [_plain(v) for v in sorted(x, key=str)]
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    if isinstance(x, np.generic) or hasattr(x, "__array__"):
        arr = np.asarray(x)
        return _plain(arr.item() if arr.ndim == 0 else arr.tolist())
    return str(x)


def check_fingerprint(
    saved: Mapping[str, Any], current: Mapping[str, Any], where: str | Path = ""
) -> None:
    """Raise :class:`FingerprintMismatchError` (a ``ValueError``) naming every
    field where two fingerprints differ.

    Args:
        saved: the fingerprint stored in a checkpoint.
        current: the fingerprint of the run that wants to resume it.
        where: the checkpoint folder, for the message.
    """
    a, b = normalize_fingerprint(saved), normalize_fingerprint(current)
    diffs: list[str] = []
    _diff(a, b, "", diffs)
    if diffs:
        shown = "; ".join(diffs[:8])
        more = f"; and {len(diffs) - 8} more" if len(diffs) > 8 else ""
        place = f" in {where}" if where else ""
        raise FingerprintMismatchError(
            f"the checkpoint{place} is from a different run, so it cannot be "
            f"resumed: {shown}{more}. Use another folder, or delete that one to "
            "start over"
        )


def _diff(a: Any, b: Any, path: str, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            sub = f"{path}.{key}" if path else key
            if key not in b:
                out.append(f"{sub}: checkpoint has {_short(a[key])}, this run none")
            elif key not in a:
                out.append(f"{sub}: checkpoint has none, this run {_short(b[key])}")
            else:
                _diff(a[key], b[key], sub, out)
    elif a != b:
        out.append(
            f"{path or 'fingerprint'}: checkpoint {_short(a)}, this run {_short(b)}"
        )


def _short(x: Any, limit: int = 60) -> str:
    text = json.dumps(x)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_step_dir(path: Path) -> bool:
    return path.is_dir() and path.name.isdigit()


def latest_step(directory: str | Path) -> int | None:
    """The step of the newest complete checkpoint in ``directory``, or None.

    Reads the folder names only (orbax renames a checkpoint's temporary
    folder to its step number when the save completes), so it is cheap and
    safe to call while another process is saving.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return None
    steps = [int(p.name) for p in directory.iterdir() if _is_step_dir(p)]
    return max(steps, default=None)


class Checkpointer:
    """Save and restore a run's checkpoints in one folder.

    Args:
        directory: the checkpoint folder (created on the first save).
        max_to_keep: how many of the newest checkpoints to keep.
        async_save: write files in a background thread while training goes
            on; :meth:`wait` (or leaving the ``with`` block) waits for them.

    Use as a context manager, or call :meth:`close` when done.
    """

    def __init__(
        self, directory: str | Path, *, max_to_keep: int = 2, async_save: bool = True
    ):
        import orbax.checkpoint as ocp

        if max_to_keep < 1:
            raise ValueError(f"max_to_keep={max_to_keep} must be >= 1")
        self.directory = Path(directory).absolute()
        self._ocp = ocp
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(
                max_to_keep=max_to_keep,
                create=True,
                cleanup_tmp_directories=True,
                enable_async_checkpointing=async_save,
            ),
        )

    def __enter__(self) -> "Checkpointer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Wait for pending saves and release the manager."""
        self._manager.wait_until_finished()
        self._manager.close()

    def wait(self) -> None:
        """Block until every pending save is on disk."""
        self._manager.wait_until_finished()

    def latest_step(self) -> int | None:
        """The newest complete checkpoint's step, or None if there is none."""
        self._manager.reload()
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        """The steps of the checkpoints kept, oldest first."""
        self._manager.reload()
        return sorted(self._manager.all_steps())

    def save(
        self,
        step: int,
        state: Any,
        metrics: Mapping[str, Any],
        fingerprint: Mapping[str, Any] | None = None,
    ) -> None:
        """Save ``state`` and ``metrics`` after ``step`` iterations.

        Args:
            step: iterations done; names the checkpoint.
            state: the batched training state (any pytree of arrays,
                typed PRNG keys included).
            metrics: ``{name: array}``, the metrics gathered so far.
            fingerprint: what identifies the run (JSON-able; see
                :func:`normalize_fingerprint`).
        """
        ocp = self._ocp
        history = {k: np.asarray(v) for k, v in metrics.items()}
        meta = {
            "format_version": FORMAT_VERSION,
            "step": int(step),
            "metric_names": list(history),
            "fingerprint": normalize_fingerprint(dict(fingerprint or {})),
        }
        items = {
            _STATE: ocp.args.StandardSave(state),
            _META: ocp.args.JsonSave(meta),
        }
        if history:  # orbax refuses an empty item
            items[_HISTORY] = ocp.args.StandardSave(history)
        self._manager.save(int(step), args=ocp.args.Composite(**items), force=True)

    def read_meta(self, step: int | None = None) -> dict[str, Any]:
        """The ``meta`` record of a checkpoint (the latest by default):
        ``{"step", "metric_names", "fingerprint", "format_version"}``."""
        step = self._resolve_step(step)
        ocp = self._ocp
        out = self._manager.restore(
            step, args=ocp.args.Composite(**{_META: ocp.args.JsonRestore()})
        )
        return out[_META]

    def restore(
        self,
        template: Any,
        *,
        step: int | None = None,
        fingerprint: Mapping[str, Any] | None = None,
    ) -> Checkpoint:
        """Read a checkpoint (the latest by default) onto ``template``.

        Args:
            template: a state with the structure, dtypes, shapes and
                shardings to restore onto; a freshly initialised state (or its
                ``jax.eval_shape`` with shardings) of the same run.
            step: which checkpoint; the latest if None.
            fingerprint: if given, the run's fingerprint; a checkpoint saved
                with a different one is refused before its arrays are read.

        Raises:
            FileNotFoundError: no checkpoint in the folder.
            FingerprintMismatchError: the fingerprint differs (a
                ``ValueError``; the message says what differs).
        """
        step = self._resolve_step(step)
        meta = self.read_meta(step)
        if fingerprint is not None:
            where = f"{self.directory} (after {step} iterations)"
            check_fingerprint(meta["fingerprint"], fingerprint, where)
        ocp = self._ocp
        items = {_STATE: ocp.args.StandardRestore(template)}
        if meta["metric_names"]:
            items[_HISTORY] = ocp.args.StandardRestore()
        out = self._manager.restore(step, args=ocp.args.Composite(**items))
        history = out[_HISTORY] if meta["metric_names"] else {}
        metrics = {k: np.asarray(history[k]) for k in meta["metric_names"]}
        return Checkpoint(int(meta["step"]), out[_STATE], metrics, meta["fingerprint"])

    def restore_intact(
        self,
        template: Any,
        *,
        fingerprint: Mapping[str, Any] | None = None,
        log: Callable[[str], None] | None = None,
    ) -> Checkpoint:
        """The newest checkpoint that reads back, onto ``template``.

        Checkpoints are tried newest first. When one reads back, the newer
        ones that could not be read (a truncated or missing file, a damaged
        ``meta``) are moved out of the way, into the folder
        ``<directory>-unreadable/<step>`` (kept, not deleted; the run then
        saves those steps afresh), and ``log`` is told. When none reads back,
        nothing is moved. A fingerprint mismatch is not damage: it is raised
        at once.

        Raises:
            FileNotFoundError: no checkpoint in the folder.
            FingerprintMismatchError: the newest readable checkpoint is of
                another run.
            CheckpointError: none can be read; the message lists why.
        """
        steps = self.all_steps()
        if not steps:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        _quiet_closed_loop_callbacks()
        failures: list[tuple[int, str]] = []
        for step in reversed(steps):
            try:
                saved = self.restore(template, step=step, fingerprint=fingerprint)
            except FingerprintMismatchError:
                raise
            except Exception as e:  # noqa: BLE001 - any damage: try the next
                _quiet_failed_reads()
                text = str(e).strip().splitlines()[0] if str(e).strip() else ""
                if len(text) > 160:
                    text = text[:157] + "..."
                failures.append((step, f"{type(e).__name__}: {text}"))
                continue
            # Only now that an older one reads back are the newer ones moved.
            for bad, reason in failures:
                try:
                    aside = self._move_aside(bad)
                except OSError as e:
                    raise CheckpointError(
                        f"the checkpoint after {bad} iterations in "
                        f"{self.directory} cannot be read ({reason}) nor moved "
                        f"aside ({e}); delete it to resume from the one after "
                        f"{step} iterations"
                    ) from None
                if log is not None:
                    log(
                        f"the checkpoint after {bad} iterations cannot be read "
                        f"({reason}); moved it to {aside}, resuming from the one "
                        f"after {step} iterations"
                    )
            return saved
        raise CheckpointError(
            f"no checkpoint in {self.directory} can be read ("
            + "; ".join(f"after {step} iterations: {why}" for step, why in failures)
            + "). Start the run over in another folder, or delete this one"
        )

    def _move_aside(self, step: int) -> Path:
        """Move step ``step``'s folder to ``<directory>-unreadable/``.

        In a multi-process run (one shared folder) process 0 moves it and the
        others wait for it to be done."""
        import jax

        aside_dir = self.directory.with_name(self.directory.name + "-unreadable")
        target = aside_dir / str(step)
        i = 1
        while target.exists():
            i += 1
            target = aside_dir / f"{step}-{i}"
        if jax.process_index() == 0:
            aside_dir.mkdir(parents=True, exist_ok=True)
            (self.directory / str(step)).rename(target)
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices(f"jaxrl: moved aside step {step}")
        self._manager.reload()
        return target

    def _resolve_step(self, step: int | None) -> int:
        if step is None:
            step = self.latest_step()
            if step is None:
                raise FileNotFoundError(f"no checkpoint in {self.directory}")
        return int(step)


def _quiet_closed_loop_callbacks() -> None:
    """Silence what a failed orbax restore leaves behind: tensorstore threads
    that go on calling back into the closed asyncio loop of the failed read,
    each reporting ``RuntimeError: Event loop is closed`` with a traceback
    through ``sys.unraisablehook``. Only that error is dropped; every other
    one reaches the hook that was there before."""
    previous = sys.unraisablehook
    if getattr(previous, "_jaxrl_quiet", False):
        return

    def hook(unraisable: Any) -> None:
        value = unraisable.exc_value
        if isinstance(value, RuntimeError) and str(value) == "Event loop is closed":
            return
        previous(unraisable)

    hook._jaxrl_quiet = True  # type: ignore[attr-defined]
    sys.unraisablehook = hook


class _FailedReadFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "exception was never retrieved" not in str(record.msg)


def _quiet_failed_reads() -> None:
    """After a failed restore, the read tasks it left unawaited are logged by
    asyncio when collected ("Task/Future exception was never retrieved", with the
    same error again): drop those records; the error is already reported."""
    logger = logging.getLogger("asyncio")
    if not any(isinstance(f, _FailedReadFilter) for f in logger.filters):
        logger.addFilter(_FailedReadFilter())
    # ... and its coroutines that never ran warn when collected.
    warnings.filterwarnings(
        "ignore", message="coroutine .* was never awaited", category=RuntimeWarning
    )


def save(
    directory: str | Path,
    step: int,
    state: Any,
    metrics: Mapping[str, Any],
    fingerprint: Mapping[str, Any] | None = None,
    *,
    max_to_keep: int = 2,
) -> None:
    """Save one checkpoint into ``directory`` and wait until it is on disk."""
    with Checkpointer(directory, max_to_keep=max_to_keep) as ckpt:
        ckpt.save(step, state, metrics, fingerprint)


def restore(
    directory: str | Path,
    template: Any,
    *,
    step: int | None = None,
    fingerprint: Mapping[str, Any] | None = None,
) -> Checkpoint:
    """Read the latest (or ``step``'s) checkpoint in ``directory`` onto
    ``template``; see :meth:`Checkpointer.restore`."""
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"no checkpoint folder {directory}")
    with Checkpointer(directory) as ckpt:
        return ckpt.restore(template, step=step, fingerprint=fingerprint)
