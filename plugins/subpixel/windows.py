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
from dataclasses import dataclass

import numpy as np

from lamina.errors import InputError

__all__ = [
    "WindowPowers",
    "apply_window",
    "comoving_windows",
    "masked_windows",
    "sum_product",
    "tukey_profile",
]

#: Fewest pixels of overlap, per axis, left for the windowed fit.
MIN_OVERLAP = 8


def tukey_profile(size: int, centre: float, length: float, taper: float) -> np.ndarray:
    """Tukey window of support ``length`` centred at ``centre``, sampled at ``0..size-1``.

    ``taper`` is the fraction of the support inside the two cosine tapers
    (0: rectangular, 1: Hann).
    """
    u = (np.arange(size) - centre) / length + 0.5  # 0..1 across the support
    window = np.zeros(size)
    inside = (u > 0) & (u < 1)
    window[inside] = 1.0
    if taper > 0:
        edge = np.minimum(u, 1.0 - u)
        ramp = inside & (edge < taper / 2)
        window[ramp] = 0.5 * (1.0 - np.cos(2.0 * np.pi * edge[ramp] / taper))
    return window


def comoving_windows(
    shape: tuple[int, ...],
    shift: np.ndarray,
    taper: float,
    *,
    dtype: type = np.float64,
    min_overlap: int = MIN_OVERLAP,
) -> tuple[np.ndarray, np.ndarray]:
    """Windows for reference and moving that sit on the same content for ``shift``.

    The reference window is centred at ``centre - shift / 2`` and the moving
    window at ``centre + shift / 2``; the support per axis is
    ``size - 1 - |shift|`` so both stay inside the image. Any number of axes
    (images, volumes): the window is the outer product of the axes' profiles.
    A support under ``min_overlap`` is refused.
    """
    profiles_r, profiles_m = [], []
    for axis, size in enumerate(shape):
        offset = float(shift[axis])
        length = size - 1.0 - abs(offset)
        if length < min_overlap:
            raise InputError(
                f"not feasible: a shift of {offset:.1f} px leaves {max(length, 0):.0f} px of "
                f"overlap along axis {axis} (need {min_overlap})"
            )
        centre = (size - 1) / 2.0
        profiles_r.append(tukey_profile(size, centre - offset / 2, length, taper))
        profiles_m.append(tukey_profile(size, centre + offset / 2, length, taper))
    window_r: np.ndarray = functools.reduce(
        np.multiply.outer, (p.astype(dtype) for p in profiles_r)
    )
    window_m: np.ndarray = functools.reduce(
        np.multiply.outer, (p.astype(dtype) for p in profiles_m)
    )
    return window_r, window_m


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


def apply_window(image: np.ndarray, window: np.ndarray) -> np.ndarray:
    """``window * (image - its window-weighted mean)``: with co-moving windows the
    weighted means cover the same content, so brightness offsets cancel exactly."""
    mean = sum_product(image, window) / np.sum(window, dtype=np.float64)
    return window * (image - image.dtype.type(mean))


def masked_windows(
    shape: tuple[int, ...],
    shift: np.ndarray,
    taper: float,
    masks: tuple[np.ndarray, np.ndarray],
    *,
    dtype: type = np.float64,
    min_overlap: int = MIN_OVERLAP,
) -> tuple[np.ndarray, np.ndarray]:
    """Co-moving windows that also leave out each image's invalid pixels.

    A content point counts when it is valid in both images: in the reference
    frame that is ``mask_r(x) * mask_m(x + shift)``, in the moving frame
    ``mask_r(y - shift) * mask_m(y)``. Each image's own mask is applied as it is
    (its invalid pixels get weight 0 exactly); the other image's mask is moved
    by linear interpolation, so the two windows stay close to translates of one
    another at fractional shifts.
    """
    from scipy import ndimage

    window_r, window_m = comoving_windows(shape, shift, taper, dtype=dtype, min_overlap=min_overlap)
    mask_r, mask_m = (mask.astype(np.float64) for mask in masks)
    moved_m = ndimage.shift(mask_m, -np.asarray(shift, dtype=np.float64), order=1, cval=0.0)
    moved_r = ndimage.shift(mask_r, np.asarray(shift, dtype=np.float64), order=1, cval=0.0)
    window_r = window_r * (mask_r * moved_m).astype(dtype)
    window_m = window_m * (mask_m * moved_r).astype(dtype)
    if not (np.any(window_r > 0) and np.any(window_m > 0)):
        raise InputError(
            "not feasible: the masks leave no pixel valid in both images at this shift"
        )
    return window_r, window_m
