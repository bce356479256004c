"""CN2's beam search over complexes, on bitsets.

Every candidate condition's coverage of the training examples is one row of
a bit matrix (64 examples per machine word). A complex's coverage is the AND
of its conditions' rows, and its class distribution is a population count of
that AND each class's bitset, so specialising a whole beam by every
condition is a loop over machine words, never over examples (compiled:
:mod:`lamina.plugins.cn2.beam`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "Complex",
    "ConditionSpace",
    "SearchSettings",
    "candidate_bytes",
    "find_best_complex",
    "pack_rows",
    "popcount",
]


def pack_rows(mask: np.ndarray) -> np.ndarray:
    """Boolean ``(m, n)`` -> ``(m, ceil(n / 64))`` uint64 bitsets."""
    mask = np.atleast_2d(np.asarray(mask, dtype=bool))
    n_bytes = (mask.shape[1] + 7) // 8
    # Packed straight into word-sized rows (np.pad would copy them once more).
    packed = np.zeros((mask.shape[0], 8 * ((n_bytes + 7) // 8)), dtype=np.uint8)
    packed[:, :n_bytes] = np.packbits(mask, axis=1, bitorder="little")
    return packed.view(np.uint64)


def popcount(words: np.ndarray) -> np.ndarray:
    """Number of set bits along the last axis."""
    return np.bitwise_count(words).sum(axis=-1, dtype=np.int64)


@dataclass
class ConditionSpace:
    """All candidate conditions of a training set as bitsets.

    ``feature[c]`` is the column of condition ``c``; conditions in the same
    ``slot`` exclude each other in one complex (one test per categorical
    attribute, one lower and one upper bound per numeric attribute).
    """

    bits: np.ndarray  # (n_conditions, n_words) uint64
    class_bits: np.ndarray  # (n_classes, n_words) uint64
    slot: np.ndarray  # (n_conditions,) int
    # (n_conditions * (n_classes + 1), n_words): each condition's bitset ANDed with
    # each class's, then the condition's own, so that one popcount pass gives a
    # refinement's class counts and (last) how many examples it covers. One row per
    # (condition, column) with the words innermost: numpy's inner loops run over a
    # row's words rather than over a few classes.
    by_class: np.ndarray = field(init=False)
    # ln k and k ln k for every count k (ln 0 = 0 ln 0 = 0): the likelihood-ratio
    # statistic of integer counts becomes table lookups instead of logarithms.
    log: np.ndarray = field(init=False)
    x_log_x: np.ndarray = field(init=False)
    # The compiled search's work arrays, by (beam width, maximum rule length).
    scratch: dict[tuple[int, int], Any] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        n_words = self.class_bits.shape[1]
        k = np.arange(64 * n_words + 1, dtype=np.float64)
        self.log = np.log(np.maximum(k, 1.0))
        self.x_log_x = k * self.log
        every = np.full((1, n_words), np.iinfo(np.uint64).max, dtype=np.uint64)
        masks = np.concatenate((self.class_bits, every))
        self.by_class = (self.bits[:, None, :] & masks[None, :, :]).reshape(-1, n_words)

    @property
    def n_classes(self) -> int:
        return self.class_bits.shape[0]

    def distribution(self, coverage: np.ndarray) -> np.ndarray:
        """Examples of each class in a coverage bitset."""
        return popcount(coverage[None, :] & self.class_bits)


@dataclass(frozen=True)
class SearchSettings:
    beam_width: int
    max_rule_length: int
    min_covered_examples: int
    quality: str  # "entropy" | "laplace" | "wracc"
    critical_value: np.ndarray  # chi-square critical value by degrees of freedom; 0 = no test
    parent_critical_value: np.ndarray  # the same for each refinement against its parent
    test: bool = field(init=False)
    parent_test: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "test", bool(self.critical_value.any()))
        object.__setattr__(self, "parent_test", bool(self.parent_critical_value.any()))


@dataclass
class Complex:
    conditions: tuple[int, ...]
    coverage: np.ndarray
    counts: np.ndarray
    quality: float


def candidate_bytes(n_classes: int) -> int:
    """Bytes of the search's work arrays per candidate (a beam complex and one
    condition): its class counts, coverage, parent, condition, heap slot and
    quality (8 bytes each), and whether it is open in either half of the beam."""
    return 8 * n_classes + 5 * 8 + 2


def find_best_complex(
    space: ConditionSpace,
    active: np.ndarray,
    target: int | None,
    settings: SearchSettings,
) -> Complex | None:
    """The best significant complex on the examples in ``active`` (a bitset).

    Beam search as Clark & Boswell (1991): the beam holds the ``beam_width``
    best complexes by quality; every one is specialised by every compatible
    condition; the best candidate that passes the significance test (against
    the examples at hand, so noise earns no rule, and past the first condition
    against the complex it refines) and covers at least ``min_covered_examples``
    (of the target class, if any) becomes the answer. Ties prefer larger
    coverage, then earlier conditions. The next beam holds the best candidates
    with distinct coverage. The search ends early when no refinement of the
    beam can score above the answer (:func:`~lamina.plugins.cn2.beam.best_possible`),
    which leaves the answer unchanged. Compiled: :mod:`lamina.plugins.cn2.beam`.
    """
    # Imported here, not at the top: numba's import is for learning only.
    from lamina.plugins.cn2 import beam

    found = beam.search(space, np.ascontiguousarray(active), target, settings)
    return None if found is None else Complex(*found)
