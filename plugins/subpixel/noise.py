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
    "StackNoise",
    "haar_diagonal",
    "noise_from_image",
    "noise_from_stack",
    "weak_texture_noise",
]


def noise_from_image(image: np.ndarray) -> float:
    """Standard deviation of white noise in one image, robust to the image content.

    The finest diagonal Haar wavelet coefficients ``(a - b - c + d) / 2`` of the
    2x2 blocks hold white noise at its pixel variance and little of smooth
    content, but texture leaks into them (Donoho & Johnstone 1994, whose median
    over all blocks read the grass of :func:`skimage.data.grass` as 11 grey levels
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

    Measured on seeded grids (``tests/plugins/subpixel/test_subpixel_noise.py``):
    synthetic content plus noise reads 0.88-1.25 sigma from 64 px; crops of 256-512
    px of scikit-image's camera, astronaut, coffee and moon at sigma 0.02-0.1 read
    0.985-1.18 sigma; at sigma 0.005 camera crops read 1.2 sigma, their own grain
    included, where the all-blocks median read 1.9. Pure texture (grass, gravel)
    still reads part of its texture as noise: an overestimate, never an
    underestimate. 0.7-0.9 ms at 256 px.

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
    return weak_texture_noise(data)


def weak_texture_noise(values: np.ndarray, *, valid: np.ndarray | None = None) -> float:
    """:func:`noise_from_image` for an array of any number of axes (images, volumes
    (z, y, x)), over the 2 x ... x 2 cells whose samples are all ``valid`` (infinite
    where none is). In ``d`` axes the measured band is the all-diagonal Haar
    coefficient ``sum (-1)**(i+j+...) v[i, j, ...] / 2**(d/2)`` (content smooth
    along any one axis leaves it nothing) and the texture is judged on the other
    ``2**d - 2`` detail bands. ``values`` must be finite floats with at least two
    samples along every axis.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> volume = np.linspace(0, 1, 16)[:, None, None] + rng.normal(0, 0.01, (16, 32, 32))
    >>> round(weak_texture_noise(volume), 3)
    0.01
    """
    chosen = values if valid is None else values[valid]
    if chosen.size == 0:
        return float("inf")
    low, high = float(chosen.min()), float(chosen.max())
    if low == high:
        return 0.0
    # Samples far from 1 are scaled by a power of two (exact), so that squares
    # neither overflow nor vanish.
    exponent = int(np.frexp(max(abs(low), abs(high)))[1])
    if abs(exponent) > _SAFE_EXPONENT:
        values = np.ldexp(values, -exponent)
        low, high = float(np.ldexp(low, -exponent)), float(np.ldexp(high, -exponent))
    else:
        exponent = 0
    sigma = float(np.ldexp(_weak_texture_sigma(values, low, high, valid), exponent))
    if sigma >= COARSEST_ROUNDING or not np.isfinite(sigma):
        return sigma
    # Only low estimates can fall under a rounding, and its test costs 4 ms at 256 px.
    from lamina.plugins.subpixel.quality import rounding_noise

    masks = None if valid is None else (valid, valid)
    rounding = rounding_noise(values, values, masks) * float(np.ldexp(1.0, exponent))
    return max(sigma, rounding)


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
#: Binary exponents of the samples' magnitude within which squares stay finite and normal.
_SAFE_EXPONENT = 256


def _weak_texture_sigma(
    values: np.ndarray, low: float, high: float, valid: np.ndarray | None
) -> float:
    """Root mean square of the all-diagonal Haar coefficients of the weak-texture
    blocks (see :func:`noise_from_image`) of an array whose valid values span
    ``[low, high]``; infinite where no cell is wholly valid."""
    corners = _corners(values)
    bands = _haar_bands(list(corners.values()))
    # 2**(d/2) times the orthonormal coefficients: white noise gives them 2**d sigma**2
    gain = float(2**values.ndim)
    measured, others = bands[-1], bands[1:-1]
    side = tuple(min(BLOCK, n) for n in measured.shape)
    count = int(np.prod(side))
    cells = None
    if valid is not None:
        cells = np.logical_and.reduce(list(_corners(valid).values()))
        if not np.any(cells):
            return float("inf")
    if count < 2:  # one coefficient along every axis: nothing to choose from
        return _cell_rms(measured, cells, gain)
    texture = sum(_block_variance(band, side) for band in others) / (len(others) * gain)
    energy = _block_sum(measured * measured, side) / (count * gain)
    live = (texture > 0) | (energy > 0)
    if cells is not None:
        live &= ~_block_sum(~cells, side)
    clipped = _clipped(values, corners, low, high)
    if clipped is not None:
        unclipped = live & ~_block_sum(clipped, side)
        if np.any(unclipped):
            live = unclipped
    if not np.any(live):
        return 0.0 if cells is None else _cell_rms(measured, cells, gain)
    texture, energy = texture[live], energy[live]
    # texture / sigma**2 of a pure-noise block: chi-squared with this many dof over it
    dof = len(others) * (count - 1)
    flattest = float(np.quantile(texture, _FLATTEST))
    kept = texture <= flattest * chdtri(dof, 1 - _KEEP) / chdtri(dof, 1 - _FLATTEST)
    if not np.any(kept):  # every block ties at the flattest quantile's texture
        kept = texture <= flattest
    return float(np.sqrt(np.mean(energy[kept])))


def _cell_rms(measured: np.ndarray, cells: np.ndarray | None, gain: float) -> float:
    """Root mean square of the (valid) cells' coefficients, where no block can be
    chosen (a single coefficient per block, thin masked regions): texture and all."""
    chosen = measured if cells is None else measured[cells]
    return float(np.sqrt(np.mean(chosen**2) / gain))


def _corners(values: np.ndarray) -> dict[tuple[int, ...], np.ndarray]:
    """The corners of the 2 x ... x 2 cells, keyed by their offsets (0 or 1 per
    axis; an odd last sample along an axis left out)."""
    even = values[tuple(slice(0, (n // 2) * 2) for n in values.shape)]
    return {
        offset: even[tuple(slice(o, None, 2) for o in offset)]
        for offset in itertools.product((0, 1), repeat=values.ndim)
    }


def _haar_bands(corners: list[np.ndarray]) -> list[np.ndarray]:
    """The unnormalised Haar bands of the cells (butterflies along each axis), in
    the order of the offsets: band ``p`` differences along the axes where ``p`` is
    1, so the first is the cells' sum and the last the all-diagonal detail."""
    bands = list(corners)
    stride = len(bands) // 2
    while stride:
        for start in range(0, len(bands), 2 * stride):
            for low in range(start, start + stride):
                first, second = bands[low], bands[low + stride]
                bands[low], bands[low + stride] = first + second, first - second
        stride //= 2
    return bands


def _block_sum(values: np.ndarray, side: tuple[int, ...]) -> np.ndarray:
    """Sum over each block of ``side`` samples per axis (any, for booleans), one
    entry per block (a ragged edge left out). Strided slices added axis by axis:
    numpy's reduction over the axes of a blocked view took 4x as long."""
    for axis, step in enumerate(side):
        whole = (values.shape[axis] // step) * step
        head = (slice(None),) * axis
        parts = [values[(*head, slice(k, whole, step))] for k in range(step)]
        values = parts[0]
        for part in parts[1:]:
            values = values + part
    return values.ravel()


def _block_variance(values: np.ndarray, side: tuple[int, ...]) -> np.ndarray:
    """Unbiased variance over each block, one entry per block."""
    count = int(np.prod(side))
    total = _block_sum(values, side)
    spread = _block_sum(values * values, side) - total * total / count
    return np.maximum(spread, 0.0) / (count - 1)


def _clipped(
    values: np.ndarray, corners: dict[tuple[int, ...], np.ndarray], low: float, high: float
) -> np.ndarray | None:
    """Per cell: whether two or more of its samples sit on the extreme values
    (clipping, which hides the noise; white noise on unclipped content puts two
    samples of a cell on one extreme value almost never); None where no extreme
    value repeats at all."""
    if np.count_nonzero(values == high) < 2 and np.count_nonzero(values == low) < 2:
        return None
    at_high = sum((corner == high).astype(np.int8) for corner in corners.values())
    at_low = sum((corner == low).astype(np.int8) for corner in corners.values())
    return (at_high >= 2) | (at_low >= 2)


def haar_diagonal(image: np.ndarray) -> np.ndarray:
    """The finest diagonal Haar wavelet coefficients ``(a - b - c + d) / 2`` of the
    2x2 blocks of a 2-D array (an odd last row or column left out): white noise of
    variance sigma**2 per pixel gives them variance sigma**2, smooth content
    almost nothing."""
    height, width = (image.shape[0] // 2) * 2, (image.shape[1] // 2) * 2
    cells = image[:height, :width]
    return (cells[0::2, 0::2] - cells[0::2, 1::2] - cells[1::2, 0::2] + cells[1::2, 1::2]) / 2


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
