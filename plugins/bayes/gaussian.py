"""Gaussian naive Bayes: one normal distribution per class and feature."""

from __future__ import annotations

from typing import Any

import numpy as np

from lamina.array_api import (
    device_of,
    foreign_namespace,
    host,
    numpy_dtype,
    to_namespace,
    to_numpy,
    work_dtype,
)
from lamina.errors import InputError
from lamina.learn.model_file import check_fitted_array
from lamina.learn.validation import check_number
from lamina.plugins.bayes.base import (
    BaseNB,
    check_prior,
    class_sums,
    one_hot,
    row_blocks,
    thin_product,
)

__all__ = [
    "GaussianNB",
    "check_expanded_form",
    "check_finite_likelihood",
    "check_moments_finite",
    "class_moments",
    "gaussian_log_likelihood",
    "merge_moments",
]


def class_moments(
    X: np.ndarray,
    codes: np.ndarray,
    weights: np.ndarray,
    n_classes: int,
    *,
    missing: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted count, mean and sum of squared deviations (M2) per class and feature.

    ``X`` may hold NaN (missing): those entries are left out of their
    feature's statistics, so counts are per class *and* feature. Blocks of
    rows are reduced exactly (two passes in cache) and merged with Chan et
    al.'s pairwise update, which keeps the variance accurate for data far
    from the origin. ``missing=False`` promises that ``X`` holds no NaN (it
    was validated) and saves the pass over ``X`` that looks for them.

    Returns
    -------
    count, mean, m2 : ndarray of shape (n_classes, n_features)
    """
    n_features = X.shape[1]
    count = np.zeros((n_classes, n_features))
    mean = np.zeros((n_classes, n_features))
    m2 = np.zeros((n_classes, n_features))
    has_nan = missing and X.dtype.kind == "f" and bool(np.isnan(np.sum(X)))
    for rows in row_blocks(X.shape[0], n_features):
        block = np.asarray(X[rows], dtype=np.float64)
        Y = one_hot(codes[rows], n_classes, weights[rows])
        if has_nan:
            present = ~np.isnan(block)
            block = np.where(present, block, 0.0)
            block_count = class_sums(Y, present.astype(np.float64))
        else:
            present = None
            block_count = np.repeat(Y.sum(axis=0)[:, None], n_features, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            block_mean = np.where(block_count > 0, class_sums(Y, block) / block_count, 0.0)
        deviation = block - block_mean[codes[rows]]
        if present is not None:
            deviation *= present
        block_m2 = class_sums(Y, deviation * deviation)
        count, mean, m2 = merge_moments(count, mean, m2, block_count, block_mean, block_m2)
    return count, mean, m2


def merge_moments(
    n_a: np.ndarray,
    mean_a: np.ndarray,
    m2_a: np.ndarray,
    n_b: np.ndarray,
    mean_b: np.ndarray,
    m2_b: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Combine two sets of (count, mean, M2) statistics (Chan, Golub & LeVeque 1979)."""
    n = n_a + n_b
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(n > 0, n_b / n, 0.0)
    delta = mean_b - mean_a
    mean = mean_a + delta * share
    m2 = m2_a + m2_b + delta * delta * n_a * share
    return n, mean, m2


def gaussian_log_likelihood(
    X: np.ndarray, theta: np.ndarray, var: np.ndarray, *, skip_missing: bool = False
) -> np.ndarray:
    """``sum_j log N(x_j; theta_cj, var_cj)`` for every sample and class.

    The quadratic form is expanded into two matrix products on data centred
    at the mean of the class means, so there is no per-class pass over ``X``
    and no cancellation for data far from the origin. With ``skip_missing``
    NaN entries contribute nothing (the feature is marginalised out).
    """
    n_classes, n_features = theta.shape
    center, quadratic, linear, constant = _expanded_form(theta, var)
    out = np.empty((X.shape[0], n_classes))
    for rows in row_blocks(X.shape[0], n_features):
        block = np.asarray(X[rows], dtype=np.float64) - center
        if skip_missing:
            present = ~np.isnan(block)
            block = np.where(present, block, 0.0)
            out[rows] = (
                thin_product(block * block, quadratic)
                + thin_product(block, linear)
                + thin_product(present.astype(np.float64), constant.T)
            )
        else:
            out[rows] = (
                thin_product(block * block, quadratic)
                + thin_product(block, linear)
                + constant.sum(axis=1)
            )
    return out


def _expanded_form(
    theta: np.ndarray, var: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``center, quadratic, linear, constant`` with ``log N(x) = (x-center)**2 @ quadratic
    + (x-center) @ linear + constant`` summed over features (float64)."""
    theta, var = np.asarray(theta, np.float64), np.asarray(var, np.float64)
    center = theta.mean(axis=0)
    shifted = theta - center
    precision = 1.0 / var
    log_norm = -0.5 * np.log(2.0 * np.pi * var)
    constant = log_norm - 0.5 * shifted * shifted * precision
    return center, -0.5 * precision.T, (shifted * precision).T, constant


def check_expanded_form(theta: np.ndarray, var: np.ndarray, owner: str) -> None:
    """Raise :class:`InputError` if means and variances read from a file would make
    prediction overflow (absurd but finite values)."""
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        parts = _expanded_form(theta, var)
    if not all(np.isfinite(part).all() for part in parts):
        raise InputError(f"fitted theta_ and var_ of {owner} overflow float64 in prediction")


def foreign_class_moments(
    X: Any, codes: np.ndarray, weights: np.ndarray, n_classes: int, xp: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`class_moments` of a foreign array, computed in its namespace and on its
    device (two passes: means, then squared deviations); the small results as NumPy."""
    device = device_of(X)
    X = xp.astype(X, work_dtype(xp, device))
    codes_ = to_namespace(codes, xp, device)
    Y = xp.astype(codes_[:, None] == xp.arange(n_classes, device=device)[None, :], X.dtype)
    Y = Y * to_namespace(weights, xp, device, X.dtype)[:, None]
    count = xp.sum(Y, axis=0)
    mean = (Y.T @ X) / xp.where(count > 0, count, xp.ones_like(count))[:, None]
    deviation = X - xp.take(mean, codes_, axis=0)
    m2 = Y.T @ (deviation * deviation)
    counts = np.repeat(to_numpy(count).astype(np.float64)[:, None], X.shape[1], axis=1)
    return counts, to_numpy(mean).astype(np.float64), to_numpy(m2).astype(np.float64)


class GaussianNB(BaseNB):
    """Gaussian naive Bayes (scikit-learn's ``GaussianNB`` API and results).

    Each feature is normal within each class, with mean ``theta_`` and
    variance ``var_`` estimated by maximum likelihood (weighted by
    ``sample_weight``). ``partial_fit`` streams data larger than memory: the
    model after any split into batches equals the model fitted at once.

    Parameters
    ----------
    priors : sequence of float, optional
        Prior probabilities of the classes (in the order of ``classes_``);
        by default the class frequencies.
    var_smoothing : float
        Portion of the largest feature variance added to every variance
        for numerical stability.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    class_count_ : ndarray of shape (n_classes,)
        Weighted number of training samples per class.
    class_prior_ : ndarray of shape (n_classes,)
    theta_ : ndarray of shape (n_classes, n_features)
        Mean of each feature per class.
    var_ : ndarray of shape (n_classes, n_features)
        Variance of each feature per class (``epsilon_`` included).
    epsilon_ : float
        Absolute value added to the variances.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.

    Notes
    -----
    ``epsilon_`` is ``var_smoothing`` times the largest variance of all data
    seen so far (scikit-learn uses the latest batch's in ``partial_fit``), so
    streaming and batch fits agree. NaN in ``X`` is an error; ``mixed-nb``
    treats it as missing.

    References
    ----------
    .. [1] H. Zhang (2004). "The optimality of naive Bayes." FLAIRS.
    .. [2] T. F. Chan, G. H. Golub, R. J. LeVeque (1979). "Updating formulae and a
       pairwise algorithm for computing sample variances." Stanford CS-TR-79-773.

    Examples
    --------
    >>> import numpy as np
    >>> from lamina.plugins.bayes.gaussian import GaussianNB
    >>> X = np.array([[-1.0, -1], [-2, -1], [-3, -2], [1, 1], [2, 1], [3, 2]])
    >>> y = np.array([1, 1, 1, 2, 2, 2])
    >>> GaussianNB().fit(X, y).predict([[-0.8, -1]])
    array([1])
    """

    # Fitted attributes, read by partial_fit before this fit sets them (for mypy).
    theta_: np.ndarray
    var_: np.ndarray
    class_count_: np.ndarray
    epsilon_: float

    def __init__(
        self, *, priors: tuple[float, ...] | None = None, var_smoothing: float = 1e-9
    ) -> None:
        self.priors = priors
        self.var_smoothing = var_smoothing

    def _check_params(self) -> None:
        check_number("var_smoothing", self.var_smoothing, low=0.0, owner=type(self).__name__)

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> GaussianNB:
        """Estimate class priors, means and variances from ``X`` and ``y``."""
        self._check_params()
        foreign = self._validate_foreign(X, reset=True)
        X = foreign[0] if foreign else self._validate_x(host(X), reset=True)
        codes, weights = self._fit_classes(y, X.shape[0], sample_weight)
        for name in ("theta_", "var_", "class_count_", "epsilon_"):
            self.__dict__.pop(name, None)
        self._update(X, codes, weights)
        return self

    def partial_fit(
        self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None
    ) -> GaussianNB:
        """Update the model with one batch; ``classes`` is required on the first call."""
        self._check_params()
        first = not hasattr(self, "classes_")
        foreign = self._validate_foreign(X, reset=first)
        X = foreign[0] if foreign else self._validate_x(host(X), reset=first)
        codes, weights, _ = self._partial_fit_classes(y, classes, X.shape[0], sample_weight)
        self._update(X, codes, weights)
        return self

    def _update(self, X: Any, codes: np.ndarray, weights: np.ndarray) -> None:
        n_classes = len(self.classes_)
        xp = foreign_namespace(X)
        # Squares of values beyond ~1e154 overflow: reported below, not as numpy warnings.
        with np.errstate(over="ignore", invalid="ignore"):
            if xp is None:
                count, mean, m2 = class_moments(X, codes, weights, n_classes, missing=False)
            else:
                count, mean, m2 = foreign_class_moments(X, codes, weights, n_classes, xp)
            if hasattr(self, "theta_"):
                seen = np.repeat(self.class_count_[:, None], X.shape[1], axis=1)
                seen_m2 = (self.var_ - self.epsilon_) * seen
                count, mean, m2 = merge_moments(seen, self.theta_, seen_m2, count, mean, m2)
            count = count[:, 0]
            with np.errstate(divide="ignore"):
                variance = np.where(count[:, None] > 0, m2 / count[:, None], 0.0)
            total = count.sum()
            grand_mean = (count[:, None] * mean).sum(axis=0) / total
            total_var = (count[:, None] * (variance + (mean - grand_mean) ** 2)).sum(axis=0) / total
        check_moments_finite(X, mean, total_var, type(self).__name__)
        # Constant data everywhere would give zero variances: fall back to an absolute epsilon.
        self.epsilon_ = float(self.var_smoothing * (total_var.max() or 1.0))
        # Statistics are accumulated in float64 and kept in X's dtype, as scikit-learn does.
        dtype = numpy_dtype(X)
        self.theta_ = mean.astype(dtype)
        self.var_ = (variance + self.epsilon_).astype(dtype)
        self.class_count_ = count.astype(dtype)
        if self.priors is not None:
            prior = check_prior(self.priors, n_classes, "priors", type(self).__name__)
            if not np.isclose(prior.sum(), 1.0):
                raise InputError(
                    f"parameter 'priors' of {type(self).__name__}: The sum of the priors "
                    f"should be 1, got {prior.sum()}"
                )
            self.class_prior_ = prior.astype(dtype)
        else:
            self.class_prior_ = (count / total).astype(dtype)
        if self.epsilon_ == 0.0 and np.any(self.var_[count > 0] == 0.0):
            raise InputError(
                f"{type(self).__name__}: a feature is constant within a class and "
                "var_smoothing is 0, so its variance is zero; set var_smoothing > 0"
            )

    def _check_predict_x(self, X: Any) -> np.ndarray:
        return self._validate_x(X, reset=False)

    def _joint_log_likelihood(self, X: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            likelihood = gaussian_log_likelihood(X, self.theta_, self.var_)
        check_finite_likelihood(X, np.isfinite(likelihood), type(self).__name__)
        return likelihood + self._log_prior()

    def _foreign_joint_log_likelihood(self, X: Any, xp: Any) -> Any:
        device = device_of(X)
        center, quadratic, linear, constant = (
            to_namespace(a, xp, device, X.dtype) for a in _expanded_form(self.theta_, self.var_)
        )
        X = X - center
        likelihood = (X * X) @ quadratic + X @ linear + xp.sum(constant, axis=1)
        finite = xp.isfinite(likelihood)
        if not bool(xp.all(finite)):
            check_finite_likelihood(to_numpy(X), to_numpy(finite), type(self).__name__)
        return likelihood + to_namespace(self._log_prior(), xp, device, X.dtype)

    def _check_state(self) -> None:
        super()._check_state()
        shape = (len(self.classes_), self.n_features_in_)
        owner = type(self).__name__
        check_fitted_array(getattr(self, "theta_", None), f"theta_ of {owner}", shape)
        check_fitted_array(
            getattr(self, "var_", None), f"var_ of {owner}", shape, low=0, strict=True
        )
        self._check_counts("class_count_", shape[:1])
        prior = check_fitted_array(
            getattr(self, "class_prior_", None), f"class_prior_ of {owner}", shape[:1], low=0
        )
        if not np.isclose(prior.sum(), 1.0):
            raise InputError(f"fitted class_prior_ of {owner} sums to {prior.sum()}, not 1")
        check_expanded_form(self.theta_, self.var_, owner)
        epsilon = getattr(self, "epsilon_", None)
        if not isinstance(epsilon, (int, float)) or not 0 <= epsilon < np.inf:
            raise InputError(f"fitted epsilon_ of {owner} must be a number >= 0, got {epsilon!r}")

    def _log_prior(self) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(self.class_prior_.astype(np.float64))


def check_finite_likelihood(X: np.ndarray, finite: np.ndarray, owner: str) -> None:
    """One clear :class:`InputError` (bad data: the fix is rescaling ``X``) where a
    sample's Gaussian log-likelihood overflowed float64; ``finite`` is its mask."""
    if finite.all():
        return
    row = int(np.argwhere(~finite)[0][0])
    raise InputError(
        f"{owner}: sample {row} of X (largest |value| "
        f"{np.nanmax(np.abs(X[row])):.3g}) lies so far from every class that its squared "
        "distance overflows float64; rescale X as the training data were"
    )


def check_moments_finite(
    X: Any,
    mean: np.ndarray,
    variance: np.ndarray,
    owner: str,
    *,
    columns: np.ndarray | None = None,
) -> None:
    """One clear :class:`InputError` (bad data) where the class means or variances of a
    column of ``X`` overflowed float64; ``columns`` are the columns' numbers in the
    user's table when ``X`` holds only some of them."""
    bad = ~np.isfinite(variance) | ~np.isfinite(mean).all(axis=0)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        feature = j if columns is None else int(columns[j])
        raise InputError(
            f"{owner}: the variance of feature {feature} overflows float64 (|X[:, {feature}]| "
            f"reaches {np.nanmax(np.abs(to_numpy(X[:, j]))):.3g}); rescale X first, "
            "e.g. with StandardScaler"
        )
