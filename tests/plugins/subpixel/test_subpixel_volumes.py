"""ml-refine on volumes (z, y, x)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft as fft
from scipy import ndimage
from scipy.ndimage import fourier_shift
from skimage import img_as_float
from skimage.data import binary_blobs

import lamina
from lamina.plugins.subpixel.registration import MLRefine
from lamina.plugins.subpixel.volumes import VolumeShiftEstimate


def circular(volume: np.ndarray, shift) -> np.ndarray:
    return fft.ifftn(fourier_shift(fft.fftn(volume), shift)).real


@pytest.mark.parametrize("shift", [(-2.0, 1.0, 5.0), (-2.3, 1.7, 5.4)])
def test_circular_phantom_as_skimage_tests_it(shift):
    # skimage's test_3d_input, in lamina's sign
    phantom = img_as_float(binary_blobs(length=32, n_dim=3, rng=1))
    result = MLRefine(boundary="periodic").estimate(phantom, circular(phantom, shift))
    assert isinstance(result, VolumeShiftEstimate)
    assert np.allclose(result.shift, shift, atol=1e-3)
    assert result.as_dict()["dz"] == pytest.approx(shift[0], abs=1e-3)


@pytest.mark.slow
def test_noisy_views_are_calibrated():
    rng = np.random.default_rng(0)
    scene = ndimage.gaussian_filter(rng.normal(size=(80, 80, 80)), 1.5, mode="wrap")
    scene /= scene.std()
    z = []
    for _ in range(6):
        shift = rng.uniform(-4, 4, 3)
        moved = circular(scene, shift)
        view = (slice(16, 56),) * 3
        reference = scene[view] + rng.normal(0, 0.3, (40, 40, 40))
        moving = moved[view] + rng.normal(0, 0.3, (40, 40, 40))
        result = MLRefine().estimate(reference, moving)
        z.append((result.shift - shift) / np.array(result.diagnostics["uncertainty_zyx"]))
    z = np.array(z)
    assert np.all(np.abs(z) < 5)
    assert 0.5 < np.sqrt(np.mean(z**2)) < 1.6


def test_bad_volumes():
    volume = np.random.default_rng(1).random((8, 8, 8))
    with pytest.raises(lamina.InputError, match="same shape"):
        MLRefine().estimate(volume, volume[:-1])
    with pytest.warns(UserWarning, match="constant volume: moving is constant"):
        empty = MLRefine().estimate(volume, np.zeros_like(volume))
    assert np.all(np.isnan(empty.shift)) and empty.diagnostics["feasible"] is False
    assert np.all(np.isinf(empty.diagnostics["uncertainty_zyx"]))
    broken = volume.copy()
    broken[1, 2, 3] = np.nan
    with pytest.raises(lamina.InputError, match="NaN"):
        MLRefine().estimate(volume, broken)


def _views(rng: np.random.Generator, noise: float, count: int, side: int = 32):
    """Noisy (reference, moving, true shift) views of one smooth random scene."""
    scene = ndimage.gaussian_filter(rng.normal(size=(2 * side,) * 3), 1.5, mode="wrap")
    scene /= scene.std()
    view = (slice(side // 2, side // 2 + side),) * 3
    for _ in range(count):
        shift = rng.uniform(-3, 3, 3)
        moved = circular(scene, shift)
        yield (
            scene[view] + rng.normal(0, noise, (side,) * 3),
            moved[view] + rng.normal(0, noise, (side,) * 3),
            shift,
        )


def test_masked_volumes_ignore_their_invalid_voxels():
    # 3-D masked registration: a block of the moving volume holds garbage (NaN and
    # a bright slab); masked out, it changes nothing, and the shift is the truth
    rng = np.random.default_rng(5)
    for reference, moving, shift in _views(rng, 0.05, 3):
        spoiled = moving.copy()
        spoiled[:10, :12, :] = np.nan
        spoiled[20:, :, 25:] = 50.0
        valid = np.isfinite(spoiled) & (spoiled < 50.0)
        result = MLRefine().estimate(reference, spoiled, moving_mask=valid)
        error = result.shift - shift
        sigma = np.array(result.diagnostics["uncertainty_zyx"])
        assert np.all(np.abs(error) <= 5 * sigma), (error, sigma)
        assert np.all(np.abs(error) < 0.05), error
        with pytest.raises(lamina.InputError, match="circular"):
            MLRefine(boundary="periodic").estimate(reference, spoiled, moving_mask=valid)


@pytest.mark.slow
def test_wiener_weights_help_volumes_at_low_snr_and_stay_calibrated():
    # SNR 1: most bins hold more noise than signal; the Wiener weights (the ML
    # estimate with the scene marginalised) beat plain least squares, as in 2-D
    errors = {"wiener": [], "none": []}
    z = []
    for reference, moving, shift in _views(np.random.default_rng(6), 1.0, 8):
        for weighting in errors:
            result = MLRefine(weighting=weighting).estimate(reference, moving)
            errors[weighting].append(result.shift - shift)
            if weighting == "wiener":
                z.append((result.shift - shift) / np.array(result.diagnostics["uncertainty_zyx"]))
    rms = {name: float(np.sqrt(np.mean(np.square(e)))) for name, e in errors.items()}
    assert rms["wiener"] < 0.9 * rms["none"], rms
    z = np.array(z)
    assert np.all(np.abs(z) < 5)
    assert 0.6 < np.sqrt(np.mean(z**2)) < 1.5, z


@pytest.mark.parametrize("shape", [(3, 3, 3), (4, 5, 6), (7, 4, 9)])
def test_k_moments_equal_the_direct_sums(shape):
    from lamina.plugins.subpixel.volumes import _k_moments

    rng = np.random.default_rng(sum(shape))
    field = rng.normal(size=shape) + 1j * rng.normal(size=shape)
    ks = [
        (2 * np.pi * np.fft.fftfreq(n)).reshape([n if a == axis else 1 for a in range(3)])
        for axis, n in enumerate(shape)
    ]
    total, first, second = _k_moments(field, ks)
    np.testing.assert_allclose(total, field.sum(), atol=1e-12)
    np.testing.assert_allclose(first, [np.sum(k * field) for k in ks], atol=1e-12)
    np.testing.assert_allclose(
        second, [[np.sum(a * b * field) for b in ks] for a in ks], atol=1e-12
    )


@pytest.mark.parametrize(("shape", "taper"), [((12, 13, 12), 1.0), ((24, 24, 24), 0.25)])
def test_sandwich_matches_the_spread_over_noise_draws(shape, taper):
    # The fit at fixed windows, repeated over noise draws on one smooth scene (SNR
    # 10): the sandwich's standard error must match the spread of the estimates.
    # Summed per bin (Parseval, white noise assumed) it was 2.3-3x too small under
    # Hann windows: their bins' noise is correlated.
    from lamina.plugins.subpixel.volumes import _covariance, _Model, _newton, _noise_power
    from lamina.plugins.subpixel.volumes import _windowed_spectra as spectra_of

    rng = np.random.default_rng(21)
    side = tuple(2 * n for n in shape)
    scene = ndimage.gaussian_filter(rng.normal(size=side), 2.0, mode="wrap")
    shift = rng.uniform(-1.0, 1.0, 3)
    view = tuple(slice(n // 2, n // 2 + n) for n in shape)
    reference, moving = scene[view], circular(scene, shift)[view]
    noise = reference.std() / 10.0
    model = _Model(taper, None, 4)
    estimates, variances = [], []
    for _ in range(48):
        spectra = spectra_of(
            reference + rng.normal(0, noise, shape), moving + rng.normal(0, noise, shape),
            shift, model, None,
        )  # fmt: skip
        estimate, hessian, _, _ = _newton(spectra, shift, max_iter=30, tol=1e-5)
        sigma2 = _noise_power(spectra, estimate)
        estimates.append(estimate)
        variances.append(np.diag(_covariance(spectra, hessian, sigma2, estimate)))
    spread = np.std(estimates, axis=0)
    reported = np.sqrt(np.mean(variances, axis=0))
    # 48 draws: the spread's own standard error is about 10 %
    ratio = reported / spread
    assert np.all((ratio > 0.75) & (ratio < 1.33)), (reported, spread)
