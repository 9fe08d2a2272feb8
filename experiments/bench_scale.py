"""Seeds per second against devices and processes: tabular Q-learning and PPO.

Strong scaling: a fixed number of seeds (``--q-seeds``, ``--ppo-seeds``) runs
through :func:`jaxrl.parallel.batched` on a seed mesh over 1, 2, 4, ...
devices, held by 1 or 2 processes (``jax.distributed`` on localhost, gloo
collectives on CPU). Each topology is a fresh set of worker processes (this
script with ``--worker``); a worker compiles, runs once untimed, then times
``--repeats`` whole runs (init, every chunk, the metrics gathered onto every
process as :func:`jaxrl.parallel.run` does) and process 0 reports the median.
The table gives, per algorithm and topology, the run time, seeds/s, the
speed-up over one device in one process, and the scaling efficiency
(speed-up / devices), then the ratio of 2 processes to 1 at equal device
counts (the cost of the process boundary).

On CPU (default) the devices are forced host devices
(``--xla_force_host_platform_device_count``) that share the machine's cores:
past the number of cores they cannot run faster, only split the work. With
``--platform gpu`` the devices are GPUs, selected per worker through
``CUDA_VISIBLE_DEVICES`` (the default device counts are 1, 2, 4, ... up to
every GPU of the machine; 2 processes each take half).

    python experiments/bench_scale.py [--devices 1,2,4] [--processes 1,2]
        [--q-seeds 512] [--ppo-seeds 16] [--repeats 3] [--platform cpu|gpu]
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]

# Per-seed work: small enough for a 2-core machine, big enough to time.
WORKLOADS = {
    "q_learning": {"num_episodes": "50"},
    "ppo": {
        "num_envs": "4",
        "num_steps": "32",
        "total_timesteps": "16384",
        "hidden_sizes": "[32, 32]",
        "update_epochs": "2",
        "num_minibatches": "2",
        "eval_every": "0",
    },
}


def worker(args: argparse.Namespace) -> None:
    """One process of a topology: time every algorithm, print one JSON line
    per algorithm from process 0."""
    from jaxrl import distributed

    if args.num_processes > 1:
        distributed.initialize(
            distributed.check(args.coordinator, args.num_processes, args.process_id)
        )
    import jax
    import numpy as np

    from jaxrl import parallel
    from jaxrl.config import resolve

    for algo, seeds in (("q_learning", args.q_seeds), ("ppo", args.ppo_seeds)):
        if algo not in args.algos:
            continue
        r = resolve(algo, None, dict(WORKLOADS[algo]), {})
        trainer = r["spec"].make_train(r["config"], r["env"], r["env_params"])
        mesh = parallel.seed_mesh(seeds)
        init, advance = parallel.batched(trainer, mesh=mesh)
        _, pieces = parallel.chunk_plan(trainer, 1)

        def once() -> None:
            keys = parallel.mesh_seed_keys(0, seeds, mesh)  # noqa: B023
            state = init(keys, r["hparams"])  # noqa: B023
            for start, n in pieces:  # noqa: B023
                state, metrics = advance(state, trainer.plan(start, n))  # noqa: B023
                parallel.to_host(metrics)

        t0 = time.perf_counter()
        once()
        first = time.perf_counter() - t0
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            once()
            times.append(time.perf_counter() - t0)
        if jax.process_index() == 0:
            record = {
                "algo": algo,
                "processes": jax.process_count(),
                "devices": jax.device_count(),
                "seeds": seeds,
                "first_s": first,
                "run_s": float(np.median(times)),
                "platform": jax.default_backend(),
            }
            print("RESULT " + json.dumps(record), flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _gpu_count() -> int:
    probe = "import jax; print(len(jax.devices('gpu')))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip().splitlines()[-1])


def launch(args: argparse.Namespace, processes: int, devices: int) -> list[dict]:
    """Run one topology (``processes`` x ``devices // processes``): its
    workers' records."""
    per = devices // processes
    port = str(_free_port())
    procs = []
    for i in range(processes):
        env = dict(os.environ)
        if args.platform == "cpu":
            env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={per}"
            env["JAX_PLATFORMS"] = "cpu"
        else:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(
                str(g) for g in range(i * per, (i + 1) * per)
            )
        argv = [sys.executable, str(HERE), "--worker", "--repeats", str(args.repeats)]
        argv += ["--q-seeds", str(args.q_seeds), "--ppo-seeds", str(args.ppo_seeds)]
        argv += ["--algos", ",".join(args.algos)]
        argv += ["--num-processes", str(processes), "--process-id", str(i)]
        argv += ["--coordinator", f"localhost:{port}"]
        procs.append(
            subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        )
    outs = [p.communicate() for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        if p.returncode != 0:
            sys.exit(
                f"bench_scale: {processes} x {per} devices failed:\n"
                + err.decode()[-2000:]
            )
    lines = outs[0][0].decode().splitlines()
    return [json.loads(s[7:]) for s in lines if s.startswith("RESULT ")]


def report(records: list[dict]) -> None:
    """The table: seeds/s, speed-up over 1 device, efficiency; then 2
    processes against 1 at equal device counts."""
    print(
        f"{'algo':<11} {'procs':>5} {'devices':>7} {'seeds':>6} {'compile+run s':>13} "
        f"{'run s':>7} {'seeds/s':>9} {'speed-up':>8} {'efficiency':>10}"
    )
    by = {(r["algo"], r["processes"], r["devices"]): r for r in records}
    for r in records:
        base = by.get((r["algo"], 1, 1))
        rate = r["seeds"] / r["run_s"]
        up = base["run_s"] / r["run_s"] if base else float("nan")
        print(
            f"{r['algo']:<11} {r['processes']:>5} {r['devices']:>7} {r['seeds']:>6} "
            f"{r['first_s']:>13.2f} {r['run_s']:>7.3f} {rate:>9.1f} {up:>7.2f}x "
            f"{up / r['devices']:>10.0%}"
        )
    for (algo, procs, devices), r in by.items():
        one = by.get((algo, 1, devices))
        if procs > 1 and one:
            print(
                f"{algo}: {procs} processes x {devices // procs} vs 1 process x "
                f"{devices} devices: {one['run_s'] / r['run_s']:.2f}x the speed"
            )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", default=None, help="device counts (default 1,2,4)")
    p.add_argument("--processes", default="1,2", help="process counts (1,2)")
    p.add_argument("--q-seeds", type=int, default=512, help="Q-learning seeds")
    p.add_argument("--ppo-seeds", type=int, default=16, help="PPO seeds")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per cell")
    p.add_argument("--algos", default="q_learning,ppo", help="q_learning,ppo")
    p.add_argument("--platform", choices=("cpu", "gpu"), default="cpu")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--coordinator", help=argparse.SUPPRESS)
    p.add_argument("--num-processes", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--process-id", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    args.algos = [a for a in args.algos.split(",") if a]
    unknown = set(args.algos) - set(WORKLOADS)
    if unknown:
        p.error(f"--algos: unknown {sorted(unknown)}; allowed: q_learning, ppo")
    if args.worker:
        worker(args)
        return
    if args.devices is None:
        top = _gpu_count() if args.platform == "gpu" else 4
        counts = [1 << k for k in range(top.bit_length()) if 1 << k <= top]
        args.devices = ",".join(map(str, sorted({*counts, top})))
    devices = [int(d) for d in args.devices.split(",")]
    processes = [int(n) for n in args.processes.split(",")]
    for n in (args.q_seeds, args.ppo_seeds):
        bad = [d for d in devices if n % d]
        if bad:
            p.error(f"{n} seeds do not split over {bad} devices; use a multiple")
    print(
        f"platform {args.platform}, {os.cpu_count()} CPU cores; Q-learning "
        f"{args.q_seeds} seeds x {WORKLOADS['q_learning']}, PPO {args.ppo_seeds} "
        f"seeds x {WORKLOADS['ppo']}; median of {args.repeats} runs",
        flush=True,
    )
    records = []
    for d in devices:
        for n in processes:
            if d % n == 0:
                records += launch(args, n, d)
                print(f"  done: {n} process(es) x {d // n} devices", flush=True)
    report(records)


if __name__ == "__main__":
    main()
