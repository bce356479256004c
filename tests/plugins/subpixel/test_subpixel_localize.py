"""Point localisation against synthetic Gaussian spots at known positions."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import lamina
from lamina.plugins.subpixel.localize import locate_points
from lamina.plugins.subpixel.registration import MLRefine


def test_noise_free_spots_are_found_to_far_below_a_twentieth_of_a_pixel(spots):
    rng = np.random.default_rng(0)
    truth = spots.grid((96, 96), 16, rng)
    image = spots.make((96, 96), truth, sigma=1.4)
    found = locate_points(image)
    assert len(found) == len(truth)
    error = found.positions - truth[spots.match(found.positions, truth)]
    assert np.max(np.abs(error)) < 0.05
    assert np.max(np.abs(error)) < 1e-4  # the model is exact here
    assert found.diagnostics["psf_sigma"] == pytest.approx(1.4, rel=1e-3)


def test_locate_is_the_ml_refine_locator(spots):
    rng = np.random.default_rng(1)
    truth = spots.grid((64, 64), 16, rng)
    image = spots.make((64, 64), truth, sigma=1.6) + rng.normal(0, 0.01, (64, 64))
    estimator = lamina.create("position_estimator", "ml-refine", psf_sigma="1.6")
    assert isinstance(estimator, lamina.Locator)
    found = estimator.locate(image)
    assert isinstance(found, lamina.PointEstimates)
    assert found.positions.shape == found.uncertainty.shape == (len(truth), 2)


def test_uncertainty_is_calibrated_on_noisy_spots(spots):
    rng = np.random.default_rng(2)
    errors, sigmas = [], []
    for _ in range(3):
        truth = spots.grid((160, 160), 16, rng)
        image = spots.make((160, 160), truth, sigma=1.5, amplitude=0.4)
        image = image + rng.normal(0, 0.02, image.shape)
        found = locate_points(image)
        assert len(found) == len(truth)
        errors.append(found.positions - truth[spots.match(found.positions, truth)])
        sigmas.append(found.uncertainty)
    z = np.concatenate(errors) / np.concatenate(sigmas)
    spread = z.std(axis=0)
    assert np.all((spread > 0.7) & (spread < 1.4)), spread
    assert np.all(np.abs(np.concatenate(errors).mean(axis=0)) < 0.01)


def test_centroid_and_fit_agree_and_widths_are_measured(spots):
    rng = np.random.default_rng(3)
    truth = spots.grid((80, 80), 20, rng)
    image = spots.make((80, 80), truth, sigma=2.0) + rng.normal(0, 0.005, (80, 80))
    found = locate_points(image)
    centroid = np.asarray(found.diagnostics["centroid"])
    assert np.max(np.abs(centroid - found.positions)) < 0.3
    assert np.allclose(found.diagnostics["sigma"], 2.0, rtol=0.05)
    assert found.diagnostics["psf_fwhm"] == pytest.approx(2.3548 * 2.0, rel=0.05)


@pytest.mark.parametrize("gap", [4.0, 5.0])
def test_close_pairs_are_rejected(spots, gap):
    truth = np.array([[30.0, 30.0], [30.0, 30.0 + gap], [60.0, 60.2]])
    image = spots.make((96, 96), truth, sigma=1.5)
    found = locate_points(image, psf_sigma=1.5)
    # only the isolated spot is kept; the pair is either resolved and too close
    # (crowded) or merged into one wide peak (shape)
    assert len(found) == 1
    assert np.allclose(found.positions[0], (60.0, 60.2), atol=1e-4)
    rejected = found.diagnostics["rejected"]
    assert rejected["crowded"] + rejected["shape"] >= 1


def test_no_spot_gives_an_empty_result():
    rng = np.random.default_rng(4)
    found = locate_points(0.3 + rng.normal(0, 0.01, (64, 64)))
    assert len(found) == 0
    assert found.positions.shape == (0, 2)
    assert "reason" in found.diagnostics


def test_input_is_not_modified(spots):
    image = spots.make((48, 48), np.array([[20.3, 25.7]]), sigma=1.5).astype(np.float32)
    before = image.copy()
    first = locate_points(image)
    second = locate_points(image)
    assert np.array_equal(image, before)
    assert np.array_equal(first.positions, second.positions)


@pytest.mark.parametrize(
    "image",
    [
        np.full((32, 32), 0.5),
        np.zeros((3, 3)),
        np.zeros((32, 32, 3)),
        np.zeros((32, 32), dtype=np.uint16),
        np.array([[np.nan] * 32] * 32),
    ],
    ids=["constant", "tiny", "colour", "integer", "nan"],
)
def test_bad_images_raise_input_error(image):
    with pytest.raises(lamina.InputError):
        MLRefine().locate(image)


@pytest.mark.parametrize(
    "options", [{"psf_sigma": 0.0}, {"threshold": -1.0}, {"noise": float("nan")}]
)
def test_bad_options_raise_input_error(spots, options):
    image = spots.make((48, 48), np.array([[20.3, 25.7]]), sigma=1.5)
    with pytest.raises(lamina.InputError):
        locate_points(image, **options)


@pytest.mark.parametrize("offset", [(20.3, 25.6), (17.81, 30.05), (24.5, 22.25)])
def test_zero_noise_gives_zero_uncertainty_not_nan(spots, offset):
    # noise=0 (``--set noise=0``) says the image is exact: the sandwich with zero
    # pixel variance is 0 and there is no noise to measure a misfit against (it
    # was 0/0: NaN uncertainties and a RuntimeWarning).
    image = spots.make((48, 48), np.array([offset]), sigma=1.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        found = locate_points(image, noise=0.0)
    assert len(found) == 1
    np.testing.assert_allclose(found.positions, [offset], atol=1e-4)
    assert np.all(found.uncertainty == 0.0)
    assert np.all(found.diagnostics["misfit"] == 0.0)
