"""Contract of :func:`lamina.plugins.subpixel.noise.noise_from_image`.

The estimate is the standard deviation of the white noise in one image. Checked on
inputs whose truth is known exactly (synthetic content plus seeded noise), on
scikit-image's natural images at noise levels where their own grain is negligible,
against two independent references (the sample standard deviation of pure noise;
Immerkaer 1996's Laplacian-difference estimator) and against scikit-image's
``estimate_sigma`` (its test cases reproduced; it is the all-blocks wavelet median
that lamina used before, so on texture at high SNR lamina must read less).

Tolerances are relative to the truth and widen only where the sample is small: a
16 px image has 64 diagonal coefficients (their mean square scatters by 9 %), and
content with edges leaves fewer of its blocks to measure. An underestimate makes
uncertainties too small, so its bound is the tighter one. Widen the grid with
``SEEDS``; every bound below held on seeds 0-19.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import ndimage
from skimage import color, data, img_as_float

import lamina
from lamina.plugins.subpixel.noise import COARSEST_ROUNDING, noise_from_image, weak_texture_noise

SEEDS = range(2)
SIZES = (16, 32, 64, 128, 256)
SIGMAS = (0.001, 0.005, 0.02, 0.1)
CONTENTS = ("flat", "ramp", "blobs", "disks")
ROUNDING_8BIT = 1.0 / 255.0 / np.sqrt(12.0)

#: Smallest ratio estimate / truth allowed, by image side (sampling: 4 standard
#: deviations of the mean square of the coefficients a content with edges keeps).
LOWEST = {16: 0.65, 32: 0.75, 64: 0.88, 128: 0.93, 256: 0.95, 512: 0.95}
#: Largest ratio where every block is flat (flat, ramp) or at sizes where smooth
#: content and edges leave enough flat blocks (blobs, disks, 64 px and up).
HIGHEST = {16: 1.35, 32: 1.2, 64: 1.25, 128: 1.08, 256: 1.05, 512: 1.05}


def content(kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """Noise-free content in [0.1, 0.9]: constant, a ramp at a random angle, smooth
    blobs, or anti-aliased disks (edges in every direction, flat inside)."""
    if kind == "flat":
        return np.full((size, size), 0.5)
    if kind == "ramp":
        angle = rng.uniform(0, np.pi)
        yy, xx = np.mgrid[:size, :size] / size
        return 0.2 + 0.4 * (np.cos(angle) * yy + np.sin(angle) * xx)
    if kind == "blobs":
        field = ndimage.gaussian_filter(rng.normal(size=(size, size)), size / 8, mode="wrap")
        return 0.2 + 0.6 * (field - field.min()) / np.ptp(field)
    fine = np.full((4 * size, 4 * size), 0.5)
    yy, xx = np.ogrid[: 4 * size, : 4 * size]
    for _ in range(max(3, size // 8)):
        cy, cx = rng.uniform(0, 4 * size, 2)
        radius = rng.uniform(4, 2 * size)
        fine[(yy - cy) ** 2 + (xx - cx) ** 2 < radius**2] = rng.uniform(0.1, 0.9)
    return fine.reshape(size, 4, size, 4).mean(axis=(1, 3))


def eight_bit(image: np.ndarray) -> np.ndarray:
    """``image`` rounded to 8-bit levels, as floats (what img_as_float gives)."""
    return np.round(np.clip(image, 0, 1) * 255) / 255


def immerkaer(image: np.ndarray) -> float:
    """Immerkaer (1996), "Fast noise variance estimation": the mean absolute
    response to the difference of two Laplacians, an independent reference."""
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=float)
    response = ndimage.convolve(image, kernel)[1:-1, 1:-1]
    return float(np.sqrt(np.pi / 2) * np.mean(np.abs(response)) / 6)


@pytest.fixture(scope="module")
def naturals() -> dict[str, np.ndarray]:
    return {
        "camera": img_as_float(data.camera()),
        "astronaut": color.rgb2gray(data.astronaut()),
        "coffee": color.rgb2gray(data.coffee()),
        "moon": img_as_float(data.moon()),
    }


# -- exact truth -----------------------------------------------------------------


@pytest.mark.parametrize("kind", CONTENTS)
def test_estimate_is_near_the_true_sigma_on_known_content(kind):
    for seed, size, sigma in itertools.product(SEEDS, SIZES, SIGMAS):
        rng = np.random.default_rng([seed, size, int(sigma * 1e4)])
        clean = content(kind, size, rng)
        ratio = noise_from_image(clean + rng.normal(0, sigma, clean.shape)) / sigma
        assert ratio >= LOWEST[size], (kind, seed, size, sigma, ratio)
        if kind in ("flat", "ramp") or size >= 64:
            assert ratio <= HIGHEST[size], (kind, seed, size, sigma, ratio)


@pytest.mark.parametrize("kind", CONTENTS)
def test_eight_bit_samples_measure_noise_and_rounding(kind):
    # rounding adds step**2 / 12 to the variance once the noise dithers it (1.3
    # levels); up to sigma 0.05, where clipping at 0 and 1 takes next to nothing
    for seed, size, sigma in itertools.product(SEEDS, (32, 128, 256), (0.005, 0.02, 0.05)):
        rng = np.random.default_rng([seed, size, int(sigma * 1e4), 8])
        clean = content(kind, size, rng)
        truth = np.hypot(sigma, ROUNDING_8BIT)
        ratio = noise_from_image(eight_bit(clean + rng.normal(0, sigma, clean.shape))) / truth
        assert LOWEST[size] <= ratio, (kind, seed, size, sigma, ratio)
        if size >= 64:
            assert ratio <= HIGHEST[size], (kind, seed, size, sigma, ratio)


def test_pure_noise_agrees_with_its_sample_standard_deviation():
    # the closed form: white noise and nothing else; the estimate measures at
    # most all of it, so it scatters at most 1.5x the sample std's own scatter
    for seed, size in itertools.product(range(10), (32, 128, 512)):
        rng = np.random.default_rng([seed, size])
        noise = rng.normal(0, 0.03, (size, size))
        scatter = 1 / np.sqrt(2 * noise.size / 4)  # of the mean square of n/4 coefficients
        assert noise_from_image(noise) == pytest.approx(noise.std(), rel=1.5 * 4 * scatter)


def test_natural_images_at_noise_above_their_grain(naturals):
    # sigma >= 0.02 (5 grey levels): the images' own grain (0.5-1.5 levels) adds at
    # most 1.5 % in quadrature, so the truth is the added sigma. A 64-128 px crop
    # can be all texture (the camera's grass: 2.2-2.9x at sigma 0.02), so the
    # tight upper bound holds from 256 px, where every crop has flat-ish parts.
    for (name, image), size, sigma in itertools.product(
        naturals.items(), (64, 128, 256, 512), (0.02, 0.05, 0.1)
    ):
        if size > min(image.shape):
            continue
        rng = np.random.default_rng([size, int(sigma * 1e3), len(name)])
        for _ in SEEDS:
            y, x = (rng.integers(0, n - size + 1) for n in image.shape)
            crop = image[y : y + size, x : x + size]
            ratio = noise_from_image(crop + rng.normal(0, sigma, crop.shape)) / sigma
            highest = 1.25 if size >= 256 else 3.0
            assert LOWEST[size] <= ratio <= highest, (name, y, x, size, sigma, ratio)


def test_independent_reference_on_known_content():
    # Immerkaer's operator shares nothing with the Haar blocks: on flat or ramp
    # content both read the noise (its 3x3 Laplacians also cancel ramps)
    rng = np.random.default_rng(7)
    for kind, sigma in itertools.product(("flat", "ramp"), (0.002, 0.05)):
        noisy = content(kind, 256, rng) + rng.normal(0, sigma, (256, 256))
        assert noise_from_image(noisy) == pytest.approx(immerkaer(noisy), rel=0.06)


# -- signal-dependent (shot) noise: the flattest blocks are the darkest ----------------


def shot(clean: np.ndarray, photons: int, rng: np.random.Generator) -> np.ndarray:
    """``clean`` (>= 0, 1 = ``photons``) with Poisson noise: variance ``clean / photons``."""
    return rng.poisson(clean * photons) / photons


def test_shot_noise_on_known_content_reads_its_rms():
    # the truth is the RMS of the noise actually drawn; the weak-texture blocks
    # alone (the darkest) read 0.45-0.55 of it
    for kind, seed, size, photons in itertools.product(
        CONTENTS, SEEDS, (64, 128, 256), (20, 100, 1000)
    ):
        rng = np.random.default_rng([seed, size, photons, 5])
        clean = content(kind, size, rng) + 0.25
        noisy = shot(clean, photons, rng)
        ratio = noise_from_image(noisy) / np.std(noisy - clean)
        assert LOWEST[size] <= ratio <= HIGHEST[size], (kind, seed, size, photons, ratio)


def test_shot_and_mixed_noise_on_natural_images_is_never_read_well_under(naturals):
    # Poisson at 20-1000 photons at white, alone and with Gaussian read noise
    # 0.01: 128-512 px crops. The upper bound is loose where texture (below 256
    # px) or photon counts of 0 in dark parts (20 photons: two zeros in a cell
    # read as clipping, so the brighter, noisier blocks measure) read high.
    for (name, image), size, photons, read in itertools.product(
        naturals.items(), (128, 256, 512), (20, 100, 1000), (0.0, 0.01)
    ):
        if size > min(image.shape):
            continue
        for seed in SEEDS:
            rng = np.random.default_rng([seed, size, photons, len(name), int(read * 100)])
            y, x = (rng.integers(0, n - size + 1) for n in image.shape)
            clean = image[y : y + size, x : x + size]
            noisy = shot(clean, photons, rng) + rng.normal(0, read, clean.shape)
            ratio = noise_from_image(noisy) / np.std(noisy - clean)
            lowest, highest = (0.9, 3.0) if size < 256 else (0.95, 1.5)
            assert lowest <= ratio <= highest, (name, y, x, size, photons, read, ratio)


def test_the_reviewers_camera_crop_with_shot_noise():
    # issue 12 review: a 256 px camera crop at 100 photons read 0.0299 against
    # 0.0635, so feasibility predicted a precision 4x too good
    clean = img_as_float(data.camera())[:256, :256]
    noisy = shot(clean, 100, np.random.default_rng(1))
    assert noise_from_image(noisy) == pytest.approx(np.std(noisy - clean), rel=0.05)


def test_shot_noise_estimate_keeps_the_symmetries():
    # the level function is fitted in the brightness the image has: negated or
    # offset images have the same noise. Not to 1e-6 as with Gaussian noise:
    # Poisson samples are quantised, so blocks tie on brightness and texture at
    # a band's edge or a threshold, and the rounding of the block sums (whose
    # order a flip reverses) can decide a tie (up to 7e-4 here)
    rng = np.random.default_rng(12)
    clean = img_as_float(data.camera())[200:328, 100:228]
    noisy = shot(clean, 100, rng)
    base = noise_from_image(noisy)
    assert base >= 0.95 * np.std(noisy - clean)
    for variant in (noisy.T, noisy[::-1], noisy[:, ::-1], -noisy, noisy + 7.0):
        assert noise_from_image(variant) == pytest.approx(base, rel=2e-3)


def test_volumes_with_shot_noise():
    for seed, photons in itertools.product(SEEDS, (100, 1000)):
        rng = np.random.default_rng([seed, photons, 7])
        clean = balls((16, 48, 48), rng)
        noisy = shot(clean, photons, rng)
        ratio = weak_texture_noise(noisy) / np.std(noisy - clean)
        assert 0.9 <= ratio <= 1.2, (seed, photons, ratio)


# -- a noise-free smooth region beside noisy content -----------------------------------


def test_a_noise_free_smooth_region_does_not_drive_the_estimate_to_zero(naturals):
    # issue 12 review: the 16 leftmost columns of a noisy camera crop replaced by
    # 0.3 + 0.2 x + 0.1 y**2 read 1.3e-17: curvature gives those blocks texture,
    # so they counted, but their diagonal energy is rounding only
    rng = np.random.default_rng(1)
    noisy = naturals["camera"][:256, :256] + rng.normal(0, 0.02, (256, 256))
    yy, xx = np.mgrid[:256, :256] / 256
    smooth = 0.3 + 0.2 * xx + 0.1 * yy**2
    for width in (8, 16, 32, 128):
        filled = noisy.copy()
        filled[:, :width] = smooth[:, :width]
        assert noise_from_image(filled) == pytest.approx(0.02, rel=0.05), width
        assert noise_from_image(filled.astype(np.float32)) == pytest.approx(0.02, rel=0.05)
    # the smooth region alone holds no noise
    assert noise_from_image(smooth) < 1e-12


# -- the defect: texture read as noise at high SNR ----------------------------------


def test_textured_crops_at_high_snr_read_far_less_texture_than_the_wavelet_median(
    naturals,
):
    # camera, astronaut and coffee 256 px crops at sigma 0.005 (1.3 grey levels):
    # scikit-image's estimate_sigma (the all-blocks median lamina used) read
    # 1.7-1.9x sigma; the truth is at most sqrt(0.005**2 + grain**2) ~ 1.2x.
    # The bound against the peer was 0.8x until the noise level function (issue
    # 12 review): at (40, 60) the camera's dark coat has grain (its flat blocks'
    # diagonal energy 1.6x the sky's at this sigma) which the sky's blocks alone
    # left out, so the level over the whole crop reads 0.0060 = 1.20 sigma, 0.82x
    # the peer: within the truth's bound, so 0.85x.
    estimate_sigma = pytest.importorskip("skimage.restoration").estimate_sigma
    pytest.importorskip("pywt")
    rng = np.random.default_rng(3)
    for name in ("camera", "astronaut", "coffee"):
        image = naturals[name]
        for y, x in ((40, 60), (130, 200)):
            noisy = image[y : y + 256, x : x + 256] + rng.normal(0, 0.005, (256, 256))
            ours, peer = noise_from_image(noisy), float(estimate_sigma(noisy))
            assert 0.005 * 0.95 <= ours <= 0.85 * peer, (name, y, x, ours, peer)
            assert ours <= 1.4 * 0.005, (name, y, x, ours)


def test_camera_roi_of_the_false_aperture_refusal_gets_an_honest_sigma():
    # an 8-bit 20 x 24 view of the camera (a wall beside a pole): the wavelet median
    # read 0.0029 (0.74 grey levels), 1.3x its flat part's own scatter
    roi = data.camera()[150:170, 390:414] / 255.0
    wall = roi[:, :20]
    flat_scatter = np.std(wall - ndimage.uniform_filter(wall, 5))
    estimate = noise_from_image(roi)
    assert ROUNDING_8BIT <= estimate <= 1.1 * flat_scatter, (estimate, flat_scatter)


def test_the_camera_roi_once_refused_as_an_aperture_problem_is_measured():
    # registration judges texture against max(noise_from_image(ref), ...(mov),
    # rounding): the wavelet median's 0.0029 refused this pair as an aperture
    # problem; it now gets an estimate whose uncertainty covers its error
    from lamina.plugins.subpixel.registration import MLRefine

    roi = data.camera()[150:170, 390:414]
    for axis in (0, 1):
        truth = np.zeros(2)
        truth[axis] = 4.0
        result = MLRefine().estimate(roi, np.roll(roi, 4, axis=axis))
        error = np.abs(np.asarray(result.shift) - truth)
        assert np.all(error <= 5 * np.asarray(result.uncertainty)), (axis, result)


# -- scikit-image's estimate_sigma cases ----------------------------------------------


def test_skimage_estimate_sigma_gray_case():
    # test_estimate_sigma_gray: astronaut[:128, :128] grey plus sigma 0.1, decimal=2
    astro_gray = color.rgb2gray(img_as_float(data.astronaut()[:128, :128]))
    rng = np.random.default_rng(1234)
    noisy = astro_gray + 0.1 * rng.standard_normal(astro_gray.shape)
    assert abs(noise_from_image(noisy) - 0.1) < 1.5 * 10**-2
    # odd-sized dimension (scikit-image's astro_gray_odd): the last column is left out
    assert abs(noise_from_image(noisy[:, :-1]) - 0.1) < 1.5 * 10**-2


def test_skimage_estimate_sigma_masked_image_case():
    # test_estimate_sigma_masked_image: noise only in the centre, a noise-free zero
    # border (scikit-image masks zero coefficients out), decimal=1. lamina leaves
    # constant blocks out and is held tighter: 5 %.
    rng = np.random.default_rng(1234)
    image = np.zeros((128, 128))
    image[32:96, 32:96] = 0.1 * rng.standard_normal((64, 64))
    assert noise_from_image(image) == pytest.approx(0.1, rel=0.05)


def test_skimage_estimate_sigma_colour_case_is_a_deliberate_difference():
    # test_estimate_sigma_color: scikit-image averages the channels; lamina's
    # estimators take one channel (lamina.kinds.estimate.select_channel), so colour
    # is refused with the fix rather than averaged silently
    with pytest.raises(lamina.InputError, match="colour"):
        noise_from_image(img_as_float(data.astronaut()[:64, :64]))


# -- rounding, clipping, degenerate and hostile inputs ---------------------------------


@pytest.mark.parametrize("levels", [255, 127, 65535])
def test_integer_samples_never_report_less_than_their_rounding(levels):
    # noise-free content rounded to integer levels: the rounding is its only noise.
    # Flat patches with edges along the axes leave every diagonal coefficient 0,
    # so the floor is the estimate; a rounded ramp's staircase reads more.
    patches = np.kron(np.array([[0.2, 0.5], [0.7, 0.3]]), np.ones((32, 32)))
    floor = 1 / levels / np.sqrt(12)
    assert noise_from_image(np.round(patches * levels) / levels) == pytest.approx(floor)
    ramp = np.add.outer(np.linspace(0.1, 0.3, 64), np.linspace(0.0, 0.2, 64))
    assert noise_from_image(np.round(ramp * levels) / levels) >= floor
    # the same content in floats holds no noise
    assert noise_from_image(patches + 1e-3 / 3) < 1e-12
    assert noise_from_image(ramp) < 1e-9


def test_coarsest_rounding_is_the_int8_step():
    # the shortcut above COARSEST_ROUNDING must not skip any rounding quality finds
    from lamina.plugins.subpixel.quality import rounding_noise

    levels = np.round(np.linspace(-1, 1, 256) * 127) / 127
    image = np.tile(levels, (8, 1))
    assert rounding_noise(image, image, None) <= COARSEST_ROUNDING * (1 + 1e-12)


def test_constant_images_have_no_noise():
    for value in (0.0, 0.5, 1.0, -3.0, 1e-300, 1e300):
        assert noise_from_image(np.full((32, 48), value)) == 0.0


def test_tiny_images_give_finite_estimates():
    rng = np.random.default_rng(5)
    for shape in ((2, 2), (2, 3), (3, 3), (3, 7), (5, 5), (9, 4)):
        estimate = noise_from_image(rng.normal(0.5, 0.1, shape))
        assert np.isfinite(estimate) and estimate > 0, shape


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (np.zeros((1, 8)), "image"),
        (np.full((8, 8), np.nan), "image"),
        (np.full((8, 8), np.inf), "image"),
        (np.zeros((8, 8), dtype=np.uint8), "float"),
        ("image.png", "2-D float array"),
    ],
)
def test_bad_input_is_refused_naming_the_argument(bad, match):
    with pytest.raises(lamina.InputError, match=match):
        noise_from_image(bad)


def test_extreme_magnitudes_scale_exactly():
    rng = np.random.default_rng(2)
    image = content("disks", 64, rng) + rng.normal(0, 0.01, (64, 64))
    base = noise_from_image(image)
    for exponent in (-900, -300, -40, 40, 300, 900):
        scaled = noise_from_image(np.ldexp(image, exponent))
        assert np.isfinite(scaled) and scaled == pytest.approx(np.ldexp(base, exponent))


def test_symmetries_and_offsets_leave_the_estimate_unchanged():
    rng = np.random.default_rng(4)
    image = content("disks", 96, rng) + rng.normal(0, 0.02, (96, 96))
    base = noise_from_image(image)
    for variant in (image.T, image[::-1], image[:, ::-1], -image, image + 7.0):
        assert noise_from_image(variant) == pytest.approx(base, rel=1e-6)


def test_clipped_regions_do_not_pull_the_estimate_down():
    # a bright half clipped at 1.0 (and at 255 in 8 bits) hides its noise: the
    # measure comes from the unclipped half
    rng = np.random.default_rng(6)
    clean = np.concatenate([np.full((128, 64), 0.4), np.full((128, 64), 0.995)], axis=1)
    noisy = clean + rng.normal(0, 0.05, clean.shape)
    assert noise_from_image(np.clip(noisy, 0, 1)) == pytest.approx(0.05, rel=0.08)
    truth = np.hypot(0.05, ROUNDING_8BIT)
    assert noise_from_image(eight_bit(noisy)) == pytest.approx(truth, rel=0.08)


def test_the_caller_buffer_is_never_written():
    rng = np.random.default_rng(8)
    image = rng.normal(0.5, 0.1, (40, 40))
    before = image.copy()
    image.flags.writeable = False
    noise_from_image(image)
    np.testing.assert_array_equal(image, before)


# -- volumes (z, y, x): the same estimator in three axes -------------------------------


def balls(shape: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    """Anti-aliased balls of random levels in a volume (2x supersampled)."""
    fine = np.full(tuple(2 * n for n in shape), 0.5)
    grid = np.ogrid[tuple(slice(0, 2 * n) for n in shape)]
    for _ in range(6):
        centre = [rng.uniform(0, 2 * n) for n in shape]
        radius = rng.uniform(4, 2 * min(shape))
        inside = sum((axis - c) ** 2 for axis, c in zip(grid, centre, strict=True)) < radius**2
        fine[inside] = rng.uniform(0.1, 0.9)
    z, y, x = shape
    return fine.reshape(z, 2, y, 2, x, 2).mean(axis=(1, 3, 5))


def test_volumes_measure_noise_over_weak_texture():
    for seed, shape, sigma in itertools.product(
        SEEDS, ((16, 32, 32), (32, 48, 48)), (0.002, 0.02, 0.1)
    ):
        rng = np.random.default_rng([seed, shape[0], int(sigma * 1e3), 3])
        volume = balls(shape, rng) + rng.normal(0, sigma, shape)
        ratio = weak_texture_noise(volume) / sigma
        assert 0.9 <= ratio <= 1.2, (seed, shape, sigma, ratio)


def test_volume_masks_leave_invalid_voxels_out():
    rng = np.random.default_rng(9)
    volume = balls((16, 32, 32), rng) + rng.normal(0, 0.03, (16, 32, 32))
    valid = np.ones(volume.shape, dtype=bool)
    valid[:, :, :12] = False
    garbage = np.where(valid, volume, np.nan)
    assert weak_texture_noise(garbage, valid=valid) == pytest.approx(0.03, rel=0.1)
    assert weak_texture_noise(volume, valid=np.zeros_like(valid)) == np.inf
    # a thin valid slab (no whole block of 8 voxels a side) still measures its
    # cells, texture and all: an overestimate (1.3x here), never an underestimate
    slab = np.zeros_like(valid)
    slab[:, :, 10:14] = True
    assert 0.95 <= weak_texture_noise(volume, valid=slab) / 0.03 <= 1.5
