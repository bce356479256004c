"""The cross spectrum's sums (spectral.py): their fast forms against the plain forms
they replace, to the last bit, and against their definitions summed bin by bin.

The fast forms must be bit for bit: the co-moving windows' placement is a fixed
point that does not settle on small noisy views, so a last-bit change moves some
estimates by up to a standard error (the golden pairs of the speed rounds), and
the speed rounds promise unchanged results. Each plain form below is the code the
fast one replaced, spelled out; widen the grid with ``LAMINA_SPECTRAL_CASES``.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from scipy import ndimage

from lamina.errors import InputError
from lamina.plugins.subpixel.spectral import (
    CrossSpectrum,
    _irfft2,
    _sandwich,
    inverse_2x2,
    surface_peak,
    wavenumbers,
)
from lamina.plugins.subpixel.windows import WindowPowers

CASES = int(os.environ.get("LAMINA_SPECTRAL_CASES", "24"))


def _cases(seed: int):
    """Seeded pairs: odd and even sides from 2 to 160, both precisions, weights None,
    random, zero next to Nyquist (as the band leaves them), zero on whole rows (as
    the lower half band) or zero everywhere."""
    rng = np.random.default_rng(seed)
    for case in range(CASES):
        shape = (int(rng.integers(2, 161)), int(rng.integers(2, 161)))
        dtype = np.float32 if case % 3 else np.float64
        reference = rng.normal(size=shape).cumsum(0).cumsum(1) * 0.02
        reference += rng.normal(size=shape) * 0.05
        moving = np.roll(reference, (1, -2), axis=(0, 1)) + rng.normal(size=shape) * 0.05
        half = (shape[0], shape[1] // 2 + 1)
        kind = case % 5
        weights = None if kind == 0 else rng.uniform(0, 1, half)
        if weights is not None:
            weights[weights < 0.2] = 0.0
            if kind == 2:
                weights[:, -max(1, half[1] // 4) :] = 0.0
            if kind == 3:
                weights[shape[0] // 4 : 3 * shape[0] // 4 + 1] = 0.0
            if kind == 4 and case % 2:
                weights[:] = 0.0
        yield rng, CrossSpectrum(reference, moving, dtype=dtype, weights=weights)


# -- the plain forms the fast ones replaced ---------------------------------------
def _plain_moments(spectrum: CrossSpectrum, shift: np.ndarray):
    weights = spectrum.weights
    columns = np.flatnonzero(np.any(weights, axis=0))
    width = int(columns[-1]) + 1 if columns.size else 0
    weighted = spectrum.cross[:, :width] * weights[:, :width]
    interleaved = weighted.view(weighted.real.dtype)
    kx_powers = spectrum.grid.kx_powers[:width].astype(np.float64)
    columns = kx_powers * np.exp(-1j * float(shift[1]) * kx_powers[:, 1:2])
    matrix = np.empty((2 * len(columns), 6), dtype=interleaved.dtype)
    matrix[0::2, :3] = columns.real
    matrix[1::2, :3] = -columns.imag
    matrix[0::2, 3:] = columns.imag
    matrix[1::2, 3:] = columns.real
    products = (interleaved @ matrix).astype(np.float64)
    rows = products[:, :3] + 1j * products[:, 3:]
    ky_powers = spectrum.grid.ky_powers
    sums = (ky_powers * np.exp(-1j * float(shift[0]) * ky_powers[:, 1:2])).T @ rows
    gradient = np.array([sums[1, 0].imag, sums[0, 1].imag])
    curvature = np.array([[sums[2, 0].real, sums[1, 1].real], [sums[1, 1].real, sums[0, 2].real]])
    return float(sums[0, 0].real), gradient, curvature


def _power(spectrum: np.ndarray) -> np.ndarray:
    return spectrum.real**2 + spectrum.imag**2


def _plain_residual(spectrum: CrossSpectrum, shift: np.ndarray) -> float:
    difference = spectrum.spectrum_r - spectrum.spectrum_m * spectrum.phase(shift, -1.0)
    return float(np.sum(spectrum.weights * _power(difference)))


def _plain_aligned(spectrum: CrossSpectrum, shift: np.ndarray) -> np.ndarray:
    return np.real(spectrum.cross * spectrum.phase(shift))


def _plain_midpoint(spectrum: CrossSpectrum, shift: np.ndarray) -> np.ndarray:
    power_r, power_m = _power(spectrum.spectrum_r), _power(spectrum.spectrum_m)
    return (power_r + power_m + 2.0 * _plain_aligned(spectrum, shift)) / 4.0


def _plain_signal(spectrum: CrossSpectrum, midpoint: np.ndarray, sigma: float, smooth: int):
    power = midpoint
    if smooth > 1:
        power = ndimage.uniform_filter(power, smooth, mode=("wrap", "nearest"))
    return np.maximum(power - spectrum.dtype(0.5 * sigma**2), 0)


def _plain_covariance(spectrum: CrossSpectrum, curvature, sigma, windows):
    q = spectrum.bin_weights
    gain_r = gain_m = fourth = 1.0
    if windows is not None:
        gain_r, gain_m = (f / s for f, s in zip(windows.fourth, windows.second, strict=True))
        fourth = 0.5 * (windows.fourth[0] + windows.fourth[1])
    power_r, power_m = _power(spectrum.spectrum_r), _power(spectrum.spectrum_m)
    squares = q * q * spectrum.grid.base
    spread = sigma**2 * spectrum.kk_sum(
        squares * (gain_r * power_m + gain_m * power_r), multiplicity=False
    )
    bilinear = sigma**4 * fourth * spectrum.kk_sum(squares, multiplicity=False)
    return _sandwich(inverse_2x2(curvature), spread, bilinear)


def _same(found, wanted, what):
    found, wanted = np.asarray(found), np.asarray(wanted)
    assert found.dtype == wanted.dtype, what
    assert np.array_equal(found, wanted, equal_nan=True), what


def test_fast_sums_are_the_plain_forms_to_the_last_bit():
    for rng, spectrum in _cases(11):
        shape = spectrum.shape
        for step in range(6):
            shift = np.zeros(2) if step == 0 else rng.uniform(-0.6, 0.6, 2) * np.array(shape)
            moments = spectrum.moments(shift)
            correlation, gradient, curvature = _plain_moments(spectrum, shift)
            assert moments.correlation == correlation, (shape, step)
            _same(moments.gradient, gradient, "gradient")
            _same(moments.curvature, curvature, "curvature")
            assert spectrum.residual_power(shift) == _plain_residual(spectrum, shift)
            midpoint = spectrum.midpoint_power(shift)
            _same(midpoint, _plain_midpoint(spectrum, shift), "midpoint")
            correlation = float(np.sum(spectrum.weights * _plain_aligned(spectrum, shift)))
            assert spectrum.correlation(shift) == correlation
            sigma = float(rng.uniform(0.01, 0.3))
            for smooth in (1, 9):
                for source in (midpoint, midpoint.astype(np.float64)):
                    _same(
                        spectrum.signal_power(source, sigma, smooth=smooth),
                        _plain_signal(spectrum, source, sigma, smooth),
                        "signal power",
                    )
            support = spectrum.grid.base * (spectrum.bin_weights > 0)
            plain_information = spectrum.kk_sum(
                support * (midpoint - spectrum.dtype(0.5 * sigma**2)), multiplicity=False
            )
            _same(spectrum.information(midpoint, sigma, check=False), plain_information, "G")
            windows = WindowPowers((0.4, 0.3), (0.25, 0.15)) if step % 2 else None
            if np.linalg.det(moments.curvature) != 0:
                for found, wanted in zip(
                    spectrum.covariance(moments, sigma, windows),
                    _plain_covariance(spectrum, moments.curvature, sigma, windows),
                    strict=True,
                ):
                    _same(found, wanted, "covariance")
            power = _power(spectrum.spectrum_r) + _power(spectrum.spectrum_m)
            plain_matrix = spectrum.kk_sum(spectrum.weights * power, multiplicity=False)
            _same(
                spectrum.gauss_newton_matrix(moments),
                (plain_matrix + 2.0 * moments.curvature) / 4.0,
                "Gauss-Newton matrix",
            )
            if step == 3:  # new weights: every sum follows them
                spectrum.set_weights(rng.uniform(0, 1, spectrum.cross.shape))


def test_whitened_surface_is_the_plain_form_to_the_last_bit():
    for _, spectrum in _cases(12):
        for phase in (False, True):
            surface = np.conj(spectrum.cross)
            if phase:
                magnitude = np.abs(surface)
                surface *= 1.0 / np.maximum(magnitude, np.finfo(magnitude.dtype).tiny)
            surface[0, 0] = 0
            plain = _irfft2(surface, spectrum.shape[1])
            _same(spectrum.correlation_surface(phase=phase), plain, f"surface {phase}")


def test_weights_read_after_any_change_are_the_new_ones():
    # Weights and the sums over them are taken when first read; reading them in any
    # order after any set_weights gives what a fresh spectrum with those weights has.
    rng = np.random.default_rng(14)
    shape = (24, 30)
    reference, moving = rng.normal(size=shape), rng.normal(size=shape)
    half = (shape[0], shape[1] // 2 + 1)
    choices = [
        None,
        rng.uniform(0, 1, half),
        rng.uniform(0, 1, half) * (rng.uniform(size=half) > 0.5),
    ]
    spectrum = CrossSpectrum(reference, moving)
    shift = np.array([0.3, -1.2])
    for step in range(12):
        weights = choices[int(rng.integers(len(choices)))]
        spectrum.set_weights(weights)
        fresh = CrossSpectrum(reference, moving, weights=weights)
        reads = [
            lambda s: s.moments(shift).gradient,
            lambda s: s.bin_weights,
            lambda s: s.weights,
            lambda s: s.n_bins,
            lambda s: s.residual_power(shift),
            lambda s: s.correlation(shift),
        ]
        for index in rng.permutation(len(reads)):
            _same(reads[index](spectrum), reads[index](fresh), f"read {index} at step {step}")
        # the sums' weights are the multiplicity times q, bit for bit
        _same(spectrum.weights, spectrum.grid.base * spectrum.bin_weights, "weights")


def test_weights_are_the_multiplicity_times_q_for_any_values():
    # weights is taken from the given weights without q: the same numbers, where the
    # given ones hold NaN, infinities, negative numbers and signed zeros too.
    rng = np.random.default_rng(20)
    for dtype in (np.float32, np.float64):
        for shape in [(8, 8), (9, 7), (16, 15)]:
            half = (shape[0], shape[1] // 2 + 1)
            given = rng.normal(size=half)
            special = [np.nan, np.inf, -np.inf, 0.0, -0.0]
            given.flat[rng.integers(0, given.size, 12)] = rng.choice(special, 12)
            spectrum = CrossSpectrum(rng.normal(size=shape), rng.normal(size=shape), dtype=dtype)
            spectrum.set_weights(given)
            with np.errstate(invalid="ignore"):  # 0 * inf, in either form
                wanted = spectrum.grid.base * (spectrum.grid.used * given.astype(dtype))
                found = spectrum.weights
            assert found.dtype == wanted.dtype
            bits = found.view(f"u{found.itemsize}"), wanted.view(f"u{wanted.itemsize}")
            assert np.array_equal(*bits)


def test_kept_correlations_follow_the_shift():
    # The aligned spectrum is kept for the last shift: any sequence of shifts gives
    # what a fresh spectrum gives at each.
    rng = np.random.default_rng(15)
    shape = (40, 36)
    reference, moving = rng.normal(size=shape), rng.normal(size=shape)
    spectrum = CrossSpectrum(reference, moving)
    shifts = [rng.uniform(-3, 3, 2) for _ in range(3)]
    for index in rng.integers(0, 3, 15):
        shift = shifts[index]
        fresh = CrossSpectrum(reference, moving)
        assert spectrum.residual_power(shift) == fresh.residual_power(shift)
        assert spectrum.correlation(shift) == fresh.correlation(shift)
        _same(spectrum.midpoint_power(shift), fresh.midpoint_power(shift), "midpoint")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sums_match_their_definitions_bin_by_bin(dtype):
    # The midpoint power, the texture information G, the Gauss-Newton matrix and the
    # sandwich covariance (no windows) against their definitions summed in float64
    # over the full spectrum's half plane with the multiplicities.
    rng = np.random.default_rng(16)
    tolerance = 1e-10 if dtype == np.float64 else 3e-5
    for shape in [(32, 32), (33, 40), (48, 31)]:
        reference, moving = rng.normal(size=shape), rng.normal(size=shape)
        ky, kx = wavenumbers(shape)
        k = np.stack(np.broadcast_arrays(ky[:, None], kx[None, :]))
        kk = np.einsum("a...,b...->ab...", k, k)
        weights = rng.uniform(0, 1, (shape[0], shape[1] // 2 + 1))
        spectrum = CrossSpectrum(reference, moving, dtype=dtype, weights=weights)
        r = spectrum.spectrum_r.astype(np.complex128)
        m = spectrum.spectrum_m.astype(np.complex128)
        q = spectrum.bin_weights.astype(np.float64)
        base = spectrum.grid.base.astype(np.float64)
        shift = rng.uniform(-2, 2, 2)
        half = np.exp(-0.5j * np.einsum("a,a...->...", shift, k))
        midpoint = np.abs(r * half + m * np.conj(half)) ** 2 / 4.0
        power = np.abs(r) ** 2 + np.abs(m) ** 2  # what the midpoint's rounding scales with
        error = np.abs(spectrum.midpoint_power(shift) - midpoint)
        assert np.all(error <= tolerance * power)
        sigma = 0.3
        wanted = np.sum(kk * base * (q > 0) * (midpoint - 0.5 * sigma**2), axis=(2, 3))
        scale = np.sum(np.abs(kk * base * (midpoint + sigma**2)), axis=(2, 3))
        found = spectrum.information(spectrum.midpoint_power(shift), sigma, check=False)
        assert np.all(np.abs(found - wanted) <= tolerance * scale)
        moments = spectrum.moments(shift)
        wanted = (np.sum(kk * base * q * power, axis=(2, 3)) + 2.0 * moments.curvature) / 4.0
        scale = np.sum(kk * base * q * power, axis=(2, 3))
        found = spectrum.gauss_newton_matrix(moments)
        assert np.all(np.abs(found - wanted) <= tolerance * np.abs(scale).max())
        spread = sigma**2 * np.sum(kk * base * q * q * power, axis=(2, 3))
        bilinear = sigma**4 * np.sum(kk * base * q * q, axis=(2, 3))
        inverse = np.linalg.inv(moments.curvature)
        total, _ = spectrum.covariance(moments, sigma)
        wanted_total = inverse @ (spread - bilinear) @ inverse
        if np.all(np.diag(wanted_total) > 0):
            assert np.allclose(total, wanted_total, rtol=100 * tolerance, atol=0)


def test_information_refuses_noise_and_names_the_direction():
    # Pure noise has no texture above the noise; stripes along x have none along it.
    rng = np.random.default_rng(17)
    shape = (64, 64)
    sigma = 0.1
    noise = CrossSpectrum(rng.normal(size=shape) * sigma, rng.normal(size=shape) * sigma)
    shift = np.zeros(2)
    with pytest.raises(InputError, match="no texture above the noise"):
        noise.information(noise.midpoint_power(shift), sigma * float(np.sqrt(2.0)))
    rows = np.sin(np.arange(shape[0]) * 0.7)[:, None] * np.ones(shape)
    stripes = CrossSpectrum(rows, rows)
    with pytest.raises(InputError, match="motion along 0 degrees"):
        stripes.information(stripes.midpoint_power(shift), 1e-3)


def _plain_surface_peak(surface: np.ndarray, fit: str):
    peak = np.unravel_index(int(np.argmax(surface)), surface.shape)
    shift = np.zeros(surface.ndim)
    for axis, size in enumerate(surface.shape):
        index = list(peak)
        values = []
        for offset in (-1, 0, 1):
            index[axis] = (peak[axis] + offset) % size
            values.append(float(surface[tuple(index)]))
        if fit == "gaussian" and min(values) > 0:
            values = [float(np.log(v)) for v in values]
        below, centre, above = values
        curvature = below - 2.0 * centre + above
        offset = 0.0
        if curvature < 0:
            offset = float(np.clip(0.5 * (below - above) / curvature, -0.5, 0.5))
        position = peak[axis] + offset
        shift[axis] = position - size if position > size / 2 else position
    return shift, float(surface[peak])


def test_surface_peak_is_the_plain_form_to_the_last_bit():
    # Seeded surfaces of 1-3 axes (sides 1-40), both precisions, both fits, the peak
    # anywhere (edges wrap), flat tops, ties and non-positive neighbours.
    rng = np.random.default_rng(18)
    for case in range(40 * CASES):
        shape = tuple(int(n) for n in rng.integers(1, 41, int(rng.integers(1, 4))))
        surface = rng.normal(size=shape).astype(np.float32 if case % 2 else np.float64)
        if case % 5 == 0:
            surface = np.round(surface)  # flat tops and ties
        fit = "gaussian" if case % 3 == 0 else "parabolic"
        if case % 7 == 0:
            surface = np.abs(surface) + 0.1  # all positive: the Gaussian fit's logs
        found = surface_peak(surface, fit=fit)
        wanted = _plain_surface_peak(surface, fit)
        _same(found[0], wanted[0], f"shift {shape} {fit}")
        assert found[1] == wanted[1]


def test_closed_form_inverse_matches_lapack_and_refuses_singular_curvature():
    # The 2 x 2 inverse of the covariance and the bound (adjugate, Python floats)
    # against numpy's LAPACK on seeded matrices from well to badly conditioned, of
    # either definiteness, symmetric or not: within a few ulps times the condition.
    rng = np.random.default_rng(19)
    for case in range(50 * CASES):
        rotation = np.linalg.qr(rng.normal(size=(2, 2)))[0]
        values = rng.choice([-1.0, 1.0], 2) * 10.0 ** rng.uniform(-6, 6, 2)
        matrix = rotation @ np.diag(values) @ rotation.T
        if case % 2:
            matrix = 0.5 * (matrix + matrix.T)
        else:
            matrix = matrix + rng.normal(size=(2, 2)) * np.abs(values).min() * 0.1
        wanted = np.linalg.inv(matrix)
        condition = np.linalg.cond(matrix)
        error = np.abs(inverse_2x2(matrix) - wanted).max()
        assert error <= 1e-13 * condition * np.abs(wanted).max(), (matrix, condition)
    with pytest.raises(InputError, match="no texture"):
        inverse_2x2(np.array([[1.0, 2.0], [2.0, 4.0]]))
    assert np.all(np.isnan(inverse_2x2(np.array([[np.nan, 0.0], [0.0, 1.0]]))))
    bound = CrossSpectrum.crlb(np.array([[4.0, 1.0], [1.0, 2.0]]), 0.5)
    assert np.allclose(bound, 0.5 * np.linalg.inv(np.array([[4.0, 1.0], [1.0, 2.0]])), rtol=1e-15)
    assert np.array_equal(bound, bound.T)


def test_weights_of_another_shape_are_refused_when_set():
    # the weights are read when first needed, so a wrongly shaped array would
    # otherwise surface as a broadcasting error deep in a later sum
    rng = np.random.default_rng(5)
    spectrum = CrossSpectrum(rng.normal(size=(16, 16)), rng.normal(size=(16, 16)))
    with pytest.raises(ValueError, match=r"\(16, 9\) expected"):
        spectrum.set_weights(np.ones((16, 9, 3)))
    spectrum.set_weights(np.ones((16, 9)))
    assert spectrum.n_bins > 0
