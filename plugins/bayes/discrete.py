"""Naive Bayes for counts and binary features: multinomial, complement, Bernoulli.

All three learn by counting: ``feature_count_ = Y.T @ X`` (``Y`` the
one-hot, weighted class matrix) and ``class_count_``, which ``partial_fit``
simply accumulates. Dense input is processed in cache-sized blocks of rows
(converted to float64 block by block), sparse input (scipy CSR/CSC) directly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lamina.array_api import (
    device_of,
    foreign_namespace,
    host,
    to_namespace,
    to_numpy,
    work_dtype,
)
from lamina.errors import InputError
from lamina.learn.model_file import check_fitted_array
from lamina.learn.validation import assert_finite, check_number
from lamina.plugins.bayes.base import (
    LOG_RANGE,
    BaseNB,
    check_alpha,
    class_log_prior,
    class_sums,
    one_hot,
    row_blocks,
    thin_product,
)

__all__ = ["BernoulliNB", "ComplementNB", "MultinomialNB"]

_COUNT_DTYPES = (
    np.float64,
    np.float32,
    np.int64,
    np.int32,
    np.int16,
    np.int8,
    np.uint8,
    np.uint16,
    np.uint32,
    np.uint64,
    np.bool_,
)


def _block_product(X: Any, right: np.ndarray, *, binarize: float | None = None) -> np.ndarray:
    """``f(X) @ right`` where ``f`` converts to float64 (and binarises), block by block."""
    if hasattr(X, "tocsr"):
        if binarize is not None:
            X = X.copy()
            X.data = (X.data > binarize).astype(np.float64)
            X.eliminate_zeros()
        return np.asarray(X @ right)
    # Blocks that stay in cache: each row of X is read from memory once, however many
    # classes. NaN / infinity in X are reported by the caller from the result.
    out = np.empty((X.shape[0], right.shape[1]))
    with np.errstate(invalid="ignore", over="ignore"):
        for rows in row_blocks(X.shape[0], X.shape[1]):
            block = X[rows]
            block = (block > binarize) if binarize is not None else block
            out[rows] = thin_product(block.astype(np.float64, copy=False), right)
    return out


def _class_sums(
    X: Any,
    codes: np.ndarray,
    weights: np.ndarray,
    n_classes: int,
    *,
    binarize: float | None = None,
) -> tuple[np.ndarray, float]:
    """``Y.T @ f(X)``: weighted feature totals per class, shape (n_classes, n_features),
    and the smallest value of ``X`` (NaN if it holds NaN), found in the same pass."""
    if hasattr(X, "tocsr"):
        smallest = float(X.data.min()) if X.nnz else 0.0
        if binarize is not None:
            X = X.copy()
            X.data = (X.data > binarize).astype(np.float64)
        return np.asarray((X.T @ one_hot(codes, n_classes, weights)).T), smallest
    total = np.zeros((n_classes, X.shape[1]))
    smallest = np.inf
    with np.errstate(invalid="ignore", over="ignore"):
        for rows in row_blocks(X.shape[0], X.shape[1]):
            block = X[rows]
            # np.min propagates NaN, so NaN in X shows as a NaN minimum
            smallest = min(smallest, float(block.min())) if block.size else smallest
            block = (block > binarize) if binarize is not None else block
            total += class_sums(
                one_hot(codes[rows], n_classes, weights[rows]),
                block.astype(np.float64, copy=False),
            )
    return total, smallest


def _foreign_features(data: Any, binarize: float | None, xp: Any) -> Any:
    """A foreign array, binarised (``> binarize``) when asked, in its own dtype."""
    return data if binarize is None else xp.astype(data > binarize, data.dtype)


def _foreign_class_sums(
    X: Any,
    codes: np.ndarray,
    weights: np.ndarray,
    n_classes: int,
    binarize: float | None,
    xp: Any,
) -> np.ndarray:
    """:func:`_class_sums` of a foreign array, in its namespace and on its device."""
    device = device_of(X)
    X = _foreign_features(xp.astype(X, work_dtype(xp, device)), binarize, xp)
    codes_ = to_namespace(codes, xp, device)
    Y = xp.astype(codes_[:, None] == xp.arange(n_classes, device=device)[None, :], X.dtype)
    Y = Y * to_namespace(weights, xp, device, X.dtype)[:, None]
    return to_numpy(Y.T @ X).astype(np.float64)


def _check_non_negative(X: Any, owner: str) -> None:
    values = X.data if hasattr(X, "tocsr") else X
    smallest = values.min() if values.size else 0
    if not smallest >= 0:
        # NaN or -inf (X was validated without the finite check) get their own message.
        assert_finite(X, owner=owner)
        if hasattr(X, "tocsr"):
            coo = X.tocoo()
            at = int(np.argmin(coo.data))
            row, col = int(coo.row[at]), int(coo.col[at])
        else:
            row, col = (int(i) for i in np.unravel_index(np.argmin(values), values.shape))
        raise InputError(
            f"Negative values in data passed to {owner} (input X): counts must be >= 0, "
            f"but X[{row}, {col}] = {X[row, col]}"
        )


class _BaseDiscreteNB(BaseNB):
    """Counting, priors and ``partial_fit`` shared by the count-based models."""

    #: Whether X must be non-negative (counts); Bernoulli binarises instead.
    _non_negative = True

    # The parameters every subclass takes, as their __init__ declare them.
    alpha: float
    force_alpha: bool
    fit_prior: bool
    class_prior: tuple[float, ...] | None

    def _binarize(self) -> float | None:
        return None

    def _check_params(self) -> None:
        if not isinstance(self.fit_prior, (bool, np.bool_)):
            raise InputError(
                f"parameter 'fit_prior' of {type(self).__name__} must be a bool, got {self.fit_prior!r}"
            )
        if not isinstance(self.force_alpha, (bool, np.bool_)):
            raise InputError(
                f"parameter 'force_alpha' of {type(self).__name__} must be a bool, got {self.force_alpha!r}"
            )

    def _validate_counts(self, X: Any, *, reset: bool, check_sign: bool = True) -> Any:
        """Validated X; ``check_sign=False`` leaves the non-negativity check of dense
        X to :meth:`_count`, which finds the minimum in its own pass."""
        foreign = self._validate_foreign(X, reset=reset)
        if foreign is not None:
            return foreign[0]
        X = host(X)
        # Counts must be >= 0: the minimum that checks it also finds NaN and -inf, and
        # +inf surfaces in the feature counts, so the separate finite pass is skipped.
        X = self._validate_x(
            X,
            reset=reset,
            dtype=_COUNT_DTYPES,
            accept_sparse=True,
            check_finite=not self._non_negative,
        )
        if self._non_negative and check_sign:
            _check_non_negative(X, type(self).__name__)
        return X

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> _BaseDiscreteNB:
        """Count features per class in ``X`` and set the smoothed log probabilities."""
        self._check_params()
        X = self._validate_counts(X, reset=True, check_sign=False)
        codes, weights = self._fit_classes(y, X.shape[0], sample_weight)
        n_classes = len(self.classes_)
        self.class_count_ = np.zeros(n_classes)
        self.feature_count_ = np.zeros((n_classes, X.shape[1]))
        self._count(X, codes, weights)
        self._update()
        return self

    def partial_fit(
        self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None
    ) -> _BaseDiscreteNB:
        """Add one batch to the counts; ``classes`` is required on the first call."""
        self._check_params()
        first = not hasattr(self, "classes_")
        X = self._validate_counts(X, reset=first)
        codes, weights, first = self._partial_fit_classes(y, classes, X.shape[0], sample_weight)
        if first:
            self.class_count_ = np.zeros(len(self.classes_))
            self.feature_count_ = np.zeros((len(self.classes_), X.shape[1]))
        self._count(X, codes, weights)
        self._update()
        return self

    def _count(self, X: Any, codes: np.ndarray, weights: np.ndarray) -> None:
        n_classes = len(self.classes_)
        xp = foreign_namespace(X)
        if xp is None:
            sums, smallest = _class_sums(X, codes, weights, n_classes, binarize=self._binarize())
            if self._non_negative and not smallest >= 0:
                _check_non_negative(X, type(self).__name__)
        else:
            sums = _foreign_class_sums(X, codes, weights, n_classes, self._binarize(), xp)
        self.feature_count_ = self.feature_count_ + sums
        self.class_count_ = self.class_count_ + np.bincount(
            codes, weights=weights, minlength=n_classes
        )
        if not np.all(np.isfinite(self.feature_count_)):
            assert_finite(X, owner=type(self).__name__)
            raise InputError(
                f"feature counts of {type(self).__name__} overflow float64: "
                "X holds values too large to sum"
            )

    def _update(self) -> None:
        alpha = check_alpha(self.alpha, self.force_alpha, self.n_features_in_, type(self).__name__)
        self._update_feature_log_prob(alpha)
        self.class_log_prior_ = class_log_prior(
            self.class_count_, self.class_prior, self.fit_prior, type(self).__name__
        )

    def _update_feature_log_prob(self, alpha: float | np.ndarray) -> None:
        raise NotImplementedError

    def _linear_form(self) -> tuple[np.ndarray, np.ndarray]:
        """``(W, b)`` with ``jll = f(X) @ W + b``, ``f`` the binarisation if any."""
        raise NotImplementedError

    def _joint_log_likelihood(self, X: Any) -> np.ndarray:
        weights, bias = self._linear_form()
        return _block_product(X, weights, binarize=self._binarize()) + bias

    def _foreign_joint_log_likelihood(self, X: Any, xp: Any) -> Any:
        weights, bias = (to_namespace(a, xp, device_of(X), X.dtype) for a in self._linear_form())
        return _foreign_features(X, self._binarize(), xp) @ weights + bias

    def _check_state(self) -> None:
        super()._check_state()
        shape = (len(self.classes_), self.n_features_in_)
        self._check_counts("class_count_", shape[:1])
        self._check_counts("feature_count_", shape)
        self._check_log_probabilities("class_log_prior_", shape[:1])
        self._check_weights(shape)
        # What prediction multiplies X by: finite, and no larger than a difference of two
        # logarithms of float64 numbers can be, so edited files cannot make it overflow.
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            weights, bias = self._linear_form()
        owner = type(self).__name__
        check_fitted_array(weights, f"weights of {owner}", low=-LOG_RANGE, high=LOG_RANGE)
        check_fitted_array(bias, f"intercepts of {owner}", high=LOG_RANGE, finite=False)

    def _check_weights(self, shape: tuple[int, int]) -> None:
        self._check_log_probabilities("feature_log_prob_", shape)

    def _check_predict_x(self, X: Any) -> Any:
        return self._validate_x(
            X,
            reset=False,
            dtype=_COUNT_DTYPES,
            accept_sparse=True,
            check_finite=not self._non_negative,
        )

    def predict_joint_log_proba(self, X: Any) -> np.ndarray:
        """Unnormalised ``log P(c) + log P(x | c)`` for each sample and class."""
        if foreign_namespace(X) is not None:
            return super().predict_joint_log_proba(X)
        self._check_fitted()
        X = self._check_predict_x(host(X))
        jll = self._joint_log_likelihood(X)
        # The scores are linear in X: a NaN or infinity in X leaves them not finite.
        if self._non_negative and not np.isfinite(jll).all():
            assert_finite(X, owner=type(self).__name__)
        return jll

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.positive_only = self._non_negative
        # Counting models score poorly on the continuous blobs of check_classifiers_train
        # (scikit-learn sets the same tag on its discrete naive Bayes models).
        tags.classifier_tags.poor_score = True
        return tags


class MultinomialNB(_BaseDiscreteNB):
    """Multinomial naive Bayes for counts (scikit-learn's ``MultinomialNB`` API and results).

    ``P(x | c)`` is multinomial with feature probabilities
    ``(N_cj + alpha) / (N_c + alpha * n_features)``; the classic model for
    word counts in text classification. Accepts dense or scipy sparse ``X``.

    Parameters
    ----------
    alpha : float or sequence of float
        Additive (Laplace/Lidstone) smoothing; one value or one per feature.
    force_alpha : bool
        Keep ``alpha`` even when below 1e-10 (else raised to 1e-10 with a warning).
    fit_prior : bool
        Learn class priors; if false use a uniform prior.
    class_prior : sequence of float, optional
        Prior probabilities of the classes; overrides ``fit_prior``.

    Attributes
    ----------
    classes_, class_count_ : ndarray of shape (n_classes,)
    class_log_prior_ : ndarray of shape (n_classes,)
    feature_count_ : ndarray of shape (n_classes, n_features)
        Weighted sum of each feature per class.
    feature_log_prob_ : ndarray of shape (n_classes, n_features)
        Smoothed ``log P(x_j | c)``.
    n_features_in_ : int

    References
    ----------
    .. [1] A. McCallum, K. Nigam (1998). "A comparison of event models for naive
       Bayes text classification." AAAI workshop on learning for text categorization.
    .. [2] H. Zhang (2004). "The optimality of naive Bayes." FLAIRS.

    Examples
    --------
    >>> import numpy as np
    >>> from lamina.plugins.bayes.discrete import MultinomialNB
    >>> rng = np.random.default_rng(1)
    >>> X = rng.integers(5, size=(6, 100))
    >>> MultinomialNB().fit(X, [1, 2, 3, 4, 5, 6]).predict(X[2:3])
    array([3])
    """

    def __init__(
        self,
        *,
        alpha: float = 1.0,
        force_alpha: bool = True,
        fit_prior: bool = True,
        class_prior: tuple[float, ...] | None = None,
    ) -> None:
        self.alpha = alpha
        self.force_alpha = force_alpha
        self.fit_prior = fit_prior
        self.class_prior = class_prior

    def _update_feature_log_prob(self, alpha: float | np.ndarray) -> None:
        smoothed = self.feature_count_ + alpha
        with np.errstate(divide="ignore", invalid="ignore"):
            self.feature_log_prob_ = np.log(smoothed) - np.log(smoothed.sum(axis=1, keepdims=True))

    def _linear_form(self) -> tuple[np.ndarray, np.ndarray]:
        return self.feature_log_prob_.T, self.class_log_prior_


class ComplementNB(_BaseDiscreteNB):
    """Complement naive Bayes (scikit-learn's ``ComplementNB`` API and results).

    Weights come from the counts of every class *except* ``c`` (its
    complement), which makes the model robust to unbalanced classes in text
    classification (Rennie et al. 2003).

    Parameters
    ----------
    alpha : float or sequence of float
        Additive smoothing of the complement counts.
    force_alpha : bool
        Keep ``alpha`` even when below 1e-10.
    fit_prior : bool
        Only used when there is a single class (as in scikit-learn).
    class_prior : sequence of float, optional
        Only used when there is a single class.
    norm : bool
        Normalise the weights (the paper's "weight normalisation"; off by default).

    Attributes
    ----------
    classes_, class_count_, class_log_prior_ : ndarray of shape (n_classes,)
    feature_count_ : ndarray of shape (n_classes, n_features)
    feature_all_ : ndarray of shape (n_features,)
        Total count of each feature over all classes.
    feature_log_prob_ : ndarray of shape (n_classes, n_features)
        The (possibly normalised) complement weights.
    n_features_in_ : int

    References
    ----------
    .. [1] J. D. M. Rennie, L. Shih, J. Teevan, D. R. Karger (2003). "Tackling the
       poor assumptions of naive Bayes text classifiers." ICML.

    Examples
    --------
    >>> import numpy as np
    >>> from lamina.plugins.bayes.discrete import ComplementNB
    >>> rng = np.random.default_rng(1)
    >>> X = rng.integers(5, size=(6, 100))
    >>> ComplementNB().fit(X, [1, 2, 3, 4, 5, 6]).predict(X[2:3])
    array([3])
    """

    def __init__(
        self,
        *,
        alpha: float = 1.0,
        force_alpha: bool = True,
        fit_prior: bool = True,
        class_prior: tuple[float, ...] | None = None,
        norm: bool = False,
    ) -> None:
        self.alpha = alpha
        self.force_alpha = force_alpha
        self.fit_prior = fit_prior
        self.class_prior = class_prior
        self.norm = norm

    def _check_params(self) -> None:
        super()._check_params()
        if not isinstance(self.norm, (bool, np.bool_)):
            raise InputError(f"parameter 'norm' of ComplementNB must be a bool, got {self.norm!r}")

    def _update_feature_log_prob(self, alpha: float | np.ndarray) -> None:
        self.feature_all_ = self.feature_count_.sum(axis=0)
        complement = self.feature_all_ + alpha - self.feature_count_
        with np.errstate(divide="ignore", invalid="ignore"):
            logged = np.log(complement / complement.sum(axis=1, keepdims=True))
        if self.norm:
            self.feature_log_prob_ = logged / logged.sum(axis=1, keepdims=True)
        else:
            self.feature_log_prob_ = -logged

    def _check_weights(self, shape: tuple[int, int]) -> None:
        self._check_counts("feature_all_", shape[1:])
        # complement weights are -log probabilities (or normalised ones): any sign, no NaN
        check_fitted_array(
            getattr(self, "feature_log_prob_", None),
            "feature_log_prob_ of ComplementNB",
            shape,
            finite=False,
        )

    def _linear_form(self) -> tuple[np.ndarray, np.ndarray]:
        # The prior counts only when there is a single class (as in scikit-learn).
        if len(self.classes_) == 1:
            return self.feature_log_prob_.T, self.class_log_prior_
        return self.feature_log_prob_.T, np.zeros(len(self.classes_))


class BernoulliNB(_BaseDiscreteNB):
    """Bernoulli naive Bayes for binary features (scikit-learn's ``BernoulliNB``).

    Each feature is present or absent with a class-dependent probability;
    unlike the multinomial model, absent features count as evidence too.

    Parameters
    ----------
    alpha : float or sequence of float
        Additive smoothing.
    force_alpha : bool
        Keep ``alpha`` even when below 1e-10.
    binarize : float or None
        Threshold: features ``> binarize`` are 1, others 0. ``None`` means
        ``X`` is already binary.
    fit_prior : bool
        Learn class priors; if false use a uniform prior.
    class_prior : sequence of float, optional
        Prior probabilities of the classes.

    Attributes
    ----------
    classes_, class_count_, class_log_prior_ : ndarray of shape (n_classes,)
    feature_count_ : ndarray of shape (n_classes, n_features)
    feature_log_prob_ : ndarray of shape (n_classes, n_features)
        Smoothed ``log P(x_j = 1 | c)``.
    n_features_in_ : int

    References
    ----------
    .. [1] A. McCallum, K. Nigam (1998). "A comparison of event models for naive
       Bayes text classification."

    Examples
    --------
    >>> import numpy as np
    >>> from lamina.plugins.bayes.discrete import BernoulliNB
    >>> rng = np.random.default_rng(1)
    >>> X = rng.integers(2, size=(6, 100))
    >>> BernoulliNB().fit(X, [1, 2, 3, 4, 5, 6]).predict(X[2:3])
    array([3])
    """

    _non_negative = False

    def __init__(
        self,
        *,
        alpha: float = 1.0,
        force_alpha: bool = True,
        binarize: float | None = 0.0,
        fit_prior: bool = True,
        class_prior: tuple[float, ...] | None = None,
    ) -> None:
        self.alpha = alpha
        self.force_alpha = force_alpha
        self.binarize = binarize
        self.fit_prior = fit_prior
        self.class_prior = class_prior

    def _check_params(self) -> None:
        super()._check_params()
        if self.binarize is not None:
            check_number("binarize", self.binarize, owner="BernoulliNB")

    def _binarize(self) -> float | None:
        return None if self.binarize is None else float(self.binarize)

    def _update_feature_log_prob(self, alpha: float | np.ndarray) -> None:
        smoothed = self.feature_count_ + alpha
        with np.errstate(divide="ignore", invalid="ignore"):
            self.feature_log_prob_ = np.log(smoothed) - np.log(
                self.class_count_[:, None] + 2 * alpha
            )

    def _linear_form(self) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(divide="ignore", invalid="ignore"):
            log_absent = np.log1p(-np.exp(self.feature_log_prob_))
        return (self.feature_log_prob_ - log_absent).T, self.class_log_prior_ + log_absent.sum(
            axis=1
        )
