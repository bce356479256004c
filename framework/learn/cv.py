"""Stratified splits and the one cross-validation loop, shared by ``lamina learn``
and the ``cross_validate`` pipeline operation."""

from __future__ import annotations

import numbers
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lamina.errors import InputError
from lamina.learn.base import clone_learner

__all__ = ["FoldScore", "cross_validate", "evaluate", "majority_baseline", "stratified_folds"]


@dataclass(frozen=True)
class FoldScore:
    """One train/test evaluation: accuracy on the test rows and the seconds
    spent fitting and predicting."""

    accuracy: float
    fit_seconds: float
    predict_seconds: float


def stratified_folds(
    y: Sequence[Any] | np.ndarray,
    n_splits: int = 10,
    *,
    shuffle: bool = True,
    random_state: int | None = 0,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified k-fold splits as ``(train_indices, test_indices)`` pairs.

    Each class is spread over the folds as evenly as possible (fold sizes
    differ by at most one per class), which is what scikit-learn's
    ``StratifiedKFold`` promises too.
    """
    labels = np.asarray(y)
    n = labels.shape[0]
    if isinstance(n_splits, bool) or not isinstance(n_splits, numbers.Integral) or n_splits < 2:
        raise InputError(f"the number of folds must be an integer >= 2, got {n_splits!r}")
    if n_splits > n:
        raise InputError(f"cannot make {n_splits} folds from {n} samples")
    rng = np.random.default_rng(random_state)
    _, codes = np.unique(labels, return_inverse=True)
    order = rng.permutation(n) if shuffle else np.arange(n)
    # Grouping by class (stable) then dealing rows round-robin stratifies exactly.
    order = order[np.argsort(codes[order], kind="stable")]
    fold_of = np.empty(n, dtype=np.int64)
    fold_of[order] = np.arange(n) % n_splits
    return [(np.flatnonzero(fold_of != k), np.flatnonzero(fold_of == k)) for k in range(n_splits)]


def evaluate(
    learner: Any,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    *,
    fit_keywords: dict[str, Any] | None = None,
) -> FoldScore:
    """Fit an unfitted copy of ``learner`` on the training rows and score it on the test rows."""
    model = clone_learner(learner)
    start = time.perf_counter()
    model.fit(X_train, y_train, **(fit_keywords or {}))
    fitted = time.perf_counter()
    predicted = model.predict(X_test)
    done = time.perf_counter()
    return FoldScore(float(np.mean(predicted == y_test)), fitted - start, done - fitted)


def cross_validate(
    learner: Any,
    X: np.ndarray,
    y: np.ndarray,
    *,
    folds: int = 10,
    seed: int = 0,
    fit_keywords: dict[str, Any] | None = None,
    on_fold: Callable[[list[FoldScore]], None] | None = None,
) -> list[FoldScore]:
    """Stratified ``folds``-fold cross-validation of ``learner`` (left unfitted).

    ``on_fold`` is called with the scores so far after each fold (a progress bar).

    >>> from lamina.plugins.bayes.gaussian import GaussianNB
    >>> X = np.r_[np.zeros((10, 1)), np.ones((10, 1))]
    >>> y = np.repeat(["a", "b"], 10)
    >>> [s.accuracy for s in cross_validate(GaussianNB(), X, y, folds=5)]
    [1.0, 1.0, 1.0, 1.0, 1.0]
    """
    scores: list[FoldScore] = []
    for train, test in stratified_folds(y, folds, random_state=seed):
        scores.append(
            evaluate(learner, X[train], y[train], X[test], y[test], fit_keywords=fit_keywords)
        )
        if on_fold is not None:
            on_fold(scores)
    return scores


def majority_baseline(y: np.ndarray) -> float:
    """Accuracy of always predicting the most frequent class.

    >>> majority_baseline(np.array(["a", "a", "b"]))
    0.6666666666666666
    """
    return float(np.max(np.unique(y, return_counts=True)[1]) / len(y))
