"""The interpolator kind: ``resize(image, shape)`` returns a float32 image of that shape."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from lamina.errors import InputError
from lamina.kinds import Kind, Template

if TYPE_CHECKING:
    import numpy as np

__all__ = ["DEFAULT", "KIND", "Interpolator", "scaled_shape"]

#: The interpolator ``lamina resize`` uses when none is named.
DEFAULT = "bicubic"


@runtime_checkable
class Interpolator(Protocol):
    def resize(self, image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """Return ``image`` resampled to ``shape`` = (height, width), float32."""


def scaled_shape(shape: tuple[int, ...], factor: Any) -> tuple[int, int]:
    """``shape[:2]`` times ``factor`` (one number or (fy, fx)), rounded half up;
    each side must come out in 1..:data:`lamina.limits.MAX_IMAGE_SIDE`.

    Examples
    --------
    >>> scaled_shape((3, 5), 2.5)
    (8, 13)
    """
    import numpy as np  # here, not at the top: the host reads this module at every start-up

    from lamina.limits import MAX_IMAGE_SIDE
    from lamina.memory import array_bytes, format_bytes

    if isinstance(factor, numbers.Real) and not isinstance(factor, bool):
        factors = (float(factor), float(factor))
    elif isinstance(factor, Sequence | np.ndarray) and len(factor) == 2:
        try:
            factors = (float(factor[0]), float(factor[1]))
        except (TypeError, ValueError):
            raise InputError(f"factor must be a number or (fy, fx), got {factor!r}") from None
    else:
        raise InputError(f"factor must be a positive number or (fy, fx), got {factor!r}")
    if not all(math.isfinite(f) and f > 0 for f in factors):
        raise InputError(f"factor must be finite and positive, got {factor!r}")
    result = tuple(math.floor(n * f + 0.5) for n, f in zip(shape[:2], factors, strict=True))
    if min(result) < 1:
        raise InputError(
            f"factor {factor!r} turns {shape[0]} x {shape[1]} pixels into {result[0]} x "
            f"{result[1]}: an image needs at least one pixel per side"
        )
    if max(result) > MAX_IMAGE_SIDE:
        estimate = format_bytes(array_bytes((*result, *shape[2:]), np.float32))
        raise InputError(
            f"factor {factor!r} turns {shape[0]} x {shape[1]} pixels into {result[0]} x "
            f"{result[1]} (about {estimate} as float32); at most {MAX_IMAGE_SIDE} per side "
            "(lamina.limits.MAX_IMAGE_SIDE): choose a smaller factor"
        )
    return result[0], result[1]


_TEMPLATE = '''\
"""{title}: a lamina interpolator."""

from __future__ import annotations

import numpy as np

from lamina import InputError
from lamina.memory import array_bytes, check_allocation


class {cls}:
    """Nearest-neighbour resampling: each output pixel takes the input pixel
    under its centre, so values and their range are kept exactly.

    Add keyword-only constructor parameters with type hints and defaults:
    ``lamina describe interpolator {name}`` lists them and ``--set`` sets them.

    Examples
    --------
    >>> import numpy as np
    >>> {cls}().resize(np.eye(2, dtype=np.float32), (4, 4)).shape
    (4, 4)
    """

    def resize(self, image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """Return ``image`` resampled to ``shape`` = (height, width), float32."""
        image = np.asarray(image)
        if image.ndim not in (2, 3) or 0 in image.shape[:2]:
            raise InputError(
                f"image: expected a non-empty (H, W) or (H, W, C) array, got shape {{image.shape}}"
            )
        if not np.isfinite(image).all():
            raise InputError("image: expected finite values, got NaN or infinity")
        height, width = (int(side) for side in shape)
        if height < 1 or width < 1:
            raise InputError(f"shape: expected a positive (height, width), got {{tuple(shape)}}")
        check_allocation(
            array_bytes((height, width, *image.shape[2:]), np.float32),
            what=f"a {{height}} x {{width}} output image",
            fix="ask for a smaller shape",
        )
        rows = ((np.arange(height) + 0.5) * image.shape[0] / height).astype(np.intp)
        cols = ((np.arange(width) + 0.5) * image.shape[1] / width).astype(np.intp)
        return image[rows][:, cols].astype(np.float32)
'''


KIND = Kind(
    name="interpolator",
    plural="interpolators",
    summary="Resamples an image to a new shape: float32, gray or colour, range preserved.",
    protocol="lamina.kinds.interpolator:Interpolator",
    calls={"resize": ("image", "shape")},
    checks="lamina.testing.interpolator:checks",
    commands=(
        (
            "resize",
            "lamina.kinds.resize:resize",
            "Resize image files or folders with any registered interpolator.",
        ),
    ),
    template=Template("nearest-neighbour resampling", _TEMPLATE),
)
