"""The one memory guard: estimate, then check, before any allocation whose size a user chose.

Every output, intermediate buffer, upsampled grid, design matrix or table whose
size follows from a user-given number goes through :func:`check_allocation`
first, so a request that cannot fit fails in well under a second with the size,
the estimate and the fix, instead of swapping for a minute and dying in the
middle of a write.

The budget is the smallest of: the memory available now (``psutil``); what
is left of the process's address-space limit (``ulimit -v``) and of its
container's memory limit (cgroup v2), where either is set; the
``LAMINA_MEMORY_LIMIT`` environment variable (bytes, or a number with a
``K``/``M``/``G``/``T`` suffix, powers of 1024); and a component's own
``memory_limit`` parameter where it has one.

Examples
--------
>>> from lamina.memory import array_bytes, check_allocation
>>> array_bytes((1024, 1024, 4), "float32")
16777216
>>> check_allocation(array_bytes((1024, 1024, 4), "float32"), what="a 1024 x 1024 RGBA image",
...                  fix="choose a smaller size")
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from lamina.errors import InputError

__all__ = [
    "MEMORY_LIMIT_ENV",
    "MemoryLimitError",
    "array_bytes",
    "check_allocation",
    "format_bytes",
    "memory_budget",
    "parse_bytes",
]

MEMORY_LIMIT_ENV = "LAMINA_MEMORY_LIMIT"

_SUFFIXES = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)


class MemoryLimitError(InputError):
    """A requested size needs more memory than lamina may use; raised before allocating."""


def parse_bytes(text: str) -> int:
    """Read a byte count such as ``"1073741824"``, ``"512M"`` or ``"4GiB"``.

    >>> parse_bytes("512M")
    536870912
    """
    match = _SIZE.match(text)
    if match is None:
        raise InputError(
            f"{MEMORY_LIMIT_ENV} must be a byte count such as 4G, 512M or 1073741824, got {text!r}"
        )
    value = float(match.group(1)) * _SUFFIXES[match.group(2).upper()]
    if value < 1:
        raise InputError(f"{MEMORY_LIMIT_ENV} must be at least one byte, got {text!r}")
    return int(value)


def format_bytes(n: float) -> str:
    """Bytes as a short human figure: ``format_bytes(3 * 2**30)`` is ``'3 GiB'``."""
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} B"


#: How long a reading of the machine's memory stands: a pipeline checks every
#: small output it writes, and reading it (psutil, cgroup files) costs up to a
#: millisecond each time. Keyed on LAMINA_MEMORY_LIMIT, so a new setting counts at once.
_REREAD_S = 0.05
#: A request at most this fraction of the last reading's budget is checked against
#: that reading whatever its age: a small fit (CN2 on a few thousand rows, a few
#: milliseconds) would otherwise spend a tenth of its time reading the machine.
_SMALL_REQUEST = 1 / 1024
_recent: tuple[str, float, tuple[tuple[int, str], ...]] | None = None


def memory_budget(
    *, limit: int | None = None, limit_name: str = "memory_limit", request: float | None = None
) -> tuple[int, str]:
    """Bytes lamina may allocate now, and where that figure comes from.

    ``limit`` is a caller's own bound (a component's ``memory_limit``
    parameter, named ``limit_name`` in messages); the budget is the smallest
    of it, ``LAMINA_MEMORY_LIMIT`` and what the machine, the address-space
    limit and the container leave. ``request``, the bytes about to be checked,
    lets a small one reuse the last reading of the machine however old it is
    (``LAMINA_MEMORY_LIMIT`` and ``limit`` always count as they are now).
    """
    configured = os.environ.get(MEMORY_LIMIT_ENV, "").strip()
    now = time.monotonic()
    global _recent
    if (
        _recent is not None
        and _recent[0] == configured
        and (
            now - _recent[1] < _REREAD_S
            or (
                request is not None
                and request <= _SMALL_REQUEST * min(size for size, _ in _recent[2])
            )
        )
    ):
        candidates = list(_recent[2])
    else:
        import psutil

        candidates = [(int(psutil.virtual_memory().available), "the memory available now")]
        candidates += _process_limits()
        if configured:
            candidates.append((parse_bytes(configured), f"{MEMORY_LIMIT_ENV}={configured}"))
        _recent = (configured, now, tuple(candidates))
    if limit is not None:
        candidates.append((int(limit), f"{limit_name}={limit}"))
    # Ties go to the explicit settings (listed last): they are what a user can change.
    return min(reversed(candidates), key=lambda candidate: candidate[0])


def _process_limits() -> list[tuple[int, str]]:
    """What the address-space limit and the container's memory limit leave, where set."""
    found = []
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        unlimited = soft == resource.RLIM_INFINITY
    except (ImportError, OSError, ValueError):  # no such limit on this platform
        unlimited = True
    if not unlimited:
        import psutil

        used = psutil.Process().memory_info().vms
        found.append((max(0, soft - used), "what the address-space limit (ulimit -v) leaves"))
    try:
        maximum = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if maximum != "max":
            current = int(Path("/sys/fs/cgroup/memory.current").read_text())
            found.append(
                (max(0, int(maximum) - current), "what the container's memory limit leaves")
            )
    except (OSError, ValueError):  # no cgroup v2 memory controller here
        pass
    return found


def array_bytes(shape: Iterable[int], dtype: np.typing.DTypeLike = np.float64) -> int:
    """Bytes of an array of that shape and dtype, in exact integer arithmetic (no overflow)."""
    return math.prod(int(n) for n in shape) * np.dtype(dtype).itemsize


def check_allocation(
    nbytes: float,
    *,
    what: str,
    fix: str,
    limit: int | None = None,
    limit_name: str = "memory_limit",
) -> None:
    """Refuse, before allocating, work that needs more than the memory budget.

    Parameters
    ----------
    nbytes : number
        Estimated peak bytes of the work (outputs plus intermediates).
    what : str
        What needs the memory, with the user's sizes, e.g. ``"a 16384 x 16384 render"``.
    fix : str
        What the user can change, e.g. ``"choose a smaller --size"``.
    limit : int, optional
        The caller's own bound in bytes (a component's ``memory_limit``); the
        budget is the smallest of it, ``LAMINA_MEMORY_LIMIT`` and the memory
        available now.
    limit_name : str, default "memory_limit"
        How messages name ``limit``.

    Raises
    ------
    MemoryLimitError
        An :class:`~lamina.InputError` (exit status 2) naming the estimate,
        the budget and the fix.
    """
    budget, source = memory_budget(limit=limit, limit_name=limit_name, request=nbytes)
    if nbytes > budget:
        raise MemoryLimitError(
            f"{what} needs about {format_bytes(nbytes)} of memory, more than the "
            f"{format_bytes(budget)} allowed ({source}); {fix}"
        )
