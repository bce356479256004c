"""The built-in pipeline operations, registered as the ``pipeline`` plugin.

Every operation is a plain function with keyword-only, type-hinted arguments;
``component`` (when present) receives the step's configured component and
``context`` the run's :class:`Context` (where files are read from and written to).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lamina.errors import InputError
from lamina.hookspecs import hookimpl
from lamina.registry import OperationRegistry

__all__ = ["Context"]


@dataclass(frozen=True)
class Context:
    """Where a task runs: the pipeline file's folder and the output folder."""

    base_dir: Path
    outdir: Path
    step: str
    index: int


def _image(value: Any, name: str) -> np.ndarray:
    image = getattr(value, "image", value)  # a Rendering stands for its image
    array = np.asarray(image, dtype=np.float32)
    if array.ndim not in (2, 3) or array.size == 0:
        raise InputError(f"{name} must be an (H, W) or (H, W, C) image, got shape {array.shape}")
    return array


def load(*, path: str, context: Context) -> np.ndarray:
    """Read an image (PNG/TIFF, scaled to [0, 1]) or a ``.npy`` array."""
    from lamina.io import read_image

    return read_image(context.base_dir / path)[0]


def save(*, value: Any, name: str, context: Context) -> str:
    """Write ``value`` into the output folder as ``name`` (.png, .tif, .npy or .json)."""
    from lamina.io import write_image, write_json

    target = context.outdir / name
    if target.suffix == ".json":
        write_json(target, value)
    else:
        write_image(
            target, _image(value, "value") if target.suffix != ".npy" else np.asarray(value)
        )
    return str(target.relative_to(context.outdir))


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


def add_noise(*, image: Any, sigma: float, seed: int = 0) -> np.ndarray:
    """Add white Gaussian noise of standard deviation ``sigma`` (not clipped)."""
    if sigma < 0:
        raise InputError(f"sigma must be >= 0, got {sigma}")
    array = _image(image, "image")
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
    weights = np.array([0.2126, 0.7152, 0.0722], np.float32)
    return (array[..., :3] @ weights).astype(np.float32)


def _dataset(data: Any) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(data, dict) or "X" not in data or "y" not in data:
        raise InputError("data must be a table with keys 'X' and 'y'")
    X, y = np.asarray(data["X"]), np.asarray(data["y"])
    if len(X) != len(y) or len(X) < 2:
        raise InputError(f"data has {len(X)} rows of X and {len(y)} labels")
    return X, y


def _stratified_folds(y: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold number per row: each class dealt round-robin over the folds after a shuffle."""
    rng = np.random.default_rng(seed)
    assignment = np.empty(len(y), dtype=np.int64)
    offset = 0
    for label in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == label))
        assignment[rows] = (np.arange(len(rows)) + offset) % folds
        offset += len(rows)
    return assignment


def split(*, data: Any, test_fraction: float = 0.25, seed: int = 0) -> dict[str, Any]:
    """Stratified train/test split of a table {"X", "y"}."""
    if not 0 < test_fraction < 1:
        raise InputError(f"test_fraction must be in (0, 1), got {test_fraction}")
    X, y = _dataset(data)
    folds = round(1 / test_fraction)
    test = _stratified_folds(y, folds, seed) == 0
    return {"train": {"X": X[~test], "y": y[~test]}, "test": {"X": X[test], "y": y[test]}}


def _fresh(component: Any) -> Any:
    return type(component)(**component.get_params())


def cross_validate(*, component: Any, data: Any, folds: int = 5, seed: int = 0) -> dict[str, Any]:
    """Stratified k-fold accuracy of a classifier, with fit and predict times."""
    X, y = _dataset(data)
    if not 2 <= folds <= len(y):
        raise InputError(f"folds must be in 2..{len(y)}, got {folds}")
    assignment = _stratified_folds(y, folds, seed)
    scores, fit_seconds, predict_seconds = [], 0.0, 0.0
    for fold in range(folds):
        test = assignment == fold
        learner = _fresh(component)
        start = time.perf_counter()
        learner.fit(X[~test], y[~test])
        fit_seconds += time.perf_counter() - start
        start = time.perf_counter()
        predicted = learner.predict(X[test])
        predict_seconds += time.perf_counter() - start
        scores.append(float(np.mean(predicted == y[test])))
    majority = float(np.max(np.unique(y, return_counts=True)[1]) / len(y))
    return {
        "accuracy_mean": float(np.mean(scores)),
        "accuracy_std": float(np.std(scores)),
        "majority_baseline": majority,
        "folds": folds,
        "fold_accuracy": scores,
        "fit_seconds": fit_seconds,
        "predict_seconds": predict_seconds,
    }


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


def score_shifts(
    *, estimates: Sequence[Any], true_dy: Sequence[float], true_dx: Sequence[float]
) -> dict[str, Any]:
    """Compare shift estimates with the truth and with their reported uncertainty."""
    if not (len(estimates) == len(true_dy) == len(true_dx)):
        raise InputError(
            f"{len(estimates)} estimates but {len(true_dy)} / {len(true_dx)} true shifts"
        )
    found = np.array([[e.dy, e.dx] for e in estimates], dtype=np.float64)
    sigma = np.array([e.uncertainty for e in estimates], dtype=np.float64)
    truth = np.column_stack([true_dy, true_dx]).astype(np.float64)
    error = found - truth
    z = error / np.where(sigma > 0, sigma, np.nan)
    rows = [
        {
            "true_dy": t[0],
            "true_dx": t[1],
            "dy": f[0],
            "dx": f[1],
            "sigma_dy": s[0],
            "sigma_dx": s[1],
        }
        for t, f, s in zip(truth, found, sigma, strict=True)
    ]
    return {
        "rmse_px": float(np.sqrt(np.mean(error**2))),
        "max_abs_error_px": float(np.abs(error).max()),
        "mean_reported_sigma_px": float(np.nanmean(sigma)),
        "within_2_sigma": float(np.nanmean(np.abs(z) <= 2)),
        "table": rows,
        "plot": {
            "title": "estimated vs true shift",
            "xlabel": "true shift (px)",
            "ylabel": "estimate - truth (px)",
            "x": truth[:, 1].tolist(),
            "series": {"dx error": error[:, 1].tolist(), "dy error": error[:, 0].tolist()},
            "errors": {"dx error": sigma[:, 1].tolist(), "dy error": sigma[:, 0].tolist()},
        },
    }


OPERATIONS = {
    "load": load,
    "save": save,
    "crop": crop,
    "add_noise": add_noise,
    "shift": shift,
    "downsample": downsample,
    "to_grey": to_grey,
    "split": split,
    "cross_validate": cross_validate,
    "compare": compare,
    "score_shifts": score_shifts,
}


@hookimpl
def lamina_register_operations(registry: OperationRegistry) -> None:
    """Register the built-in operations."""
    for name, function in OPERATIONS.items():
        registry.add(name, function, summary=(function.__doc__ or "").strip().splitlines()[0])
