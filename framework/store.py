"""lamina's one pickle-free store: values as a JSON tree plus named arrays.

Pipeline results (:mod:`lamina.pipeline.codec`), model files
(:mod:`lamina.learn.model_file`) and torch checkpoints (:mod:`lamina.learn.torch`)
all store through this module, so there is one encoding to trust and to harden:

- :func:`encode` / :func:`decode` turn a value into a JSON-able tree whose arrays
  are kept aside by name. Plain data (``None``, bools, numbers, strings, lists,
  tuples, dicts with string keys), NumPy arrays (object arrays of plain values
  too) and the classes a caller allows (dataclasses by their fields, other
  classes by ``to_dict`` / ``from_dict``) can be stored; nothing else, so reading
  a stored value never runs code from the file.
- :func:`pack` / :func:`unpack`: one value as a record of bytes (a JSON header,
  then the arrays' bytes, 64-byte aligned), read without a zip archive.
- :func:`write_file` / :func:`read_file`: a header document and arrays as an
  ``.npz`` archive (member ``__header__``: UTF-8 JSON; one ``a:NAME`` member per
  array), written atomically and read with every member's declared size checked
  against the archive and the memory guard before anything is allocated.
- :func:`describe_file` / :func:`errors_naming`: what goes wrong reading or
  rebuilding a stored file is one :class:`InputError` naming the file.

Examples
--------
>>> import numpy as np
>>> arrays = {}
>>> tree = encode({"w": np.arange(3), "shape": (2, 3)}, arrays, allowed=lambda name: False)
>>> tree
{'__dict__': {'w': {'__array__': 'value.w'}, 'shape': {'__tuple__': [2, 3]}}}
>>> decode(tree, arrays, allowed=lambda name: False)
{'w': array([0, 1, 2]), 'shape': (2, 3)}
"""

from __future__ import annotations

import dataclasses
import importlib
import io
import json
import math
import os
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from lamina.errors import InputError
from lamina.io import atomic_write, read_npy_header
from lamina.memory import MemoryLimitError, check_allocation

__all__ = [
    "HEADER",
    "decode",
    "describe_file",
    "encode",
    "errors_naming",
    "lamina_classes",
    "pack",
    "read_file",
    "unpack",
    "write_file",
]

#: Decides whether a class, named ``"module:qualname"``, may be stored and rebuilt.
Allowed = Callable[[str], bool]

#: The archive member holding a file's header document.
HEADER = "__header__"

_MAGIC = b"LAMINA-RESULT-1\n"
_ALIGN = 64


def lamina_classes(name: str) -> bool:
    """Allow lamina's own classes (module ``lamina.*``): what model files may name."""
    module, _, qualname = name.partition(":")
    return module.startswith("lamina.") and all(part.isidentifier() for part in qualname.split("."))


