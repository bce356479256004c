"""Run a validated pipeline: plan what is stored and what must run (and why),
execute the rest, write the outputs that changed, and record the run."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lamina.clitools import Terminated
from lamina.errors import InputError, LaminaError
from lamina.host import get_host
from lamina.io import os_error, remove_stale_parts, write_image, write_json
from lamina.kinds import result_type
from lamina.pipeline import codec
from lamina.pipeline.cache import CACHE, Cache
from lamina.pipeline.config import Pipeline
from lamina.pipeline.display import Mode, RunDisplay
from lamina.pipeline.executors import make_executor
from lamina.pipeline.paths import inside
from lamina.pipeline.plan import Plan, Selection, plan_pipeline
from lamina.pipeline.record import RunLog, write_provenance
from lamina.pipeline.tasks import Task, TaskFailed

__all__ = ["Interrupted", "RunResult", "StepResult", "is_image", "run_pipeline"]


#: Threads writing outputs beside the run. The writes are mostly encoding under the
#: GIL (renames are not synced one by one), so more threads than half the cores only
#: add lock hand-offs: on 2 cores at load 1-2, 2,001 tiny tasks ran at 780-900
#: tasks/s with one writer, 650-790 with 2, 580-650 with 4 and 500-635 with 16
#: (paired runs in one process).
_WRITERS = max(1, min(8, (os.cpu_count() or 2) // 2))

#: Outputs are renamed into place unsynced and made durable together, by one
#: ``os.sync`` before the index that vouches for them is written (a crash before
#: it leaves the old index, so the next run rewrites them). Without ``os.sync``
#: (Windows) each file is synced as it is written.
_SYNC_AT_END = hasattr(os, "sync")


class Interrupted(LaminaError):
    """Ctrl-C (exit status 130) or SIGTERM (143) stopped a run; says what finished
    and what was kept."""

    exit_code = 130

    def __init__(self, message: str, *, terminated: bool = False) -> None:
        super().__init__(message)
        self.word = "terminated" if terminated else "interrupted"
        self.exit_code = 143 if terminated else 130


@dataclass
class StepResult:
    """What one step produced: a value per task, the files written, its work in seconds
    (of the tasks run now and, for reused results, when they were computed)."""

    name: str
    title: str
    values: list[Any] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cached: int = 0
    skipped: str | None = None
    points: list[dict[str, Any]] = field(default_factory=list)  # sweep values per task


@dataclass
class RunResult:
    """A finished run: per-step results and where everything was written."""

    pipeline: Pipeline
    outdir: Path
    steps: dict[str, StepResult]
    executor: str
    seconds: float
    tasks: int
    cached: int
    failures: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline.name,
            "outdir": str(self.outdir),
            "executor": self.executor,
            "seconds": round(self.seconds, 3),
            "tasks": self.tasks,
            "cached": self.cached,
            "failed": len(self.failures),
            "report": str(self.outdir / "report.html"),
            "steps": {
                name: {
                    "tasks": len(step.values),
                    "cached": step.cached,
                    "seconds": round(step.seconds, 3),
                    "skipped": step.skipped,
                    "files": step.files,
                }
                for name, step in self.steps.items()
            },
        }


def _prepare_outdir(outdir: Path) -> None:
    if outdir.exists() and not outdir.is_dir():
        raise InputError(f"output folder {str(outdir)!r} exists and is not a folder")
    try:
        (outdir / CACHE).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise os_error(f"cannot create output folder {str(outdir)!r}", error) from None


def is_image(value: Any) -> bool:
    """A float (H, W) or (H, W, 3|4) array big enough to look at."""
    return (
        isinstance(value, np.ndarray)
        and value.dtype.kind == "f"
        and (value.ndim == 2 or (value.ndim == 3 and value.shape[2] in (3, 4)))
        and min(value.shape[:2]) >= 4
    )


def _tabular(value: Any) -> bool:
    """Whether ``value`` belongs in JSON: not a kind's picture result (a rendering)."""
    found = result_type(value, get_host().kinds())
    return found is None or found.tabular


