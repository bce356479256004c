"""lamina field (digital image correlation) against known smooth displacement fields:
a translation, a small affine part and a smooth non-rigid (sinusoidal) term, on
camera views and DIC-like speckle, with noise. Per subset: |error| <= 5 reported
standard errors, +-2 sigma coverage in [0.90, 0.98] (3 binomial standard errors of
slack); subsets without texture and subsets moved out of the view are NaN with a
reason, never a crash.

Widen with ``LAMINA_FIELD_SEEDS=8`` (fields per condition, default 1).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from scipy import ndimage
from skimage import data

from lamina.plugins.subpixel.field import deformation_bias, displacement_field

SIDE, PAD = 192, 40


def displacement(y: np.ndarray, x: np.ndarray, params: np.ndarray) -> tuple:
    """(dy, dx) at reference point (y, x): translation + affine + smooth sinusoid."""
    ty, tx, a, b, c, d, amplitude, wavelength = params
    yc, xc = y - SIDE / 2, x - SIDE / 2
    dy = ty + a * yc + b * xc + amplitude * np.sin(2 * np.pi * x / wavelength)
    dx = tx + c * yc + d * xc + amplitude * np.cos(2 * np.pi * y / wavelength)
    return dy, dx


def deformed_pair(
    texture: str, strain: float, noise: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference view, the view of the deformed scene (content at p moves to
    p + u(p), found by fixed-point iteration), and the field's parameters."""
    size = SIDE + 2 * PAD
    if texture == "camera":
        scene = data.camera()[100 : 100 + size, 100 : 100 + size] / 255.0
    else:  # speckle, as sprayed for DIC
        scene = ndimage.gaussian_filter(rng.normal(size=(size, size)), 1.5)
        scene = (scene - scene.min()) / np.ptp(scene)
    params = np.array(
        [
            *rng.uniform(-8, 8, 2),
            *rng.uniform(-strain, strain, 4),
            rng.uniform(0, 100 * strain),
            rng.uniform(150, 300),
        ]
    )
    qy, qx = np.mgrid[0:SIDE, 0:SIDE].astype(np.float64)
    py, px = qy.copy(), qx.copy()
    for _ in range(30):
        dy, dx = displacement(py, px, params)
        py, px = qy - dy, qx - dx
    moving = ndimage.map_coordinates(scene, [py + PAD, px + PAD], order=5, mode="reflect")
    reference = scene[PAD : PAD + SIDE, PAD : PAD + SIDE]
    return (
        reference + rng.normal(0, noise, reference.shape),
        moving + rng.normal(0, noise, moving.shape),
        params,
    )


def field_z(texture: str, strain: float, noise: float, seed: int) -> np.ndarray:
    """|error| / sigma of every measured subset value (both axes)."""
    rng = np.random.default_rng(seed)
    reference, moving, params = deformed_pair(texture, strain, noise, rng)
    result = displacement_field(reference, moving, subset=32, step=16)
    yy, xx = np.meshgrid(result.centre_y, result.centre_x, indexing="ij")
    true_dy, true_dx = displacement(yy, xx, params)
    z = np.stack([(result.dy - true_dy) / result.sigma_dy, (result.dx - true_dx) / result.sigma_dx])
    return np.abs(z[np.isfinite(z)])


CONDITIONS = [("camera", 0.003, 0.01), ("camera", 0.01, 0.01), ("speckle", 0.01, 0.02)]


@pytest.mark.slow
@pytest.mark.parametrize(("texture", "strain", "noise"), CONDITIONS)
def test_deforming_fields_are_covered(texture, strain, noise):
    # Before the deformation term, camera views under 0.3 % strain covered 0.74 and
    # under 1 % 0.54 (errors up to 22 standard errors): a subset registered as a
    # whole measures the displacement averaged with its texture's weight, not the
    # one at its centre.
    seeds = int(os.environ.get("LAMINA_FIELD_SEEDS", "1"))
    z = np.concatenate([field_z(texture, strain, noise, 1 + seed) for seed in range(seeds)])
    assert z.size >= 100
    slack = 3.0 * np.sqrt(0.95 * 0.05 / z.size)
    assert 0.90 - slack <= np.mean(z <= 2) <= 0.98 + slack, np.mean(z <= 2)
    assert np.mean(z <= 5) >= 0.995, np.sort(z)[-5:]


def test_deformation_bias_vanishes_for_translation_and_grows_with_strain():
    rng = np.random.default_rng(7)
    reference = ndimage.gaussian_filter(rng.normal(size=(96, 96)), 1.5)
    tops = lefts = np.arange(0, 96 - 32 + 1, 16)
    yy, xx = np.meshgrid(tops + 15.5, lefts + 15.5, indexing="ij")
    shift = np.full(yy.shape, 2.3)
    grid = {"tops": tops, "lefts": lefts, "subset": 32, "step": 16}
    for bias in deformation_bias(reference, shift, -shift, **grid):
        assert np.allclose(bias, 0.0, atol=1e-12)
    previous = None
    for strain in (0.002, 0.004, 0.008):  # linear in the strain (first order)
        dy, dx = 2.3 + strain * (yy - 48) + 0.5 * strain * (xx - 48), -strain * (xx - 48)
        bias = np.abs(np.stack(deformation_bias(reference, dy, dx, **grid)))
        if previous is not None:
            assert np.allclose(bias, 2.0 * previous, rtol=1e-6)
        previous = bias
    assert np.all(previous < 0.008 * 16)  # never more than the change across half a subset


def test_subsets_without_texture_are_nan_with_a_reason():
    # a noise-free constant block inside a textured view: those subsets say why they
    # hold no estimate (they used to be NaN without a reason), the rest are measured
    rng = np.random.default_rng(11)
    scene = ndimage.gaussian_filter(rng.normal(size=(128, 128)), 1.5)
    scene[:64, :64] = 0.25
    moving = np.fft.ifft2(ndimage.fourier_shift(np.fft.fft2(scene), (0.3, -0.4))).real
    moving[:64, :64] = 0.25
    result = displacement_field(scene, moving, subset=32, step=32)
    unmeasured = ~np.isfinite(result.dy)
    assert np.all(unmeasured[:2, :2]) and np.count_nonzero(~unmeasured) == 12
    for i, j in zip(*np.nonzero(unmeasured), strict=True):
        assert "constant" in result.reasons[f"{i},{j}"]
    assert np.all(np.abs(result.dy[~unmeasured] - 0.3) <= 5 * result.sigma_dy[~unmeasured])
