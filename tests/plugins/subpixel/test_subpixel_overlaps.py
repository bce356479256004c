"""Every integer shift's overlap correlation by FFT (:mod:`.overlaps`), against the
one-shift score the integer search judges candidates by (``overlaps.overlap_match``,
which shares no code with it: a loop over slices of the two images).

Widen the grid with ``LAMINA_OVERLAP_SEEDS`` (seeds per case, default 2) and
``LAMINA_OVERLAP_SHIFTS`` (shifts checked per pair, default 300).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from scipy import ndimage

from lamina.plugins.subpixel.overlaps import overlap_match, overlap_peaks, overlap_significance
from lamina.plugins.subpixel.windows import MIN_OVERLAP

SEEDS = int(os.environ.get("LAMINA_OVERLAP_SEEDS", "2"))
SHIFTS = int(os.environ.get("LAMINA_OVERLAP_SHIFTS", "300"))


def _pair(shape: tuple[int, ...], texture: str, rng: np.random.Generator) -> tuple:
    scene = rng.normal(size=tuple(n + 12 for n in shape))
    if texture == "smooth":
        scene = ndimage.gaussian_filter(scene, 3.0)
    elif texture == "patches":  # constant blocks: some overlaps hold one value only
        scene = np.kron(
            rng.integers(0, 3, tuple(n // 6 + 3 for n in shape)), np.ones((6,) * len(shape))
        )
    # within the search range: at least MIN_OVERLAP px overlap on every axis
    step = tuple(int(rng.integers(0, max(1, min(12, n - MIN_OVERLAP + 1)))) for n in shape)
    window = tuple(slice(0, n) for n in shape)
    moved = tuple(slice(s, s + n) for s, n in zip(step, shape, strict=True))
    reference = scene[window] + 0.1 * rng.normal(size=shape)
    return reference, scene[moved] + 0.1 * rng.normal(size=shape), -np.array(step, float)


@pytest.mark.parametrize("texture", ["noise", "smooth", "patches"])
@pytest.mark.parametrize("shape", [(32, 32), (20, 27), (9, 40), (1, 16), (5, 3), (10, 12, 9)])
@pytest.mark.parametrize("independent", [1.0, 0.3, 0.02])
def test_every_shift_scores_as_one_shift_does(shape, texture, independent):
    for seed in range(SEEDS):
        rng = np.random.default_rng(seed)
        reference, moving, _ = _pair(shape, texture, rng)
        surface = overlap_significance([(reference, moving, independent)])[0]
        # SHIFTS random shifts per pair, thin overlaps included
        shifts = [rng.integers(-n + 1, n, SHIFTS) for n in shape]
        reach = (np.array(surface.shape) - 1) // 2  # lags 0..L, then -L..-1
        assert np.array_equal(reach, [n - min(MIN_OVERLAP, n) for n in shape])
        for shift in zip(*(s.tolist() for s in shifts), strict=True):
            expected, _ = overlap_match(reference, moving, np.array(shift, float), independent)
            if np.any(np.abs(shift) > reach):  # under MIN_OVERLAP on an axis: not scored
                assert expected == -np.inf, shift
                continue
            found = surface[tuple(np.array(shift) % surface.shape)]
            if not np.isfinite(expected):
                assert found == -np.inf, shift
            else:
                assert found == pytest.approx(expected, rel=1e-6, abs=1e-6), shift


@pytest.mark.parametrize("shape", [(32, 32), (24, 40), (12, 10, 14)])
def test_the_match_is_the_highest_peak_in_the_lamina_sign(shape):
    rng = np.random.default_rng(3)
    reference, moving, truth = _pair(shape, "noise", rng)
    peaks = overlap_peaks(overlap_significance([(reference, moving, 1.0)])[0], 4)
    assert np.array_equal(peaks[0], truth)
    assert all(np.all(np.abs(p) < np.array(shape)) for p in peaks)


def test_constant_images_score_nothing():
    surface = overlap_significance([(np.ones((16, 16)), np.ones((16, 16)), 1.0)])[0]
    assert np.all(surface == -np.inf)
    assert overlap_peaks(surface, 8) == []


def test_looks_together_score_as_each_alone():
    rng = np.random.default_rng(5)
    looks = [
        (*_pair((24, 30), texture, rng)[:2], share)
        for texture, share in (("noise", 1.0), ("smooth", 0.05))
    ]
    together = overlap_significance(looks)
    for look, surface in zip(looks, together, strict=True):
        assert np.array_equal(surface, overlap_significance([look])[0])
