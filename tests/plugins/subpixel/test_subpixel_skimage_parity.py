"""Parity with scikit-image's registration tests, against lamina's default estimator.

Cases from ``skimage/registration/tests/test_phase_cross_correlation.py`` and
``test_masked_register_translation.py`` (scikit-image main), in lamina's sign
convention: ``(dy, dx)`` is the displacement of the content from reference to
moving, the negative of ``phase_cross_correlation``'s result. Where lamina
deliberately differs the case says so and why:

- ``space="fourier"``: lamina takes images, not spectra (a spectrum says nothing
  about the borders the co-moving windows model); the cases are run on the
  inverse transforms instead, with ``boundary="periodic"`` since they are
  circular translates.
- ``normalization`` (None / "phase") has no counterpart: ``coarse="auto"`` tries
  both correlations and keeps the better overlap; a bad value of ``coarse`` is
  an ``InputError`` (a ``ValueError``) as a bad ``normalization`` is there.
- ``upsample_factor`` has no counterpart: the refinement is continuous, and the
  cases are held to 0.05 px as there (and to five reported standard errors).
- A size-one axis (``test_size_one_dimension_input``): scikit-image returns 0
  along it; lamina refuses images with a side under 3 px (no frequency along it
  carries a shift) rather than report a number that measured nothing.
- 4-D input: not supported (2-D images, (H, W, 1), and 3-D volumes (z, y, x)
  whose last axis is longer than 4 -- shorter is read as colour channels).
- ``(5, 5, 1)`` against ``(5, 5)`` (``test_wrong_input``): lamina reads
  ``(H, W, 1)`` as a grey image, so the pair is valid; other mismatches raise.
- Images of different sizes with masks
  (``test_masked_registration_random_masks_non_equal_sizes``): lamina's pairs
  share one shape (pad with a False mask to register different sizes).
- The empty-image case warns ("constant image") and returns NaN with an infinite
  uncertainty where scikit-image warns "shift disambiguation inconclusive" and
  returns a number.
- The Padfield masked data and ``eagle`` need downloads; the retina (vessels)
  stands in for the eagle.
- ``_upsampled_dft``, ``cross_correlate_masked`` and ``return_error`` cases test
  scikit-image internals with no counterpart.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import scipy.fft as fft
from scipy.ndimage import fourier_shift
from skimage import img_as_float
from skimage.color import rgb2gray
from skimage.data import binary_blobs, camera, retina

import lamina
from lamina.plugins.subpixel import DEFAULT_ESTIMATOR


def default(**settings) -> object:
    return lamina.create("position_estimator", DEFAULT_ESTIMATOR, **settings)


def circular(image: np.ndarray, shift: tuple[float, ...]) -> np.ndarray:
    return fft.ifftn(fourier_shift(fft.fftn(image), shift)).real


def within(result, truth, atol: float) -> None:
    error = result.shift - np.asarray(truth, dtype=float)
    assert np.all(np.abs(error) <= atol), (result.shift, truth)
    assert np.all(np.abs(error) <= 5 * np.asarray(result.uncertainty) + 1e-9), result


def test_correlation_integer_shift():
    image = camera() / 255.0
    within(default(boundary="periodic").estimate(image, circular(image, (-7, 12))), (-7, 12), 1e-3)
    within(default().estimate(image, circular(image, (-7, 12))), (-7, 12), 1e-3)


def test_correlation_invalid_normalization():
    with pytest.raises(lamina.InputError):
        default(coarse="nonexisting")


def test_subpixel_precision():
    image = camera() / 255.0
    moved = circular(image, (-2.4, 1.32))
    within(default(boundary="periodic").estimate(image, moved), (-2.4, 1.32), 0.05)
    within(default().estimate(image, moved), (-2.4, 1.32), 0.05)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_real_input(dtype):
    image = camera().astype(dtype)
    moved = circular(image, (-2.4, 1.32)).astype(dtype)
    within(default().estimate(image, moved), (-2.4, 1.32), 0.05)


def test_size_one_dimension_input_is_refused():
    strip = camera()[:, 15].reshape((-1, 1)) / 255.0
    with pytest.raises(lamina.InputError, match="at least 3 pixels"):
        default().estimate(strip, circular(strip, (-2.4, 0)))


@pytest.mark.parametrize("shift", [(-2.0, 1.0, 5.0), (-2.3, 1.7, 5.4)])
def test_3d_input(shift):
    phantom = img_as_float(binary_blobs(length=32, n_dim=3, rng=1))
    result = default(boundary="periodic").estimate(phantom, circular(phantom, shift))
    assert np.allclose(result.shift, shift, atol=0.05)


def test_4d_input_is_refused_with_the_reason():
    volume = np.random.default_rng(0).random((8, 8, 8, 8))
    with pytest.raises(lamina.InputError, match="2-D"):
        default().estimate(volume, volume)


def test_wrong_input():
    # (5, 5, 1) is a grey image for lamina: a valid pair with (5, 5)
    grey = np.random.default_rng(1).random((5, 5))
    assert np.isfinite(default().estimate(grey[:, :, None], grey).dy)
    with pytest.raises(lamina.InputError, match="same shape"):
        default().estimate(np.ones((5, 5)), np.ones((4, 4)))
    broken = np.ones((5, 5))
    broken[0, 0] = np.nan
    with pytest.raises(lamina.InputError, match="NaN"):
        default().estimate(np.ones((5, 5)), broken)


@pytest.mark.slow
@pytest.mark.parametrize("shift", list(itertools.product((100, -100, 350, -350), repeat=2)))
def test_disambiguate_2d(shift):
    image = rgb2gray(retina())[250:1100, 250:1100]  # a highly textured part
    origin0 = np.array([0 if s > 0 else -s for s in shift])
    origin1 = origin0 + shift
    reference = image[tuple(slice(o, o + 450) for o in origin0)]
    moving = image[tuple(slice(o, o + 450) for o in origin1)]
    within(default().estimate(reference, moving), -np.array(shift), 0.01)


def test_two_points_without_warnings():
    first = np.zeros((100, 100))
    first[50, 50] = 1
    second = np.zeros((100, 100))
    second[60, 60] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = default().estimate(first, second)
    within(result, (10, 10), 1e-3)


def test_zero_shift():
    image = camera()
    result = default().estimate(image, image)
    assert np.allclose(result.shift, 0.0, atol=1e-6)


def test_empty_image_warns():
    image = camera()
    with pytest.warns(UserWarning, match="constant image") as record:
        result = default().estimate(image, image * 0)
    assert record[0].filename == __file__  # the warning points at the caller
    assert np.isnan(result.dy) and result.diagnostics["feasible"] is False


# -- masked registration (test_masked_register_translation.py) -----------------------
def test_masked_registration_vs_unmasked():
    image = camera() / 255.0
    moved = circular(image, (-7, 12))
    plain = default().estimate(image, moved)
    masked = default().estimate(image, moved, reference_mask=np.ones(image.shape, bool))
    assert np.allclose(plain.shift, masked.shift, atol=1e-3)
    within(masked, (-7, 12), 1e-3)


def test_masked_registration_random_masks():
    rng = np.random.default_rng(23)
    image = camera() / 255.0
    moved = circular(image, (-7, 12))
    reference_mask = rng.choice([True, False], image.shape, p=[3 / 4, 1 / 4])
    moving_mask = rng.choice([True, False], image.shape, p=[3 / 4, 1 / 4])
    result = default().estimate(
        image, moved, reference_mask=reference_mask, moving_mask=moving_mask
    )
    within(result, (-7, 12), 1e-3)


def test_masked_region_may_hold_garbage():
    rng = np.random.default_rng(1)
    image = camera() / 255.0
    moved = circular(image, (2.3, -1.6))
    reference = image[100:300, 100:300] + rng.normal(0, 0.01, (200, 200))
    moving = moved[100:300, 100:300] + rng.normal(0, 0.01, (200, 200))
    valid = np.ones(moving.shape, dtype=bool)
    valid[50:90, 60:120] = False
    moving[~valid] = np.nan
    within(default().estimate(reference, moving, moving_mask=valid), (2.3, -1.6), 0.02)


def test_bad_masks():
    image = camera()[:64, :64] / 255.0
    with pytest.raises(lamina.InputError, match="reference_mask"):
        default().estimate(image, image, reference_mask=np.ones((10, 10), bool))
    with pytest.raises(lamina.InputError, match="no pixel valid"):
        default().estimate(image, image, moving_mask=np.zeros(image.shape, bool))
    with pytest.raises(lamina.InputError, match="boundary='window'"):
        default(boundary="periodic").estimate(image, image, moving_mask=np.ones((64, 64), bool))