# -- the tree -------------------------------------------------------------------------
def _name_of(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def encode(
    value: Any, arrays: dict[str, np.ndarray], *, allowed: Allowed, name: str = "value"
) -> Any:
    """``value`` as a JSON-able tree; its arrays are added to ``arrays`` under
    keys derived from ``name`` (``name``, ``name.0``, ``name.key``, ...).

    Raises
    ------
    TypeError
        For a value that cannot be stored (a function, an unknown class, an
        object array holding one, a dict with non-string keys).
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, np.generic):
        return encode(value.item(), arrays, allowed=allowed, name=name)
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            items = [encode(v, arrays, allowed=allowed, name=name) for v in value.ravel().tolist()]
            return {"__objects__": items, "shape": list(value.shape)}
        key = name
        while key in arrays:
            key += "'"
        arrays[key] = value
        return {"__array__": key}
    if isinstance(value, (list, tuple)):
        items = [
            encode(v, arrays, allowed=allowed, name=f"{name}.{i}") for i, v in enumerate(value)
        ]
        return {"__tuple__": items} if isinstance(value, tuple) else items
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("only dicts with string keys can be stored")
        return {
            "__dict__": {
                k: encode(v, arrays, allowed=allowed, name=f"{name}.{k}") for k, v in value.items()
            }
        }
    kind = _name_of(type(value))
    if not allowed(kind):
        raise TypeError(f"{type(value).__name__} values ({kind}) cannot be stored")
    if hasattr(value, "to_dict") and hasattr(type(value), "from_dict"):
        return {
            "__object__": kind,
            "value": encode(value.to_dict(), arrays, allowed=allowed, name=name),
        }
    if dataclasses.is_dataclass(value):
        fields = {
            f.name: encode(getattr(value, f.name), arrays, allowed=allowed, name=f"{name}.{f.name}")
            for f in dataclasses.fields(value)
        }
        return {"__dataclass__": kind, "fields": fields}
    raise TypeError(f"{kind} has neither to_dict/from_dict nor dataclass fields to store")


def _class(name: Any, allowed: Allowed) -> type[Any]:
    if not isinstance(name, str) or not allowed(name):
        raise InputError(f"stored value names type {name!r}, which is not allowed")
    module, _, qualname = name.partition(":")
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    if not isinstance(found, type):
        raise InputError(f"stored value names unknown type {name!r}")
    return found


def decode(tree: Any, arrays: Mapping[str, np.ndarray], *, allowed: Allowed) -> Any:
    """The value :func:`encode` described; :class:`InputError` for a malformed tree
    or a class ``allowed`` refuses."""
    if isinstance(tree, list):
        return [decode(v, arrays, allowed=allowed) for v in tree]
    if not isinstance(tree, dict):
        return tree
    if "__array__" in tree:
        key = tree["__array__"]
        if not isinstance(key, str) or key not in arrays:
            raise InputError(f"stored value names a missing array {key!r}")
        return arrays[key]
    if "__float__" in tree:
        return float(tree["__float__"])
    if "__tuple__" in tree:
        return tuple(decode(v, arrays, allowed=allowed) for v in tree["__tuple__"])
    if "__dict__" in tree:
        return {str(k): decode(v, arrays, allowed=allowed) for k, v in tree["__dict__"].items()}
    if "__objects__" in tree:
        items = [decode(v, arrays, allowed=allowed) for v in tree["__objects__"]]
        result = np.empty(len(items), dtype=object)
        result[:] = items
        return result.reshape([int(n) for n in tree["shape"]])
    if "__object__" in tree:
        return _class(tree["__object__"], allowed).from_dict(
            decode(tree["value"], arrays, allowed=allowed)
        )
    if "__dataclass__" in tree:
        cls = _class(tree["__dataclass__"], allowed)
        if not dataclasses.is_dataclass(cls):
            raise InputError(f"stored value names {tree['__dataclass__']!r}, not a dataclass")
        fields = {k: decode(v, arrays, allowed=allowed) for k, v in tree["fields"].items()}
        init = {f.name for f in dataclasses.fields(cls) if f.init}
        instance = cls(**{k: v for k, v in fields.items() if k in init})
        for key in set(fields) - init:
            object.__setattr__(instance, key, fields[key])
        return instance
    raise InputError(f"malformed stored value with keys {sorted(tree)[:4]}")


# -- records ----------------------------------------------------------------------------
def pack(value: Any, *, allowed: Allowed) -> bytes:
    """``value`` as one record; ``TypeError`` if it cannot be stored.

    >>> unpack(pack({"a": np.arange(3), "b": (1.5, "x")}, allowed=bool), allowed=bool)
    {'a': array([0, 1, 2]), 'b': (1.5, 'x')}
    """
    arrays: dict[str, np.ndarray] = {}
    tree = encode(value, arrays, allowed=allowed)
    layout: dict[str, Any] = {}
    blobs: list[Any] = []  # bytes and arrays' byte views
    offset = 0
    for key, array in arrays.items():
        data = np.asarray(array, order="C")  # ascontiguousarray makes 0-d arrays 1-d
        padding = -offset % _ALIGN
        blobs += [b"\0" * padding, data.reshape(-1).view(np.uint8)]  # join copies it once
        offset += padding
        layout[key] = {"dtype": data.dtype.str, "shape": list(data.shape), "offset": offset}
        offset += data.nbytes
    header = json.dumps({"tree": tree, "arrays": layout}).encode()
    return b"".join([_MAGIC, len(header).to_bytes(8, "little"), header, *blobs])


def unpack(record: bytes, *, allowed: Allowed) -> Any:
    """The value in a :func:`pack` record; ``ValueError`` naming the damage."""
    if not record.startswith(_MAGIC) or len(record) < len(_MAGIC) + 8:
        raise ValueError("not a lamina result record (truncated or another kind of file)")
    start = len(_MAGIC) + 8
    size = int.from_bytes(record[len(_MAGIC) : start], "little")
    if size > len(record) - start:
        raise ValueError(f"header of {size} bytes, but only {len(record) - start} follow")
    try:
        return _unpacked(json.loads(record[start : start + size]), record, start + size, allowed)
    except (KeyError, TypeError, AttributeError, IndexError, RecursionError) as error:
        # Edited or damaged JSON that still parses: its shape is wrong, say where.
        raise ValueError(f"malformed record header: {type(error).__name__}: {error}") from None


def _unpacked(header: Any, record: bytes, start: int, allowed: Allowed) -> Any:
    body = memoryview(record)[start:]
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
    return decode(header["tree"], arrays, allowed=allowed)


# -- files --------------------------------------------------------------------------------
def write_file(
    path: str | os.PathLike[str],
    header: dict[str, Any],
    arrays: Mapping[str, np.ndarray],
    *,
    compress: bool = False,
    durable: bool = True,
) -> None:
    """Write ``header`` (JSON-able, e.g. holding :func:`encode` trees) and ``arrays``
    as an ``.npz`` archive atomically (nothing half-written on failure);
    ``durable`` as :func:`lamina.io.atomic_write`."""
    members: dict[str, Any] = {
        HEADER: np.frombuffer(json.dumps(header).encode(), np.uint8),
        **{f"a:{k}": v for k, v in arrays.items()},
    }
    buffer = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(buffer, **members)
    with atomic_write(path, durable=durable) as handle:
        handle.write(buffer.getbuffer())  # getvalue() would copy the archive


def read_file(
    path: str | os.PathLike[str],
    *,
    kind: str,
    written_by: str,
    earlier_formats: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The header and arrays of a file :func:`write_file` wrote.

    Raises
    ------
    InputError
        Naming the file as ``kind`` (e.g. "model file") for a missing, empty,
        truncated, damaged or oversized file, or one in another format;
        ``written_by`` says what writes such files (e.g. "--save or .save()").
        ``earlier_formats`` maps the end of a member's name that marks a
        format lamina wrote before this store to what to do with such a file.
    """
    source = Path(path)
    what = describe_file(kind, path)
    if source.is_dir():
        raise InputError(f"{what} is a folder; expected a file written by {written_by}")
    if not source.is_file():
        raise InputError(f"{what} does not exist")
    if source.stat().st_size == 0:
        raise InputError(f"{what} is empty")
    with errors_naming(what):
        return _read_archive(source, kind, earlier_formats or {})


def describe_file(kind: str, path: str | os.PathLike[str]) -> str:
    """How errors name a stored file: its kind, then its path as given
    (``model file 'fit/model.npz'``)."""
    return f"{kind} {str(os.fspath(path))!r}"


@contextmanager
def errors_naming(what: str) -> Iterator[None]:
    """Make what goes wrong in the block one :class:`InputError` naming the file ``what``.

    Reading a file, and rebuilding values from what it holds, must fail as an
    :class:`InputError` about the file, whatever a damaged or edited file made the
    code raise. Inside the block:

    - an :class:`InputError` becomes ``"WHAT: MESSAGE"``, of its own class
      (a :class:`~lamina.memory.MemoryLimitError` stays one);
    - a :class:`MemoryError` (the machine ran out, which is no damage) becomes a
      :class:`~lamina.memory.MemoryLimitError` naming the file and the fix;
    - any other exception becomes ``"WHAT is damaged: TYPE: MESSAGE"``;
    - ``KeyboardInterrupt`` and ``SystemExit`` pass unchanged.

    Parameters
    ----------
    what : str
        The file as messages name it, see :func:`describe_file`.
    """
    try:
        yield
    except InputError as error:
        raise _renamed(error, f"{what}: {error}") from None
    except MemoryError as error:
        # Out of memory while rebuilding is this machine's limit, not damage to the file
        # (a damaged header asking for too much may cause it too, hence both fixes).
        detail = f" ({error})" if str(error) else ""
        raise MemoryLimitError(
            f"{what}: not enough memory to read it{detail}; free memory, "
            "or check that the file is one lamina wrote"
        ) from None
    except Exception as error:
        raise InputError(f"{what} is damaged: {type(error).__name__}: {error}") from None


def _renamed(error: InputError, message: str) -> InputError:
    """``error``'s class (e.g. MemoryLimitError) with ``message``, or a plain InputError."""
    try:
        return type(error)(message)
    except TypeError:  # a subclass whose constructor takes other arguments
        return InputError(message)


def _read_archive(
    source: Path, kind: str, earlier_formats: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    if not zipfile.is_zipfile(source):
        raise InputError(f"not a lamina {kind} (not an .npz archive, or truncated)")
    with zipfile.ZipFile(source) as archive:
        members = archive.infolist()
        names = {m.filename for m in members}
        if f"{HEADER}.npy" not in names:
            for marker, fix in earlier_formats.items():
                if any(name.endswith(marker) for name in names):
                    raise InputError(f"written in an earlier lamina format: {fix}")
            raise InputError(f"not a lamina {kind} (no {HEADER})")
        check_allocation(
            sum(m.file_size for m in members),
            what="the arrays of this file",
            fix="check that the file is one lamina wrote; raise LAMINA_MEMORY_LIMIT if it is",
        )
        arrays = {}
        for member in members:
            if not member.filename.endswith(".npy") or member.filename.count(".npy") != 1:
                raise InputError(f"unexpected member {member.filename!r}")
            arrays[member.filename[: -len(".npy")]] = _read_member(archive, member)
    header_array = arrays.pop(HEADER)
    if header_array.dtype != np.uint8 or header_array.ndim != 1:
        raise InputError("its header is not a byte string")
    try:
        header = json.loads(header_array.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise InputError(f"its header is not valid JSON ({error})") from None
    if not isinstance(header, dict):
        raise InputError("its header is not a JSON object")
    prefixed = {k[2:]: v for k, v in arrays.items() if k.startswith("a:")}
    if len(prefixed) != len(arrays):
        raise InputError(f"unexpected members {sorted(set(arrays) - {f'a:{k}' for k in prefixed})}")
    return header, prefixed


def _read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> np.ndarray:
    """One ``.npy`` member, its declared shape checked against its size before reading."""
    with archive.open(member) as handle:
        shape, fortran, dtype = read_npy_header(handle, what=f"member {member.filename!r}")
        declared = math.prod(shape) * dtype.itemsize
        if declared != member.file_size - handle.tell():
            raise InputError(
                f"member {member.filename!r} declares {declared} bytes of data but holds "
                f"{member.file_size - handle.tell()}: the file is truncated or edited"
            )
        data = handle.read()
    array = np.frombuffer(data, dtype=dtype)
    return array.reshape(shape, order="F" if fortran else "C").copy()
