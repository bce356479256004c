"""One rich progress display on stderr, silent when stderr is not a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["progress_bar", "stderr_console", "track"]

T = TypeVar("T")

stderr_console = Console(stderr=True)


def progress_bar(*, enabled: bool | None = None) -> Progress:
    """A :class:`rich.progress.Progress` on stderr; disabled when stderr is not a tty."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr_console,
        disable=not enabled,
        transient=False,
    )


def track(items: Iterable[T], *, description: str, total: int | None = None) -> Iterator[T]:
    """Iterate ``items`` with a progress bar on stderr."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with progress_bar() as progress:
        task = progress.add_task(description, total=total, status="")
        for item in items:
            yield item
            progress.advance(task)
