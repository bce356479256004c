"""lamina's model file: a fitted learner as plain arrays and one JSON document, never pickle.

A model file is an ``.npz`` archive holding ``__header__`` (UTF-8 JSON: format,
version, class, constructor parameters and a description of the fitted state)
and one ``.npy`` member per fitted array. Reading one trusts nothing: every
member's declared size is checked against the archive and the memory guard
before anything is allocated, the header is checked key by key, the class must
be a lamina learner, and the rebuilt model checks its own fitted state
(shapes, finite and positive values) with ``_check_state`` before it is
returned. Any damage, truncation, bit flip or edit is one :class:`InputError`
naming the file and what is wrong.

Examples
--------
>>> import numpy as np, tempfile, os
>>> from lamina.plugins.bayes.gaussian import GaussianNB
>>> from lamina.learn.model_file import load_model
>>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
>>> GaussianNB().fit([[0.0], [1.0], [5.0], [6.0]], [0, 0, 1, 1]).save(path)
>>> load_model(path).predict([[5.5]])
array([1])
"""

from __future__ import annotations

import importlib
import io
import json
import math
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from lamina.errors import InputError
from lamina.io import atomic_write, read_npy_header
from lamina.memory import check_allocation

__all__ = [
    "LEARNER_CLASSES",
    "MODEL_FORMAT",
    "MODEL_VERSION",
    "check_fitted_array",
    "decode_state",
    "encode_state",
    "load_model",
    "write_model",
]

MODEL_FORMAT = "lamina-model"
MODEL_VERSION = 1

#: Learner classes by ``"module:qualname"``; :class:`lamina.learn.base.BaseLearner` fills it.
LEARNER_CLASSES: dict[str, type] = {}

_HEADER = "__header__"


# -- writing -----------------------------------------------------------------------------
def json_default(value: Any) -> Any:
    """JSON for NumPy scalars, arrays and tuples (``json.dumps(..., default=)``)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": value.dtype.str}
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def encode_state(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Fitted attributes as a JSON-able description and the arrays it names."""
    meta: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    for name, value in values.items():
        _store(name, value, meta, arrays)
    return meta, arrays


def write_model(
    path: str | os.PathLike[str],
    *,
    class_name: str,
    params: dict[str, Any],
    meta: dict[str, Any],
    arrays: dict[str, np.ndarray],
) -> None:
    """Write a model file atomically (nothing half-written on failure)."""
    header = {
        "format": MODEL_FORMAT,
        "version": MODEL_VERSION,
        "class": class_name,
        "params": params,
        "state": meta,
    }
    header_bytes = np.frombuffer(json.dumps(header, default=json_default).encode(), np.uint8)
    members: dict[str, Any] = {_HEADER: header_bytes, **{f"a:{k}": v for k, v in arrays.items()}}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **members)
    with atomic_write(path) as handle:
        handle.write(buffer.getvalue())


