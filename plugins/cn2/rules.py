"""Conditions and rules: readable, JSON-exportable, evaluated on whole columns."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lamina.errors import InputError

__all__ = ["OPERATORS", "Condition", "Rule", "flexible_counts", "format_value"]

#: Tests on categorical (``==``, ``!=``) and numeric (``<=``, ``>``) attributes.
OPERATORS = ("==", "!=", "<=", ">")


def format_value(value: Any) -> str:
    """A threshold or category as printed in a rule (up to 6 significant digits)."""
    if isinstance(value, float):
        text = f"{value:.6g}"
        return text if "e" in text or float(text) == value else repr(value)
    return str(value)


@dataclass(frozen=True)
class Condition:
    """One test ``feature op value`` of a rule; a missing value satisfies no test.

    Parameters
    ----------
    feature : int
        Column index.
    name : str
        Column name (for printing).
    op : {"==", "!=", "<=", ">"}
    value : str or float
        A category (``==``, ``!=``) or a threshold (``<=``, ``>``).
    """

    feature: int
    name: str
    op: str
    value: str | float

    def __post_init__(self) -> None:
        if self.op not in OPERATORS:
            raise InputError(f"condition operator must be one of {OPERATORS}, got {self.op!r}")

    @property
    def numeric(self) -> bool:
        return self.op in ("<=", ">")

    def __str__(self) -> str:
        return f"{self.name} {self.op} {format_value(self.value)}"

    def evaluate(self, column: np.ndarray, categories: np.ndarray | None = None) -> np.ndarray:
        """Boolean coverage of an encoded column: floats (NaN = missing) for a
        numeric test; for a categorical one, integer codes into ``categories``
        (-1 = missing or unseen)."""
        if self.numeric:
            with np.errstate(invalid="ignore"):
                return column <= self.value if self.op == "<=" else column > self.value
        if categories is None:
            raise InputError(f"condition {self} needs the column's categories")
        found = np.flatnonzero(np.asarray(categories) == self.value)
        # -2 matches no code: a category the column never holds covers nothing.
        equal = column == (found[0] if found.size else -2)
        return equal if self.op == "==" else (column >= 0) & ~equal

    def to_dict(self) -> dict[str, Any]:
        return {"feature": self.feature, "name": self.name, "op": self.op, "value": self.value}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Condition:
        try:
            value, feature = data["value"], data["feature"]
            if type(feature) is not int:
                raise ValueError(f"feature must be a column index, got {feature!r}")
            if data["op"] in ("<=", ">"):
                if type(value) not in (int, float) or not math.isfinite(value):
                    raise ValueError(f"threshold must be a finite number, got {value!r}")
                value = float(value)
            elif not isinstance(value, str):
                raise ValueError(f"category must be text, got {value!r}")
            return cls(feature, str(data["name"]), str(data["op"]), value)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise InputError(f"bad condition: {str(data)[:200]} ({error})") from None


@dataclass(frozen=True)
class Rule:
    """``IF conditions THEN class = prediction`` with the class distribution of
    the training examples it covered.

    Attributes
    ----------
    conditions : tuple of Condition
        All must hold (an empty tuple is the default rule).
    prediction : int
        Index of the predicted class in ``classes``.
    distribution : tuple of float
        Training examples covered, per class.
    classes : tuple of str
        Class labels as text.
    quality : float
        Value of the search heuristic when the rule was chosen.
    """

    conditions: tuple[Condition, ...]
    prediction: int
    distribution: tuple[float, ...]
    classes: tuple[str, ...]
    quality: float = float("nan")

    @property
    def length(self) -> int:
        return len(self.conditions)

    @property
    def label(self) -> str:
        return self.classes[self.prediction]

    @property
    def coverage(self) -> float:
        return float(sum(self.distribution))

    def probabilities(self) -> np.ndarray:
        """Laplace-corrected class probabilities ``(n_c + 1) / (n + K)``."""
        counts = np.asarray(self.distribution, dtype=np.float64)
        return (counts + 1.0) / (counts.sum() + len(counts))

    def __str__(self) -> str:
        body = " AND ".join(str(c) for c in self.conditions) if self.conditions else "TRUE"
        counts = ", ".join(
            format_value(float(v)) if v != int(v) else str(int(v)) for v in self.distribution
        )
        return f"IF {body} THEN class={self.label} [{counts}]"

    def to_dict(self) -> dict[str, Any]:
        return {
            "conditions": [c.to_dict() for c in self.conditions],
            "prediction": self.prediction,
            "class": self.label,
            "distribution": [float(v) for v in self.distribution],
            "classes": list(self.classes),
            "quality": None if math.isnan(self.quality) else self.quality,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rule:
        try:
            classes = tuple(str(c) for c in data["classes"])
            distribution = tuple(float(v) for v in data["distribution"])
            prediction = data["prediction"]
            if type(prediction) is not int:
                raise ValueError(f"prediction must be a class index, got {prediction!r}")
            if len(distribution) != len(classes) or not 0 <= prediction < len(classes):
                raise ValueError("distribution, classes and prediction disagree")
            if not all(math.isfinite(v) and v >= 0 for v in distribution):
                raise ValueError("class counts must be finite and non-negative")
            quality = data.get("quality")
            return cls(
                tuple(Condition.from_dict(c) for c in data["conditions"]),
                prediction,
                distribution,
                classes,
                float("nan") if quality is None else float(quality),
            )
        except KeyError as error:
            raise InputError(f"a rule lacks the key {error}") from None
        except (TypeError, ValueError, OverflowError, AttributeError) as error:
            raise InputError(f"bad rule: {error}") from None


def flexible_counts(
    rules: Sequence[Rule],
    test: Callable[[Condition], Any],
    shape: tuple[int, int],
    xp: Any,
    *,
    dtype: Any,
    device: Any = None,
) -> Any:
    """Flexible matching (AQ15; Michalski et al. 1986): the class counts of all
    ``rules`` (conditions required), each weighted by the fraction of its
    conditions a row satisfies: an array of ``shape`` (rows, classes), zero for
    a row that satisfies no condition of any rule.

    ``test(condition)`` gives the condition's booleans over the rows, as an
    array of the array-API namespace ``xp``; the sums run rule by rule in the
    rules' order, so every namespace gives the same values.
    """
    counts = xp.zeros(shape, dtype=dtype, device=device)
    for rule in rules:
        satisfied = xp.zeros(shape[:1], dtype=dtype, device=device)
        for condition in rule.conditions:
            satisfied = satisfied + xp.astype(test(condition), dtype)
        distribution = xp.asarray(rule.distribution, dtype=dtype, device=device)
        counts = counts + (satisfied / len(rule.conditions))[:, None] * distribution
    return counts
