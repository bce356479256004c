"""The registration's fast paths against independent references (issue 12, Must 6).

Each shortcut taken for speed must compute what the plain code did: the FFTs by
ducc0 against scipy.fft (and scipy.fft itself where ducc0 is not installed), the window powers from the axes' profiles against the
full windows, the structure tensor from doubled differences against float64
``np.gradient`` sums, the rounding test of all integer levels at once against
the test of each level, and the windowed images against a float64 reference.
Every check runs on a seeded grid: widen ``SEEDS`` (or the shapes) to look harder.
"""

from __future__ import annotations

import functools
import itertools
import subprocess
import sys

import numpy as np
import pytest
import scipy.fft
from skimage import data
from skimage.util import img_as_float

from lamina.plugins.subpixel import quality, spectral, windows
from lamina.plugins.subpixel.windows import (
    WindowPowers,
    apply_window,
    comoving_profiles,
    comoving_windows,
    tukey_profile,
    window_array,
)

SEEDS = range(3)


def comoving_window_pair(*args, **kwargs):
    """The co-moving windows as full arrays, their powers, and their profiles."""
    profiles_r, profiles_m, powers = comoving_profiles(*args, **kwargs)
    return window_array(profiles_r), window_array(profiles_m), powers, (profiles_r, profiles_m)


