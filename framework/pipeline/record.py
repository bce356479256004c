"""The record of runs in the output folder: ``run.log``, appended as tasks end
(flushed at least every quarter second; one line per task: step, index, parameters, worker,
seconds, stored or computed), and ``provenance.json``, what the latest run
used (pipeline file hash, versions, git commit, input file hashes, tasks)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from pathlib import Path
from typing import IO, Any

import lamina
from lamina.io import atomic_write
from lamina.pipeline.tasks import Task

__all__ = ["RunLog", "write_provenance"]


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


class RunLog:
    """``run.log``, opened for appending; lines reach the file as tasks end."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = path.open("a", encoding="utf-8")
        self._flushed = 0.0

    def line(self, text: str) -> None:
        if self._handle is not None:
            self._handle.write(f"{_now()} {text}\n")
            # At most a quarter second behind, without one flush per task.
            if time.monotonic() - self._flushed > 0.25:
                self._handle.flush()
                self._flushed = time.monotonic()

    def task(self, task: Task, *, worker: str, seconds: float, stored: bool) -> None:
        values = " ".join(f"{k}={v!r}" for k, v in task.point.items())
        self.line(
            f"task {task.label} {values + ' ' if values else ''}worker={worker!r} "
            f"seconds={seconds:.4f} {'stored' if stored else 'computed'} key={task.key[:12]}"
        )

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def _git_commit(folder: Path) -> str | None:
    try:
        found = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return found.stdout.strip() or None if found.returncode == 0 else None


def write_provenance(
    path: Path,
    *,
    source: Path | None,
    executor: str,
    tasks: dict[str, list[Task]],
    workers: dict[str, str],
    stored: set[str],
) -> None:
    """Write ``provenance.json`` for the run that produced ``tasks``."""
    providers: set[str] = set()
    files: dict[str, str] = {}
    rows = []
    for step_tasks in tasks.values():
        for task in step_tasks:
            files.update(task.parts.get("files", {}))
            rows.append(
                {
                    "task": task.label,
                    "key": task.key,
                    "values": task.point,
                    "params": task.params,
                    "worker": workers.get(task.key, "stored" if task.key in stored else None),
                    "stored": task.key in stored,
                }
            )
    for step_tasks in tasks.values():
        if step_tasks:
            providers.update(step_tasks[0].providers)
    record: dict[str, Any] = {
        "finished": _now(),
        "lamina": lamina.__version__,
        "executor": executor,
        "pipeline": str(source) if source else None,
        "pipeline_sha256": hashlib.sha256(source.read_bytes()).hexdigest()
        if source and source.is_file()
        else None,
        "git_commit": _git_commit(source.parent) if source else None,
        "providers": sorted(providers),
        "input_files": files,
        "tasks": rows,
    }
    text = json.dumps(record, default=str)  # one shot: the C encoder (json.dump's is Python)
    with atomic_write(path, "w") as handle:
        handle.write(text)
