"""locate against Gaussian spots at known sub-pixel positions over PSF widths, SNR
(amplitude / noise), densities (sparse, and crowded down to 2.5 PSF sigmas apart)
and noise models (white, and photon counts whose variance grows with the light),
beside an independent reference: the Cramér-Rao bound of a Gaussian spot in white
Gaussian noise, ``noise / amplitude * sqrt(2 / pi)`` per axis (the continuum limit
of the Fisher information ``pi A**2 / (2 noise**2)``, the same whether or not
amplitude, width and background are fitted too, which are orthogonal to the
position by symmetry).

Widen with ``LAMINA_LOCATE_SEEDS=6`` (images per cell, default 2).
"""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest

from lamina.plugins.subpixel.localize import locate_points

SHAPE, NOISE, BACKGROUND = (128, 128), 0.01, 0.1
WIDTHS = (0.7, 1.0, 1.5, 2.5)
SNRS = (5.0, 20.0, 100.0, 1000.0)
SEEDS = int(os.environ.get("LAMINA_LOCATE_SEEDS", "2"))


def spread_positions(count: int, closest: float, rng: np.random.Generator) -> np.ndarray:
    """Up to ``count`` random positions at least ``closest`` apart, 6 px from the edges."""
    chosen: list[np.ndarray] = []
    for _ in range(50 * count):
        candidate = rng.uniform(6, np.array(SHAPE) - 7)
        if all(np.hypot(*(candidate - other)) >= closest for other in chosen):
            chosen.append(candidate)
            if len(chosen) == count:
                break
    return np.array(chosen)


def spot_image(
    width: float, snr: float, density: str, noise: str, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Point-sampled spots of amplitude ``snr * NOISE`` on a background; white noise
    of std NOISE, or photon counts with NOISE**2 of variance at the background."""
    closest, count = (8 * width, 25) if density == "sparse" else (2.5 * width, 60)
    truth = spread_positions(count, closest, rng)
    yy, xx = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1]].astype(np.float64)
    image = np.full(SHAPE, BACKGROUND)
    for y, x in truth:
        image += snr * NOISE * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * width**2))
    if noise == "white":
        return image + rng.normal(0, NOISE, SHAPE), truth
    photons = BACKGROUND / NOISE**2  # per unit of intensity
    return rng.poisson(image * photons) / photons, truth


def measure(width: float, snr: float, density: str, noise: str, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    image, truth = spot_image(width, snr, density, noise, rng)
    found = locate_points(image)
    distance = np.hypot(*(found.positions[:, None, :] - truth[None]).transpose(2, 0, 1))
    error = found.positions - truth[distance.argmin(axis=1)]
    return {"error": error, "sigma": found.uncertainty, "crlb": NOISE / (snr * NOISE) * 0.7979}


def cells(
    noise: str, widths=WIDTHS, snrs=SNRS, densities=("sparse", "crowded"), seeds=SEEDS
) -> dict:
    table = {}
    for width, snr, density in itertools.product(widths, snrs, densities):
        runs = [measure(width, snr, density, noise, seed) for seed in range(seeds)]
        table[(width, snr, density)] = {
            key: np.concatenate([run[key] for run in runs]) for key in ("error", "sigma")
        } | {"crlb": runs[0]["crlb"]}
    return table


@pytest.fixture(scope="module")
def white() -> dict:
    return cells("white")


def coverage_ok(z: np.ndarray) -> bool:
    slack = 3.0 * np.sqrt(0.95 * 0.05 / z.size)
    return 0.90 - slack <= np.mean(z <= 2) <= 0.98 + slack


@pytest.mark.slow
def test_white_noise_contract_over_widths_snr_and_crowding(white):
    # Crowded views gave merged pairs 0.9-3.6 px off at |z| up to 31, reported
    # to 0.02 px, and one pooled noise level that their misfit raised 40-180 fold
    # for every spot of the view.
    z_all = []
    for cell, values in white.items():
        z = np.abs(values["error"]) / values["sigma"]
        z_all.append(z.ravel())
        assert coverage_ok(z.ravel()), (cell, np.mean(z <= 2))
        confident = (np.abs(values["error"]) > 0.5) & (values["sigma"] < 0.05)
        assert not np.any(confident), cell
    z_all = np.concatenate(z_all)
    assert np.mean(z_all <= 5) >= 0.995, np.sort(z_all)[-8:]


@pytest.mark.slow
def test_isolated_spots_reach_the_closed_form_cramer_rao_bound(white):
    for (width, snr, density), values in white.items():
        if density != "sparse" or width < 1.0:  # point sampling departs from the continuum
            continue
        reported = np.median(values["sigma"]) / values["crlb"]
        actual = np.sqrt(np.mean(values["error"] ** 2)) / values["crlb"]
        assert 0.9 <= reported <= 1.2, (width, snr, reported)
        assert 0.75 <= actual <= 1.35, (width, snr, actual)


@pytest.mark.slow
def test_photon_noise_is_covered():
    # One pooled variance for every pixel covered +-2 sigma 0.46-0.86 at SNR 100-1000:
    # the position is learnt where the light, and its photon noise, is; and without
    # the pixels' leverage the noise model read the slope of photon noise at half
    # its value for spots of 0.7 px (coverage 0.60-0.84).
    table = cells(
        "photons",
        widths=WIDTHS,
        snrs=(20.0, 100.0, 1000.0),
        densities=("sparse",),
        seeds=max(SEEDS, 4),
    )
    for cell, values in table.items():
        z = (np.abs(values["error"]) / values["sigma"]).ravel()
        assert coverage_ok(z) and np.all(z <= 5), (cell, np.mean(z <= 2), np.sort(z)[-4:])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_merged_pairs_are_rejected_not_reported_to_a_fiftieth_of_a_pixel(seed):
    values = measure(0.7, 1000.0, "crowded", "white", seed=seed)
    # of the 60 spots, 44-53 are kept; rejecting them all would pass the bound below
    assert len(values["error"]) >= 30, len(values["error"])
    z = np.abs(values["error"]) / values["sigma"]
    assert np.all(z <= 5), np.sort(z.ravel())[-4:]


def test_noise_model_separates_white_from_photon_noise():
    for noise, expect_slope in (("white", False), ("photons", True)):
        image, _ = spot_image(1.5, 1000.0, "sparse", noise, np.random.default_rng(3))
        model = locate_points(image).diagnostics["noise_model"]
        assert abs(np.sqrt(model["constant"]) / NOISE - 1.0) < 0.2, (noise, model)
        # photons: variance NOISE**2 / BACKGROUND per unit of light
        slope = model["per_signal"] / (NOISE**2 / BACKGROUND)
        assert (0.5 < slope < 1.5) if expect_slope else slope < 0.1, (noise, model)