def _store(name: str, value: Any, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "O":
            meta[name] = {"object_array": [_plain(v) for v in value.tolist()], "shape": value.shape}
        else:
            arrays[name] = value
            meta[name] = {"array": name}
    elif isinstance(value, list) and value and all(isinstance(v, np.ndarray) for v in value):
        keys = []
        for i, item in enumerate(value):
            sub = f"{name}.{i}"
            _store(sub, item, meta, arrays)
            keys.append(sub)
        meta[name] = {"list": keys}
    elif hasattr(value, "to_dict") and hasattr(type(value), "from_dict"):
        meta[name] = {
            "object": f"{type(value).__module__}:{type(value).__qualname__}",
            "value": value.to_dict(),
        }
    elif isinstance(value, list) and value and all(hasattr(v, "to_dict") for v in value):
        kind = type(value[0])
        meta[name] = {
            "objects": f"{kind.__module__}:{kind.__qualname__}",
            "value": [v.to_dict() for v in value],
        }
    else:
        meta[name] = {"value": _plain(value)}


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise InputError(f"cannot save a value of type {type(value).__name__}")


# -- reading -----------------------------------------------------------------------------
def load_model(path: str | os.PathLike[str]) -> Any:
    """Read a model written by :meth:`lamina.learn.base.BaseLearner.save`.

    No pickle is ever loaded; the class must be a lamina learner (module
    ``lamina.*``) or one already imported.

    Raises
    ------
    InputError
        One error naming the file for anything wrong with it: missing, empty,
        truncated, damaged, edited, too large for memory, an unknown class or
        version, or fitted values that would predict nonsense.
    """
    source = Path(path)
    where = f"model file {str(source)!r}"
    if source.is_dir():
        raise InputError(f"{where} is a folder; expected a file written by --save or .save()")
    if not source.is_file():
        raise InputError(f"{where} does not exist")
    if source.stat().st_size == 0:
        raise InputError(f"{where} is empty")
    try:
        header, arrays = _read_archive(source)
        return _rebuild(header, arrays)
    except InputError as error:
        raise _renamed(error, f"{where}: {error}") from None
    except Exception as error:
        raise InputError(f"{where} is damaged: {type(error).__name__}: {error}") from None


def _renamed(error: InputError, message: str) -> InputError:
    """``error``'s class (e.g. MemoryLimitError) with ``message``, or a plain InputError."""
    try:
        return type(error)(message)
    except TypeError:  # a subclass whose constructor takes other arguments
        return InputError(message)


def _read_archive(source: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    if not zipfile.is_zipfile(source):
        raise InputError("not a lamina model file (not an .npz archive, or truncated)")
    with zipfile.ZipFile(source) as archive:
        members = archive.infolist()
        names = [m.filename for m in members]
        if f"{_HEADER}.npy" not in names:
            raise InputError("not a lamina model file (no __header__)")
        check_allocation(
            sum(m.file_size for m in members),
            what="the arrays of this model file",
            fix="check that the file is a lamina model; raise LAMINA_MEMORY_LIMIT if it is",
        )
        arrays = {}
        for member in members:
            if not member.filename.endswith(".npy") or member.filename.count(".npy") != 1:
                raise InputError(f"unexpected member {member.filename!r}")
            arrays[member.filename[: -len(".npy")]] = _read_member(archive, member)
    header_array = arrays.pop(_HEADER)
    if header_array.dtype != np.uint8 or header_array.ndim != 1:
        raise InputError("its header is not a byte string")
    try:
        header = json.loads(header_array.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise InputError(f"its header is not valid JSON ({error})") from None
    prefixed = {k[2:]: v for k, v in arrays.items() if k.startswith("a:")}
    if len(prefixed) != len(arrays):
        raise InputError(f"unexpected members {sorted(set(arrays) - {f'a:{k}' for k in prefixed})}")
    return _check_header(header), prefixed


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


def _check_header(header: Any) -> dict[str, Any]:
    if not isinstance(header, dict) or header.get("format") != MODEL_FORMAT:
        raise InputError("not a lamina model file (its header names no lamina-model format)")
    version = header.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version != MODEL_VERSION:
        raise InputError(
            f"format version {version!r} is not one this lamina reads ({MODEL_VERSION}); "
            "save the model again with this version of lamina"
        )
    for key, kind in (("class", str), ("params", dict), ("state", dict)):
        if not isinstance(header.get(key), kind):
            raise InputError(f"its header's {key!r} is missing or not a {kind.__name__}")
    return header


def _rebuild(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
    cls: Any = _learner_class(header["class"])
    params = {k: _from_json(v) for k, v in header["params"].items()}
    known = set(cls._get_param_names())
    unknown = sorted(set(params) - known)
    if unknown:
        raise InputError(f"{cls.__name__} has no parameter(s) {unknown}")
    model = cls(**params)
    model.validate_params()
    model._set_state(header["state"], arrays)
    model._check_fitted()
    model._check_state()
    return model


def _learner_class(qualified: str) -> type:
    cls = LEARNER_CLASSES.get(qualified)
    if cls is not None:
        return cls
    module_name, _, qualname = qualified.partition(":")
    if not module_name.startswith("lamina.") or not qualname.isidentifier():
        raise InputError(f"names class {qualified!r}, which is not a lamina learner")
    try:
        importlib.import_module(module_name)
    except ImportError as error:
        raise InputError(
            f"names class {qualified!r}, whose module cannot be imported: {error}"
        ) from None
    cls = LEARNER_CLASSES.get(qualified)
    if cls is None:
        raise InputError(f"names unknown class {qualified!r}")
    return cls


def _from_json(value: Any) -> Any:
    if isinstance(value, dict) and "__ndarray__" in value:
        return np.asarray(value["__ndarray__"], dtype=np.dtype(value["dtype"]))
    return value


def decode_state(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """Fitted attributes from the description written by :func:`encode_state`."""
    out: dict[str, Any] = {}
    nested = {
        k for entry in meta.values() if isinstance(entry, dict) for k in entry.get("list", ())
    }
    for name, entry in meta.items():
        if name in nested:
            continue
        if not name.isidentifier():
            raise InputError(f"state names an attribute {name!r}")
        out[name] = _restore_one(name, entry, meta, arrays, depth=0)
    return out


_ENTRY_KINDS = (
    {"array"},
    {"object_array", "shape"},
    {"list"},
    {"object", "value"},
    {"objects", "value"},
    {"value"},
)


def _restore_one(
    name: str, entry: Any, meta: dict[str, Any], arrays: dict[str, np.ndarray], depth: int
) -> Any:
    if not isinstance(entry, dict) or set(entry) not in _ENTRY_KINDS or depth > 1:
        raise InputError(f"state entry {name!r} is malformed")
    if "array" in entry:
        if entry["array"] not in arrays:
            raise InputError(f"state entry {name!r} names a missing array {entry['array']!r}")
        return arrays[entry["array"]]
    if "object_array" in entry:
        result = np.empty(len(entry["object_array"]), dtype=object)
        result[:] = entry["object_array"]
        return result.reshape(entry["shape"])
    if "list" in entry:
        return [_restore_one(k, meta.get(k), meta, arrays, depth + 1) for k in entry["list"]]
    if "object" in entry:
        return _trusted_class(entry["object"]).from_dict(entry["value"])
    if "objects" in entry:
        kind = _trusted_class(entry["objects"])
        return [kind.from_dict(v) for v in entry["value"]]
    if "value" in entry:
        return entry["value"]
    raise InputError(f"state entry {name!r} is malformed")


def _trusted_class(qualified: Any) -> Any:
    """A class named in a model file, accepted only from lamina's own modules."""
    module_name, _, qualname = str(qualified).partition(":")
    if not module_name.startswith("lamina.") or not qualname.isidentifier():
        raise InputError(f"names a class outside lamina: {qualified!r}")
    module = importlib.import_module(module_name)
    kind = getattr(module, qualname, None)
    if kind is None or not hasattr(kind, "from_dict"):
        raise InputError(f"names an unknown class {qualified!r}")
    return kind


# -- checks of fitted state -------------------------------------------------------------------
def check_fitted_array(
    value: Any,
    what: str,
    shape: tuple[int, ...] | None = None,
    *,
    low: float | None = None,
    high: float | None = None,
    strict: bool = False,
    finite: bool = True,
) -> np.ndarray:
    """``value`` (a fitted attribute, described by ``what``) as a real array of
    ``shape`` (``-1`` = any length), without NaN, infinite only where ``finite``
    is false, and within ``[low, high]`` (``(low, high]`` with ``strict``); else
    :class:`InputError` saying what is wrong.

    >>> import numpy as np
    >>> check_fitted_array(np.ones((2, 3)), "var_ of GaussianNB", (2, -1), low=0, strict=True).shape
    (2, 3)
    """
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
        raise InputError(f"fitted {what} must be a numeric array, got {type(value).__name__}")
    if shape is not None and (
        value.ndim != len(shape)
        or any(s not in (-1, v) for s, v in zip(shape, value.shape, strict=True))
    ):
        raise InputError(f"fitted {what} has shape {value.shape}, expected {shape} (-1: any)")
    data = value.astype(np.float64, copy=False)
    if np.isnan(data).any() or (finite and np.isinf(data).any()):
        raise InputError(f"fitted {what} holds NaN or infinity")
    too_low = low is not None and bool(np.any(data <= low) if strict else np.any(data < low))
    if too_low or (high is not None and bool(np.any(data > high))):
        bounds = [f"{'>' if strict else '>='} {low:g}"] if low is not None else []
        bounds += [f"<= {high:g}"] if high is not None else []
        raise InputError(f"fitted {what} must be {' and '.join(bounds)}")
    return value