#: Odd, even, tiny and tall shapes (the FFTs' radix paths and the half plane's Nyquist).
SHAPES = [(3, 3), (3, 4), (8, 8), (17, 31), (64, 64), (255, 129), (256, 256)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ducc0_transforms_match_scipy_fft_in_the_input_precision(shape, dtype):
    rng = np.random.default_rng(sum(shape))
    image = rng.normal(size=shape).astype(dtype)
    eps = float(np.finfo(dtype).eps)
    for view in (image, image[:, ::-1]):  # contiguous and strided
        expected = scipy.fft.rfft2(view, norm="ortho")
        found = spectral._unitary_rfft2(view)
        assert found.dtype == expected.dtype and found.shape == expected.shape
        scale = np.abs(expected).max()
        assert np.abs(found - expected).max() <= 64 * eps * scale
    inverse = scipy.fft.irfft2(expected, s=shape)
    found = spectral._irfft2(expected.copy(), shape[1])
    assert found.dtype == inverse.dtype and found.shape == inverse.shape
    assert np.abs(found - inverse).max() <= 64 * eps * np.abs(inverse).max()


@pytest.mark.parametrize("shape", [(3, 4), (17, 31), (256, 256)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transforms_without_ducc0_are_scipy_fft_in_the_same_normalisation(
    monkeypatch, shape, dtype
):
    # ducc0 is an optional speed-up: without it scipy.fft computes the same transforms
    rng = np.random.default_rng(sum(shape) + 1)
    image = rng.normal(size=shape).astype(dtype)
    eps = float(np.finfo(dtype).eps)
    fast_spectrum = spectral._unitary_rfft2(image)
    fast_inverse = spectral._irfft2(fast_spectrum.copy(), shape[1])
    monkeypatch.setattr(spectral, "ducc0", None)
    spectrum = spectral._unitary_rfft2(image)
    assert spectrum.dtype == fast_spectrum.dtype and spectrum.shape == fast_spectrum.shape
    assert np.abs(spectrum - fast_spectrum).max() <= 64 * eps * np.abs(fast_spectrum).max()
    inverse = spectral._irfft2(fast_spectrum.copy(), shape[1])
    assert inverse.dtype == fast_inverse.dtype and inverse.shape == fast_inverse.shape
    assert np.abs(inverse - fast_inverse).max() <= 64 * eps * np.abs(fast_inverse).max()
    # the round trip restores the image: the inverse carries the 1/N the forward lacks
    restored = spectral._irfft2(spectrum, shape[1]) * np.sqrt(np.prod(shape))
    assert np.abs(restored - image).max() <= 64 * eps * np.abs(image).max()


@pytest.mark.parametrize("seed", range(4))
def test_registration_without_ducc0_gives_the_same_estimates(monkeypatch, seed):
    # The two libraries round float32 FFTs differently, and the co-moving windows'
    # contraction (a ratio of two small placement steps) amplifies that: 6 of 12
    # noise seeds moved the uncertainty by 0.7-2.3e-6 of itself. "The same" is
    # therefore to within 1e-3 of a reported standard error and 1e-4 of sigma.
    from lamina.plugins.subpixel.registration import MLRefine

    scene = img_as_float(data.camera())[100:228, 150:278]
    rng = np.random.default_rng(seed)
    pairs = [
        (scene + rng.normal(0, 0.02, scene.shape), np.roll(scene, shift, axis=(0, 1)))
        for shift in ((3, -2), (-7, 5))
    ]
    fast = [MLRefine().estimate(ref, mov) for ref, mov in pairs]
    monkeypatch.setattr(spectral, "ducc0", None)
    for (ref, mov), expected in zip(pairs, fast, strict=True):
        found = MLRefine().estimate(ref, mov)
        sigma = np.array(expected.uncertainty)
        assert np.all(np.abs(np.array(found.shift) - expected.shift) <= 1e-3 * sigma)
        np.testing.assert_allclose(found.uncertainty, expected.uncertainty, rtol=1e-4)


def test_the_plugin_loads_and_registers_where_ducc0_is_not_installed():
    # the host sets a plugin aside whose import fails: every subpixel command
    # would be lost for want of an optional speed-up
    script = (
        "import sys; sys.modules['ducc0'] = None\n"
        "import numpy as np\n"
        "import lamina.plugins.subpixel\n"
        "from lamina.plugins.subpixel import spectral\n"
        "from lamina.plugins.subpixel.registration import MLRefine\n"
        "assert spectral.ducc0 is None\n"
        "scene = np.random.default_rng(0).random((64, 64))\n"
        "print(MLRefine().estimate(scene, np.roll(scene, 3, axis=0)).shift)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    shift = np.array(done.stdout.strip("[] \n").split(), dtype=float)
    np.testing.assert_allclose(shift, [3.0, 0.0], atol=0.05)


def _window_cases():
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        for shape in [(32, 32), (130, 97), (256, 256), (24, 20, 40)]:
            # at most 40 % of a side: MIN_OVERLAP px of overlap stay on every axis
            shift = rng.uniform(-0.4, 0.4, len(shape)) * np.array(shape)
            for taper in (0.0, 0.1, 0.25, 1.0):
                limits = rng.uniform(2.0, 20.0, len(shape)) if seed % 2 else None
                yield shape, shift, taper, limits


@pytest.mark.parametrize("case", list(_window_cases()), ids=lambda case: str(case[0]))
def test_window_powers_from_profiles_equal_those_of_the_windows(case):
    shape, shift, taper, limits = case
    window_r, window_m, powers, pair = comoving_window_pair(shape, shift, taper, max_taper=limits)
    # the windows, and the profiles the sums take a profile at a time, against
    # profiles written out sample by sample (not against the code under test)
    for sign, window, profiles in zip((-1, 1), (window_r, window_m), pair, strict=True):
        expected = []
        for axis, size in enumerate(shape):
            length = size - 1.0 - abs(shift[axis])
            fraction = taper if limits is None else min(taper, 2.0 * limits[axis] / length)
            centre = (size - 1) / 2.0 + sign * shift[axis] / 2
            expected.append(_plain_tukey(size, centre, length, fraction))
        for found, reference in zip(profiles, expected, strict=True):
            assert np.array_equal(found, reference)
        assert np.array_equal(window, functools.reduce(np.multiply.outer, expected))
    direct = WindowPowers.of((window_r, window_m))
    np.testing.assert_allclose(powers.second, direct.second, rtol=1e-12)
    np.testing.assert_allclose(powers.fourth, direct.fourth, rtol=1e-12)
    assert powers.noise_scale == pytest.approx(direct.noise_scale, rel=1e-12)


def _plain_tukey(size, centre, length, taper):
    """A Tukey profile written out sample by sample (the reference)."""
    window = np.zeros(size)
    for index in range(size):
        u = (index - centre) / length + 0.5
        if not 0 < u < 1:
            continue
        edge = min(u, 1.0 - u)
        window[index] = (
            0.5 * (1.0 - np.cos(2.0 * np.pi * edge / taper)) if edge < taper / 2 else 1.0
        )
    return window


@pytest.mark.parametrize("seed", SEEDS)
def test_tukey_profiles_equal_a_sample_by_sample_reference_bit_for_bit(seed):
    # bit for bit: the co-moving windows feed the fit's placement, where a changed
    # last bit can move a fit that does not settle
    rng = np.random.default_rng(seed)
    for _ in range(200):
        size = int(rng.integers(3, 300))
        offset = rng.uniform(-0.45, 0.45) * size
        length = max(size - 1.0 - abs(offset), 1.0)
        centre = (size - 1) / 2.0 + rng.choice([-0.5, 0.5]) * offset
        taper = rng.choice([0.0, 1.0, rng.uniform(0.0, 1.0), 2.0 * 16.0 / length])
        expected = _plain_tukey(size, centre, length, taper)
        assert np.array_equal(tukey_profile(size, centre, length, taper), expected)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(64, 48), (256, 256), (9, 130), (12, 20, 16)])
@pytest.mark.parametrize("separable", [False, True], ids=["window", "profiles"])
def test_applied_window_is_the_weighted_mean_removed_times_the_window(
    seed, dtype, shape, separable
):
    # the weighted mean from the whole window, or a profile at a time from its
    # profiles (the default path), against a float64 reference; a bright offset
    # (5) makes the mean's rounding show in the result
    rng = np.random.default_rng(seed)
    image = (5.0 + rng.normal(size=shape)).astype(dtype)
    shift = rng.uniform(-0.3, 0.3, len(shape)) * np.array(shape)
    window, _, _, pair = comoving_window_pair(shape, shift, 0.25, dtype=dtype, min_overlap=2)
    reference = image.astype(np.float64)
    weights = window.astype(np.float64)
    mean = np.sum(reference * weights) / np.sum(weights)
    expected = weights * (reference - mean)
    found = apply_window(image, pair[0] if separable else window)
    assert found.dtype == dtype
    tolerance = 16 * float(np.finfo(dtype).eps) * np.abs(reference).max()
    assert np.abs(found - expected).max() <= tolerance
    # the weighted mean of the result is zero: brightness offsets cancel
    assert abs(float(np.sum(found.astype(np.float64)))) <= tolerance * image.size
    # the caller's image is never written to
    assert np.array_equal(
        image, (5.0 + np.random.default_rng(seed).normal(size=shape)).astype(dtype)
    )


@pytest.mark.parametrize("shape", [(64, 48), (256, 256), (9, 130), (12, 20, 16), (40,)])
@pytest.mark.parametrize("types", [(np.float32, np.float32), (np.float32, np.float64)])
def test_window_from_profiles_is_the_full_windows_product_bit_for_bit(shape, types):
    # the centred image times the full window's samples, not a profile at a time
    # (which rounds twice): the windows feed fits that may not settle
    image_type, window_type = types
    rng = np.random.default_rng(len(shape))
    image = rng.normal(size=shape).astype(image_type)
    shift = rng.uniform(-0.3, 0.3, len(shape)) * np.array(shape)
    profiles, _, _ = windows.comoving_profiles(shape, shift, 0.25, dtype=window_type, min_overlap=2)
    found = apply_window(image, profiles)
    assert found.dtype == np.result_type(image_type, window_type)
    # the mean as apply_window takes it, a profile at a time
    total = np.prod([np.sum(profile, dtype=np.float64) for profile in profiles])
    mean = float(windows.separable_sum(image, profiles)) / total
    centred = (image - image.dtype.type(mean)).astype(found.dtype)
    assert np.array_equal(found, centred * windows.window_array(profiles))


def test_applied_window_keeps_the_wider_type_of_image_and_window():
    image = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    window, _ = comoving_windows(image.shape, np.zeros(2), 0.25)  # float64
    found = apply_window(image, window)
    assert found.dtype == np.float64
    mean = np.sum(image * window) / np.sum(window)
    assert np.allclose(found, window * (image.astype(np.float64) - mean), atol=1e-6)


def _reference_tensor(images, windows, sigma):
    """``sum w**2 grad g grad g^T / 2`` less its noise, in float64 from np.gradient
    (central differences on the interior), and the standard error of each
    eigenvalue: what :func:`quality.texture_significance` computes."""
    moments = np.zeros((2, 2))
    total, squares = 0.0, 0.0
    for image, window in zip(images, windows, strict=True):
        gradients = [g[1:-1, 1:-1] for g in np.gradient(image.astype(np.float64))]
        weight = window.astype(np.float64)[1:-1, 1:-1] ** 2
        for a, b in itertools.product(range(2), repeat=2):
            moments[a, b] += np.sum(weight * gradients[a] * gradients[b])
        total += np.sum(weight)
        squares += np.sum(weight * weight)
    noise = 0.5 * sigma**2
    moments = moments / 2.0 - noise * total / 2.0 * np.eye(2)
    values = np.linalg.eigvalsh(moments)
    errors = np.sqrt(4 * noise * np.maximum(values, 0) * squares / total + 2 * noise**2 * squares)
    return values, errors


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["speckle", "stripes", "blobs"])
def test_structure_tensor_matches_a_float64_gradient_reference(seed, dtype, kind):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:96, :80]
    if kind == "speckle":
        scene = rng.random((96, 80))
    elif kind == "stripes":
        scene = 0.5 + 0.4 * np.sin(rng.uniform(0.2, 1.0) * x + rng.uniform(0, 0.05) * y)
    else:
        scene = np.sin(x / rng.uniform(5, 12)) * np.cos(y / rng.uniform(5, 12))
    sigma = [0.0, 0.01, 0.1][seed % 3]
    images = [(scene + rng.normal(0, sigma, scene.shape)).astype(dtype) for _ in range(2)]
    windows = comoving_windows(scene.shape, rng.uniform(-3, 3, 2), 0.25, dtype=dtype)
    texture = quality.texture_significance(images[0], images[1], windows, sigma)
    values, errors = _reference_tensor(images, windows, sigma)
    scale = max(abs(values).max(), 1e-30)
    rounding = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(texture.energy, values, rtol=0, atol=rounding * scale)
    np.testing.assert_allclose(texture.error, errors, rtol=rounding**0.5, atol=rounding * scale)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(96, 80), (33, 65), (5, 4)])
