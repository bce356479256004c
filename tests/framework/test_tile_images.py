"""lamina.io.tile_images: the one image-grid helper (pipeline reports, the
fit_generative operation and the VAE command's pictures had one each)."""

from __future__ import annotations

import numpy as np
import pytest

from lamina.io import tile_images


@pytest.mark.parametrize("seed", range(8))
def test_each_image_sits_in_its_cell_enlarged_and_clipped(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, height, width = (int(v) for v in rng.integers(1, 9, 3))
    channels, columns = int(rng.choice([1, 3])), int(rng.integers(1, 5))
    zoom, gap, background = int(rng.integers(1, 4)), int(rng.integers(0, 3)), float(rng.random())
    images = rng.normal(0.5, 0.7, (n, height, width, channels))
    picture = tile_images(images, columns, zoom=zoom, gap=gap, background=background)
    picture = picture[..., None] if channels == 1 else picture
    rows = -(-n // columns)
    assert picture.shape == (
        rows * height * zoom + (rows + 1) * gap,
        columns * width * zoom + (columns + 1) * gap,
        channels,
    )
    covered = np.zeros(picture.shape[:2], bool)
    for index in range(n):
        r, c = divmod(index, columns)
        top, left = gap + r * (height * zoom + gap), gap + c * (width * zoom + gap)
        cell = picture[top : top + height * zoom, left : left + width * zoom]
        expected = np.kron(np.clip(images[index], 0, 1), np.ones((zoom, zoom, 1)))
        np.testing.assert_allclose(cell, expected, rtol=1e-6)
        covered[top : top + height * zoom, left : left + width * zoom] = True
    assert np.all(picture[~covered] == np.float32(background))


def test_grey_stacks_give_a_2d_picture() -> None:
    assert tile_images(np.zeros((3, 2, 2)), 2, background=1.0).shape == (7, 7)
    assert tile_images(np.zeros((3, 2, 2, 1)), 2).shape == (7, 7)
