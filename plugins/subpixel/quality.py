"""How much a registration pair can say, and in which directions: the verdicts behind
``feasible`` and the ``warnings`` of a :class:`~lamina.ShiftEstimate`.

Only two things make a shift unmeasurable: images without any variation, and
texture that is one-directional beyond the noise (the aperture problem, which
has a direction to name). Everything else gets an estimate; what limits it (low
SNR, a small overlap, a periodic scene, aliasing, a fit that did not settle) is
named in a warning and is reflected in the reported uncertainty.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from lamina.errors import InputError
from lamina.plugins.subpixel.windows import Window, separable_sum, sum_product, window_array

__all__ = [
    "Texture",
    "judged_texture",
    "require_texture",
    "rounding_noise",
    "saturation_warning",
    "texture_significance",
    "valid_interior",
]

#: Standard errors a direction's gradient energy must reach to count as texture.
SIGNIFICANT_Z = 5.0

#: The weak direction of one-directional texture: below this many standard errors ...
_APERTURE_WEAK_Z = 2.0
#: ... and below this fraction of the strong direction's energy.
_APERTURE_RATIO = 0.05

#: Relative standard error of the noise power that the texture test subtracts (the
#: residual's sigma**2): measured against the true noise of 160 stripes, natural,
#: speckle and blobs views at SNR 1-100, 10 % of them 4-10 % low (at worst 21 %).
#: The subtraction is over every pixel of the windows and the weak direction of
#: one-directional texture is a small remainder: 10 % low left 3e-3 of made-up
#: texture across noisy 8-bit stripes (128 px, SNR 100), z 5.6 against the noise,
#: and fitted them 23 px off along the stripes with a standard error of 0.003 px.
_NOISE_POWER_PRECISION = 0.1

#: Rounding errors of the structure tensor's sums, in units of eps times its trace:
#: pairwise summation's bound grows as log2 of the terms, 13-20 here.
_SUM_ULPS = 16.0

#: Samples per block of :func:`_on_levels`' float64 test.
_LEVEL_BLOCK = 16384

#: Levels of the integer pixels :func:`skimage.util.img_as_float` scales to [0, 1]
#: or [-1, 1] (8 and 16 bit, unsigned and signed).
_INTEGER_LEVELS = (255, 127, 65535, 32767)


@dataclass(frozen=True)
class Texture:
    """Gradient energy of the content along its principal directions (two for
    images, three for volumes).

    ``energy[i]`` is ``u_i^T G u_i`` for the eigenvectors ``u_i`` (columns of
    ``directions``) of the structure tensor ``G = sum w**2 grad g grad g^T`` with
    its noise power subtracted, smallest first; ``error[i]`` is what noise alone
    makes it vary by, ``discretisation[i]`` how much of it the central
    differences may have made up, ``subtraction`` what an error of the noise
    power leaves of the noise in every direction, ``arithmetic`` what the
    rounding of its sums may have made up in every direction
    (:func:`texture_significance`).
    """

    energy: np.ndarray
    error: np.ndarray
    directions: np.ndarray
    discretisation: np.ndarray
    subtraction: float = 0.0
    arithmetic: float = 0.0

    # The verdicts below ask for these several times each: taken once (the fields
    # are frozen).
    @functools.cached_property
    def z(self) -> np.ndarray:
        """Significance of each direction, in standard errors of the noise."""
        return _significance(self.energy, self.error)

    @functools.cached_property
    def _doubted(self) -> tuple[np.ndarray, np.ndarray]:
        """Significance against the noise, its subtraction, the discretisation and
        the arithmetic together; and which directions are far weaker than the
        strongest."""
        # in Python floats, term by term as the array expression would (squares as
        # products, the scalars' own powers, the same order of the sums)
        scalars = (self.subtraction**2, self.arithmetic**2)
        doubt = np.array(
            [
                math.sqrt(error * error + discretisation * discretisation + scalars[0] + scalars[1])
                for error, discretisation in zip(
                    self.error.tolist(), self.discretisation.tolist(), strict=True
                )
            ]
        )
        return _significance(self.energy, doubt), _far_weaker(self.energy, self.error)

    def _unmeasured(self, threshold: float) -> np.ndarray:
        """Directions far weaker than the strongest whose texture stays under
        ``threshold`` standard errors against the noise, its subtraction, the
        discretisation and the arithmetic together: what one-directional content
        looks like."""
        significance, far_weaker = self._doubted
        return (significance < threshold) & far_weaker

    def direction(self, index: int = 0) -> str:
        """Principal direction ``index`` (0: the weakest) in words: degrees from the x
        axis for images, a unit vector (z, y, x) for volumes."""
        vector = self.directions[:, index]
        if len(vector) == 2:
            return f"{np.degrees(np.arctan2(*vector)) % 180.0:.0f} degrees from the x axis"
        vector = vector * np.sign(vector[np.argmax(np.abs(vector))])
        return f"(z, y, x) = ({', '.join(f'{v:.2f}' for v in vector)})"

    def require_two_directions(self) -> None:
        """Refuse texture that is one-directional (images; one- or two-directional for
        volumes) beyond the noise (aperture problem): strong along one direction,
        insignificant (against the noise and the discretisation both: central
        differences give each wave number of noise-free stripes its own gradient
        direction, a cross texture far above a noise-free residual) and far weaker
        along another."""
        # insignificant against all, far weaker even at the noise's upper bound
        weak = self._unmeasured(_APERTURE_WEAK_Z)
        if self.z[-1] < SIGNIFICANT_Z or not weak[0]:
            return
        count = int(np.count_nonzero(weak))
        kept = len(self.energy) - count
        which = "images" if len(self.energy) == 2 else "volumes"
        lost = (
            f"motion along {self.direction(0)} cannot be measured"
            if count == 1
            else f"only motion along {self.direction(-1)} can be measured"
        )
        texture = "one direction" if kept == 1 else "two directions"
        raise InputError(
            f"not feasible: the {which} have texture in {texture} only (aperture problem); {lost}"
        )

    def unmeasured(self, shape: tuple[int, ...]) -> np.ndarray:
        """Covariance of the motion along the directions the estimate cannot tell:
        texture insignificant against the noise and far weaker than the strongest
        direction's (one-directional content the aperture check let through, as
        the overlap of a scene textured elsewhere). The fit's curvature there
        comes from the windows' edges and the pixels' discretisation, not the
        content, so the estimate along such a direction ``u`` is a guess anywhere
        along the views: variance ``L**2 / 3`` with ``L = sum |u_i| shape_i``."""
        covariance = np.zeros((len(shape), len(shape)))
        for index in np.flatnonzero(self._unmeasured(SIGNIFICANT_Z)):
            direction = self.directions[:, index]
            extent = float(np.abs(direction) @ np.asarray(shape, dtype=np.float64))
            covariance += extent**2 / 3.0 * np.outer(direction, direction)
        return covariance

    def warnings(self) -> list[str]:
        """``low SNR`` warnings for directions whose texture does not stand out of the noise."""
        weak_z, strong_z = self.z[0], self.z[-1]
        if strong_z < SIGNIFICANT_Z:
            return [
                f"low SNR: the texture stands only {max(strong_z, 0.0):.1f} standard errors above "
                "the noise; the estimate may be far off and its uncertainty is large"
            ]
        if weak_z < SIGNIFICANT_Z:
            return [
                f"low SNR: along {self.direction(0)} the texture stands "
                f"only {max(weak_z, 0.0):.1f} standard errors above the noise"
            ]
        if self._unmeasured(SIGNIFICANT_Z)[0]:
            return [
                f"low SNR: along {self.direction(0)} the texture does not stand out of the "
                "noise and what the pixel grid makes of one-directional content; the "
                "motion along it is not measured"
            ]
        return []


def texture_significance(
    reference: np.ndarray,
    moving: np.ndarray,
    windows: tuple[Window, Window],
    sigma: float,
) -> Texture:
    """Structure tensor of a windowed pair's content and its noise (images or volumes).

    The spectrum of a windowed image also holds the window's own edges, which
    move with the shift estimate and would pass for information; so the test uses
    the content's gradients (central differences, noise variance sigma**2 / 2 per
    axis) weighted by the squared windows: ``G = sum w**2 grad g grad g^T``, less
    its noise. Along a unit direction ``u``, ``u^T G u`` varies by
    ``4 (u.grad g)**2 n + 2 n**2`` per pixel with noise power ``n``.

    Central differences scale a wave number ``k`` along each axis by
    ``sin(k_i) / k_i``, which turns the gradients of one-directional content
    with several wave numbers into several directions, texture made up across
    them. ``discretisation[i]`` is how much the eigenvalue ``i`` of ``G`` exceeds
    its value with fourth-order differences (error ``O(k**4)``, ``O(k**2)`` for
    central ones), less its noise part; 0 where the noise alone rules out
    one-directional texture.

    ``windows`` may be given as their per-axis profiles (:data:`.windows.Window`):
    for images the sums then take them a profile at a time, the same sums in
    fewer passes over the pair, and the full windows are built only where needed.
    """
    axes = reference.ndim
    moments = np.zeros((axes, axes))
    squared = np.zeros(2)
    noise = 0.5 * sigma**2
    for image, window in zip((reference, moving), windows, strict=True):
        if isinstance(window, np.ndarray) or axes != 2:
            image_moments, image_squared = _gradient_moments(image, window_array(window))
        else:
            image_moments, image_squared = _separable_gradient_moments(image, window)
        moments += image_moments
        squared += image_squared
    moments = moments / 8.0 - noise * squared[0] / 2.0 * np.eye(axes)
    eigenvalues, vectors = np.linalg.eigh(moments)
    errors = np.sqrt(
        np.maximum(
            4.0 * noise * np.maximum(eigenvalues, 0.0) * squared[1] / squared[0]
            + 2.0 * noise**2 * squared[1],
            0.0,
        )
    )
    discretisation = np.zeros(axes)
    if _far_weaker(eigenvalues, errors)[0]:
        # only then can it make a direction insignificant
        discretisation = _discretisation(reference, moving, windows, sigma)
    subtraction = _NOISE_POWER_PRECISION * noise * squared[0] / 2.0
    # The gradients' rounded products and sums hold the weak eigenvalue of
    # one-directional texture only to about eps times the trace: 9e-7 of 236 on
    # noise-free float32 stripes, against a fit's noise of 2e-5 that made it 24
    # standard errors of texture across them.
    precision = np.result_type(reference.dtype, np.float32)
    arithmetic = _SUM_ULPS * float(np.finfo(precision).eps) * max(float(np.trace(moments)), 0.0)
    return Texture(eigenvalues, errors, vectors, discretisation, subtraction, arithmetic)


def _gradient_moments(image: np.ndarray, window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``sum w**2 dg_a dg_b`` of the doubled central differences ``dg`` (see
    :func:`texture_significance`), and ``sum w**2`` and ``sum w**4``."""
    axes = image.ndim
    moments = np.zeros((axes, axes))
    # central differences on the interior (the windows vanish at the border),
    # left doubled: their halving is a power of two, taken out of the sums
    doubled = [_central_difference(image, axis, halved=False) for axis in range(axes)]
    weight = window[(slice(1, -1),) * axes] ** 2
    weighted = [weight * gradient for gradient in doubled]
    for a in range(axes):
        for b in range(a, axes):
            moments[a, b] = moments[b, a] = sum_product(weighted[a], doubled[b])
    return moments, np.array([np.sum(weight, dtype=np.float64), sum_product(weight, weight)])


