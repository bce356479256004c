"""Apodisation windows that move with the image content.

A window fixed to the pixel grid does not move when the content does, so the
windowed images are no longer exact translates of each other and the estimate
is pulled toward zero shift. Placing the window of each image at minus/plus half
the current shift estimate (a window fixed in the frame of the midpoint image)
keeps the windowed pair an exact translate pair, and its support shrinks with the
shift so that only the overlap of the two views is used.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lamina.errors import InputError
from lamina.plugins.subpixel.noise import haar_diagonal

__all__ = [
    "MIN_TAPER",
    "Window",
    "WindowPowers",
    "apply_window",
    "comoving_profiles",
    "comoving_windows",
    "masked_windows",
    "separable_sum",
    "sum_product",
    "taper_limits",
    "tukey_profile",
    "window_array",
]

#: A window as its full array, or as its per-axis profiles where it is their outer
#: product (see :func:`apply_window`).
Window = np.ndarray | tuple[np.ndarray, ...]

#: Fewest pixels of overlap, per axis, left for the windowed fit.
MIN_OVERLAP = 8

#: Shortest cosine taper (px) that :func:`taper_limits` allows: a quarter of a
#: 128 px view, 16 px per side, is the taper whose aliasing the band cut and the
#: Hann check were measured for (at most 2e-4 px on noise-free views).
MIN_TAPER = 16.0

#: Standard errors by which the content's gradients must stand out of the noise's
#: before :func:`taper_limits` trusts the wavelength they give.
_SIGNIFICANT_GRADIENT = 5.0


def tukey_profile(size: int, centre: float, length: float, taper: float) -> np.ndarray:
    """Tukey window of support ``length`` centred at ``centre``, sampled at ``0..size-1``.

    ``taper`` is the fraction of the support inside the two cosine tapers
    (0: rectangular, 1: Hann).
    """
    return _tukey_profiles(size, [centre], [length], [taper])[0]


def _tukey_profiles(
    size: int, centres: Sequence[float], lengths: Sequence[float], tapers: Sequence[float]
) -> np.ndarray:
    """:func:`tukey_profile` of each centre, support and taper (one row each, ``size``
    samples): a co-moving pair's profiles of every axis in one set of array
    operations (each sample's arithmetic is the same as alone: same values)."""
    column = np.array([centres, lengths, [1.0 if taper <= 0 else taper for taper in tapers]]).T
    u = (np.arange(size) - column[:, 0:1]) / column[:, 1:2] + 0.5  # 0..1 across the support
    edge = np.minimum(u, 1.0 - u)  # positive inside the support only
    # the cosine ramp over the tapers; its angle held to pi on the flat part
    # (cos(pi) is -1 exactly: 1) and to 0 outside the support (0)
    angle = np.maximum(2.0 * np.pi * edge / column[:, 2:3], 0.0)
    profiles = 0.5 * (1.0 - np.cos(np.minimum(angle, np.pi, out=angle)))
    for row, taper in enumerate(tapers):
        if taper <= 0:  # rectangular
            profiles[row] = edge[row] > 0
    return profiles


def comoving_windows(
    shape: tuple[int, ...],
    shift: np.ndarray,
    taper: float,
    *,
    dtype: type = np.float64,
    min_overlap: int = MIN_OVERLAP,
    max_taper: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Windows for reference and moving that sit on the same content for ``shift``.

    The reference window is centred at ``centre - shift / 2`` and the moving
    window at ``centre + shift / 2``; the support per axis is
    ``size - 1 - |shift|`` so both stay inside the image. Any number of axes
    (images, volumes): the window is the outer product of the axes' profiles.
    A support under ``min_overlap`` is refused. ``max_taper`` (px per axis, see
    :func:`taper_limits`) caps the cosine tapers' length: on a longer support
    the fraction ``taper`` shrinks to ``2 max_taper / support``.
    """
    profiles_r, profiles_m, _ = comoving_profiles(
        shape, shift, taper, dtype=dtype, min_overlap=min_overlap, max_taper=max_taper
    )
    return window_array(profiles_r), window_array(profiles_m)


def comoving_profiles(
    shape: tuple[int, ...],
    shift: np.ndarray,
    taper: float,
    *,
    dtype: type = np.float64,
    min_overlap: int = MIN_OVERLAP,
    max_taper: np.ndarray | None = None,
) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...], WindowPowers]:
    """:func:`comoving_windows` with each window given as its per-axis profiles
    (a :data:`Window` that :func:`apply_window` and the texture test take), and
    their :class:`WindowPowers`; the full windows are never built: the mean of a
    power of a separable window is the product of its profiles' means.

    Examples
    --------
    >>> import numpy as np
    >>> profiles_r, profiles_m, powers = comoving_profiles((32, 48), np.array([2.0, -3.5]), 0.25)
    >>> [profile.shape for profile in profiles_r]
    [(32,), (48,)]
    >>> bool(np.array_equal(window_array(profiles_m), comoving_windows((32, 48), np.array([2.0, -3.5]), 0.25)[1]))
    True
    """
    # per axis: the reference's and the moving profile's centre, support and taper
    centres: list[float] = []
    lengths: list[float] = []
    fractions: list[float] = []
    for axis, size in enumerate(shape):
        offset = float(shift[axis])
        length = size - 1.0 - abs(offset)
        if length < min_overlap:
            raise InputError(
                f"not feasible: a shift of {offset:.1f} px leaves {max(length, 0):.0f} px of "
                f"overlap along axis {axis} (need {min_overlap})"
            )
        centre = (size - 1) / 2.0
        fraction = taper if max_taper is None else min(taper, 2.0 * max_taper[axis] / length)
        centres += [centre - offset / 2, centre + offset / 2]
        lengths += [length, length]
        fractions += [fraction, fraction]
    # every axis's profiles as rows of one table as long as the longest axis
    table = _tukey_profiles(max(shape), centres, lengths, fractions)
    cast: np.ndarray = table.astype(dtype)
    cast_r = tuple(cast[2 * axis, :size] for axis, size in enumerate(shape))
    cast_m = tuple(cast[2 * axis + 1, :size] for axis, size in enumerate(shape))
    # the mean of a power of a separable window: the product of its profiles' means
    squares = table * table
    fourths = squares * squares
    second, fourth = [1.0, 1.0], [1.0, 1.0]
    for axis, size in enumerate(shape):
        rows = slice(2 * axis, 2 * axis + 2)
        for means, terms in ((second, squares), (fourth, fourths)):
            sums = np.add.reduce(terms[rows, :size], axis=1) / size
            means[0], means[1] = means[0] * float(sums[0]), means[1] * float(sums[1])
    powers = WindowPowers((second[0], second[1]), (fourth[0], fourth[1]))
    return cast_r, cast_m, powers


def window_array(window: Window) -> np.ndarray:
    """The full array of a window given as an array or as its per-axis profiles."""
    if isinstance(window, np.ndarray):
        return window
    full: np.ndarray = functools.reduce(np.multiply.outer, window)
    return full


def taper_limits(image: np.ndarray) -> np.ndarray | None:
    """Longest useful cosine taper (px) per axis of the co-moving windows on views of
    the scene in ``image``: half the content's RMS wavelength along the axis, at
    least :data:`MIN_TAPER`; None when the image does not say (its gradients do not
    stand above the noise's).

    A taper costs precision twice. Its share ``a`` of the support ``L`` grows the
    windowed fit's variance by ``mean(w**4) / mean(w**2)**2``, about ``1 + 0.6 a``
    per axis (1.15 for the usual quarter, 1.07 for an eighth). A short taper
    instead makes the estimate follow the windows' placement: the fixed point's
    contraction ``c`` (:func:`.registration.settled_contraction`), whose
    ``1 / (1 - c)`` multiplies the error, grows as ``lambda**2 / (L t)`` (``lambda``
    the content's RMS wavelength, ``t`` the taper): on 256 px views camera content
    (``lambda`` 15-28 px) gives ``c`` 0.012, 0.022, 0.044 for 32, 16 and 8 px
    tapers, smooth blobs (81 px) 0.12 and 0.27 for 32 and 16 px. Their product is
    least near ``t = 0.35-0.5 lambda``. So half the wavelength: camera views of
    256 px get 16-19 px tapers instead of 32 (RMS 0.95x at noise 0.01 over 240
    pairs), while smooth content keeps the quarter of the support (1024 px views
    of 64 px blobs with 16 px tapers did not settle).

    ``lambda = 2 pi sqrt(var g / mean (d g / d axis)**2)`` from forward differences,
    the noise taken out of both: the mean square of the finest diagonal Haar
    coefficients (noise and the finest texture: at most the noise's share) stands
    for the noise variance, so it errs toward a longer, safer taper.
    """
    data = np.asarray(image)
    if not np.issubdtype(data.dtype, np.floating):
        data = data.astype(np.float64)
    # Every statistic from the 2x2 blocks' corners (a quarter of the pixels each),
    # means of squares in the image's precision: all this only chooses a taper
    # length, and full-size float64 passes cost 2.5 FFTs. The corners are copied
    # into contiguous planes once (differences and products of 2-D strided views
    # took three times as long) and squared by BLAS dot products.
    diagonal = haar_diagonal(data)
    noise = _mean_square(diagonal)
    rows, columns = diagonal.shape
    corners = np.ascontiguousarray(
        data[: 2 * rows, : 2 * columns].reshape(rows, 2, columns, 2).transpose(1, 3, 0, 2)
    )
    corner = corners[0, 0]
    centred = corner - data.dtype.type(np.mean(corner, dtype=np.float64))
    variance = _mean_square(centred) - noise
    limits = []
    for neighbour in (corners[1, 0], corners[0, 1]):  # the next row's, the next column's
        # forward differences from each corner (noise 2 sigma**2)
        difference = neighbour - corner
        gradient = _mean_square(difference) - 2.0 * noise
        # what the noise alone makes that difference vary by: the mean squares of
        # the differences (each of variance 2 sigma**2) and of the Haar coefficients
        # (twice), each over a quarter of the pixels
        error = 2.0 * noise * np.sqrt(12.0 / difference.size)
        if not (variance > 0 and gradient > _SIGNIFICANT_GRADIENT * error):
            # the content's gradients do not stand out of the noise: a wavelength
            # from them would be chance (smooth scenes at SNR 1)
            return None
        wavelength = 2.0 * np.pi * np.sqrt(variance / gradient)
        limits.append(max(MIN_TAPER, 0.5 * wavelength))
    return np.array(limits)


def _mean_square(array: np.ndarray) -> float:
    """``mean(array**2)`` of a contiguous array: float32 by one BLAS dot product
    (3 against 9 us on a 128 x 128 plane; relative error about ``eps`` times the
    square root of the count), float64 by :func:`sum_product`: OpenBLAS splits a
    ``ddot`` of over about 10,000 elements across threads, and its last bits then
    depended on ``OPENBLAS_NUM_THREADS`` (for no gain: 11.7 against 11.1 us)."""
    flat = np.ravel(array)
    if flat.dtype != np.float32:
        return sum_product(flat, flat) / flat.size
    return float(np.dot(flat, flat)) / flat.size


def sum_product(first: np.ndarray, second: np.ndarray) -> float:
    """``sum(first * second)`` by numpy's pairwise summation in the inputs' precision
    (relative error about ``eps log2(n)``: ample for means and moments), without
    threaded BLAS and three times faster than an einsum that casts to float64."""
    return float(np.sum(first * second))


@dataclass(frozen=True)
class WindowPowers:
    """Mean second and fourth powers of the windows of a registration pair: what the
    noise model needs of them (see :meth:`.spectral.CrossSpectrum.covariance`),
    taken once per placement."""

    #: ``mean(w**2)`` of the reference and the moving window.
    second: tuple[float, float]
    #: ``mean(w**4)`` of each.
    fourth: tuple[float, float]

    @classmethod
    def of(cls, windows: tuple[np.ndarray, np.ndarray]) -> WindowPowers:
        squares = [window * window for window in windows]
        second = [float(np.mean(square)) for square in squares]
        fourth = [sum_product(square, square) / square.size for square in squares]
        return cls((second[0], second[1]), (fourth[0], fourth[1]))

    @property
    def noise_scale(self) -> float:
        """RMS window: white noise of sigma per pixel has sigma times this per bin of
        the windowed spectra."""
        return float(np.sqrt(0.5 * (self.second[0] + self.second[1])))


def apply_window(image: np.ndarray, window: Window) -> np.ndarray:
    """``window * (image - its window-weighted mean)``: with co-moving windows the
    weighted means cover the same content, so brightness offsets cancel exactly.

    ``window``: the full array, or its per-axis profiles where it is their outer
    product (:func:`comoving_profiles`). Given the profiles, the weighted mean
    is taken a profile at a time (:func:`separable_sum`: one matrix-vector
    product instead of the product's pass and two sums' passes) and the full
    window is built only to be multiplied in: on a registration's own placements,
    windows and application of a 256 px pair 330 -> 231 us a pass. The product is
    the full window's, sample by sample: multiplying by one profile after the
    other (210 us) rounds twice and moved unsettled fits of 16 px views by 0.86
    standard errors, and building the window by blocks of rows kept in cache
    was no faster at 256 px.

    Examples
    --------
    >>> import numpy as np
    >>> profiles, _, _ = comoving_profiles((16, 16), np.zeros(2), 1.0)
    >>> image = np.arange(256.0).reshape(16, 16)
    >>> bool(np.allclose(apply_window(image, profiles),
    ...                  apply_window(image, window_array(profiles))))
    True
    """
    if isinstance(window, np.ndarray):
        # the window's sum by pairwise summation in its precision (ample for a
        # mean; a float64 accumulation casts every element)
        mean = sum_product(image, window) / float(np.sum(window))
    else:
        # (np.sum's own reduction, without its wrapper's 2 us a call)
        total = math.prod(float(np.add.reduce(profile, dtype=np.float64)) for profile in window)
        mean = float(separable_sum(image, window)) / total
        window = window_array(window)
    centred = image - image.dtype.type(mean)
    # the product in place where the result keeps the centred image's type
    in_place = centred.dtype == np.result_type(centred, window)
    return np.multiply(centred, window, out=centred if in_place else None)


def separable_sum(array: np.ndarray, profiles: Sequence[np.ndarray]) -> np.ndarray:
    """``sum(array * w)`` for the outer product ``w`` of ``profiles``: along the last
    axis in the array's precision (a matrix-vector product: sums of a row's terms),
    along the others in float64. Stacked arrays (leading axes beyond the profiles')
    give one sum each."""
    sums = (array @ profiles[-1].astype(array.dtype, copy=False)).astype(np.float64)
    for profile in profiles[-2::-1]:
        sums = sums @ profile.astype(np.float64)
    return sums


#: A masked registration's windows rise from 0 at what is not valid in both
#: images as a blurred step (see :func:`masked_windows`): the valid set shrunk by
#: this many pixels, blurred by a Gaussian of this standard deviation (px).
_HOLE_MARGIN = 3
_HOLE_BLUR = 1.0
#: Least share of the jointly valid pixels the shrunk set must keep for the step;
#: masks more scattered (salt and pepper) keep their hard edges.
_MIN_CORE = 0.25


def masked_windows(
    shape: tuple[int, ...],
    shift: np.ndarray,
    taper: float,
    masks: tuple[np.ndarray, np.ndarray],
    *,
    dtype: type = np.float64,
    min_overlap: int = MIN_OVERLAP,
    max_taper: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Co-moving windows that also leave out each image's invalid pixels.

    A content point counts when it is valid in both images: in the reference
    frame where ``mask_r(x)`` and ``mask_m(x + shift)`` both hold. Around what
    does not count the windows rise from 0 as a smooth step (that set shrunk by
    ``_HOLE_MARGIN`` px and blurred by ``_HOLE_BLUR``), and the moving window
    takes the reference's step moved by ``shift`` (cubic interpolation), times
    its own mask (its invalid pixels get weight 0 exactly); masks too scattered
    for that (under ``_MIN_CORE`` of the valid pixels left in the shrunk set) are
    applied with hard edges, as before. Hard-edged holes,
    the other image's mask moved by linear interpolation, are not translates of
    one another at fractional shifts: on 128 px camera views with 2 % of the
    pixels masked in 3 px blobs the estimate's +-2 sigma coverage was 0.5-0.63
    (10 %: 0.15-0.2, |z| up to 23), now 0.90-0.97 (10 %: 0.92-0.98).
    ``max_taper`` as in :func:`comoving_windows`.
    """
    from scipy import ndimage

    window_r, window_m = comoving_windows(
        shape, shift, taper, dtype=dtype, min_overlap=min_overlap, max_taper=max_taper
    )
    offset = np.asarray(shift, dtype=np.float64)
    mask_r, mask_m = (np.asarray(mask, dtype=bool) for mask in masks)
    moved_m = ndimage.shift(mask_m.astype(np.float64), -offset, order=1, cval=0.0)
    # valid in the moving image all around the interpolated position
    joint = mask_r & (moved_m > 1.0 - 1e-9)
    core = ndimage.binary_erosion(joint, iterations=_HOLE_MARGIN, border_value=1)
    if np.count_nonzero(core) >= _MIN_CORE * np.count_nonzero(joint):
        step = ndimage.gaussian_filter(core.astype(np.float64), _HOLE_BLUR, mode="nearest")
        step = step * joint
        moved_step = ndimage.shift(step, offset, order=3, mode="nearest")
        weight_r, weight_m = step, np.clip(moved_step, 0.0, 1.0) * mask_m
    else:
        # Invalid pixels scattered too densely for a step between them (salt and
        # pepper): each image's own mask as it is, the other's moved linearly.
        moved_r = ndimage.shift(mask_r.astype(np.float64), offset, order=1, cval=0.0)
        weight_r, weight_m = mask_r * moved_m, mask_m * moved_r
    window_r = window_r * weight_r.astype(dtype)
    window_m = window_m * weight_m.astype(dtype)
    if not (np.any(window_r > 0) and np.any(window_m > 0)):
        raise InputError(
            "not feasible: the masks leave no pixel valid in both images at this shift"
        )
    return window_r, window_m
