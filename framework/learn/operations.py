"""The learner pipeline operations, registered by :mod:`lamina.learn` as the
``learn`` plugin: bundled tables, a stratified split, cross-validation and
fitting a generative learner on image patches."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from lamina.errors import InputError
from lamina.io import tile_images
from lamina.learn import cv
from lamina.learn.datasets import load_dataset

__all__ = ["OPERATIONS", "cross_validate", "dataset", "fit_generative", "split"]


def _table(data: Any) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(data, dict) or "X" not in data or "y" not in data:
        raise InputError("data must be a table with keys 'X' and 'y'")
    X, y = np.asarray(data["X"]), np.asarray(data["y"])
    if len(X) != len(y) or len(X) < 2:
        raise InputError(f"data has {len(X)} rows of X and {len(y)} labels")
    return X, y


def dataset(*, name: str) -> dict[str, Any]:
    """A bundled table (``lamina datasets``) as {"X", "y", "feature_names"}: numeric
    columns as floats, categorical ones as text (missing values as "")."""
    table = load_dataset(name)
    if any(table.categorical):
        X = np.array([["" if v is None else str(v) for v in row] for row in table.X], dtype=str)
    else:
        X = table.X.astype(np.float64)
    return {"X": X, "y": table.y.astype(str), "feature_names": list(table.feature_names)}


def split(*, data: Any, test_fraction: float = 0.25, seed: int = 0) -> dict[str, Any]:
    """Stratified train/test split of a table {"X", "y"}."""
    if not 0 < test_fraction < 1:
        raise InputError(f"test_fraction must be in (0, 1), got {test_fraction}")
    X, y = _table(data)
    train, test = cv.stratified_folds(y, round(1 / test_fraction), random_state=seed)[0]
    return {"train": {"X": X[train], "y": y[train]}, "test": {"X": X[test], "y": y[test]}}


def cross_validate(*, component: Any, data: Any, folds: int = 5, seed: int = 0) -> dict[str, Any]:
    """Stratified k-fold accuracy of a classifier, with fit and predict times."""
    X, y = _table(data)
    scores = cv.cross_validate(component, X, y, folds=folds, seed=seed)
    accuracy = [s.accuracy for s in scores]
    return {
        "accuracy_mean": float(np.mean(accuracy)),
        "accuracy_std": float(np.std(accuracy)),
        "majority_baseline": cv.majority_baseline(y),
        "folds": folds,
        "fold_accuracy": accuracy,
        "fit_seconds": sum(s.fit_seconds for s in scores),
        "predict_seconds": sum(s.predict_seconds for s in scores),
    }


def fit_generative(*, component: Any, data: Any, shown: int = 16, seed: int = 0) -> dict[str, Any]:
    """Fit a generative learner on square patches {"X"}; report its ELBO and picture
    originals, reconstructions and samples."""
    X = np.asarray(data["X"] if isinstance(data, dict) else data, dtype=np.float32)
    side = math.isqrt(X.shape[1])
    if side * side != X.shape[1]:
        raise InputError(f"rows of {X.shape[1]} values are not square patches")
    start = time.perf_counter()
    component.fit(X)
    seconds = time.perf_counter() - start
    picked = X[np.random.default_rng(seed).choice(len(X), size=min(shown, len(X)), replace=False)]
    reconstructed = component.inverse_transform(component.transform(picked))
    samples = np.asarray(component.sample(shown, random_state=seed))
    return {
        "mean_elbo_nats": float(np.mean(component.score_samples(X))),
        "fit_seconds": seconds,
        "originals": _patches(picked, side),
        "reconstructions": _patches(np.asarray(reconstructed), side),
        "samples": _patches(samples, side),
    }


def _patches(rows: np.ndarray, side: int) -> np.ndarray:
    """Rows of ``side`` x ``side`` patches as one picture, 8 across on white."""
    return tile_images(rows.reshape(-1, side, side), 8, background=1.0)


OPERATIONS = {
    "dataset": dataset,
    "split": split,
    "cross_validate": cross_validate,
    "fit_generative": fit_generative,
}
