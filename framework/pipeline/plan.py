"""Plan a run: which steps are selected, which tasks are stored, and why each
other task must run (new, forced, or which part of its key changed)."""

from __future__ import annotations

import difflib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lamina.errors import ConfigError
from lamina.pipeline.cache import CACHE, MISSING, Cache
from lamina.pipeline.config import Pipeline
from lamina.pipeline.tasks import Task, expand

__all__ = ["Plan", "Selection", "plan_pipeline"]


@dataclass(frozen=True)
class Selection:
    """Which steps run: ``only`` these; ``start`` (``--from``) and what follows;
    up ``to`` these and what they need; ``force`` reruns these and what follows."""

    only: tuple[str, ...] = ()
    start: tuple[str, ...] = ()
    to: tuple[str, ...] = ()
    force: tuple[str, ...] = ()

    def resolve(self, pipeline: Pipeline) -> tuple[set[str], set[str]]:
        """(steps selected to run, steps forced to rerun)."""
        names = list(pipeline.steps)
        for option, given in (
            ("--only", self.only),
            ("--from", self.start),
            ("--to", self.to),
            ("--force", self.force),
        ):
            for name in given:
                if name not in pipeline.steps:
                    close = difflib.get_close_matches(name, names, n=1)
                    hint = (
                        f"; did you mean {close[0]!r}?" if close else f"; steps: {', '.join(names)}"
                    )
                    raise ConfigError(f"{option} {name!r} names no step{hint}")
        after = _descendants(pipeline)
        before = _ancestors(pipeline)
        selected = set(names)
        if self.only:
            selected = set(self.only)
        if self.start:
            selected &= set().union(*({s} | after[s] for s in self.start))
        if self.to:
            selected &= set().union(*({s} | before[s] for s in self.to))
        forced = set().union(*({s} | after[s] for s in self.force)) if self.force else set()
        return selected, forced


def _descendants(pipeline: Pipeline) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {name: set() for name in pipeline.steps}
    for name in reversed(list(pipeline.steps)):  # topological order, reversed
        for ref in pipeline.steps[name].inputs.values():
            found[ref.step] |= {name} | found[name]
    return found


def _ancestors(pipeline: Pipeline) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for name, step in pipeline.steps.items():
        found[name] = set().union(*({r.step} | found[r.step] for r in step.inputs.values()))
    return found


@dataclass
class Plan:
    """What a run would do: stored results, tasks to run with the reason for each."""

    pipeline: Pipeline
    outdir: Path
    tasks: dict[str, list[Task]]
    stored: dict[str, Any]  # task key -> value (True when values were not loaded)
    run: dict[str, str]  # task key -> why it runs
    selected: set[str]
    damaged: list[str]
    previous: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        steps = {}
        for name, step_tasks in self.tasks.items():
            reasons = Counter(self.run[t.key] for t in step_tasks if t.key in self.run)
            stored = sum(1 for t in step_tasks if t.key in self.stored)
            steps[name] = {
                "tasks": len(step_tasks),
                "stored": stored,
                "run": sum(reasons.values()),
                "left": len(step_tasks) - stored - sum(reasons.values()),
                "why": dict(reasons),
                "skipped": self.pipeline.steps[name].unavailable,
            }
        return {
            "pipeline": self.pipeline.name,
            "outdir": str(self.outdir),
            "tasks": sum(len(t) for t in self.tasks.values()),
            "stored": len(self.stored),
            "run": len(self.run),
            "steps": steps,
        }


def _why(task: Task, before: dict[str, Any] | None, damaged: bool) -> str:
    if before is None:
        return "new task"
    if before.get("key") == task.key:
        return "stored result was damaged" if damaged else "stored result is missing"
    old = before.get("parts", {})
    now = task.parts
    changed = [
        label
        for part, label in (
            ("code", "plugin, lamina or operation"),
            ("params", "parameters"),
            ("arguments", "arguments"),
            ("inputs", "upstream results"),
        )
        if old.get(part) != now[part]
    ]
    changed += [
        f"input file {name}"
        for name, digest in now["files"].items()
        if old.get("files", {}).get(name) != digest
    ]
    return "changed: " + ", ".join(changed) if changed else "new task"


def plan_pipeline(
    pipeline: Pipeline,
    outdir: str | Path,
    *,
    selection: Selection | None = None,
    load: bool = True,
) -> Plan:
    """What :func:`run_pipeline` would do; with ``load`` false, stored results are
    only looked for (a dry run), not read."""
    outdir = Path(outdir).expanduser().resolve()
    selected, forced = (selection or Selection()).resolve(pipeline)
    cache = Cache(outdir / CACHE)
    previous = cache.read_index()
    tasks = expand(pipeline)
    stored: dict[str, Any] = {}
    reasons: dict[str, str] = {}
    by_key: dict[str, Task] = {}
    for name, step_tasks in tasks.items():
        for task in step_tasks:
            if task.key in by_key:
                continue
            by_key[task.key] = task
            if name in forced:
                reasons[task.key] = "forced (--force)"
                continue
            value = cache.load(task.key) if load else (True if cache.has(task.key) else MISSING)
            if value is not MISSING:
                stored[task.key] = value
            else:
                before = previous["tasks"].get(task.label)
                reasons[task.key] = _why(
                    task, before, any(d.startswith(task.key) for d in cache.damaged)
                )
    if load:
        cache.repair()  # damage is reported once: what was found goes now
    run: dict[str, str] = {}
    wanted = [t for t in by_key.values() if t.step in selected and t.key in reasons]
    while wanted:
        task = wanted.pop()
        if task.key in run:
            continue
        run[task.key] = reasons[task.key]
        for key in task.dependencies - stored.keys():
            needed = by_key[key]
            if needed.step not in selected:
                if selection is not None and selection.only:
                    raise ConfigError(
                        f"--only {task.step}: it needs {needed.label}, which has no stored "
                        f"result in {outdir}: run without --only, or with --to {task.step}"
                    )
                reasons[key] = f"needed by {task.step}; {reasons[key]}"
            wanted.append(needed)
    return Plan(pipeline, outdir, tasks, stored, run, selected, cache.damaged, previous)
