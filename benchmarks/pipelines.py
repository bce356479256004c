"""Pipeline runner throughput: tiny tasks on the local executor, a LocalCluster and a
loopback Dask scheduler with workers started as subprocesses, fresh and fully stored.

The pipeline is one ``load`` and a sweep of ``shift`` over an 8x8 image (2,000
points: 2,001 tasks by default), so the numbers measure the runner, not the work.
The floors are the same calls in a plain Python loop (no keys, no storage) and
creating the two small files each task leaves (its PNG and its .npy; its stored
result is appended to the run's pack): what this disk allows at best. The
LocalCluster's fresh run includes starting the cluster's processes; the
loopback scheduler's workers are started before the clock starts. CPU is this
process's user + system time per task (the workers' own is not counted), a
figure that depends less than seconds on what else the machine runs; the load
average is printed with the table.

Read the local rows against the disk floor measured just before them. On ext4
without a journal (the machines these numbers come from), creating a file in a
folder whose block group lost many inodes in the last one to five minutes
costs up to a millisecond of kernel time: the allocator steps over each
recently deleted inode (``recently_deleted`` under ``find_inode_bit``, seen with
``perf``). Any cleanup does that, this benchmark's own included: 4,000 files
created right after 4,000 were deleted there took 0.6-1.3 ms each, in a folder
with no recent deletions 0.07-0.09 ms (``--scratch`` picks the folder).

    python benchmarks/pipelines.py [--tasks 2000] [--local-only] [--scratch DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

PIPELINE = """
[steps.image]
op = "load"
with = {{ path = "image.npy" }}

[steps.moved]
op = "shift"
inputs = {{ image = "image" }}
with = {{ dx = 0.5 }}
sweep = {{ dy = {{ start = 0.0, stop = 1.0, num = {points} }} }}
"""


def _plain_loop(image: np.ndarray, points: int) -> float:
    from lamina.pipeline.operations import shift

    started = time.perf_counter()
    for dy in np.linspace(0.0, 1.0, points):
        shift(image=image, dy=float(dy), dx=0.5)
    return time.perf_counter() - started


#: Files a task with saved outputs creates: its PNG and its .npy.
FILES_PER_TASK = 2


def _disk_floor(folder: Path, tasks: int) -> float:
    """Create ``FILES_PER_TASK`` small files per task by temporary name and rename,
    unsynced, as the runner does (one ``os.sync`` per run makes them durable)."""
    target = folder / "floor"
    target.mkdir()
    started = time.perf_counter()
    for i in range(tasks * FILES_PER_TASK):
        fd, temporary = tempfile.mkstemp(prefix=f".{i}.", suffix=".part", dir=target)
        os.write(fd, b"x" * 600)
        os.close(fd)
        os.replace(temporary, target / f"{i:064x}")
    return time.perf_counter() - started


def _timed(folder: Path, out: str, **options: Any) -> tuple[float, int, float]:
    from lamina.pipeline import load_pipeline, run_pipeline

    before, started = os.times(), time.perf_counter()
    result = run_pipeline(load_pipeline(folder / "p.toml"), folder / out, progress=False, **options)
    seconds, after = time.perf_counter() - started, os.times()
    cpu = after.user - before.user + after.system - before.system
    return seconds, result.tasks - result.cached, cpu


def _loopback(folder: Path, workers: int) -> tuple[str, list[subprocess.Popen[bytes]]]:
    dask = str(Path(sys.executable).with_name("dask"))
    file = folder / "scheduler.json"
    common = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "start_new_session": True}
    processes = [
        subprocess.Popen(
            [
                dask,
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(file),
            ],
            **common,  # type: ignore[arg-type]
        )
    ]
    while not file.is_file() or not file.read_text().strip():
        time.sleep(0.1)
    address = json.loads(file.read_text())["address"]
    for i in range(workers):
        processes.append(
            subprocess.Popen(
                [
                    dask,
                    "worker",
                    "--scheduler-file",
                    str(file),
                    "--nthreads",
                    "1",
                    "--name",
                    f"w{i}",
                    "--no-dashboard",
                    "--host",
                    "127.0.0.1",
                ],
                **common,  # type: ignore[arg-type]
            )
        )
    from distributed import Client

    with Client(address, timeout="60s") as client:
        client.wait_for_workers(workers, timeout=120)
    return address, processes


def _dask_rows(folder: Path, workers: int, add: Callable[..., None]) -> None:
    """The LocalCluster (fresh, then fully stored) and loopback scheduler rows."""
    add(
        f"LocalCluster x{workers}",
        "fresh",
        *_timed(folder, "cluster", executor="dask", workers=workers),
    )
    add("LocalCluster", "stored", *_timed(folder, "cluster", executor="dask"))
    address, processes = _loopback(folder, workers)
    try:
        add(
            f"loopback scheduler x{workers}",
            "fresh",
            *_timed(folder, "loopback", executor="dask", scheduler=address),
        )
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000, help="sweep points (tasks - 1)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--local-only", action="store_true", help="leave out the Dask rows")
    parser.add_argument(
        "--scratch", type=Path, help="folder for the runs' files (default: the temporary folder)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(dir=args.scratch) as name:
        folder = Path(name)
        image = np.random.default_rng(0).random((8, 8)).astype(np.float32)
        np.save(folder / "image.npy", image)
        (folder / "p.toml").write_text(PIPELINE.format(points=args.tasks))
        total = args.tasks + 1

        def add(
            runner: str, run: str, seconds: float, computed: int, cpu: float | None = None
        ) -> None:
            rows.append(
                {
                    "runner": runner,
                    "run": run,
                    "tasks": total,
                    "computed": computed,
                    "seconds": round(seconds, 3),
                    "tasks_per_s": round(total / seconds, 1),
                    "cpu_ms_per_task": None if cpu is None else round(cpu / total * 1e3, 3),
                }
            )

        add("plain loop (floor)", "fresh", _plain_loop(image, args.tasks), args.tasks)
        add(
            f"create {FILES_PER_TASK} files per task (disk floor)",
            "-",
            _disk_floor(folder, total),
            total,
        )
        add("local", "fresh", *_timed(folder, "local"))
        add("local", "stored", *_timed(folder, "local"))
        # The same tasks without their two output files each (PNG and .npy):
        # the runner's own overhead, stored results included.
        (folder / "p.toml").write_text(
            PIPELINE.format(points=args.tasks).replace(
                "with = { dx = 0.5 }", "with = { dx = 0.5 }\nsave = false"
            )
        )
        add("local, outputs not saved", "fresh", *_timed(folder, "nosave"))
        (folder / "p.toml").write_text(PIPELINE.format(points=args.tasks))
        if not args.local_only:
            _dask_rows(folder, args.workers, add)
    load = [round(n, 2) for n in os.getloadavg()]
    if args.json:
        print(json.dumps({"benchmark": "pipelines", "load_average": load, "rows": rows}, indent=2))
        return
    print(
        f"{'runner':<40}{'run':<8}{'tasks':>7}{'computed':>10}{'seconds':>10}{'tasks/s':>10}"
        f"{'CPU ms/task':>13}"
    )
    for row in rows:
        cpu = "-" if row["cpu_ms_per_task"] is None else f"{row['cpu_ms_per_task']:.3f}"
        print(
            f"{row['runner']:<40}{row['run']:<8}{row['tasks']:>7}{row['computed']:>10}"
            f"{row['seconds']:>10.3f}{row['tasks_per_s']:>10.1f}{cpu:>13}"
        )
    print(f"load average at the end: {' '.join(map(str, load))}")


if __name__ == "__main__":
    main()
