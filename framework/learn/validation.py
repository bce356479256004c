"""Input validation for learners, without importing scikit-learn: arrays, targets,
sample weights and parameter values checked as scikit-learn checks them, with
bad data turned into :class:`lamina.InputError` (exit 2 on the command line), and
the two scores (accuracy, R²) the learners report.

Errors and warnings that scikit-learn's checks look for by class
(:class:`NotFittedError`, :class:`DataConversionWarning`) are made subclasses of
scikit-learn's own when scikit-learn is already loaded, so lamina's learners
drop into scikit-learn while lamina never imports it.
"""

from __future__ import annotations

import numbers
import sys
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from lamina.errors import InputError, LaminaError

__all__ = [
    "DataConversionWarning",
    "InputTypeError",
    "NotFittedError",
    "accuracy",
    "assert_finite",
    "check_array",
    "check_classification_targets",
    "check_consistent_length",
    "check_is_fitted",
    "check_number",
    "check_regression_target",
    "check_sample_weight",
    "feature_names_of",
    "logsumexp",
    "not_fitted_error",
    "r2_score",
]


class NotFittedError(LaminaError, ValueError, AttributeError):
    """A learner was used before ``fit``.

    When scikit-learn is loaded, the error raised is an instance of a subclass
    that also derives from ``sklearn.exceptions.NotFittedError``, so
    scikit-learn's own checks recognise it.
    """


class InputTypeError(InputError, TypeError):
    """Bad input of the wrong Python type (e.g. a dict in a numeric array).

    Both an :class:`lamina.InputError` and a :class:`TypeError`, because that is
    what NumPy and scikit-learn raise for values that are not numbers.
    """


class DataConversionWarning(UserWarning):
    """Input was converted, e.g. a column-vector ``y`` was flattened.

    Named as scikit-learn's warning so that code filtering it by name keeps working.
    """


_SKLEARN_TWINS: dict[type, type] = {}


def _sklearn_twin(cls: type) -> type:
    """``cls``, or (when scikit-learn is loaded) a subclass of ``cls`` that also
    derives from scikit-learn's class of the same name, so that scikit-learn's
    ``except`` clauses and warning filters recognise lamina's errors and
    warnings while lamina never imports scikit-learn itself."""
    exceptions = sys.modules.get("sklearn.exceptions")
    if exceptions is None:
        return cls
    twin = _SKLEARN_TWINS.get(cls)
    if twin is None:
        twin = type(
            cls.__name__,
            (cls, getattr(exceptions, cls.__name__)),
            {"__module__": __name__, "__doc__": cls.__doc__},
        )
        _SKLEARN_TWINS[cls] = twin
    return twin


def not_fitted_error() -> type[NotFittedError]:
    """The class to raise for a learner used before ``fit``: :class:`NotFittedError`,
    or its twin that also derives from scikit-learn's when scikit-learn is loaded."""
    return _sklearn_twin(NotFittedError)


def check_is_fitted(estimator: Any, attributes: str | Sequence[str] | None = None) -> None:
    """Raise :class:`NotFittedError` unless ``estimator`` has been fitted.

    Parameters
    ----------
    estimator : learner
        The learner to check.
    attributes : str or sequence of str, optional
        Fitted attributes that must exist; by default any attribute ending
        in ``_`` (``n_features_in_`` is set by every lamina ``fit``).
    """
    if attributes is None:
        fitted = any(k.endswith("_") and not k.startswith("__") for k in vars(estimator))
    else:
        names = [attributes] if isinstance(attributes, str) else list(attributes)
        fitted = all(hasattr(estimator, name) for name in names)
    if not fitted:
        raise not_fitted_error()(
            f"This {type(estimator).__name__} instance is not fitted yet. Call 'fit' "
            "with appropriate arguments before using this estimator."
        )


