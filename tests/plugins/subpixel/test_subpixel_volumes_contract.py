"""ml-refine on volumes (z, y, x): the issue-12 contract on textures and inputs that
``test_subpixel_volume_space.py`` does not pick.

Textures: fluorescence-like cells (smooth cell bodies with a speckled interior),
power-law ("natural", amplitude ~ 1/|k|**1.5) noise and blobs elongated along z
(an optical stack's PSF); anisotropic shapes (16x32x24, 8x40x40, 24x16x12,
10x10x64); shifts up to 80 % of each side; noise-free to SNR 2; float64, 12-bit
camera values in uint16, and photon-counting (Poisson) uint16 volumes, whose noise
grows with the signal. The contract: |error| <= 5 reported standard errors in
>= 99.5 % of axis values, never off by > 0.5 voxel while reporting < 0.05 voxel,
+-2 sigma coverage of the feasible estimates in [0.90, 0.98] per (texture, SNR)
cell; refusals only for the aperture problem.

Widen the grid with ``LAMINA_GRID3C_REPS=4`` (pairs per cell, default 1);
``python tests/plugins/subpixel/test_subpixel_volumes_contract.py`` prints the table.
"""

from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import Callable

import numpy as np
import pytest
from scipy import ndimage

from lamina.plugins.subpixel.registration import MLRefine
from lamina.plugins.subpixel.volumes import _own_noise

TEXTURES = ("cells", "powerlaw", "elongated")
SHAPES = ((16, 32, 24), (8, 40, 40), (24, 16, 12), (10, 10, 64))
FRACTIONS = (0.1, 0.5, 0.8)
SNRS = (None, 20.0, 2.0)
KINDS = ("float64", "uint16", "poisson", "masked")


