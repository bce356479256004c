"""The base interpolators: nearest, bilinear, bicubic, bspline3, lanczos3, lanczos4."""

from __future__ import annotations

import math
from abc import abstractmethod

import numpy as np

from lamina.errors import InputError
from lamina.params import check_choice
from lamina.plugins.interpolate.common import ResizerBase, check_memory_limit
from lamina.plugins.interpolate.engine import (
    EDGE_MODES,
    AxisOperator,
    EdgeMode,
    resample,
    working_bytes,
)
from lamina.plugins.interpolate.filters import (
    CubicBSpline,
    CubicBSplinePrefilter,
    Filter,
    Keys,
    Lanczos,
    PointSample,
    Triangle,
)

__all__ = [
    "BSpline3",
    "Bicubic",
    "Bilinear",
    "Lanczos3",
    "Lanczos4",
    "Nearest",
    "SeparableInterpolator",
]


def _check_bool(name: str, value: object) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise InputError(f"{name} must be True or False, got {value!r}")


def _check_finite(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise InputError(f"{name} must be finite, got {value!r}")
    return float(value)


class SeparableInterpolator(ResizerBase):
    """A filter applied along rows, then columns (or the cheaper order).

    Subclasses choose the filter; this class validates the common parameters
    and keeps the result inside the input's range when asked to.
    """

    #: Whether the filter can overshoot the input's range (negative lobes).
    overshoots = False

    def __init__(
        self,
        *,
        edge: EdgeMode = "reflect",
        cval: float = 0.0,
        antialias: bool = True,
        clip: bool = True,
        memory_limit: int | None = None,
    ) -> None:
        check_choice("edge", edge, EDGE_MODES)
        _check_bool("antialias", antialias)
        _check_bool("clip", clip)
        self.edge = edge
        self.cval = _check_finite("cval", cval)
        self.antialias = bool(antialias)
        self.clip = bool(clip)
        self.memory_limit = check_memory_limit(memory_limit)

    @property
    @abstractmethod
    def filter(self) -> Filter:
        """The one-dimensional filter applied along each axis."""

    @property
    def axis_operator(self) -> AxisOperator:
        """The linear map :meth:`resize` applies along each axis, before clipping.

        ``axis_operator.matrix(n_in, n_out)`` is its sparse matrix: resizing
        ``x`` from (H, W) to (h, w) gives ``R @ x @ C.T`` with ``R =
        matrix(H, h)`` and ``C = matrix(W, w)`` (for ``edge="constant"``,
        ``cval + R @ (x - cval) @ C.T``), then the clip. Stairstep composes
        these to resize in one pass.
        """
        return AxisOperator(self.filter, antialias=self.antialias, edge=self.edge)

    def _resize(self, data: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        out = resample(
            data, shape, self.filter, antialias=self.antialias, edge=self.edge, cval=self.cval
        )
        if self.overshoots and self.clip:
            self._clip_to_input(out, data)
        return out

    def _clip_to_input(self, out: np.ndarray, data: np.ndarray) -> None:
        # Per channel, so a colour image is exactly its channels resized alone.
        low, high = data.min(axis=(0, 1)), data.max(axis=(0, 1))
        if self.edge == "constant":
            low, high = np.minimum(low, self.cval), np.maximum(high, self.cval)
        np.clip(out, low, high, out=out)

    def _working_bytes(self, in_shape: tuple[int, int, int], shape: tuple[int, int]) -> int:
        return working_bytes(in_shape, shape, in_shape[2])


_COMMON_PARAMETERS = """\
    edge : {"reflect", "mirror", "clamp", "wrap", "constant"}, default "reflect"
        How the image continues past its border: ``reflect`` repeats it
        mirrored about the pixel edge (``b a | a b c``; numpy's "symmetric"),
        ``mirror`` about the border pixel's centre (``c b | a b c``; numpy's
        "reflect"), ``clamp`` repeats the border pixel, ``wrap`` tiles the
        image and ``constant`` pads with ``cval``.
    cval : float, default 0.0
        The value outside the image when ``edge="constant"``.
    antialias : bool, default True
        When reducing an axis, stretch the filter by the reduction factor so it
        low-pass filters before sampling (no aliasing). False samples the
        unstretched filter, as OpenCV does.
    memory_limit : int or None, default None
        Refuse (with :class:`lamina.InputError`, before allocating) a resize
        whose working memory would exceed this many bytes; The budget of
        :mod:`lamina.memory` (the memory available at the call, lowered by
        ``LAMINA_MEMORY_LIMIT``) applies either way."""

_CLIP_PARAMETER = """\
    clip : bool, default True
        Clip each channel of the result to that channel's range in the input
        (widened by ``cval`` when ``edge="constant"``): the filter's negative
        lobes overshoot near steps, and clipping keeps images in [0, 1]."""


class Nearest(SeparableInterpolator):
    """Nearest-neighbour interpolation: each output pixel copies the input pixel
    whose area contains its centre. A baseline; blocky when enlarging.

    Parameters
    ----------
    antialias : bool, default False
        When reducing an axis, average the input area each output pixel covers
        (exact area averaging, OpenCV's ``INTER_AREA``) instead of picking one
        pixel.
    memory_limit : int or None, default None
        Refuse (with :class:`lamina.InputError`, before allocating) a resize
        whose working memory would exceed this many bytes; The budget of
        :mod:`lamina.memory` (the memory available at the call, lowered by
        ``LAMINA_MEMORY_LIMIT``) applies either way.

    Examples
    --------
    >>> import numpy as np
    >>> from lamina.plugins.interpolate.separable import Nearest
    >>> Nearest().resize(np.array([[0.0, 1.0]], dtype=np.float32), (1, 4))
    array([[0., 0., 1., 1.]], dtype=float32)
    """

    def __init__(self, *, antialias: bool = False, memory_limit: int | None = None) -> None:
        # Sample positions and area windows never leave the image, so the edge
        # mode only resolves zero-weight taps.
        super().__init__(edge="clamp", antialias=antialias, memory_limit=memory_limit)

    @property
    def filter(self) -> Filter:
        return PointSample()


class Bilinear(SeparableInterpolator):
    """Bilinear interpolation (the triangle filter along each axis).

    Reproduces linear ramps exactly away from the border and never overshoots.

    Parameters
    ----------
    {common}

    Examples
    --------
    >>> import numpy as np
    >>> from lamina.plugins.interpolate.separable import Bilinear
    >>> Bilinear().resize(np.array([[0.0, 1.0]], dtype=np.float32), (1, 4))
    array([[0.  , 0.25, 0.75, 1.  ]], dtype=float32)
    """

    def __init__(
        self,
        *,
        edge: EdgeMode = "reflect",
        cval: float = 0.0,
        antialias: bool = True,
        memory_limit: int | None = None,
    ) -> None:
        super().__init__(edge=edge, cval=cval, antialias=antialias, memory_limit=memory_limit)

    @property
    def filter(self) -> Filter:
        return Triangle()


class Bicubic(SeparableInterpolator):
    """Keys cubic convolution, ``a = -0.5`` by default [1]_.

    With ``a = -0.5`` the interpolant is third-order accurate: it reproduces
    quadratics exactly away from the border. Pillow's BICUBIC uses the same
    kernel; OpenCV's INTER_CUBIC uses ``a = -0.75`` (sharper, less accurate).

    Parameters
    ----------
    a : float, default -0.5
        The kernel's free parameter, in [-1, 0].
    {common}
    {clip}

    References
    ----------
    .. [1] R. Keys, "Cubic convolution interpolation for digital image
       processing", IEEE Trans. ASSP 29(6), 1981, doi:10.1109/TASSP.1981.1163711.

    Examples
    --------
    >>> import numpy as np
    >>> from lamina.plugins.interpolate.separable import Bicubic
    >>> ramp = np.linspace(0, 1, 8, dtype=np.float32)[None, :].repeat(4, axis=0)
    >>> Bicubic().resize(ramp, (8, 16)).shape
    (8, 16)
    """

    overshoots = True

    def __init__(
        self,
        *,
        a: float = -0.5,
        edge: EdgeMode = "reflect",
        cval: float = 0.0,
        antialias: bool = True,
        clip: bool = True,
        memory_limit: int | None = None,
    ) -> None:
        a = _check_finite("a", a)
        if not -1.0 <= a <= 0.0:
            raise InputError(f"a must be in [-1, 0] (Keys uses -0.5, OpenCV -0.75), got {a}")
        self.a = a
        super().__init__(
            edge=edge, cval=cval, antialias=antialias, clip=clip, memory_limit=memory_limit
        )

    @property
    def filter(self) -> Filter:
        return Keys(self.a)


class BSpline3(SeparableInterpolator):
    """Cubic B-spline interpolation with the exact prefilter [2]_.

    The image is first turned into B-spline coefficients by the spline
    prefilter, which are then resampled with the cubic B-spline kernel, so
    the result passes through the samples and reproduces cubics exactly away
    from the border. It matches ``scipy.ndimage.zoom(order=3,
    grid_mode=True)`` and scikit-image's ``resize(order=3)`` (to 1e-6), and
    is much faster.

    The coefficients are computed on a grid extended past the border with the
    edge mode, so every mode is exact, not only the mirror-symmetric ones the
    recursive prefilter handles natively. When reducing with ``antialias``,
    the coefficients are resampled with the B-spline kernel stretched by the
    reduction factor.

    Parameters
    ----------
    {common}
    {clip}

    References
    ----------
    .. [2] M. Unser, A. Aldroubi and M. Eden, "B-spline signal processing:
       Part II -- efficient design and applications", IEEE Trans. Signal
       Processing 41(2), 1993, doi:10.1109/78.193221.

    Examples
    --------
    >>> import numpy as np
    >>> from lamina.plugins.interpolate.separable import BSpline3
    >>> image = np.random.default_rng(0).random((16, 16), dtype=np.float32)
    >>> BSpline3().resize(image, (32, 48)).shape
    (32, 48)
    """

    overshoots = True

    @property
    def filter(self) -> Filter:
        return CubicBSpline()

    @property
    def axis_operator(self) -> AxisOperator:
        """The prefilter onto the extended grid, then the B-spline kernel."""
        return AxisOperator(
            self.filter,
            antialias=self.antialias,
            edge=self.edge,
            prefilter=CubicBSplinePrefilter(),
        )

    def _margin(self, n_in: int, n_out: int) -> int:
        """Coefficients needed past each border: the B-spline's reach."""
        return self.axis_operator.margin(n_in, n_out)

    def _resize(self, data: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        margins = (self._margin(data.shape[0], shape[0]), self._margin(data.shape[1], shape[1]))
        extended = (data.shape[0] + 2 * margins[0], data.shape[1] + 2 * margins[1])
        coefficients = resample(
            data, extended, CubicBSplinePrefilter(), antialias=False, edge=self.edge, cval=self.cval
        )
        out = resample(
            coefficients,
            shape,
            self.filter,
            antialias=self.antialias,
            edge="clamp",
            pad=margins,
        )
        if self.clip:
            self._clip_to_input(out, data)
        return out

    def _working_bytes(self, in_shape: tuple[int, int, int], shape: tuple[int, int]) -> int:
        height, width, channels = in_shape
        extended = (
            height + 2 * self._margin(height, shape[0]),
            width + 2 * self._margin(width, shape[1]),
            channels,
        )
        return working_bytes(in_shape, extended[:2], channels) + working_bytes(
            extended, shape, channels
        )


class Lanczos3(SeparableInterpolator):
    """Lanczos interpolation with three lobes: ``sinc(x) sinc(x / 3)``, |x| < 3.

    Weights are normalised to sum to one (as Pillow and OpenCV do), so a
    constant image stays constant. Pillow's LANCZOS uses the same kernel;
    OpenCV's INTER_LANCZOS4 has four lobes (``lanczos4``).

    Parameters
    ----------
    {common}
    {clip}

    References
    ----------
    .. [3] C. E. Duchon, "Lanczos filtering in one and two dimensions",
       Journal of Applied Meteorology 18(8), 1979.

    Examples
    --------
    >>> import numpy as np
    >>> from lamina.plugins.interpolate.separable import Lanczos3
    >>> Lanczos3().scale(np.full((4, 4), 0.25, dtype=np.float32), 2.5).shape
    (10, 10)
    """

    overshoots = True
    lobes = 3

    @property
    def filter(self) -> Filter:
        return Lanczos(self.lobes)


class Lanczos4(Lanczos3):
    """Lanczos interpolation with four lobes: ``sinc(x) sinc(x / 4)``, |x| < 4.

    OpenCV's INTER_LANCZOS4 kernel (with ``edge="clamp"`` and
    ``antialias=False`` the two agree to 1e-5), for like-for-like comparisons;
    sharper than ``lanczos3`` and a little slower.

    Parameters
    ----------
    {common}
    {clip}

    Examples
    --------
    >>> import numpy as np
    >>> from lamina.plugins.interpolate.separable import Lanczos4
    >>> Lanczos4().resize(np.zeros((8, 8), dtype=np.float32), (3, 20)).shape
    (3, 20)
    """

    lobes = 4


for _cls in (Bilinear, Bicubic, BSpline3, Lanczos3, Lanczos4):
    if _cls.__doc__:  # None under python -OO
        _cls.__doc__ = _cls.__doc__.replace("    {common}", _COMMON_PARAMETERS).replace(
            "    {clip}", _CLIP_PARAMETER
        )
