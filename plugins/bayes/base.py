"""What every naive Bayes learner shares: the MAP decision rule in log space,
class bookkeeping for ``fit`` / ``partial_fit``, priors, and row blocks.

Every model computes a joint log likelihood ``log P(c) + sum_j log P(x_j | c)``
(never a product of probabilities, so thousands of features cannot underflow),
predicts its arg-max and normalises it with log-sum-exp into probabilities.
Data are processed in blocks of rows that fit in cache, so each pass over a
large ``X`` reads main memory once and temporaries stay small.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from lamina.array_api import (
    check_foreign_array,
    device_of,
    foreign_namespace,
    host,
    to_numpy,
    work_dtype,
)
from lamina.array_api import logsumexp as foreign_logsumexp
from lamina.errors import InputError
from lamina.learn.base import BaseLearner, ClassifierMixin
from lamina.learn.model_file import check_fitted_array
from lamina.learn.validation import (
    check_classification_targets,
    check_number,
    check_sample_weight,
    logsumexp,
)

__all__ = [
    "BaseNB",
    "check_alpha",
    "check_prior",
    "class_log_prior",
    "class_sums",
    "one_hot",
    "row_blocks",
    "thin_product",
]

#: Bytes of float64 data per block of rows (a few MiB: stays in L2/L3 cache).
BLOCK_BYTES = 1 << 21

#: Rounding allowed above log(1) = 0 in fitted log probabilities read from a file.
LOG_ONE_TOLERANCE = 1e-9

#: Bound on |log a - log b| for positive float64 numbers (|log x| < 745 for any of them).
LOG_RANGE = 1500.0

#: Smallest additive smoothing used when ``force_alpha`` is false (as scikit-learn).
ALPHA_MIN = 1e-10


def row_blocks(n_rows: int, n_columns: int, block_bytes: int = BLOCK_BYTES) -> Iterator[slice]:
    """Slices of rows whose float64 data fill about ``block_bytes``."""
    step = max(1, block_bytes // (8 * max(1, n_columns)))
    for start in range(0, n_rows, step):
        yield slice(start, min(n_rows, start + step))


def class_sums(Y: np.ndarray, X: np.ndarray) -> np.ndarray:
    """``Y.T @ X`` for a tall class-indicator (or weight) matrix ``Y``.

    With at most two classes, one vector-matrix product per class; else
    ``(X.T @ Y).T``. Both give the same numbers as ``Y.T @ X``, which OpenBLAS
    runs 3-4x slower on a million rows (it packs the tall operand first).
    """
    if Y.shape[1] > 2:
        return (X.T @ Y).T
    out = np.empty((Y.shape[1], X.shape[1]))
    for k in range(Y.shape[1]):
        np.matmul(Y[:, k], X, out=out[k])
    return out


def thin_product(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``X @ W`` for tall ``X`` and a few columns ``W``: one matrix-vector product per
    column when there are at most two (a matrix product packs ``X`` first, an extra
    pass over memory that costs more than the second column's pass)."""
    if W.shape[1] > 2:
        return X @ W
    out = np.empty((W.shape[1], X.shape[0]))
    for k in range(W.shape[1]):
        np.matmul(X, W[:, k], out=out[k])
    return out.T


def one_hot(codes: np.ndarray, n_classes: int, weights: np.ndarray | None = None) -> np.ndarray:
    """``(n, n_classes)`` float64 indicator (or weight) matrix of class ``codes``."""
    out = np.zeros((codes.shape[0], n_classes))
    out[np.arange(codes.shape[0]), codes] = 1.0 if weights is None else weights
    return out


def check_alpha(alpha: Any, force_alpha: bool, n_features: int, owner: str) -> float | np.ndarray:
    """Validated additive smoothing: a non-negative number or one per feature."""
    if np.ndim(alpha) == 0:
        check_number("alpha", alpha, low=0.0, owner=owner)
        value: float | np.ndarray = float(alpha)
    else:
        value = np.asarray(alpha, dtype=np.float64)
        if value.ndim != 1 or value.shape[0] != n_features:
            raise InputError(
                f"parameter 'alpha' of {owner}: When alpha is an array, it should contains "
                f"`n_features`. Got {value.shape[0] if value.ndim == 1 else value.shape} "
                f"elements instead (X has {n_features} features)."
            )
        if not np.all(np.isfinite(value)) or np.any(value < 0):
            raise InputError(
                f"parameter 'alpha' of {owner}: All values in alpha must be greater than 0. "
                f"Got {value.tolist()}; use finite values >= 0."
            )
    if np.min(value) < ALPHA_MIN and not force_alpha:
        warnings.warn(
            f"alpha too small will result in numeric errors, setting alpha = {ALPHA_MIN:.1e}. "
            "Use `force_alpha=True` to keep alpha unchanged.",
            UserWarning,
            stacklevel=4,
        )
        return np.maximum(value, ALPHA_MIN)
    return value