@pytest.mark.parametrize("placement", ["comoving", "flat"])
def test_structure_tensor_from_window_profiles_matches_the_reference(seed, dtype, shape, placement):
    # the sums a profile at a time (rows' differences of the flattened image, whose
    # wrapped border columns weigh 0) against the float64 np.gradient reference
    # and against the sums over the full windows; flat windows keep their border
    rng = np.random.default_rng(seed)
    scene = rng.random(shape) + np.sin(np.arange(shape[1]) / 3.0)
    sigma = [0.0, 0.01, 0.1][seed % 3]
    images = [(scene + rng.normal(0, sigma, shape)).astype(dtype) for _ in range(2)]
    if placement == "comoving":
        shift = rng.uniform(-0.2, 0.2, 2) * np.array(shape)
        taper = rng.uniform(0.1, 1.0)
        *windows, _, profiles = comoving_window_pair(
            shape, shift, taper, dtype=dtype, min_overlap=2
        )
    else:
        flat = tuple(np.ones(size, dtype=dtype) for size in shape)
        windows, profiles = [np.ones(shape, dtype=dtype)] * 2, (flat, flat)
    separable = quality.texture_significance(*images, profiles, sigma)
    plain = quality.texture_significance(*images, windows, sigma)
    values, errors = _reference_tensor(images, windows, sigma)
    scale = max(abs(values).max(), 1e-30)
    rounding = 1e-4 if dtype == np.float32 else 1e-10
    for texture in (separable, plain):
        np.testing.assert_allclose(texture.energy, values, rtol=0, atol=rounding * scale)
        np.testing.assert_allclose(texture.error, errors, rtol=rounding**0.5, atol=rounding * scale)
    np.testing.assert_allclose(separable.subtraction, plain.subtraction, rtol=rounding)
    np.testing.assert_allclose(separable.arithmetic, plain.arithmetic, rtol=rounding, atol=1e-300)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", ["stripes", "speckle"])