def scene(texture: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """A periodic scene twice the view's shape, in [0, 1]."""
    side = tuple(2 * n for n in shape)
    if texture == "powerlaw":
        k2 = sum(np.meshgrid(*(np.fft.fftfreq(n) ** 2 for n in side), indexing="ij"))
        k2[(0,) * 3] = 1.0
        spectrum = rng.normal(size=side) + 1j * rng.normal(size=side)
        content = np.fft.ifftn(spectrum / k2**0.75).real
    elif texture == "cells":
        bodies = ndimage.gaussian_filter(rng.normal(size=side), 3.0, mode="wrap")
        inside = (bodies > np.percentile(bodies, 70)).astype(np.float64)
        speckle = ndimage.gaussian_filter(rng.normal(size=side), 0.7, mode="wrap")
        content = ndimage.gaussian_filter(inside, 1.0, mode="wrap") * (0.5 + speckle)
    else:  # elongated along z, as an optical section's PSF
        content = ndimage.gaussian_filter(rng.normal(size=side), (4.0, 1.2, 1.2), mode="wrap")
    return (content - content.min()) / np.ptp(content)


def garbage_mask(moving: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``moving`` with 5 % scattered voxels and a block of a third of each side
    overwritten, and the mask of its valid voxels."""
    valid = rng.random(moving.shape) > 0.05
    corner = [int(rng.integers(0, n - n // 3 + 1)) for n in moving.shape]
    valid[tuple(slice(c, c + n // 3) for c, n in zip(corner, moving.shape, strict=True))] = False
    return np.where(valid, moving, 7.0), valid


def volume_pair(
    texture: str,
    shape: tuple[int, int, int],
    shift: np.ndarray,
    snr: float | None,
    kind: str,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Reference view and the view of the scene moved by ``shift`` (Fourier shift:
    content enters and leaves at the borders); ``kind`` "masked" leaves the moving
    view's garbage to :func:`garbage_mask`."""
    whole = scene(texture, shape, rng)
    view = tuple(slice(n // 2, n // 2 + n) for n in shape)
    moved = np.fft.ifftn(ndimage.fourier_shift(np.fft.fftn(whole), shift)).real
    reference, moving = whole[view], moved[view]
    if kind == "poisson":
        # photons: 10 counts of dark level, up to 1e4 (noise-free) or a peak giving
        # about the SNR; the noise grows with the signal
        peak = 1e4 if snr is None else snr**2 * 4.0
        return tuple(  # type: ignore[return-value]
            rng.poisson(np.clip(v, 0.0, None) * peak + 10.0).astype(np.uint16)
            for v in (reference, moving)
        )
    if snr is not None:
        noise = reference.std() / snr
        reference = reference + rng.normal(0, noise, shape)
        moving = moving + rng.normal(0, noise, shape)
    if kind == "uint16":  # a 12-bit camera in a 16-bit container
        low = min(reference.min(), moving.min())
        span = max(reference.max(), moving.max()) - low
        reference, moving = (
            np.round((v - low) / span * 4000.0 + 100.0).astype(np.uint16)
            for v in (reference, moving)
        )
    return reference, moving


def run_grid(reps: int, measure_volumes: Callable, seed: int = 1207) -> list[dict]:
    rng = np.random.default_rng(seed)
    estimator = MLRefine()
    records = []
    for texture, shape, fraction, snr, kind in itertools.product(
        TEXTURES, SHAPES, FRACTIONS, SNRS, KINDS
    ):
        for _ in range(reps):
            truth = rng.uniform(-fraction, fraction, 3) * np.array(shape)
            reference, moving = volume_pair(texture, shape, truth, snr, kind, rng)
            masks = {}
            if kind == "masked":
                moving, masks["moving_mask"] = garbage_mask(moving, rng)
            record = {"cell": (texture, snr), "shape": shape, "kind": kind, "truth": truth}
            records.append(measure_volumes(record, estimator.estimate, reference, moving, **masks))
    return records


def _records(measure_volumes: Callable) -> list[dict]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_grid(int(os.environ.get("LAMINA_GRID3C_REPS", "1")), measure_volumes)


@pytest.fixture(scope="module")
def grid(contract) -> list[dict]:
    return _records(contract.measure_volumes)


@pytest.mark.slow
def test_contract_on_unpicked_textures_and_inputs(grid, contract):
    contract.check_five_sigma(grid)
    contract.check_no_confident_gross_error(grid)
    outside = contract.coverage_outside(contract.coverage_table(grid, lambda r: r["cell"]))
    assert not outside, outside


@pytest.mark.slow
def test_refusals_only_for_the_aperture_problem(grid):
    for record in grid:
        if "refused" in record:
            # only blobs elongated along z (texture along z 10-30x weaker) under noise
            # (Poisson counts are noisy at every SNR), their z texture insignificant
            noisy = record["cell"][1] is not None or record["kind"] == "poisson"
            assert record["cell"][0] == "elongated" and noisy, record
            assert "aperture problem" in record["refused"], record


def test_an_estimate_leaving_the_windows_too_little_overlap_is_covered():
    # Started at the integer (7, 13, 1), the fit went to 7.30 along z: 7.7 voxels of
    # overlap, too few for the co-moving windows to follow it. The windows stayed at
    # the start and the estimate was 0.15 voxel off at a standard error of 0.010
    # (14 standard errors), reported as feasible.
    rng = np.random.default_rng(5)
    truth = np.array([7.45, 12.94, 0.65])
    reference, moving = volume_pair("cells", (16, 32, 24), truth, None, "float64", rng)
    estimate = MLRefine().estimate(reference, moving)
    sigma = np.array(estimate.diagnostics["uncertainty_zyx"])
    assert np.all(np.abs(estimate.shift - truth) <= 5 * sigma), (estimate.shift - truth, sigma)
    assert any(w.startswith("small overlap") for w in estimate.diagnostics["warnings"])
    # the pass cut short (windows that cannot follow) did not settle: it said converged
    assert estimate.diagnostics["converged"] is False
    assert any(w.startswith("not converged") for w in estimate.diagnostics["warnings"])


def test_content_entering_the_views_is_no_aperture_problem():
    # 8x40x40 cells moved by (0.68, -3.78, 9.61) without noise were refused as
    # "texture in two directions only": the overlap's residual (content entering
    # and leaving, 0.06 against a texture std of 0.12) was taken for noise, and the
    # whole volumes' isotropic texture fell under it.
    rng = np.random.default_rng(1)
    truth = np.array([0.68, -3.78, 9.61])
    reference, moving = volume_pair("cells", (8, 40, 40), truth, None, "float64", rng)
    estimate = MLRefine().estimate(reference, moving)
    sigma = np.array(estimate.diagnostics["uncertainty_zyx"])
    assert np.all(np.abs(estimate.shift - truth) <= 5 * sigma), (estimate.shift - truth, sigma)


def test_weak_but_exact_texture_along_z_is_measured():
    # Noise-free blobs elongated along z (8x40x40, z texture 30x weaker than x)
    # moved by (4.46, -28.2, 20.17) were refused as "texture in two directions only":
    # the thin overlap's residual (0.02) stood for the noise, and the (y, x) planes'
    # own noise estimate took as much of the in-plane content for noise.
    truth = np.array([4.46, -28.2, 20.17])
    rng = np.random.default_rng(9)
    reference, moving = volume_pair("elongated", (8, 40, 40), truth, None, "float64", rng)
    estimate = MLRefine().estimate(reference, moving)
    sigma = np.array(estimate.diagnostics["uncertainty_zyx"])
    assert np.all(np.abs(estimate.shift - truth) <= 5 * sigma), (estimate.shift - truth, sigma)


def test_weak_texture_along_z_is_measured_through_masks():
    # The same blobs with a masked garbage block and 5 % masked voxels: the masked
    # path judged the whole volumes against the fit's residual (0.02, the content
    # entering and the mask's edges) and refused them as two-directional.
    truth = np.array([8.36, 0.82, 15.44])
    rng = np.random.default_rng(2)
    reference, moving = volume_pair("elongated", (16, 32, 24), truth, None, "float64", rng)
    valid = rng.random(moving.shape) > 0.05
    valid[4:9, 10:20, 2:10] = False
    moving = np.where(valid, moving, 7.0)
    estimate = MLRefine().estimate(reference, moving, moving_mask=valid)
    sigma = np.array(estimate.diagnostics["uncertainty_zyx"])
    assert np.all(np.abs(estimate.shift - truth) <= 5 * sigma), (estimate.shift - truth, sigma)


def test_own_noise_of_a_volume_ignores_content_smooth_along_an_axis():
    rng = np.random.default_rng(3)
    for sigma in (0.001, 0.03):
        noise = rng.normal(0, sigma, (9, 20, 31))
        assert abs(_own_noise(noise) / sigma - 1.0) < 0.1
    valid = np.ones((9, 20, 31), dtype=bool)
    valid[:4] = False  # garbage there is not counted
    assert abs(_own_noise(np.where(valid, noise, 50.0), valid) / 0.03 - 1.0) < 0.15
    assert _own_noise(noise, np.zeros((9, 20, 31), dtype=bool)) == np.inf
    ramp = np.add.outer(np.arange(8.0), np.ones((10, 10)))  # varies along z only
    in_plane = ndimage.gaussian_filter(rng.normal(size=(1, 40, 40)), 1.2) * np.ones((8, 1, 1))
    assert _own_noise(ramp) == 0.0 and _own_noise(in_plane) < 1e-12


def _print_table() -> None:  # pragma: no cover - the reviewer's report
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from conftest import measure_volumes, print_coverage

    records = _records(measure_volumes)
    print_coverage(records, lambda r: r["cell"])
    for r in records:
        if "refused" in r:
            print("refused", r["cell"], r["shape"], r["kind"], r["refused"][:90])


if __name__ == "__main__":  # pragma: no cover
    _print_table()
