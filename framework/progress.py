"""Progress on stderr: a rich bar on a terminal; otherwise (a log file, CI) a plain
line at most every few seconds, so long work is never silent and short work quiet."""

from __future__ import annotations

import sys
import time
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

__all__ = ["LINE_EVERY", "progress_bar", "stderr_console", "track"]

T = TypeVar("T")

stderr_console = Console(stderr=True)

#: Seconds between two plain progress lines when stderr is not a terminal.
LINE_EVERY = 5.0


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
    """Iterate ``items`` with a progress bar on stderr (plain lines off a terminal).

    >>> list(track(range(3), description="counting"))
    [0, 1, 2]
    """
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    if not sys.stderr.isatty():
        yield from _lines(items, description=description, total=total)
        return
    with progress_bar() as progress:
        task = progress.add_task(description, total=total, status="")
        for item in items:
            yield item
            progress.advance(task)


def _lines(items: Iterable[T], *, description: str, total: int | None) -> Iterator[T]:
    last = time.monotonic()
    for done, item in enumerate(items, start=1):
        yield item
        # The last item needs no line: the command's own output follows it.
        if done != total and time.monotonic() - last >= LINE_EVERY:
            last = time.monotonic()
            of = f"/{total}" if total is not None else ""
            sys.stderr.write(f"lamina: {description}: {done}{of} done\n")
            sys.stderr.flush()
