"""Counter-based normal draws keyed by data rows (numpy only).

``row_keyed_normals(rows, draws, dim, seed)`` gives the same numbers for the
same row and seed wherever the row sits in a batch — what a per-sample Monte
Carlo score needs to be a function of the sample alone — while different rows
get independent-looking streams. Each number comes from hashing (seed, row,
draw, coordinate) with SplitMix64's finaliser and a Box-Muller transform, all
vectorised.
"""

from __future__ import annotations

import numpy as np

__all__ = ["row_keyed_normals", "splitmix64"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's output function (Steele, Lea & Flood 2014): a bijective mix of uint64."""
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _row_keys(rows: np.ndarray, seed: int) -> np.ndarray:
    """One 64-bit key per row from its float64 bit patterns and the seed."""
    bits = np.ascontiguousarray(rows, dtype=np.float64).view(np.uint64)
    key = np.full(len(rows), np.uint64(seed % 2**64), dtype=np.uint64)
    for column in bits.T:
        key = splitmix64(key ^ column)
    return key


def row_keyed_normals(rows: np.ndarray, draws: int, dim: int, seed: int) -> np.ndarray:
    """Standard normal numbers of shape (draws, n_rows, dim), float64."""
    keys = _row_keys(rows, seed)  # (n,)
    counters = np.arange(draws * dim, dtype=np.uint64).reshape(draws, 1, dim)
    with np.errstate(over="ignore"):
        base = splitmix64(keys[None, :, None] ^ splitmix64(counters * np.uint64(2)))
        second = splitmix64(base)
    # 53 random bits -> uniform in (0, 1]; Box-Muller needs u1 > 0.
    scale = 1.0 / 2.0**53
    u1 = ((base >> np.uint64(11)).astype(np.float64) + 1.0) * scale
    u2 = (second >> np.uint64(11)).astype(np.float64) * scale
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
