"""Tasks on a Dask distributed cluster: an existing one at ``scheduler``, or a
``LocalCluster`` started for the run.

Before any work is sent, every worker is checked: it must import lamina at the
client's version and provide the components and operations the tasks use at
the client's versions. Tasks go only to checked workers, so a worker that joins
later never gets work it cannot do. Tiny tasks travel in chunks (one Dask task
runs several of one step), submitted in one pass and gathered in batches;
upstream results stay on the workers. Failures name
the worker by name and address; a lost scheduler is one clear error saying how
many results were kept.
"""

from __future__ import annotations

import time
from typing import Any

from lamina.errors import InputError, LaminaError, PluginError
from lamina.pipeline.executors import Events, blocked_by, not_run, order_graph
from lamina.pipeline.tasks import Task, TaskFailed, run_chunk

__all__ = ["DaskExecutor", "SchedulerLost"]

#: Seconds a client may stay disconnected before the scheduler counts as lost.
_RECONNECT_GRACE = 5.0


#: At most this many tiny tasks travel as one Dask task (fewer when a step has
#: few: every worker should get several chunks of every step).
_CHUNK = 64


def _chunks(tasks: list[Task], workers: int) -> list[list[Task]]:
    """Consecutive tasks of one step, in groups: a step's tasks never need each other."""
    by_step: dict[str, list[Task]] = {}
    for task in tasks:
        by_step.setdefault(task.step, []).append(task)
    groups = []
    for step_tasks in by_step.values():
        size = max(1, min(_CHUNK, len(step_tasks) // (8 * max(1, workers))))
        groups += [step_tasks[i : i + size] for i in range(0, len(step_tasks), size)]
    return groups


class SchedulerLost(LaminaError):
    """The Dask scheduler went away during a run."""


def _check_worker(expected: dict[str, str]) -> list[str]:
    """Runs on a worker: what it lacks of ``expected`` ("what" -> "distribution==version")."""
    import lamina
    from lamina.host import get_host

    host = get_host()
    problems = []
    if expected["lamina"] != lamina.__version__:
        problems.append(f"lamina {lamina.__version__} (the client has {expected['lamina']})")
    for what, want in expected.items():
        if what == "lamina":
            continue
        kind, _, name = what.partition(" ")
        try:
            if kind == "op":
                found = host.operation(name)
                have = f"{found.distribution}=={found.version}"
            else:
                info = host.get(kind, name)
                if not info.available:
                    problems.append(f"{kind} {name!r} ({info.install_hint})")
                    continue
                have = f"{info.distribution}=={info.version}"
        except LaminaError:
            problems.append(f"{'operation' if kind == 'op' else kind} {name!r}")
            continue
        if have != want:
            problems.append(f"{what} at {have} (the client has {want})")
    return problems


def _expected(tasks: list[Task]) -> dict[str, str]:
    import lamina
    from lamina.host import get_host

    host = get_host()
    expected = {"lamina": lamina.__version__}
    for task in tasks:
        if task.op is not None and f"op {task.op}" not in expected:
            found = host.operation(task.op)
            expected[f"op {task.op}"] = f"{found.distribution}=={found.version}"
        if task.uses is not None and " ".join(task.uses) not in expected:
            info = host.get(*task.uses)
            expected[" ".join(task.uses)] = f"{info.distribution}=={info.version}"
    return expected


class DaskExecutor:
    """Run tasks on Dask distributed (see the module's docstring)."""

    def __init__(
        self, scheduler: str | None = None, *, workers: int = 2, worker_timeout: float = 60.0
    ) -> None:
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise InputError(
                "--executor dask needs Dask distributed: pip install 'lamina[dask]'"
            ) from None
        self.scheduler = scheduler
        self.workers = workers
        self.worker_timeout = worker_timeout

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
        from distributed import Client, LocalCluster

        cluster = None
        where = self.scheduler
        try:
            if self.scheduler is None:
                cluster = LocalCluster(
                    n_workers=self.workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    # A free port: the HTTP server starts even without bokeh.
                    dashboard_address="127.0.0.1:0",
                )
                where = "a LocalCluster"
            try:
                client = Client(self.scheduler or cluster, timeout="20s")
            except (OSError, TimeoutError) as error:
                raise InputError(
                    f"cannot reach the Dask scheduler {self.scheduler}: {error}; "
                    "check the address and that `dask scheduler` runs there"
                ) from None
            try:
                if "dashboard" in client.scheduler_info().get("services", {}):
                    events.note(f"Dask dashboard: {client.dashboard_link}")
                checked = self._checked_workers(client, tasks, events)
                self._run(client, checked, tasks, known, events, base_dir, outdir, keep_going)
            finally:
                # Briefly: a lost scheduler would otherwise be waited for.
                client.close(timeout=2)
        except SchedulerLost as error:
            raise SchedulerLost(f"lost the Dask scheduler {where}: {error}") from None
        finally:
            if cluster is not None:
                cluster.close(timeout=5)

    def _checked_workers(self, client: Any, tasks: list[Task], events: Events) -> list[str]:
        try:
            client.wait_for_workers(1, timeout=self.worker_timeout)
        except TimeoutError:
            raise LaminaError(
                f"no Dask worker joined the scheduler {self.scheduler} within "
                f"{self.worker_timeout:g} s: start one with `dask worker {self.scheduler}`, "
                "or wait longer with --worker-timeout SECONDS"
            ) from None
        expected = _expected(tasks)
        report = client.run(_check_worker, expected, on_error="return")
        for _ in range(5):
            # A worker still connecting answers with a closed stream: ask it again.
            unreachable = [a for a, r in report.items() if isinstance(r, OSError)]
            if not unreachable:
                break
            time.sleep(0.5)
            report.update(
                client.run(_check_worker, expected, workers=unreachable, on_error="return")
            )
        names = {a: w.get("name", a) for a, w in client.scheduler_info()["workers"].items()}
        good, problems = [], []
        for address, found in sorted(report.items()):
            who = f"worker {names.get(address, address)!r} ({address})"
            if isinstance(found, BaseException):
                problems.append(f"{who} cannot run lamina: {type(found).__name__}: {found}")
            elif found:
                problems.append(f"{who} lacks {', '.join(found)}")
            else:
                good.append(address)
        if not good:
            raise PluginError(
                "; ".join(problems) + ": install lamina and those plugins on every worker"
            )
        for problem in problems:
            events.note(f"{problem}: it gets no tasks")
        return good

    def _run(
        self,
        client: Any,
        checked: list[str],
        tasks: list[Task],
        known: dict[str, Any],
        events: Events,
        base_dir: str,
        outdir: str,
        keep_going: bool,
    ) -> None:
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        _, children = order_graph(tasks, known)
        place = {"workers": checked, "allow_other_workers": False}
        holder: dict[str, Any] = {}  # task key -> future of the chunk that computes it
        stored = sorted({k for t in tasks for k in t.dependencies if k in known})
        if stored:
            # Stored results travel once, shaped like a chunk's result.
            scattered = client.scatter(
                {f"lamina-stored-{k}": {k: ("done", known[k], 0.0, "stored")} for k in stored},
                workers=checked,
            )
            holder.update({k: scattered[f"lamina-stored-{k}"] for k in stored})
        chunks: dict[str, list[Task]] = {}
        for chunk in _chunks(tasks, len(checked)):
            needs = {k: holder[k] for t in chunk for k in t.dependencies}
            first, last = chunk[0], chunk[-1]
            future = client.submit(
                run_chunk,
                chunk,
                needs,
                base_dir,
                outdir,
                key=f"lamina-{first.step}-{first.index}-{last.index}-{first.key[:16]}",
                pure=False,
                **place,
            )
            holder.update({t.key: future for t in chunk})
            chunks[future.key] = chunk
        pending = as_completed(
            list({id(f): f for f in holder.values() if f.key in chunks}.values())
        )
        settled: set[str] = set()
        away_since: float | None = None

        def failed(task: Task, error: TaskFailed) -> None:
            if not keep_going:
                raise error
            settled.add(task.key)
            events.failed(task, error)
            for child in blocked_by(task, children):
                if child.key not in settled:
                    settled.add(child.key)
                    events.failed(child, not_run(child, task))

        def take(futures: list[Any]) -> None:
            """Gather the chunks ``futures`` and settle their tasks; a cluster that
            cannot give them back is a lost scheduler."""
            try:
                gathered = client.gather(futures) if futures else []
            except Exception as error:
                line = (str(error).splitlines() or [""])[0]
                raise SchedulerLost(f"{type(error).__name__}: {line}") from None
            for future, results in zip(futures, gathered, strict=True):
                for task in chunks[future.key]:
                    if task.key in settled:
                        continue
                    outcome = results[task.key]
                    if outcome[0] == "done":
                        settled.add(task.key)
                        events.done(task, *outcome[1:])
                    else:
                        failed(task, outcome[1])

        try:
            while not pending.is_empty():
                if not pending.has_ready():
                    if client.status != "running":
                        away_since = away_since or time.monotonic()
                        if time.monotonic() - away_since > _RECONNECT_GRACE:
                            raise SchedulerLost("the client lost its connection")
                    else:
                        away_since = None
                    time.sleep(0.01)
                    continue
                batch = pending.next_batch(block=False)
                take([f for f in batch if f.status == "finished"])
                for future in batch:
                    if future.status == "finished":
                        continue
                    if future.status == "cancelled":
                        raise SchedulerLost(f"{chunks[future.key][0].label} was cancelled")
                    for task in chunks[future.key]:
                        if task.key not in settled:
                            failed(task, self._failure(task, future.exception(), KilledWorker))
            # A chunk whose result was lost with its worker as it was gathered can leave
            # as_completed with its tasks unsettled (1 run in 3 with a worker killed
            # mid-run returned a task with no value and no failure): gathered again,
            # which waits for the recomputation; what still has no outcome stops the run.
            lost = [holder[t.key] for t in tasks if t.key not in settled]
            take(list({id(f): f for f in lost}.values()))
            unsettled = sum(1 for t in tasks if t.key not in settled)
            if unsettled:
                raise SchedulerLost(f"{unsettled} tasks came back with no outcome")
        except SchedulerLost as error:
            raise SchedulerLost(
                f"{error}; {len(settled)} of {len(tasks)} tasks had finished and their "
                "results were kept: rerun to compute the rest"
            ) from None
        except BaseException:
            client.cancel(list(holder.values()), force=True)
            raise

    @staticmethod
    def _failure(task: Task, error: BaseException, killed: type) -> TaskFailed:
        if isinstance(error, TaskFailed):
            return error
        if isinstance(error, killed):
            return TaskFailed(
                f"{task.described} failed: the workers running it died every time "
                f"(last: {getattr(error, 'last_worker', None) or error})",
                task.step,
                task.index,
            )
        return TaskFailed(
            f"{task.described} failed on the cluster: {type(error).__name__}: {error}",
            task.step,
            task.index,
        )
