"""Storage of task results through :mod:`lamina.store`, lamina's one pickle-free store.

Only plain data, the result types of the kinds (:attr:`lamina.kinds.Kind.results`)
and an allow-list of other dataclasses can be stored, so opening a cached result
from elsewhere can never run code. Two containers: a :mod:`lamina.store` file
(``.npz``, :func:`dump`, :func:`load`) for files users open, and the runner's
own record (:func:`pack`, :func:`unpack`), a JSON header and the arrays' bytes
in one buffer, read without a zip archive, so 2,000 stored results load in a
fraction of a second. Every size is checked against the bytes really there
before anything is allocated.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from lamina import store
from lamina.errors import InputError
from lamina.host import get_host

__all__ = ["ALLOWED_TYPES", "dump", "load", "pack", "register_type", "unpack"]

RESULT_FORMAT = "lamina-result"
RESULT_VERSION = 1
_KIND = "stored result"

#: "module:qualname" of dataclasses that may be stored besides the kinds' result
#: types; plugins add theirs.
ALLOWED_TYPES: set[str] = set()


def register_type(cls: type) -> type:
    """Allow instances of dataclass ``cls`` in stored results (usable as a decorator)."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls.__name__} is not a dataclass")
    ALLOWED_TYPES.add(f"{cls.__module__}:{cls.__qualname__}")
    return cls


def _allowed(name: str) -> bool:
    return name in ALLOWED_TYPES or any(
        result.target == name for kind in get_host().kinds() for result in kind.results
    )


def pack(value: Any) -> bytes:
    """``value`` as one record (:func:`lamina.store.pack`); ``TypeError`` if it cannot be.

    >>> unpack(pack({"a": np.arange(3), "b": (1.5, "x")}))
    {'a': array([0, 1, 2]), 'b': (1.5, 'x')}
    """
    return store.pack(value, allowed=_allowed)


def unpack(record: bytes) -> Any:
    """The value in a :func:`pack` record; ``ValueError`` naming the damage."""
    return store.unpack(record, allowed=_allowed)


def dump(path: str | Path, value: Any, *, durable: bool = True) -> None:
    """Store ``value`` at ``path`` (an ``.npz``) atomically; ``TypeError`` if it cannot be.

    ``durable``: as :func:`lamina.io.atomic_write`."""
    arrays: dict[str, np.ndarray] = {}
    tree = store.encode(value, arrays, allowed=_allowed)
    header = {"format": RESULT_FORMAT, "version": RESULT_VERSION, "tree": tree}
    store.write_file(path, header, arrays, durable=durable)


def load(path: str | Path) -> Any:
    """Read a value stored by :func:`dump` (no pickle is ever loaded).

    Raises
    ------
    InputError
        Naming the file, for one that is damaged, not a stored result, or written
        in the format before :mod:`lamina.store` (run the pipeline again).
    """
    header, arrays = store.read_file(
        path,
        kind=_KIND,
        written_by="lamina run",
        earlier_formats={"__tree__.npy": "run the pipeline again to write it anew"},
    )
    where = store.describe_file(_KIND, path)
    if header.get("format") != RESULT_FORMAT or header.get("version") != RESULT_VERSION:
        raise InputError(
            f"{where} is not a lamina result of format {RESULT_FORMAT} {RESULT_VERSION} "
            "(run the pipeline again to write it anew)"
        )
    with store.errors_naming(where):
        return store.decode(header["tree"], arrays, allowed=_allowed)
