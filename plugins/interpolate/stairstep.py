"""Stairstep interpolation: resize in small steps with a base interpolator."""

from __future__ import annotations

import itertools
import math
from functools import lru_cache
from typing import Any

import numpy as np

from lamina.errors import InputError
from lamina.plugins.interpolate.common import ResizerBase, check_memory_limit, check_shape
from lamina.plugins.interpolate.engine import (
    AxisOperator,
    AxisPlan,
    apply_separable,
    band_indices,
    banded_plan,
)
from lamina.protocols import Interpolator

__all__ = ["MAX_STEP", "Stairstep", "axis_schedule", "composite_matrix", "step_count"]

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


#: Absolute weight below which the tails of a composite row are dropped, per
#: step: at most 2e-10 per row per step, so even 100 steps stay far below
#: float32 resolution (6e-8 at 1.0). Without it the B-spline prefilter's
#: 29-tap tails widen the band of a 15-step composite from 39 to 51 pixels.
_TAIL = 1e-10


def _trim_tails(matrix: Any, *, wrap: bool) -> Any:
    """Drop each row's leading and trailing weights, along its band (see
    :func:`~lamina.plugins.interpolate.engine.band_indices`), whose absolute
    sum is below :data:`_TAIL`; the band stays contiguous. CSR in and out."""
    rows, index = band_indices(matrix, wrap=wrap)
    order = np.lexsort((index, rows))  # along the band within each row
    magnitude = np.abs(matrix.data[order])
    total = np.concatenate([[0.0], np.cumsum(magnitude)])
    counts = np.diff(matrix.indptr)
    row_start = np.repeat(total[matrix.indptr[:-1]], counts)
    row_stop = np.repeat(total[matrix.indptr[1:]], counts)
    through = total[1:] - row_start  # |weights| from the band's start through this one
    onward = row_stop - total[:-1]  # |weights| from this one to the band's end
    matrix.data[order[(through < _TAIL) | (onward < _TAIL)]] = 0.0
    matrix.eliminate_zeros()
    return matrix


@lru_cache(maxsize=16)
def composite_matrix(operator: AxisOperator, sizes: tuple[int, ...]) -> Any:
    """The product of the per-step matrices of one axis: the ``(sizes[-1],
    sizes[0])`` sparse matrix that takes the axis through every size in
    ``sizes`` with ``operator`` in one go.

    Products are formed from the small end on (the first step when
    enlarging, the last when reducing), so every partial product has as few
    rows as the axis ever has, in float64, on the 1-D sizes only. After each
    one, every row's leading and trailing weights whose absolute values sum to
    less than 1e-10 are dropped, which keeps the band as narrow as the weights
    that matter. Cached (treat the result as read-only).
    """
    from scipy import sparse

    wrap = operator.edge == "wrap"
    steps = [(n_in, n_out) for n_in, n_out in itertools.pairwise(sizes) if n_in != n_out]
    if sizes[-1] >= sizes[0]:
        product = sparse.csr_array(sparse.identity(sizes[0]))
        for n_in, n_out in steps:
            product = _trim_tails(operator.matrix(n_in, n_out) @ product, wrap=wrap)
        return product
    # Reducing: from the output side, a product of sizes[-1] rows whatever the step.
    product = sparse.csr_array(sparse.identity(sizes[-1]))
    for n_in, n_out in reversed(steps):
        product = _trim_tails(sparse.csr_array(product @ operator.matrix(n_in, n_out)), wrap=wrap)
    return product