def _plain(value: Any) -> Any:
    """A JSON-ready copy of small structured values (arrays left out)."""
    if dataclasses.is_dataclass(value) and _tabular(value):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {
            k: _plain(v) for k, v in value.items() if not isinstance(v, np.ndarray) or v.size <= 64
        }
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _write_outputs(outdir: str, stem: str, value: Any) -> list[str]:
    """Write ``value``'s files at ``stem``, a path inside the resolved ``outdir`` (as
    text: a step name has no dot, so a suffix is appended, and string operations cost
    a fraction of pathlib's parsing); returns their names relative to ``outdir``."""
    durable = not _SYNC_AT_END
    kind_result = result_type(value, get_host().kinds())
    own = kind_result.write(value, Path(stem), durable=durable) if kind_result is not None else None
    if own is not None:
        return [str(p.relative_to(outdir)) for p in own]
    if is_image(value):
        written = [stem + ".png", stem + ".npy"]
        write_image(written[0], value, durable=durable)  # clips to [0, 1] itself
        write_image(written[1], value, durable=durable)
    elif isinstance(value, np.ndarray):
        written = [stem + ".npz"]
        codec.dump(written[0], value, durable=durable)
    else:
        try:
            written = [stem + ".json"]
            write_json(written[0], _plain(value), durable=durable)
        except TypeError:
            written = [stem + ".npz"]
            codec.dump(written[0], value, durable=durable)
    start = len(os.path.join(outdir, ""))  # with its separator, even for a root folder
    return [name[start:] for name in written]


def _stat(path: Path) -> list[int] | None:
    try:
        found = path.stat()
    except OSError:
        return None
    return [found.st_size, found.st_mtime_ns]


def _stem(plan: Plan, task: Task) -> str:
    """Where a saved task's files go: ``STEP`` alone, or ``STEP/007`` in a sweep."""
    count = len(plan.tasks[task.step])
    return task.step if count == 1 else f"{task.step}/{task.index:0{max(3, len(str(count - 1)))}d}"


class _Run:
    """The bookkeeping of one run: values, timings, workers, log and display.

    Each finished task's result is stored, and its output files written, on a
    pool of threads, so the disk's waits overlap each other and the work.
    """

    def __init__(self, plan: Plan, log: RunLog, display: RunDisplay, cache: Cache) -> None:
        self.plan, self.log, self.display, self.cache = plan, log, display, cache
        self.pool = ThreadPoolExecutor(max_workers=_WRITERS, thread_name_prefix="lamina-write")
        self.stores: list[tuple[Task, Future[None]]] = []
        self.files: dict[str, Future[list[str]]] = {}  # task label -> its files written
        self.values: dict[str, Any] = dict(plan.stored)
        self.seconds: dict[str, float] = {}
        self.workers: dict[str, str] = {}
        self.failures: list[TaskFailed] = []
        self.sharing: dict[str, list[Task]] = {}
        self.folders: dict[str, str] = {}  # output folder name -> resolved and checked
        self.outdir = str(plan.outdir)
        for step_tasks in plan.tasks.values():
            for task in step_tasks:
                self.sharing.setdefault(task.key, []).append(task)

    def done(self, task: Task, value: Any, seconds: float, worker: str) -> None:
        self.values[task.key] = value
        self.seconds[task.key] = seconds
        self.workers[task.key] = worker
        self.stores.append((task, self.pool.submit(self.cache.store, task.key, value)))
        for same in self.sharing[task.key]:
            if self.plan.pipeline.steps[same.step].save:
                self.write(same, value)
            self.log.task(same, worker=worker, seconds=seconds, stored=False)
            self.display.advance(same.step, seconds, same.label)

    def write(self, task: Task, value: Any) -> None:
        """Write a saved task's files on the pool.

        Each output folder is resolved (and checked to lie inside the output
        folder) at its first write in the run, not for every file: resolving
        a path costs a system call per part of it.
        """
        folder, _, leaf = _stem(self.plan, task).rpartition("/")
        if folder not in self.folders:
            self.folders[folder] = str(
                inside(self.plan.outdir, folder) if folder else self.plan.outdir
            )
        self.files[task.label] = self.pool.submit(
            _write_outputs, self.outdir, os.path.join(self.folders[folder], leaf), value
        )

    def settle(self) -> None:
        """Wait for every result to be stored (those that cannot be are logged)."""
        for task, future in self.stores:
            try:
                future.result()
            except TypeError as error:
                self.log.line(f"task {task.label} result not stored for reuse: {error}")
        self.stores.clear()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.cache.close()

    def failed(self, task: Task, error: TaskFailed) -> None:
        self.failures.append(error)
        self.log.line(f"FAILED {error}")
        if error.detail:
            self.log.line("detail:\n" + error.detail.rstrip())
        self.display.line(f"failed: {error}")

    def note(self, text: str) -> None:
        self.log.line(text)
        self.display.line(text)


