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

    def __post_init__(self) -> None:
        self.by_class = self.bits[:, None, :] & self.class_bits[None, :, :]

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
    counts: np.ndarray, prior: np.ndarray, target: int | None, settings: SearchSettings
) -> np.ndarray:
    """Likelihood-ratio test of each candidate's distribution against ``prior``
    (Clark & Niblett 1989): ``2 sum f ln(f / e)`` above the chi-square critical
    value. ``prior`` is one distribution (K,) or one per candidate (m, K)."""
    if not settings.critical_value.any():
        return np.ones(counts.shape[0], dtype=bool)
    prior = np.broadcast_to(np.asarray(prior, dtype=np.float64), counts.shape)
    if target is not None:
        counts = np.stack([counts[:, target], counts.sum(axis=1) - counts[:, target]], axis=1)
        prior = np.stack([prior[:, target], prior.sum(axis=1) - prior[:, target]], axis=1)
    share = prior / prior.sum(axis=1, keepdims=True)
    observed = counts.astype(np.float64)
    expected = observed.sum(axis=1, keepdims=True) * share
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(observed > 0, observed * np.log(observed / expected), 0.0)
    statistic = 2.0 * terms.sum(axis=1)
    dof = np.clip((share > 0).sum(axis=1) - 1, 1, len(settings.critical_value) - 1)
    return statistic > settings.critical_value[dof]


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
    beam = [Complex((), active, prior, -np.inf)]
    best: Complex | None = None
    n_conditions = space.bits.shape[0]
    for _depth in range(settings.max_rule_length):
        pool_counts, pool_parent, pool_condition = [], [], []
        for index, parent in enumerate(beam):
            allowed = np.ones(n_conditions, dtype=bool)
            for used in parent.conditions:
                allowed &= space.slot != space.slot[used]
            candidates = np.flatnonzero(allowed)
            if not candidates.size:
                continue
            counts = popcount(parent.coverage[None, None, :] & space.by_class[candidates])
            covered = counts.sum(axis=1)
            hits = counts[:, target] if target is not None else covered
            useful = (
                (hits >= settings.min_covered_examples)
                & (covered < parent.counts.sum())
                & (covered > 0)
            )
            if not useful.any():
                continue
            pool_counts.append(counts[useful])
            pool_parent.append(np.full(int(useful.sum()), index))
            pool_condition.append(candidates[useful])
        if not pool_counts:
            break
        counts = np.concatenate(pool_counts)
        parents = np.concatenate(pool_parent)
        conditions = np.concatenate(pool_condition)
        quality = _quality(counts, settings.quality, target, prior)
        order = np.lexsort((conditions, parents, -counts.sum(axis=1), -quality))
        # Significant against the examples at hand, and each added condition
        # significant against the complex it refines, so noise earns no rule.
        parent_counts = np.stack([beam[p].counts for p in parents])
        significant = _significant(counts, prior, target, settings)
        at_root = np.array([not beam[p].conditions for p in parents])
        significant &= at_root | _significant(counts, parent_counts, target, settings)
        winners = order[significant[order]]
        if winners.size and (best is None or quality[winners[0]] > best.quality):
            w = winners[0]
            chosen = beam[parents[w]]
            best = Complex(
                tuple(sorted((*chosen.conditions, int(conditions[w])))),
                chosen.coverage & space.bits[conditions[w]],
                counts[w],
                float(quality[w]),
            )
        next_beam: list[Complex] = []
        seen: set[tuple[int, ...]] = set()
        seen_coverage: set[bytes] = set()
        for k in order:
            key = tuple(sorted((*beam[parents[k]].conditions, int(conditions[k]))))
            if key in seen:
                continue
            coverage = beam[parents[k]].coverage & space.bits[conditions[k]]
            fingerprint = coverage.tobytes()
            if fingerprint in seen_coverage:
                continue
            seen.add(key)
            seen_coverage.add(fingerprint)
            next_beam.append(Complex(key, coverage, counts[k], float(quality[k])))
            if len(next_beam) == settings.beam_width:
                break
        beam = next_beam
    return best
