"""CN2's beam search as vectorised numpy, as it was before the compiled search
(:mod:`lamina.plugins.cn2.beam`) replaced it: the reference the compiled search
must equal exactly (rules, qualities, class counts). Kept unchanged apart from
docstrings, the imports and the empty complex's open conditions (built here, no
longer kept by :class:`~lamina.plugins.cn2.search.ConditionSpace`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lamina.plugins.cn2.search import Complex, ConditionSpace


def _class_total(counts: np.ndarray) -> np.ndarray:
    """``counts.sum(axis=-1)`` for a handful of classes, one add per class (numpy's
    reduction over a short last axis is several times slower)."""
    total = counts[..., 0].copy()
    for k in range(1, counts.shape[-1]):
        total += counts[..., k]
    return total


def _quality(
    counts: np.ndarray, n: np.ndarray, kind: str, target: int | None, prior: np.ndarray
) -> np.ndarray:
    """Heuristic value of candidates with class ``counts`` (m, K) covering ``n``
    examples each (at least one: the search drops empty candidates); higher is better."""
    n_classes = counts.shape[1]
    if kind == "entropy" and target is None:
        # A function of the proportions alone, so complexes with proportional
        # counts tie exactly (and the larger one wins the tie).
        p = counts / n[:, None]
        p_log_p = np.log2(p, out=np.zeros(p.shape), where=counts > 0)
        p_log_p *= p
        return _class_total(p_log_p)
    n = n.astype(np.float64)
    hits = counts[:, target] if target is not None else counts.max(axis=1)
    if kind == "laplace" or (kind == "entropy" and target is not None):
        return (hits + 1.0) / (n + n_classes)
    total = prior.sum()
    base = prior[target] if target is not None else prior[np.argmax(counts, axis=1)]
    return (n / total) * (hits / n - base / total)


@dataclass(frozen=True)
class _Test:
    """The likelihood-ratio test of candidates' class counts against reference
    counts (Clark & Niblett 1989), ``G = 2 sum f ln(f / e)`` with ``e`` the counts
    the reference's proportions predict, significant above the chi-square critical
    value. With ``n`` covered and reference total ``R``, ``G / 2 = sum f ln f -
    n ln n + sum f (ln R - ln r)``: the first two terms are the candidate's own
    (:func:`_own_statistic`), the last weighs its counts by the reference's
    ``weights``. For a target class against the rest (one degree of freedom) the
    two columns are the target and the others.

    One reference (the examples at hand) gives ``weights`` (J,) and one
    ``half_critical``; ``per_parent`` ones (the complexes a beam refines) give a
    row each, picked by the candidate's parent."""

    weights: np.ndarray
    half_critical: np.ndarray
    per_parent: bool


def _reference_test(
    space: ConditionSpace,
    reference: np.ndarray,
    target: int | None,
    critical_value: np.ndarray,
    *,
    per_parent: bool,
) -> _Test:
    """The :class:`_Test` against class counts ``reference``: (K,), or (B, K) one
    per parent complex. ``critical_value`` is indexed by degrees of freedom."""
    L = space.log
    total = _class_total(reference)
    if target is not None:
        # Filled in place: np.stack costs tens of microseconds on the 0-d counts of
        # one reference, a tenth of a whole search on a small table.
        columns = np.empty((*reference.shape[:-1], 2), dtype=reference.dtype)
        columns[..., 0] = reference[..., target]
        columns[..., 1] = total - columns[..., 0]
        dof: Any = 1
    else:
        columns = reference
        nonzero = np.count_nonzero(reference, axis=-1)
        dof = np.minimum(np.maximum(nonzero - 1, 1), len(critical_value) - 1)
    # Halving is exact in binary floating point: G > c exactly when G / 2 > c / 2.
    half_critical = np.broadcast_to(critical_value[dof] / 2.0, total.shape)
    return _Test(L[total][..., None] - L[columns], half_critical, per_parent=per_parent)


def _own_statistic(
    space: ConditionSpace, counts: np.ndarray, n: np.ndarray, target: int | None
) -> np.ndarray:
    """``sum f ln f - n ln n`` of candidates with class ``counts`` (m, K) covering
    ``n``: the part of :class:`_Test`'s statistic that depends on them alone, so
    shared by the test against the examples at hand and the one against the parent."""
    T = space.x_log_x
    if target is not None:
        hits = counts[:, target]
        return T[hits] + T[n - hits] - T[n]
    return _class_total(T[counts]) - T[n]


