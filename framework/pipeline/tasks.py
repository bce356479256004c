"""Expand validated steps into tasks with content-addressed keys, and run one task.

A task's key hashes everything its result depends on: the step's operation and
component with the distributions and versions that provide them, lamina's
version, the parameters, the literal arguments, the bytes of every file the
task reads, and the keys of the tasks whose results it takes. Change any of
them and exactly the tasks that depend on it get new keys; a rerun finds the
others stored and skips them.

A task is run the same way wherever it runs: arriving arrays are normalised
(native byte order, C order, 64-byte aligned) and randomness is seeded from
the key, so a result is bit-identical on every executor and after any retry.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import inspect
import json
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import lamina
from lamina.errors import ComponentNotFound, LaminaError, PluginError
from lamina.host import Host, get_host
from lamina.pipeline.config import InputRef, Pipeline, Step
from lamina.pipeline.operations import Context

__all__ = ["Task", "TaskFailed", "execute", "expand", "normalised", "run_chunk", "run_task"]

#: Where a task ran, when it ran in this process.
LOCAL_WORKER = "local"


class TaskFailed(LaminaError):
    """A task raised: names the step, the task index, its sweep values and the worker.

    ``detail`` holds the traceback for ``run.log``; the exception travels from
    Dask workers intact (it is rebuilt from plain values, never by class lookup
    of the original error).
    """

    exit_code = 1

    def __init__(
        self, message: str, step: str = "", index: int = -1, worker: str = "", detail: str = ""
    ) -> None:
        super().__init__(message)
        self.step, self.index, self.worker, self.detail = step, index, worker, detail

    def __reduce__(self) -> tuple[Any, ...]:
        return (TaskFailed, (str(self), self.step, self.index, self.worker, self.detail))


@dataclass(frozen=True)
class Task:
    """One unit of work; everything in it is plain data, so it travels to Dask workers."""

    step: str
    index: int
    key: str
    op: str | None
    uses: tuple[str, str] | None
    call: str | None
    params: dict[str, Any]
    arguments: dict[str, Any]  # input file paths resolved, as the task will see them
    inputs: dict[str, tuple[tuple[str, ...], InputRef]]  # argument -> (task keys, reference)
    gpu: bool = False
    retries: int = 0
    point: dict[str, Any] = field(default_factory=dict)  # sweep values (and mapped item)
    parts: dict[str, Any] = field(default_factory=dict)  # a digest per part the key covers
    providers: tuple[str, ...] = ()  # "what: distribution==version" of its op and component

    @property
    def label(self) -> str:
        return f"{self.step}[{self.index}]"

    @property
    def described(self) -> str:
        """``step 'moved' task 3 (dy=2.0, dx=0.0)``, for messages."""
        values = ", ".join(f"{k}={v!r}" for k, v in self.point.items())
        return f"step {self.step!r} task {self.index}" + (f" ({values})" if values else "")

    @property
    def dependencies(self) -> set[str]:
        return {key for keys, _ in self.inputs.values() for key in keys}

    @property
    def seed(self) -> int:
        """A 63-bit seed from the key: the same wherever and however often it runs."""
        return int(self.key[:16], 16) >> 1


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


class _FileDigests:
    """sha256 of each file's bytes, read once per run however many tasks read it."""

    def __init__(self) -> None:
        self._known: dict[Path, str] = {}

    def __call__(self, path: Path) -> str:
        path = path.resolve()
        if path not in self._known:
            digest = hashlib.sha256()
            try:
                with path.open("rb") as handle:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(block)
                self._known[path] = digest.hexdigest()
            except OSError as error:
                # The task reports the missing file; its key must still differ.
                self._known[path] = f"unreadable: {error.strerror}"
        return self._known[path]


def _providers(step: Step, host: Host) -> list[str]:
    """``distribution==version`` of the operation and of the component a step uses."""
    providers = []
    if step.op is not None:
        operation = host.operation(step.op)
        providers.append(f"op {step.op}: {operation.distribution}=={operation.version}")
    if step.uses is not None:
        info = host.get(*step.uses)
        providers.append(f"{step.uses[0]} {step.uses[1]}: {info.distribution}=={info.version}")
    return providers