def test_texture_of_windows_given_as_profiles_equals_that_of_the_full_windows(seed, kind):
    # the registration's default path hands the texture test the windows' profiles
    # only, summed a profile at a time; the full windows are built where a sum
    # needs them (the discretisation check of one-directional stripes): the same
    # discretisation bit for bit, and the same tensor to the float32 sums' rounding
    rng = np.random.default_rng(seed)
    shape = (72, 90)
    y, x = np.mgrid[: shape[0], : shape[1]]
    if kind == "stripes":
        scene = 0.5 + 0.4 * np.sin(rng.uniform(0.3, 1.2) * x + rng.uniform(0, 0.02) * y)
    else:
        scene = rng.random(shape)
    images = [(scene + rng.normal(0, 0.01, shape)).astype(np.float32) for _ in range(2)]
    shift = rng.uniform(-5, 5, 2)
    *windows, _, profiles = comoving_window_pair(shape, shift, 0.25, dtype=np.float32)
    full = quality.texture_significance(*images, windows, 0.01)
    given = quality.texture_significance(*images, profiles, 0.01)
    assert np.array_equal(given.discretisation, full.discretisation)
    scale = float(np.abs(full.energy).max())
    np.testing.assert_allclose(given.energy, full.energy, rtol=0, atol=1e-4 * scale)
    np.testing.assert_allclose(given.error, full.error, rtol=1e-2, atol=1e-4 * scale)
    if kind == "stripes":
        # the discretisation check, which needs the full windows, ran on both
        assert quality._far_weaker(full.energy, full.error)[0]
        assert quality._far_weaker(given.energy, given.error)[0]