def _passes(
    test: _Test,
    counts: np.ndarray,
    n: np.ndarray,
    own: np.ndarray,
    parents: np.ndarray,
    target: int | None,
) -> np.ndarray:
    """Which candidates (class ``counts`` (m, K), ``n`` covered, :func:`_own_statistic`
    ``own``, refining beam complexes ``parents``) are significant by ``test``."""
    weights, half_critical = test.weights, test.half_critical
    if test.per_parent:
        weights, half_critical = weights[parents], half_critical[parents]
    if target is not None:
        hits = counts[:, target]
        statistic = own + hits * weights[..., 0] + (n - hits) * weights[..., 1]
    elif weights.ndim == 1:
        statistic = own + counts @ weights
    else:
        statistic = own + _class_total(counts * weights)
    return statistic > half_critical


def find_best_complex(space, active, target, settings):
    """:func:`lamina.plugins.cn2.search.find_best_complex`, in numpy."""
    prior = space.distribution(active)
    prior_total = int(prior.sum())
    if prior_total == 0:
        return None
    n_classes = space.n_classes
    tests: list[_Test] = []
    if settings.test:
        tests.append(
            _reference_test(space, prior, target, settings.critical_value, per_parent=False)
        )
    # The beam as arrays: conditions, coverage bitsets, class counts, and which
    # conditions each complex may still take (one per slot).
    keys: list[tuple[int, ...]] = [()]
    coverage = active[None, :]
    beam_counts = prior[None, :]
    beam_totals = np.array([prior_total])
    open_ = np.ones((1, len(space.bits)), dtype=bool)
    best: Complex | None = None
    for depth in range(settings.max_rule_length):
        # Every beam complex against every condition at once: (B, C, K + 1) counts,
        # the examples covered last.
        refined_counts = _refined_counts(coverage, space.by_class, n_classes + 1)
        covered = refined_counts[..., n_classes]
        hits = refined_counts[..., target] if target is not None else covered
        # min_covered_examples >= 1, so every useful candidate covers something.
        useful = open_ & (hits >= settings.min_covered_examples) & (covered < beam_totals[:, None])
        parents, conditions = np.nonzero(useful)
        if not parents.size:
            break
        gathered = refined_counts[parents, conditions]
        counts, covered = gathered[:, :n_classes], gathered[:, n_classes]
        quality = _quality(counts, covered, settings.quality, target, prior)
        # Candidates come in (parent, condition) order and lexsort is stable: ties
        # on quality and coverage keep that order.
        order = np.lexsort((-covered, -quality))
        # Only candidates better than the best so far can replace it.
        better = order if best is None else order[quality[order] > best.quality]
        if better.size and depth and settings.parent_test:
            tests = [
                *tests[: int(settings.test)],
                _reference_test(
                    space, beam_counts, target, settings.parent_critical_value, per_parent=True
                ),
            ]
        w = _first_significant(space, better, counts, covered, parents, target, tests)
        if w is not None:
            parent, condition = int(parents[w]), int(conditions[w])
            best = Complex(
                tuple(sorted((*keys[parent], condition))),
                coverage[parent] & space.bits[condition],
                counts[w],
                float(quality[w]),
            )
        if depth + 1 == settings.max_rule_length:
            break
        # The next beam: the best candidates, one per distinct coverage (complexes
        # covering the same examples are the same to the search).
        size = 2 * settings.beam_width
        while True:
            look = order[:size]
            refined = coverage[parents[look]] & space.bits[conditions[look]]
            first = _first_distinct(refined)
            if first.size >= settings.beam_width or look.size == order.size:
                break
            size *= 8
        first = first[: settings.beam_width]
        chosen = look[first]
        chosen_parents, chosen_conditions = parents[chosen], conditions[chosen]
        keys = [
            (*keys[p], c)
            for p, c in zip(chosen_parents.tolist(), chosen_conditions.tolist(), strict=True)
        ]
        # Compared per beam complex, not looked up in a (slots x conditions) table:
        # that table grows with the square of the column count.
        open_ = open_[chosen_parents] & (
            space.slot[None, :] != space.slot[chosen_conditions][:, None]
        )
        coverage = refined[first]
        beam_counts = counts[chosen]
        beam_totals = covered[chosen]
        if (
            best is not None
            and _best_possible(beam_counts, settings.quality, target) <= best.quality
        ):
            break  # no refinement of the beam can beat the best: the answer is final
    return best