def _file_arguments(step: Step, host: Host) -> tuple[set[str], Any]:
    """The step's arguments that name input files, and its ``reads`` hook (if any)."""
    if step.op is None:
        return set(), None
    operation = host.operation(step.op)
    paths = {p.name for p in operation.parameters if p.annotation is Path}
    return paths, getattr(operation.function, "reads", None)


def expand(
    pipeline: Pipeline, *, base_dir: Path | None = None, host: Host | None = None
) -> dict[str, list[Task]]:
    """Tasks per step, in the pipeline's order; unavailable optional steps get none.

    ``base_dir`` (default: the pipeline file's folder) is where relative input
    paths are resolved, here on the client, before any task is sent anywhere.
    """
    host = host or get_host()
    if base_dir is None:
        base_dir = pipeline.source.parent if pipeline.source else Path.cwd()
    base_dir = base_dir.resolve()
    digests = _FileDigests()
    tasks: dict[str, list[Task]] = {}
    for step in pipeline.steps.values():
        if step.unavailable is not None:
            tasks[step.name] = []
            continue
        n_items = step.n_tasks // len(step.sweep)
        gpu = step.uses is not None and (
            host.kind(step.uses[0]).exclusive or host.get(*step.uses).tags.gpu
        )
        providers = tuple(_providers(step, host))
        code = _digest(
            {"providers": providers, "lamina": lamina.__version__, "op": step.op}
            | {"uses": step.uses, "call": step.call}
        )
        path_arguments, reads = _file_arguments(step, host)
        made = []
        for item in range(n_items):
            for s, point in enumerate(step.sweep):
                inputs = {}
                for argument, ref in step.inputs.items():
                    upstream = tasks[ref.step]
                    if ref.index == "*":
                        keys = tuple(t.key for t in upstream)
                    elif ref.index is None:
                        keys = (upstream[item if argument in step.mapped_over else 0].key,)
                    else:
                        keys = (upstream[int(ref.index)].key,)
                    inputs[argument] = (keys, ref)
                written = {**step.with_, **point["with"]}
                params = {**step.params, **point["params"]}
                arguments = {
                    a: base_dir / v if a in path_arguments else v for a, v in written.items()
                }
                files = [arguments[a] for a in sorted(path_arguments & arguments.keys())]
                if reads is not None:
                    files += list(reads(written, base_dir))
                parts = {
                    "code": code,
                    "params": _digest(params),
                    "arguments": _digest(written),
                    # Relative names: the project folder can move without a rerun.
                    "files": {_shown(f, base_dir): digests(f) for f in files},
                    "inputs": _digest(
                        {a: [list(k), r.index, r.path] for a, (k, r) in inputs.items()}
                    ),
                }
                shown = {**point["with"], **point["params"]}
                if step.mapped_over:
                    # An item of a swept step is known by that step's sweep values.
                    source = step.inputs[step.mapped_over[0]].step
                    shown = {**(tasks[source][item].point or {"item": item}), **shown}
                made.append(
                    Task(
                        step.name,
                        item * len(step.sweep) + s,
                        _digest(parts),
                        step.op,
                        step.uses,
                        step.call,
                        params,
                        arguments,
                        inputs,
                        gpu,
                        step.retries,
                        shown,
                        parts,
                        providers,
                    )
                )
        tasks[step.name] = made
    return tasks


def _shown(path: Path, base_dir: Path) -> str:
    resolved = path.resolve()
    return str(resolved.relative_to(base_dir)) if resolved.is_relative_to(base_dir) else str(path)


def _aligned(array: np.ndarray) -> np.ndarray:
    """``array`` in native byte order, C order, at a 64-byte aligned address."""
    dtype = array.dtype.newbyteorder("=") if array.dtype.byteorder not in "=|" else array.dtype
    if (
        dtype == array.dtype
        and array.flags.c_contiguous
        and (array.size == 0 or array.ctypes.data % 64 == 0)
    ):
        return array
    buffer = np.empty(array.nbytes + 64, np.uint8)
    offset = -buffer.ctypes.data % 64
    result = buffer[offset : offset + array.nbytes].view(dtype).reshape(array.shape)
    result[...] = array
    return result


