"""ml-refine on volumes (z, y, x) over the whole input space (issue 12): a seeded grid a
reviewer can widen.

The grid: textures (a binary phantom like scikit-image's ``binary_blobs``, smooth
blobs, speckle, and one-directional stripes, which only tell the motion across
them), shapes with sides 8-64 (odd and even, anisotropic), shifts up to 80 % of
the side on every axis, SNR (volume std / noise std) from noise-free to 0.5,
float and 8-bit integer voxels, and a quarter of the pairs with a garbage block
masked out of the moving volume. The moving volume is another view of a larger
periodic scene (content enters and leaves at the borders), moved by a Fourier
shift. The contract, for every returned estimate: |error| <= 5 reported standard
errors in >= 99.5 % of axis values, never |error| > 0.5 voxel with a standard
error < 0.05 voxel, and the +-2 sigma coverage of the feasible estimates inside
[0.90, 0.98] per condition cell with enough values (widened by three binomial
standard errors for small cells). Refusals: only stripes (the aperture problem,
with the direction named).

Widen it with ``LAMINA_GRID3_REPS=6`` (pairs per cell, default 1) and
``LAMINA_GRID3_SHAPES=16x16x16,32x32x32,64x64x64`` (``z x y x x`` each);
``python tests/plugins/subpixel/test_subpixel_volume_space.py`` prints the
coverage table.
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

TEXTURES = ("phantom", "blobs", "speckle", "stripes")
SNRS = (None, 10.0, 1.0, 0.5)
FRACTIONS = (0.05, 0.4, 0.8)

#: Default shapes: small, odd and even, anisotropic; the 64-voxel axis once.
SHAPES = "8x16x16,12x13x12,16x16x16,17x24x31,32x32x32,20x64x24"


def _shapes(text: str) -> list[tuple[int, int, int]]:
    shapes = []
    for item in text.split(","):
        z, y, x = (int(v) for v in item.split("x"))
        shapes.append((z, y, x))
    return shapes


def scene(texture: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """A periodic scene twice the view's shape (views moved by 80 % stay inside), in [0, 1]."""
    side = tuple(2 * n for n in shape)
    width = {"phantom": 1.5, "blobs": max(min(shape) / 8, 1.5), "speckle": 0.8}[texture]
    content = ndimage.gaussian_filter(rng.normal(size=side), width, mode="wrap")
    if texture == "phantom":  # sharp-edged binary blobs, as skimage's binary_blobs
        content = (content > np.percentile(content, 60)).astype(np.float64)
    return (content - content.min()) / np.ptp(content)


