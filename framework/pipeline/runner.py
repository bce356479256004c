"""Run a validated pipeline: skip what is stored, execute the rest, write the outputs."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lamina.errors import InputError
from lamina.io import unpremultiply, write_image, write_json
from lamina.pipeline import codec
from lamina.pipeline.config import Pipeline
from lamina.pipeline.executors import make_executor
from lamina.pipeline.tasks import Task, expand
from lamina.progress import progress_bar
from lamina.types import Rendering

__all__ = ["RunResult", "StepResult", "is_image", "run_pipeline"]

CACHE = ".lamina-cache"


@dataclass
class StepResult:
    """What one step produced: a value per task, the files written, how long it took."""

    name: str
    title: str
    values: list[Any] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cached: int = 0
    skipped: str | None = None


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

    def summary(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline.name,
            "outdir": str(self.outdir),
            "executor": self.executor,
            "seconds": round(self.seconds, 3),
            "tasks": self.tasks,
            "cached": self.cached,
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
        raise InputError(f"cannot create output folder {str(outdir)!r}: {error.strerror}") from None


def is_image(value: Any) -> bool:
    """A float (H, W) or (H, W, 3|4) array big enough to look at."""
    return (
        isinstance(value, np.ndarray)
        and value.dtype.kind == "f"
        and (value.ndim == 2 or (value.ndim == 3 and value.shape[2] in (3, 4)))
        and min(value.shape[:2]) >= 4
    )


def _plain(value: Any) -> Any:
    """A JSON-ready copy of small structured values (arrays left out)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, Rendering):
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


def _write_outputs(outdir: Path, task: Task, single: bool, value: Any) -> list[str]:
    stem = outdir / (task.step if single else f"{task.step}/{task.index:03d}")
    written = []
    if isinstance(value, Rendering):
        write_image(stem.with_suffix(".png"), unpremultiply(value.image))
        np_path = stem.with_suffix(".npy")
        write_image(np_path, value.image)
        write_json(stem.with_suffix(".json"), value.stats.as_dict())
        written += [stem.with_suffix(".png"), np_path, stem.with_suffix(".json")]
    elif is_image(value):
        write_image(stem.with_suffix(".png"), np.clip(value, 0, 1))
        write_image(stem.with_suffix(".npy"), value)
        written += [stem.with_suffix(".png"), stem.with_suffix(".npy")]
    elif isinstance(value, np.ndarray):
        codec.dump(stem.with_suffix(".npz"), value)
        written.append(stem.with_suffix(".npz"))
    else:
        try:
            write_json(stem.with_suffix(".json"), _plain(value))
            written.append(stem.with_suffix(".json"))
        except TypeError:
            codec.dump(stem.with_suffix(".npz"), value)
            written.append(stem.with_suffix(".npz"))
    return [str(p.relative_to(outdir)) for p in written]


def run_pipeline(
    pipeline: Pipeline,
    outdir: str | Path,
    *,
    executor: str = "local",
    scheduler: str | None = None,
    workers: int | None = None,
    progress: bool | None = None,
) -> RunResult:
    """Run ``pipeline`` into ``outdir``; tasks stored by an earlier run with the same
    inputs are not run again. Writes per-step outputs, ``metrics.json``,
    ``run.log`` and ``report.html`` atomically."""
    from lamina.pipeline.report import write_report

    outdir = Path(outdir)
    runner = make_executor(executor, scheduler=scheduler, workers=workers)
    _prepare_outdir(outdir)
    started = time.perf_counter()
    tasks = expand(pipeline)
    steps = {
        name: StepResult(
            name, step.title or name, values=[None] * len(tasks[name]), skipped=step.unavailable
        )
        for name, step in pipeline.steps.items()
    }
    log: list[str] = [
        f"{time.strftime('%Y-%m-%d %H:%M:%S')} run {pipeline.name} -> {outdir} ({executor})"
    ]
    for name, step in pipeline.steps.items():
        if step.unavailable:
            log.append(f"skip {name}: {step.unavailable}")

    known: dict[str, Any] = {}
    to_run: list[Task] = []
    for name, step_tasks in tasks.items():
        for task in step_tasks:
            stored = outdir / CACHE / f"{task.key}.npz"
            if stored.exists():
                known[task.key] = codec.load(stored)
                steps[name].values[task.index] = known[task.key]
                steps[name].cached += 1
                log.append(f"{task.label} stored result {task.key[:12]} reused")
            else:
                to_run.append(task)

    total = sum(len(t) for t in tasks.values())
    base_dir = str(pipeline.source.parent if pipeline.source else Path.cwd())
    try:
        with progress_bar(enabled=progress) as bar:
            handle = bar.add_task(
                f"pipeline {pipeline.name}", total=total, completed=len(known), status=""
            )

            def on_done(task: Task, value: Any, seconds: float) -> None:
                steps[task.step].seconds += seconds
                steps[task.step].values[task.index] = value
                try:
                    codec.dump(outdir / CACHE / f"{task.key}.npz", value)
                except TypeError as error:
                    log.append(f"{task.label} result not stored for reuse: {error}")
                log.append(f"{task.label} done")
                bar.update(handle, advance=1, status=task.label)

            runner.run(to_run, known, on_done, base_dir, str(outdir))
    except BaseException as error:
        log.append(f"{time.strftime('%Y-%m-%d %H:%M:%S')} stopped: {type(error).__name__}: {error}")
        _write_log(outdir, log)
        raise

    for name, step in pipeline.steps.items():
        if step.save:
            for task in tasks[name]:
                steps[name].files += _write_outputs(
                    outdir, task, len(tasks[name]) == 1, steps[name].values[task.index]
                )
    result = RunResult(
        pipeline, outdir, steps, executor, time.perf_counter() - started, total, len(known)
    )
    metrics = {
        name: _plain(step.values if len(step.values) != 1 else step.values[0])
        for name, step in steps.items()
        if step.values
        and all(isinstance(v, dict) or dataclasses.is_dataclass(v) for v in step.values)
        and not any(isinstance(v, Rendering) for v in step.values)
    }
    write_json(outdir / "metrics.json", {"run": result.summary(), "metrics": metrics})
    log.append(f"{time.strftime('%Y-%m-%d %H:%M:%S')} finished in {result.seconds:.2f} s")
    _write_log(outdir, log)
    write_report(result, outdir / "report.html")
    return result


def _write_log(outdir: Path, lines: list[str]) -> None:
    from lamina.io import atomic_write

    with atomic_write(outdir / "run.log", "w") as handle:
        handle.write("\n".join(lines) + "\n")
