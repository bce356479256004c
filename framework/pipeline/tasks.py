"""Expand validated steps into tasks with content-addressed keys, and run one task.

A task's key hashes what determines its result: the step's operation or
component (with the providing distribution's version), parameters, literal
arguments and the keys of the tasks it reads. A rerun finds a stored result
under the same key and skips the work.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lamina
from lamina.errors import ComponentNotFound, InputError, PluginError
from lamina.host import Host, get_host
from lamina.pipeline.config import InputRef, Pipeline, Step
from lamina.pipeline.operations import Context

__all__ = ["Task", "execute", "expand", "run_task"]


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
    arguments: dict[str, Any]
    inputs: dict[str, tuple[tuple[str, ...], InputRef]]  # argument -> (task keys, reference)
    gpu: bool = False

    @property
    def label(self) -> str:
        return f"{self.step}[{self.index}]"

    @property
    def dependencies(self) -> set[str]:
        return {key for keys, _ in self.inputs.values() for key in keys}


def _version_of(step: Step, host: Host) -> str:
    if step.uses is not None:
        info = host.get(*step.uses)
        return f"{info.distribution}=={info.version}"
    operation = host.operation(step.op or "")
    return f"{operation.distribution}=={operation.version}"


def expand(pipeline: Pipeline, *, host: Host | None = None) -> dict[str, list[Task]]:
    """Tasks per step, in the pipeline's order; unavailable optional steps get none."""
    host = host or get_host()
    tasks: dict[str, list[Task]] = {}
    for step in pipeline.steps.values():
        if step.unavailable is not None:
            tasks[step.name] = []
            continue
        n_items = step.n_tasks // len(step.sweep)
        gpu = step.uses is not None and (
            step.uses[0] == "renderer" or host.get(*step.uses).tags.gpu
        )
        version = _version_of(step, host)
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
                        keys = (upstream[ref.index].key,)
                    inputs[argument] = (keys, ref)
                arguments = {**step.with_, **point["with"]}
                params = {**step.params, **point["params"]}
                identity = {
                    "op": step.op,
                    "uses": step.uses,
                    "call": step.call,
                    "version": version,
                    "lamina": lamina.__version__,
                    "params": params,
                    "arguments": arguments,
                    "inputs": {a: [list(k), r.index, r.path] for a, (k, r) in inputs.items()},
                }
                digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=repr).encode())
                made.append(
                    Task(
                        step.name,
                        item * len(step.sweep) + s,
                        digest.hexdigest(),
                        step.op,
                        step.uses,
                        step.call,
                        params,
                        arguments,
                        inputs,
                        gpu,
                    )
                )
        tasks[step.name] = made
    return tasks


def _select(value: Any, path: tuple[str, ...], ref: InputRef) -> Any:
    for part in path:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif hasattr(value, part):
            value = getattr(value, part)
        else:
            raise InputError(f"input {ref.step!r} has no field {part!r}")
    return value


def execute(task: Task, values: dict[str, Any], base_dir: str, outdir: str) -> Any:
    """Run ``task`` given the results of its dependencies (by task key)."""
    host = get_host()
    arguments = dict(task.arguments)
    for argument, (keys, ref) in task.inputs.items():
        selected = [_select(values[key], ref.path, ref) for key in keys]
        arguments[argument] = selected if ref.index == "*" else selected[0]
    component = None
    if task.uses is not None:
        try:
            component = host.create(*task.uses, **task.params)
        except ComponentNotFound as error:
            import socket

            raise PluginError(
                f"{task.uses[0]} {task.uses[1]!r} is not installed on {socket.gethostname()} "
                f"where task {task.label} runs: install the plugin that provides it there ({error})"
            ) from None
    if task.op is None:
        return getattr(component, task.call or "")(**arguments)
    function = host.operation(task.op).function
    accepted = inspect.signature(function).parameters
    if "component" in accepted:
        arguments["component"] = component
    if "context" in accepted:
        arguments["context"] = Context(Path(base_dir), Path(outdir), task.step, task.index)
    return function(**arguments)


def run_task(task: Task, values: dict[str, Any], base_dir: str, outdir: str) -> tuple[Any, float]:
    """:func:`execute` ``task`` where it runs, and time it there."""
    start = time.perf_counter()
    value = execute(task, values, base_dir, outdir)
    return value, time.perf_counter() - start