@lru_cache(maxsize=32)
def _composite_plan(
    operator: AxisOperator, sizes: tuple[int, ...], axis: int, channels: int
) -> AxisPlan | None:
    if sizes[0] == sizes[-1]:  # the schedule is monotone: the axis never changes
        return None
    return banded_plan(
        composite_matrix(operator, sizes),
        axis=axis,
        channels=channels,
        wrap=operator.edge == "wrap",
    )


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

    Every base of this plugin is linear and separable: one step multiplies
    each axis by a sparse matrix that encodes the filter, the anti-aliasing
    and the edge mode (see ``axis_operator`` on the bases). With ``compose=True``
    (the default) the steps' matrices of each axis are multiplied together
    once, on the 1-D sizes (:func:`composite_matrix`, cached), and the image
    is resized by the composite in one pass per axis: the same linear map as
    the steps, at one to two times the cost of a direct resize instead of
    ``n_steps_`` of them. The composite is banded -- for 512 -> 2048 each
    output pixel reads 12 (bilinear), 19 (bicubic), 28 (lanczos3), 36
    (lanczos4) or 39 (bspline3) input pixels instead of 2 to 8 -- and kept
    sparse: its rows' outermost weights summing to less than 1e-10 are
    dropped after each product (the composite moves by less than 1e-9).

    **How the composite differs from the steps.** Up to float rounding (about
    1e-6) the results are equal, except for the clipping of the bases that
    overshoot (bicubic, bspline3, lanczos3, lanczos4 with ``clip=True``, their
    default). Step by step, each step's result is clipped to the range of
    that step's input; the composite clips once, at the end, to the range of
    the original input (per channel, widened by ``cval`` for
    ``edge="constant"``). The two are therefore equal to float rounding
    whenever no step's unclipped result leaves the range of its input --
    always with ``clip=False`` or the bilinear base, and on smooth images
    whose extremes are not overshot. Where steps do overshoot (sharp edges,
    and the maxima and minima of most natural images), the composite keeps
    the overshoot of the inner steps that the steps clipped away, bounded by
    the final clip: the largest difference measured on scikit-image's camera,
    astronaut, coffee and chelsea enlarged x4 is 0.07 to 0.13 (of 1) near
    edges, with PSNR 0.01 dB above the steps'. For ``edge="constant"``
    each step is affine, ``cval + M @ (x - cval)`` (its weights sum to one),
    and so is the composite, which subtracts and adds ``cval`` around the
    product.

    ``compose=False`` applies the steps one by one with the base, faithfully.
    So do bases that are not a
    :class:`~lamina.plugins.interpolate.separable.SeparableInterpolator` (such as
    third-party interpolators, whose weights are unknown), and one-step
    schedules, which call the base directly.

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
    compose : bool, default True
        Resize by the product of the steps' per-axis matrices in one pass per
        axis (bases of this plugin); False applies the steps one by one.
    memory_limit : int or None, default None
        Refuse (with :class:`lamina.InputError`, before any work) a resize
        whose working memory would exceed this many bytes: step by step, the
        largest step's input, output and intermediate; composed, the output
        and one intermediate (never more than the steps). The budget of
        :mod:`lamina.memory` (the memory available at the call, lowered by
        ``LAMINA_MEMORY_LIMIT``) applies either way.

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
        compose: bool = True,
        memory_limit: int | None = None,
    ) -> None:
        for name, value in (("force", force), ("compose", compose)):
            if not isinstance(value, (bool, np.bool_)):
                raise InputError(f"{name} must be True or False, got {value!r}")
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
        self.compose = bool(compose)
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
        from lamina.plugins.interpolate.separable import Nearest

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
        source = check_shape(tuple(in_shape[:2]), name="in_shape", max_side=None)
        target = check_shape(shape)
        steps = max(step_count(n, m, self.step) for n, m in zip(source, target, strict=True))
        heights, widths = (
            axis_schedule(n, m, steps, self.step) for n, m in zip(source, target, strict=True)
        )
        return tuple(zip(heights, widths, strict=True))

    def _operator(self) -> AxisOperator | None:
        """The base's per-axis linear map when the steps may be composed."""
        from lamina.plugins.interpolate.separable import SeparableInterpolator

        if self.compose and isinstance(self._base, SeparableInterpolator):
            return self._base.axis_operator
        return None

    def _shift(self, operator: AxisOperator) -> float:
        """The constant the composite subtracts before and adds after (``cval``
        for ``edge="constant"``: the steps' map is affine, not linear)."""
        return float(self._base.cval) if operator.edge == "constant" else 0.0

    def _resize(self, data: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        shapes = self.plan(data.shape, shape)
        operator = self._operator()
        if operator is None or len(shapes) == 1:
            out = self._stepwise(data, shapes)
        else:
            out = self._composite(data, shapes, operator)
        self.n_steps_ = len(shapes)
        return out

    def _stepwise(self, data: np.ndarray, shapes: tuple[tuple[int, int], ...]) -> np.ndarray:
        # Grey travels as (H, W): any base accepts that, not every one (H, W, 1).
        grey = data.shape[2] == 1
        current = data[:, :, 0] if grey else data
        for step_shape in shapes:
            current = np.asarray(self._base.resize(current, step_shape), dtype=np.float32)
        return current[:, :, np.newaxis] if grey else current

    def _composite(
        self, data: np.ndarray, shapes: tuple[tuple[int, int], ...], operator: AxisOperator
    ) -> np.ndarray:
        shape = shapes[-1]
        sizes = tuple(zip(data.shape[:2], *shapes, strict=True))  # (heights, widths)
        shift = np.float32(self._shift(operator))
        # What the steps' memory leaves for the intermediate, besides the
        # output and the shifted input (see _working_bytes), in pixels.
        budget = self._stepwise_bytes(data.shape, shape) // (4 * data.shape[2])
        budget -= shape[0] * shape[1] + (data.shape[0] * data.shape[1] if shift else 0)
        out = apply_separable(
            data - shift if shift else data,
            shape,
            lambda axis, channels: _composite_plan(operator, sizes[axis], axis, channels),
            max_intermediate=budget,
        )
        if shift:
            out += shift
        if self._base.overshoots and self._base.clip:
            self._base._clip_to_input(out, data)
        return out

    def _checked(self, data: np.ndarray, grey: bool, shape: tuple[int, int]) -> np.ndarray:
        self.n_steps_ = 0
        return super()._checked(data, grey, shape)

    def _working_bytes(self, in_shape: tuple[int, int, int], shape: tuple[int, int]) -> int:
        stepwise = self._stepwise_bytes(in_shape, shape)
        operator = self._operator()
        if operator is None or len(self.plan(in_shape, shape)) == 1:
            return stepwise
        # The output, an intermediate and the input shifted by cval
        # (edge="constant"). The passes run in the cheaper order unless its
        # intermediate would take more than the steps need; the other order's,
        # the smaller, never does (tests check this over many shapes).
        height, width, channels = in_shape
        intermediate = max(shape[0] * width, height * shape[1])
        shifted = height * width if self._shift(operator) else 0
        return min(4 * channels * (shape[0] * shape[1] + intermediate + shifted), stepwise)

    def _stepwise_bytes(self, in_shape: tuple[int, ...], shape: tuple[int, int]) -> int:
        # Every step holds its input and output; the largest pair bounds the
        # peak, and a base of this plugin also needs its intermediate.
        sizes = [in_shape[:2], *self.plan(in_shape, shape)]
        channels = in_shape[2]
        largest = max(
            4 * channels * (a[0] * a[1] + b[0] * b[1] + max(a[0] * b[1], b[0] * a[1]))
            for a, b in itertools.pairwise(sizes)
        )
        return largest
