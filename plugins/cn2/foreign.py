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
from collections.abc import Callable
from typing import Any

import numpy as np

from lamina.array_api import check_foreign_array, device_of, numpy_dtype, work_dtype
from lamina.learn.datasets import column_keys
from lamina.plugins.cn2.rules import Condition, Rule, flexible_counts

__all__ = ["category_number", "foreign_probabilities"]


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


def foreign_probabilities(model: Any, X: Any, xp: Any) -> Any:
    """``model.predict_proba`` of the foreign array ``X`` (validated here; NaN =
    missing), computed in ``xp`` on ``X``'s device in the same order of
    operations as for NumPy input."""
    dtype = numpy_dtype(X)
    X = check_foreign_array(X, xp, owner="CN2Classifier", allow_nan=True)
    model._check_features(int(X.shape[1]), None, reset=False)
    device = device_of(X)
    work = work_dtype(xp, device)
    X = xp.astype(X, work)
    test = _condition_tests(model, X, dtype, xp)
    rules = [*model.rules_, *model.ranking_rules_]
    fired = []
    for rule in rules:
        covered = xp.ones(X.shape[0], dtype=xp.bool, device=device)
        for condition in rule.conditions:
            covered = covered & test(condition)
        fired.append(covered)
    if model.ordered:

        def first_rule(rules: list[Rule], fired: list[Any]) -> Any:
            table = xp.asarray(
                np.array([rule.probabilities() for rule in rules]), device=device, dtype=work
            )
            return xp.take(table, xp.argmax(xp.astype(xp.stack(fired), xp.int8), axis=0), axis=0)

        n_rules = len(model.rules_)
        proba = first_rule(model.rules_, fired[:n_rules])
        if model.ranking_rules_:
            proba = (proba + first_rule(model.ranking_rules_, fired[n_rules:])) / 2.0
        return proba
    rules = model.rules_
    counts = xp.asarray(np.array([rule.distribution for rule in rules]), device=device, dtype=work)
    shape = (int(X.shape[0]), int(counts.shape[1]))
    summed = xp.zeros(shape, device=device, dtype=work)
    for r in range(len(rules) - 1):
        summed = xp.where(fired[r][:, None], summed + counts[r], summed)
    none = ~xp.any(xp.stack(fired[:-1]), axis=0) if len(rules) > 1 else xp.ones_like(fired[0])
    default = counts[-1]
    if model.flexible_matching and len(rules) > 1 and bool(xp.any(none)):
        partial = flexible_counts(rules[:-1], test, shape, xp, dtype=work, device=device)
        default = xp.where(xp.sum(partial, axis=1, keepdims=True) > 0, partial, default)
    summed = xp.where(none[:, None], default, summed)
    return (summed + 1.0) / (xp.sum(summed, axis=1, keepdims=True) + summed.shape[1])


def _condition_tests(model: Any, X: Any, dtype: np.dtype, xp: Any) -> Callable[[Condition], Any]:
    """Each condition's booleans over the rows of ``X`` (``xp``, converted from
    ``dtype``), evaluated once."""
    known: dict[int, Any] = {}

    def category_test(feature: int, category: str) -> Any:
        number = category_number(category, dtype)
        column = X[:, feature]
        return column == number if number is not None else xp.zeros_like(column, dtype=xp.bool)

    def evaluate(condition: Condition) -> Any:
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

    def test(condition: Condition) -> Any:
        if condition not in cache:
            cache[condition] = evaluate(condition)
        return cache[condition]

    return test
