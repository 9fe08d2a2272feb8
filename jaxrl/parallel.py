"""Many seeds and hyperparameter settings in one compiled call.

:func:`run` takes a :class:`~jaxrl.types.Trainer` and runs it for ``num_seeds``
seeds (``vmap`` over keys) and, for a sweep, every setting of a stacked
``HParams`` (``vmap`` over the leading axis): one compilation for the whole
grid. Long runs execute in compiled chunks with a progress bar between them;
where there are several devices the seed axis lives on a
:class:`jax.sharding.Mesh` over all of them, with explicit input and output
shardings (:func:`batched`): each device runs its share of the seeds. The seed
count must be a multiple of the device count (:class:`DeviceCountError`).

In a multi-process run (:mod:`jaxrl.distributed`: every process runs the same
call) the mesh spans every device of every process, ``jax.devices()``: the
keys are made on the devices that use them, each process runs its share of
the seeds (a contiguous block: process ``p`` of ``P`` holds seeds
``[p N / P, (p + 1) N / P)``), and the metrics of every seed are gathered
onto every process after each chunk (:func:`to_host`), so every process
returns the same metrics and decides alike (divergence, progress); the state
stays where it was computed, a global array (gather a leaf with
:func:`to_host`). Progress and ``log`` lines come from process 0 only.

A trainer that steps a host environment, one per process (an EnvPool pool,
``Trainer.one_device_per_process``), runs on the first device of each
process instead (:func:`run_devices`): the pool is stepped from one program
per process, and each process's seeds share its pool.

Seed ``i`` of a run started from ``seed`` uses ``fold_in(key(seed), i)``, so it
gets the same bits whatever ``num_seeds`` is, and every setting of a sweep sees
the same seeds (common random numbers, a paired comparison).

With ``checkpoint_dir`` the state and the metrics so far are saved (orbax,
see :mod:`jaxrl.checkpoint`) after every chunk, and a run started again with
the same folder and settings continues from its latest checkpoint: it reuses
the same compiled chunk, so it ends bit-identical to an uninterrupted run.
"""

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxrl.types import Trainer, TrainOutput, check_hparams


def seed_keys(seed: int, num_seeds: int) -> jax.Array:
    """``num_seeds`` independent keys, key ``i`` = ``fold_in(key(seed), i)``."""
    if num_seeds < 1:
        raise ValueError(f"num_seeds={num_seeds} must be >= 1")
    base = jax.random.key(seed)
    return jax.vmap(lambda i: jax.random.fold_in(base, i))(jnp.arange(num_seeds))


def stack(hparams: Sequence[Any]) -> Any:
    """Stack a list of ``HParams`` into one with a leading sweep axis ``[H]``."""
    if not hparams:
        raise ValueError("a sweep needs at least one setting")
    return jax.tree.map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]), *hparams)


