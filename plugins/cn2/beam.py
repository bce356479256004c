"""CN2's beam search, compiled with numba.

A search on a small table is a few beam steps of a few dozen candidates each:
as vectorised numpy it was about 75 calls per step, none of them large, so the
time went to call overhead. Here a whole search is one compiled call, with the
same arithmetic in the same order as the numpy version it replaced (rules,
qualities and class counts are bit-identical; tested against a copy of it).

Imported by :func:`lamina.plugins.cn2.search.find_best_complex` on its first
call only: importing numba costs a few tenths of a second, which loading or
applying a rule file should not pay. Compiled code is cached on disk
(``cache=True``: next to this file, or numba's user-wide cache directory when
that is read-only), so only the first search of an installation compiles.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numba
import numpy as np
import numpy.typing as npt
from numba import types
from numba.extending import intrinsic

from lamina.plugins.cn2.search import ConditionSpace, SearchSettings

__all__ = [
    "ENTROPY",
    "LAPLACE",
    "QUALITY_CODES",
    "WRACC",
    "best_possible",
    "quality",
    "reference_test",
    "search",
    "significant",
]

#: ``SearchSettings.quality`` as compiled code sees it. Defined here, not imported:
#: numba's cache is invalidated by changes to this file only.
QUALITY_CODES = {"entropy": 0, "laplace": 1, "wracc": 2}
ENTROPY, LAPLACE, WRACC = (QUALITY_CODES[k] for k in ("entropy", "laplace", "wracc"))


def _jit(signature: str) -> Callable[[Callable[..., Any]], Any]:
    """Compiled for one signature, when this module is imported (or loaded from the
    cache): a call with other types is an error, never a second compile, and
    constant arguments (literals to numba) are not compiled apart."""

    def compiled(function: Callable[..., Any]) -> Any:
        dispatcher: Any  # numba's Dispatcher; its stubs leave out the cache
        try:
            dispatcher = numba.njit(cache=True, nogil=True)(function)
        except RuntimeError as error:
            if "no locator available" not in str(error):
                raise
            # Nowhere to keep a cache (a read-only installation, no writable home
            # and no NUMBA_CACHE_DIR): the same code, compiled in every process.
            dispatcher = numba.njit(nogil=True)(function)
        try:
            dispatcher.compile(signature)
        except Exception:
            # numba unpickles its cache files unguarded: a truncated or edited one
            # fails every import. Its entries are dropped and the function compiled
            # afresh (and cached again); a genuine compile error raises again here.
            dispatcher._cache.flush()
            dispatcher.compile(signature)
        # What numba.njit(signature) does: no other signature is ever compiled.
        dispatcher.disable_compile()
        return dispatcher

    return compiled


# Annotations (numba reads the signatures below, not these).
Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Words = npt.NDArray[np.uint64]

# Argument types: int64 C-contiguous vectors and matrices, float64 ones, bit rows.
_I1, _I2, _F1, _B2 = "int64[::1]", "int64[:, ::1]", "float64[::1]", "uint64[:, ::1]"
# The chi-square critical values are cached read-only.
_R1 = "Array(float64, 1, 'C', readonly=True)"


@intrinsic
def _ctpop(typingctx: Any, word: Any) -> Any:
    """Set bits of one ``uint64`` (LLVM's ``ctpop``: the POPCNT instruction where
    the CPU has one; numba has no ``np.bitwise_count``)."""
    if word != types.uint64:
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.ctpop(args[0])

    # Signed, as the counts it adds to (numba turns int64 + uint64 into a float).
    return types.int64(types.uint64), codegen


#: ``_ctpop`` under a name whose calls type-check (numba adds ``typingctx`` itself).
_popcount: Any = _ctpop


@_jit(f"float64({_I1}, int64, int64, int64, {_I1})")
def quality(counts: Ints, n: int, kind: int, target: int, prior: Ints) -> float:
    """Heuristic value of a candidate with class ``counts`` (K,) covering ``n >= 1``
    examples; higher is better. ``target`` < 0: no target class.

    Entropy (no target) is a function of the proportions alone, so complexes with
    proportional counts tie exactly (and the larger one wins the tie). Laplace
    accuracy is ``(h + 1) / (n + K)`` of the target (or largest) class count ``h``;
    weighted relative accuracy ``n / N (h / n - p / N)`` with ``p`` that class's
    count in the ``N`` examples at hand (``prior``)."""
    n_classes = counts.shape[0]
    if kind == ENTROPY and target < 0:
        # Summed from the first class on, as numpy's (p log2 p).sum order did.
        total = 0.0
        for k in range(n_classes):
            if counts[k] > 0:
                p = counts[k] / n
                total += math.log2(p) * p
        return total
    # Loops rather than numpy reductions throughout this module: each reduction
    # adds tenths of a second to the compile, which a fresh installation pays.
    column = target
    if target < 0:
        column = 0
        for k in range(1, n_classes):
            if counts[k] > counts[column]:
                column = k
    nf = float(n)
    hits = counts[column]
    if kind in (LAPLACE, ENTROPY):
        return (hits + 1.0) / (nf + n_classes)
    prior_total = 0
    for k in range(n_classes):
        prior_total += prior[k]
    return (nf / prior_total) * (hits / nf - prior[column] / prior_total)


@_jit("float64(int64[:, :], int64, int64)")
def best_possible(beam_counts: Ints, kind: int, target: int) -> float:
    """An upper bound on the quality of any refinement of the beam complexes with
    class counts ``beam_counts`` (B, K). A refinement covers a subset, so no class
    count grows: at best it keeps a complex's (target or largest) class count ``h``
    and drops the rest, which scores 0 by entropy and ``(h + 1) / (h + K)`` by
    Laplace accuracy (increasing in ``h``). Weighted relative accuracy is not bounded here."""
    if kind == ENTROPY and target < 0:
        return 0.0
    if kind == WRACC:
        return np.inf
    h = 0
    for b in range(beam_counts.shape[0]):
        for k in range(beam_counts.shape[1]):
            if target < 0 or k == target:
                h = max(h, beam_counts[b, k])
    return (h + 1.0) / (h + beam_counts.shape[1])


@_jit(f"float64({_I1}, int64, {_R1}, {_F1}, {_F1})")
def reference_test(
    reference: Ints, target: int, critical_value: Floats, log_table: Floats, weights: Floats
) -> float:
    """The likelihood-ratio test of candidates' class counts against the class
    counts ``reference`` (K,) (Clark & Niblett 1989): fills ``weights`` (2 with a
    target class, else K) and returns half the critical value, for :func:`significant`.

    ``G = 2 sum f ln(f / e)`` with ``e`` the counts the reference's proportions
    predict is significant above the chi-square critical value (``critical_value``
    by degrees of freedom). With ``n`` covered and reference total ``R``, ``G / 2 =
    sum f ln f - n ln n + sum f (ln R - ln r)``: the first two terms are the
    candidate's own, the last weighs its counts by ``weights = ln R - ln r``. For a
    target class against the rest (one degree of freedom) the two columns are the
    target and the others. ``log_table[k] = ln k`` (``ln 0 = 0``)."""
    total = 0
    nonzero = 0
    for k in range(reference.shape[0]):
        total += reference[k]
        nonzero += reference[k] > 0
    if target >= 0:
        weights[0] = log_table[total] - log_table[reference[target]]
        weights[1] = log_table[total] - log_table[total - reference[target]]
        dof = 1
    else:
        for k in range(reference.shape[0]):
            weights[k] = log_table[total] - log_table[reference[k]]
        dof = min(max(nonzero - 1, 1), critical_value.shape[0] - 1)
    # Halving is exact in binary floating point: G > c exactly when G / 2 > c / 2.
    return critical_value[dof] / 2.0


@_jit(f"boolean({_I1}, int64, int64, {_F1}, float64, {_F1})")
def significant(
    counts: Ints, n: int, target: int, weights: Floats, half_critical: float, x_log_x: Floats
) -> bool:
    """Whether a candidate with class ``counts`` (K,) covering ``n`` passes the
    test ``(weights, half_critical)`` of :func:`reference_test`.
    ``x_log_x[k] = k ln k``."""
    if target >= 0:
        hits = counts[target]
        own = x_log_x[hits] + x_log_x[n - hits] - x_log_x[n]
        statistic = own + hits * weights[0] + (n - hits) * weights[1]
    else:
        own = x_log_x[counts[0]]
        weighted = counts[0] * weights[0]
        for k in range(1, counts.shape[0]):
            own += x_log_x[counts[k]]
            weighted += counts[k] * weights[k]
        statistic = own - x_log_x[n] + weighted
    return statistic > half_critical


@_jit(f"boolean(int64, int64, {_F1}, {_I1})")
def _before(a: int, b: int, qualities: Floats, covered: Ints) -> bool:
    """Whether candidate ``a`` comes before ``b``: higher quality, then larger
    coverage, then the earlier (parent, condition)."""
    if qualities[a] != qualities[b]:
        return qualities[a] > qualities[b]
    if covered[a] != covered[b]:
        return covered[a] > covered[b]
    return a < b


@_jit(f"void({_I1}, int64, int64, {_F1}, {_I1})")
def _sift_down(heap: Ints, i: int, size: int, qualities: Floats, covered: Ints) -> None:
    """Restore the heap order (:func:`_before` first) of ``heap[:size]`` below ``i``."""
    while True:
        first = i
        for child in (2 * i + 1, 2 * i + 2):
            if child < size and _before(heap[child], heap[first], qualities, covered):
                first = child
        if first == i:
            return
        heap[i], heap[first] = heap[first], heap[i]
        i = first


@_jit(f"boolean({_B2}, int64)")
def _seen(rows: Words, i: int) -> bool:
    """Whether ``rows[i]`` equals one of ``rows[:i]``."""
    for j in range(i):
        same = True
        for w in range(rows.shape[1]):
            if rows[j, w] != rows[i, w]:
                same = False
                break
        if same:
            return True
    return False


class _Workspace(NamedTuple):
    """The arrays one search works in, allocated once per condition space and beam
    shape (numba compiles every allocation's type; these need none)."""

    candidates: np.ndarray  # (4, B C) int64: covered, parent, condition, heap
    counts: np.ndarray  # (B C, K) int64: the candidates' class counts
    qualities: np.ndarray  # (B C,) float64
    keys: np.ndarray  # (2, B, L) int64: the beam's conditions in the order taken
    open_: np.ndarray  # (2, B, C) bool: the conditions each beam complex may still take
    coverage: np.ndarray  # (2, B, W) uint64: the beam's coverage (the next beam's beside it)
    beam_counts: np.ndarray  # (B + 1, K + 1) int64: class counts, then the total; last: prior
    weights: np.ndarray  # (B + 1, K) float64: the parent tests, then the one at hand
    half_critical: np.ndarray  # (B + 1,) float64, likewise
    picked: np.ndarray  # (B,) int64: the candidates chosen as the next beam
    found: np.ndarray  # (L + K,) int64: the answer's conditions, then its counts
    found_coverage: np.ndarray  # (W,) uint64

    @classmethod
    def allocate(cls, space: ConditionSpace, settings: SearchSettings) -> _Workspace:
        n_conditions, n_words = space.bits.shape
        n_classes, width, length = space.n_classes, settings.beam_width, settings.max_rule_length
        most = width * n_conditions
        return cls(
            np.empty((4, most), np.int64),
            np.empty((most, n_classes), np.int64),
            np.empty(most),
            np.empty((2, width, length), np.int64),
            np.empty((2, width, n_conditions), bool),
            np.empty((2, width, n_words), np.uint64),
            np.empty((width + 1, n_classes + 1), np.int64),
            np.empty((width + 1, n_classes)),
            np.empty(width + 1),
            np.empty(width, np.int64),
            np.empty(length + n_classes, np.int64),
            np.empty(n_words, np.uint64),
        )


def search(
    space: ConditionSpace, active: np.ndarray, target: int | None, settings: SearchSettings
) -> tuple[tuple[int, ...], np.ndarray, np.ndarray, float] | None:
    """:func:`lamina.plugins.cn2.search.find_best_complex`'s answer as ``(conditions,
    coverage, counts, quality)``, or None."""
    shape = (settings.beam_width, settings.max_rule_length)
    work = space.scratch.get(shape)
    if work is None:
        work = space.scratch[shape] = _Workspace.allocate(space, settings)
    length, quality = _search(
        space.bits,
        space.by_class,
        space.class_bits,
        space.slot,
        space.log,
        space.x_log_x,
        active,
        -1 if target is None else target,
        settings.min_covered_examples,
        QUALITY_CODES[settings.quality],
        settings.critical_value,
        settings.parent_critical_value,
        settings.test,
        settings.parent_test,
        *work,
    )
    if length < 0:
        return None
    return (
        tuple(work.found[:length].tolist()),
        work.found_coverage.copy(),
        work.found[settings.max_rule_length :].copy(),
        quality,
    )


@_jit(
    f"Tuple((int64, float64))({_B2}, {_B2}, {_B2}, {_I1}, {_F1}, {_F1}, uint64[::1], int64, "
    f"int64, int64, {_R1}, {_R1}, boolean, boolean, {_I2}, {_I2}, {_F1}, int64[:, :, ::1], "
    f"boolean[:, :, ::1], uint64[:, :, ::1], {_I2}, float64[:, ::1], {_F1}, {_I1}, {_I1}, "
    "uint64[::1])"
)
def _search(
    bits: Words,
    by_class: Words,
    class_bits: Words,
    slot: Ints,
    log_table: Floats,
    x_log_x: Floats,
    active: Words,
    target: int,
    min_covered_examples: int,
    kind: int,
    critical_value: Floats,
    parent_critical_value: Floats,
    test: bool,
    parent_test: bool,
    candidates: Ints,
    counts: Ints,
    qualities: Floats,
    keys: Ints,
    open_: npt.NDArray[np.bool_],
    coverage: Words,
    beam_counts: Ints,
    weights: Floats,
    half_critical: Floats,
    picked: Ints,
    found: Ints,
    found_coverage: Words,
) -> tuple[int, float]:
    """The search of :func:`search` in the arrays of a :class:`_Workspace`: returns
    the answer's number of conditions (-1: none) and quality."""
    n_conditions, n_words = bits.shape
    n_classes = class_bits.shape[0]
    n_columns = n_classes + 1
    beam_width, max_rule_length = keys.shape[1], keys.shape[2]
    covered, parents, conditions, heap = candidates[0], candidates[1], candidates[2], candidates[3]
    # The class counts of the examples at hand (row B of beam_counts).
    prior = beam_counts[beam_width, :n_classes]
    prior_total = 0
    for k in range(n_classes):
        prior[k] = 0
        for w in range(n_words):
            prior[k] += _popcount(active[w] & class_bits[k, w])
        prior_total += prior[k]
    if prior_total == 0:
        return -1, 0.0
    # The test against the examples at hand (row B of weights; rows < B: the parents').
    half_critical[beam_width] = reference_test(
        prior, target, critical_value, log_table, weights[beam_width]
    )
    # The beam starts as the empty complex: every example at hand, every condition open.
    for k in range(n_classes):
        beam_counts[0, k] = prior[k]
    beam_counts[0, n_classes] = prior_total
    for w in range(n_words):
        coverage[0, 0, w] = active[w]
    for c in range(n_conditions):
        open_[0, 0, c] = True
    found_length = -1
    found_quality = 0.0
    n_beam = 1
    now = 0  # which half of keys, open_ and coverage holds the beam
    for depth in range(max_rule_length):
        # Every beam complex against every open condition: class counts by popcount.
        m = 0
        for b in range(n_beam):
            for c in range(n_conditions):
                if not open_[now, b, c]:
                    continue
                row = c * n_columns
                n = 0
                for w in range(n_words):
                    n += _popcount(coverage[now, b, w] & by_class[row + n_classes, w])
                # min_covered_examples >= 1, so every useful candidate covers something.
                if n >= beam_counts[b, n_classes] or n < min_covered_examples:
                    continue
                for k in range(n_classes):
                    h = 0
                    for w in range(n_words):
                        h += _popcount(coverage[now, b, w] & by_class[row + k, w])
                    counts[m, k] = h
                if target >= 0 and counts[m, target] < min_covered_examples:
                    continue
                covered[m] = n
                parents[m] = b
                conditions[m] = c
                qualities[m] = quality(counts[m], n, kind, target, prior)
                heap[m] = m
                m += 1
        if m == 0:
            break
        # Candidates best first (higher quality, then larger coverage, then (parent,
        # condition) order), popped from a heap: the answer and the next beam are
        # usually among the first few of them.
        for i in range(m // 2 - 1, -1, -1):
            _sift_down(heap, i, m, qualities, covered)
        tested_parent = parent_test and depth > 0
        if tested_parent:
            for b in range(n_beam):
                half_critical[b] = reference_test(
                    beam_counts[b, :n_classes], target, parent_critical_value, log_table, weights[b]
                )
        # Only candidates better than the answer so far can replace it.
        bar = found_quality if found_length >= 0 else -np.inf
        searching = True
        # The next beam: the best candidates, one per distinct coverage (complexes
        # covering the same examples are the same to the search); none after the last step.
        last = depth + 1 == max_rule_length
        n_next = 0
        size = m
        while size and (searching or (not last and n_next < beam_width)):
            candidate = heap[0]
            size -= 1
            heap[0] = heap[size]
            _sift_down(heap, 0, size, qualities, covered)
            parent, condition, n = parents[candidate], conditions[candidate], covered[candidate]
            if searching and not qualities[candidate] > bar:
                searching = False
            if (
                searching
                and (
                    not test
                    or significant(
                        counts[candidate],
                        n,
                        target,
                        weights[beam_width],
                        half_critical[beam_width],
                        x_log_x,
                    )
                )
                and (
                    not tested_parent
                    or significant(
                        counts[candidate],
                        n,
                        target,
                        weights[parent],
                        half_critical[parent],
                        x_log_x,
                    )
                )
            ):
                searching = False
                found_length = depth + 1
                found_quality = qualities[candidate]
                # The conditions in increasing order (insertion sort: a handful).
                for i in range(found_length):
                    key = condition if i == depth else keys[now, parent, i]
                    at = i
                    while at and found[at - 1] > key:
                        found[at] = found[at - 1]
                        at -= 1
                    found[at] = key
                for w in range(n_words):
                    found_coverage[w] = coverage[now, parent, w] & bits[condition, w]
                for k in range(n_classes):
                    found[max_rule_length + k] = counts[candidate, k]
            if last or n_next == beam_width:
                continue
            for w in range(n_words):
                coverage[1 - now, n_next, w] = coverage[now, parent, w] & bits[condition, w]
            if not _seen(coverage[1 - now], n_next):
                picked[n_next] = candidate
                n_next += 1
        if last:
            break
        for i in range(n_next):
            candidate = picked[i]
            parent, condition = parents[candidate], conditions[candidate]
            for j in range(depth):
                keys[1 - now, i, j] = keys[now, parent, j]
            keys[1 - now, i, depth] = condition
            for c in range(n_conditions):
                open_[1 - now, i, c] = open_[now, parent, c] and slot[c] != slot[condition]
            for k in range(n_classes):
                beam_counts[i, k] = counts[candidate, k]
            beam_counts[i, n_classes] = covered[candidate]
        now = 1 - now
        n_beam = n_next
        if (
            found_length >= 0
            and best_possible(beam_counts[:n_beam, :n_classes], kind, target) <= found_quality
        ):
            break  # no refinement of the beam can beat the answer: it is final
    return found_length, found_quality
