"""Validation of the arrays handed to the sub-pixel estimators.

Every public entry point of the plugin goes through these functions, so bad
input is rejected with one :class:`lamina.InputError` that names the argument,
what was expected and what came, before any work starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lamina.errors import InputError
from lamina.kinds.estimate import select_channel

__all__ = [
    "MIN_SIZE",
    "as_image",
    "as_masked_pair",
    "as_pair",
    "as_stack",
    "check_positive",
    "require_texture",
    "select_channel",
]

#: Smallest side accepted for registration: below it the spectrum has too few
#: bins for a coarse peak and a noise estimate from the residual.
MIN_SIZE = 8


def as_image(
    image: Any,
    name: str = "image",
    *,
    min_size: int = MIN_SIZE,
    dtype: type = np.float64,
    integers: bool = False,
) -> np.ndarray:
    """Return ``image`` as a finite 2-D float array of ``dtype`` (never the caller's buffer
    when a conversion happens; never written to either way).

    Accepted: float arrays of shape (H, W) or (H, W, 1); with ``integers=True``
    also integer pixels, scaled to [0, 1] (or [-1, 1] when signed) as
    :func:`skimage.util.img_as_float` does. Rejected with
    :class:`~lamina.InputError`: integer pixels otherwise (lamina works on float
    images in [0, 1]; convert with ``skimage.util.img_as_float32``), boolean and
    complex pixels, colour images (choose a channel explicitly, see
    :func:`select_channel`), NaN/inf, empty arrays and sides shorter than
    ``min_size``.
    """
    if isinstance(image, (str, bytes)) or image is None:
        raise InputError(f"{name} must be a 2-D float array, got {type(image).__name__}")
    array = np.asarray(image)
    kind = array.dtype.kind
    if integers and kind in "iu" and array.size > 0:
        from skimage.util import img_as_float

        array = img_as_float(array)
        kind = "f"
    if kind in "iub":
        raise InputError(
            f"{name} has {array.dtype} pixels; expected a float image in [0, 1] "
            "(convert with skimage.util.img_as_float32 or lamina.io.read_image)"
        )
    if kind != "f":
        raise InputError(f"{name} has {array.dtype} values; expected real float pixels")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 3 and array.shape[2] in (2, 3, 4):
        raise InputError(
            f"{name} is a colour image of shape {array.shape}; position estimators work on "
            "one channel: pass image[..., c] or a grey conversion (skimage.color.rgb2gray), "
            "or use --channel on the command line"
        )
    if array.ndim != 2:
        raise InputError(f"{name} must be a 2-D (H, W) image, got shape {array.shape}")
    if array.size == 0:
        raise InputError(f"{name} is empty (shape {array.shape})")
    if min(array.shape) < min_size:
        raise InputError(
            f"{name} of shape {array.shape} is too small; each side needs at least {min_size} pixels"
        )
    if not np.all(np.isfinite(array)):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        raise InputError(f"{name} contains {bad} NaN or infinite pixel(s)")
    return array.astype(dtype, copy=False)


def as_pair(
    reference: Any,
    moving: Any,
    *,
    min_size: int = MIN_SIZE,
    dtype: type = np.float64,
    integers: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Validate a registration pair: two images of the same shape (see :func:`as_image`)."""
    ref = as_image(reference, "reference", min_size=min_size, dtype=dtype, integers=integers)
    mov = as_image(moving, "moving", min_size=min_size, dtype=dtype, integers=integers)
    if ref.shape != mov.shape:
        raise InputError(
            f"reference and moving must have the same shape, got {ref.shape} and {mov.shape}"
        )
    return ref, mov


def as_masked_pair(
    reference: Any, moving: Any, reference_mask: Any, moving_mask: Any
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Validate masks (True where a pixel is valid; None: all valid) against their
    images, and fill the invalid pixels (which may hold NaN) with the mean of the
    valid ones, so that the images themselves pass :func:`as_pair`."""
    images, masks = [], []
    for name, image, mask in (
        ("reference", reference, reference_mask),
        ("moving", moving, moving_mask),
    ):
        array = np.asarray(image)
        if array.ndim == 3 and array.shape[2] == 1:
            array = array[:, :, 0]
        valid = np.ones(array.shape, dtype=bool) if mask is None else np.asarray(mask)
        if valid.dtype.kind not in "biu" or valid.shape != array.shape:
            raise InputError(
                f"{name}_mask must be a boolean array of the {name}'s shape {array.shape}, "
                f"got {valid.dtype} of shape {valid.shape}"
            )
        valid = valid.astype(bool)
        if not np.any(valid):
            raise InputError(f"{name}_mask marks no pixel valid; True marks a valid pixel")
        if array.dtype.kind in "iu":
            from skimage.util import img_as_float

            array = img_as_float(array)
        array = np.asarray(array, dtype=np.float64)
        fill = float(np.mean(array[valid])) if np.all(np.isfinite(array[valid])) else 0.0
        images.append(np.where(valid, array, fill))
        masks.append(valid)
    return images[0], images[1], (masks[0], masks[1])


def as_stack(
    frames: Any,
    name: str = "frames",
    *,
    min_frames: int = 1,
    min_size: int = MIN_SIZE,
    integers: bool = False,
) -> list[np.ndarray]:
    """Validate a stack: a sequence of 2-D images, or a 3-D array read as (N, H, W);
    each frame as :func:`as_image` (``integers``: integer frames scaled as it says)."""
    if isinstance(frames, np.ndarray):
        if frames.ndim != 3:
            raise InputError(f"{name} as an array must be 3-D (N, H, W), got shape {frames.shape}")
        items: Sequence[Any] = list(frames)
    elif isinstance(frames, Sequence) and not isinstance(frames, (str, bytes)):
        items = frames
    else:
        raise InputError(f"{name} must be a sequence of images or an (N, H, W) array")
    if len(items) < min_frames:
        raise InputError(f"{name} needs at least {min_frames} frame(s), got {len(items)}")
    stack = [
        as_image(f, f"{name}[{i}]", min_size=min_size, integers=integers)
        for i, f in enumerate(items)
    ]
    shapes = {f.shape for f in stack}
    if len(shapes) > 1:
        raise InputError(f"{name} must all have one shape, got {sorted(shapes)}")
    return stack


def check_positive(value: float, name: str, *, allow_zero: bool = False) -> float:
    """A finite positive (or non-negative) number, else :class:`~lamina.InputError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise InputError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    ok = np.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        expected = "a finite number >= 0" if allow_zero else "a finite number > 0"
        raise InputError(f"{name} must be {expected}, got {value!r}")
    return float(value)


def require_texture(image: np.ndarray, name: str) -> None:
    """A constant image holds no position: say so instead of returning a number."""
    if np.ptp(image) == 0:
        raise InputError(f"not feasible: {name} is constant, so no shift can be measured")
