"""lamina's model file: a fitted learner as plain arrays and one JSON document, never pickle.

A model file is a :mod:`lamina.store` file: an ``.npz`` archive holding
``__header__`` (UTF-8 JSON: format, version, class, constructor parameters and
the fitted state, as :func:`lamina.store.encode` trees) and one ``a:NAME`` member
per fitted array. Reading one trusts nothing: every member's declared size is
checked against the archive and the memory guard before anything is allocated,
the header is checked key by key, every class it names must be lamina's own,
and the learner is rebuilt by :meth:`lamina.learn.base.BaseLearner.from_state`,
which checks the parameters and the fitted state (shapes, finite and positive
values) before it is returned. Any damage, truncation, bit flip or edit is one
:class:`InputError` naming the file and what is wrong.

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
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from lamina import store
from lamina.errors import InputError

if TYPE_CHECKING:  # lamina.learn.base imports this module to save
    from lamina.learn.base import BaseLearner

__all__ = [
    "LEARNER_CLASSES",
    "MODEL_FORMAT",
    "MODEL_VERSION",
    "check_fitted_array",
    "load_model",
    "write_model",
]

MODEL_FORMAT = "lamina-model"
#: 2: the state as :mod:`lamina.store` trees (1, before lamina.store, is refused with
#: a message saying to save the model again).
MODEL_VERSION = 2

#: Learner classes by ``"module:qualname"``; :class:`lamina.learn.base.BaseLearner` fills it.
LEARNER_CLASSES: dict[str, type[BaseLearner]] = {}

_KIND = "model file"
_WRITTEN_BY = "--save or .save()"


def write_model(
    path: str | os.PathLike[str],
    *,
    class_name: str,
    params: dict[str, Any],
    state: dict[str, Any],
) -> None:
    """Write a model file atomically (nothing half-written on failure).

    Raises
    ------
    InputError
        When a parameter or fitted value is of a type the store cannot hold.
    """
    arrays: dict[str, np.ndarray] = {}
    owner = class_name.rpartition(":")[2]
    try:
        stored_params = store.encode(params, arrays, allowed=store.lamina_classes, name="params")
    except TypeError as error:
        raise InputError(f"{owner} parameters cannot be saved: {error}") from None
    try:
        stored_state = {
            name: store.encode(value, arrays, allowed=store.lamina_classes, name=name)
            for name, value in state.items()
        }
    except TypeError as error:
        raise InputError(f"{owner} cannot be saved: {error}") from None
    header = {
        "format": MODEL_FORMAT,
        "version": MODEL_VERSION,
        "class": class_name,
        "params": stored_params,
        "state": stored_state,
    }
    store.write_file(path, header, arrays, compress=True)


def load_model(path: str | os.PathLike[str]) -> Any:
    """Read a model written by :meth:`lamina.learn.base.BaseLearner.save`.

    No pickle is ever loaded; every class the file names must be lamina's own.

    Raises
    ------
    InputError
        One error naming the file for anything wrong with it: missing, empty,
        truncated, damaged, edited, too large for memory, an unknown class or
        version, or fitted values that would predict nonsense.
    """
    header, arrays = store.read_file(path, kind=_KIND, written_by=_WRITTEN_BY)
    with store.errors_naming(store.describe_file(_KIND, path)):
        return _rebuild(_check_header(header), arrays)


def _check_header(header: dict[str, Any]) -> dict[str, Any]:
    if header.get("format") != MODEL_FORMAT:
        raise InputError("not a lamina model file (its header names no lamina-model format)")
    version = header.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version != MODEL_VERSION:
        raise InputError(
            f"format version {version!r} is not one this lamina reads ({MODEL_VERSION}); "
            "fit the model and save it again with this version of lamina "
            "(lamina learn ... --save, or .save())"
        )
    for key, kind in (("class", str), ("params", dict), ("state", dict)):
        if not isinstance(header.get(key), kind):
            raise InputError(f"its header's {key!r} is missing or not a {kind.__name__}")
    return header


def _rebuild(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> BaseLearner:
    cls = _learner_class(header["class"])
    params = store.decode(header["params"], arrays, allowed=store.lamina_classes)
    if not isinstance(params, dict):
        raise InputError("its header's 'params' is not a mapping")
    state = {
        name: store.decode(tree, arrays, allowed=store.lamina_classes)
        for name, tree in header["state"].items()
    }
    return cls.from_state(params, state)


def _learner_class(qualified: str) -> type[BaseLearner]:
    cls = LEARNER_CLASSES.get(qualified)
    if cls is not None:
        return cls
    module_name = qualified.partition(":")[0]
    if not store.lamina_classes(qualified):
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