def _separable_gradient_moments(
    image: np.ndarray, profiles: Sequence[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_gradient_moments` of an image whose window is the outer product of
    ``profiles`` (rows, columns): the products of the differences summed with the
    profiles squared as weights (:func:`.windows.separable_sum`).

    Every array is whole rows, contiguous: a difference or product of 2-D slices
    cut on both axes took three times as long as over the same number of
    contiguous samples. The differences along a row are those of the flattened
    image, wrapping from one row's end into the next row's start in the border
    columns, which weigh 0.
    """
    height, width = image.shape
    flat = np.ravel(image)
    down = image[2:] - image[:-2]
    # along the row: sample (i, j) is the difference centred at flat index
    # i * width + j, for the interior rows i = 1 .. height - 2
    across = (flat[2:] - flat[:-2])[width - 1 : width - 1 + (height - 2) * width]
    across = across.reshape(height - 2, width)
    products = np.empty((3, height - 2, width), dtype=down.dtype)
    np.multiply(down, down, out=products[0])
    np.multiply(down, across, out=products[1])
    np.multiply(across, across, out=products[2])
    squares_y, squares_x = (np.square(profile.astype(down.dtype)) for profile in profiles)
    weights_y = squares_y[1:-1]
    weights_x = np.zeros(width, dtype=down.dtype)
    weights_x[1:-1] = squares_x[1:-1]
    yy, yx, xx = separable_sum(products, (weights_y, weights_x)).tolist()
    moments = np.array([[yy, yx], [yx, xx]])
    wide_y, wide_x = weights_y.astype(np.float64), weights_x.astype(np.float64)
    totals = [np.add.reduce(wide_y) * np.add.reduce(wide_x), (wide_y @ wide_y) * (wide_x @ wide_x)]
    return moments, np.array(totals)


def _far_weaker(energy: np.ndarray, error: np.ndarray) -> np.ndarray:
    """Directions sure to be far weaker than the strongest: even their upper bound is
    small."""
    # in Python floats (the same double arithmetic) without the array operations'
    # overhead: two or three directions, twice a registration
    bound = 2 * _APERTURE_RATIO * float(energy[-1])
    return np.array(
        [
            value + 3.0 * doubt <= bound
            for value, doubt in zip(energy.tolist(), error.tolist(), strict=True)
        ]
    )


def _discretisation(
    reference: np.ndarray, moving: np.ndarray, windows: tuple[Window, Window], sigma: float
) -> np.ndarray:
    """How much texture the central differences of :func:`texture_significance` may
    have made up along each principal direction (smallest first): the excess of
    their structure tensor's eigenvalues over those with fourth-order differences."""
    axes = reference.ndim
    central_moments, fourth_moments = np.zeros((axes, axes)), np.zeros((axes, axes))
    total = 0.0
    inner = (slice(1, -1),) * axes
    for image, window in zip((reference, moving), windows, strict=True):
        # fourth-order differences reach two samples out: one past a mask's edge
        # that the central ones keep out of
        weight = ndimage.minimum_filter(window_array(window), 3)[inner][inner] ** 2
        central = [_central_difference(image, axis)[inner] for axis in range(axes)]
        # (8 (g[i+1] - g[i-1]) - (g[i+2] - g[i-2])) / 12
        fourth = [
            (4.0 * central[axis] - _central_difference(image, axis, step=2)) / 3.0
            for axis in range(axes)
        ]
        for a in range(axes):
            for b in range(a, axes):
                central_moments[a, b] += sum_product(weight, central[a] * central[b])
                fourth_moments[a, b] += sum_product(weight, fourth[a] * fourth[b])
        total += np.sum(weight, dtype=np.float64)
    excess = (
        np.linalg.eigvalsh(central_moments, UPLO="U") - np.linalg.eigvalsh(fourth_moments, UPLO="U")
    ) / 2.0
    # Fourth-order differences carry more noise, (1 + 64 + 64 + 1) / 144 sigma**2
    # against 1 / 2. Less texture than fourth-order differences see (content near
    # Nyquist) is none made up.
    return np.maximum(excess + (130.0 / 144.0 - 0.5) * sigma**2 * total / 2.0, 0.0)


def _significance(energy: np.ndarray, error: np.ndarray) -> np.ndarray:
    """``energy / error`` in standard errors; infinite for energy without any error,
    0 for none."""
    # two or three directions: in Python floats (the same double division) without
    # the array operations' overhead (7 us a call, twice a registration)
    return np.array(
        [
            value / doubt if doubt > 0 else (math.inf if value > 0 else 0.0)
            for value, doubt in zip(energy.tolist(), error.tolist(), strict=True)
        ]
    )


def valid_interior(windows: tuple[Window, Window]) -> tuple[np.ndarray, np.ndarray]:
    """Each window (:data:`.windows.Window`) at its smallest over the pixel's (voxel's)
    3 x ... x 3 neighbourhood: the central differences of the texture test reach
    one sample past a mask's edge, into what fills the invalid samples."""
    first, second = (window_array(window) for window in windows)
    return (ndimage.minimum_filter(first, 3), ndimage.minimum_filter(second, 3))


def require_texture(
    reference: np.ndarray,
    moving: np.ndarray,
    masks: tuple[np.ndarray, np.ndarray] | None,
    sigma: float,
) -> None:
    """Refuse a pair whose valid samples, all of them, hold texture in one direction
    only (images; one or two for volumes): the aperture problem of the whole scene,
    not of an overlap too small to show its texture (that is a low-SNR estimate).
    The edges of masked-out blocks are no texture."""
    flat = np.ones(reference.shape)
    valid = (flat, flat) if masks is None else valid_interior((masks[0] * flat, masks[1] * flat))
    texture_significance(reference, moving, valid, sigma).require_two_directions()


def judged_texture(
    reference: np.ndarray,
    moving: np.ndarray,
    windows: tuple[Window, Window],
    sigma: float,
    masks: tuple[np.ndarray, np.ndarray] | None,
    scene_sigma: Callable[[], float],
) -> Texture:
    """The windowed pair's texture (:func:`texture_significance` against
    ``sigma``), refused for the aperture problem only when the whole views are
    one-directional too (:func:`require_texture` against ``scene_sigma()``,
    asked for only then): an overlap that lacks texture along a direction is
    otherwise a low-SNR estimate, named by :meth:`Texture.warnings`."""
    texture = texture_significance(reference, moving, windows, sigma)
    try:
        texture.require_two_directions()
    except InputError:
        require_texture(reference, moving, masks, scene_sigma())
    return texture


#: Share of an image's valid pixels exactly at an end of the [0, 1] range (where 8-
#: and 16-bit pixels scale 0 and full scale) from which a pair is called saturated:
#: 0.35 % of clipped pixels on 128 px views of the moon at high SNR gave +-2 sigma
#: coverage 0.78.
SATURATED_SHARE = 1e-3


def saturation_warning(
    reference: np.ndarray, moving: np.ndarray, masks: tuple[np.ndarray, np.ndarray] | None
) -> str | None:
    """A ``saturated`` warning when either image (within [0, 1]) holds at least
    :data:`SATURATED_SHARE` of its valid pixels exactly at 0 or 1. Content clipped
    after the motion (a camera's highlights and shadows) does not move with the
    scene, and biases the estimate beyond its uncertainty (views of camera,
    astronaut and moon clipped to 8 bits: coverage 0.73-0.88, |z| up to 8.8); left
    out with the masks, the same pairs give 0.85-0.97."""
    shares = []
    for index, image in enumerate((reference, moving)):
        values = image if masks is None else image[masks[index]]
        if values.size == 0 or values.min() < 0 or values.max() > 1:
            shares.append(0.0)
            continue
        shares.append(float(np.count_nonzero((values == 0) | (values == 1))) / values.size)
    worst = int(np.argmax(shares))
    if shares[worst] < SATURATED_SHARE:
        return None
    which = ("reference", "moving")[worst]
    return (
        f"saturated: {shares[worst]:.1%} of the {which} image's pixels sit at an end of its "
        "range (0 or full scale); clipped content does not move with the scene and can "
        "bias the estimate beyond its uncertainty: leave them out with reference_mask / "
        "moving_mask"
    )


def rounding_noise(
    reference: np.ndarray, moving: np.ndarray, masks: tuple[np.ndarray, np.ndarray] | None
) -> float:
    """Standard deviation ``step / sqrt(12)`` of the rounding of integer samples (8 or
    16 bit, as :func:`skimage.util.img_as_float` scales them), found from the valid
    samples' values, so masked and already converted input counts too; 0 for other
    data. No fit may report less noise: the aliasing of rounded one-directional
    texture would pass for texture across it."""
    steps = [0.0]
    for index, image in enumerate((reference, moving)):
        values = np.ravel(image) if masks is None else image[masks[index]]
        # converted input rounds once more to its float type
        tolerance = 4.0 * float(np.finfo(values.dtype).eps) if values.dtype.kind == "f" else 0.0
        # a few values first, on every level at once: other data fails there at
        # the cost of one small array operation (one test per level took 0.2 ms)
        for levels in _levels_of(values[:64], tolerance):
            if _on_levels(values, levels, tolerance):
                steps.append(1.0 / levels)
                break
    return max(steps) / float(np.sqrt(12.0))


def _levels_of(values: np.ndarray, tolerance: float) -> list[int]:
    """The :data:`_INTEGER_LEVELS` on which every one of ``values`` lies, on more than
    one level (as :func:`_on_levels` judges each), in their order."""
    if values.size and not any(
        _on_level(float(values[0]), level, tolerance) for level in _INTEGER_LEVELS
    ):
        # float data is off every level at its first value already: judged in Python
        # floats (the same double arithmetic) without the array operations' overhead
        return []
    levels = np.array(_INTEGER_LEVELS, dtype=np.float64)
    scaled = values.astype(np.float64)[:, None] * levels
    rounded = np.round(scaled)
    limits = np.maximum(1e-6, levels * tolerance)
    on = np.all(np.abs(scaled - rounded) < limits, axis=0) & (np.ptp(rounded, axis=0) > 0)
    return [int(level) for level, hit in zip(_INTEGER_LEVELS, on, strict=True) if hit]


def _on_level(value: float, levels: int, tolerance: float) -> bool:
    """Whether one value is a multiple of ``1 / levels`` (:func:`_levels_of`' test)."""
    scaled = value * levels
    return math.isfinite(scaled) and abs(scaled - round(scaled)) < max(1e-6, levels * tolerance)


def _on_levels(values: np.ndarray, levels: int, tolerance: float) -> bool:
    """Whether every value is a multiple of ``1 / levels``, on more than one level:
    values all within a millionth of a level of one another (a float image in units
    of 1e-12) are no integer samples."""
    limit = max(1e-6, levels * tolerance)
    flat = np.ravel(values)
    low, high = np.inf, -np.inf
    # a block at a time, in place: whole-image float64 temporaries (0.5 MB at 256 x
    # 256) took the allocator's fresh pages every call, 1.3 ms per image against 0.14
    for start in range(0, flat.size, _LEVEL_BLOCK):
        scaled = flat[start : start + _LEVEL_BLOCK].astype(np.float64)
        scaled *= levels
        rounded = np.round(scaled)
        scaled -= rounded
        np.abs(scaled, out=scaled)
        if not scaled.max() < limit:  # (NaN is not below it)
            return False
        low, high = min(low, float(rounded.min())), max(high, float(rounded.max()))
    return high > low


def _central_difference(
    array: np.ndarray, axis: int, *, step: int = 1, halved: bool = True
) -> np.ndarray:
    """``(a[i + step] - a[i - step]) / (2 step)`` along ``axis``, on the interior
    (``step`` samples in) of every axis; ``halved=False`` leaves out the division."""
    ahead, behind = [slice(step, -step)] * array.ndim, [slice(step, -step)] * array.ndim
    ahead[axis], behind[axis] = slice(2 * step, None), slice(None, -2 * step)
    difference = array[tuple(ahead)] - array[tuple(behind)]
    return difference / (2 * step) if halved else difference
