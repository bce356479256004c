"""The built-in pipeline operations, registered as the ``pipeline`` plugin.

Every operation is a plain function with keyword-only, type-hinted arguments;
``component`` (when present) receives the step's configured component and
``context`` the run's :class:`Context` (where files are read from and written to,
and the seed of the task's randomness).

Arguments annotated :class:`pathlib.Path` name input files: the runner resolves
them against the pipeline file's folder and hashes their bytes into the task's
key. An operation that reads other files too (a scene file and the meshes it
names) lists them with a ``reads(arguments, base_dir)`` attribute; one that
writes a file names the argument holding its name as ``output_argument``, so
validation can check that the name stays inside the output folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lamina.errors import InputError

__all__ = ["Context"]


@dataclass(frozen=True)
class Context:
    """Where a task runs: the pipeline file's folder, the output folder, and
    ``seed``, drawn from the task's key so randomness is the same on every
    executor and after every retry."""

    base_dir: Path
    outdir: Path
    step: str
    index: int
    seed: int = 0


def _image(value: Any, name: str) -> np.ndarray:
    image = getattr(value, "image", value)  # a Rendering stands for its image
    array = np.asarray(image, dtype=np.float32)
    if array.ndim not in (2, 3) or array.size == 0:
        raise InputError(f"{name} must be an (H, W) or (H, W, C) image, got shape {array.shape}")
    return array


def load(*, path: Path, context: Context) -> np.ndarray:
    """Read an image (PNG/TIFF, scaled to [0, 1]) or a ``.npy`` array."""
    from lamina.io import read_image

    return read_image(context.base_dir / path)[0]


def save(*, value: Any, name: str, context: Context) -> str:
    """Write ``value`` into the output folder as ``name`` (.png, .tif, .npy or .json)."""
    from lamina.io import write_image, write_json
    from lamina.pipeline.paths import inside

    target = inside(context.outdir, name)
    if target.suffix == ".json":
        write_json(target, value)
    else:
        write_image(
            target, _image(value, "value") if target.suffix != ".npy" else np.asarray(value)
        )
    return str(target.relative_to(context.outdir.resolve()))


save.output_argument = "name"  # type: ignore[attr-defined]


def crop(*, image: Any, top: int, left: int, height: int, width: int) -> np.ndarray:
    """The ``height`` x ``width`` window of ``image`` whose corner is (top, left)."""
    array = _image(image, "image")
    if (
        top < 0
        or left < 0
        or height < 1
        or width < 1
        or top + height > array.shape[0]
        or left + width > array.shape[1]
    ):
        raise InputError(
            f"crop window ({top}, {left}, {height}, {width}) leaves the image of shape {array.shape[:2]}"
        )
    return array[top : top + height, left : left + width].copy()


def add_noise(*, image: Any, sigma: float, context: Context, seed: int | None = None) -> np.ndarray:
    """Add white Gaussian noise of standard deviation ``sigma`` (not clipped).

    Without a ``seed`` the noise is seeded by the task's key, so every frame of
    a sweep gets its own noise and a rerun, anywhere, gets the same.
    """
    if sigma < 0:
        raise InputError(f"sigma must be >= 0, got {sigma}")
    array = _image(image, "image")
    if seed is None:
        seed = context.seed
    noise = np.random.default_rng(seed).normal(0.0, sigma, array.shape)
    return (array + noise).astype(np.float32)


def shift(*, image: Any, dy: float, dx: float) -> np.ndarray:
    """Translate by (dy, dx) pixels with the Fourier shift theorem (periodic edges)."""
    from scipy.ndimage import fourier_shift

    array = _image(image, "image")
    axes = (0, 1)
    spectrum = np.fft.fftn(array, axes=axes)
    if array.ndim == 2:
        moved = fourier_shift(spectrum, (dy, dx))
    else:
        moved = np.stack(
            [fourier_shift(spectrum[..., c], (dy, dx)) for c in range(array.shape[2])], axis=-1
        )
    return np.fft.ifftn(moved, axes=axes).real.astype(np.float32)


def downsample(*, image: Any, factor: int) -> np.ndarray:
    """Average ``factor`` x ``factor`` blocks (the image is cropped to a multiple)."""
    array = _image(image, "image")
    if factor < 1 or factor > min(array.shape[:2]):
        raise InputError(f"factor must be in 1..{min(array.shape[:2])}, got {factor}")
    h, w = (array.shape[0] // factor) * factor, (array.shape[1] // factor) * factor
    blocks = array[:h, :w].reshape(h // factor, factor, w // factor, factor, *array.shape[2:])
    return blocks.mean(axis=(1, 3)).astype(np.float32)


def to_grey(*, image: Any) -> np.ndarray:
    """Luminance (Rec. 709) of an RGB(A) image, premultiplied colour taken as is."""
    array = _image(image, "image")
    if array.ndim == 2:
        return array
    # Element-wise products and sums round the same whatever the array's address;
    # a matrix product may take a different SIMD path (and differ by 1 ULP).
    r, g, b = (array[..., c].astype(np.float64) for c in range(3))
    return (0.2126 * r + 0.7152 * g + 0.0722 * b).astype(np.float32)


def compare(*, result: Any, reference: Any) -> dict[str, float]:
    """Errors of ``result`` against ``reference``: max/mean absolute, RMSE, PSNR and SSIM."""
    from skimage.metrics import structural_similarity

    a, b = (
        _image(result, "result").astype(np.float64),
        _image(reference, "reference").astype(np.float64),
    )
    if a.shape != b.shape:
        raise InputError(f"result shape {a.shape} differs from reference shape {b.shape}")
    error = a - b
    rmse = float(np.sqrt(np.mean(error**2)))
    side = min(a.shape[:2])
    ssim = structural_similarity(
        a,
        b,
        data_range=1.0,
        channel_axis=2 if a.ndim == 3 else None,
        win_size=min(7, side - (side + 1) % 2),
    )
    return {
        "max_abs_error": float(np.abs(error).max()),
        "mean_abs_error": float(np.abs(error).mean()),
        "rmse": rmse,
        "psnr_db": float(20 * np.log10(1.0 / rmse)) if rmse > 0 else float("inf"),
        "ssim": float(ssim),
    }


def image_patches(
    *, images: Sequence[Any], size: int = 8, stride: int = 8
) -> dict[str, np.ndarray]:
    """Square patches of every image as rows of a table ``{"X"}`` (values flattened)."""
    if size < 1 or stride < 1:
        raise InputError(f"size and stride must be >= 1, got {size} and {stride}")
    rows = []
    for image in images:
        array = _image(image, "images")
        if array.ndim == 3:
            array = array.mean(axis=2)
        windows = np.lib.stride_tricks.sliding_window_view(array, (size, size))[::stride, ::stride]
        rows.append(windows.reshape(-1, size * size))
    return {"X": np.concatenate(rows).astype(np.float32)}


OPERATIONS = {
    "load": load,
    "save": save,
    "crop": crop,
    "add_noise": add_noise,
    "shift": shift,
    "downsample": downsample,
    "to_grey": to_grey,
    "compare": compare,
    "image_patches": image_patches,
}
