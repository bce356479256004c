"""Image data for the VAE: the bundled 8x8 digits, ``.npy`` stacks and folders of images.

Every loader returns float32 images (N, H, W, C) in lamina's [0, 1] range;
:func:`to_rows` / :func:`from_rows` convert to the learner's rows (channels first).
No torch here.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from lamina.errors import InputError
from lamina.io import IMAGE_SUFFIXES, read_image

__all__ = ["from_rows", "load_digits", "load_images", "to_rows"]


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 bundled handwritten digits as (1797, 8, 8, 1) images in [0, 1]
    (pixel counts 0..16 divided by 16) and their labels 0-9."""
    from lamina.learn.datasets import load_dataset

    table = load_dataset("digits")
    images = (table.numeric() / 16.0).astype(np.float32).reshape(-1, 8, 8, 1)
    return images, table.y.astype(np.int64)


def load_images(path: str | os.PathLike[str]) -> np.ndarray:
    """A stack of images: a ``.npy`` array (N, H, W) or (N, H, W, C), or every image
    file (.png, .tif, .npy) in a folder, all of one shape."""
    source = Path(path)
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise InputError(
                f"folder {str(source)!r} holds no images ({', '.join(IMAGE_SUFFIXES)})"
            )
        images = [read_image(f)[0] for f in files]
        shapes = {im.shape for im in images}
        if len(shapes) > 1:
            raise InputError(f"images in {str(source)!r} differ in shape: {sorted(shapes)[:3]}")
        stack = np.stack(images)
    elif source.suffix.lower() == ".npy" and source.is_file():
        try:
            stack = np.load(source, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise InputError(f"cannot read {str(source)!r}: {error}") from None
    else:
        raise InputError(
            f"--data {str(source)!r} is neither 'digits', a .npy file nor a folder of images"
        )
    if stack.ndim == 3:
        stack = stack[..., None]
    if stack.ndim != 4 or stack.shape[-1] not in (1, 2, 3, 4) or len(stack) < 2:
        raise InputError(
            f"image data {str(source)!r} has shape {stack.shape}; expected (N, H, W) or "
            "(N, H, W, C) with N >= 2 and C <= 4"
        )
    if stack.dtype == np.uint8:
        stack = stack / 255.0
    elif stack.dtype == np.uint16:
        stack = stack / 65535.0
    elif stack.dtype.kind not in "biuf":
        raise InputError(f"image data {str(source)!r} has unsupported dtype {stack.dtype}")
    stack = stack.astype(np.float32)
    if not np.all(np.isfinite(stack)):
        raise InputError(f"image data {str(source)!r} contains NaN or infinite values")
    return stack


def to_rows(images: np.ndarray) -> np.ndarray:
    """(N, H, W, C) -> (N, C*H*W) rows in channels-first order."""
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2)).reshape(len(images), -1)


def from_rows(rows: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """(N, C*H*W) rows -> (N, H, W, C) images for ``shape`` = (H, W, C)."""
    height, width, channels = shape
    return rows.reshape(len(rows), channels, height, width).transpose(0, 2, 3, 1)