def _best_possible(beam_counts: np.ndarray, kind: str, target: int | None) -> float:
    """An upper bound on the quality of any refinement of the beam complexes with
    class counts ``beam_counts`` (B, K). A refinement covers a subset, so no class
    count grows: at best it keeps a complex's (target or largest) class count ``h``
    and drops the rest, which scores 0 by entropy and ``(h + 1) / (h + K)`` by
    Laplace accuracy (increasing in ``h``). Weighted relative accuracy is not bounded here."""
    if kind == "entropy" and target is None:
        return 0.0
    if kind == "wracc":
        return float("inf")
    h = float(beam_counts[:, target].max() if target is not None else beam_counts.max())
    return (h + 1.0) / (h + beam_counts.shape[1])


def _first_significant(
    space: ConditionSpace,
    candidates: np.ndarray,
    counts: np.ndarray,
    covered: np.ndarray,
    parents: np.ndarray,
    target: int | None,
    tests: list[_Test],
) -> int | None:
    """The first of ``candidates`` (indices, best first) that passes every one of
    ``tests``: against the examples at hand (so noise earns no rule) and, past the
    first condition, against the complex it refines. Tested in growing chunks: the
    answer is usually among the first few."""
    if not tests:
        return int(candidates[0]) if candidates.size else None
    start, size = 0, 16
    while start < len(candidates):
        chunk = candidates[start : start + size]
        chunk_counts, chunk_covered, chunk_parents = counts[chunk], covered[chunk], parents[chunk]
        own = _own_statistic(space, chunk_counts, chunk_covered, target)
        passed = _passes(tests[0], chunk_counts, chunk_covered, own, chunk_parents, target)
        for test in tests[1:]:
            passed &= _passes(test, chunk_counts, chunk_covered, own, chunk_parents, target)
        first = int(np.argmax(passed))
        if passed[first]:
            return int(chunk[first])
        start, size = start + size, 4 * size
    return None


def _first_distinct(rows: np.ndarray) -> np.ndarray:
    """Indices of the first occurrence of each distinct row, in order."""
    if len(rows) <= 64:
        # A dict of byte strings beats numpy's sort for the few rows of a beam
        # (sliced from one bytes copy: a view per row costs more than the lookup).
        data = np.ascontiguousarray(rows).tobytes()
        step = rows.shape[1] * rows.itemsize
        seen: dict[bytes, int] = {}
        for index in range(len(rows)):
            seen.setdefault(data[index * step : (index + 1) * step], index)
        return np.fromiter(seen.values(), dtype=np.intp, count=len(seen))
    keys = np.ascontiguousarray(rows).view(np.dtype((np.void, rows.shape[1] * 8))).ravel()
    return np.sort(np.unique(keys, return_index=True)[1])


#: Words of one block of :func:`_refined_counts` (the AND of coverages and conditions).
_BLOCK_WORDS = 1 << 21


def _refined_counts(coverage: np.ndarray, by_class: np.ndarray, n_columns: int) -> np.ndarray:
    """Class counts ``(B, C, J)`` of each of ``B`` coverages ANDed with each of ``C``
    conditions' ``J = n_columns`` bitsets (``by_class``: ``(C J, n_words)``), in
    blocks of conditions to bound the temporary."""
    n_beam, n_words = coverage.shape
    n_rows = by_class.shape[0]
    step = n_columns * max(1, _BLOCK_WORDS // max(1, n_beam * n_columns * n_words))
    counts = np.empty((n_beam, n_rows), dtype=np.int32)
    for start in range(0, n_rows, step):
        block = coverage[:, None, :] & by_class[None, start : start + step]
        np.add.reduce(
            np.bitwise_count(block), axis=2, dtype=np.int32, out=counts[:, start : start + step]
        )
    return counts.reshape(n_beam, -1, n_columns)