def _chunk_size(num_iterations: int, num_chunks: int, multiple_of: int = 1) -> int:
    """A chunk length near ``num_iterations / num_chunks``, dividing it if it
    can, and a multiple of ``multiple_of`` (the evaluation period) if that is
    not longer than the run."""
    target = max(1, num_iterations // max(1, num_chunks))
    if 1 < multiple_of <= num_iterations:
        target = max(multiple_of, round(target / multiple_of) * multiple_of)
        for size in range(target, multiple_of - 1, -multiple_of):
            if num_iterations % size == 0 and size >= target // 2:
                return size
        return target
    for size in range(target, max(1, target // 2) - 1, -1):
        if num_iterations % size == 0:
            return size
    return target


def chunk_plan(trainer: Trainer, num_chunks: int) -> tuple[int, list[tuple[int, int]]]:
    """``(size, [(start, length), ...])``: the compiled chunks of a run.

    The warm-up and the rest are chunked apart, each in chunks of ``size``
    iterations (a multiple of the evaluation period where it can be), so that
    every full chunk after the warm-up has the same :meth:`Trainer.plan` and
    compiles once."""
    total, warm = trainer.num_iterations, trainer.warmup_iterations
    size = _chunk_size(total - warm, num_chunks, trainer.eval_every)
    out = []
    for begin, end in ((0, warm), (warm, total)):
        out += [(i, min(size, end - i)) for i in range(begin, end, size)]
    return size, out


class DeviceCountError(ValueError):
    """The seed count does not split evenly over the devices."""


def seed_mesh(num_seeds: int, devices: Sequence[Any] | None = None) -> Mesh | None:
    """A one-axis mesh ``("seeds",)`` over ``devices`` (default: every device),
    or ``None`` on a single device.

    Raises:
        DeviceCountError: ``num_seeds`` is not a multiple of the device count
            (a run is never left on one device in silence).
    """
    devices = list(jax.devices() if devices is None else devices)
    if len(devices) == 1:
        return None
    n, d = num_seeds, len(devices)
    if n % d:
        processes = {device.process_index for device in devices}
        where = f"{d} devices"
        if len(processes) > 1:
            where += f" ({len(processes)} processes x {d // len(processes)})"
        raise DeviceCountError(
            f"{n} seeds do not split evenly over {where}: use a multiple of "
            f"{d} (e.g. {n + d - n % d}), or fewer devices (e.g. "
            "CUDA_VISIBLE_DEVICES)"
        )
    return Mesh(np.asarray(devices), ("seeds",))


def run_devices(trainer: Trainer) -> list[Any]:
    """The devices :func:`run` puts ``trainer``'s seeds on: every device of
    every process, or with ``trainer.one_device_per_process`` the first
    device of each process (in process order)."""
    devices = jax.devices()
    if not trainer.one_device_per_process:
        return devices
    first: dict[int, Any] = {}
    for device in devices:
        first.setdefault(device.process_index, device)
    return [first[p] for p in sorted(first)]


def to_host(tree: Any) -> Any:
    """``tree``'s arrays as NumPy arrays, whole, on every process.

    An array on this process's devices is copied; a replicated one read from
    a local copy; one split over processes (the seed axis of a multi-process
    run) is gathered from all of them, a collective: every process must call
    this with the same tree. Typed PRNG keys do not convert: pass their
    ``jax.random.key_data``."""
    from jax.experimental import multihost_utils

    def local(x: Any) -> np.ndarray | None:
        if not isinstance(x, jax.Array) or x.is_fully_addressable:
            return np.asarray(x)
        if x.is_fully_replicated:
            return np.asarray(x.addressable_data(0))
        return None  # split over processes

    leaves, treedef = jax.tree.flatten(tree)
    out = [local(x) for x in leaves]
    split = [i for i, x in enumerate(out) if x is None]
    if split:  # one collective for all of them
        gathered = multihost_utils.process_allgather(
            [leaves[i] for i in split], tiled=True
        )
        for i, x in zip(split, gathered, strict=True):
            out[i] = np.asarray(x)
    return jax.tree.unflatten(treedef, out)


def mesh_seed_keys(seed: int, num_seeds: int, mesh: Mesh | None) -> jax.Array:
    """:func:`seed_keys` split along the seed axis of ``mesh`` (None: one
    device), each key made on the device that uses it: in a multi-process
    run, every process makes its own share, the same bits."""
    if mesh is None:
        return seed_keys(seed, num_seeds)
    make = jax.jit(seed_keys, static_argnums=(0, 1), out_shardings=seed_sharding(mesh))
    return make(seed, num_seeds)


def seed_sharding(mesh: Mesh, sweep: bool = False) -> NamedSharding:
    """Arrays ``[N, ...]`` (``[H, N, ...]`` for a sweep) split along the seed
    axis ``N`` over ``mesh``; every other axis whole on each device."""
    return NamedSharding(
        mesh, PartitionSpec(None, "seeds") if sweep else PartitionSpec("seeds")
    )


def batched(
    trainer: Trainer, *, sweep: bool = False, mesh: Mesh | None = None
) -> tuple[Callable, Callable]:
    """Compiled ``init(keys, hparams)`` and ``advance(state, plan)`` over seeds
    (and settings when ``sweep``), ``plan`` from :meth:`Trainer.plan` (static:
    equal plans share a compilation). Shapes: keys ``[N]``; hparams leaves
    ``[H]`` for a sweep; state and metrics gain leading axes ``[H, N]`` or
    ``[N]``.

    With a ``mesh`` (:func:`seed_mesh`) the shardings are explicit: keys,
    state and metrics split along the seed axis (:func:`seed_sharding`),
    hyperparameters replicated, and each device runs its own seeds under
    ``jax.shard_map``: the program compiled for its block of ``N / D`` seeds,
    with no collective (a batched while loop waits for the device's own
    seeds only)."""
    init = jax.vmap(trainer.init, in_axes=(0, None))
    if sweep:
        init = jax.vmap(init, in_axes=(None, 0))

    def advance(state: Any, plan: tuple) -> TrainOutput:
        step = jax.vmap(lambda s: trainer.run_plan(s, plan))
        return (jax.vmap(step) if sweep else step)(state)

    # Initialisation runs once: compiling it at a low optimisation level saves
    # seconds (a batched orthogonal init is a batched QR) and costs nothing.
    fast_compile = {"xla_backend_optimization_level": 0}
    if mesh is None:
        return (
            jax.jit(init, compiler_options=fast_compile),
            jax.jit(advance, static_argnums=1, donate_argnums=0),
        )
    seeds = seed_sharding(mesh)
    state = seed_sharding(mesh, sweep)
    replicated = NamedSharding(mesh, PartitionSpec())
    # Each device runs the program for its own block of seeds (shard_map), so
    # a reduction over the batch stays on the device: a batched while loop
    # (a tabular episode) stops when the device's seeds are done, not after
    # an all-reduce over every device (of every process) at each step.
    init = jax.shard_map(
        init,
        mesh=mesh,
        in_specs=(seeds.spec, replicated.spec),
        out_specs=state.spec,
        check_vma=False,
    )
    per_device_advance = advance

    def advance(state_: Any, plan: tuple) -> TrainOutput:
        return jax.shard_map(
            lambda s: per_device_advance(s, plan),
            mesh=mesh,
            in_specs=(state.spec,),
            out_specs=state.spec,
            check_vma=False,
        )(state_)

    return (
        jax.jit(
            init,
            in_shardings=(seeds, replicated),
            out_shardings=state,
            compiler_options=fast_compile,
        ),
        jax.jit(
            advance,
            static_argnums=1,
            donate_argnums=0,
            in_shardings=(state,),
            out_shardings=state,
        ),
    )


def run(
    trainer: Trainer,
    hparams: Any,
    *,
    seed: int = 0,
    num_seeds: int = 1,
    sweep: bool = False,
    num_chunks: int = 10,
    progress: bool = True,
    desc: str = "train",
    on_chunk: Callable[[int, Any, dict[str, np.ndarray]], None] | None = None,
    on_metrics: Callable[[int, dict[str, np.ndarray]], None] | None = None,
    checkpoint_dir: str | Path | None = None,
    fingerprint: Mapping[str, Any] | None = None,
    divergence_threshold: float | None = None,
    log: Callable[[str], None] | None = None,
) -> TrainOutput:
    """Run ``trainer`` over seeds (and sweep settings), in compiled chunks.

    Args:
        trainer: from an agent's ``make_train``.
        hparams: one ``HParams``, or with ``sweep=True`` a stacked one
            (:func:`stack`) whose leaves have a leading axis ``[H]``.
        seed: base seed; see :func:`seed_keys`.
        num_seeds: seeds per setting.
        sweep: whether ``hparams`` carries a sweep axis.
        num_chunks: how many compiled chunks to split the run into; progress
            is reported (and ``on_chunk`` called) between chunks. 1 runs the
            whole run as a single call.
        progress: show a progress bar.
        desc: progress-bar label.
        on_chunk: ``(iterations_done, state, metrics_so_far)`` after each chunk
            (after its checkpoint is saved).
        on_metrics: ``(start, chunk_metrics)`` as soon as a chunk's metrics
            are on the host, before the divergence check: the iterations
            ``start + 1 .. start + n`` of this chunk alone (``[..., n]``
            arrays), never those restored from a checkpoint; for loggers
            (:mod:`jaxrl.results.loggers`).
        checkpoint_dir: save a checkpoint here after every chunk (keeping the
            last two), and if it already holds one of this run, continue from
            the latest instead of starting over. The result is bit-identical
            to an uninterrupted run.
        fingerprint: what identifies the run beyond what ``run`` sees
            (algorithm, config, environment: anything JSON-able). ``run``
            adds the seed, ``num_seeds``, ``sweep``, the iteration and chunk
            counts, the hyperparameter values and the state's leaf shapes and
            dtypes; a checkpoint whose fingerprint differs is refused.
        divergence_threshold: if given, after each chunk the metrics whose
            name contains ``loss`` are checked for NaN, inf and magnitudes
            ``>= divergence_threshold``, and the state's floating-point leaves
            (parameters, optimiser state, tables) for NaN and inf; a hit
            raises :class:`DivergenceError` before that chunk's checkpoint is
            saved. ``math.inf`` checks for non-finite values only.
        log: called with a line of text for what the user should know:
            resuming from a checkpoint, skipping an unreadable one.

    Returns:
        ``TrainOutput`` with state leaves ``[H, N, ...]`` (sweep) or
        ``[N, ...]`` and metrics as NumPy arrays ``[H, N, T]`` or ``[N, T]``
        (every seed's, on every process of a multi-process run; the state
        there is a global array, see :func:`to_host`).

    Raises:
        ValueError: a hyperparameter is out of range, or ``checkpoint_dir``
            holds a checkpoint of a different run (the message names what
            differs).
        jaxrl.checkpoint.CheckpointError: ``checkpoint_dir`` holds
            checkpoints but none can be read. An unreadable newest checkpoint
            is moved aside (see :meth:`~jaxrl.checkpoint.Checkpointer.restore_intact`)
            and the run continues from the newest intact one.
        DivergenceError: the run diverged (see ``divergence_threshold``); it
            carries the metrics up to the end of that chunk.
    """
    check_hparams(hparams)
    mesh = seed_mesh(num_seeds, run_devices(trainer))
    keys = mesh_seed_keys(seed, num_seeds, mesh)
    if jax.process_index() != 0:
        progress, log = False, None
    init, advance = batched(trainer, sweep=sweep, mesh=mesh)
    total = trainer.num_iterations
    size, pieces = chunk_plan(trainer, num_chunks)
    state = init(keys, hparams)
    chunks: list[dict[str, np.ndarray]] = []
    done = 0
    ckpt = None
    full_fingerprint: dict[str, Any] = {}
    if checkpoint_dir is not None:
        from jaxrl.checkpoint import Checkpointer

        full_fingerprint = _fingerprint(
            state,
            hparams,
            seed=seed,
            num_seeds=num_seeds,
            sweep=sweep,
            num_iterations=total,
            chunk_size=size,
            extra=fingerprint,
        )
        ckpt = Checkpointer(checkpoint_dir)
        if ckpt.latest_step() is not None:
            try:
                saved = ckpt.restore_intact(
                    state, fingerprint=full_fingerprint, log=log
                )
            except BaseException:
                ckpt.close()
                raise
            state, done = saved.state, saved.step
            if saved.metrics:
                chunks.append(saved.metrics)
            if done not in {start for start, _ in pieces} | {total}:
                ckpt.close()
                raise ValueError(
                    f"the checkpoint in {checkpoint_dir} was saved after {done} "
                    "iterations, which is not a chunk boundary of this run"
                )
            if log is not None:
                log(f"resuming after {done} of {total} iterations")
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=done, desc=desc, unit="it", leave=True)
    try:
        for start, n in pieces:
            if start < done:
                continue
            state, metrics = advance(state, trainer.plan(start, n))
            chunks.append(to_host(metrics))
            done += n
            if on_metrics is not None:
                on_metrics(done - n, chunks[-1])
            if divergence_threshold is not None:
                problem = _divergence(
                    chunks[-1], state, divergence_threshold, done - n, sweep
                )
                if problem is not None:
                    message, first = problem
                    raise DivergenceError(message, first, done, _concat(chunks))
            if bar is not None:
                bar.update(n)
                shown = _progress_metric(chunks[-1])
                value = None if shown is None else _latest(chunks[-1][shown])
                if value is not None:
                    bar.set_postfix({shown: f"{value:.4g}"})
            if ckpt is not None or on_chunk is not None:
                so_far = _concat(chunks)
                if ckpt is not None:
                    ckpt.save(done, state, so_far, full_fingerprint)
                if on_chunk is not None:
                    on_chunk(done, state, so_far)
    finally:
        if bar is not None:
            bar.close()
        if ckpt is not None:
            ckpt.close()
    return TrainOutput(state, _concat(chunks))


class DivergenceError(RuntimeError):
    """A run whose losses or parameters went non-finite or past the bound.

    Attributes:
        first_iteration: the first iteration (1-based) at which a loss metric
            was bad; for parameters alone, the end of the chunk.
        iteration: iterations done when the run stopped (a chunk's end).
        metrics: the metrics up to ``iteration``, ``[..., iteration]``.
    """

    def __init__(
        self,
        message: str,
        first_iteration: int,
        iteration: int,
        metrics: dict[str, np.ndarray],
    ):
        super().__init__(message)
        self.first_iteration = first_iteration
        self.iteration = iteration
        self.metrics = metrics


@jax.jit
def _finite_leaves(leaves: list[jax.Array]) -> jax.Array:
    return jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves])


