"""What every interpolator of this plugin shares: input checks, the memory
guard, ``scale`` and parameter introspection."""

from __future__ import annotations

import numbers
import operator
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from lamina.errors import InputError
from lamina.kinds.interpolator import scaled_shape
from lamina.limits import MAX_IMAGE_SIDE
from lamina.memory import check_allocation
from lamina.params import Parameterized

__all__ = [
    "ResizerBase",
    "check_image",
    "check_memory_limit",
    "check_shape",
]


def check_image(image: Any, *, name: str = "image") -> tuple[np.ndarray, bool]:
    """Validate an image and return it as C-contiguous float32 (H, W, C).

    Returns the array (a view of ``image`` when it already is float32 and
    contiguous; never written to) and whether the input was grey (H, W).
    """
    if not isinstance(image, np.ndarray):
        raise InputError(f"{name} must be a numpy array, got {type(image).__name__}")
    if image.ndim not in (2, 3):
        raise InputError(
            f"{name} must be grey (H, W) or colour (H, W, C), got {image.ndim} dimensions "
            f"with shape {image.shape}"
        )
    if image.size == 0:
        raise InputError(f"{name} is empty: shape {image.shape}")
    if not np.issubdtype(image.dtype, np.floating):
        raise InputError(
            f"{name} must hold floating-point values (float32 in [0, 1] inside lamina), "
            f"got dtype {image.dtype}; convert with skimage.util.img_as_float32 or read it "
            "with lamina.io.read_image"
        )
    data = np.ascontiguousarray(image, dtype=np.float32)
    if not np.isfinite(data).all():
        raise InputError(f"{name} contains NaN or infinite values")
    grey = data.ndim == 2
    return (data[:, :, np.newaxis] if grey else data), grey


def check_shape(
    shape: Any, *, name: str = "shape", max_side: int | None = MAX_IMAGE_SIDE
) -> tuple[int, int]:
    """Validate a ``(height, width)`` of positive integers, each at most
    ``max_side`` (outputs: :data:`lamina.limits.MAX_IMAGE_SIDE`; None for inputs)."""
    if isinstance(shape, (str, bytes)) or not isinstance(shape, Sequence | np.ndarray):
        raise InputError(f"{name} must be (height, width), got {shape!r}")
    if len(shape) != 2:
        raise InputError(f"{name} must be (height, width), got {len(shape)} values: {tuple(shape)}")
    sizes = []
    for axis, value in zip(("height", "width"), shape, strict=True):
        if isinstance(value, (bool, np.bool_)):
            raise InputError(f"{name} {axis} must be a positive integer, got {value!r}")
        try:
            size = operator.index(value)
        except TypeError:
            raise InputError(
                f"{name} {axis} must be a positive integer, got {value!r} ({type(value).__name__})"
            ) from None
        if size <= 0:
            raise InputError(f"{name} {axis} must be a positive integer, got {size}")
        if max_side is not None and size > max_side:
            raise InputError(
                f"{name} {axis} is {size} pixels; at most {max_side} per side "
                "(lamina.limits.MAX_IMAGE_SIDE): resize larger images in tiles"
            )
        sizes.append(size)
    return sizes[0], sizes[1]


def check_memory_limit(memory_limit: Any) -> int | None:
    """Validate the ``memory_limit`` parameter: ``None`` or a positive byte count."""
    if memory_limit is None:
        return None
    if isinstance(memory_limit, bool) or not isinstance(memory_limit, numbers.Integral):
        raise InputError(
            f"memory_limit must be a positive number of bytes or None, got {memory_limit!r}"
        )
    if memory_limit <= 0:
        raise InputError(f"memory_limit must be a positive number of bytes, got {memory_limit}")
    return int(memory_limit)


class ResizerBase(Parameterized, ABC):
    """Validation, ``scale`` and parameter introspection around ``_resize``.

    Subclasses implement ``_resize(data, shape)`` on validated C-contiguous
    float32 (H, W, C) data whose shape differs from ``shape``, and
    ``_working_bytes`` for the memory guard.
    """

    memory_limit: int | None

    def resize(self, image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """Resample ``image`` to ``shape`` = (height, width).

        Parameters
        ----------
        image : ndarray, shape (H, W) or (H, W, C)
            Floating-point image; it is never modified.
        shape : tuple of int
            Output (height, width).

        Returns
        -------
        ndarray of float32, shape (height, width) or (height, width, C)
        """
        data, grey = check_image(image)
        return self._checked(data, grey, check_shape(shape))

    def scale(self, image: np.ndarray, factor: float | tuple[float, float]) -> np.ndarray:
        """Resample ``image`` by ``factor`` (one number, or (fy, fx) per axis);
        each side becomes ``round(size * factor)`` pixels, at least one."""
        data, grey = check_image(image)
        return self._checked(data, grey, scaled_shape(data.shape, factor))

    def _checked(self, data: np.ndarray, grey: bool, shape: tuple[int, int]) -> np.ndarray:
        if shape == data.shape[:2]:
            out = data.copy()
        else:
            check_allocation(
                self._working_bytes(data.shape, shape),
                what=f"resizing {data.shape[0]} x {data.shape[1]} to {shape[0]} x {shape[1]}",
                fix="choose a smaller shape, or raise memory_limit or LAMINA_MEMORY_LIMIT",
                limit=self.memory_limit,
            )
            out = self._resize(data, shape)
        return out[:, :, 0] if grey else out

    @abstractmethod
    def _resize(self, data: np.ndarray, shape: tuple[int, int]) -> np.ndarray: ...

    @abstractmethod
    def _working_bytes(self, in_shape: tuple[int, int, int], shape: tuple[int, int]) -> int: ...