def _reference_taper_limits(image):
    """taper_limits' statistics written out in float64 over the 2x2 blocks' corners
    (the reference): the wavelength per axis, None where the gradients do not
    stand out of the noise, and how far the decision is from its threshold."""
    data = np.asarray(image, dtype=np.float64)
    rows, columns = data.shape[0] // 2, data.shape[1] // 2
    a, b = data[0 : 2 * rows : 2, 0 : 2 * columns : 2], data[0 : 2 * rows : 2, 1 : 2 * columns : 2]
    c, d = data[1 : 2 * rows : 2, 0 : 2 * columns : 2], data[1 : 2 * rows : 2, 1 : 2 * columns : 2]
    noise = np.mean(((a - b - c + d) / 2) ** 2)
    variance = np.mean((a - a.mean()) ** 2) - noise
    limits, margins = [], []
    for neighbour in (c, b):
        gradient = np.mean((neighbour - a) ** 2) - 2.0 * noise
        error = 2.0 * noise * np.sqrt(12.0 / a.size)
        margins.append(abs(gradient - 5.0 * error) / max(abs(gradient), 1e-300))
        if not (variance > 0 and gradient > 5.0 * error):
            return None, min([*margins, abs(variance) / max(np.mean(a**2), 1e-300)])
        limits.append(max(16.0, np.pi * np.sqrt(variance / gradient)))
    return np.array(limits), min(margins)