def run_pipeline(
    pipeline: Pipeline,
    outdir: str | Path,
    *,
    executor: str = "local",
    scheduler: str | None = None,
    workers: int | None = None,
    progress: bool | Mode | None = None,
    keep_going: bool = False,
    selection: Selection | None = None,
    worker_timeout: float = 60.0,
) -> RunResult:
    """Run ``pipeline`` into ``outdir``; tasks stored by an earlier run with the same
    key are not run again, and outputs that did not change are not rewritten.

    Writes per-step outputs, ``metrics.json``, ``provenance.json`` and
    ``report.html`` atomically, and appends to ``run.log`` as tasks end.
    ``progress``: True a bar, False nothing, None a bar on a terminal and plain
    lines otherwise.
    """
    started = time.perf_counter()
    runner = make_executor(
        executor, scheduler=scheduler, workers=workers, worker_timeout=worker_timeout
    )
    outdir = Path(outdir).expanduser().resolve()
    _prepare_outdir(outdir)
    # Temporary files of a killed run, in every folder (unchanged outputs are
    # not rewritten, so their folders may see no write that would sweep them).
    for folder in [outdir, *(p for p in outdir.rglob("*") if p.is_dir())]:
        remove_stale_parts(folder)
    plan = plan_pipeline(pipeline, outdir, selection=selection)
    cache = Cache(outdir / CACHE)
    mode: Mode | None = "bar" if progress is True else "off" if progress is False else progress
    totals = {name: len(t) for name, t in plan.tasks.items() if name in plan.selected}
    stored_counts = {
        name: sum(1 for t in plan.tasks[name] if t.key in plan.stored) for name in totals
    }
    to_run = [t for ts in plan.tasks.values() for t in ts if t.key in plan.run]
    unique = list({t.key: t for t in to_run}.values())
    log = RunLog(outdir / "run.log")
    base_dir = str((pipeline.source.parent if pipeline.source else Path.cwd()).resolve())
    with RunDisplay(totals, stored_counts, mode) as display:
        run = _Run(plan, log, display, cache)
        log.line(
            f"run {pipeline.name} -> {outdir} on the {executor} executor: "
            f"{sum(map(len, plan.tasks.values()))} tasks, {len(plan.stored)} stored, "
            f"{len(unique)} to run"
        )
        for damage in plan.damaged:
            run.note(f"discarded a damaged stored result, recomputing it: {damage}")
        for name, step in pipeline.steps.items():
            if step.unavailable:
                log.line(f"skip {name}: {step.unavailable}")
        for step_tasks in plan.tasks.values():
            for task in step_tasks:
                if task.key in plan.stored:
                    before = plan.previous["tasks"].get(task.label, {})
                    log.task(
                        task,
                        worker=before.get("worker", "?"),
                        seconds=before.get("seconds", 0.0),
                        stored=True,
                    )
        try:
            if unique:  # a fully stored run starts no executor (no cluster)
                runner.run(unique, plan.stored, run, base_dir, str(outdir), keep_going=keep_going)
        except KeyboardInterrupt as stop:
            kept = len(run.seconds)
            run.settle()
            run.close()
            _finish_index(plan, run, cache, outputs=None)
            terminated = isinstance(stop, Terminated)
            log.line(
                f"{'terminated (SIGTERM)' if terminated else 'interrupted by the user'}; "
                f"{kept} tasks finished this run and were kept"
            )
            log.close()
            raise Interrupted(
                f"{kept} of {len(unique)} tasks to run had finished; their "
                f"results (and {len(plan.stored)} stored before) are kept in {outdir / CACHE}: "
                "rerun to continue",
                terminated=terminated,
            ) from None
        except BaseException as error:
            run.settle()
            run.close()
            _finish_index(plan, run, cache, outputs=None)
            if isinstance(error, TaskFailed) and error.detail:
                log.line(f"FAILED {error}\ndetail:\n{error.detail.rstrip()}")
            else:
                log.line(f"stopped: {type(error).__name__}: {error}")
            log.close()
            raise
    try:
        steps = _step_results(pipeline, plan, run)
        outputs = _write_step_outputs(pipeline, plan, run, steps, outdir)
        run.settle()
        if _SYNC_AT_END and (run.seconds or outputs != plan.previous.get("outputs")):
            os.sync()
        _finish_index(plan, run, cache, outputs=outputs)
        result = RunResult(
            pipeline,
            outdir,
            steps,
            executor,
            time.perf_counter() - started,
            sum(len(t) for t in plan.tasks.values()),
            sum(1 for ts in plan.tasks.values() for t in ts if t.key in plan.stored),
            [str(f) for f in run.failures],
        )
        _write_records(result, plan, run)
        log.line(f"finished in {result.seconds:.2f} s")
    except BaseException as error:
        log.line(f"stopped while writing outputs: {type(error).__name__}: {error}")
        with contextlib.suppress(Exception):
            run.settle()  # results computed are kept even when an output failed
            _finish_index(plan, run, cache, outputs=None)
        raise
    finally:
        run.close()
        log.close()
    if run.failures:
        first = run.failures[0]
        raise TaskFailed(
            f"{len(run.failures)} of {len(unique)} tasks failed or could not run; first: "
            f"{first} (all of them in {outdir / 'run.log'})",
            first.step,
            first.index,
            first.worker,
        )
    return result


