"""Stairstep interpolation: resize in small steps with a base interpolator."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from lamina.errors import InputError
from lamina.plugins.interpolate.common import ResizerBase, check_memory_limit, check_shape
from lamina.protocols import Interpolator

__all__ = ["MAX_STEP", "Stairstep", "axis_schedule", "step_count"]

#: The largest step the method allows without ``force``: 110% of the previous size.
MAX_STEP = 1.10

# Tolerance on size * step, so that e.g. 20 * 1.15 == 22.999999999999996 still allows 23.
_EPS = 1e-9


def _largest_next(size: int, step: float) -> int:
    """The largest size one step may reach from ``size``: ``size * step``, or one
    pixel more where that is less than a pixel (below 10 pixels at 1.10)."""
    return max(size + 1, math.floor(size * step + _EPS))


def _smallest_previous(target: int, step: float) -> int:
    """The smallest size from which one step can reach ``target``."""
    size = max(1, math.ceil(target / step) - 1)
    while _largest_next(size, step) < target:
        size += 1
    return size


def step_count(n_in: int, n_out: int, step: float) -> int:
    """The fewest steps that take an axis from ``n_in`` to ``n_out`` pixels with
    each step changing the size by a factor of at most ``step`` (or by one
    pixel where ``step`` is less than one pixel)."""
    small, large = min(n_in, n_out), max(n_in, n_out)
    count = 0
    while small < large:
        small = min(large, _largest_next(small, step))
        count += 1
    return count


def axis_schedule(n_in: int, n_out: int, steps: int, step: float) -> list[int]:
    """The sizes of one axis after each of ``steps`` steps from ``n_in`` to ``n_out``.

    Sizes follow the geometric progression ``n_in * (n_out / n_in) ** (i / steps)``
    rounded to whole pixels, moved where rounding would break the step limit;
    the last size is exactly ``n_out``. A reduction is the enlargement from
    ``n_out`` to ``n_in`` run backwards, so both directions obey the same limit.
    ``steps`` must be at least :func:`step_count`; more steps spread the change
    thinner (where it is less than a pixel per step, some leave the size as it is).
    """
    if n_out < n_in:
        backwards = axis_schedule(n_out, n_in, steps, step)
        return [*backwards[-2::-1], n_out]
    if n_out == n_in:
        return [n_in] * steps
    # The smallest size each step must reach so that the target stays reachable.
    required = [n_out] * (steps + 1)
    for i in range(steps - 1, -1, -1):
        required[i] = min(required[i + 1], _smallest_previous(required[i + 1], step))
    if required[0] > n_in:
        raise ValueError(f"{steps} steps of {step} cannot take {n_in} to {n_out}")
    sizes = []
    size = n_in
    for i in range(1, steps + 1):
        target = round(n_in * (n_out / n_in) ** (i / steps))
        size = min(max(target, size, required[i]), _largest_next(size, step))
        sizes.append(size)
    return sizes


class Stairstep(ResizerBase):
    """Stairstep interpolation: resize in steps of at most 10% with a base interpolator.

    Each step resizes the previous result by a factor of at most ``step``
    (110% by default) until the target is reached; the last step lands
    exactly on it. The two axes follow their own schedules, spread over the
    same number of steps, so unequal scale factors need no more steps than the
    larger one. Where 10% is less than one pixel (sides under 10 pixels) a step
    grows by one pixel.

    Reduction is supported symmetrically: every step shrinks by a factor of at
    most ``step``, each one filtered by the base interpolator's anti-aliasing.
    Expect it to be blurrier than a direct reduction, since the low-pass
    filters of all steps compound.

    The method is folklore from photo editing; ``benchmarks/interpolate.py``
    measures it against direct interpolation with the same base.

    Parameters
    ----------
    base : str or interpolator, default "bicubic"
        The interpolator applied at each step: the name of any registered
        interpolator (created with :func:`lamina.create`, so third-party ones
        work) or an interpolator object. ``nearest`` is refused: repeated
        nearest-neighbour steps equal one nearest-neighbour resize, only slower.
    step : float, default 1.10
        The largest size ratio of one step, in (1, 1.10].
    force : bool, default False
        Allow ``step`` above 1.10 (it must still exceed 1).
    memory_limit : int or None, default None
        Refuse (with :class:`lamina.InputError`, before the first step) a
        resize whose largest step would need more working memory than this
        many bytes; None uses the memory available at the time of the call.

    Attributes
    ----------
    n_steps_ : int
        The number of steps the last ``resize``/``scale`` call took (0 when the
        shape did not change); :meth:`plan` gives them without resizing.

    Examples
    --------
    >>> import numpy as np
    >>> from lamina.plugins.interpolate.stairstep import Stairstep
    >>> stairstep = Stairstep(base="bicubic")
    >>> stairstep.plan((100, 100), (121, 110))
    ((110, 105), (121, 110))
    >>> image = np.random.default_rng(0).random((100, 100), dtype=np.float32)
    >>> stairstep.resize(image, (121, 110)).shape
    (121, 110)
    >>> stairstep.n_steps_
    2
    """

    def __init__(
        self,
        *,
        base: str | Interpolator = "bicubic",
        step: float = MAX_STEP,
        force: bool = False,
        memory_limit: int | None = None,
    ) -> None:
        if not isinstance(force, (bool, np.bool_)):
            raise InputError(f"force must be True or False, got {force!r}")
        if isinstance(step, bool) or not isinstance(step, (int, float, np.integer, np.floating)):
            raise InputError(f"step must be a number in (1, {MAX_STEP}], got {step!r}")
        if not (math.isfinite(step) and step > 1.0):
            raise InputError(f"step must be a finite number above 1, got {step!r}")
        if step > MAX_STEP + _EPS and not force:
            raise InputError(
                f"step must be at most {MAX_STEP} (110% of the previous size per step), "
                f"got {step}; pass force=True (--set force=true) to use larger steps"
            )
        self.base = base
        self.step = float(step)
        self.force = bool(force)
        self.memory_limit = check_memory_limit(memory_limit)
        self._base = self._resolve(base)
        self.n_steps_ = 0

    @staticmethod
    def _resolve(base: Any) -> Any:
        if isinstance(base, str):
            if base in ("nearest", "stairstep"):
                raise InputError(
                    f"stairstep cannot use {base!r} as its base: "
                    + (
                        "steps of nearest neighbour add nothing to one nearest-neighbour "
                        "resize; choose bilinear, bicubic, bspline3, lanczos3 or another "
                        "interpolator"
                        if base == "nearest"
                        else "it would recurse; choose a base interpolator"
                    )
                )
            import lamina

            return lamina.create("interpolator", base)
        from lamina.plugins.interpolate.base import Nearest

        if isinstance(base, (Nearest, Stairstep)):
            raise InputError(
                f"stairstep cannot use {type(base).__name__} as its base; "
                "choose bilinear, bicubic, bspline3, lanczos3 or another interpolator"
            )
        if not isinstance(base, Interpolator):
            raise InputError(
                f"base must be an interpolator name or an object with resize(image, shape), "
                f"got {type(base).__name__}"
            )
        return base

    def plan(
        self, in_shape: tuple[int, ...], shape: tuple[int, int]
    ) -> tuple[tuple[int, int], ...]:
        """The (height, width) after each step that resizes ``in_shape[:2]`` to ``shape``.

        Empty when the shape does not change; the last entry is ``shape``.
        """
        source = check_shape(tuple(in_shape[:2]), name="in_shape")
        target = check_shape(shape)
        steps = max(step_count(n, m, self.step) for n, m in zip(source, target, strict=True))
        heights, widths = (
            axis_schedule(n, m, steps, self.step) for n, m in zip(source, target, strict=True)
        )
        return tuple(zip(heights, widths, strict=True))

    def _resize(self, data: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        # Grey travels as (H, W): any base accepts that, not every one (H, W, 1).
        grey = data.shape[2] == 1
        current = data[:, :, 0] if grey else data
        shapes = self.plan(data.shape, shape)
        for step_shape in shapes:
            current = np.asarray(self._base.resize(current, step_shape), dtype=np.float32)
        self.n_steps_ = len(shapes)
        return current[:, :, np.newaxis] if grey else current

    def _checked(self, data: np.ndarray, grey: bool, shape: tuple[int, int]) -> np.ndarray:
        self.n_steps_ = 0
        return super()._checked(data, grey, shape)

    def _working_bytes(self, in_shape: tuple[int, int, int], shape: tuple[int, int]) -> int:
        # Every step holds its input and output; the largest pair bounds the
        # peak, and a base of this plugin also needs its intermediate.
        sizes = [in_shape[:2], *self.plan(in_shape, shape)]
        channels = in_shape[2]
        largest = max(
            4 * channels * (a[0] * a[1] + b[0] * b[1] + max(a[0] * b[1], b[0] * a[1]))
            for a, b in itertools.pairwise(sizes)
        )
        return largest