@pytest.mark.parametrize("seed", SEEDS)
def test_taper_limits_match_a_float64_reference(seed):
    # the corners' mean squares by BLAS dot products in the image's precision
    # (contiguous copies of the corners) against float64 sums: the same taper to
    # the input precision, the same verdict wherever it is not on its threshold
    rng = np.random.default_rng(seed)
    camera = img_as_float(data.camera())
    for _ in range(60):
        height, width = (int(side) for side in rng.integers(16, 300, 2))
        top, left = rng.integers(0, 512 - height), rng.integers(0, 512 - width)
        crop = camera[top : top + height, left : left + width]
        crop = crop + rng.normal(0, rng.choice([0.0, 0.01, 0.05, 0.3]), crop.shape)
        dtype = rng.choice([np.float32, np.float64])
        image = crop.astype(dtype)
        found = windows.taper_limits(image)
        expected, margin = _reference_taper_limits(image)
        if margin < 1e-3:
            continue  # on the threshold: either verdict is right
        assert (found is None) == (expected is None)
        if expected is not None:
            rounding = 1e-4 if dtype == np.float32 else 1e-10
            np.testing.assert_allclose(found, expected, rtol=rounding)


@pytest.mark.parametrize("precision", ["float32", "float64"])
def test_estimates_do_not_depend_on_the_blas_thread_count(precision, large_scene, shifted):
    # OpenBLAS splits a long dot product across its threads, summing in another
    # order: float64 estimates used to change in their last bits with
    # OPENBLAS_NUM_THREADS (taper_limits' mean squares by ddot)
    from threadpoolctl import threadpool_limits

    from lamina.plugins.subpixel.registration import MLRefine

    rng = np.random.default_rng(17)
    for _ in range(3):
        shift = rng.uniform(-8, 8, 2)
        view = (slice(100, 356), slice(120, 376))
        pair = [
            image[view] + rng.normal(0, 0.02, (256, 256))
            for image in (large_scene, shifted(large_scene, tuple(shift)))
        ]
        estimator = MLRefine(precision=precision)
        with threadpool_limits(1):
            single = estimator.estimate(*pair)
        with threadpool_limits(8):
            threaded = estimator.estimate(*pair)
        assert np.array_equal(single.shift, threaded.shift)
        assert single.uncertainty == threaded.uncertainty


def _array_significance(energy, error):
    """Significance as whole-array operations (the reference for the verdicts' Python
    floats): energy / error, infinite for energy without error, 0 for none."""
    with np.errstate(all="ignore"):
        z = np.where(error > 0, energy / np.where(error > 0, error, 1.0), np.inf)
    return np.where((error > 0) | (energy > 0), z, 0.0)


@pytest.mark.parametrize("seed", SEEDS)
def test_texture_significance_in_python_floats_equals_the_array_arithmetic(seed):
    # bit for bit: a direction's significance decides warnings and the aperture
    # refusal; zeros, infinities and NaN included, in images' and volumes' sizes
    rng = np.random.default_rng(seed)
    specials = [0.0, np.inf, np.nan, 1e-300, 5e-324]
    for _ in range(600):
        axes = int(rng.integers(2, 4))
        fields = []
        for _ in range(3):  # energy, error, discretisation
            values = np.abs(rng.normal(size=axes)) * 10.0 ** rng.integers(-60, 60, axes)
            values[rng.random(axes) < 0.1] = rng.choice(specials)
            fields.append(values)
        energy, error, discretisation = fields
        energy = np.sort(energy * rng.choice([-1.0, 1.0], axes))
        subtraction = np.float64(abs(rng.normal()) * 10.0 ** rng.integers(-60, 60))
        arithmetic = float(abs(rng.normal()) * 10.0 ** rng.integers(-60, 60))
        texture = quality.Texture(
            energy, error, np.eye(axes), discretisation, subtraction, arithmetic
        )
        with np.errstate(all="ignore"):  # (infinite energies of both signs)
            doubt = np.sqrt(error**2 + discretisation**2 + subtraction**2 + arithmetic**2)
            significance, far_weaker = texture._doubted
            array_far_weaker = energy + 3.0 * error <= 2 * 0.05 * energy[-1]
        assert np.array_equal(far_weaker, array_far_weaker)
        assert np.array_equal(texture.z, _array_significance(energy, error), equal_nan=True)
        assert np.array_equal(significance, _array_significance(energy, doubt), equal_nan=True)


