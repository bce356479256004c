"""``column_keys`` on seeded random float columns against exact arithmetic.

The reference keys nothing: it sorts values into equality classes with
:class:`fractions.Fraction` (exact for every finite float), infinities by sign and
NaN as missing. Equal values must share a key and distinct values never may,
across float16, float32 and float64 columns and against integer columns (``1.0``
and ``1`` are one category), and for the long double values float64 does not hold.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from lamina.learn.datasets import category_key, column_keys

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
    key_of = _one_key_per_class(keys, classes)
    assert len(key_of) > 100  # many distinct values met, many of them more than once
    assert sum(cls is None for cls in classes) > 0 and Fraction(0) in key_of


def _one_key_per_class(keys: list[object], classes: list[object]) -> dict[object, object]:
    """Check that equal classes share a key and distinct ones never do; the key of each."""
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
    return key_of


@pytest.mark.skipif(
    np.finfo(np.longdouble).nmant <= np.finfo(np.float64).nmant,
    reason="long double is float64 on this platform",
)
# numpy reads the smallest subnormals right, but warns of overflow doing so.
@pytest.mark.filterwarnings("ignore:overflow encountered in conversion from string")
@pytest.mark.parametrize("seed", range(6))
def test_longdouble_values_that_float64_cannot_hold_keep_their_own_keys(seed: int) -> None:
    # Each float64 value, its long double neighbours (between it and the next
    # float64), values past float64's range and decimals read as long double
    # (0.1 is not float64's 0.1), keyed with the float64 column they came from.
    rng = np.random.default_rng(seed)
    wide = _random_column(rng, np.float64, 40)
    long = wide.astype(np.longdouble)
    finite = long[np.isfinite(long)]
    decimals = np.round(rng.normal(size=20) * 100, int(rng.integers(1, 4)))
    parts = [
        long,
        np.nextafter(finite, np.longdouble(np.inf)),
        np.nextafter(finite, np.longdouble(-np.inf)),
        finite * np.longdouble(2.0) ** 2000,
        np.array([str(v) for v in decimals]).astype(np.longdouble),
    ]
    column = rng.choice(np.concatenate(parts), 3 * len(long))  # equal values recur
    keys = column_keys(wide).tolist() + column_keys(column).tolist()
    classes = [_reference_class(v) for v in wide.tolist()]
    classes += [
        _reference_class(v) if not np.isfinite(v) else Fraction(*v.as_integer_ratio())
        for v in column
    ]
    key_of = _one_key_per_class(keys, classes)
    assert len(key_of) > 100
    assert column_keys(column).tolist() == [category_key(v) for v in column]  # cell by cell alike
    # Readable: the key reads back as the value, in float64 where float64 holds it.
    for value, key in zip(column, column_keys(column).tolist(), strict=True):
        if np.isnan(value):
            assert key is None
        else:
            assert float(key) == value or np.longdouble(key) == value, (value, key)


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
