"""Pickle-free storage of task results: JSON for structure, raw bytes for arrays.

Only plain data, the result types of the kinds (:attr:`lamina.kinds.Kind.results`)
and an allow-list of other dataclasses can be stored, so opening a cached result
from elsewhere can never run code. Two containers:
``.npz`` (:func:`dump`, :func:`load`) for files users open, and the runner's
own record (:func:`pack`, :func:`unpack`), a JSON header and the arrays' bytes
in one buffer, read without a zip archive, so 2,000 stored results load in a
fraction of a second. Every size in a record is checked against the bytes
really there before anything is allocated.
"""

from __future__ import annotations

import dataclasses
import importlib
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from lamina.errors import InputError
from lamina.host import get_host
from lamina.io import atomic_write

__all__ = ["ALLOWED_TYPES", "dump", "load", "pack", "register_type", "unpack"]

_MAGIC = b"LAMINA-RESULT-1\n"
_ALIGN = 64

#: "module:qualname" of dataclasses that may be stored besides the kinds' result
#: types; plugins add theirs.
ALLOWED_TYPES: set[str] = {
    "lamina.scene:Scene",
    "lamina.scene:Camera",
}


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


def _encode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return {"__float__": repr(value)} if not np.isfinite(value) else value
    if isinstance(value, np.generic):
        return _encode(value.item(), arrays)
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise TypeError("object arrays cannot be stored")
        key = f"a{len(arrays)}"
        arrays[key] = value
        return {"__array__": key}
    if isinstance(value, (list, tuple)):
        items = [_encode(v, arrays) for v in value]
        return {"__tuple__": items} if isinstance(value, tuple) else items
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {"__dict__": {k: _encode(v, arrays) for k, v in value.items()}}
        raise TypeError("only dicts with string keys can be stored")
    if dataclasses.is_dataclass(value):
        name = f"{type(value).__module__}:{type(value).__qualname__}"
        if not _allowed(name):
            raise TypeError(f"{name} is not registered with lamina.pipeline.codec.register_type")
        fields = {
            f.name: _encode(getattr(value, f.name), arrays) for f in dataclasses.fields(value)
        }
        return {"__dataclass__": name, "fields": fields}
    raise TypeError(f"{type(value).__name__} values cannot be stored")


def _decode(tree: Any, arrays: Any) -> Any:
    if isinstance(tree, list):
        return [_decode(v, arrays) for v in tree]
    if not isinstance(tree, dict):
        return tree
    if "__array__" in tree:
        return arrays[tree["__array__"]]
    if "__float__" in tree:
        return float(tree["__float__"])
    if "__tuple__" in tree:
        return tuple(_decode(v, arrays) for v in tree["__tuple__"])
    if "__dict__" in tree:
        return {k: _decode(v, arrays) for k, v in tree["__dict__"].items()}
    name = tree["__dataclass__"]
    if not _allowed(name):
        raise InputError(f"stored result names type {name!r}, which is not allowed")
    module, _, qualname = name.partition(":")
    cls = getattr(importlib.import_module(module), qualname)
    fields = {k: _decode(v, arrays) for k, v in tree["fields"].items()}
    init = {f.name for f in dataclasses.fields(cls) if f.init}
    instance = cls(**{k: v for k, v in fields.items() if k in init})
    for key in set(fields) - init:
        object.__setattr__(instance, key, fields[key])
    return instance


def pack(value: Any) -> bytes:
    """``value`` as one record; ``TypeError`` if it cannot be stored.

    >>> unpack(pack({"a": np.arange(3), "b": (1.5, "x")}))
    {'a': array([0, 1, 2]), 'b': (1.5, 'x')}
    """
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(value, arrays)
    layout, offset, blobs = {}, 0, []
    for key, array in arrays.items():
        data = np.ascontiguousarray(array)
        padding = -offset % _ALIGN
        blobs += [b"\0" * padding, data.tobytes()]
        offset += padding
        layout[key] = {"dtype": data.dtype.str, "shape": list(data.shape), "offset": offset}
        offset += data.nbytes
    header = json.dumps({"tree": tree, "arrays": layout}).encode()
    return b"".join([_MAGIC, len(header).to_bytes(8, "little"), header, *blobs])


def unpack(record: bytes) -> Any:
    """The value in a :func:`pack` record; ``ValueError`` naming the damage."""
    if not record.startswith(_MAGIC) or len(record) < len(_MAGIC) + 8:
        raise ValueError("not a lamina result record (truncated or another kind of file)")
    start = len(_MAGIC) + 8
    size = int.from_bytes(record[len(_MAGIC) : start], "little")
    if size > len(record) - start:
        raise ValueError(f"header of {size} bytes, but only {len(record) - start} follow")
    header = json.loads(record[start : start + size])
    body = memoryview(record)[start + size :]
    arrays = {}
    for key, spec in header["arrays"].items():
        dtype = np.dtype(spec["dtype"])
        shape = tuple(int(n) for n in spec["shape"])
        if dtype.hasobject or any(n < 0 for n in shape):
            raise ValueError(f"array {key!r} has dtype {dtype} and shape {shape}")
        count = math.prod(shape)
        end = int(spec["offset"]) + count * dtype.itemsize
        if int(spec["offset"]) < 0 or end > len(body):
            raise ValueError(f"array {key!r} needs bytes up to {end}, the record has {len(body)}")
        arrays[key] = np.frombuffer(body, dtype, count, int(spec["offset"])).reshape(shape).copy()
    return _decode(header["tree"], arrays)


def dump(path: str | Path, value: Any, *, durable: bool = True) -> None:
    """Store ``value`` at ``path`` (an ``.npz``) atomically; ``TypeError`` if it cannot be.

    ``durable``: as :func:`lamina.io.atomic_write`."""
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(value, arrays)
    buffer = io.BytesIO()
    contents: dict[str, Any] = {"__tree__": np.array(json.dumps(tree)), **arrays}
    np.savez(buffer, **contents)
    with atomic_write(path, durable=durable) as handle:
        handle.write(buffer.getvalue())


def load(path: str | Path) -> Any:
    """Read a value stored by :func:`dump` (no pickle is ever loaded)."""
    # Our own handle: numpy leaves its file open when the zip is damaged.
    with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files if key != "__tree__"}
        tree = json.loads(str(data["__tree__"]))
    return _decode(tree, arrays)
