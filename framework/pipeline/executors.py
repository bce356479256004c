"""Where tasks run: threads on this machine (here), or a Dask cluster (:mod:`.dask`).

Both take the tasks to run in dependency order with the results already known,
and report through :class:`Events` in the calling thread as each task ends.
A failing task raises :class:`~lamina.pipeline.tasks.TaskFailed` at once, or,
with ``keep_going``, is reported and every task that does not need it still runs.
"""

from __future__ import annotations

import os
import queue
import threading
from typing import Any, Protocol

from lamina.errors import InputError
from lamina.limits import MAX_WORKER_TIMEOUT, MAX_WORKERS
from lamina.pipeline.tasks import Task, TaskFailed, run_task

__all__ = ["Events", "Executor", "LocalExecutor", "make_executor", "order_graph"]


class Events(Protocol):
    """What an executor reports, always from the thread that called ``run``."""

    def done(self, task: Task, value: Any, seconds: float, worker: str) -> None: ...
    def failed(self, task: Task, error: TaskFailed) -> None: ...
    def note(self, text: str) -> None: ...


class Executor(Protocol):
    def run(
        self,
        tasks: list[Task],
        known: dict[str, Any],
        events: Events,
        base_dir: str,
        outdir: str,
        *,
        keep_going: bool = False,
    ) -> None:
        """Run ``tasks`` (in dependency order) given results already ``known``."""


def order_graph(
    tasks: list[Task], known: dict[str, Any]
) -> tuple[dict[str, int], dict[str, list[Task]]]:
    """For each task key, how many of its dependencies are still to run; and, for
    each key, the tasks waiting on it."""
    waiting_on: dict[str, int] = {}
    children: dict[str, list[Task]] = {}
    to_run = {t.key for t in tasks}
    for task in tasks:
        pending = [k for k in task.dependencies if k not in known]
        missing = [k for k in pending if k not in to_run]
        if missing:
            raise RuntimeError(f"{task.label} needs a result that is neither stored nor planned")
        waiting_on[task.key] = len(pending)
        for key in pending:
            children.setdefault(key, []).append(task)
    return waiting_on, children


def blocked_by(failed: Task, children: dict[str, list[Task]]) -> list[Task]:
    """Every task that needs ``failed``'s result, directly or not."""
    found: dict[str, Task] = {}
    stack = list(children.get(failed.key, []))
    while stack:
        child = stack.pop()
        if child.key not in found:
            found[child.key] = child
            stack += children.get(child.key, [])
    return list(found.values())


def not_run(task: Task, failed: Task) -> TaskFailed:
    return TaskFailed(
        f"{task.described} was not run: it needs {failed.label}, which failed",
        task.step,
        task.index,
    )


class LocalExecutor:
    """Independent tasks run on a pool of threads; numpy and scipy release the GIL.

    Taichi's Python front end is not thread-safe, so tasks of GPU-capable
    (Taichi) components take turns. The threads are daemons: Ctrl-C returns at
    once, without waiting for a long task to finish.
    """

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or max(1, min(4, os.cpu_count() or 1))
        self._taichi = threading.Lock()

    def _work(self, jobs: queue.Queue[Any], results: queue.Queue[Any], args: tuple) -> None:
        while True:
            job = jobs.get()
            if job is None:
                return
            task, values = job
            try:
                if task.gpu:
                    with self._taichi:
                        outcome = run_task(task, values, *args)
                else:
                    outcome = run_task(task, values, *args)
                results.put((task, outcome, None))
            except BaseException as error:
                results.put((task, None, error))

    def run(
        self,
        tasks: list[Task],
        known: dict[str, Any],
        events: Events,
        base_dir: str,
        outdir: str,
        *,
        keep_going: bool = False,
    ) -> None:
        values = dict(known)
        waiting_on, children = order_graph(tasks, known)
        attempts: dict[str, int] = {}
        jobs: queue.Queue[Any] = queue.Queue()
        results: queue.Queue[Any] = queue.Queue()
        threads = [
            threading.Thread(
                target=self._work,
                args=(jobs, results, (base_dir, outdir)),
                daemon=True,
                name=f"lamina-{i}",
            )
            for i in range(min(self.workers, max(1, len(tasks))))
        ]
        for thread in threads:
            thread.start()

        def submit(task: Task) -> None:
            jobs.put((task, {k: values[k] for k in task.dependencies}))

        settled: set[str] = set()
        try:
            for task in tasks:
                if waiting_on[task.key] == 0:
                    submit(task)
            while len(settled) < len(tasks):
                # A timeout keeps the wait interruptible by Ctrl-C.
                try:
                    task, outcome, error = results.get(timeout=0.2)
                except queue.Empty:
                    continue
                if error is not None:
                    if not isinstance(error, TaskFailed):
                        raise error
                    attempts[task.key] = attempts.get(task.key, 0) + 1
                    if attempts[task.key] <= task.retries:
                        events.note(
                            f"{task.label} failed, retry {attempts[task.key]} of {task.retries}"
                        )
                        submit(task)
                        continue
                    if not keep_going:
                        raise error
                    events.failed(task, error)
                    settled.add(task.key)
                    for child in blocked_by(task, children):
                        if child.key not in settled:
                            settled.add(child.key)
                            events.failed(child, not_run(child, task))
                        waiting_on[child.key] = -1  # never submitted
                    continue
                value, seconds, worker = outcome
                values[task.key] = value
                settled.add(task.key)
                events.done(task, value, seconds, worker)
                for child in children.get(task.key, []):
                    waiting_on[child.key] -= 1
                    if waiting_on[child.key] == 0:
                        submit(child)
        finally:
            # Drop queued work; running tasks finish in their daemon threads.
            with jobs.mutex:
                jobs.queue.clear()
            for _ in threads:
                jobs.put(None)


def make_executor(
    name: str,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    worker_timeout: float = 60.0,
) -> Executor:
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS
    ):
        raise InputError(
            f"workers must be an integer in 1..{MAX_WORKERS} (lamina.limits.MAX_WORKERS), "
            f"got {workers!r}"
        )
    if not 0 <= worker_timeout <= MAX_WORKER_TIMEOUT:
        raise InputError(
            f"worker_timeout must be in 0..{MAX_WORKER_TIMEOUT} seconds "
            f"(lamina.limits.MAX_WORKER_TIMEOUT), got {worker_timeout!r}"
        )
    if name == "local":
        if scheduler is not None:
            raise InputError("--scheduler is only for --executor dask")
        return LocalExecutor(workers)
    if name == "dask":
        from lamina.pipeline.dask import DaskExecutor

        return DaskExecutor(scheduler, workers=workers or 2, worker_timeout=worker_timeout)
    raise InputError(f"executor must be 'local' or 'dask', got {name!r}")