def _step_results(pipeline: Pipeline, plan: Plan, run: _Run) -> dict[str, StepResult]:
    steps = {}
    for name, step in pipeline.steps.items():
        result = StepResult(name, step.title or name, skipped=step.unavailable)
        for task in plan.tasks[name]:
            value = run.values.get(task.key)
            result.values.append(value)
            result.points.append(task.point)
            if task.key in run.seconds:
                result.seconds += run.seconds[task.key]
            elif task.key in plan.stored:
                result.cached += 1
                result.seconds += plan.previous["tasks"].get(task.label, {}).get("seconds", 0.0)
        if name not in plan.selected and not any(v is not None for v in result.values):
            result.skipped = result.skipped or "not selected"
        steps[name] = result
    return steps


def _write_step_outputs(
    pipeline: Pipeline, plan: Plan, run: _Run, steps: dict[str, StepResult], outdir: Path
) -> dict[str, Any]:
    """Write each saved task's files unless the same key's files are on disk as
    written; remove files of earlier runs that this run no longer produces."""
    before: dict[str, Any] = plan.previous.get("outputs", {})
    by_task: dict[str, list[str]] = {}
    for relative, entry in before.items():
        by_task.setdefault(entry["task"], []).append(relative)
    outputs: dict[str, Any] = {}
    for name, step in pipeline.steps.items():
        if not step.save:
            continue
        for task in plan.tasks[name]:
            if task.key not in run.values:
                continue
            previous = by_task.get(task.label, [])
            if task.label not in run.files and not (
                previous
                and all(
                    before[r]["key"] == task.key and _stat(outdir / r) == before[r]["stat"]
                    for r in previous
                )
            ):
                run.write(task, run.values[task.key])
            written = run.files.get(task.label)
            files = previous if written is None else written.result()
            steps[task.step].files += files
            for relative in files:
                outputs[relative] = (written is None and before.get(relative)) or {
                    "task": task.label,
                    "key": task.key,
                    "stat": _stat(outdir / relative),
                }
    for relative, entry in before.items():
        step = entry["task"].partition("[")[0]
        if relative in outputs:
            continue
        if step in pipeline.steps and step not in plan.selected:
            outputs[relative] = entry  # not this run's business
            continue
        try:
            target = inside(outdir, relative)
        except InputError:
            continue  # a link inside the folder points out of it: not ours to remove
        if _stat(target) == entry["stat"]:  # ours, unchanged since: a stale output
            with contextlib.suppress(OSError):
                target.unlink()
                if target.parent != outdir and not any(target.parent.iterdir()):
                    target.parent.rmdir()
    return outputs


def _finish_index(plan: Plan, run: _Run, cache: Cache, *, outputs: dict[str, Any] | None) -> None:
    tasks = dict(plan.previous["tasks"])
    for step_tasks in plan.tasks.values():
        for task in step_tasks:
            if task.key in run.seconds:
                seconds, worker = run.seconds[task.key], run.workers[task.key]
            elif task.key in plan.stored:
                before = plan.previous["tasks"].get(task.label, {})
                if before.get("key") == task.key:
                    seconds, worker = before.get("seconds", 0.0), before.get("worker", "?")
                else:
                    seconds, worker = 0.0, "?"
            else:
                continue
            tasks[task.label] = {
                "key": task.key,
                "parts": task.parts,
                "seconds": seconds,
                "worker": worker,
            }
    labels = {t.label for ts in plan.tasks.values() for t in ts}
    index = {
        "tasks": {label: entry for label, entry in tasks.items() if label in labels},
        "outputs": plan.previous["outputs"] if outputs is None else outputs,
    }
    if index != plan.previous:  # a fully stored rerun leaves it as it was
        cache.write_index(index)


def _write_records(result: RunResult, plan: Plan, run: _Run) -> None:
    from lamina.pipeline.report import write_report

    metrics = {
        name: _plain(step.values if len(step.values) != 1 else step.values[0])
        for name, step in result.steps.items()
        if step.values
        and all(isinstance(v, dict) or dataclasses.is_dataclass(v) for v in step.values)
        and all(_tabular(v) for v in step.values)
    }
    write_json(result.outdir / "metrics.json", {"run": result.summary(), "metrics": metrics})
    write_provenance(
        result.outdir / "provenance.json",
        source=result.pipeline.source,
        executor=result.executor,
        tasks=plan.tasks,
        workers=run.workers,
        stored=set(plan.stored),
    )
    write_report(result, result.outdir / "report.html")
