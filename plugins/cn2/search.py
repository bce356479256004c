"""CN2's beam search over complexes, on bitsets.

Every candidate condition's coverage of the training examples is one row of
a bit matrix (64 examples per machine word). A complex's coverage is the AND
of its conditions' rows, and its class distribution is a population count of
that AND each class's bitset, so specialising a whole beam by every
condition is a handful of vectorised operations with no loop over examples.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "Complex",
    "ConditionSpace",
    "SearchSettings",
    "find_best_complex",
    "pack_rows",
    "popcount",
]

_BYTE_COUNTS = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def pack_rows(mask: np.ndarray) -> np.ndarray:
    """Boolean ``(m, n)`` -> ``(m, ceil(n / 64))`` uint64 bitsets."""
    mask = np.atleast_2d(np.asarray(mask, dtype=bool))
    packed = np.packbits(mask, axis=1, bitorder="little")
    pad = (-packed.shape[1]) % 8
    if pad:
        packed = np.pad(packed, ((0, 0), (0, pad)))
    return np.ascontiguousarray(packed).view(np.uint64)


def popcount(words: np.ndarray) -> np.ndarray:
    """Number of set bits along the last axis."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(words).sum(axis=-1, dtype=np.int64)
    as_bytes = words.view(np.uint8).reshape(*words.shape[:-1], -1)
    return _BYTE_COUNTS[as_bytes].sum(axis=-1, dtype=np.int64)


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
    by_class: np.ndarray = field(init=False)  # (n_conditions, n_classes, n_words)
    in_slot: np.ndarray = field(init=False)  # (n_slots, n_conditions) bool

    def __post_init__(self) -> None:
        self.by_class = self.bits[:, None, :] & self.class_bits[None, :, :]
        n_slots = int(self.slot.max()) + 1 if self.slot.size else 0
        self.in_slot = self.slot[None, :] == np.arange(n_slots)[:, None]

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


@dataclass
class Complex:
    conditions: tuple[int, ...]
    coverage: np.ndarray
    counts: np.ndarray
    quality: float


