"""Damaged copies of a file's bytes, for fuzzing the readers of file formats.

Every reader of a file format must turn damage into one clear error naming
the file. These make the three kinds of damage the conformance tests throw at
readers: a truncated copy, flipped bits and a cut-out run of bytes. Each draws
its positions from the caller's generator, so a seeded test is reproducible;
:func:`damaged` cycles through the three for a numbered series of cases.

>>> import numpy as np
>>> from lamina.testing.damage import bit_flipped, cut_out, truncated
>>> rng = np.random.default_rng(0)
>>> data = bytes(range(32))
>>> len(truncated(data, rng)) < len(data)
True
>>> sum(a != b for a, b in zip(bit_flipped(data, rng, 1), data))
1
>>> len(cut_out(data, rng, 3)) <= len(data)
True
>>> [len(damaged(data, rng, case)) < len(data) for case in (0, 2)]
[True, True]
"""

from __future__ import annotations

import numpy as np

__all__ = ["bit_flipped", "cut_out", "damaged", "truncated"]


def truncated(data: bytes, rng: np.random.Generator) -> bytes:
    """The first ``k`` bytes of ``data``, ``k`` drawn from ``[0, len(data))``."""
    return data[: int(rng.integers(0, len(data)))]


def bit_flipped(data: bytes, rng: np.random.Generator, count: int) -> bytes:
    """``data`` with one bit flipped at each of ``count`` drawn positions."""
    flipped = bytearray(data)
    for at in rng.integers(0, len(data), count):
        flipped[at] ^= 1 << int(rng.integers(0, 8))
    return bytes(flipped)


def cut_out(data: bytes, rng: np.random.Generator, length: int) -> bytes:
    """``data`` without the ``length`` bytes from a drawn position on."""
    at = int(rng.integers(0, len(data)))
    return data[:at] + data[at + length :]


def damaged(data: bytes, rng: np.random.Generator, case: int) -> bytes:
    """Damaged copy number ``case`` of a series that takes the three kinds in turn.

    ``case % 3`` picks :func:`truncated`, :func:`bit_flipped` (1 to 5 bits, by
    ``case % 5``) or :func:`cut_out` (1 to 7 bytes, by ``case % 7``); over
    ``range(n)`` every kind, bit count and run length comes up.
    """
    if case % 3 == 0:
        return truncated(data, rng)
    if case % 3 == 1:
        return bit_flipped(data, rng, 1 + case % 5)
    return cut_out(data, rng, 1 + case % 7)
