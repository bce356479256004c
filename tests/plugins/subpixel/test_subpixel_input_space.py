"""ml-refine over the whole input space (issue 12): the cases that were seen to fail,
and a seeded property grid a reviewer can widen.

The grid: textures (natural crops of scikit-image's pictures, smooth blobs,
speckle, and one-directional stripes at a random angle, which only tell the motion
across them), sides 16-1024 (the large ones sparsely), shifts up to 80 % of the
side on either axis, SNR (image std / noise std) from noise-free to 0.5, float and
8-bit integer pixels. The moving image is another view of a larger scene (content
enters and leaves at the borders), moved by a Fourier shift. The contract, for
every returned estimate: |error| <= 5 reported standard errors in >= 99.5 % of
axis values, never |error| > 0.5 px with a standard error < 0.05 px, and the
+-2 sigma coverage of the feasible estimates inside [0.90, 0.98] per condition
cell with enough samples (widened by three binomial standard errors for small
cells). Refusals: stripes (the aperture problem, naming the direction along them
within 5 degrees), and at most 5 % of the other pairs.

Widen it with ``LAMINA_GRID_REPS=20`` (pairs per cell, default 1) and
``LAMINA_GRID_SIZES=16,32,64,128,256,1024``; ``python
tests/plugins/subpixel/test_subpixel_input_space.py`` prints the coverage table.
"""

from __future__ import annotations

import itertools
import os
import re
import warnings
from collections.abc import Iterable
from functools import cache

import numpy as np
import pytest
from scipy import ndimage
from skimage import data
from skimage.color import rgb2gray

import lamina
from lamina.plugins.subpixel.registration import MLRefine
from lamina.plugins.subpixel.spectral import periodic_component

TEXTURES = ("natural", "blobs", "speckle", "stripes")
SNRS = (None, 10.0, 1.0, 0.5)
FRACTIONS = (0.05, 0.4, 0.8)


def _grid_setting(name: str, default: str) -> list[int]:
    return [int(v) for v in os.environ.get(name, default).split(",")]


@cache
def _pictures() -> tuple[np.ndarray, ...]:
    return (
        data.camera() / 255.0,
        data.moon() / 255.0,
        rgb2gray(data.coffee()),
        rgb2gray(data.astronaut()),
    )


def fourier_shift(image: np.ndarray, shift: np.ndarray) -> np.ndarray:
    return np.fft.ifft2(ndimage.fourier_shift(np.fft.fft2(image), shift)).real


