"""Precision of ``ml-refine``'s default (window) mode on views of a larger scene
(issue 12, Must 6), against the bound of the problem those views pose: the
two-noisy-image Cramér-Rao bound ``2 sigma**2 G^-1`` with ``G`` the exact
gradient of the band-limited scene summed over the pixels both views hold.
Content entering or leaving is seen once and says nothing of the shift, so it
is not in ``G`` (the views' own spectrum, which the benchmark used before, also
counts the jump the FFT makes at their borders: 1.11x the information).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from lamina.plugins.subpixel.registration import MLRefine
from lamina.plugins.subpixel.windows import MIN_TAPER, comoving_windows, taper_limits

SIDE = 256


def _gradients(scene: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact gradient of the periodic band-limited ``scene`` (Fourier derivative)."""
    spectrum = np.fft.fft2(scene)
    ky = 2 * np.pi * np.fft.fftfreq(scene.shape[0])[:, None]
    kx = 2 * np.pi * np.fft.fftfreq(scene.shape[1])[None, :]
    return np.fft.ifft2(1j * ky * spectrum).real, np.fft.ifft2(1j * kx * spectrum).real


def _views_bound(
    gradients: tuple[np.ndarray, np.ndarray], origin: np.ndarray, shift: np.ndarray, sigma: float
) -> float:
    """2-D standard error ``sqrt(trace 2 sigma**2 G^-1)``, ``G`` over the overlap: the
    moving view holds the reference's pixels in ``[-shift, SIDE - shift)``."""
    low = np.ceil(np.maximum(0.0, -shift)).astype(int) + origin
    high = np.floor(np.minimum(SIDE, SIDE - shift)).astype(int) + origin
    gy, gx = (g[low[0] : high[0], low[1] : high[1]] for g in gradients)
    information = np.array([[np.sum(gy * gy), np.sum(gy * gx)], [np.sum(gy * gx), np.sum(gx * gx)]])
    return float(np.sqrt(np.trace(2 * sigma**2 * np.linalg.inv(information))))


def _camera_views(
    large_scene: np.ndarray, sigma: float, count: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, float]]:
    """The benchmark's views protocol: 256 px views of the periodic camera picture,
    shifts in [-5, 5] px, noise ``sigma`` on both; with each pair's bound."""
    rng = np.random.default_rng(seed)
    gradients = _gradients(large_scene)
    spectrum = np.fft.fft2(large_scene)
    pairs = []
    for _ in range(count):
        shift = rng.uniform(-5, 5, 2)
        origin = rng.integers(16, large_scene.shape[0] - SIDE - 16, 2)
        view = (slice(origin[0], origin[0] + SIDE), slice(origin[1], origin[1] + SIDE))
        moved = np.fft.ifft2(ndimage.fourier_shift(spectrum, shift)).real[view]
        reference = large_scene[view] + rng.normal(0, sigma, (SIDE, SIDE))
        moving = moved + rng.normal(0, sigma, (SIDE, SIDE))
        bound = _views_bound(gradients, origin, shift, sigma)
        pairs.append((reference.astype(np.float32), moving.astype(np.float32), shift, bound))
    return pairs


def test_taper_limits_follow_the_content_wavelength(large_scene):
    rng = np.random.default_rng(2)
    # camera content: RMS wavelength 15-40 px, so the shortest taper allowed
    camera = taper_limits(large_scene[100:356, 100:356])
    assert camera is not None and np.all((camera >= MIN_TAPER) & (camera <= 24)), camera
    # smooth blobs (Gaussian of 16 px: wavelength about 2 pi 16 / sqrt(2) px per axis,
    # somewhat longer from forward differences) keep long tapers ...
    blobs = ndimage.gaussian_filter(rng.normal(size=(512, 512)), 16, mode="wrap")[:256, :256]
    smooth = taper_limits(blobs)
    assert smooth is not None and np.all((smooth >= 30) & (smooth <= 80)), smooth
    # ... also under some noise, and none is given where noise hides their gradients
    noisy = taper_limits(blobs + rng.normal(0, blobs.std() / 30, blobs.shape))
    assert noisy is not None and np.allclose(noisy, smooth, rtol=0.15), (noisy, smooth)
    assert taper_limits(blobs + rng.normal(0, blobs.std(), blobs.shape)) is None
    # the windows take them: each taper no longer than its axis's limit, the fraction
    # where that is shorter
    for support, limit in ((100, 20.0), (255, 20.0), (1023, 16.0), (255, 100.0)):
        window, _ = comoving_windows(
            (support + 1, 9), np.zeros(2), 0.25, max_taper=np.array([limit, 1.0])
        )
        rising = np.count_nonzero((window[:, 4] > 0) & (window[:, 4] < 1)) / 2
        expected = min(0.125 * support, limit)
        assert expected - 1 <= rising <= expected + 1, (support, limit, rising)


@pytest.mark.parametrize("sigma", [0.01, 0.05])
def test_default_is_closer_to_the_views_bound_than_quarter_tapers(large_scene, sigma):
    # 16-19 px tapers instead of a quarter of the 256 px support (32 px): the
    # windowed fit's variance grows by mean(w**4) / mean(w**2)**2 per axis, about
    # 1.07 instead of 1.15. Same pairs for both.
    pairs = [pair for seed in range(3) for pair in _camera_views(large_scene, sigma, 40, seed)]
    errors = {True: [], False: []}
    for limited in errors:
        estimator = MLRefine() if limited else MLRefine(taper=0.25)
        for reference, moving, shift, _ in pairs:
            result = estimator.estimate(reference, moving)
            assert np.all(np.abs(result.shift - shift) <= 5 * np.array(result.uncertainty))
            errors[limited].append(result.shift - shift)
    rms = {k: float(np.sqrt(np.mean(np.sum(np.square(v), axis=1)))) for k, v in errors.items()}
    assert rms[True] <= 0.97 * rms[False], rms
    bound = float(np.sqrt(np.mean([b**2 for *_, b in pairs])))
    if sigma <= 0.01:
        # issue 12's goal, 1.2x the Cramér-Rao bound, where that bound can be reached
        # (at 0.05 the bound with the scene marginalised is itself 1.17x it)
        assert rms[True] <= 1.2 * bound, (rms, bound)


def test_taper_limits_of_two_sinusoids_are_half_their_rms_wavelengths_per_axis():
    # Independent reference: cos(2 pi y / ly) + cos(2 pi x / lx) has variance 1 and
    # mean square gradient (2 pi / l)**2 / 2 along each axis, so its RMS wavelength
    # along y is ly sqrt(2) and the limit ly / sqrt(2) (at least MIN_TAPER). Seeded
    # wavelengths and phases, unequal per axis (a swap of the axes fails), a little
    # noise; the transposed scene gives the limits swapped.
    rng = np.random.default_rng(4)
    y, x = np.mgrid[0:256, 0:256]
    for _ in range(8):
        wavelengths = rng.uniform(12, 60), rng.uniform(60, 150)
        scene = sum(
            np.cos(2 * np.pi * axis / wavelength + rng.uniform(0, 2 * np.pi))
            for axis, wavelength in zip((y, x), wavelengths, strict=True)
        ) + rng.normal(0, 0.01, y.shape)
        expected = np.maximum(np.array(wavelengths) / np.sqrt(2), MIN_TAPER)
        limits = taper_limits(scene)
        assert limits is not None and np.allclose(limits, expected, rtol=0.06), (limits, expected)
        assert np.allclose(taper_limits(scene.T), limits[::-1], rtol=1e-9)