def _quality(counts: np.ndarray, kind: str, target: int | None, prior: np.ndarray) -> np.ndarray:
    """Heuristic value of candidates with class ``counts`` (m, K); higher is better."""
    n = counts.sum(axis=1).astype(np.float64)
    safe = np.maximum(n, 1.0)
    n_classes = counts.shape[1]
    if kind == "entropy" and target is None:
        p = counts / safe[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(p > 0, p * np.log2(p), 0.0).sum(axis=1)
    hits = counts[:, target] if target is not None else counts.max(axis=1)
    if kind == "laplace" or (kind == "entropy" and target is not None):
        return (hits + 1.0) / (n + n_classes)
    total = prior.sum()
    base = prior[target] if target is not None else prior[np.argmax(counts, axis=1)]
    return (n / total) * (hits / safe - base / total)


def _significant(
    counts: np.ndarray, prior: np.ndarray, target: int | None, critical_value: np.ndarray
) -> np.ndarray:
    """Likelihood-ratio test of each candidate's distribution against ``prior``
    (Clark & Niblett 1989): ``2 sum f ln(f / e)`` above the chi-square critical
    value (indexed by degrees of freedom). ``prior`` is one distribution (K,) or
    one per candidate (m, K)."""
    if not critical_value.any():
        return np.ones(counts.shape[0], dtype=bool)
    observed = counts.astype(np.float64)
    prior = np.asarray(prior, dtype=np.float64)
    if target is not None:
        # Target class against the rest: one degree of freedom.
        hits, n = observed[:, target], observed.sum(axis=1)
        observed = np.column_stack((hits, n - hits))
        share = prior[..., target] / prior.sum(axis=-1)
        share = np.stack((share, 1.0 - share), axis=-1)
        dof = 1
    else:
        share = prior / prior.sum(axis=-1, keepdims=True)
        dof = np.clip((share > 0).sum(axis=-1) - 1, 1, len(critical_value) - 1)
    expected = observed.sum(axis=1, keepdims=True) * share
    # f ln(f / e) with 0 ln 0 = 0 (e > 0 wherever f > 0: f counts a subset of e's examples).
    ratio = np.divide(observed, expected, out=np.ones_like(observed), where=observed > 0)
    statistic = 2.0 * (observed * np.log(ratio)).sum(axis=1)
    return statistic > critical_value[dof]


def find_best_complex(
    space: ConditionSpace,
    active: np.ndarray,
    target: int | None,
    settings: SearchSettings,
) -> Complex | None:
    """The best significant complex on the examples in ``active`` (a bitset).

    Beam search as Clark & Boswell (1991): the beam holds the ``beam_width``
    best complexes by quality; every one is specialised by every compatible
    condition; the best candidate that passes the significance test and
    covers at least ``min_covered_examples`` (of the target class, if any)
    becomes the answer. Ties prefer larger coverage, then earlier conditions.
    """
    prior = space.distribution(active)
    if prior.sum() == 0:
        return None
    # The beam as arrays: conditions, coverage bitsets, class counts, and which
    # conditions each complex may still take (one per slot).
    keys: list[tuple[int, ...]] = [()]
    coverage = active[None, :]
    beam_counts = prior[None, :]
    open_ = np.ones((1, space.bits.shape[0]), dtype=bool)
    best: Complex | None = None
    for depth in range(settings.max_rule_length):
        # Every beam complex against every condition at once: (B, C, K) counts.
        counts = _refined_counts(coverage, space.by_class)
        covered = counts.sum(axis=2)
        hits = counts[:, :, target] if target is not None else covered
        useful = (
            open_
            & (hits >= settings.min_covered_examples)
            & (covered < beam_counts.sum(axis=1)[:, None])
            & (covered > 0)
        )
        parents, conditions = np.nonzero(useful)
        if not parents.size:
            break
        counts = counts[parents, conditions]
        quality = _quality(counts, settings.quality, target, prior)
        order = np.lexsort((conditions, parents, -counts.sum(axis=1), -quality))
        # Significant against the examples at hand (so noise earns no rule) and,
        # optionally, each added condition against the complex it refines.
        significant = _significant(counts, prior, target, settings.critical_value)
        if depth and settings.parent_critical_value.any():
            significant &= _significant(
                counts, beam_counts[parents], target, settings.parent_critical_value
            )
        winners = order[significant[order]]
        if winners.size and (best is None or quality[winners[0]] > best.quality):
            w = winners[0]
            best = Complex(
                tuple(sorted((*keys[parents[w]], int(conditions[w])))),
                coverage[parents[w]] & space.bits[conditions[w]],
                counts[w],
                float(quality[w]),
            )
        # The next beam: the best candidates, one per distinct coverage (complexes
        # covering the same examples are the same to the search).
        look = order[: 4 * settings.beam_width]
        while True:
            refined = coverage[parents[look]] & space.bits[conditions[look]]
            rows = np.ascontiguousarray(refined).view(np.dtype((np.void, refined.shape[1] * 8)))
            first = np.sort(np.unique(rows.ravel(), return_index=True)[1])
            if first.size >= settings.beam_width or look.size == order.size:
                break
            look = order
        first = first[: settings.beam_width]
        chosen = look[first]
        keys = [tuple(sorted((*keys[parents[k]], int(conditions[k])))) for k in chosen]
        open_ = open_[parents[chosen]] & ~space.in_slot[space.slot[conditions[chosen]]]
        coverage = refined[first]
        beam_counts = counts[chosen]
    return best


def _refined_counts(coverage: np.ndarray, by_class: np.ndarray) -> np.ndarray:
    """Class counts ``(B, C, K)`` of each of ``B`` coverages ANDed with each of
    ``C`` conditions, in blocks of conditions to bound the temporary."""
    n_beam, n_words = coverage.shape
    n_conditions, n_classes = by_class.shape[:2]
    counts = np.empty((n_beam, n_conditions, n_classes), dtype=np.int64)
    step = max(1, (1 << 21) // max(1, n_beam * n_classes * n_words))
    for start in range(0, n_conditions, step):
        block = by_class[None, start : start + step] & coverage[:, None, None, :]
        counts[:, start : start + step] = popcount(block)
    return counts
