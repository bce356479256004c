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

import numpy as np
from scipy import fft, ndimage

from lamina.plugins.subpixel.windows import MIN_OVERLAP

__all__ = ["overlap_peaks", "overlap_significance"]

#: Correlation coefficients are clipped to this magnitude before the Fisher z
#: (as :func:`.matching.choose_start` scores a single shift).
_MAX_CORRELATION = 0.999999


def overlap_significance(
    reference: np.ndarray, moving: np.ndarray, independent: float
) -> np.ndarray:
    """Fisher z ``atanh(r) sqrt(max(n independent - 3, 1))`` of every integer shift.

    ``r`` is the correlation coefficient of ``moving[x + d]`` against
    ``reference[x]`` over the ``n`` pixels both hold, ``independent`` the fraction
    of them that vary independently (:func:`.matching.independence`). Shift ``d``
    sits at index ``d`` modulo the returned shape (twice the images', or a little
    more for fast FFTs); shifts that leave under ``MIN_OVERLAP`` px on an axis, or
    a constant overlap, get ``-inf``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> scene = rng.normal(size=(40, 40))
    >>> z = overlap_significance(scene[:32, :32], scene[3:35, 5:37], 1.0)
    >>> np.unravel_index(int(np.argmax(z)), z.shape)
    (np.int64(61), np.int64(59))
    """
    shape = reference.shape
    padded = tuple(fft.next_fast_len(2 * n, real=True) for n in shape)
    axes = tuple(range(len(shape)))
    # mean removed first: the sums of squares then cancel little
    first = np.asarray(reference, np.float64) - np.mean(reference, dtype=np.float64)
    second = np.asarray(moving, np.float64) - np.mean(moving, dtype=np.float64)

    def spectrum(values: np.ndarray) -> np.ndarray:
        return fft.rfftn(values, s=padded, axes=axes)

    def correlate(moved: np.ndarray, still: np.ndarray) -> np.ndarray:
        # at index d: the sum over x of the two images behind moved[x + d] still[x]
        return fft.irfftn(moved * np.conj(still), s=padded, axes=axes)

    ones = spectrum(np.ones(shape))
    spectrum_r, spectrum_m = spectrum(first), spectrum(second)
    sum_r, sum_m = correlate(ones, spectrum_r), correlate(spectrum_m, ones)
    squares_r = correlate(ones, spectrum(first * first))
    squares_m = correlate(spectrum(second * second), ones)
    products = correlate(spectrum_m, spectrum_r)
    count = np.ones(())
    enough = np.ones((), dtype=bool)
    for size, length in zip(shape, padded, strict=True):
        lag = np.fft.fftfreq(length, 1.0 / length)
        overlap = np.maximum(size - np.abs(lag), 0.0)
        count = np.multiply.outer(count, overlap)
        enough = np.multiply.outer(enough, overlap >= min(MIN_OVERLAP, size))
    counted = np.maximum(count, 1.0)
    covariance = products - sum_r * sum_m / counted
    variances = np.maximum(squares_r - sum_r**2 / counted, 0.0) * np.maximum(
        squares_m - sum_m**2 / counted, 0.0
    )
    # FFT rounding leaves about eps of the total power in a constant overlap
    floor = 1e-10 * float(np.sum(first * first) * np.sum(second * second))
    varied = enough & (variances > floor)
    scale = np.sqrt(np.where(varied, variances, 1.0))
    correlation = np.clip(covariance / scale, -_MAX_CORRELATION, _MAX_CORRELATION)
    significance = np.arctanh(correlation) * np.sqrt(np.maximum(count * independent - 3.0, 1.0))
    significance[~varied] = -np.inf
    return significance


def overlap_peaks(significance: np.ndarray, count: int) -> list[np.ndarray]:
    """The ``count`` highest local maxima of an :func:`overlap_significance` surface,
    as shifts (the index wrapped to the half of the padded length it stands for)."""
    local = np.isfinite(significance) & (
        significance == ndimage.maximum_filter(significance, size=3, mode="wrap")
    )
    found = np.flatnonzero(local)
    found = found[np.argsort(significance.flat[found])[::-1][:count]]
    lengths = np.array(significance.shape)
    points = np.stack(np.unravel_index(found, significance.shape), axis=1).astype(np.float64)
    return list(np.where(points > lengths / 2, points - lengths, points))