def class_log_prior(
    class_count: np.ndarray, class_prior: Any, fit_prior: bool, owner: str
) -> np.ndarray:
    """Log prior: given (``class_prior``), fitted from counts, or uniform."""
    n_classes = class_count.shape[0]
    if class_prior is not None:
        prior = check_prior(class_prior, n_classes, "class_prior", owner)
        with np.errstate(divide="ignore"):
            return np.log(prior)
    if fit_prior:
        with np.errstate(divide="ignore"):
            return np.log(class_count) - np.log(class_count.sum())
    return np.full(n_classes, -np.log(n_classes))


def check_prior(prior: Any, n_classes: int, name: str, owner: str) -> np.ndarray:
    """Class priors given by the user (parameter ``name`` of ``owner``) as a float64
    array of ``n_classes`` finite, non-negative numbers; else :class:`InputError`
    in scikit-learn's words.

    >>> check_prior([0.25, 0.75], 2, "priors", "GaussianNB")
    array([0.25, 0.75])
    """
    try:
        values = np.asarray(prior, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"parameter {name!r} of {owner} must be numbers, got {prior!r}") from None
    if values.ndim != 1 or values.shape[0] != n_classes:
        raise InputError(
            f"parameter {name!r} of {owner}: Number of priors must match number of classes "
            f"({n_classes}), got {values.shape[0] if values.ndim == 1 else values.shape}"
        )
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise InputError(f"parameter {name!r} of {owner}: Priors must be non-negative and finite.")
    return values


def _listed(values: Any) -> list[Any]:
    """Labels as plain Python values, so messages show ``[1, 2]``, not ``[np.int64(1), ...]``."""
    return np.asarray(values).tolist()


