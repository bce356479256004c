"""Shared test data for the subpixel plugin: scenes moved by known sub-pixel shifts."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from skimage import data

from lamina.plugins.subpixel.spectral import periodic_component


def fourier_shift(image: np.ndarray, shift: tuple[float, float]) -> np.ndarray:
    """``image`` circularly moved by ``shift`` (content displacement) via scipy."""
    return np.fft.ifft2(ndimage.fourier_shift(np.fft.fft2(image), shift)).real


@pytest.fixture(scope="session")
def camera() -> np.ndarray:
    return data.camera().astype(np.float64) / 255.0


@pytest.fixture(scope="session")
def scene(camera: np.ndarray) -> np.ndarray:
    """A textured 128 x 128 crop of scikit-image's camera (float64, about [0, 1]),
    made periodic (Moisan) so that Fourier shifts of it are free of the ringing
    that a circular shift of non-periodic content creates near the wrap-around
    edge (which no camera produces)."""
    return periodic_component(camera[150:278, 180:308])


@pytest.fixture(scope="session")
def large_scene(camera: np.ndarray) -> np.ndarray:
    """The periodic component of the whole camera image, to cut non-periodic views."""
    return periodic_component(camera)


def gaussian_spots(
    shape: tuple[int, int],
    positions: np.ndarray,
    *,
    sigma: float,
    amplitude: float = 0.6,
    background: float = 0.1,
) -> np.ndarray:
    """Point-sampled Gaussian spots ``amplitude exp(-r^2 / 2 sigma^2)`` on a background."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    image = np.full(shape, background, dtype=np.float64)
    for y, x in positions:
        image += amplitude * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * sigma**2))
    return image


def spot_grid(shape: tuple[int, int], spacing: int, rng: np.random.Generator) -> np.ndarray:
    """Spot positions on a grid with uniformly random sub-pixel offsets."""
    ys = np.arange(spacing, shape[0] - spacing + 1, spacing)
    xs = np.arange(spacing, shape[1] - spacing + 1, spacing)
    grid = np.array([(y, x) for y in ys for x in xs], dtype=np.float64)
    return grid + rng.uniform(-0.5, 0.5, grid.shape)


def match(found: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Index of the nearest true position for each found one."""
    distance = np.hypot(*(found[:, None, :] - truth[None, :, :]).transpose(2, 0, 1))
    return distance.argmin(axis=1)


@pytest.fixture(scope="session")
def shifted():
    """``shifted(image, shift)``: Fourier (circular) shift by a known amount."""
    return fourier_shift


@pytest.fixture(scope="session")
def spots():
    """Helpers for synthetic point-source images: ``make``, ``grid`` and ``match``."""

    class Spots:
        make = staticmethod(gaussian_spots)
        grid = staticmethod(spot_grid)
        match = staticmethod(match)

    return Spots