def stripes(
    shape: tuple[int, ...], shift: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One direction of variation (planes along a random normal): a sum of three
    sines, evaluated at the voxels and at the voxels less the shift."""
    normal = rng.normal(size=3)
    normal /= np.linalg.norm(normal)
    grid = np.meshgrid(*(np.arange(n, dtype=np.float64) for n in shape), indexing="ij")
    along = sum(n * g for n, g in zip(normal, grid, strict=True))
    waves, phases = rng.uniform(0.3, 1.2, 3), rng.uniform(0, 2 * np.pi, 3)
    return tuple(  # type: ignore[return-value]
        sum(np.sin(w * (along - offset) + p) for w, p in zip(waves, phases, strict=True))
        for offset in (0.0, float(normal @ shift))
    )


def fourier_shift(volume: np.ndarray, shift: np.ndarray) -> np.ndarray:
    return np.fft.ifftn(ndimage.fourier_shift(np.fft.fftn(volume), shift)).real


def volume_pair(
    texture: str,
    shape: tuple[int, int, int],
    fraction: float,
    snr: float | None,
    integer: bool,
    masked: bool,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """Reference and moving views, the moving mask (or None) and the true shift."""
    shift = rng.uniform(-fraction, fraction, 3) * np.array(shape)
    if texture == "stripes":
        reference, moving = stripes(shape, shift, rng)
    else:
        whole = scene(texture, shape, rng)
        view = tuple(slice(n // 2, n // 2 + n) for n in shape)
        reference, moving = whole[view], fourier_shift(whole, shift)[view]
    if snr is not None:
        noise = reference.std() / snr
        reference = reference + rng.normal(0, noise, shape)
        moving = moving + rng.normal(0, noise, shape)
    mask = None
    if masked:
        # a block of garbage in the moving volume, masked out
        corner = [int(rng.integers(0, n - n // 3 + 1)) for n in shape]
        block = tuple(slice(c, c + n // 3) for c, n in zip(corner, shape, strict=True))
        moving = moving.copy()
        moving[block] = 50.0
        mask = np.ones(shape, dtype=bool)
        mask[block] = False
    if integer:
        valid = moving if mask is None else moving[mask]
        low = min(reference.min(), valid.min())
        span = max(reference.max(), valid.max()) - low
        reference = np.round((reference - low) / span * 255).astype(np.uint8)
        moving = np.round(np.clip((moving - low) / span, 0, 1) * 255).astype(np.uint8)
    return reference, moving, mask, shift


def run_grid(
    reps: int, shapes: list[tuple[int, int, int]], measure_volumes: Callable, seed: int = 12
) -> list[dict]:
    """Register every cell's pairs; one record per pair."""
    rng = np.random.default_rng(seed)
    estimator = MLRefine()
    records = []
    cells = itertools.product(TEXTURES, shapes, FRACTIONS, SNRS, (False, True))
    for texture, shape, fraction, snr, integer in cells:
        for _ in range(reps):
            masked = bool(rng.random() < 0.25)
            reference, moving, mask, truth = volume_pair(
                texture, shape, fraction, snr, integer, masked, rng
            )
            record = {
                "cell": (texture, snr),
                "shape": shape,
                "fraction": fraction,
                "integer": integer,
                "masked": masked,
                "truth": truth,
            }
            records.append(
                measure_volumes(record, estimator.estimate, reference, moving, moving_mask=mask)
            )
    return records


def _grid_records(measure_volumes: Callable) -> list[dict]:
    reps = int(os.environ.get("LAMINA_GRID3_REPS", "1"))
    shapes = _shapes(os.environ.get("LAMINA_GRID3_SHAPES", SHAPES))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_grid(reps, shapes, measure_volumes)


@pytest.fixture(scope="module")
def grid(contract) -> list[dict]:
    return _grid_records(contract.measure_volumes)


def _cell(record: dict) -> tuple:
    return record["cell"]


@pytest.mark.slow
def test_errors_within_five_sigma_and_never_confidently_wrong(grid, contract):
    contract.check_five_sigma(grid)
    contract.check_no_confident_gross_error(grid)


@pytest.mark.slow
def test_refusals_only_for_one_directional_texture(grid):
    for record in grid:
        if "refused" in record:
            assert record["cell"][0] == "stripes", record
            assert "aperture problem" in record["refused"], record
    # noise-free stripes: refused, or at least flagged as doubtful
    for record in grid:
        if record["cell"] == ("stripes", None) and "refused" not in record:
            assert not record["feasible"], record


@pytest.mark.slow
def test_coverage_per_condition_cell(grid, contract):
    # Smooth blobs at SNR 10 covered 0.81 (0.85 on LAMINA_GRID3_REPS=3) while the
    # sandwich summed the windowed noise per bin as if it were white.
    outside = contract.coverage_outside(contract.coverage_table(grid, _cell))
    assert not outside, outside


def _print_table() -> None:  # pragma: no cover - the reviewer's report
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from conftest import measure_volumes, print_coverage

    records = _grid_records(measure_volumes)
    print_coverage(records, _cell)
    worst = sorted(
        (r for r in records if "error" in r),
        key=lambda r: -float(np.max(np.abs(r["error"]) / r["sigma"])),
    )
    for r in worst[:12]:
        print(
            r["cell"], r["shape"], r["fraction"], r["integer"], r["masked"],
            np.round(r["error"], 4), np.round(r["sigma"], 4), r["warnings"],
        )  # fmt: skip
    for r in records:
        if "refused" in r:
            print("refused", r["cell"], r["shape"], r["fraction"], r["refused"][:90])


if __name__ == "__main__":  # pragma: no cover
    _print_table()