def _converted(levels: int, signed: bool, rng: np.random.Generator) -> np.ndarray:
    dtype = {(255, False): np.uint8, (127, True): np.int8, (65535, False): np.uint16}.get(
        (levels, signed), np.int16
    )
    info = np.iinfo(dtype)
    return img_as_float(rng.integers(info.min, info.max, (40, 40), endpoint=True).astype(dtype))


@pytest.mark.parametrize("seed", SEEDS)
def test_rounding_of_every_level_at_once_agrees_with_each_level(seed):
    rng = np.random.default_rng(seed)
    cases = [
        _converted(levels, signed, rng)
        for levels, signed in [(255, False), (127, True), (65535, False), (32767, True)]
    ]
    cases += [
        rng.random((40, 40)),
        rng.random((40, 40)).astype(np.float32),
        np.full((40, 40), 0.5),
        np.round(rng.random((40, 40)) * 255) / 255 + 1e-3,
    ]
    for values in cases:
        flat = values.ravel()
        tolerance = 4.0 * float(np.finfo(flat.dtype).eps)
        for head in (flat[:64], flat[:1], flat):
            expected = [
                level
                for level in quality._INTEGER_LEVELS
                if quality._on_levels(head, level, tolerance)
            ]
            assert quality._levels_of(head, tolerance) == expected
    # and the rounding noise itself: step / sqrt(12) of the levels found
    for levels, signed in [(255, False), (127, True), (65535, False), (32767, True)]:
        image = _converted(levels, signed, rng)
        expected = 1.0 / levels / np.sqrt(12.0)
        assert quality.rounding_noise(image, image, None) == pytest.approx(expected)
    assert quality.rounding_noise(rng.random((40, 40)), rng.random((40, 40)), None) == 0.0


def _plain_on_levels(values, levels, tolerance):
    """The level test over all samples at once (the reference)."""
    scaled = values.astype(np.float64) * levels
    rounded = np.round(scaled)
    limit = max(1e-6, levels * tolerance)
    return bool(np.ptp(rounded) > 0 and np.all(np.abs(scaled - rounded) < limit))


@pytest.mark.parametrize("seed", SEEDS)
def test_level_test_by_blocks_agrees_with_all_samples_at_once(seed):
    # sizes around and across the block, one sample off its level in any block,
    # constant images, both precisions and every level
    rng = np.random.default_rng(seed)
    block = quality._LEVEL_BLOCK
    for size in (1, 7, block - 1, block, block + 1, 3 * block + 5):
        for levels in quality._INTEGER_LEVELS:
            for dtype in (np.float32, np.float64):
                values = (rng.integers(0, levels, size, endpoint=True) / levels).astype(dtype)
                tolerance = 4.0 * float(np.finfo(dtype).eps)
                cases = [values, np.full(size, values[0])]
                off = values.copy()
                off[rng.integers(size)] += dtype(0.37 / levels)
                cases.append(off)
                for case in cases:
                    expected = _plain_on_levels(case, levels, tolerance)
                    assert quality._on_levels(case, levels, tolerance) == expected
