"""``encode_column`` against the encoding by definition, on seeded random columns.

The reference keys every cell on its own with :func:`category_key` (the text a
value is matched by) and looks each key up: learned categories are the sorted
distinct keys, given ones keep their order, missing and unseen cells get -1.
``encode_column`` keys only the distinct values of numeric columns, and takes an
object column of text as its own keys; codes and categories must come out the
same for every dtype.
"""

from __future__ import annotations

import numpy as np
import pytest

from lamina.learn.datasets import category_key, encode_column

WORDS = np.array(["a", "b", "B", "ab", "", " a", "é", "日本", "10", "2", "-1", "1.5", "True"])


def _reference(column: np.ndarray, categories: list[str] | None) -> tuple[list[int], list[str]]:
    keys = [category_key(value) for value in column.tolist()]
    if categories is None:
        categories = sorted({k for k in keys if k is not None})
    return [categories.index(k) if k in categories else -1 for k in keys], categories


def _floats(rng: np.random.Generator, dtype: type, size: int) -> np.ndarray:
    """Few distinct values: whole numbers, halves, signed zeros, infinities and NaNs."""
    pool = np.array(
        [0.0, -0.0, 1.0, -1.0, 0.5, 2.5, 60000.0, 0.1, 3.0, np.inf, -np.inf, np.nan, -np.nan]
    )
    return rng.choice(pool, size).astype(dtype)


def _column(rng: np.random.Generator, kind: str, size: int) -> np.ndarray:
    if kind == "bool":
        return rng.integers(0, 2, size).astype(bool)
    if kind in ("int8", "int64", "uint8", "uint64"):
        info = np.iinfo(kind)
        edges = np.array([info.min, info.max, 0, 1, 2, 10], dtype=kind)
        small = rng.integers(max(int(info.min), -12), 12, size).astype(kind)
        return np.where(rng.random(size) < 0.2, rng.choice(edges, size), small)
    if kind in ("float16", "float32", "float64"):
        return _floats(rng, np.dtype(kind).type, size)
    if kind == "str":
        return rng.choice(WORDS, size)
    if kind == "bytes":
        return rng.choice(np.array([b"x", b"y", b"10", b""]), size)
    cells = rng.choice(WORDS, size).astype(object)
    if kind == "object text":
        cells[rng.random(size) < 0.2] = None
        cells[rng.random(size) < 0.1] = np.str_("a")  # a str subclass is its text
        return cells
    # Mixed objects: numbers that equal each other across types, NaN and None.
    mixed = np.array(
        [1, 1.0, True, 0, False, 2.5, np.float32(0.5), np.nan, None, "1"], dtype=object
    )
    chosen = rng.random(size) < 0.5
    cells[chosen] = rng.choice(mixed, int(chosen.sum()))
    return cells


KINDS = (
    "bool",
    "int8",
    "int64",
    "uint8",
    "uint64",
    "float16",
    "float32",
    "float64",
    "str",
    "bytes",
    "object text",
    "object mixed",
)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", range(6))
def test_codes_and_categories_match_keying_every_cell(kind: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    column = _column(rng, kind, int(rng.integers(0, 60)))
    codes, categories = _reference(column, None)
    encoded = encode_column(column)
    assert encoded.categories.tolist() == categories
    assert encoded.codes.dtype == np.int64
    assert encoded.codes.tolist() == codes
    # Given categories: a shuffled part of the learned ones and some never seen.
    given = [c for c in categories if rng.random() < 0.6] + ["unseen", "1.0"]
    given = [str(c) for c in rng.permutation(np.array(given, dtype=object))]
    codes, _ = _reference(column, given)
    encoded = encode_column(column, np.array(given))
    assert encoded.categories.tolist() == given
    assert encoded.codes.tolist() == codes


def test_a_signalling_nan_is_missing_without_a_warning() -> None:
    signalling = np.array([0x7FA00000, 0x3F800000], dtype=np.uint32).view(np.float32)
    assert encode_column(signalling).codes.tolist() == [-1, 0]


def test_unhashable_cells_are_keyed_by_their_text() -> None:
    column = np.array([None, "b", None], dtype=object)
    column[0], column[2] = [1], [1]
    encoded = encode_column(column)
    assert encoded.categories.tolist() == ["[1]", "b"]
    assert encoded.codes.tolist() == [0, 1, 0]
