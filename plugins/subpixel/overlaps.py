"""How the pixels that overlap at every lag correlate, by FFT.

Two users: the integer search of a registration pair judges candidate shifts
by the correlation coefficient of the pixels they overlap
(:func:`.matching.choose_start`), and on small views scores every shift at
once (:func:`overlap_significance`): their windowed correlation peaks can miss
the match altogether (a 32 px checkerboard view moved by (-12.5, 6) px was
matched at an alias 25 px off, reporting 0.05 px); and a repeating scene's
periods are the lags at which an image correlates with itself
(:func:`.matching._periods`). Each sum over an overlap is a box sum, read off a
summed-area table, and the cross term one inverse FFT of the zero-padded
images (Padfield's masked normalised cross-correlation, with full-image masks).

References
----------
D. Padfield (2012). "Masked object registration in the Fourier domain." IEEE
Trans. Image Process. 21(5), 2706-2718.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import fft, ndimage

from lamina.plugins.subpixel.windows import MIN_OVERLAP

__all__ = [
    "Lags",
    "lag_moments",
    "lag_table",
    "outer_take",
    "overlap_match",
    "overlap_peaks",
    "overlap_significance",
]

#: Correlation coefficients are clipped to this magnitude before the Fisher z.
_MAX_CORRELATION = 0.999999

#: Most pixels used to correlate an overlap (a strided subsample beyond that).
_MAX_SAMPLES = 16384

#: Variance product, against the images' whole power, under which an overlap counts
#: as constant: far above the box sums' rounding, and an overlap this faint beside
#: the rest of the scene carries no match worth a candidate.
_CONSTANT = 1e-10


@dataclass(frozen=True)
class Lags:
    """The lags up to a reach per axis on images of one shape (read-only, cached by
    :func:`lag_table`): per axis lags 0..L then -L..-1, a circular surface of side
    2L + 1 whose index i is lag i up to L, as :func:`.matching.secondary_peaks`
    reads it."""

    padded: tuple[int, ...]  # the zero-padded FFT shape: no lag wraps around
    index: tuple[np.ndarray, ...]  # each lag's entry of the padded correlation
    negated: tuple[np.ndarray, ...]  # each lag's index of its negative
    #: the overlaps' boxes of x, [low, high) per axis: their ends, the lows then
    #: the highs, one array per axis (see :func:`outer_take`), and the corners of
    #: their inclusion-exclusion on a summed-area table (see :func:`_box_sum`):
    #: added or subtracted, at the part of the ends (low or high per axis; any
    #: leading axes whole)
    ends: tuple[np.ndarray, ...]
    corners: tuple[tuple[bool, tuple[Any, ...]], ...]
    count: np.ndarray  # pixels in each lag's overlap


@functools.lru_cache(maxsize=16)
def lag_table(sides: tuple[int, ...], reach: tuple[int, ...]) -> Lags:
    """The :class:`Lags` of images of shape ``sides`` out to ``reach`` per axis."""
    lags = [np.r_[0 : r + 1, -r:0] for r in reach]
    box = [
        (np.maximum(0, -lag), m - np.maximum(0, lag)) for m, lag in zip(sides, lags, strict=True)
    ]
    count = np.ones(1)
    for low, high in box:
        count = np.multiply.outer(count, high - low)
    ends = tuple(np.concatenate(pair) for pair in box)
    corners = tuple(
        (
            (len(sides) - sum(corner)) % 2 == 0,
            (
                ...,
                *(
                    slice(bit * len(lag), (bit + 1) * len(lag))
                    for bit, lag in zip(corner, lags, strict=True)
                ),
            ),
        )
        for corner in itertools.product((0, 1), repeat=len(sides))
    )
    negated = tuple((-np.arange(len(lag))) % len(lag) for lag in lags)
    index = tuple(lags)
    for array in (*negated, *index, *ends, count):
        array.flags.writeable = False
    return Lags(tuple(2 * m for m in sides), index, negated, ends, corners, count[0])


def lag_moments(first: np.ndarray, second: np.ndarray, lags: Lags) -> tuple[np.ndarray, np.ndarray]:
    """Per lag, the covariance of ``first[x]`` and ``second[x + lag]`` over the
    ``x`` where both lie and the square root of the product of their variances,
    both times the overlap's pixel count; ``first`` and ``second`` have mean 0 and
    their images in the last axes (leading axes are kept). Pass the same array
    twice for an image against itself (its lag 0 is then the variance)."""
    axes = tuple(range(first.ndim - len(lags.padded), first.ndim))
    spectrum = fft.rfftn(first, s=lags.padded, axes=axes)
    if second is first:
        power = spectrum.real**2 + spectrum.imag**2
    else:
        power = fft.rfftn(second, s=lags.padded, axes=axes) * np.conj(spectrum)
    products = fft.irfftn(power, s=lags.padded, axes=axes)
    # sums[0] and sums[1]: the sums of the pixels and of their squares over each
    # lag's overlap at x (x + lag, the other end, is the overlap of -lag)
    sums = _box_sum(np.stack((first, first * first)), lags)
    deviations = sums[1] - sums[0] ** 2 / lags.count  # count times the variance
    if second is not first:
        moved = _box_sum(np.stack((second, second * second)), lags)
        moved_sums, moved_deviations = moved[0], moved[1] - moved[0] ** 2 / lags.count
    else:
        moved_sums, moved_deviations = sums[0], deviations
    moved_sums, moved_deviations = (
        outer_take(v, lags.negated) for v in (moved_sums, moved_deviations)
    )
    covariance = outer_take(products, lags.index) - sums[0] * moved_sums / lags.count
    scale = np.sqrt(np.maximum(deviations * moved_deviations, 0.0))
    return covariance, scale


def overlap_match(
    reference: np.ndarray,
    moving: np.ndarray,
    shift: np.ndarray,
    independent: float,
    views: bool = True,
) -> tuple[float, float]:
    """Fisher z-score ``atanh(r) sqrt(n_eff - 3)`` of the correlation ``r`` of the
    pixels that overlap for the integer part of ``shift`` (``moving[y + dy, x + dx]``
    against ``reference[y, x]``), ``n_eff`` their effective number: a good match over
    a large overlap beats a chance match over a sliver, and smooth scenes count as
    the few samples they are; and ``n_eff - 3`` (at least 1). Circular translates
    (``views=False``) overlap everywhere."""
    # in Python numbers: numpy's call overhead on these few values was a fifth of
    # a call, and a large shift's search scores dozens of candidates
    steps = [round(v) for v in np.asarray(shift, dtype=np.float64).tolist()]
    shape = reference.shape
    if views:
        if any(abs(s) > n - min(MIN_OVERLAP, n) for s, n in zip(steps, shape, strict=True)):
            return -np.inf, 1.0
        count = math.prod(n - abs(s) for s, n in zip(steps, shape, strict=True))
    else:
        count = math.prod(shape)
    stride = max(1, math.ceil(math.sqrt(count / _MAX_SAMPLES)))
    if views:
        first = reference[
            tuple(
                slice(max(0, -s), min(n, n - s), stride) for s, n in zip(steps, shape, strict=True)
            )
        ]
        second = moving[
            tuple(
                slice(max(0, s), min(n, n + s), stride) for s, n in zip(steps, shape, strict=True)
            )
        ]
    else:
        # the moving image rolled back by the steps, at the sampled pixels only
        first = reference[(slice(None, None, stride),) * reference.ndim]
        second = outer_take(
            moving,
            tuple((np.arange(0, n, stride) + s) % n for s, n in zip(steps, shape, strict=True)),
        )
    first = first.astype(np.float64).ravel()
    second = second.astype(np.float64).ravel()
    first -= first.sum() / first.size  # (the mean, without its wrapper's overhead)
    second -= second.sum() / second.size
    # einsum, not BLAS dot: threaded BLAS stalls for milliseconds on busy cores
    denominator = np.sqrt(np.einsum("i,i->", first, first) * np.einsum("i,i->", second, second))
    if denominator <= 0:
        return -np.inf, 1.0
    product = np.einsum("i,i->", first, second)
    correlation = min(max(float(product / denominator), -_MAX_CORRELATION), _MAX_CORRELATION)
    effective = max(count * independent - 3.0, 1.0)
    return float(np.arctanh(correlation) * np.sqrt(effective)), effective


def overlap_significance(looks: Sequence[tuple[np.ndarray, np.ndarray, float]]) -> np.ndarray:
    """Fisher z ``atanh(r) sqrt(max(n independent - 3, 1))`` of every integer shift,
    per look ``(reference, moving, independent)`` at a pair (all of one shape).

    ``r`` is the correlation coefficient of ``moving[x + d]`` against
    ``reference[x]`` over the ``n`` pixels both hold, ``independent`` the fraction
    of them that vary independently (:func:`.matching.independence`), for the
    shifts ``d`` that leave at least ``MIN_OVERLAP`` px on every axis (or the whole
    of a shorter one): per axis ``0..L`` then ``-L..-1`` (:class:`Lags`), after the
    looks' axis. A constant overlap gets ``-inf``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> scene = rng.normal(size=(40, 40))
    >>> z = overlap_significance([(scene[:32, :32], scene[3:35, 5:37], 1.0)])
    >>> z.shape, overlap_peaks(z[0], 1)
    ((1, 49, 49), [array([-3., -5.])])
    """
    shape = looks[0][0].shape
    lags = lag_table(shape, tuple(n - min(MIN_OVERLAP, n) for n in shape))
    first, second = (np.stack([np.asarray(look[k], np.float64) for look in looks]) for k in (0, 1))
    axes = tuple(range(1, first.ndim))
    first -= np.mean(first, axis=axes, keepdims=True)
    second -= np.mean(second, axis=axes, keepdims=True)
    covariance, scale = lag_moments(first, second, lags)
    powers = np.sum(first * first, axis=axes, keepdims=True)
    powers = powers * np.sum(second * second, axis=axes, keepdims=True)
    varied = scale**2 > _CONSTANT * powers
    correlation = covariance / np.where(varied, scale, 1.0)
    correlation = np.clip(correlation, -_MAX_CORRELATION, _MAX_CORRELATION)
    independent = np.array([look[2] for look in looks]).reshape((-1,) + (1,) * len(axes))
    significance = np.arctanh(correlation)
    significance *= np.sqrt(np.maximum(lags.count * independent - 3.0, 1.0))
    significance[~varied] = -np.inf
    return significance


def overlap_peaks(
    significance: np.ndarray, count: int, *, at_least: float = -np.inf
) -> list[np.ndarray]:
    """The ``count`` highest local maxima of an :func:`overlap_significance` surface
    that reach ``at_least``, as shifts."""
    local = (significance >= at_least) & np.isfinite(significance)
    local &= significance == ndimage.maximum_filter(significance, size=3, mode="wrap")
    found = np.flatnonzero(local)
    found = found[np.argsort(significance.flat[found])[::-1][:count]]
    sides = np.array(significance.shape)
    points = np.stack(np.unravel_index(found, significance.shape), axis=1)
    return list(np.where(points > sides // 2, points - sides, points).astype(np.float64))


def _box_sum(values: np.ndarray, lags: Lags) -> np.ndarray:
    """Sums of ``values`` over the overlaps' boxes of :class:`Lags` in its last
    axes (leading axes are kept), one per lag: inclusion-exclusion on the
    summed-area table, at its entries for every combination of the boxes' ends."""
    # (not running sums per axis, which cost the same: a noise-free repeating
    # scene's periods tie exactly, and another order of the sums picks another)
    axes = len(lags.ends)
    table = np.zeros(values.shape[:-axes] + tuple(n + 1 for n in values.shape[-axes:]))
    inside: tuple[Any, ...] = (..., *(slice(1, None),) * axes)
    table[inside] = values
    for axis in range(table.ndim - axes, table.ndim):
        np.cumsum(table, axis=axis, out=table)
    table = outer_take(table, lags.ends)
    total = np.zeros(table.shape[:-axes] + lags.count.shape)
    for add, part in lags.corners:
        if add:
            total += table[part]
        else:
            total -= table[part]
    return total


def outer_take(values: np.ndarray, index: tuple[np.ndarray, ...]) -> np.ndarray:
    """``values[..., *np.ix_(*index)]``: entries at every combination of an index
    per axis of its last axes, taken one axis at a time (numpy's broadcast
    fancy indexing took 10x the time), the last axis first: its entries are
    gathered one by one, the other axes' in contiguous runs, so it is taken
    while the array is smallest (half the time for the summed-area table's
    ends)."""
    first = values.ndim - len(index)
    for axis in reversed(range(first, values.ndim)):
        values = np.take(values, index[axis - first], axis=axis)
    return values