# -- parameter checks ---------------------------------------------------------
def check_number(
    name: str,
    value: Any,
    *,
    integer: bool = False,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    owner: str = "",
) -> None:
    """Raise :class:`InputError` unless parameter ``name`` is a number in range."""
    kind = "an integer" if integer else "a number"
    allowed = numbers.Integral if integer else numbers.Real
    where = f" of {owner}" if owner else ""
    if isinstance(value, bool) or not isinstance(value, allowed):
        raise InputError(
            f"parameter {name!r}{where} must be {kind}, got {value!r} ({type(value).__name__})"
        )
    number = float(value)
    if not np.isfinite(number):
        raise InputError(f"parameter {name!r}{where} must be finite, got {value!r}")
    too_low = low is not None and (number < low if low_inclusive else number <= low)
    too_high = high is not None and (number > high if high_inclusive else number >= high)
    if too_low or too_high:
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        interval = f"{'[' if low_inclusive and low is not None else '('}{lo}, {hi}"
        interval += "]" if high_inclusive and high is not None else ")"
        raise InputError(f"parameter {name!r}{where} must be in {interval}, got {value!r}")


# -- data checks ----------------------------------------------------------------
def _is_sparse(X: Any) -> bool:
    # scipy.sparse objects all have ``format`` and ``tocsr``; no import needed.
    return hasattr(X, "tocsr") and hasattr(X, "format") and hasattr(X, "nnz")


def _is_dataframe(X: Any) -> bool:
    return hasattr(X, "columns") and hasattr(X, "dtypes") and hasattr(X, "iloc")


def feature_names_of(X: Any) -> np.ndarray | None:
    """Column names of a DataFrame-like ``X`` when they are all strings, else ``None``."""
    if not _is_dataframe(X):
        return None
    names = np.asarray(list(X.columns), dtype=object)
    if len(names) and all(isinstance(n, str) for n in names):
        return names
    return None


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def check_array(
    X: Any,
    *,
    name: str = "X",
    dtype: Any = "numeric",
    accept_sparse: bool = False,
    allow_nan: bool = False,
    check_finite: bool = True,
    min_samples: int = 1,
    min_features: int = 1,
    owner: str = "",
) -> Any:
    """Validate a 2-D input and return it as an ndarray (or CSR matrix).

    Parameters
    ----------
    X : array-like or sparse matrix
        The data.
    dtype : "numeric", None, dtype or tuple of dtypes
        ``"numeric"`` keeps float32/float64 and converts everything else to
        float64; a tuple keeps any listed dtype and converts to the first;
        ``None`` keeps the data as it is (objects included, for tables).
    accept_sparse : bool
        Accept scipy sparse matrices (returned as CSR).
    allow_nan : bool
        Accept NaN (missing values); infinity is always rejected for numbers.
    check_finite : bool
        False leaves the NaN / infinity check to the caller, who must call
        :func:`assert_finite` when its result is not finite (saves a pass over
        the data where NaN and infinity propagate into the result anyway).
    min_samples, min_features : int
        Smallest accepted shape.

    Raises
    ------
    InputError
        For every kind of bad input, with the argument named.
    """
    who = f" for {owner}" if owner else ""
    if X is None:
        raise InputError(f"{name}{who} is None; expected a 2-D array-like")
    if _is_sparse(X):
        if not accept_sparse:
            raise InputError(
                f"{name}{who} is a sparse matrix, but sparse input is not supported; "
                "convert it with X.toarray()"
            )
        X = X.tocsr()
        if X.ndim != 2:
            raise InputError(f"sparse {name}{who} must be 2-D, got shape {X.shape}")
        data = _numeric(X.data, name, dtype, who)
        if data is not X.data:
            X = X.copy()
            X.data = data
        if np.iscomplexobj(X.data):
            raise InputError(f"Complex data not supported: {name}{who} is complex")
        _check_shape(X.shape, name, who, min_samples, min_features)
        if check_finite:
            _check_finite(X.data, name, who, allow_nan)
        return X
    if _is_dataframe(X):
        X = X.to_numpy(dtype=object if dtype is None else None)
    array = _numeric(X, name, dtype, who) if dtype is not None else _as_object_array(X)
    if np.iscomplexobj(array):
        raise InputError(f"Complex data not supported: {name}{who} is complex")
    if array.ndim != 2:
        if array.ndim < 2:
            raise InputError(
                f"Expected 2D array for {name}{who}, got {array.ndim}D array instead "
                f"(shape {_shape_text(array.shape)}). Reshape your data either using "
                "array.reshape(-1, 1) if your data has a single feature or "
                "array.reshape(1, -1) if it contains a single sample."
            )
        raise InputError(f"{name}{who} must be 2-D, got shape {_shape_text(array.shape)}")
    _check_shape(array.shape, name, who, min_samples, min_features)
    if check_finite and array.dtype.kind in "fc":
        _check_finite(array, name, who, allow_nan)
    return array


