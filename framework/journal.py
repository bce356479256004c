"""The files this process is writing and has finished writing.

:func:`lamina.io.atomic_write` records each write here; the command line's
exit path (:func:`lamina.clitools.standalone`) reads it to say, after Ctrl-C,
which files were finished and kept, and to remove the temporary files of the
writes still in progress. It imports nothing heavy, so the ``lamina`` root
can use it at every start-up.
"""

from __future__ import annotations

import collections
import contextlib
import os
from pathlib import Path

__all__ = [
    "begin_write",
    "discard_partial_writes",
    "end_write",
    "record_write",
    "writes_mark",
    "writes_since",
]

_RECENT = 8
_count = 0
_recent: collections.deque[str | os.PathLike[str]] = collections.deque(maxlen=_RECENT)
_in_progress: set[str] = set()


def begin_write(temporary: str) -> None:
    """Note that ``temporary`` is being written (removed if the process must end)."""
    _in_progress.add(temporary)


def end_write(temporary: str) -> None:
    """Note that ``temporary`` is gone: renamed onto its target or removed."""
    _in_progress.discard(temporary)


def record_write(target: str | os.PathLike[str]) -> None:
    """Note that ``target`` was written completely."""
    global _count
    _count += 1
    _recent.append(target)


def discard_partial_writes() -> None:
    """Remove the temporary files of the writes in progress, for a process that is
    about to end without unwinding (see :func:`lamina.clitools.standalone`)."""
    for temporary in list(_in_progress):
        with contextlib.suppress(OSError):
            os.unlink(temporary)


def writes_mark() -> int:
    """A mark to pass to :func:`writes_since` later."""
    return _count


def writes_since(mark: int) -> tuple[int, list[Path]]:
    """How many files were finished since ``mark`` and the last of them (at most 8).

    >>> count, latest = writes_since(writes_mark())
    >>> count, latest
    (0, [])
    """
    count = _count - mark
    return count, [Path(p) for p in list(_recent)[len(_recent) - min(count, _RECENT) :]]
