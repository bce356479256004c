"""How significantly the overlap of every integer shift correlates, by FFT.

A registration pair's candidate shifts are judged by the correlation coefficient
of the pixels they overlap (:func:`.matching.choose_start`). On small views the
candidates from windowed correlation peaks can miss the match altogether: a
32 px checkerboard view moved by (-12.5, 6) px was matched at an alias 25 px
off, reporting 0.05 px, because no correlation surface peaked near the truth.
Scoring every shift finds it. Each sum over an overlap is a correlation with the
other image or with a box of ones, so five inverse FFTs of the zero-padded
images give them all (Padfield's masked normalised cross-correlation, with
full-image masks).

References
----------
D. Padfield (2012). "Masked object registration in the Fourier domain." IEEE
Trans. Image Process. 21(5), 2706-2718.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import fft, ndimage

from lamina.plugins.subpixel.windows import MIN_OVERLAP

__all__ = ["overlap_peaks", "overlap_significance"]

#: Correlation coefficients are clipped to this magnitude before the Fisher z
#: (as :func:`.matching.choose_start` scores a single shift).
_MAX_CORRELATION = 0.999999


def overlap_significance(looks: Sequence[tuple[np.ndarray, np.ndarray, float]]) -> np.ndarray:
    """Fisher z ``atanh(r) sqrt(max(n independent - 3, 1))`` of every integer shift,
    per look ``(reference, moving, independent)`` at a pair (all of one shape).

    ``r`` is the correlation coefficient of ``moving[x + d]`` against
    ``reference[x]`` over the ``n`` pixels both hold, ``independent`` the fraction
    of them that vary independently (:func:`.matching.independence`), for the
    shifts ``d`` that leave at least ``MIN_OVERLAP`` px on every axis (or the whole
    of a shorter one): per axis ``-L..L`` with ``L`` the side less that overlap,
    shift ``d`` at index ``d + L`` after the looks' axis. A constant overlap gets
    ``-inf``. The looks go through each step together (one FFT call for all).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> scene = rng.normal(size=(40, 40))
    >>> z = overlap_significance([(scene[:32, :32], scene[3:35, 5:37], 1.0)])
    >>> z.shape, np.unravel_index(int(np.argmax(z[0])), z[0].shape)
    ((1, 49, 49), (np.int64(21), np.int64(19)))
    """
    grid = _lag_grid(looks[0][0].shape)
    axes = tuple(range(1, len(grid.reach) + 1))
    # mean removed first: the sums of squares then cancel little
    first, second = (np.stack([np.asarray(look[k], np.float64) for look in looks]) for k in (0, 1))
    first -= np.mean(first, axis=axes, keepdims=True)
    second -= np.mean(second, axis=axes, keepdims=True)
    independent = np.array([look[2] for look in looks]).reshape((-1,) + (1,) * len(axes))
    # the cross term by FFT (long enough that no lag in reach wraps around), the
    # sums over each overlap from running sums
    spectra = fft.rfftn(np.stack((first, second)), s=grid.padded)  # (the last axes)
    products = fft.irfftn(spectra[1] * np.conj(spectra[0]), s=grid.padded)
    products = products[(slice(None), *grid.index)]
    sum_r, squares_r = _overlap_sums(np.stack((first, first * first)), grid.reach, moved=False)
    sum_m, squares_m = _overlap_sums(np.stack((second, second * second)), grid.reach, moved=True)
    covariance = products - sum_r * sum_m / grid.count
    variances = np.maximum(squares_r - sum_r**2 / grid.count, 0.0) * np.maximum(
        squares_m - sum_m**2 / grid.count, 0.0
    )
    # FFT rounding leaves about eps of the total power in a constant overlap
    powers = np.sum(first * first, axis=axes, keepdims=True)
    powers = powers * np.sum(second * second, axis=axes, keepdims=True)
    varied = variances > 1e-10 * powers
    scale = np.sqrt(np.where(varied, variances, 1.0))
    correlation = np.clip(covariance / scale, -_MAX_CORRELATION, _MAX_CORRELATION)
    significance = np.arctanh(correlation)
    significance *= np.sqrt(np.maximum(grid.count * independent - 3.0, 1.0))
    significance[~varied] = -np.inf
    return significance


@dataclass(frozen=True)
class _LagGrid:
    """The shifts :func:`overlap_significance` scores on one shape (read-only,
    cached)."""

    reach: tuple[int, ...]  # L per axis: the shifts -L..L
    padded: tuple[int, ...]  # the FFT shape: no shift in reach wraps around
    index: tuple[np.ndarray, ...]  # each shift's entry of the padded correlation
    count: np.ndarray  # pixels in each shift's overlap


@functools.lru_cache(maxsize=16)
def _lag_grid(shape: tuple[int, ...]) -> _LagGrid:
    reach = tuple(n - min(MIN_OVERLAP, n) for n in shape)
    lags = [np.arange(-r, r + 1) for r in reach]
    padded = tuple(fft.next_fast_len(n + r, real=True) for n, r in zip(shape, reach, strict=True))
    count = np.ones(())
    for lag, n in zip(lags, shape, strict=True):
        count = np.multiply.outer(count, (n - np.abs(lag)).astype(np.float64))
    index = np.ix_(*(lag % length for lag, length in zip(lags, padded, strict=True)))
    for array in (*index, count):
        array.flags.writeable = False
    return _LagGrid(reach, padded, index, count)


def _overlap_sums(values: np.ndarray, reach: tuple[int, ...], *, moved: bool) -> np.ndarray:
    """Sums of ``values`` (its leading axes kept) over the part of each axis that
    the shifts ``-L..L`` overlap: the reference's ``[max(0, -d), min(n, n - d))``,
    or with ``moved`` the moving image's ``[max(0, d), min(n, n + d))``. Per axis
    these are prefix and suffix sums, read off one running sum by slicing."""
    total = values
    for axis, r in enumerate(reach, start=values.ndim - len(reach)):
        n = total.shape[axis]
        running = np.cumsum(total, axis=axis)  # running[i]: the entries up to i
        whole = _slab(running, axis, n - 1, n)
        first = _slab(running, axis, 0, r)  # the first 1..r entries' sums
        if moved:  # d < 0: the first n - |d|; d >= 0: the last n - d
            pieces = [_slab(running, axis, n - r - 1, n - 1), whole, whole - first]
        else:  # d < 0: the last n - |d|; d >= 0: the first n - d
            pieces = [
                whole - np.flip(first, axis=axis),
                np.flip(_slab(running, axis, n - r - 1, n), axis=axis),
            ]
        total = np.concatenate(pieces, axis=axis)
    return total


def _slab(array: np.ndarray, axis: int, start: int, stop: int) -> np.ndarray:
    """``array``'s entries ``start:stop`` along ``axis`` (a view)."""
    return array[(slice(None),) * axis + (slice(start, stop),)]


def overlap_peaks(
    significance: np.ndarray, count: int, *, at_least: float = -np.inf
) -> list[np.ndarray]:
    """The ``count`` highest local maxima of an :func:`overlap_significance` surface
    that reach ``at_least``, as shifts."""
    local = (significance >= at_least) & (
        significance == ndimage.maximum_filter(significance, size=3, mode="constant", cval=-np.inf)
    )
    local &= np.isfinite(significance)
    found = np.flatnonzero(local)
    found = found[np.argsort(significance.flat[found])[::-1][:count]]
    reach = (np.array(significance.shape) - 1) // 2
    points = np.stack(np.unravel_index(found, significance.shape), axis=1)
    return list((points - reach).astype(np.float64))
