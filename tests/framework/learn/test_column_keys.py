"""``column_keys`` on seeded random float columns against exact arithmetic.

The reference keys nothing: it sorts values into equality classes with
:class:`fractions.Fraction` (exact for every finite float), infinities by sign and
NaN as missing. Equal values must share a key and distinct values never may,
across float16, float32 and float64 columns and against integer columns (``1.0``
and ``1`` are one category).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from lamina.learn.datasets import column_keys

#: Values where keying goes wrong first: signed zeros, subnormals, the normal range's
#: ends, the last odd integers, int64's and uint64's edges, infinities and NaN.
EDGES = np.array(
    [
        0.0,
        -0.0,
        5e-324,
        -5e-324,
        2.2250738585072014e-308,
        np.nextafter(2.2250738585072014e-308, 0),
        1.7976931348623157e308,
        -1.7976931348623157e308,
        2.0**52 + 1,
        2.0**53,
        2.0**53 + 2,
        2.0**63,
        -(2.0**63),
        np.nextafter(2.0**63, 0),
        np.nextafter(-(2.0**63), 0),
        2.0**64,
        1e300,
        0.5,
        -0.5,
        0.1,
        1.0,
        -1.0,
        np.inf,
        -np.inf,
        np.nan,
        -np.nan,
    ]
)
DTYPES = (np.float16, np.float32, np.float64)


def _reference_class(value: float) -> object:
    """An exact equality class: Fractions equal exactly when the floats are equal."""
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "+inf" if value > 0 else "-inf"
    return Fraction(value)


def _random_column(rng: np.random.Generator, dtype: type, size: int) -> np.ndarray:
    """Random bit patterns (every class of float, by its share of the bits), whole
    values of every magnitude, short decimals and edges, with repeats."""
    bits = {np.float16: np.uint16, np.float32: np.uint32, np.float64: np.uint64}[dtype]
    info = np.iinfo(bits)
    patterns = rng.integers(0, info.max, size, dtype=bits, endpoint=True).view(dtype)
    with np.errstate(over="ignore"):  # past float16/32's range: infinities
        whole = np.round(rng.normal(size=size) * 10.0 ** rng.integers(0, 70, size))
        decimals = np.round(rng.normal(size=size) * 100, int(rng.integers(0, 4)))
        pool = np.concatenate([patterns, whole.astype(dtype), decimals.astype(dtype)])
        pool = np.concatenate([pool, EDGES.astype(dtype)])
    return rng.choice(pool, 3 * size)  # draws with replacement: equal values recur


@pytest.mark.parametrize("seed", range(12))
def test_equal_floats_share_a_key_and_distinct_ones_never_do(seed: int) -> None:
    rng = np.random.default_rng(seed)
    columns = [_random_column(rng, dtype, 40) for dtype in DTYPES]
    # Integer columns key like the floats they equal: "1.0 and 1 are one category".
    finite = np.concatenate([c[np.isfinite(c)] for c in columns]).astype(np.float64)
    whole = finite[finite == np.round(finite)]
    columns.append(whole[np.abs(whole) < 2.0**63].astype(np.int64))
    unsigned = whole[(whole >= 0) & (whole < 2.0**64)].astype(np.uint64)
    top = np.iinfo(np.uint64).max
    columns.append(np.concatenate([unsigned, rng.integers(0, top, 20, np.uint64, endpoint=True)]))
    keys: list[object] = []
    classes: list[object] = []
    for column in columns:
        keys += column_keys(column).tolist()
        classes += [
            _reference_class(float(v)) if column.dtype.kind == "f" else Fraction(int(v))
            for v in column.tolist()
        ]
    assert len(keys) == len(classes)
    key_of: dict[object, object] = {}
    class_of: dict[object, object] = {}
    for key, cls in zip(keys, classes, strict=True):
        assert (key is None) == (cls is None), (key, cls)
        assert key_of.setdefault(cls, key) == key, (
            f"equal values {cls!r} keyed {key!r}, {key_of[cls]!r}"
        )
        assert class_of.setdefault(key, cls) == cls, (
            f"{cls!r} and {class_of[key]!r} share key {key!r}"
        )
    assert len(key_of) > 100  # many distinct values met, many of them more than once
    assert sum(cls is None for cls in classes) > 0 and Fraction(0) in key_of


def test_keys_are_readable_numbers() -> None:
    # The key is what users see as the category: a whole value as an integer, any
    # other value as text that parses back to the same float.
    rng = np.random.default_rng(7)
    for dtype in DTYPES:
        column = _random_column(rng, dtype, 200)
        for value, key in zip(column.tolist(), column_keys(column).tolist(), strict=True):
            if math.isnan(value):
                assert key is None
            elif math.isfinite(value) and value == int(value):
                assert key == str(int(Fraction(value))), (value, key)
            else:
                assert float(key) == value and not key.endswith(".0"), (value, key)
