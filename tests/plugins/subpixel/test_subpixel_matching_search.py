"""The integer search's surfaces against plain references (issue 12, Must 6).

The self-correlation over overlaps that proposes a scene's periods and the
second peaks of a correlation surface were rewritten for speed (summed-area
sums taken one axis at a time, a mask instead of a copy of the surface); each is
checked here against a brute-force loop that shares none of their code, on a
seeded grid of shapes and contents. Widen it with ``LAMINA_MATCHING_CASES``
(cases per test, default 12).
"""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest
from scipy import ndimage

from lamina.plugins.subpixel import matching, overlaps

CASES = int(os.environ.get("LAMINA_MATCHING_CASES", "12"))


def _shape(rng: np.random.Generator, axes: int) -> tuple[int, ...]:
    high = 40 if axes == 2 else 14
    return tuple(int(n) for n in rng.integers(8, high, axes))


def _content(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """White noise, a repeating pattern, or a repeating pattern with noise."""
    grids = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    periods = rng.integers(3, 9, len(shape))
    pattern = np.prod([np.sin(2 * np.pi * g / p) for g, p in zip(grids, periods, strict=True)], 0)
    kind = rng.integers(3)
    if kind == 0:
        return rng.normal(size=shape)
    return pattern + (0.0 if kind == 1 else 0.3) * rng.normal(size=shape)


def _lags(shape: tuple[int, ...]) -> list[np.ndarray]:
    """Each axis's lags in the order of the surface's indices (0..L, then -L..-1)."""
    reach = [(n - 1) // 2 for n in matching._period_lags(shape).count.shape]
    return [np.r_[0 : r + 1, -r:0] for r in reach]


def _overlap(shape: tuple[int, ...], lag: tuple[int, ...]) -> tuple[tuple, tuple]:
    """The pixels x whose x + lag lies inside, and those x + lag."""
    here = tuple(slice(max(0, -d), n - max(0, d)) for d, n in zip(lag, shape, strict=True))
    there = tuple(slice(max(0, d), n - max(0, -d)) for d, n in zip(lag, shape, strict=True))
    return here, there


@pytest.mark.parametrize("axes", [2, 3])
def test_lag_correlation_is_the_coefficient_of_each_overlap(axes):
    """Every lag's coefficient equals numpy's corrcoef of the two overlapping
    pixel sets, and the overlap counts are the pixels of the overlaps."""
    rng = np.random.default_rng(40 + axes)
    for _ in range(CASES):
        shape = _shape(rng, axes)
        image = _content(rng, shape)
        centred = image - image.mean()
        coefficient = matching._lag_correlation(centred)
        count = matching._period_lags(shape).count
        lags = _lags(shape)
        for index in itertools.product(*(range(len(lag)) for lag in lags)):
            lag = tuple(int(lags[k][i]) for k, i in enumerate(index))
            here, there = _overlap(shape, lag)
            first, second = centred[here].ravel(), centred[there].ravel()
            assert count[index] == first.size
            if not any(lag):
                assert coefficient[index] == 1.0
            elif np.std(first) > 1e-9 and np.std(second) > 1e-9:
                expected = np.corrcoef(first, second)[0, 1]
                assert coefficient[index] == pytest.approx(expected, abs=1e-9), (shape, lag)


@pytest.mark.parametrize("axes", [2, 3])
def test_box_sum_sums_every_overlap(axes):
    """The summed-area sums (with a leading axis kept) equal direct sums."""
    rng = np.random.default_rng(50 + axes)
    for _ in range(CASES):
        shape = _shape(rng, axes)
        values = rng.normal(size=(2, *shape))
        sums = overlaps._box_sum(values, matching._period_lags(shape))
        lags = _lags(shape)
        for index in itertools.product(*(range(len(lag)) for lag in lags)):
            lag = tuple(int(lags[k][i]) for k, i in enumerate(index))
            here, _ = _overlap(shape, lag)
            for lead in range(2):
                assert sums[(lead, *index)] == pytest.approx(values[(lead, *here)].sum(), abs=1e-9)


def _lobe_reference(surface: np.ndarray, peak: tuple[int, ...]) -> list[set[int]]:
    """Per axis, the indices within twice the distance at which the profile
    through the peak first falls below half of it (either way, wrapping), at most
    half the side."""
    top, lobe = surface[peak], []
    for axis, size in enumerate(surface.shape):
        reaches = []
        for step in (1, -1):
            reach = 0
            for distance in range(size // 2):
                index = list(peak)
                index[axis] = (peak[axis] + step * distance) % size
                if surface[tuple(index)] < 0.5 * top:
                    reach = distance
                    break
            reaches.append(reach or size // 2)
        half = min(2 * max(reaches), size // 2)
        lobe.append({(peak[axis] + d) % size for d in range(-half, half + 1)})
    return lobe


def _secondary_reference(surface: np.ndarray, fraction: float, origin: bool) -> list[tuple]:
    """Local maxima (3 x 3 neighbourhood, wrapping) outside the main lobe that reach
    ``fraction`` of the peak, highest first, at most eight, as signed shifts."""
    peak = (0,) * surface.ndim if origin else np.unravel_index(np.argmax(surface), surface.shape)
    top = surface[peak]
    if top <= 0:
        return []
    lobe = _lobe_reference(surface, tuple(int(p) for p in peak))
    if all(len(rows) == n for rows, n in zip(lobe, surface.shape, strict=True)):
        return []
    found = []
    for index in itertools.product(*(range(n) for n in surface.shape)):
        if all(i in rows for i, rows in zip(index, lobe, strict=True)):
            continue
        value = surface[index]
        if value < fraction * top:
            continue
        neighbours = []
        for offset in itertools.product((-1, 0, 1), repeat=surface.ndim):
            other = tuple((i + o) % n for i, o, n in zip(index, offset, surface.shape, strict=True))
            inside = all(i in rows for i, rows in zip(other, lobe, strict=True))
            neighbours.append(-np.inf if inside else surface[other])
        if value >= max(neighbours):
            found.append((value, index))
    found.sort(key=lambda item: -item[0])
    return [
        tuple(float(i - n if i > n / 2 else i) for i, n in zip(index, surface.shape, strict=True))
        for _, index in found[:8]
    ]


@pytest.mark.parametrize("origin", [False, True])
def test_secondary_peaks_are_the_local_maxima_outside_the_lobe(origin):
    """Against a loop over every pixel: a correlation peak with planted rivals
    (some above the fraction, some below), on 2-D and 3-D surfaces with distinct
    values (ties would make the order arbitrary)."""
    rng = np.random.default_rng(60 + origin)
    for case in range(CASES):
        shape = _shape(rng, 2 + case % 2)
        surface = ndimage.gaussian_filter(rng.normal(size=shape), 1.0, mode="wrap")
        peak = (0,) * len(shape) if origin else tuple(int(rng.integers(n)) for n in shape)
        surface[peak] = 3.0 * np.abs(surface).max()
        for _ in range(int(rng.integers(0, 4))):
            where = tuple(int(rng.integers(n)) for n in shape)
            surface[where] = rng.uniform(0.3, 0.9) * surface[peak]
        for fraction in (0.5, 0.8):
            found = matching.secondary_peaks(surface, fraction=fraction, origin=origin)
            assert [tuple(p.tolist()) for p in found] == _secondary_reference(
                surface, fraction, origin
            )


@pytest.mark.parametrize("views", [True, False])
def test_overlap_match_scores_the_overlap_correlation(views):
    """The Fisher z of numpy's corrcoef over the pixels that overlap for the
    rounded shift (views) or over the whole image rolled back by it (circular),
    times the square root of the effective samples; a view shifted past its
    last ``MIN_OVERLAP`` pixels scores minus infinity. (Images at most 128 px
    per axis: every pixel is sampled.)"""
    rng = np.random.default_rng(70 + views)
    for case in range(4 * CASES):
        shape = _shape(rng, 2 + case % 2) if case % 4 else (128, int(rng.integers(8, 128)))
        reference = rng.normal(size=shape).astype(np.float32)
        moving = (reference + rng.normal(size=shape)).astype(np.float32)
        shift = rng.uniform(-1.0, 1.0, len(shape)) * np.array(shape)
        independent = float(rng.uniform(0.05, 1.0))
        steps = np.round(shift).astype(int)
        score, effective = overlaps.overlap_match(reference, moving, shift, independent, views)
        if views:
            limit = np.array(shape) - np.minimum(matching.MIN_OVERLAP, shape)
            if np.any(np.abs(steps) > limit):
                assert score == -np.inf
                continue
            here, there = _overlap(shape, tuple(int(s) for s in steps))
            first, second = reference[here], moving[there]
        else:
            first = reference
            second = np.roll(moving, tuple(-steps), axis=tuple(range(len(shape))))
        expected_samples = max(first.size * independent - 3.0, 1.0)
        r = np.corrcoef(first.ravel().astype(np.float64), second.ravel().astype(np.float64))[0, 1]
        assert effective == pytest.approx(expected_samples, rel=1e-12)
        assert score == pytest.approx(np.arctanh(r) * np.sqrt(expected_samples), rel=1e-9)


def test_half_spectrum_independence_equals_the_full_spectrum():
    """The second look's independence from the real FFTs' half spectrum equals the
    one from the full complex spectra, odd and even sizes, 2-D and 3-D, of one
    image (volumes) to three."""
    rng = np.random.default_rng(80)
    for case in range(CASES):
        shape = _shape(rng, 2 + case % 2)
        images = [np.cumsum(rng.normal(size=shape), axis=case % 2) for _ in range(1 + case % 3)]
        full = sum(np.abs(np.fft.fftn(image)) ** 2 for image in images)
        expected = matching.independence(full, np.ones(full.shape))
        assert matching.independence(*matching._half_power(images)) == pytest.approx(
            expected, rel=1e-12
        )


def test_half_spectrum_power_refuses_mixed_shapes_and_widens_mixed_precisions():
    """Images of different shapes are refused (they would broadcast into one power
    spectrum), and a float32 image summed with a float64 one counts in float64, as
    the stacked transform did."""
    rng = np.random.default_rng(81)
    first, second = rng.normal(size=(2, 24, 24))
    with pytest.raises(ValueError, match="one shape"):
        matching._half_power([first, second[:1]])
    mixed = matching._half_power([first.astype(np.float32), second])[0]
    widened = matching._half_power([first.astype(np.float32).astype(np.float64), second])[0]
    assert mixed.dtype == np.float64 and np.array_equal(mixed, widened)


def test_remembered_rivals_follow_the_candidates():
    """The rivals a match remembers are what :func:`matching._rivals` finds on its
    candidates and scores as they are: after the first asking, after candidates
    are added, after one is replaced and after the second look rescored them.
    Checkerboard views (period 8 px) whose aliases rival the match, with noise."""
    rng = np.random.default_rng(90)
    grid = (np.indices((96, 96)) // 4).sum(axis=0) % 2  # squares of 4 px
    rivalled = 0
    for _ in range(CASES):
        scene = grid + 0.2 * rng.normal(size=grid.shape)
        top, left = (int(v) for v in rng.integers(0, 16, 2))
        dy, dx = (int(v) for v in rng.integers(-8, 9, 2))
        reference = scene[16 + top : 80 + top, 16 + left : 80 + left]
        moving = scene[16 + top + dy : 80 + top + dy, 16 + left + dx : 80 + left + dx]
        scored = matching._Scored(reference, moving, 0.5, True)
        truth = np.array([dy, dx], dtype=np.float64)
        scored.add([truth + offset for offset in ([0, 0], [8, 0], [0, 8], [-8, -8])])
        peaks = len(scored.shifts)

        def fresh(scored: matching._Scored = scored, peaks: int = peaks) -> list[int]:
            return matching._rivals(scored, peaks)

        assert scored.rivals(peaks) == fresh()
        assert scored.rivals(peaks) is scored.rivals(peaks)  # remembered
        scored.add([truth + np.array([16, 0]), truth - np.array([0, 16])])
        assert scored.rivals(peaks) == fresh()
        scored.replace(1, truth + np.array([8, 8]))
        assert scored.rivals(peaks) == fresh()
        scored.take_second_look()
        assert scored.rivals(peaks) == fresh()
        rivalled += bool(fresh())
    assert rivalled, "the aliases of a checkerboard rival its match"