def assert_finite(X: Any, *, name: str = "X", owner: str = "", allow_nan: bool = False) -> None:
    """Raise :class:`InputError` naming the first NaN or infinity in ``X``
    (an array or sparse matrix validated with ``check_finite=False``)."""
    values = X.data if _is_sparse(X) else np.asarray(X)
    if values.dtype.kind in "fc":
        _check_finite(values, name, f" for {owner}" if owner else "", allow_nan)


def _as_object_array(X: Any) -> np.ndarray:
    array = np.asarray(X)
    if array.dtype.kind == "c":
        raise InputError("Complex data not supported")
    return array


def _numeric(X: Any, name: str, dtype: Any, who: str) -> np.ndarray:
    try:
        array = np.asarray(X)
    except (TypeError, ValueError) as error:  # ragged lists, unconvertible objects
        raise InputError(f"{name}{who} cannot be read as an array: {error}") from None
    if array.dtype.kind == "c":
        raise InputError(f"Complex data not supported: {name}{who} is complex")
    allowed: tuple[Any, ...]
    if dtype == "numeric":
        allowed = (np.float64, np.float32)
    elif isinstance(dtype, tuple):
        allowed = dtype
    else:
        allowed = (dtype,)
    if any(array.dtype == np.dtype(d) for d in allowed):
        return array
    if array.dtype.kind in "USO" or array.dtype.kind == "T":
        try:
            return array.astype(allowed[0])
        except TypeError as error:
            raise InputTypeError(
                f"{name}{who} holds values that are not numbers ({error}); "
                "this learner needs numeric input"
            ) from None
        except ValueError as error:
            raise InputError(
                f"{name}{who} holds values that are not numbers ({error}); this learner "
                "needs numeric input (categorical data: use categorical-nb, mixed-nb or cn2)"
            ) from None
    if array.dtype.kind not in "biuf":
        raise InputError(f"{name}{who} has unsupported dtype {array.dtype}")
    return array.astype(allowed[0])


def _check_shape(
    shape: tuple[int, ...], name: str, who: str, min_samples: int, min_features: int
) -> None:
    if shape[0] < min_samples:
        raise InputError(
            f"Found array with {shape[0]} sample(s) (shape={_shape_text(shape)}) while a "
            f"minimum of {min_samples} is required: {name}{who} is empty"
        )
    if len(shape) > 1 and shape[1] < min_features:
        raise InputError(
            f"Found array with {shape[1]} feature(s) (shape={_shape_text(shape)}) while a "
            f"minimum of {min_features} is required: {name}{who} has no columns"
        )


def _check_finite(values: np.ndarray, name: str, who: str, allow_nan: bool) -> None:
    # One reduction finds both NaN and infinity in the common (clean) case.
    with np.errstate(over="ignore", invalid="ignore"):
        total = float(np.sum(values, dtype=np.float64)) if values.size else 0.0
    if np.isfinite(total):
        return
    bad = np.isinf(values)
    if bad.any():
        row = np.argwhere(bad)[0]
        raise InputError(
            f"Input {name}{who} contains infinity or a value too large for "
            f"dtype('float64') (first at index {tuple(int(i) for i in row)})"
        )
    missing = np.argwhere(np.isnan(values))
    # No infinity and no NaN: the sum overflowed on large finite values.
    if not allow_nan and missing.size:
        row = missing[0]
        raise InputError(
            f"Input {name}{who} contains NaN (first at index {tuple(int(i) for i in row)}); "
            "this learner does not accept missing values"
        )


def check_consistent_length(*arrays: Any, names: Sequence[str] = ()) -> None:
    """Raise :class:`InputError` unless all arrays have the same number of rows."""
    lengths = [_num_samples(a) for a in arrays if a is not None]
    if len(set(lengths)) > 1:
        labels = ", ".join(f"{n}={k}" for n, k in zip(names, lengths, strict=False))
        raise InputError(
            f"Found input variables with inconsistent numbers of samples: {lengths}"
            + (f" ({labels})" if labels else "")
        )


