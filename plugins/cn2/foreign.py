"""CN2 prediction on arrays of other libraries (array API: torch, CuPy, ...).

The rules are tested on the input's own array library and device: a numeric
condition is a comparison of a column with its threshold; a categorical one
compares the column with the number whose category key
(:func:`lamina.learn.datasets.column_keys`) is the condition's category, so a
foreign array gives exactly the coverage its NumPy copy gives. Foreign arrays
hold numbers only; tables with text columns stay NumPy.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lamina.array_api import check_foreign_array, device_of, numpy_dtype, work_dtype
from lamina.learn.datasets import column_keys
from lamina.plugins.cn2.rules import Condition, Rule

__all__ = ["category_number", "foreign_coverage", "foreign_probabilities"]


def category_number(category: str, dtype: np.dtype) -> float | None:
    """The value a column of ``dtype`` holds where its category key is ``category``,
    or ``None`` when no value of that dtype has that key.

    >>> category_number("3", np.dtype(np.float64)), category_number("3.5", np.dtype(np.int64))
    (3.0, None)
    """
    if dtype.kind == "b":
        return {"True": 1.0, "False": 0.0}.get(category)
    try:
        number = float(category)
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    with np.errstate(invalid="ignore", over="ignore"):
        key = column_keys(np.array([number]).astype(dtype))[0]
    return number if key == category else None


def foreign_coverage(model: Any, X: Any, xp: Any) -> Any:
    """``(n_rules, n_samples)`` booleans of ``xp``: which of ``model.rules_`` and
    ``model.ranking_rules_`` fire on which rows of the foreign array ``X``
    (validated here; NaN = missing)."""
    dtype = numpy_dtype(X)
    X = check_foreign_array(X, xp, owner="CN2Classifier", allow_nan=True)
    model._check_features(int(X.shape[1]), None, reset=False)
    X = xp.astype(X, work_dtype(xp, device_of(X)))
    known: dict[int, Any] = {}

    def category_test(feature: int, category: str) -> Any:
        number = category_number(category, dtype)
        column = X[:, feature]
        return column == number if number is not None else xp.zeros_like(column, dtype=xp.bool)

    def test(condition: Condition) -> Any:
        column = X[:, condition.feature]
        if condition.numeric:
            return column <= condition.value if condition.op == "<=" else column > condition.value
        categories = model.categories_[condition.feature].tolist()
        equal = (
            category_test(condition.feature, str(condition.value))
            if condition.value in categories
            else xp.zeros_like(column, dtype=xp.bool)
        )
        if condition.op == "==":
            return equal
        if condition.feature not in known:  # a value among the categories (not missing, not unseen)
            seen = xp.zeros_like(column, dtype=xp.bool)
            for category in categories:
                seen = seen | category_test(condition.feature, category)
            known[condition.feature] = seen
        return known[condition.feature] & ~equal

    cache: dict[Condition, Any] = {}
    fired = []
    for rule in [*model.rules_, *model.ranking_rules_]:
        covered = xp.ones(X.shape[0], dtype=xp.bool, device=device_of(X))
        for condition in rule.conditions:
            if condition not in cache:
                cache[condition] = test(condition)
            covered = covered & cache[condition]
        fired.append(covered)
    return xp.stack(fired)


def foreign_probabilities(
    rules: list[Rule], ranking_rules: list[Rule], fired: Any, xp: Any, *, ordered: bool
) -> Any:
    """Class probabilities from the coverage ``fired`` of ``rules`` then
    ``ranking_rules`` (as ``CN2Classifier.predict_proba`` computes them for NumPy
    input, in the same order of operations), in ``xp``."""
    device = device_of(fired)
    dtype = work_dtype(xp, device)
    if ordered:

        def first_rule(rules: list[Rule], fired: Any) -> Any:
            table = xp.asarray(
                np.array([rule.probabilities() for rule in rules]), device=device, dtype=dtype
            )
            return xp.take(table, xp.argmax(xp.astype(fired, xp.int8), axis=0), axis=0)

        proba = first_rule(rules, fired[: len(rules)])
        if ranking_rules:
            proba = (proba + first_rule(ranking_rules, fired[len(rules) :])) / 2.0
        return proba
    counts = xp.asarray(np.array([rule.distribution for rule in rules]), device=device, dtype=dtype)
    summed = xp.zeros((fired.shape[1], counts.shape[1]), device=device, dtype=dtype)
    for r in range(len(rules) - 1):
        summed = xp.where(fired[r][:, None], summed + counts[r], summed)
    none = ~xp.any(fired[:-1], axis=0)
    summed = xp.where(none[:, None], counts[-1], summed)
    return (summed + 1.0) / (xp.sum(summed, axis=1, keepdims=True) + summed.shape[1])
