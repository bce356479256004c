"""Naive Bayes for categorical and mixed tables.

:class:`CategoricalNB` models each feature with a categorical distribution
per class; :class:`MixedNB` combines that for categorical columns with a
Gaussian for numeric ones. Categories may be integers, strings, booleans or
any other value (matched by their text, see :func:`lamina.learn.datasets.category_key`).
A category never seen in training, or a missing value (``None`` / NaN),
contributes no evidence: the feature is marginalised out for that sample
instead of crashing prediction (scikit-learn's ``CategoricalNB`` raises an
IndexError there, its issue #16028).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lamina.array_api import device_of, host, to_namespace
from lamina.errors import InputError
from lamina.learn.datasets import categorical_mask, column_keys, encode_column, numeric_columns
from lamina.learn.model_file import check_fitted_array
from lamina.learn.validation import check_array, check_number, feature_names_of
from lamina.plugins.bayes.base import (
    LOG_ONE_TOLERANCE,
    BaseNB,
    check_alpha,
    check_prior,
    class_log_prior,
    one_hot,
)
from lamina.plugins.bayes.gaussian import (
    check_expanded_form,
    check_finite_likelihood,
    check_moments_finite,
    class_moments,
    gaussian_log_likelihood,
)

__all__ = ["CategoricalNB", "MixedNB"]


def _integer_codes(column: np.ndarray) -> np.ndarray | None:
    """The column as int64 codes when it holds only non-negative integers (NaN
    = missing = -1); ``None`` otherwise."""
    if column.dtype.kind in "iu":
        return column.astype(np.int64) if (column.size == 0 or column.min() >= 0) else None
    if column.dtype.kind == "b":
        return None
    if column.dtype.kind == "O":
        if any(isinstance(v, (str, bytes, bool, np.bool_)) for v in column.tolist()):
            return None
        try:
            column = column.astype(np.float64)
        except (TypeError, ValueError):
            return None
    if column.dtype.kind != "f":
        return None
    present = ~np.isnan(column)
    values = column[present]
    if values.size and (
        values.min() < 0 or np.any(values != np.floor(values)) or np.isinf(values).any()
    ):
        return None
    codes = np.full(column.shape[0], -1, dtype=np.int64)
    codes[present] = values.astype(np.int64)
    return codes


def _is_code_range(categories: np.ndarray) -> bool:
    return bool(len(categories)) and np.array_equal(
        categories, np.arange(len(categories)).astype(str)
    )


class _CategoricalCounts:
    """Per-feature category lists and class-by-category counts, updated batch by batch.

    A feature holding only non-negative integers uses categories ``0..max``
    (as scikit-learn's ``CategoricalNB``: codes never seen still count in the
    smoothing); any other feature uses the distinct values seen, sorted, with
    later batches' new values appended.
    """

    @staticmethod
    def update(
        model: Any,
        X: np.ndarray,
        codes: np.ndarray,
        weights: np.ndarray,
        min_categories: Any,
    ) -> None:
        # A sample of weight zero does not exist: its categories are not learned.
        keep = weights > 0
        X, codes, weights = X[keep], codes[keep], weights[keep]
        n_classes = len(model.classes_)
        n_features = X.shape[1]
        minimum = _check_min_categories(min_categories, n_features, type(model).__name__)
        first = not hasattr(model, "categories_")
        if first:
            model.categories_ = [np.array([], dtype=str) for _ in range(n_features)]
            model.category_count_ = [np.zeros((n_classes, 0)) for _ in range(n_features)]
        Y = one_hot(codes, n_classes, weights)
        sizes = []
        for j in range(n_features):
            column = X[:, j]
            categories = model.categories_[j]
            integer = _integer_codes(column)
            if integer is not None and (len(categories) == 0 or _is_code_range(categories)):
                top = int(integer.max()) + 1 if integer.size else 0
                size = max(top, len(categories), int(minimum[j]))
                categories = np.arange(size).astype(str)
                feature_codes = integer
            else:
                encoded = encode_column(column, categories if len(categories) else None)
                if len(categories):
                    unseen = np.unique(
                        np.asarray([k for k in _keys_of(column, encoded.codes)], dtype=str)
                    )
                    if unseen.size:
                        categories = np.concatenate([categories, unseen])
                        encoded = encode_column(column, categories)
                else:
                    categories = encoded.categories
                feature_codes = encoded.codes
                size = max(len(categories), int(minimum[j]), model.category_count_[j].shape[1])
            counts = model.category_count_[j]
            if counts.shape[1] < size:
                counts = np.pad(counts, ((0, 0), (0, size - counts.shape[1])))
            present = feature_codes >= 0
            counts = counts + _count_codes(Y[present], feature_codes[present], size)
            model.categories_[j] = categories
            model.category_count_[j] = counts
            sizes.append(size)
        model.n_categories_ = np.asarray(sizes, dtype=np.int64)

    @staticmethod
    def check_state(model: Any, n_features: int) -> None:
        """Raise :class:`InputError` unless the per-feature tables of a loaded model agree."""
        owner, n_classes = type(model).__name__, len(model.classes_)
        lists = [
            getattr(model, n, None) for n in ("categories_", "category_count_", "feature_log_prob_")
        ]
        if not all(isinstance(v, list) and len(v) == n_features for v in lists):
            raise InputError(
                f"fitted categories_, category_count_ and feature_log_prob_ of {owner} must "
                f"be lists of {n_features} arrays"
            )
        sizes = check_fitted_array(
            getattr(model, "n_categories_", None), f"n_categories_ of {owner}", (n_features,), low=0
        )
        for j, (categories, counts, log_prob) in enumerate(zip(*lists, strict=True)):
            counts = check_fitted_array(
                counts, f"category_count_[{j}] of {owner}", (n_classes, int(sizes[j])), low=0
            )
            check_fitted_array(
                log_prob,
                f"feature_log_prob_[{j}] of {owner}",
                counts.shape,
                high=LOG_ONE_TOLERANCE,
                finite=False,
            )
            if not isinstance(categories, np.ndarray) or categories.ndim != 1:
                raise InputError(f"fitted categories_[{j}] of {owner} must be a 1-D array")
            if len(categories) > counts.shape[1]:
                raise InputError(
                    f"fitted categories_[{j}] of {owner} lists {len(categories)} categories "
                    f"for {counts.shape[1]} counts"
                )

    @staticmethod
    def log_probabilities(model: Any, alpha: float | np.ndarray) -> list[np.ndarray]:
        result = []
        for j, counts in enumerate(model.category_count_):
            a = alpha if np.ndim(alpha) == 0 else np.asarray(alpha)[j]
            smoothed = counts + a
            with np.errstate(divide="ignore", invalid="ignore"):
                result.append(np.log(smoothed) - np.log(smoothed.sum(axis=1, keepdims=True)))
        return result

    @staticmethod
    def log_likelihood(model: Any, X: np.ndarray, feature_log_prob: list[np.ndarray]) -> np.ndarray:
        n_classes = len(model.classes_)
        jll = np.zeros((X.shape[0], n_classes))
        for j, log_prob in enumerate(feature_log_prob):
            categories = model.categories_[j]
            codes = _integer_codes(X[:, j]) if _is_code_range(categories) else None
            if codes is None:
                codes = encode_column(X[:, j], categories).codes
            else:
                codes = np.where(codes < len(categories), codes, -1)
            known = codes >= 0
            jll[known] += log_prob[:, codes[known]].T
        return jll


def _keys_of(column: np.ndarray, codes: np.ndarray) -> list[str]:
    """Keys of present values whose code is -1 (new categories)."""
    keys = column_keys(column)
    return [
        k for k, c in zip(keys.tolist(), codes.tolist(), strict=True) if c < 0 and k is not None
    ]


def _count_codes(Y: np.ndarray, codes: np.ndarray, size: int) -> np.ndarray:
    """``(n_classes, size)`` weighted counts of each category per class."""
    out = np.zeros((Y.shape[1], size))
    for c in range(Y.shape[1]):
        out[c] = np.bincount(codes, weights=Y[:, c], minlength=size)
    return out


def _check_min_categories(min_categories: Any, n_features: int, owner: str) -> np.ndarray:
    if min_categories is None:
        return np.zeros(n_features, dtype=np.int64)
    values = np.asarray(min_categories)
    if values.ndim == 0:
        check_number("min_categories", min_categories, integer=True, low=1, owner=owner)
        return np.full(n_features, int(min_categories))
    if values.shape != (n_features,):
        raise InputError(
            f"parameter 'min_categories' of {owner}: 'min_categories' should have shape "
            f"({n_features},) when an array-like is provided. Got {values.shape} instead."
        )
    if values.dtype.kind not in "iu" or np.any(values < 1):
        raise InputError(
            f"parameter 'min_categories' of {owner} must hold positive integers, got "
            f"{values.tolist()}"
        )
    return values.astype(np.int64)


class CategoricalNB(BaseNB):
    """Naive Bayes for categorical features (scikit-learn's ``CategoricalNB`` API and results).

    ``P(x_j = t | c) = (N_tjc + alpha) / (N_c + alpha * n_categories_j)``.
    Categories may be non-negative integer codes (as in scikit-learn, where
    ``0..max`` are the categories) or any other values, strings included.
    Missing values (``None``/NaN) are left out of the counts, and at
    prediction time missing values and categories never seen in training add
    no evidence.

    Parameters
    ----------
    alpha : float or sequence of float
        Additive smoothing (one value or one per feature).
    force_alpha : bool
        Keep ``alpha`` even when below 1e-10.
    fit_prior : bool
        Learn class priors; if false use a uniform prior.
    class_prior : sequence of float, optional
        Prior probabilities of the classes.
    min_categories : int or sequence of int, optional
        Smallest number of categories per feature used in the smoothing.

    Attributes
    ----------
    classes_, class_count_, class_log_prior_ : ndarray of shape (n_classes,)
    categories_ : list of ndarray of str
        The categories of each feature, in the order of the columns of
        ``category_count_[j]`` (their text, see :func:`lamina.learn.datasets.category_key`).
    category_count_ : list of ndarray of shape (n_classes, n_categories_j)
    feature_log_prob_ : list of ndarray of shape (n_classes, n_categories_j)
    n_categories_ : ndarray of int, shape (n_features,)
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from lamina.plugins.bayes.categorical import CategoricalNB
    >>> X = np.array([["red", "S"], ["red", "M"], ["blue", "L"], ["blue", "M"]], dtype=object)
    >>> model = CategoricalNB().fit(X, [0, 0, 1, 1])
    >>> model.predict([["red", "XL"]])  # "XL" was never seen: it adds no evidence
    array([0])
    """

    #: Category codes are >= 0 (checked here for NumPy input, by the array API check otherwise).
    _non_negative = True
    _allow_missing = True
    categories_: list[np.ndarray]  # fitted, by _CategoricalCounts

    def __init__(
        self,
        *,
        alpha: float = 1.0,
        force_alpha: bool = True,
        fit_prior: bool = True,
        class_prior: tuple[float, ...] | None = None,
        min_categories: int | None = None,
    ) -> None:
        self.alpha = alpha
        self.force_alpha = force_alpha
        self.fit_prior = fit_prior
        self.class_prior = class_prior
        self.min_categories = min_categories

    def _check_params(self) -> None:
        for name in ("fit_prior", "force_alpha"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise InputError(
                    f"parameter {name!r} of CategoricalNB must be a bool, got {getattr(self, name)!r}"
                )

    def _table(self, X: Any, *, reset: bool) -> np.ndarray:
        X = host(X)
        names = feature_names_of(X)
        array = check_array(X, dtype=None, allow_nan=True, owner=type(self).__name__)
        if array.dtype.kind == "f" and np.isinf(array).any():
            raise InputError("Input X contains infinity; categories must be finite numbers or text")
        if array.dtype.kind in "if" and np.any(array < 0):
            # Numeric arrays are category codes 0..k-1 (as in scikit-learn); values of
            # any other kind (text, objects) are categories by their text.
            row, col = (int(i) for i in np.argwhere(array < 0)[0])
            raise InputError(
                f"Negative values in data passed to {type(self).__name__} (input X): category "
                f"codes must be >= 0, but X[{row}, {col}] = {array[row, col]}; pass categories "
                "as text (an object array) to use negative numbers as labels"
            )
        self._check_features(array.shape[1], names, reset=reset)
        return array

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> CategoricalNB:
        """Count categories per class and feature."""
        self._check_params()
        X = self._table(X, reset=True)
        codes, weights = self._fit_classes(y, X.shape[0], sample_weight)
        for name in ("categories_", "category_count_"):
            self.__dict__.pop(name, None)
        self.class_count_ = np.zeros(len(self.classes_))
        self._count(X, codes, weights)
        return self

    def partial_fit(
        self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None
    ) -> CategoricalNB:
        """Add one batch to the counts; ``classes`` is required on the first call.
        Categories first seen in a later batch are added."""
        self._check_params()
        first = not hasattr(self, "classes_")
        X = self._table(X, reset=first)
        codes, weights, first = self._partial_fit_classes(y, classes, X.shape[0], sample_weight)
        if first:
            self.class_count_ = np.zeros(len(self.classes_))
        self._count(X, codes, weights)
        return self

    def _count(self, X: np.ndarray, codes: np.ndarray, weights: np.ndarray) -> None:
        owner = type(self).__name__
        alpha = check_alpha(self.alpha, self.force_alpha, X.shape[1], owner)
        _CategoricalCounts.update(self, X, codes, weights, self.min_categories)
        self.class_count_ = self.class_count_ + np.bincount(
            codes, weights=weights, minlength=len(self.classes_)
        )
        self.feature_log_prob_ = _CategoricalCounts.log_probabilities(self, alpha)
        self.class_log_prior_ = class_log_prior(
            self.class_count_, self.class_prior, self.fit_prior, owner
        )

    def _check_state(self) -> None:
        super()._check_state()
        self._check_counts("class_count_", (len(self.classes_),))
        self._check_log_probabilities("class_log_prior_", (len(self.classes_),))
        _CategoricalCounts.check_state(self, self.n_features_in_)

    def _check_predict_x(self, X: Any) -> np.ndarray:
        return self._table(X, reset=False)

    def _supports_foreign(self) -> bool:
        # Integer category codes (0..k-1, as in scikit-learn) are looked up on the
        # array's device; categories of any other kind go through NumPy.
        categories = getattr(self, "categories_", None)
        return categories is not None and all(map(_is_code_range, categories))

    def _foreign_joint_log_likelihood(self, X: Any, xp: Any) -> Any:
        device = device_of(X)
        jll = xp.zeros((X.shape[0], len(self.classes_)), dtype=X.dtype, device=device)
        for j, log_prob in enumerate(self.feature_log_prob_):
            column = X[:, j]
            # codes never seen in training (or not whole numbers) add no evidence
            known = (column == xp.floor(column)) & (column < len(self.categories_[j]))
            codes = xp.astype(xp.where(known, column, xp.zeros_like(column)), xp.int64)
            table = to_namespace(log_prob, xp, device, X.dtype)
            evidence = xp.take(table, codes, axis=1).T
            jll = jll + xp.where(known[:, None], evidence, xp.zeros_like(evidence))
        return jll + to_namespace(self.class_log_prior_, xp, device, X.dtype)

    def _joint_log_likelihood(self, X: np.ndarray) -> np.ndarray:
        return (
            _CategoricalCounts.log_likelihood(self, X, self.feature_log_prob_)
            + self.class_log_prior_
        )

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.categorical = True
        tags.input_tags.positive_only = True
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        tags.classifier_tags.poor_score = True  # as scikit-learn's CategoricalNB
        return tags


class MixedNB(BaseNB):
    """Naive Bayes for mixed tables: Gaussian numeric and categorical columns.

    Numeric columns get a normal distribution per class (as
    :class:`~lamina.plugins.bayes.gaussian.GaussianNB`), categorical columns a
    smoothed categorical distribution (as :class:`CategoricalNB`); the joint log
    likelihood is their sum, which is exactly the naive Bayes assumption.
    Missing values (NaN in numeric, ``None``/NaN in categorical columns) are
    left out of training and add no evidence at prediction, and so do unseen
    categories.

    Parameters
    ----------
    categorical_features : "auto", "all", None, or sequence of int / str / bool
        Which columns are categorical. ``"auto"``: columns holding anything
        but numbers (strings, booleans); numeric arrays are all numeric.
        Column names need ``X`` with column names (a DataFrame).
    var_smoothing : float
        As in Gaussian naive Bayes: share of the largest numeric variance
        added to every variance.
    alpha : float
        Additive smoothing of the category counts.
    force_alpha : bool
        Keep ``alpha`` even when below 1e-10.
    priors : sequence of float, optional
        Class priors; by default the class frequencies.

    Attributes
    ----------
    classes_, class_count_, class_prior_ : ndarray of shape (n_classes,)
    categorical_ : ndarray of bool, shape (n_features,)
        Which columns were modelled as categorical.
    theta_, var_ : ndarray of shape (n_classes, n_numeric)
        Means and variances of the numeric columns.
    epsilon_ : float
    categories_, category_count_, feature_log_prob_, n_categories_ : per categorical column
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from lamina.plugins.bayes.categorical import MixedNB
    >>> X = np.array([[1.0, "a"], [1.2, "a"], [3.1, "b"], [2.9, "b"]], dtype=object)
    >>> MixedNB().fit(X, ["x", "x", "y", "y"]).predict(np.array([[1.1, "b"]], dtype=object))
    array(['x'], dtype='<U1')
    """

    def __init__(
        self,
        *,
        categorical_features: str | tuple[int, ...] | tuple[str, ...] | None = "auto",
        var_smoothing: float = 1e-9,
        alpha: float = 1.0,
        force_alpha: bool = True,
        priors: tuple[float, ...] | None = None,
    ) -> None:
        self.categorical_features = categorical_features
        self.var_smoothing = var_smoothing
        self.alpha = alpha
        self.force_alpha = force_alpha
        self.priors = priors

    def _check_params(self) -> None:
        check_number("var_smoothing", self.var_smoothing, low=0.0, owner="MixedNB")
        check_number("alpha", self.alpha, low=0.0, owner="MixedNB")
        if not isinstance(self.force_alpha, (bool, np.bool_)):
            raise InputError(
                f"parameter 'force_alpha' of MixedNB must be a bool, got {self.force_alpha!r}"
            )

    def _split(self, X: Any, *, reset: bool) -> tuple[np.ndarray, np.ndarray]:
        X = host(X)
        names = feature_names_of(X)
        array = check_array(X, dtype=None, allow_nan=True, owner="MixedNB")
        self._check_features(array.shape[1], names, reset=reset)
        if reset:
            self.categorical_ = categorical_mask(
                array, self.categorical_features, names, owner="MixedNB"
            )
        numeric = numeric_columns(array, ~self.categorical_, names)
        if np.isinf(numeric).any():
            raise InputError("Input X contains infinity in a numeric column")
        return numeric, array[:, self.categorical_]

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MixedNB:
        """Fit the Gaussian part on numeric columns and the categorical part on the rest."""
        self._check_params()
        for name in ("categories_", "category_count_", "theta_", "var_"):
            self.__dict__.pop(name, None)
        numeric, categorical = self._split(X, reset=True)
        codes, weights = self._fit_classes(y, numeric.shape[0], sample_weight)
        n_classes = len(self.classes_)
        self.class_count_ = np.bincount(codes, weights=weights, minlength=n_classes).astype(
            np.float64
        )
        total = self.class_count_.sum()
        # Squares of values beyond ~1e154 overflow: reported below, not as numpy warnings.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            count, mean, m2 = class_moments(numeric, codes, weights, n_classes)
            variance = np.where(count > 0, m2 / count, 0.0)
            feature_total = count.sum(axis=0)
            grand = np.where(feature_total > 0, (count * mean).sum(axis=0) / feature_total, 0.0)
            spread = np.where(
                feature_total > 0,
                (count * (variance + (mean - grand) ** 2)).sum(axis=0) / feature_total,
                0.0,
            )
        check_moments_finite(
            numeric,
            np.where(count > 0, mean, 0.0),
            spread,
            "MixedNB",
            columns=np.flatnonzero(~self.categorical_),
        )
        self.epsilon_ = float(self.var_smoothing * spread.max()) if spread.size else 0.0
        self.theta_ = mean
        self.var_ = variance + self.epsilon_
        if np.any(self.var_ == 0.0):
            self.var_ = np.where(self.var_ == 0.0, 1.0, self.var_)  # constant and unseen: flat
        _CategoricalCounts.update(self, categorical, codes, weights, None)
        self.feature_log_prob_ = _CategoricalCounts.log_probabilities(self, float(self.alpha))
        if self.priors is not None:
            prior = check_prior(self.priors, n_classes, "priors", "MixedNB")
            if not np.isclose(prior.sum(), 1.0):
                raise InputError(f"parameter 'priors' of MixedNB must sum to 1, got {prior.sum()}")
            self.class_prior_ = prior
        else:
            self.class_prior_ = self.class_count_ / total
        return self

    def _check_state(self) -> None:
        super()._check_state()
        n_classes = len(self.classes_)
        categorical = getattr(self, "categorical_", None)
        if (
            not isinstance(categorical, np.ndarray)
            or categorical.dtype != bool
            or categorical.shape != (self.n_features_in_,)
        ):
            raise InputError(
                f"fitted categorical_ of MixedNB must be {self.n_features_in_} booleans"
            )
        shape = (n_classes, int(np.sum(~categorical)))
        check_fitted_array(getattr(self, "theta_", None), "theta_ of MixedNB", shape)
        check_fitted_array(
            getattr(self, "var_", None), "var_ of MixedNB", shape, low=0, strict=True
        )
        check_expanded_form(self.theta_, self.var_, "MixedNB")
        self._check_counts("class_count_", (n_classes,))
        prior = check_fitted_array(
            getattr(self, "class_prior_", None), "class_prior_ of MixedNB", (n_classes,), low=0
        )
        if not np.isclose(prior.sum(), 1.0):
            raise InputError(f"fitted class_prior_ of MixedNB sums to {prior.sum()}, not 1")
        _CategoricalCounts.check_state(self, int(np.sum(categorical)))

    def _check_predict_x(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        return self._split(X, reset=False)

    def _joint_log_likelihood(self, X: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        numeric, categorical = X
        with np.errstate(divide="ignore"):
            jll = np.log(self.class_prior_) + np.zeros((numeric.shape[0], 1))
        if numeric.shape[1]:
            with np.errstate(over="ignore", invalid="ignore"):
                gaussian = gaussian_log_likelihood(
                    numeric, self.theta_, self.var_, skip_missing=True
                )
            check_finite_likelihood(numeric, np.isfinite(gaussian), "MixedNB")
            jll += gaussian
        if categorical.shape[1]:
            jll += _CategoricalCounts.log_likelihood(self, categorical, self.feature_log_prob_)
        return jll

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        return tags