def normalised(value: Any) -> Any:
    """``value`` with every array in it :func:`_aligned` (containers copied as needed)."""
    if isinstance(value, np.ndarray):
        return _aligned(value) if value.dtype != object else value
    if isinstance(value, dict):
        return {k: normalised(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(normalised(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        moved = copy.copy(value)
        for item in dataclasses.fields(value):
            object.__setattr__(moved, item.name, normalised(getattr(value, item.name)))
        return moved
    return value


def _select(value: Any, path: tuple[str, ...], ref: InputRef) -> Any:
    for part in path:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif hasattr(value, part):
            value = getattr(value, part)
        else:
            raise LaminaError(f"input {ref.step!r} has no field {part!r}")
    return value


@functools.lru_cache(maxsize=256)
def _accepted(function: Any) -> frozenset[str]:
    """The argument names of an operation (read once per process)."""
    return frozenset(inspect.signature(function).parameters)


def execute(task: Task, values: dict[str, Any], base_dir: str, outdir: str) -> Any:
    """Run ``task`` given the results of its dependencies (by task key)."""
    host = get_host()
    arguments = dict(task.arguments)
    for argument, (keys, ref) in task.inputs.items():
        selected = [normalised(_select(values[key], ref.path, ref)) for key in keys]
        arguments[argument] = selected if ref.index == "*" else selected[0]
    component = None
    if task.uses is not None:
        try:
            component = host.create(*task.uses, **task.params)
        except ComponentNotFound as error:
            raise PluginError(
                f"{task.uses[0]} {task.uses[1]!r} is not installed where the task runs: "
                f"install the plugin that provides it there ({error})"
            ) from None
    if task.op is None:
        return getattr(component, task.call or "")(**arguments)
    function = host.operation(task.op).function
    accepted = _accepted(function)
    if "component" in accepted:
        arguments["component"] = component
    if "context" in accepted:
        arguments["context"] = Context(
            Path(base_dir), Path(outdir), task.step, task.index, task.seed
        )
    return function(**arguments)


def run_task(
    task: Task, values: dict[str, Any], base_dir: str, outdir: str, worker: str = LOCAL_WORKER
) -> tuple[Any, float, str]:
    """:func:`execute` ``task``; returns (result, seconds, worker) or raises
    :class:`TaskFailed` naming the task, its sweep values and ``worker``."""
    start = time.perf_counter()
    try:
        value = execute(task, values, base_dir, outdir)
    except Exception as error:
        reason = (
            str(error) if isinstance(error, LaminaError) else f"{type(error).__name__}: {error}"
        )
        raise TaskFailed(
            f"{task.described} failed on {worker}: {reason}",
            task.step,
            task.index,
            worker,
            "".join(traceback.format_exception(error)),
        ) from None
    return value, time.perf_counter() - start, worker


def run_chunk(
    tasks: list[Task], upstream: dict[str, dict[str, tuple[Any, ...]]], base_dir: str, outdir: str
) -> dict[str, tuple[Any, ...]]:
    """On a Dask worker: run ``tasks`` (independent of each other) one by one.

    ``upstream[key]`` is the result of the chunk holding dependency ``key``.
    Returns, by task key, ``("done", value, seconds, worker)`` or ``("failed",
    TaskFailed)``; a task is retried here up to its ``retries``, and one whose
    input failed is not run.
    """
    from distributed import get_worker

    here = get_worker()
    worker = f"worker {here.name!r} ({here.address})"
    results: dict[str, tuple[Any, ...]] = {}
    for task in tasks:
        outcomes = {key: upstream[key][key] for key in task.dependencies}
        failed = [key for key, outcome in outcomes.items() if outcome[0] != "done"]
        if failed:
            cause = outcomes[failed[0]][1]
            results[task.key] = (
                "failed",
                TaskFailed(
                    f"{task.described} was not run: it needs {cause.step}[{cause.index}], "
                    "which failed",
                    task.step,
                    task.index,
                ),
            )
            continue
        values = {key: outcome[1] for key, outcome in outcomes.items()}
        for attempt in range(task.retries + 1):
            try:
                results[task.key] = ("done", *run_task(task, values, base_dir, outdir, worker))
                break
            except TaskFailed as error:
                results[task.key] = ("failed", error)
                if attempt < task.retries:
                    continue
    return results
