"""Noise level from one image or from a stack of a stationary scene."""

from __future__ import annotations

import functools
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
    """Root mean square over the pixels of the noise in one image (white, or
    growing with brightness as shot noise does), robust to the image content.

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

    Where the noise grows with brightness (shot noise) the flattest blocks are the
    darkest, whose level alone read the image's RMS noise at 0.45-0.55 of it; so
    the kept blocks' diagonal energy is regressed on their brightness (a noise
    level function ``a + b y``, Liu, Szeliski et al. 2008, in the Poisson-Gaussian
    form of Foi et al. 2008). A slope 3 standard errors from 0 makes blocks be
    chosen against the level at their own brightness, and the estimate becomes
    the mean level over 8 brightness bands of equal block count (a band with no
    flat block takes the fitted line's level). Without such a slope the estimate
    is the one level above.

    Blocks that hold no signal at all (constant: padding, a clipped sky; a
    noise-free smooth fill, whose diagonal energy is rounding) and blocks with two pixels of a 2x2 cell at the image's extreme value (clipping,
    which hides the noise) are left out while others remain. Integer samples (8
    or 16 bit, however scaled) never report less than their rounding,
    ``step / sqrt(12)``. A constant image has no noise: 0.

    Measured on seeded grids (``tests/plugins/subpixel/test_subpixel_noise.py``):
    synthetic content plus noise reads 0.88-1.25 sigma from 64 px; crops of 256-512
    px of scikit-image's camera, astronaut, coffee and moon at sigma 0.02-0.1 read
    0.985-1.18 sigma; at sigma 0.005 camera crops read 1.2 sigma, their own grain
    included, where the all-blocks median read 1.9. Pure texture (grass, gravel)
    still reads part of its texture as noise: an overestimate. Shot noise
    (Poisson at 20-1000 photons at white, alone or with Gaussian read noise) reads
    0.99-1.42 of its RMS on 256-512 px crops of those images and 0.9-1.05 on
    synthetic content; on 128 px crops 1 in 180 read under 0.9 (0.76: a coffee
    crop whose mid-tones are fine grain, so no band is flat and no slope is
    measured). At 20 photons dark cells with two zero counts read as clipped, so
    the brighter, noisier blocks measure: up to 1.4x.

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
#: Standard errors from 0 at which the kept blocks' noise is taken to depend on brightness.
_SLOPE_Z = 3.0
#: Fewest blocks a noise level function is fitted to.
_FEWEST = 16
#: Largest ratio of texture to diagonal energy of a band's flattest blocks that
#: still reads as noise (pure noise: 1; edges: 4-10).
_CONSISTENT = 1.5
#: Fits of the noise level function, each choosing blocks against the last.
_REFITS = 4
#: Brightness bands (of equal block count) whose levels make up the image's mean.
_BANDS = 8
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
    texture = np.sum([_block_variance(band, side) for band in others], axis=0) / (
        len(others) * gain
    )
    energy = _block_sum(measured * measured, side) / (count * gain)
    # Blocks whose diagonal energy is rounding (a noise-free fill, a rendered
    # gradient: curvature gives them texture) hold no noise to measure.
    live = energy > _rounding_energy(values, energy, max(abs(low), abs(high)))
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
    brightness = _block_sum(bands[0], side)[live] / (count * gain)
    # texture / sigma**2 of a pure-noise block: chi-squared with this many dof over it
    dof = len(others) * (count - 1)
    kept = _flattest(texture, dof)
    level = _level_function(texture, energy, brightness, kept, dof=dof, count=count)
    if level is None:
        return float(np.sqrt(np.mean(energy[kept])))
    return float(np.sqrt(level))


def _rounding_energy(values: np.ndarray, energy: np.ndarray, largest: float) -> float:
    """The blocks' energy that rounding of samples up to ``largest`` can make:
    that of float32 where every sample is one (float32 images reach here as
    float64; tested only where some block is that quiet), else of their type."""
    eps = float(np.finfo(values.dtype).eps)
    single = (16 * float(np.finfo(np.float32).eps) * largest) ** 2
    if (
        eps < float(np.finfo(np.float32).eps)
        and bool((energy <= single).any())
        and np.array_equal(values.astype(np.float32), values)
    ):
        return single
    return (16 * eps * largest) ** 2


def _flattest(texture: np.ndarray, dof: int) -> np.ndarray:
    """The blocks whose texture noise alone explains at ``_KEEP``, the noise level
    read off the flattest ``_FLATTEST`` of them."""
    flattest = _quantile(texture, _FLATTEST)
    kept = texture <= flattest * _keep_ratio(dof)
    if not kept.any():  # every block ties at the flattest quantile's texture
        kept = texture <= flattest
    return kept


@functools.cache
def _quantile_ratio(dof: int) -> float:
    """The ``_FLATTEST`` quantile of pure noise's texture over its mean."""
    return float(chdtri(dof, 1 - _FLATTEST)) / dof


@functools.cache
def _keep_ratio(dof: int) -> float:
    """The texture pure noise exceeds with probability ``1 - _KEEP`` over its
    ``_FLATTEST`` quantile (chi-squared with ``dof`` degrees of freedom)."""
    return float(chdtri(dof, 1 - _KEEP) / chdtri(dof, 1 - _FLATTEST))


def _quantile(values: np.ndarray, fraction: float) -> float:
    """``np.quantile(values, fraction)`` (linear interpolation) by a partial sort:
    a fifth of the time on the few hundred blocks of a band."""
    position = fraction * (values.size - 1)
    low = int(position)
    if low + 1 >= values.size:
        return float(np.partition(values, low)[low])
    part = np.partition(values, (low, low + 1))
    return float(part[low] + (position - low) * (part[low + 1] - part[low]))