def _divergence(
    metrics: Mapping[str, np.ndarray],
    state: Any,
    threshold: float,
    offset: int,
    sweep: bool,
) -> tuple[str, int] | None:
    """``(message, first iteration)`` if the chunk diverged, else None.

    A loss metric (name contains ``loss``) that is infinite or reaches
    ``threshold`` in magnitude has diverged; NaN is how a metric says "no value
    this iteration" (a loss before learning starts), so a NaN loss is not
    evidence by itself. Every floating-point leaf of ``state`` must be finite
    (reduced on the device: one bool per leaf comes back); a NaN loss then
    dates it."""

    def where_text(index: tuple[int, ...]) -> str:
        if sweep:
            return f" (setting {index[0]}, seed {index[1]})"
        return f" (seed {index[0]})" if index else ""

    def first_bad(bad: np.ndarray) -> tuple[int, tuple[int, ...]] | None:
        if not bad.any():
            return None
        t = int(np.argmax(bad.reshape(-1, bad.shape[-1]).any(axis=0)))
        return t, tuple(int(i) for i in np.argwhere(bad[..., t])[0])

    losses = {k: np.asarray(v, np.float64) for k, v in metrics.items() if "loss" in k}
    worst = None
    for name, values in losses.items():
        with np.errstate(invalid="ignore"):
            hit = first_bad(np.isinf(values) | (np.abs(values) >= threshold))
        if hit is not None and (worst is None or hit[0] < worst[0]):
            worst = (*hit, name, float(values[(*hit[1], hit[0])]))
    if worst is not None:
        t, index, name, value = worst
        what = f"|{value:.3g}| >= {threshold:g}" if math.isfinite(value) else "inf"
        return (
            f"training diverged: loss metric {name!r} is {what} at iteration "
            f"{offset + t + 1}{where_text(index)}. Lower the learning rate, or set "
            "--divergence-threshold (inf checks for NaN and inf only)",
            offset + t + 1,
        )
    paths, leaves = [], []
    for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
        if jnp.issubdtype(leaf.dtype, jnp.floating):
            paths.append(jax.tree_util.keystr(path))
            leaves.append(leaf)
    ok = to_host(_finite_leaves(leaves)) if leaves else np.ones(0, bool)
    if ok.all():
        return None
    names = [p for p, good in zip(paths, ok, strict=True) if not good]
    length = next(iter(metrics.values())).shape[-1] if metrics else 0
    end = offset + length
    first, dated = end, ""
    for name, values in losses.items():
        # NaN after a value, in this chunk: where the loss broke.
        seen = np.cumsum(~np.isnan(values), axis=-1) > 0
        hit = first_bad(np.isnan(values) & seen)
        if hit is not None and offset + hit[0] + 1 < first:
            first = offset + hit[0] + 1
            dated = f"; loss metric {name!r} is NaN from iteration {first}" + (
                where_text(hit[1])
            )
    shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
    return (
        f"training diverged: the state holds NaN or inf after iteration {end} "
        f"(in {shown}){dated}. Lower the learning rate (alpha for the tabular "
        "agents)",
        first,
    )