def scene(texture: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """A periodic scene twice the view's side (so views moved by 80 % stay inside)."""
    side = 2 * size
    if texture == "natural":
        content = np.zeros((side, side))
        while np.ptp(content) == 0:  # saturated patches are no scene
            picture = _pictures()[rng.integers(4)]
            if min(picture.shape) < side:
                picture = ndimage.zoom(picture, side / min(picture.shape) + 0.01, order=3)
            top, left = (rng.integers(0, n - side + 1) for n in picture.shape)
            content = picture[top : top + side, left : left + side]
    else:
        width = max(size / 16, 1.5) if texture == "blobs" else 0.8
        content = ndimage.gaussian_filter(rng.normal(size=(side, side)), width, mode="wrap")
    content = (content - content.min()) / np.ptp(content)
    return periodic_component(content)


def stripes(
    size: int, angle: float, shift: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One-directional texture (three sines of the distance along the normal at
    ``angle`` degrees from the x axis) at the pixels and at the pixels less ``shift``."""
    normal = np.array([np.sin(np.radians(angle)), np.cos(np.radians(angle))])
    yy, xx = np.mgrid[0:size, 0:size]
    distance = normal[0] * yy + normal[1] * xx
    waves, phases = rng.uniform(0.3, 1.2, 3), rng.uniform(0, 2 * np.pi, 3)
    return tuple(  # type: ignore[return-value]
        sum(np.sin(w * (distance - offset) + p) for w, p in zip(waves, phases, strict=True))
        for offset in (0.0, float(normal @ shift))
    )


def _noisy(
    reference: np.ndarray,
    moving: np.ndarray,
    snr: float | None,
    integer: bool,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """The pair with noise at ``snr`` (None: none), as 8-bit pixels if ``integer``."""
    if snr is not None:
        noise = reference.std() / snr
        reference = reference + rng.normal(0, noise, reference.shape)
        moving = moving + rng.normal(0, noise, moving.shape)
    if integer:
        low = min(reference.min(), moving.min())
        span = max(reference.max(), moving.max()) - low
        reference = np.round((reference - low) / span * 255).astype(np.uint8)
        moving = np.round((moving - low) / span * 255).astype(np.uint8)
    return reference, moving


def view_pair(
    texture: str,
    size: int,
    fraction: float,
    snr: float | None,
    integer: bool,
    rng: np.random.Generator,
    *,
    angle: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference and moving views of one scene, and the true shift (lamina's sign);
    ``angle`` is the stripes' normal (degrees from the x axis)."""
    if texture == "stripes":
        shift = rng.uniform(-fraction, fraction, 2) * size
        reference, moving = stripes(size, angle, shift, rng)
    else:
        whole = scene(texture, size, rng)
        shift = rng.uniform(-fraction, fraction, 2) * size
        view = (slice(size // 2, size // 2 + size),) * 2
        reference, moving = whole[view], fourier_shift(whole, shift)[view]
    reference, moving = _noisy(reference, moving, snr, integer, rng)
    return reference, moving, shift


def run_grid(reps: int, sizes: list[int], seed: int = 12) -> list[dict]:
    """Register every cell's pairs; one record per pair."""
    rng = np.random.default_rng(seed)
    estimator = MLRefine()
    records = []
    cells = itertools.product(TEXTURES, sizes, FRACTIONS, SNRS, (False, True))
    for texture, size, fraction, snr, integer in cells:
        # the largest sides sparsely: one pair per texture and SNR
        count = reps if size <= 256 else int(fraction == 0.4 and not integer)
        for _ in range(count):
            angle = float(rng.uniform(0, 180)) if texture == "stripes" else 0.0
            reference, moving, truth = view_pair(
                texture, size, fraction, snr, integer, rng, angle=angle
            )
            record = {
                "cell": (texture, size, snr, integer),
                "fraction": fraction,
                "angle": angle,
                "truth": truth,
            }
            try:
                estimate = estimator.estimate(reference, moving)
            except lamina.InputError as error:
                record["refused"] = str(error)
            else:
                record["error"] = estimate.shift - truth
                record["sigma"] = np.array(estimate.uncertainty)
                record["feasible"] = estimate.diagnostics["feasible"]
            records.append(record)
    return records


def _cell(record: dict) -> tuple:
    """The condition cell: texture and SNR."""
    return record["cell"][0], record["cell"][2]


@pytest.fixture(scope="module")
def grid() -> list[dict]:
    reps = _grid_setting("LAMINA_GRID_REPS", "1")[0]
    sizes = _grid_setting("LAMINA_GRID_SIZES", "16,32,64,128")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_grid(reps, sizes)


@pytest.mark.slow
def test_errors_stay_within_five_reported_standard_errors(grid, contract):
    contract.check_five_sigma(grid)


@pytest.mark.slow
def test_no_confident_gross_error(grid, contract):
    contract.check_no_confident_gross_error(grid)


@pytest.mark.slow
def test_refusals_only_for_one_directional_texture(grid):
    refusals = [r for r in grid if "refused" in r]
    assert all("aperture" in r["refused"] for r in refusals), refusals[:3]
    # small natural views can look one-directional (2 of the 288 default pairs)
    others = [r for r in grid if r["cell"][0] != "stripes"]
    assert sum("refused" in r for r in others) <= 0.05 * len(others)
    for record in (r for r in refusals if r["cell"][0] == "stripes"):
        # the motion that cannot be measured runs along the stripes
        named = re.search(r"motion along ([\d.]+) degrees", record["refused"])
        assert named, record
        along = (record["angle"] + 90.0) % 180.0
        off = abs(float(named.group(1)) - along) % 180.0
        assert min(off, 180.0 - off) <= 5.0, record


@pytest.mark.slow
def test_coverage_per_condition_cell(grid, contract):
    assert not contract.coverage_outside(contract.coverage_table(grid, _cell))


# -- the cases of issue 12 -----------------------------------------------------------
@cache
def _textured() -> np.ndarray:
    """A highly textured 850 x 850 picture (scikit-image's eagle, which the peer test
    uses, needs a download; the retina's vessels stand in for it)."""
    return rgb2gray(data.retina())[250:1100, 250:1100]


@pytest.mark.parametrize("shift", [(350, -100), (-350, 100), (350, 350), (-100, -350)])
def test_large_shifts_of_450_px_crops(shift):
    # issue 12: came back 1.21 px off with a standard error of 0.0076 px, or was
    # refused as "no texture" / "aperture problem"
    image = _textured()
    origin = np.array([0 if s > 0 else -s for s in shift])
    reference = image[origin[0] : origin[0] + 450, origin[1] : origin[1] + 450]
    moved = origin + shift
    moving = image[moved[0] : moved[0] + 450, moved[1] : moved[1] + 450]
    result = MLRefine().estimate(reference, moving)
    truth = -np.array(shift, dtype=float)  # skimage's sign there, lamina's here
    assert np.all(np.abs(result.shift - truth) <= 5 * np.array(result.uncertainty))
    assert np.allclose(result.shift, truth, atol=0.01)


def test_camera_156_44_noise_free(camera):
    # issue 12: (156.512, 44.164), 49 standard errors off
    whole = periodic_component(camera)
    moved = fourier_shift(whole, np.array([156.0, 44.0]))
    for top, left in [(128, 128), (100, 60), (20, 200)]:
        view = (slice(top, top + 256), slice(left, left + 256))
        result = MLRefine().estimate(whole[view], moved[view])
        error = result.shift - (156.0, 44.0)
        assert np.all(np.abs(error) <= 5 * np.array(result.uncertainty)), (error, result)
        assert np.allclose(error, 0, atol=0.01)


def test_moon_at_low_snr_is_measured_not_refused():
    # issue 12: about half the pairs were refused as "aperture problem"
    moon = data.moon() / 255.0
    crop = moon[128:384, 128:384]
    rng = np.random.default_rng(3)
    z = []
    for _ in range(6):
        shift = rng.uniform(-5, 5, 2)
        reference = crop + rng.normal(0, 0.05, crop.shape)
        moving = fourier_shift(crop, shift) + rng.normal(0, 0.05, crop.shape)
        result = MLRefine(boundary="periodic").estimate(reference, moving)
        assert not any("aperture" in w for w in result.diagnostics["warnings"])
        z.append((result.shift - shift) / np.array(result.uncertainty))
    assert np.all(np.abs(np.array(z)) < 5)


@pytest.mark.parametrize("sigma", [0.05, 0.1])
def test_non_periodic_views_at_ordinary_noise_are_measured(camera, sigma):
    # issue 12: 13-47 % of such pairs were refused
    whole = periodic_component(camera)
    rng = np.random.default_rng(int(sigma * 100))
    for _ in range(6):
        shift = rng.uniform(-10, 10, 2)
        moved = fourier_shift(whole, shift)
        top, left = rng.integers(40, 330, 2)
        view = (slice(top, top + 128), slice(left, left + 128))
        reference = whole[view] + rng.normal(0, sigma, (128, 128))
        moving = moved[view] + rng.normal(0, sigma, (128, 128))
        result = MLRefine().estimate(reference, moving)
        assert np.all(np.abs(result.shift - shift) <= 5 * np.array(result.uncertainty))


def test_noise_free_uncertainty_is_not_absurdly_small(camera):
    # issue 12: 20x-23000x smaller than the actual error
    whole = periodic_component(camera)
    rng = np.random.default_rng(4)
    for _ in range(8):
        shift = rng.uniform(-40, 40, 2)
        moved = fourier_shift(whole, shift)
        top, left = rng.integers(60, 300, 2)
        view = (slice(top, top + 96), slice(left, left + 96))
        result = MLRefine().estimate(whole[view], moved[view])
        error = np.abs(result.shift - shift)
        assert np.all(error <= 5 * np.array(result.uncertainty)), (error, result.uncertainty)


def test_window_bias_of_small_smooth_views_is_in_the_uncertainty():
    # The under-coverage of noise-free smooth views (blobs, 0.86-0.89 at +-2 sigma)
    # was the Tukey window's own aliasing bias: a Hann refit lands on the truth
    # (0.0008 px off where the estimate is 0.08 px off) and its difference was
    # judged against V_hann + V instead of the difference's own V_hann - V.
    rng = np.random.default_rng(31)
    z = []
    for size in (32, 64):
        for fraction in (0.05, 0.4):
            for _ in range(5):
                reference, moving, truth = view_pair("blobs", size, fraction, None, False, rng)
                result = MLRefine().estimate(reference, moving)
                z.append(np.abs(result.shift - truth) / np.array(result.uncertainty))
    z = np.concatenate(z)
    assert np.mean(z <= 2) >= 0.9, np.sort(z)[-6:]
    assert np.all(z <= 5)


def test_window_bias_of_tiny_natural_views_is_in_the_uncertainty():
    # Noise-free 16-24 px natural views: 5 of these 120 estimates were 6-10 reported
    # standard errors off (a 16 px view 0.24 px off, reported +-0.024). The Hann
    # check ran only under 0.005 px, and its one pass at the biased estimate moved a
    # fraction of the way (contraction about 0.9): under 32 px the Hann fit's windows
    # now settle, and the check runs up to 0.005 (64 / side)**2 px.
    rng = np.random.default_rng(5)
    z = []
    for _ in range(120):
        size = int(rng.choice([16, 24]))
        reference, moving, truth = view_pair("natural", size, 0.05, None, False, rng)
        try:
            result = MLRefine().estimate(reference, moving)
        except lamina.InputError:
            continue
        z.append(np.max(np.abs(result.shift - truth) / np.array(result.uncertainty)))
    z = np.array(z)
    assert len(z) >= 110 and np.mean(z <= 2) >= 0.93 and np.sum(z > 5) <= 1, np.sort(z)[-6:]


def test_noise_free_uncertainty_follows_the_error_not_a_floor():
    # Noise-free views sat on a stopping floor of 2e-5 px while their errors were
    # about 1e-6 px; a detected window bias was counted as variance, which left
    # each such estimate within about one standard error of the truth.
    rng = np.random.default_rng(41)
    z, sigma = [], []
    for texture in ("natural", "speckle"):
        for fraction in (0.05, 0.4):
            for _ in range(3):
                reference, moving, truth = view_pair(texture, 256, fraction, None, False, rng)
                result = MLRefine().estimate(reference, moving)
                sigma.append(result.uncertainty)
                z.append(np.abs(result.shift - truth) / np.array(result.uncertainty))
    assert np.median(sigma) < 5e-6, np.sort(np.ravel(sigma))
    assert np.all(np.concatenate(z) <= 5), np.sort(np.concatenate(z))


def test_a_clear_window_bias_takes_the_hann_estimate():
    # Noise-free small smooth views: the steep taper's aliasing biases the estimate
    # by about 1e-4 px, and the Hann pass at it is far more accurate. Taking it (not
    # counting the difference as variance) leaves errors near those of a Hann-window
    # estimator (the independent reference; 18x its median without the switch).
    rng = np.random.default_rng(43)
    errors, hann = [], []
    for size in (32, 64):
        for fraction in (0.05, 0.4):
            for _ in range(3):
                reference, moving, truth = view_pair("blobs", size, fraction, None, False, rng)
                errors.append(np.abs(MLRefine().estimate(reference, moving).shift - truth))
                by_hann = MLRefine(taper=1.0).estimate(reference, moving)
                hann.append(np.abs(by_hann.shift - truth))
    assert np.median(errors) < 5 * np.median(hann), (np.median(errors), np.median(hann))


def test_an_estimate_past_the_thinnest_window_overlap_is_covered():
    # Truth around 8 px of overlap (55 px on 64 px views): the windowed fit may end
    # past where co-moving windows fit. No Hann pass may be placed there (it raised
    # "not feasible"), and windows that could not follow the estimate leave a bias
    # of several standard errors (z up to 6.8 here): it keeps the correlation
    # peak's half-pixel precision, as a start past that overlap does.
    rng = np.random.default_rng(11)
    z = []
    for sign in (1, -1, 1):
        whole = scene("speckle", 64, rng)
        for dy in np.linspace(54.9, 55.4, 11):
            truth = sign * np.array([dy, rng.uniform(-3, 3)])
            moved = fourier_shift(whole, truth)
            view = (slice(32, 96),) * 2
            result = MLRefine().estimate(whole[view], moved[view])
            if result.diagnostics["feasible"]:
                z.append(np.abs(result.shift - truth) / np.array(result.uncertainty))
                if abs(result.dy) > 55:  # under 8 px of overlap
                    assert min(result.uncertainty) >= 0.5, result
    assert len(z) >= 25 and np.all(np.concatenate(z) <= 5), np.sort(np.concatenate(z))


def test_hann_check_does_not_inflate_noisy_estimates(camera):
    # In the noise regime the Hann refit differs by noise alone (V_hann - V): the
    # reported uncertainty stays at the sandwich, near the Cramer-Rao bound.
    whole = periodic_component(camera)
    rng = np.random.default_rng(32)
    ratios = []
    for _ in range(8):
        shift = rng.uniform(-5, 5, 2)
        moved = fourier_shift(whole, shift)
        view = (slice(128, 256), slice(128, 256))
        reference = whole[view] + rng.normal(0, 0.03, (128, 128))
        moving = moved[view] + rng.normal(0, 0.03, (128, 128))
        result = MLRefine().estimate(reference, moving)
        ratios.append(np.array(result.uncertainty) / np.array(result.diagnostics["crlb"]))
    assert np.median(ratios) < 1.5 and np.mean(np.array(ratios) > 2.0) <= 0.15, ratios


def test_one_directional_texture_is_refused_with_its_direction():
    yy, xx = np.mgrid[0:96, 0:96]
    angle = np.radians(30)
    stripes = np.sin((np.cos(angle) * xx + np.sin(angle) * yy) / 2.0)
    moved = np.sin((np.cos(angle) * (xx - 1.3) + np.sin(angle) * (yy + 0.4)) / 2.0)
    with pytest.raises(lamina.InputError, match=r"aperture problem.*12[01] degrees"):
        MLRefine().estimate(stripes, moved)


def test_masked_stripes_are_refused():
    # The edges of a masked-out block of garbage passed for texture across the
    # stripes: masked stripes were fitted with the edges as their only cross
    # texture (refused in 7 of these 16 pairs; 13 now). The rest start from a wrong
    # match at low SNR and say so. Noisy stripes: see the noise-free test below.
    rng = np.random.default_rng(5)
    refused = 0
    for _ in range(16):
        size = int(rng.choice([32, 64, 128]))
        shift = rng.uniform(-0.4, 0.4, 2) * size
        reference, moving = stripes(size, rng.uniform(0, 180), shift, rng)
        noise = reference.std() / 10.0
        reference = reference + rng.normal(0, noise, reference.shape)
        moving = moving + rng.normal(0, noise, moving.shape)
        corner = rng.integers(0, size - size // 3, 2)
        block = (slice(corner[0], corner[0] + size // 3), slice(corner[1], corner[1] + size // 3))
        moving[block] = 50.0
        mask = np.ones(moving.shape, dtype=bool)
        mask[block] = False
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = MLRefine().estimate(reference, moving, moving_mask=mask)
        except lamina.InputError as error:
            assert "aperture" in str(error), error
            refused += 1
        else:
            assert not result.diagnostics["feasible"], result
    assert refused >= 12


@pytest.mark.parametrize("integer", [False, True])
def test_noise_free_stripes_are_refused_or_honest(integer):
    # Were fitted with standard errors of 1e-4-1e-3 px and errors of several px
    # along the stripes: central differences turn the three wave numbers into three
    # slightly different gradient directions, a cross texture of 1e-7-1e-4 of the
    # strong direction that stands far above a noise-free residual (all 24 pairs
    # are refused now)
    rng = np.random.default_rng(7)
    _check_stripes((10, 30, 60, 89, 120, 170), itertools.product((64, 128), [None]), integer, rng)


@pytest.mark.parametrize("size", [64, 128, 256])
def test_noise_free_plane_waves_are_refused_naming_the_direction(size):
    # One sine, no noise: 7 of these 27 pairs came back as "not feasible" estimates
    # with a "periodic texture" warning (or a low-SNR one), not refused. The float32
    # sums of the texture test left about 4e-9 of the strong direction's energy
    # across the waves, 24 standard errors of a fit's noise of 2e-5.
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    for period, angle in itertools.product((5.0, 9.0, 20.0), (0.0, 30.0, 120.0)):
        normal = np.radians(angle)

        def wave(dy: float, dx: float, normal: float = normal, period: float = period):
            distance = np.cos(normal) * (xx - dx) + np.sin(normal) * (yy - dy)
            return 0.5 + 0.4 * np.sin(2 * np.pi * distance / period)

        with pytest.raises(lamina.InputError, match="aperture problem") as refusal:
            MLRefine().estimate(wave(0.0, 0.0), wave(1.3, -2.1))
        named = re.search(r"motion along ([\d.]+) degrees", str(refusal.value))
        assert named, refusal.value
        off = abs(float(named.group(1)) - (angle + 90.0) % 180.0) % 180.0
        assert min(off, 180.0 - off) <= 5.0, (period, angle, refusal.value)


@pytest.mark.parametrize("integer", [False, True])
def test_noisy_stripes_are_refused_or_honest(integer):
    # Noisy 8-bit stripes were fitted up to 23 px off along them with standard errors
    # of 0.002-0.003 px (64-128 px, SNR 30-1000; 2 of these 42 pairs, both 8-bit).
    # The texture test subtracts the noise power it expects from the gradient
    # energy; the residual's noise power is some 10 % low as often as not, which
    # leaves about 1e-5 of the strong direction's energy across the stripes, enough
    # to stand 5 standard errors above the noise. Where the weak direction still
    # looks like texture to the test, the fit's curvature along it is the windows'
    # edges and the pixel grid's, and the estimate a guess (errors of 1-10 px at
    # 0.01-0.3 px before). With the noise power's own doubt in the test, all 84
    # pairs are refused, naming the direction (80 without it, 4 returned as guesses).
    rng = np.random.default_rng(13)
    angles = (10.0, 28.0, 60.0, 89.0, 125.0, 137.0, 170.0)
    conditions = itertools.product((64, 128), (1000.0, 100.0, 30.0))
    assert _check_stripes(angles, conditions, integer, rng) >= 41


def _check_stripes(
    angles: tuple[float, ...],
    conditions: Iterable[tuple[int, float | None]],
    integer: bool,
    rng: np.random.Generator,
) -> int:
    """Stripes at each angle and (size, SNR) are refused (the aperture problem) or
    come back infeasible within five standard errors, never confidently wrong; the
    number refused."""
    refused = 0
    for angle, (size, snr) in itertools.product(angles, list(conditions)):
        shift = rng.uniform(-0.4, 0.4, 2) * size
        reference, moving = stripes(size, angle, shift, rng)
        reference, moving = _noisy(reference, moving, snr, integer, rng)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = MLRefine().estimate(reference, moving)
        except lamina.InputError as error:
            assert "aperture" in str(error), error
            refused += 1
            continue
        sigma = np.array(result.uncertainty)
        error = np.abs(result.shift - shift)
        assert np.all(error <= 5 * sigma), (angle, size, snr, result)
        assert not np.any((error > 0.5) & (sigma < 0.05)), (angle, size, snr, result)
        assert not result.diagnostics["feasible"], (angle, size, snr, result)
    return refused


def test_a_twenty_pixel_view_starts_from_its_best_overlap(camera):
    # 8-bit camera rolled 2 px along x, a 20 px ROI of it (the command line's --roi):
    # the fixed window's correlation peaked at (0.1, 0.6), whose overlap scores 13
    # standard errors against the match's 137, and the fit from there settled 3 px
    # off (dx -0.94 +- 0.36, 8 standard errors, feasible).
    pixels = (camera[100:148, 100:148] * 255).round().astype(np.uint8)
    moved = np.roll(pixels, 2, axis=1)
    result = MLRefine().estimate(pixels[24:44, 7:27], moved[24:44, 7:27])
    assert np.all(np.abs(result.shift - (0.0, 2.0)) <= 5 * np.array(result.uncertainty))
    assert max(result.uncertainty) < 0.05 and result.diagnostics["feasible"]


def test_small_natural_views_moved_far_are_measured_not_refused():
    # 16-32 px natural views moved by up to 80 % of their side: the overlap lacks
    # texture along a direction, and its residual (content entering and leaving)
    # made the whole views look one-directional too (2 of these 48 refused as an
    # aperture problem)
    rng = np.random.default_rng(1)
    for size in (16, 32):
        for snr in (None, 0.5):
            for _ in range(12):
                reference, moving, truth = view_pair("natural", size, 0.8, snr, False, rng)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    result = MLRefine().estimate(reference, moving)
                assert np.all(np.abs(result.shift - truth) <= 5 * np.array(result.uncertainty))


def test_an_overlap_without_any_bin_above_the_noise_is_a_guess():
    # 16 px speckle at SNR 0.5 moved by 7-12 px: the Wiener weights left no bin of
    # the band, and the fit raised "no texture"
    rng = np.random.default_rng(0)
    reference, moving, truth = view_pair("speckle", 16, 0.8, 0.5, False, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = MLRefine().estimate(reference, moving)
    assert not result.diagnostics["feasible"]
    assert np.all(np.abs(result.shift - truth) <= 5 * np.array(result.uncertainty))


def test_pure_noise_is_a_guess_that_says_so():
    rng = np.random.default_rng(0)
    result = MLRefine().estimate(rng.normal(size=(64, 64)), rng.normal(size=(64, 64)))
    assert result.diagnostics["feasible"] is False
    assert result.diagnostics["warnings"][0].startswith("low SNR")
    assert min(result.uncertainty) > 64 / 4


def test_integer_input_is_converted_as_skimage_does(camera):
    pixels = (camera * 255).round().astype(np.uint8)
    as_int = MLRefine().estimate(pixels[100:228, 100:228], pixels[103:231, 98:226])
    as_float = MLRefine().estimate(
        pixels[100:228, 100:228] / 255.0, pixels[103:231, 98:226] / 255.0
    )
    assert np.allclose(as_int.shift, (-3, 2), atol=1e-3)
    assert np.allclose(as_int.shift, as_float.shift, atol=1e-6)
    wide = MLRefine().estimate(
        pixels[100:228, 100:228].astype(np.int32), pixels[103:231, 98:226].astype(np.int32)
    )
    assert np.allclose(wide.shift, (-3, 2), atol=1e-3)


@pytest.mark.parametrize("precision", ["float32", "float64"])
def test_the_estimate_does_not_depend_on_the_pixels_units(camera, precision):
    # Images in units of 1e-12 (or 1e-30) were taken for 8-bit pixels (every value
    # rounds to level 0), their noise floored at 1/255/sqrt(12): "low SNR" and
    # standard errors of 1e8-1e26 px; in float32 those of 1e-30 and 1e18 or more
    # under- and overflowed the spectra's powers ("no texture", a NaN shift); below
    # float32's range (1e-39) they were zero, or NaN after an overflowing 2**-e factor.
    rng = np.random.default_rng(3)
    moved = fourier_shift(camera, (1.37, -2.61))
    reference = camera[100:228, 100:228] + rng.normal(0, 0.01, (128, 128))
    moving = moved[100:228, 100:228] + rng.normal(0, 0.01, (128, 128))
    estimator = MLRefine(precision=precision)
    unit = estimator.estimate(reference, moving)
    for scale in (1e-300, 1e-39, 1e-30, 1e-16, 1e-12, 1e-8, 1e8, 1e18, 1e30, 1e300):
        scaled = estimator.estimate(reference * scale, moving * scale)
        sigma = np.array(unit.uncertainty)
        assert np.all(np.abs(scaled.shift - unit.shift) <= 1e-3 * sigma), scale
        np.testing.assert_allclose(scaled.uncertainty, unit.uncertainty, rtol=1e-3)
        noise = scaled.diagnostics["noise_sigma"] / scale
        assert noise == pytest.approx(unit.diagnostics["noise_sigma"], rel=1e-3), scale
        assert scaled.diagnostics["feasible"] and not scaled.diagnostics["warnings"], scale
    # 64-bit integers scale as scikit-image's img_as_float does: to about 1e-16
    counts = (camera * 1000).astype(np.int64)
    wide = MLRefine().estimate(counts[100:228, 100:228], counts[103:231, 98:226])
    assert np.allclose(wide.shift, (-3, 2), atol=1e-3) and max(wide.uncertainty) < 1e-3


@pytest.mark.parametrize("side", [3, 5, 7, 12])
def test_images_under_sixteen_pixels(camera, side):
    image = ndimage.gaussian_filter(camera, 1.0)[200 : 200 + side, 220 : 220 + side]
    moving = fourier_shift(image, np.array([0.6, -0.4]))
    result = MLRefine().estimate(image, moving)
    assert np.all(np.abs(result.shift - (0.6, -0.4)) <= 5 * np.array(result.uncertainty))
    assert any(w.startswith("small image") for w in result.diagnostics["warnings"])


def test_constant_pair_warns_and_returns_a_clear_result(camera):
    with pytest.warns(UserWarning, match="constant"):
        result = MLRefine().estimate(camera[:64, :64], np.zeros((64, 64)))
    assert np.isnan(result.dy) and np.isnan(result.dx)
    assert result.uncertainty == (np.inf, np.inf)
    assert result.diagnostics["feasible"] is False


def _print_table() -> None:  # pragma: no cover - the reviewer's report
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from conftest import print_coverage

    reps = _grid_setting("LAMINA_GRID_REPS", "6")[0]
    sizes = _grid_setting("LAMINA_GRID_SIZES", "16,32,64,128,256,1024")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        records = run_grid(reps, sizes)
    print_coverage(records, _cell)


@pytest.mark.parametrize("integer", [False, True])
def test_a_thin_overlap_of_stripes_is_refused_naming_the_direction(monkeypatch, integer):
    # Overlaps under MIN_OVERLAP px on an axis keep the correlation peak as the
    # estimate (about 0.5 px). It was returned whatever the texture: a thin overlap
    # of one-directional stripes came back feasible with 0.5 px, off by as far as
    # its start was along the stripes (where they match as well): here up to 8 px.
    # The coarse stage rarely starts at a thin overlap of stripes (they match
    # better elsewhere): it is given one here.
    from lamina.plugins.subpixel.matching import Match

    rng = np.random.default_rng(11)
    starts: list[np.ndarray] = []
    monkeypatch.setattr(
        MLRefine, "_coarse_start",
        lambda self, *args, **kwargs: Match(starts[-1], 50.0, np.zeros(2)),
    )  # fmt: skip
    natural = scene("natural", 128, rng)
    for angle in (5, 40, 80, 95, 130, 175):
        for snr in (None, 30.0):
            size = int(rng.choice([64, 128]))
            thin = rng.integers(2)
            truth = rng.uniform(-0.3, 0.3, 2) * size
            truth[thin] = rng.choice([-1.0, 1.0]) * (size - rng.uniform(2.5, 5.5))
            # along the stripes by up to 8 px, the thin axis by at most 1 px
            along = np.array([np.cos(np.radians(angle)), -np.sin(np.radians(angle))])
            reach = min(8.0, 1.0 / max(abs(along[thin]), 1e-9))
            starts.append(np.round(truth + rng.uniform(-reach, reach) * along))
            reference, moving = stripes(size, angle, truth, rng)
            reference, moving = _noisy(reference, moving, snr, integer, rng)
            with pytest.raises(lamina.InputError, match="aperture") as refusal:
                MLRefine().estimate(reference, moving)
            named = re.search(r"motion along ([\d.]+) degrees", str(refusal.value))
            off = abs(float(named.group(1)) - (angle + 90.0)) % 180.0
            assert min(off, 180.0 - off) <= 5.0, refusal.value
            # a natural scene at the same thin overlap is measured, to about 0.5 px
            starts.append(np.round(truth))
            view = (slice(size // 2, size // 2 + size),) * 2
            reference = natural[: 2 * size, : 2 * size][view]
            moving = fourier_shift(natural[: 2 * size, : 2 * size], truth)[view]
            reference, moving = _noisy(reference, moving, snr, integer, rng)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = MLRefine().estimate(reference, moving)
            assert any(w.startswith("small overlap") for w in result.diagnostics["warnings"])
            assert np.all(np.abs(result.shift - truth) <= 5 * np.array(result.uncertainty))


def test_small_smooth_views_matched_well_report_the_fit_not_a_guess():
    # 32 px natural views at SNR 1000, matched to a few thousandths of a pixel,
    # were reported as guesses anywhere in the view (sigma-hat 18.5 px = 32 / sqrt(3)
    # against an RMS error of 1e-4-6e-2 px): their smooth content counts as 2-6
    # independent samples, which no correlation lifts above MATCH_Z. The second
    # look at the detail left when the blur is taken out finds them. Over 20 noise
    # draws of each view, sigma-hat against the RMS error (spread and bias together)
    # stays within [0.3, 20] per axis (0.45-3.5 here), about 2 on (geometric) average.
    ratios = []
    for seed in (3, 7, 10, 16, 20, 22):
        rng = np.random.default_rng(seed)
        whole = scene("natural", 32, rng)
        truth = rng.uniform(-0.4, 0.4, 2) * 32
        view = (slice(16, 48),) * 2
        reference, moving = whole[view], fourier_shift(whole, truth)[view]
        noise = reference.std() / 1000.0
        shifts, sigmas = [], []
        for _ in range(20):
            result = MLRefine().estimate(
                reference + rng.normal(0, noise, reference.shape),
                moving + rng.normal(0, noise, moving.shape),
            )
            shifts.append(result.shift)
            sigmas.append(result.uncertainty)
        error, sigma = np.array(shifts) - truth, np.array(sigmas)
        assert np.all(np.abs(error) <= 5 * sigma), seed
        ratio = np.sqrt(np.mean(sigma**2, axis=0) / np.mean(error**2, axis=0))
        assert np.all((ratio >= 0.3) & (ratio <= 20.0)), (seed, ratio)
        ratios.append(ratio)
    assert 1.0 <= np.exp(np.mean(np.log(ratios))) <= 4.0, ratios


if __name__ == "__main__":  # pragma: no cover
    _print_table()


def test_a_view_moved_by_most_of_its_side_is_checked_for_window_bias():
    """A noise-free 8-bit 64 px view of scikit-image's page moved by (49.2, 5.0) px
    (held-out grid, seed 503): the windows span the 15 px overlap, whose steep
    tapers biased the estimate 0.135 px while it reported +-0.018; the window-bias
    check went by the view's side, not the overlap's, and never ran."""
    scene = data.page()[9:137, 105:233] / 255.0
    scene = periodic_component((scene - scene.min()) / np.ptp(scene))
    truth = np.array([49.2315888, 5.00975958])
    view = (slice(32, 96),) * 2
    reference, moving = _noisy(
        scene[view], fourier_shift(scene, truth)[view], None, True, np.random.default_rng(0)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "small overlap"
        estimate = MLRefine().estimate(reference, moving)
    error = np.abs(estimate.shift - truth)
    assert np.all(error <= 5 * np.array(estimate.uncertainty)), (error, estimate.uncertainty)


def test_a_small_view_settles_its_hann_windows_when_checking_window_bias():
    """A noise-free 32 px checkerboard view moved by (0.76, -0.35) px (held-out grid,
    seed 503): one Hann pass at the estimate stopped 0.0023 px short of the settled
    Hann fit, and that fit was taken reporting +-0.00016 (z 14)."""
    scene = data.checkerboard()[95:159, 30:94] / 255.0
    scene = periodic_component((scene - scene.min()) / np.ptp(scene))
    truth = np.array([0.75861338, -0.35028965])
    view = (slice(16, 48),) * 2
    estimate = MLRefine().estimate(scene[view], fourier_shift(scene, truth)[view])
    error = np.abs(estimate.shift - truth)
    assert np.all(error <= 5 * np.array(estimate.uncertainty)), (error, estimate.uncertainty)