def _num_samples(a: Any) -> int:
    shape = getattr(a, "shape", None)
    if shape is not None and len(shape):
        return int(shape[0])
    return len(a)


def check_sample_weight(sample_weight: Any, n_samples: int) -> np.ndarray:
    """Validate ``sample_weight``: ``None`` means ones; else finite, non-negative,
    one per sample and not all zero. Returns a new float64 array."""
    if sample_weight is None:
        return np.ones(n_samples)
    if isinstance(sample_weight, numbers.Number):
        weights = np.full(n_samples, sample_weight, dtype=np.float64)
    else:
        try:
            weights = np.array(sample_weight, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise InputError(f"sample_weight must be numbers: {error}") from None
    if weights.ndim != 1 or weights.shape[0] != n_samples:
        raise InputError(
            f"sample_weight.shape == {weights.shape}, expected ({n_samples},): "
            "one weight per sample"
        )
    if not np.all(np.isfinite(weights)):
        raise InputError("sample_weight contains NaN or infinity")
    if np.any(weights < 0):
        raise InputError(
            f"sample_weight must be non-negative; sample {int(np.argmin(weights))} has "
            f"weight {weights.min()}"
        )
    if not np.any(weights > 0):
        raise InputError("Sample weights must contain at least one non-zero number.")
    return weights


def check_classification_targets(
    y: Any, n_samples: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Validate class labels; return ``(classes, y_encoded)`` with ``classes`` sorted.

    Labels may be integers, strings, booleans, or floats with integral values;
    continuous targets, NaN, infinity and 2-D targets are rejected with
    :class:`lamina.InputError`. A column vector is flattened with a
    :class:`DataConversionWarning`.
    """
    if y is None:
        raise InputError("This classifier requires y to be passed, but the target y is None")
    if _is_sparse(y):
        raise InputError("y must be a dense 1-D array of class labels, not a sparse matrix")
    try:
        labels = np.asarray(y)
    except (TypeError, ValueError) as error:
        raise InputError(f"y cannot be read as an array: {error}") from None
    if labels.ndim == 2 and labels.shape[1] == 1:
        warnings.warn(
            _sklearn_twin(DataConversionWarning)(
                "A column-vector y was passed when a 1d array was expected. Please change "
                "the shape of y to (n_samples, ), for example using ravel()."
            ),
            stacklevel=3,
        )
        labels = labels.ravel()
    if labels.ndim != 1:
        raise InputError(f"y should be a 1d array, got an array of shape {labels.shape} instead.")
    if n_samples is not None and labels.shape[0] != n_samples:
        raise InputError(
            "Found input variables with inconsistent numbers of samples: "
            f"[{n_samples}, {labels.shape[0]}] (X has {n_samples} rows, y has {labels.shape[0]})"
        )
    if labels.dtype.kind == "c":
        raise InputError("Complex data not supported: y is complex")
    if labels.dtype.kind == "O":
        labels = _object_labels(labels)
    if labels.dtype.kind == "f":
        if np.isnan(labels).any():
            raise InputError(
                f"Input y contains NaN (first at row {int(np.argmax(np.isnan(labels)))})"
            )
        if np.isinf(labels).any():
            raise InputError("Input y contains infinity or a value too large for dtype('float64')")
        if np.any(labels != np.round(labels)):
            raise InputError(
                "Unknown label type: continuous. Maybe you are trying to fit a classifier, "
                "which expects discrete classes on a regression target with continuous values."
            )
    elif labels.dtype.kind not in "biuUSO" and labels.dtype.kind != "T":
        raise InputError(f"Unknown label type: y has unsupported dtype {labels.dtype}")
    if labels.dtype.kind in "iu" and labels.size:
        return _encode_integer_labels(labels)
    classes, encoded = np.unique(labels, return_inverse=True)
    if classes.dtype.kind in "UO" and _continuous_text(classes):
        raise InputError(
            f"Unknown label type: continuous. y holds {len(classes)} distinct numbers written "
            f"as text, some not whole (e.g. {_first_fraction(classes)!r}): a regression target, "
            "not class labels; round or bin it into classes first"
        )
    return classes, encoded.reshape(-1)


def _fraction(text: Any) -> bool:
    """Whether ``text`` reads as a finite number that is not whole."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return False
    return bool(np.isfinite(value)) and value != round(value)


def _continuous_text(classes: np.ndarray) -> bool:
    """Whether text labels (a table's target column) are all numbers, some not whole."""
    values = classes.tolist()
    if not any(_fraction(v) for v in values):
        return False
    try:
        [float(v) for v in values]
    except (TypeError, ValueError):
        return False
    return True


def _first_fraction(classes: np.ndarray) -> str:
    return next(str(c) for c in classes.tolist() if _fraction(c))


def _encode_integer_labels(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(labels, return_inverse=True)`` by counting when the labels span
    a small range (the usual 0..K-1 codes): linear time instead of a sort."""
    low, high = int(labels.min()), int(labels.max())
    if high - low > max(1 << 16, labels.size):
        classes, encoded = np.unique(labels, return_inverse=True)
        return classes, encoded.reshape(-1)
    shifted = (labels - low).astype(np.intp, copy=False)
    present = np.bincount(shifted, minlength=high - low + 1) > 0
    code_of = np.cumsum(present) - 1
    classes = (np.flatnonzero(present) + low).astype(labels.dtype)
    return classes, code_of[shifted]


def _object_labels(labels: np.ndarray) -> np.ndarray:
    values = labels.tolist()
    if all(isinstance(v, str) for v in values):
        return labels
    if all(isinstance(v, (numbers.Integral, np.bool_)) for v in values):
        return labels.astype(np.int64)
    if all(isinstance(v, numbers.Real) for v in values):
        return labels.astype(np.float64)
    kinds = sorted({type(v).__name__ for v in values})
    raise InputError(
        f"Unknown label type: y mixes {', '.join(kinds)}; class labels must all be strings "
        "or all be numbers"
    )


def logsumexp(a: np.ndarray, axis: int = -1) -> np.ndarray:
    """``log(sum(exp(a), axis))`` without overflow; rows of ``-inf`` give ``-inf``."""
    top = np.max(a, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(a - top), axis=axis, keepdims=True)) + top
    return np.squeeze(out, axis=axis)


def accuracy(y_true: Iterable[Any], y_pred: Iterable[Any]) -> float:
    """Fraction of equal labels."""
    truth, predicted = np.asarray(y_true), np.asarray(y_pred)
    check_consistent_length(truth, predicted, names=("y_true", "y_pred"))
    return float(np.mean(truth == predicted))


def check_regression_target(y: Any, n_samples: int) -> np.ndarray:
    """Validate a regression target: (n,) or (n, n_outputs), numeric and finite.

    Returns a new float64 array with the shape it came in.
    """
    if y is None:
        raise InputError("This regressor requires y to be passed, but the target y is None")
    if hasattr(y, "tocsr"):
        raise InputError("y must be a dense array of targets, not a sparse matrix")
    try:
        target = np.array(y, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InputError(f"y must hold numbers: {error}") from None
    if target.ndim not in (1, 2):
        raise InputError(f"y must be 1-D (n,) or 2-D (n, n_outputs), got shape {target.shape}")
    if target.ndim == 2 and target.shape[1] == 0:
        raise InputError(f"y has no columns (shape {target.shape})")
    check_consistent_length(np.empty(n_samples), target, names=("X", "y"))
    if not np.all(np.isfinite(target)):
        row = int(np.argwhere(~np.isfinite(target))[0][0])
        raise InputError(f"Input y contains NaN or infinity (first at row {row})")
    return target


def r2_score(
    y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None = None
) -> float:
    """Coefficient of determination, averaged uniformly over outputs (as scikit-learn).

    An output whose target is constant scores 1 when predicted exactly, else 0.
    """
    truth = np.asarray(y_true, dtype=np.float64).reshape(len(y_true), -1)
    predicted = np.asarray(y_pred, dtype=np.float64).reshape(len(y_pred), -1)
    weights = check_sample_weight(sample_weight, len(truth))[:, None]
    residual = np.sum(weights * (truth - predicted) ** 2, axis=0)
    mean = np.sum(weights * truth, axis=0) / np.sum(weights)
    total = np.sum(weights * (truth - mean) ** 2, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = np.where(total > 0, 1.0 - residual / np.where(total > 0, total, 1.0), 0.0)
    scores = np.where((total == 0) & (residual == 0), 1.0, scores)
    return float(np.mean(scores))