def _level_function(
    texture: np.ndarray,
    energy: np.ndarray,
    brightness: np.ndarray,
    kept: np.ndarray,
    *,
    dof: int,
    count: int,
) -> float | None:
    """Mean noise variance over the live blocks where it depends on brightness
    (shot noise); None where the flat blocks show no such dependence.

    The flattest blocks of an image are its darkest where the noise grows with
    brightness, so their level alone reads shot noise at half its RMS. A noise
    level function (Liu, Szeliski et al. 2008) in the Poisson-Gaussian form
    ``a + b y`` of the block brightness ``y`` (Foi et al. 2008) is fitted to the
    flat blocks' diagonal energy, which white noise leaves independent of the
    texture that chose them: first the flattest blocks of the image, and where
    they show no slope (too narrow a range of brightness) the flattest of each
    brightness band. Only a slope ``_SLOPE_Z`` standard errors from 0 counts;
    blocks are then chosen against the level at their own brightness and the fit
    repeated. The result is the mean over brightness bands of equal block count
    of a band's kept blocks' energy or, where a band keeps none, the fitted
    level (see :func:`_level` for the brightness beyond the kept blocks').
    """
    fitted = _fit_line(brightness[kept], energy[kept], count)
    # blocks in order of brightness: the bands are slices of equal block count
    order = np.argsort(brightness, kind="stable")
    texture, energy, brightness, kept = (
        texture[order],
        energy[order],
        brightness[order],
        kept[order],
    )
    bands = [slice(*ends) for ends in itertools.pairwise(_band_ends(brightness))]
    if fitted is None:
        kept = np.zeros_like(kept)
        for band in bands:
            if band.start == band.stop:
                continue
            chosen = _flattest(texture[band], dof)
            # a band of edges only: its flattest blocks' texture far exceeds
            # their diagonal energy (noise gives both the same mean)
            if texture[band][chosen].sum() <= _CONSISTENT * energy[band][chosen].sum():
                kept[band] = chosen
        fitted = _fit_line(brightness[kept], energy[kept], count)
        if fitted is None:
            return None
    threshold = _keep_ratio(dof) * _quantile_ratio(dof)
    for _ in range(_REFITS):
        level = _level(fitted, brightness, brightness[kept])
        chosen = texture <= level * threshold
        if not chosen.any() or np.array_equal(chosen, kept):
            break
        kept = chosen
        line = _fit_line(brightness[kept], energy[kept], count)
        if line is None:
            break
        fitted = line
    level = _level(fitted, brightness, brightness[kept])
    total = 0.0
    for band in bands:
        chosen = kept[band]
        if chosen.any():
            total += float(energy[band][chosen].mean()) * (band.stop - band.start)
        else:
            total += float(level[band].sum())
    return total / brightness.size


def _band_ends(ordered: np.ndarray) -> np.ndarray:
    """Ends of ``_BANDS`` brightness bands of (nearly) equal block count in
    brightness ``ordered`` ascending. Blocks of equal brightness (quantised
    samples) share the band of their middle rank, so a negated image has the
    same bands."""
    first = np.searchsorted(ordered, ordered, side="left")
    last = np.searchsorted(ordered, ordered, side="right") - 1
    band = ((first + last + 1) * _BANDS) // (2 * ordered.size)
    return np.searchsorted(band, np.arange(_BANDS + 1))


def _level(
    line: tuple[float, float, float], brightness: np.ndarray, seen: np.ndarray
) -> np.ndarray:
    """The fitted level ``a + b y`` at each brightness. Beyond the ``seen`` range
    it is held at the range's end where the line falls (a line falling past its
    data would read noise as absent) and rises at the slope plus its standard
    error where the line rises (an extrapolation, whose error must not make
    the noise read low)."""
    intercept, slope, error = line
    inside = np.clip(brightness, float(seen.min()), float(seen.max()))
    beyond = brightness - inside
    rising = np.where(slope * beyond > 0, (abs(slope) + error) * np.abs(beyond), 0.0)
    return np.maximum(intercept + slope * inside + rising, 0.0)


def _fit_line(
    brightness: np.ndarray, energy: np.ndarray, count: int
) -> tuple[float, float, float] | None:
    """Least-squares ``energy ~ a + b brightness`` (a, b and the standard error
    of b), or None where the slope is within ``_SLOPE_Z`` standard errors of 0 or
    cannot be measured (fewer than ``_FEWEST`` blocks, whose scatter White's
    estimator reads too low). A block's
    energy is a mean of ``count`` squared coefficients: chi-squared with
    ``count`` dof times ``level / count``, variance ``2 level**2 / count``."""
    if brightness.size < _FEWEST:
        return None
    offset = brightness - brightness.mean()
    spread = float(offset @ offset)
    if spread <= 0.0:
        return None
    slope = float(offset @ energy) / spread
    intercept = float(energy.mean()) - slope * float(brightness.mean())
    # the larger of the scatter pure noise would give and the actual scatter
    # (texture leaking into the energy spreads it further: White's estimator)
    fitted = np.maximum(intercept + slope * brightness, 0.0)
    scatter = np.maximum((2.0 / count) * fitted**2, (energy - fitted) ** 2)
    variance = float(scatter @ (offset * offset))
    error = float(np.sqrt(variance)) / spread
    if variance <= 0.0 or abs(slope) < _SLOPE_Z * error:
        return None
    return intercept, slope, error


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