def _fingerprint(
    state: Any,
    hparams: Any,
    *,
    seed: int,
    num_seeds: int,
    sweep: bool,
    num_iterations: int,
    chunk_size: int,
    extra: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """What identifies a run for resuming: ``run``'s own arguments, the
    hyperparameter values, the state's leaf shapes and dtypes, and the
    caller's ``extra`` (algorithm, config, env)."""
    leaves = jax.tree_util.tree_flatten_with_path(state)[0]
    spec = {
        jax.tree_util.keystr(path): f"{leaf.dtype}{list(leaf.shape)}"
        for path, leaf in leaves
    }
    return {
        "seed": int(seed),
        "num_seeds": int(num_seeds),
        "sweep": bool(sweep),
        "num_iterations": int(num_iterations),
        "chunk_size": int(chunk_size),
        "hparams": hparams,
        "state": spec,
        "run": dict(extra or {}),
    }


def _progress_metric(metrics: dict[str, np.ndarray]) -> str | None:
    """The metric to show on the progress bar: a return if there is one."""
    for name in ("eval_return", "return", "reward"):
        if name in metrics:
            return name
    return next(iter(metrics), None)


def _latest(values: np.ndarray) -> float | None:
    """The mean over seeds (and settings) at the chunk's last iteration with
    a value: an evaluation need not fall on the chunk's last iteration."""
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values).reshape(-1, values.shape[-1]).any(axis=0)
    if not finite.any():
        return None
    return float(np.nanmean(values[..., np.flatnonzero(finite)[-1]]))


def _concat(chunks: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if not chunks:
        return {}
    return {k: np.concatenate([c[k] for c in chunks], axis=-1) for k in chunks[0]}