class BaseNB(ClassifierMixin, BaseLearner):
    """Shared prediction and class bookkeeping; subclasses implement
    ``_joint_log_likelihood(X)`` on validated input and ``_check_predict_x``.

    Arrays of other array-API libraries (torch, CuPy, ...) are computed on in
    their own namespace and device by models that define
    ``_foreign_joint_log_likelihood(X, xp)`` (and accept them in ``fit``); the
    fitted parameters are small NumPy arrays either way, so one model serves
    every library and saves like any other. Other models read such input
    through NumPy.
    """

    #: Whether X must be non-negative (counts).
    _non_negative = False

    #: Whether NaN in X means "missing" (else it is an error).
    _allow_missing = False

    def _joint_log_likelihood(self, X: Any) -> np.ndarray:
        raise NotImplementedError

    def _check_predict_x(self, X: Any) -> Any:
        raise NotImplementedError

    def _foreign_joint_log_likelihood(self, X: Any, xp: Any) -> Any:
        """The joint log likelihood of a validated foreign ``X`` (work dtype), in ``xp``."""
        raise NotImplementedError

    def _supports_foreign(self) -> bool:
        return type(self)._foreign_joint_log_likelihood is not BaseNB._foreign_joint_log_likelihood

    def _validate_foreign(self, X: Any, *, reset: bool) -> tuple[Any, Any] | None:
        """``(X, xp)`` for a foreign array this model computes on, else ``None``."""
        xp = foreign_namespace(X)
        if xp is None or not self._supports_foreign():
            return None
        X = check_foreign_array(
            X,
            xp,
            owner=type(self).__name__,
            non_negative=self._non_negative,
            allow_nan=self._allow_missing,
        )
        self._check_features(int(X.shape[1]), None, reset=reset)
        return X, xp

    def predict_joint_log_proba(self, X: Any) -> Any:
        """Unnormalised ``log P(c) + log P(x | c)`` for each sample and class.

        Returns
        -------
        array of shape (n_samples, n_classes), columns in the order of ``classes_``;
        of ``X``'s array library and device when the model computes there.
        """
        self._check_fitted()
        foreign = self._validate_foreign(X, reset=False)
        if foreign is None:
            return self._joint_log_likelihood(self._check_predict_x(host(X)))
        X, xp = foreign
        dtype = X.dtype
        X = xp.astype(X, work_dtype(xp, device_of(X)))
        return xp.astype(self._foreign_joint_log_likelihood(X, xp), dtype)

    def predict(self, X: Any) -> Any:
        """The most probable class (maximum a posteriori) of each sample."""
        jll = self.predict_joint_log_proba(X)
        xp = foreign_namespace(jll)
        if xp is None:
            return self.classes_[np.argmax(jll, axis=1)]
        labels = self.classes_[to_numpy(xp.argmax(jll, axis=1))]
        if labels.dtype.kind not in "iufb":
            return labels  # text labels have no array-API dtype (as in scikit-learn)
        return xp.asarray(labels, device=device_of(jll))

    def predict_log_proba(self, X: Any) -> Any:
        """Log posterior probabilities, normalised with log-sum-exp."""
        jll = self.predict_joint_log_proba(X)
        xp = foreign_namespace(jll)
        if xp is None:
            return jll - logsumexp(jll, axis=1)[:, None]
        return jll - foreign_logsumexp(jll, xp)[:, None]

    def predict_proba(self, X: Any) -> Any:
        """Posterior probabilities; rows sum to one."""
        log_proba = self.predict_log_proba(X)
        xp = foreign_namespace(log_proba)
        return np.exp(log_proba) if xp is None else xp.exp(log_proba)

    # -- classes -------------------------------------------------------------------
    def _fit_classes(
        self, y: Any, n_samples: int, sample_weight: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """Set ``classes_`` from ``y`` for ``fit``; return ``(codes, weights)``."""
        classes, codes = check_classification_targets(host(y), n_samples)
        weights = check_sample_weight(host(sample_weight), n_samples)
        self.classes_ = classes
        return codes, weights

    def _partial_fit_classes(
        self, y: Any, classes: Any, n_samples: int, sample_weight: Any
    ) -> tuple[np.ndarray, np.ndarray, bool]:
        """Set ``classes_`` on the first ``partial_fit``; map ``y`` to codes."""
        y, classes, sample_weight = host(y), host(classes), host(sample_weight)
        first = not hasattr(self, "classes_")
        if first:
            if classes is None:
                raise InputError(
                    f"{type(self).__name__}: classes must be passed on the first call to "
                    "partial_fit. Pass every class label, e.g. classes=np.unique(y_all)"
                )
            all_classes, _ = check_classification_targets(np.asarray(classes))
        elif classes is not None:
            given, _ = check_classification_targets(np.asarray(classes))
            if not np.array_equal(given, self.classes_):
                raise InputError(
                    f"`classes={_listed(classes)}` is not the same as on last call to "
                    f"partial_fit, was: {_listed(self.classes_)}"
                )
            all_classes = self.classes_
        else:
            all_classes = self.classes_
        labels, _ = check_classification_targets(y, n_samples)
        unknown = np.setdiff1d(labels, all_classes)
        if unknown.size:
            raise InputError(
                f"The target label(s) {_listed(unknown)} in y do not exist in the initial "
                f"classes {_listed(all_classes)}"
            )
        codes = np.searchsorted(all_classes, np.asarray(y).ravel())
        weights = check_sample_weight(sample_weight, n_samples)
        if first:
            self.classes_ = all_classes
        return codes, weights, first

    # -- checks of a loaded model -------------------------------------------------------
    def _check_state(self) -> None:
        super()._check_state()
        if getattr(self, "classes_", None) is None:
            raise InputError("fitted classes_ is missing")

    def _check_log_probabilities(self, name: str, shape: tuple[int, ...]) -> None:
        """A fitted array of log probabilities: ``-inf`` allowed, no NaN, nothing above 0."""
        check_fitted_array(
            getattr(self, name, None),
            f"{name} of {type(self).__name__}",
            shape,
            high=LOG_ONE_TOLERANCE,
            finite=False,
        )

    def _check_counts(self, name: str, shape: tuple[int, ...]) -> None:
        check_fitted_array(
            getattr(self, name, None), f"{name} of {type(self).__name__}", shape, low=0
        )

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags
