"""Noise level from one image or from a stack of a stationary scene."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import chdtri

from lamina.plugins.subpixel.checks import as_image, as_stack

__all__ = [
    "BLOCK",
    "COARSEST_ROUNDING",
    "MAD_TO_SIGMA",
    "StackNoise",
    "haar_diagonal",
    "noise_from_image",
    "noise_from_stack",
]

#: Median of |N(0, 1)|: turns a median absolute value into a standard deviation.
MAD_TO_SIGMA = 0.6744897501960817


def noise_from_image(image: np.ndarray) -> float:
    """Standard deviation of white noise in one image, robust to the image content.

    The finest diagonal Haar wavelet coefficients ``(a - b - c + d) / 2`` of the
    2x2 blocks hold white noise at its pixel variance and little of smooth
    content, but texture leaks into them (Donoho & Johnstone 1994, whose median
    over all blocks read the grass of :func:`skimage.data.grass` as 9 grey levels
    of noise). So only weak-texture regions are measured, as in Liu, Tanaka &
    Okutomi 2013: the image is cut into blocks of ``BLOCK x BLOCK`` coefficients
    (8 x 8 px); a block's texture is the spread of its horizontal and vertical
    detail coefficients about their block means (a ramp has none); the noise
    variance is read off the flattest 5 % of blocks' texture (chi-squared with
    ``2 (BLOCK**2 - 1)`` degrees of freedom under pure noise), every block whose
    texture noise alone explains at 90 % is kept, and the estimate is the root
    mean square of the kept blocks' diagonal coefficients. The Haar transform is
    orthogonal, so under white noise the diagonal coefficients are independent of
    the detail coefficients that chose the blocks: the choice biases nothing.

    Blocks that hold no signal at all (constant: padding, a clipped sky) and
    blocks with two pixels of a 2x2 cell at the image's extreme value (clipping,
    which hides the noise) are left out while others remain. Integer samples (8
    or 16 bit, however scaled) never report less than their rounding,
    ``step / sqrt(12)``. A constant image has no noise: 0.

    Over scikit-image's camera, astronaut, coffee and moon (crops of 64-512 px,
    sigma 0.005-0.2, float and 8-bit) the estimate lies within 0.95-1.06 of the
    true sigma (median 1.05 where the old all-blocks median gave 1.11); pure
    texture (grass, gravel) still reads part of its texture as noise, an
    overestimate, never an underestimate.

    Notes
    -----
    C. Liu, M. Tanaka, M. Okutomi, "Single-image noise level estimation for blind
    denoising", IEEE Trans. Image Processing 22(12), 5226-5237 (2013);
    D. L. Donoho, I. M. Johnstone, "Ideal spatial adaptation by wavelet
    shrinkage", Biometrika 81(3), 425-455 (1994).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> image = 0.5 + rng.normal(0, 0.02, (256, 256))
    >>> round(noise_from_image(image), 3)
    0.02
    """
    data = as_image(image, "image", min_size=2)
    low, high = float(data.min()), float(data.max())
    if low == high:
        return 0.0
    # Pixels far from 1 are scaled by a power of two (exact), so that squares
    # neither overflow nor vanish.
    exponent = int(np.frexp(max(abs(low), abs(high)))[1])
    if abs(exponent) > _SAFE_EXPONENT:
        data = np.ldexp(data, -exponent)
        low, high = float(np.ldexp(low, -exponent)), float(np.ldexp(high, -exponent))
    else:
        exponent = 0
    sigma = float(np.ldexp(_weak_texture_sigma(data, low, high), exponent))
    if sigma >= COARSEST_ROUNDING:
        return sigma
    # Only low estimates can fall under a rounding, and its test costs 4 ms at 256 px.
    from lamina.plugins.subpixel.quality import rounding_noise

    return max(sigma, rounding_noise(data, data, None) * float(np.ldexp(1.0, exponent)))


#: The largest rounding of integer samples scaled as :func:`skimage.util.img_as_float`
#: does (int8: steps of 1/127), ``step / sqrt(12)``; :func:`.quality.rounding_noise`
#: finds the actual one.
COARSEST_ROUNDING = 1.0 / 127.0 / float(np.sqrt(12.0))
#: Side of the blocks, in Haar coefficients, whose texture is judged (8 x 8 px).
BLOCK = 4
#: Quantile of the blocks' texture that reads the noise level off the flattest ones.
_FLATTEST = 0.05
#: Blocks whose texture pure noise would exceed with this probability are kept.
_KEEP = 0.9
#: Binary exponents of the pixels' magnitude within which squares stay finite and normal.
_SAFE_EXPONENT = 256


def _weak_texture_sigma(image: np.ndarray, low: float, high: float) -> float:
    """Root mean square of the diagonal Haar coefficients of the weak-texture
    blocks (see :func:`noise_from_image`) of an image whose values span
    ``[low, high]``."""
    a, b, c, d = _corners(image)
    # twice the Haar details: vertical a+b-c-d, horizontal a-b+c-d, diagonal a-b-c+d
    top, bottom, left = a - b, c - d, a - c
    horizontal, diagonal, vertical = top + bottom, top - bottom, left + (b - d)
    side = min(BLOCK, *diagonal.shape)
    if side < 2:  # a single row or column of coefficients: nothing to choose from
        return float(np.sqrt(np.mean(diagonal**2) / 4))
    count = side * side
    texture = (_block_variance(vertical, side) + _block_variance(horizontal, side)) / 8
    energy = _block_sum(diagonal * diagonal, side) / (4 * count)
    live = (texture > 0) | (energy > 0)
    clipped = _clipped(image, (a, b, c, d), low, high)
    if clipped is not None:
        unclipped = live & ~(_block_sum(clipped, side) > 0)
        if np.any(unclipped):
            live = unclipped
    if not np.any(live):
        return 0.0
    texture, energy = texture[live], energy[live]
    # texture / sigma**2 of a pure-noise block: chi-squared with 2 (count - 1) dof over it
    dof = 2 * (count - 1)
    flattest = float(np.quantile(texture, _FLATTEST))
    kept = texture <= flattest * chdtri(dof, 1 - _KEEP) / chdtri(dof, 1 - _FLATTEST)
    if not np.any(kept):  # every block ties at the flattest quantile's texture
        kept = texture <= flattest
    return float(np.sqrt(np.mean(energy[kept])))


def _corners(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The four corners a, b, c, d of the 2x2 blocks (an odd last row or column left out)."""
    height, width = (image.shape[0] // 2) * 2, (image.shape[1] // 2) * 2
    blocks = image[:height, :width]
    return blocks[0::2, 0::2], blocks[0::2, 1::2], blocks[1::2, 0::2], blocks[1::2, 1::2]


def _tiles(values: np.ndarray, side: int) -> np.ndarray:
    """A (rows, side, columns, side) view of the ``side x side`` blocks of a 2-D
    array (a ragged edge left out)."""
    height, width = (values.shape[0] // side) * side, (values.shape[1] // side) * side
    return values[:height, :width].reshape(height // side, side, width // side, side)


def _block_sum(values: np.ndarray, side: int) -> np.ndarray:
    """Sum over each ``side x side`` block, one entry per block."""
    return _tiles(values, side).sum(axis=(1, 3)).ravel()


def _block_variance(values: np.ndarray, side: int) -> np.ndarray:
    """Unbiased variance over each ``side x side`` block, one entry per block."""
    count = side * side
    total = _block_sum(values, side)
    spread = _block_sum(values * values, side) - total * total / count
    return np.maximum(spread, 0.0) / (count - 1)


def _clipped(
    image: np.ndarray,
    corners: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    low: float,
    high: float,
) -> np.ndarray | None:
    """Per 2x2 block: whether two or more of its pixels sit on the image's minimum
    or maximum (clipping, which hides the noise; white noise on unclipped content
    puts two pixels of a cell on one extreme value almost never); None where no
    extreme value repeats at all."""
    if np.count_nonzero(image == high) < 2 and np.count_nonzero(image == low) < 2:
        return None
    at_high = sum((corner == high).astype(np.int8) for corner in corners)
    at_low = sum((corner == low).astype(np.int8) for corner in corners)
    return (at_high >= 2) | (at_low >= 2)


def haar_diagonal(image: np.ndarray) -> np.ndarray:
    """The finest diagonal Haar wavelet coefficients ``(a - b - c + d) / 2`` of the
    2x2 blocks of a 2-D array (an odd last row or column left out): white noise of
    variance sigma**2 per pixel gives them variance sigma**2, smooth content
    almost nothing."""
    a, b, c, d = _corners(image)
    return (a - b - c + d) / 2


@dataclass
class StackNoise:
    """Noise measured on a stack of frames of a stationary scene."""

    #: Root mean over pixels of the per-pixel temporal variance (ddof=1).
    temporal: float
    #: ``std(frame[t+1] - frame[t]) / sqrt(2)`` pooled: insensitive to slow drifts
    #: of brightness or position that inflate the temporal standard deviation.
    difference: float
    #: Per-pixel temporal standard deviation, shape (H, W).
    std_map: np.ndarray
    #: Noise against brightness: bin centres of the temporal mean and the median
    #: temporal std in each (shot noise makes it grow with brightness).
    level_function: dict[str, list[float]] = field(default_factory=dict)
    frames: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "temporal": self.temporal,
            "difference": self.difference,
            "frames": self.frames,
            "level_function": self.level_function,
        }


def noise_from_stack(frames: Any, *, bins: int = 8) -> StackNoise:
    """Noise of a stationary scene from its temporal fluctuations.

    Parameters
    ----------
    frames : sequence of 2-D arrays or (N, H, W) array
        At least two frames of the same scene, same exposure.
    bins : int
        Brightness bins of the noise level function.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> scene = np.linspace(0.2, 0.8, 64 * 64).reshape(64, 64)
    >>> stack = [scene + rng.normal(0, 0.01, scene.shape) for _ in range(20)]
    >>> round(noise_from_stack(stack).temporal, 3)
    0.01
    """
    stack = np.stack(as_stack(frames, min_frames=2, min_size=2))
    std_map = stack.std(axis=0, ddof=1)
    differences = np.diff(stack, axis=0)
    difference = float(np.sqrt(np.mean(differences**2) / 2.0))
    mean_map = stack.mean(axis=0)
    edges = np.quantile(mean_map, np.linspace(0, 1, bins + 1))
    centres, levels = [], []
    for low, high in itertools.pairwise(edges):
        selected = (mean_map >= low) & (mean_map <= high)
        if np.any(selected):
            centres.append(float(np.mean(mean_map[selected])))
            levels.append(float(np.median(std_map[selected])))
    # The mean of the per-pixel variances is the unbiased pooled estimate (a
    # median of standard deviations would sit below it).
    temporal = float(np.sqrt(np.mean(std_map**2)))
    return StackNoise(
        temporal=temporal,
        difference=difference,
        std_map=std_map,
        level_function={"brightness": centres, "sigma": levels},
        frames=len(stack),
    )
