"""Inputs from any array library (torch, CuPy, JAX, ...) through the array API standard.

A learner that supports the standard computes on a foreign array in that
array's own namespace and on its device, and returns its results there, so a
torch tensor on a GPU never visits the host for the heavy work. NumPy arrays,
lists and scipy sparse matrices are not "foreign": they take each learner's
NumPy path unchanged. ``array_api_compat`` is imported only when a foreign
array arrives.

Examples
--------
>>> import numpy as np
>>> from lamina.array_api import foreign_namespace
>>> foreign_namespace(np.ones((2, 2))) is None
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lamina.errors import InputError

__all__ = [
    "check_foreign_array",
    "device_of",
    "foreign_namespace",
    "host",
    "labels_at",
    "logsumexp",
    "numpy_dtype",
    "to_namespace",
    "to_numpy",
    "work_dtype",
]


def foreign_namespace(*arrays: Any) -> Any | None:
    """The array-API namespace of the non-NumPy arrays among ``arrays``, or ``None``.

    Raises
    ------
    InputError
        If the arrays come from two different libraries (or devices).
    """
    foreign = [a for a in arrays if _is_foreign(a)]
    if not foreign:
        return None
    import array_api_compat

    try:
        return array_api_compat.array_namespace(*foreign)
    except TypeError as error:
        raise InputError(f"inputs mix array libraries: {error}") from None


def _is_foreign(array: Any) -> bool:
    if array is None or isinstance(array, (np.ndarray, np.generic, list, tuple)):
        return False
    if hasattr(array, "tocsr") or hasattr(array, "iloc"):  # scipy sparse, pandas
        return False
    module = type(array).__module__.partition(".")[0]
    return hasattr(array, "__array_namespace__") or module in {"torch", "cupy", "jax", "jaxlib"}


def to_numpy(array: Any) -> np.ndarray:
    """A foreign array copied to the host as a NumPy array (a no-op for NumPy input)."""
    if isinstance(array, np.ndarray) or not _is_foreign(array):
        return np.asarray(array)
    import array_api_compat

    if array_api_compat.is_torch_array(array):
        return array.detach().cpu().numpy()
    if array_api_compat.is_cupy_array(array):
        return array.get()
    return np.asarray(array)


def host(value: Any) -> Any:
    """A foreign array copied to NumPy; anything else (lists, DataFrames, None) unchanged."""
    return to_numpy(value) if _is_foreign(value) else value


def numpy_dtype(array: Any) -> np.dtype:
    """The NumPy dtype matching ``array``'s (NumPy or foreign)."""
    if isinstance(array, np.ndarray):
        return array.dtype
    return to_numpy(array[:0, :0] if array.ndim == 2 else array[:0]).dtype


def device_of(array: Any) -> Any:
    """The device a foreign array lives on."""
    import array_api_compat

    return array_api_compat.device(array)


def work_dtype(xp: Any, device: Any) -> Any:
    """float64 where the device has it (CPU, CUDA), else float32 (Apple MPS)."""
    try:
        supported = xp.__array_namespace_info__().dtypes(device=device)
    except (AttributeError, TypeError):
        return xp.float64
    return xp.float64 if "float64" in supported else xp.float32


def to_namespace(value: Any, xp: Any, device: Any, dtype: Any = None) -> Any:
    """A NumPy array (or number) as an array of ``xp`` on ``device``."""
    return xp.asarray(np.asarray(value), device=device, dtype=dtype)


def check_foreign_array(
    X: Any,
    xp: Any,
    *,
    name: str = "X",
    owner: str = "",
    non_negative: bool = False,
    allow_nan: bool = False,
) -> Any:
    """Validate a 2-D foreign array without moving it: shape, real dtype, finite
    values (and non-negative ones where asked; NaN where allowed, as missing
    values); return it as a floating array.

    Raises
    ------
    InputError
        Naming the argument, what was expected and what came.
    """
    import array_api_compat

    who = f" for {owner}" if owner else ""
    if X.ndim != 2:
        raise InputError(
            f"Expected 2D array for {name}{who}, got {X.ndim}D array instead (shape "
            f"{tuple(X.shape)}); reshape it with X.reshape(-1, 1) or X.reshape(1, -1)"
        )
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise InputError(
            f"{name}{who} is empty (shape {tuple(X.shape)}); expected rows and columns"
        )
    if xp.isdtype(X.dtype, "complex floating"):
        raise InputError(f"Complex data not supported: {name}{who} is complex")
    if not xp.isdtype(X.dtype, "real floating"):
        if not xp.isdtype(X.dtype, ("integral", "bool")):
            raise InputError(f"{name}{who} has unsupported dtype {X.dtype}; expected numbers")
        X = xp.astype(X, work_dtype(xp, array_api_compat.device(X)))
    finite = xp.isfinite(X) | (xp.isnan(X) if allow_nan else xp.zeros_like(X, dtype=xp.bool))
    if not bool(xp.all(finite)):
        row, column = (int(i) for i in np.argwhere(~to_numpy(finite))[0])
        value = float(to_numpy(X[row, column]))
        kind = "NaN" if value != value else "infinity"
        raise InputError(f"Input {name}{who} contains {kind} (first at index ({row}, {column}))")
    if non_negative and bool(xp.any(X < 0)):
        row, column = (int(i) for i in np.argwhere(to_numpy(X < 0))[0])
        raise InputError(
            f"Negative values in data passed to {owner} (input X): values must be >= 0, but "
            f"X[{row}, {column}] = {float(to_numpy(X[row, column]))}"
        )
    return X


def labels_at(classes: np.ndarray, indices: Any, xp: Any) -> Any:
    """``classes[indices]`` for class indices in ``xp``: in ``xp`` on their device when
    the labels are numbers or booleans, a NumPy array for text labels (which have no
    array-API dtype; scikit-learn does the same)."""
    labels = classes[to_numpy(indices)]
    if labels.dtype.kind not in "iufb":
        return labels
    return xp.asarray(labels, device=device_of(indices))


def logsumexp(a: Any, xp: Any) -> Any:
    """Row-wise ``log(sum(exp(a)))`` without overflow, in ``a``'s namespace."""
    top = xp.max(a, axis=1, keepdims=True)
    top = xp.where(xp.isfinite(top), top, xp.zeros_like(top))
    return xp.log(xp.sum(xp.exp(a - top), axis=1)) + top[:, 0]
