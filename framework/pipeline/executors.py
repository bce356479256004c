"""Where tasks run: threads on this machine, or a Dask distributed cluster."""

from __future__ import annotations

import operator
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Protocol

from lamina.errors import InputError, PluginError
from lamina.pipeline.tasks import Task, run_task

__all__ = ["DaskExecutor", "Executor", "LocalExecutor", "make_executor"]

Done = Callable[[Task, Any, float], None]


class Executor(Protocol):
    def run(
        self, tasks: list[Task], known: dict[str, Any], on_done: Done, base_dir: str, outdir: str
    ) -> None:
        """Run ``tasks`` (in dependency order) given results already ``known``; call
        ``on_done(task, result, seconds)`` in the calling thread as each finishes."""


class LocalExecutor:
    """Independent tasks run in a thread pool; numpy and scipy release the GIL.

    Taichi's Python front end is not thread-safe, so tasks of GPU-capable
    (Taichi) components take turns.
    """

    def __init__(self, workers: int | None = None) -> None:
        import os

        self.workers = workers or max(1, min(4, os.cpu_count() or 1))
        self._taichi = threading.Lock()

    def _run_one(
        self, task: Task, values: dict[str, Any], base_dir: str, outdir: str
    ) -> tuple[Any, float]:
        if task.gpu:
            with self._taichi:
                return run_task(task, values, base_dir, outdir)
        return run_task(task, values, base_dir, outdir)

    def run(
        self, tasks: list[Task], known: dict[str, Any], on_done: Done, base_dir: str, outdir: str
    ) -> None:
        results = dict(known)
        waiting = list(tasks)
        running: dict[Future[Any], Task] = {}
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="lamina") as pool:
            try:
                while waiting or running:
                    for task in [t for t in waiting if t.dependencies <= results.keys()]:
                        waiting.remove(task)
                        values = {k: results[k] for k in task.dependencies}
                        running[pool.submit(self._run_one, task, values, base_dir, outdir)] = task
                    if not running:
                        raise RuntimeError(
                            "no task can run: the task graph has a missing dependency"
                        )
                    finished, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in finished:
                        task = running.pop(future)
                        results[task.key], seconds = future.result()
                        on_done(task, results[task.key], seconds)
            except BaseException:
                for future in running:
                    future.cancel()
                raise


def _missing_on_worker(
    components: Iterable[tuple[str, str]], operations: Iterable[str]
) -> list[str]:
    """Runs on a worker: the components and operations its lamina installation lacks."""
    from lamina.host import get_host

    host = get_host()
    missing = []
    for kind, name in components:
        try:
            info = host.get(kind, name)
        except Exception:
            missing.append(f"{kind} {name!r}")
            continue
        if not info.available:
            missing.append(f"{kind} {name!r} ({info.install_hint})")
    for name in operations:
        try:
            host.operation(name)
        except Exception:
            missing.append(f"operation {name!r}")
    return missing


class DaskExecutor:
    """Tasks run on Dask distributed: an existing cluster at ``scheduler``, or a
    ``LocalCluster`` started for the run. Workers need lamina and the plugins the
    pipeline uses installed (checked before anything is submitted)."""

    def __init__(self, scheduler: str | None = None, *, workers: int = 2) -> None:
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise InputError(
                "--executor dask needs Dask distributed: pip install 'lamina[dask]'"
            ) from None
        self.scheduler = scheduler
        self.workers = workers

    def run(
        self, tasks: list[Task], known: dict[str, Any], on_done: Done, base_dir: str, outdir: str
    ) -> None:
        from distributed import Client, LocalCluster, as_completed

        cluster = None
        if self.scheduler is None:
            cluster = LocalCluster(
                n_workers=self.workers, threads_per_worker=1, processes=True, dashboard_address=None
            )
        try:
            with Client(self.scheduler or cluster, timeout="30s") as client:
                self._check_workers(client, tasks)
                futures: dict[str, Any] = {}
                by_future: dict[Any, Task] = {}
                for task in tasks:
                    values = {k: futures.get(k, known.get(k)) for k in task.dependencies}
                    future = client.submit(
                        run_task,
                        task,
                        values,
                        base_dir,
                        outdir,
                        key=f"lamina-{task.step}-{task.index}-{task.key[:16]}",
                        pure=False,
                    )
                    # Downstream tasks take the value alone, not (value, seconds).
                    futures[task.key] = client.submit(operator.getitem, future, 0, pure=False)
                    by_future[future] = task
                for future in as_completed(list(by_future)):
                    on_done(by_future[future], *future.result())
        except OSError as error:
            raise InputError(f"cannot reach the Dask scheduler {self.scheduler}: {error}") from None
        finally:
            if cluster is not None:
                cluster.close()

    def _check_workers(self, client: Any, tasks: list[Task]) -> None:
        components = sorted({t.uses for t in tasks if t.uses is not None})
        operations = sorted({t.op for t in tasks if t.op is not None})
        report = client.run(_missing_on_worker, components, operations)
        problems = [
            f"worker {worker} lacks {', '.join(missing)}"
            for worker, missing in report.items()
            if missing
        ]
        if problems:
            raise PluginError(
                "; ".join(problems) + ": install lamina and those plugins on every worker"
            )


def make_executor(
    name: str, *, scheduler: str | None = None, workers: int | None = None
) -> Executor:
    if name == "local":
        if scheduler is not None:
            raise InputError("--scheduler is only for --executor dask")
        return LocalExecutor(workers)
    if name == "dask":
        return DaskExecutor(scheduler, workers=workers or 2)
    raise InputError(f"executor must be 'local' or 'dask', got {name!r}")
