"""Several processes, one run: setting up :mod:`jax.distributed`.

A multi-process run is several copies of the same command, one per process
(per host, or per GPU), that meet at a coordinator (``HOST:PORT`` of process
0) and then see every device of every process in ``jax.devices()``; the seed
axis of :func:`jaxrl.parallel.run` spans all of them, each process running its
share (see :mod:`jaxrl.parallel`).

What asks for several processes, in this order:

1. the flags ``--coordinator HOST:PORT --num-processes N --process-id I``
   (``--num-processes 1`` asks for one process and turns detection off);
2. a launcher that started several tasks of this command: SLURM's ``srun``
   (``SLURM_STEP_NUM_TASKS > 1``) or Open MPI's ``mpirun``
   (``OMPI_COMM_WORLD_SIZE > 1``); :func:`jax.distributed.initialize` then
   reads the coordinator, the process count and the id from the launcher's
   variables. Only these two are detected: they are read from the
   environment alone, while other detectors (TPU, Kubernetes) ask a network
   service. A batch script itself (one task, even in a many-task
   allocation) is not detected, so it never waits for processes that do not
   come.

Nothing else initialises :mod:`jax.distributed`. On CPU the processes talk
through gloo collectives.

:func:`check` needs no JAX, so a bad combination is refused at once;
:func:`initialize` must run before JAX touches a device.
"""

import os
import re
from collections.abc import Mapping
from typing import NamedTuple

__all__ = ["Processes", "check", "from_environment", "initialize"]

_ADDRESS = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):([0-9]{1,5})$")


class Processes(NamedTuple):
    """How this process joins a multi-process run.

    Attributes:
        coordinator: ``HOST:PORT`` of process 0's coordinator, or None for a
            launcher's (then ``jax.distributed`` reads it from the
            environment, as it does the other two).
        num_processes: the process count, or None for a launcher's.
        process_id: this process's id in ``[0, num_processes)``, or None.
        launcher: ``"flags"``, ``"slurm"`` or ``"ompi"``: what asked.
    """

    coordinator: str | None
    num_processes: int | None
    process_id: int | None
    launcher: str


def _task_count(environ: Mapping[str, str], name: str) -> int:
    try:
        return int(environ.get(name, "1"))
    except ValueError:
        return 1


def from_environment(environ: Mapping[str, str] | None = None) -> Processes | None:
    """The launcher that started several tasks of this command, if any.

    Args:
        environ: the environment (default ``os.environ``).

    Returns:
        ``Processes(None, None, None, launcher)`` under ``srun`` with more than
        one task in the step (``SLURM_STEP_NUM_TASKS``, with ``SLURM_PROCID``
        and ``SLURM_STEP_NODELIST``) or under ``mpirun`` with more than one
        rank (``OMPI_COMM_WORLD_SIZE`` with ``OMPI_MCA_orte_hnp_uri``);
        otherwise None.
    """
    env = os.environ if environ is None else environ
    slurm = ("SLURM_JOB_ID", "SLURM_PROCID", "SLURM_STEP_NODELIST", "SLURM_LOCALID")
    if all(k in env for k in slurm) and _task_count(env, "SLURM_STEP_NUM_TASKS") > 1:
        return Processes(None, None, None, "slurm")
    if "OMPI_MCA_orte_hnp_uri" in env and _task_count(env, "OMPI_COMM_WORLD_SIZE") > 1:
        return Processes(None, None, None, "ompi")
    return None


def check(
    coordinator: str | None,
    num_processes: int | None,
    process_id: int | None,
    environ: Mapping[str, str] | None = None,
) -> Processes | None:
    """What the flags (or, without them, the launcher) ask for; no JAX.

    Args:
        coordinator: ``--coordinator HOST:PORT``.
        num_processes: ``--num-processes N``.
        process_id: ``--process-id I``.
        environ: the environment, for :func:`from_environment`.

    Returns:
        None for a single-process run (nothing asks for more, or
        ``--num-processes 1``), else a :class:`Processes`.

    Raises:
        ValueError: a bad combination; the message names the flag and what
            is allowed.
    """
    given = [coordinator, num_processes, process_id]
    if all(v is None for v in given):
        return from_environment(environ)
    if num_processes is None:
        raise ValueError(
            "--coordinator and --process-id need --num-processes N (the number "
            "of processes that take part)"
        )
    if num_processes < 1:
        raise ValueError(f"--num-processes {num_processes} must be >= 1")
    if num_processes == 1:
        if process_id not in (None, 0):
            raise ValueError(
                f"--process-id {process_id} is out of range: with "
                "--num-processes 1 the only process is 0"
            )
        return None
    if coordinator is None:
        raise ValueError(
            f"--num-processes {num_processes} needs --coordinator HOST:PORT, the "
            "address of process 0 (the same on every process)"
        )
    match = _ADDRESS.match(coordinator)
    if match is None or not 0 < int(match.group(2)) < 65536:
        raise ValueError(
            f"--coordinator {coordinator!r} is not HOST:PORT (e.g. "
            "localhost:12345 or node001:12345, a port in 1-65535)"
        )
    if process_id is None:
        raise ValueError(
            f"--num-processes {num_processes} needs --process-id I, this "
            f"process's id in 0..{num_processes - 1}"
        )
    if not 0 <= process_id < num_processes:
        raise ValueError(
            f"--process-id {process_id} is out of range: with --num-processes "
            f"{num_processes} it must be in 0..{num_processes - 1}"
        )
    return Processes(coordinator, num_processes, process_id, "flags")


def initialize(processes: Processes | None, *, timeout_s: int = 300) -> None:
    """Join the multi-process run ``processes`` (a no-op for None).

    Call before JAX touches a device. On CPU, collectives go through gloo.
    Calling again in the same process is a no-op if it asks for the same
    run (a second command in one Python process).

    Args:
        processes: from :func:`check`.
        timeout_s: how long to wait for every process to join.

    Raises:
        RuntimeError: ``jax.distributed`` cannot start (another run is
            already initialised, or JAX has already used a device), or the
            processes did not all join in ``timeout_s``.
    """
    if processes is None:
        return
    import jax

    if jax.distributed.is_initialized():
        wanted = (processes.num_processes, processes.process_id)
        have = (jax.process_count(), jax.process_index())
        if processes.launcher != "flags" or wanted == have:
            return
        raise RuntimeError(
            "jax.distributed is already initialised in this Python process for "
            f"another run (process {have[1]} of {have[0]})"
        )
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    detect = None if processes.launcher == "flags" else processes.launcher
    try:
        jax.distributed.initialize(
            coordinator_address=processes.coordinator,
            num_processes=processes.num_processes,
            process_id=processes.process_id,
            cluster_detection_method=detect,
            initialization_timeout=timeout_s,
        )
    except Exception as e:  # noqa: BLE001 - XLA's errors are not typed
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        where = processes.coordinator or f"the {processes.launcher} launcher's"
        raise RuntimeError(
            f"cannot join the multi-process run (coordinator {where}): {first}"
        ) from None
