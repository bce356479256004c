"""Feasibility: PSF width, noise, pixel locking, averaging, the combined report."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import erf

import lamina
from lamina.plugins.subpixel import feasibility
from lamina.plugins.subpixel.noise import noise_from_image, noise_from_stack
from lamina.plugins.subpixel.peers import PeakFit, PhaseCorrelation
from lamina.plugins.subpixel.registration import MLRefine


@pytest.mark.parametrize("sigma", [1.0, 1.7, 2.5])
def test_psf_fwhm_from_isolated_points(spots, sigma):
    rng = np.random.default_rng(0)
    truth = spots.grid((128, 128), 24, rng)
    image = spots.make((128, 128), truth, sigma=sigma) + rng.normal(0, 0.002, (128, 128))
    psf = feasibility.psf_from_points(image)
    assert psf.method == "points" and psf.count == len(truth)
    assert psf.fwhm == pytest.approx(2.3548 * sigma, rel=0.01)


@pytest.mark.parametrize("sigma", [1.2, 2.0])
@pytest.mark.parametrize("angle", [4.0, 8.0, 95.0])
def test_psf_fwhm_from_a_slanted_edge(sigma, angle):
    yy, xx = np.mgrid[0:96, 0:96].astype(np.float64)
    theta = np.radians(angle)
    distance = (xx - 47.3) * np.cos(theta) - (yy - 48.1) * np.sin(theta)
    edge = 0.2 + 0.6 * 0.5 * (1 + erf(distance / (np.sqrt(2) * sigma)))
    edge += np.random.default_rng(1).normal(0, 0.002, edge.shape)
    psf = feasibility.psf_from_edge(edge)
    assert psf.method == "edge"
    assert psf.fwhm == pytest.approx(2.3548 * sigma, rel=0.03)


def test_edge_method_refuses_images_without_one_edge(scene):
    with pytest.raises(lamina.InputError, match="edge"):
        feasibility.psf_from_edge(scene)
    with pytest.raises(lamina.InputError):
        feasibility.psf_from_edge(np.full((32, 32), 0.4))


def test_noise_from_one_image_and_from_a_stack(scene):
    rng = np.random.default_rng(2)
    flat = 0.4 + rng.normal(0, 0.03, (128, 128))
    assert noise_from_image(flat) == pytest.approx(0.03, rel=0.05)
    # texture biases the single-image estimate upward only a little on camera
    textured = scene + rng.normal(0, 0.03, scene.shape)
    assert noise_from_image(textured) == pytest.approx(0.03, rel=0.25)
    stack = [scene + rng.normal(0, 0.02, scene.shape) for _ in range(16)]
    measured = noise_from_stack(stack)
    assert measured.temporal == pytest.approx(0.02, rel=0.03)
    assert measured.difference == pytest.approx(0.02, rel=0.03)
    assert measured.std_map.shape == scene.shape
    # a slow brightness drift inflates the temporal estimate, not the difference one
    drifting = [frame + 0.01 * i for i, frame in enumerate(stack)]
    assert noise_from_stack(drifting).temporal > 1.5 * noise_from_stack(drifting).difference


def test_pixel_locking_detected_for_integer_peaks_absent_for_ml(scene):
    crop = scene[32:96, 32:96]
    options = {"noise": 0.005, "fractions": 10, "repeats": 2, "random_shifts": 40}
    integer = feasibility.pixel_locking(PhaseCorrelation(upsample_factor=1), crop, **options)
    assert integer.locked and integer.verdict.startswith("pixel locking")
    assert integer.max_bias > 0.3  # round-to-integer: a sawtooth of height 0.5
    assert integer.histogram.concentration > 0.9
    refined = feasibility.pixel_locking(MLRefine(), crop, **options)
    assert not refined.locked, refined.verdict
    assert refined.verdict.startswith("no pixel locking")
    assert max(refined.amplitude) < 0.005


def test_three_point_peak_fit_locks_measurably(scene):
    crop = scene[32:96, 32:96]
    check = feasibility.pixel_locking(
        PeakFit(fit="parabolic"), crop, noise=0.0, fractions=10, repeats=2, random_shifts=30
    )
    assert check.locked
    assert 0.01 < check.max_bias < 0.5


def test_fractional_histogram_flat_and_concentrated():
    rng = np.random.default_rng(3)
    flat = feasibility.fractional_histogram(rng.uniform(-10, 10, 2000))
    assert flat.rayleigh_p > 1e-3 and flat.chi2_p > 1e-3 and flat.concentration < 0.1
    locked = feasibility.fractional_histogram(
        np.round(rng.uniform(-10, 10, 200)) + rng.normal(0, 0.05, 200)
    )
    assert locked.rayleigh_p < 1e-6 and locked.concentration > 0.8
    with pytest.raises(lamina.InputError):
        feasibility.fractional_histogram([1.0])


def test_averaging_helpers_reduce_noise():
    rng = np.random.default_rng(4)
    frames = [0.5 + rng.normal(0, 0.04, (64, 64)) for _ in range(16)]
    mean = feasibility.temporal_mean(frames)
    assert mean.dtype == np.float32 and mean.shape == (64, 64)
    assert np.std(mean) == pytest.approx(0.04 / 4, rel=0.1)
    binned = feasibility.bin_image(frames[0], 4)
    assert binned.shape == (16, 16)
    assert np.std(binned) == pytest.approx(0.04 / 4, rel=0.15)
    assert feasibility.bin_image(np.arange(30.0).reshape(5, 6), 2).tolist() == [
        [3.5, 5.5, 7.5],
        [15.5, 17.5, 19.5],
    ]
    with pytest.raises(lamina.InputError):
        feasibility.bin_image(frames[0], 0)


def test_expected_precision_matches_the_estimator(scene, shifted):
    rng = np.random.default_rng(6)
    covariance = feasibility.expected_precision(scene, 0.02)
    predicted = np.sqrt(np.diag(covariance))
    errors = []
    for _ in range(30):
        shift = rng.uniform(-2, 2, 2)
        reference = scene + rng.normal(0, 0.02, scene.shape)
        moving = shifted(scene, shift) + rng.normal(0, 0.02, scene.shape)
        errors.append(MLRefine().estimate(reference, moving).shift - shift)
    observed = np.sqrt(np.mean(np.square(errors), axis=0))
    assert np.all(observed > 0.7 * predicted) and np.all(observed < 1.6 * predicted)


@pytest.mark.parametrize("sigma", [0.02, 0.05, 0.1])
@pytest.mark.parametrize("seed", [0, 1])
def test_a_stationary_stack_predicts_the_clean_scenes_bound(scene, sigma, seed):
    """Sixteen noisy frames of one scene: the report averages them and predicts the
    clean scene's CRLB (the mean image's own noise, sigma / 4, taken out of its
    power, not the frames' sigma: that made the prediction worse with more frames,
    and at noise 0.1 the stack "not feasible: aperture problem" while its pairs
    measure to 0.025 px)."""
    rng = np.random.default_rng(seed)
    frames = [scene + rng.normal(0, sigma, scene.shape) for _ in range(16)]
    report = feasibility.feasibility_report(frames, locking_size=32)
    assert report.feasible, report.verdict
    assert report.noise["mean_image"] == pytest.approx(sigma / 4, rel=0.05)
    clean = np.sqrt(np.diag(feasibility.expected_precision(scene, sigma, image_noise=0.0)))
    np.testing.assert_allclose(report.precision["pair_sigma_px"], clean, rtol=0.03)


def test_integer_frames_are_read_as_scikit_image_converts_them(scene):
    """8-bit frames, as MLRefine takes them: the report equals that of their
    img_as_float conversion."""
    from skimage.util import img_as_float

    rng = np.random.default_rng(4)
    frames = [
        np.clip(np.round(255 * scene + rng.normal(0, 2, scene.shape)), 0, 255).astype(np.uint8)
        for _ in range(4)
    ]
    report = feasibility.feasibility_report(frames, locking_size=32)
    converted = feasibility.feasibility_report([img_as_float(f) for f in frames], locking_size=32)
    assert report.feasible and report.verdict == converted.verdict
    assert report.precision["pair_sigma_px"] == converted.precision["pair_sigma_px"]
    np.testing.assert_array_equal(
        feasibility.expected_precision(frames[0], 2 / 255),
        feasibility.expected_precision(img_as_float(frames[0]), 2 / 255),
    )


def test_expected_precision_refuses_only_what_the_estimator_refuses(scene, shifted):
    rng = np.random.default_rng(3)
    # camera views at noise 0.1: the estimator measures them without a warning
    frame = scene + rng.normal(0, 0.1, scene.shape)
    moving = shifted(scene, (0.3, -0.7)) + rng.normal(0, 0.1, scene.shape)
    estimate = MLRefine().estimate(frame, moving)
    assert estimate.diagnostics["feasible"] and not estimate.diagnostics["warnings"]
    predicted = np.sqrt(np.diag(feasibility.expected_precision(frame, 0.1)))
    assert np.all(predicted < 0.05)
    # stripes across the view: the estimator answers, not feasible, with an
    # uncertainty of pixels; the prediction is not feasible along the stripes
    yy, xx = np.mgrid[0:128, 0:128]
    stripes = np.sin(2 * np.pi * (xx * np.cos(0.5) + yy * np.sin(0.5)) / 9.0)
    stripes = stripes + rng.normal(0, 0.01, stripes.shape)
    estimate = MLRefine().estimate(stripes, stripes + rng.normal(0, 0.01, stripes.shape))
    assert not estimate.diagnostics["feasible"] and max(estimate.uncertainty) > 1.0
    with pytest.raises(lamina.InputError, match=r"not feasible: .*120 degrees from the x axis"):
        feasibility.expected_precision(stripes, 0.01)
    # noise alone
    with pytest.raises(lamina.InputError, match="no texture above the noise"):
        feasibility.expected_precision(0.5 + rng.normal(0, 0.01, (64, 64)), 0.01)


def test_feasibility_report_for_a_textured_scene(scene):
    report = feasibility.feasibility_report(scene, pixel_size=0.1, unit="m", locking_size=64)
    assert report.feasible and report.verdict.startswith("feasible")
    assert report.precision["unit"] == "m"
    assert np.allclose(
        np.array(report.precision["pair_sigma"]), 0.1 * np.array(report.precision["pair_sigma_px"])
    )
    assert report.locking["locked"] is False
    assert report.psf["method"] is None  # neither points nor one straight edge
    assert set(report.as_dict()) >= {"noise", "psf", "precision", "locking", "verdict"}


def test_feasibility_report_for_a_stack_of_spots(spots):
    rng = np.random.default_rng(5)
    truth = spots.grid((96, 96), 16, rng)
    clean = spots.make((96, 96), truth, sigma=1.5)
    frames = [clean + rng.normal(0, 0.01, clean.shape) for _ in range(6)]
    report = feasibility.feasibility_report(frames, locking_size=64, target=0.05)
    assert report.frames == 6
    assert report.noise["used"] == pytest.approx(0.01, rel=0.1)
    assert report.psf["method"] == "points"
    assert report.psf["fwhm"] == pytest.approx(2.3548 * 1.5, rel=0.03)
    assert report.feasible


def test_feasibility_report_says_why_not():
    flat = 0.5 + np.random.default_rng(6).normal(0, 0.01, (64, 64))
    report = feasibility.feasibility_report(flat, locking_size=64)
    assert not report.feasible
    assert "no texture" in report.verdict
    strict = feasibility.feasibility_report(
        np.random.default_rng(7).normal(0.5, 0.01, (64, 64)) + np.linspace(0, 1, 64), target=1e-9
    )
    assert not strict.feasible
