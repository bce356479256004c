"""lamina.testing.damage on a seeded grid of lengths and seeds, each copy checked
against what its kind of damage may do to the bytes."""

from __future__ import annotations

import numpy as np
import pytest

from lamina.testing.damage import bit_flipped, cut_out, damaged, truncated

GRID = [(length, seed) for length in (1, 2, 7, 64, 1000) for seed in range(20)]


def _data(length: int, seed: int) -> bytes:
    return np.random.default_rng([length, seed]).bytes(length)


def _is_cut_out(copy: bytes, data: bytes, length: int) -> bool:
    """Whether ``copy`` is ``data`` less a run of ``length`` bytes (shorter at the end)."""
    return any(
        copy == data[:at] + data[at + length :]
        and len(copy) == len(data) - min(length, len(data) - at)
        for at in range(len(data))
    )


@pytest.mark.parametrize(("length", "seed"), GRID)
def test_each_kind_damages_the_bytes_as_it_says(length: int, seed: int) -> None:
    data = _data(length, seed)
    rng = np.random.default_rng(seed)
    cut = truncated(data, rng)
    assert len(cut) < len(data) and data.startswith(cut)
    count = 1 + seed % 5
    flipped = bit_flipped(data, rng, count)
    bits = sum(bin(a ^ b).count("1") for a, b in zip(flipped, data, strict=True))
    # A bit drawn twice flips back, so an even number of them may be undone.
    assert bits <= count and bits % 2 == count % 2
    run = 1 + seed % 7
    assert _is_cut_out(cut_out(data, rng, run), data, run)


@pytest.mark.parametrize(("length", "seed"), GRID)
def test_damaged_takes_the_kinds_in_turn(length: int, seed: int) -> None:
    data = _data(length, seed)
    rng = np.random.default_rng(seed)
    for case in range(15):
        copy = damaged(data, rng, case)
        if case % 3 == 0:
            assert len(copy) < len(data) and data.startswith(copy)
        elif case % 3 == 1:
            bits = sum(bin(a ^ b).count("1") for a, b in zip(copy, data, strict=True))
            assert bits <= 1 + case % 5 and bits % 2 == (1 + case % 5) % 2
        else:
            assert _is_cut_out(copy, data, 1 + case % 7)


def test_the_same_seed_gives_the_same_copies() -> None:
    data = _data(64, 0)
    first = [damaged(data, np.random.default_rng(5), case) for case in range(9)]
    again = [damaged(data, np.random.default_rng(5), case) for case in range(9)]
    assert first == again and len(set(first)) > 1
