"""Is the precision wanted achievable? PSF width, noise, pixel locking, expected precision.

Sub-pixel precision is set by three things: how sharp the image is (the PSF
width), how noisy it is, and whether the estimator is biased toward integer
positions (pixel locking). This module measures each from the user's own images
and combines them, with the Cramér-Rao bound, into one report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage, stats

from lamina.errors import InputError
from lamina.plugins.subpixel.checks import as_image, as_stack, check_positive
from lamina.plugins.subpixel.noise import StackNoise, noise_from_image, noise_from_stack
from lamina.protocols import PositionEstimator

__all__ = [
    "FWHM_PER_SIGMA",
    "FeasibilityReport",
    "FractionalHistogram",
    "LockingCheck",
    "PSFMeasurement",
    "bin_image",
    "expected_precision",
    "feasibility_report",
    "fractional_histogram",
    "pixel_locking",
    "psf_from_edge",
    "psf_from_points",
    "temporal_mean",
]

#: Largest first-to-last shift (px) for which a stack counts as stationary, or
#: ``_MOTION_Z`` standard errors of its estimate where those are larger: a length
#: within them is the estimate's own error (a 2-D length beyond 3 standard errors:
#: about 1 % of the time), and at noise 0.1 camera views' errors are 0.025 px.
_STATIONARY_PX = 0.02
_MOTION_Z = 3.0

#: FWHM of a Gaussian in units of its standard deviation, 2 sqrt(2 ln 2).
FWHM_PER_SIGMA = float(2.0 * np.sqrt(2.0 * np.log(2.0)))


# -- point spread function -----------------------------------------------------------
@dataclass
class PSFMeasurement:
    """Width of the point spread function (effective: optics and pixel aperture)."""

    method: str  # "points" or "edge"
    sigma: float
    fwhm: float
    spread: float  # points: interquartile range of the per-spot FWHM; edge: fit error
    count: int  # points used, or pixels in the edge profile
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "sigma": self.sigma,
            "fwhm": self.fwhm,
            "spread": self.spread,
            "count": self.count,
            **self.details,
        }


def psf_from_points(
    image: np.ndarray, *, max_chi2: float = 4.0, **locate_options: Any
) -> PSFMeasurement:
    """PSF width from the isolated point sources of ``image``: the median width of
    the Gaussian fits of :func:`~lamina.plugins.subpixel.localize.locate_points`
    whose reduced chi-square is at most ``max_chi2`` (peaks of texture are fitted
    badly and left out).

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.mgrid[0:64, 0:64]
    >>> image = sum(np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 1.8**2))
    ...             for y, x in [(16.2, 16.7), (16.4, 47.1), (47.8, 31.3)])
    >>> round(psf_from_points(image, noise=1e-3).fwhm / 1.8, 4)
    2.3548
    """
    from lamina.plugins.subpixel.localize import locate_points

    found = locate_points(image, **locate_options)
    if len(found) == 0:
        raise InputError("not feasible: no isolated point source found for the PSF width")
    # Peaks of texture are not point sources: keep spots the Gaussian model explains.
    good = np.asarray(found.diagnostics["chi2"]) <= max_chi2
    if not np.any(good):
        raise InputError("not feasible: no isolated point source found for the PSF width")
    sigmas = np.asarray(found.diagnostics["sigma"])[good]
    quartiles = np.percentile(FWHM_PER_SIGMA * sigmas, [25, 75])
    sigma = float(np.median(sigmas))
    return PSFMeasurement(
        method="points",
        sigma=sigma,
        fwhm=FWHM_PER_SIGMA * sigma,
        spread=float(quartiles[1] - quartiles[0]),
        count=int(np.count_nonzero(good)),
        details={"rejected_poor_fit": int(np.count_nonzero(~good))},
    )


def psf_from_edge(
    image: np.ndarray, *, oversample: int = 4, half_width: float = 12.0
) -> PSFMeasurement:
    """PSF width from a straight edge: edge-spread function -> line-spread function.

    The slanted-edge method (ISO 12233): the edge direction comes from the
    structure tensor, the edge position on each row (or column) from the centroid
    of the derivative, and a line fitted through them. Every pixel is then
    binned by its distance to that line at ``1 / oversample`` px, which gives an
    oversampled edge-spread function when the edge is a few degrees off the pixel
    grid. Its derivative is the line-spread function; a Gaussian fit to it gives
    sigma (less the bin width's own ``bin**2 / 12``) and the FWHM.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.special import erf
    >>> yy, xx = np.mgrid[0:96, 0:96]
    >>> distance = (xx - 48) * np.cos(0.1) - (yy - 48) * np.sin(0.1)
    >>> edge = 0.2 + 0.6 * 0.5 * (1 + erf(distance / (np.sqrt(2) * 1.5)))
    >>> round(psf_from_edge(edge).sigma, 1)
    1.5
    """
    data = as_image(image, "image", min_size=16)
    if isinstance(oversample, bool) or not isinstance(oversample, int) or oversample < 1:
        raise InputError(f"oversample must be an integer >= 1, got {oversample!r}")
    check_positive(half_width, "half_width")
    gy = ndimage.sobel(data, axis=0)
    gx = ndimage.sobel(data, axis=1)
    tensor = np.array([[np.sum(gy * gy), np.sum(gy * gx)], [np.sum(gy * gx), np.sum(gx * gx)]])
    eigenvalues, vectors = np.linalg.eigh(tensor)
    if eigenvalues[1] <= 0:
        raise InputError("not feasible: image is flat, it holds no edge")
    coherence = float((eigenvalues[1] - eigenvalues[0]) / (eigenvalues[1] + eigenvalues[0]))
    if coherence < 0.5:
        raise InputError(
            f"not feasible: no single straight edge (gradient coherence {coherence:.2f} < 0.5); "
            "crop the image to one edge"
        )
    normal_y, normal_x = vectors[:, 1]
    transposed = abs(normal_y) > abs(normal_x)  # edge closer to horizontal: work on columns
    work = data.T if transposed else data
    rows = np.arange(work.shape[0], dtype=np.float64)
    columns = np.arange(work.shape[1], dtype=np.float64)
    # Edge position per row: centroid of the derivative within half_width of its
    # peak (of a lightly smoothed row), so noise far from the edge does not pull it.
    derivative = np.abs(np.gradient(work, axis=1))
    peaks = np.argmax(ndimage.uniform_filter1d(derivative, 5, axis=1), axis=1)
    near = np.abs(columns[None, :] - peaks[:, None]) <= half_width
    weighted = derivative * near
    weight = weighted.sum(axis=1)
    usable = weight > 0
    if np.count_nonzero(usable) < 4:
        raise InputError("not feasible: the edge crosses too few rows to fit its line")
    position = (weighted * columns).sum(axis=1)[usable] / weight[usable]
    slope, intercept = np.polyfit(rows[usable], position, 1)
    # a second pass with the line's own position as the centre of the window
    near = np.abs(columns[None, :] - (intercept + slope * rows)[:, None]) <= half_width
    weighted = derivative * near
    weight = weighted.sum(axis=1)
    usable = weight > 0
    position = (weighted * columns).sum(axis=1)[usable] / weight[usable]
    slope, intercept = np.polyfit(rows[usable], position, 1)
    # signed distance of each pixel to the line x = intercept + slope * y
    distance = (columns[None, :] - (intercept + slope * rows[:, None])) / np.hypot(1.0, slope)
    selected = np.abs(distance) <= half_width
    bin_width = 1.0 / oversample
    index = np.round(distance[selected] / bin_width).astype(int)
    values = work[selected]
    offset = index.min()
    counts = np.bincount(index - offset)
    sums = np.bincount(index - offset, weights=values)
    filled = counts > 0
    coverage = float(np.mean(filled))
    centres = (np.arange(len(counts)) + offset) * bin_width
    esf = np.interp(centres, centres[filled], sums[filled] / counts[filled])
    lsf = np.gradient(esf, bin_width)
    if lsf.sum() < 0:
        lsf = -lsf
    sigma, error = _gaussian_width(centres, lsf)
    sigma = float(np.sqrt(max(sigma**2 - bin_width**2 / 12.0, 0.0)))
    return PSFMeasurement(
        method="edge",
        sigma=sigma,
        fwhm=FWHM_PER_SIGMA * sigma,
        spread=FWHM_PER_SIGMA * error,
        count=int(np.count_nonzero(selected)),
        details={
            "edge_angle_deg": float(np.degrees(np.arctan(slope))) + (90.0 if transposed else 0.0),
            "coherence": coherence,
            "bin_coverage": coverage,
            "esf": {"distance": centres.tolist(), "value": esf.tolist()},
        },
    )


def _gaussian_width(position: np.ndarray, profile: np.ndarray) -> tuple[float, float]:
    """Width of a Gaussian (with offset) fitted to a line-spread profile, and its
    standard error."""
    from scipy.optimize import curve_fit

    def model(
        x: np.ndarray, amplitude: float, centre: float, sigma: float, base: float
    ) -> np.ndarray:
        return amplitude * np.exp(-((x - centre) ** 2) / (2.0 * sigma**2)) + base

    peak = int(np.argmax(profile))
    area = float(np.trapezoid(np.clip(profile, 0, None), position))
    guess_sigma = (
        max(area / (profile[peak] * np.sqrt(2 * np.pi)), 0.3) if profile[peak] > 0 else 1.0
    )
    try:
        params, covariance = curve_fit(
            model,
            position,
            profile,
            p0=(profile[peak], position[peak], guess_sigma, 0.0),
            maxfev=5000,
        )
    except RuntimeError:
        raise InputError("not feasible: the line-spread function is not peaked") from None
    return abs(float(params[2])), float(np.sqrt(covariance[2, 2])) if np.isfinite(
        covariance[2, 2]
    ) else np.inf


# -- averaging -----------------------------------------------------------------
def temporal_mean(frames: Any) -> np.ndarray:
    """Mean of a stationary stack: white noise drops by ``sqrt(N)``.

    Only for frames of a scene that does not move; register and shift them first
    otherwise (:func:`~lamina.plugins.subpixel.tracking.track_stack`).
    """
    stack = as_stack(frames, min_frames=1, min_size=1)
    return np.mean(np.stack(stack), axis=0).astype(np.float32)


def bin_image(image: np.ndarray, factor: int) -> np.ndarray:
    """Mean of ``factor`` x ``factor`` blocks (the remainder rows and columns are
    dropped): white noise drops by ``factor`` and the pixel grows by ``factor``.

    Binning trades resolution for noise, so it suits uniform regions (noise
    measurement, flat fields) and images much sharper than needed; it widens the
    PSF in input pixels by the pixel aperture.
    """
    data = as_image(image, "image", min_size=1)
    if isinstance(factor, bool) or not isinstance(factor, (int, np.integer)) or factor < 1:
        raise InputError(f"factor must be an integer >= 1, got {factor!r}")
    height, width = data.shape[0] // factor, data.shape[1] // factor
    if height == 0 or width == 0:
        raise InputError(f"image of shape {data.shape} is smaller than one {factor}x{factor} block")
    blocks = data[: height * factor, : width * factor].reshape(height, factor, width, factor)
    return blocks.mean(axis=(1, 3)).astype(np.float32)


# -- pixel locking ---------------------------------------------------------------
@dataclass
class FractionalHistogram:
    """Distribution of the fractional parts of positions, and tests of uniformity."""

    edges: list[float]
    counts: list[int]
    chi2_p: float  # Pearson chi-square test against a flat histogram
    rayleigh_p: float  # Rayleigh test on the phase 2 pi frac: concentration anywhere
    concentration: float  # mean resultant length in [0, 1]; 0 for a flat histogram

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def fractional_histogram(values: Any, *, bins: int = 10) -> FractionalHistogram:
    """Histogram of the fractional parts of ``values`` (estimated positions or shifts)
    and two tests that it is flat, as it is without pixel locking.

    The fractional part is taken as ``v - round(v)`` in [-0.5, 0.5): locking
    piles it up around 0. The Rayleigh test treats ``2 pi frac`` as an angle and
    detects any concentration; the chi-square test any departure from flat.
    """
    data = np.asarray(values, dtype=np.float64).ravel()
    if data.size < 2 or not np.all(np.isfinite(data)):
        raise InputError("values must hold at least two finite numbers")
    fraction = data - np.round(data)
    counts, edges = np.histogram(fraction, bins=bins, range=(-0.5, 0.5))
    chi2_p = float(stats.chisquare(counts).pvalue) if data.size >= 5 * bins else float("nan")
    resultant = float(np.abs(np.mean(np.exp(2j * np.pi * fraction))))
    z = data.size * resultant**2
    # Rayleigh test p-value with Zar's small-sample correction.
    n = data.size
    rayleigh_p = (
        float(
            np.clip(
                np.exp(np.sqrt(1 + 4 * n + 4 * (n**2 - (n * resultant) ** 2)) - (1 + 2 * n)), 0, 1
            )
        )
        if z > 0
        else 1.0
    )
    return FractionalHistogram(
        edges=edges.tolist(),
        counts=counts.tolist(),
        chi2_p=chi2_p,
        rayleigh_p=rayleigh_p,
        concentration=resultant,
    )


@dataclass
class LockingCheck:
    """Bias of an estimator against the fractional part of the true shift."""

    fractions: list[float]
    bias: list[list[float]]  # (F, 2) mean error (dy, dx) at each fraction
    amplitude: list[float]  # first-harmonic amplitude of the bias per axis, px
    amplitude_error: list[float]  # its standard error
    max_bias: float  # largest |mean error| over fractions and axes, px
    histogram: FractionalHistogram  # fractional parts of estimates of random shifts
    tolerance: float
    locked: bool
    verdict: str

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["histogram"] = self.histogram.as_dict()
        return data


def pixel_locking(
    estimator: PositionEstimator,
    image: np.ndarray,
    *,
    noise: float | None = None,
    fractions: int = 20,
    repeats: int = 3,
    random_shifts: int = 60,
    tolerance: float = 0.005,
    seed: int = 0,
) -> LockingCheck:
    """Pixel-locking check of ``estimator`` on the content of ``image``.

    Copies of ``image`` moved by Fourier shifts of integer + fraction pixels
    (fractions at the middles of ``fractions`` bins of [0, 1), both axes at once) with white noise ``noise`` added to both
    images are registered; the mean error against the fraction is the locking
    bias. Its first harmonic (``a sin 2 pi f + b cos 2 pi f``: locking pulls
    estimates toward integers with that shape, Westerweel 1997; Fincham &
    Spedding 1997) has an amplitude with a standard error from the scatter of
    the repeats. A second run registers ``random_shifts`` uniformly random shifts
    and tests the fractional parts of the estimates for flatness
    (:func:`fractional_histogram`).

    The verdict is "locked" when the bias amplitude exceeds both ``tolerance``
    pixels and three standard errors, or the histogram test rejects flatness at
    p < 0.001.
    """
    data = as_image(image, "image")
    if noise is None:
        noise = 0.0
    check_positive(noise, "noise", allow_zero=True)
    for name, value in (
        ("fractions", fractions),
        ("repeats", repeats),
        ("random_shifts", random_shifts),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 2:
            raise InputError(f"{name} must be an integer >= 2, got {value!r}")
    check_positive(tolerance, "tolerance")
    rng = np.random.default_rng(seed)
    spectrum = np.fft.fft2(data)
    # mid-bin fractions: off the integer and off the grids of upsampled estimators
    grid = (np.arange(fractions) + 0.5) / fractions
    errors = np.zeros((fractions, repeats, 2))
    for i, fraction in enumerate(grid):
        for r in range(repeats):
            integer = rng.integers(-3, 4, size=2)
            shift = integer + fraction
            errors[i, r] = _register(estimator, data, spectrum, shift, noise, rng) - shift
    bias = errors.mean(axis=1)
    phases = 2 * np.pi * np.repeat(grid, repeats)
    design = np.stack([np.sin(phases), np.cos(phases), np.ones_like(phases)], axis=1)
    amplitude: list[float] = []
    amplitude_error: list[float] = []
    for axis in range(2):
        target = errors[:, :, axis].ravel()
        coefficients, *_ = np.linalg.lstsq(design, target, rcond=None)
        residual = target - design @ coefficients
        dof = max(len(target) - 3, 1)
        scale = float(np.sum(residual**2) / dof)
        covariance = scale * np.linalg.inv(design.T @ design)
        amplitude.append(float(np.hypot(coefficients[0], coefficients[1])))
        amplitude_error.append(float(np.sqrt((covariance[0, 0] + covariance[1, 1]) / 2.0)))
    estimates: list[float] = []
    for _ in range(random_shifts):
        shift = rng.uniform(-3.0, 3.0, size=2)
        estimates.extend(_register(estimator, data, spectrum, shift, noise, rng))
    histogram = fractional_histogram(estimates)
    biased = [
        a > tolerance and a > 3.0 * e for a, e in zip(amplitude, amplitude_error, strict=True)
    ]
    locked = any(biased) or histogram.rayleigh_p < 1e-3
    max_bias = float(np.max(np.abs(bias)))
    if locked:
        verdict = (
            f"pixel locking: bias up to {max_bias:.3g} px toward integer positions "
            f"(first harmonic {max(amplitude):.3g} px; histogram p = {histogram.rayleigh_p:.2g})"
        )
    else:
        verdict = (
            f"no pixel locking: bias amplitude {max(amplitude):.2g} px <= "
            f"max({tolerance:g} px, 3 standard errors); histogram flat (p = {histogram.rayleigh_p:.2g})"
        )
    return LockingCheck(
        fractions=grid.tolist(),
        bias=bias.tolist(),
        amplitude=amplitude,
        amplitude_error=amplitude_error,
        max_bias=max_bias,
        histogram=histogram,
        tolerance=float(tolerance),
        locked=bool(locked),
        verdict=verdict,
    )


def _register(
    estimator: PositionEstimator,
    data: np.ndarray,
    spectrum: np.ndarray,
    shift: np.ndarray,
    noise: float,
    rng: np.random.Generator,
) -> np.ndarray:
    moved = np.fft.ifft2(ndimage.fourier_shift(spectrum, shift)).real
    reference = data + rng.normal(0.0, noise, data.shape) if noise > 0 else data
    if noise > 0:
        moved = moved + rng.normal(0.0, noise, data.shape)
    estimate = estimator.estimate(reference, moved)
    return np.array([estimate.dy, estimate.dx])


# -- expected precision and the report ---------------------------------------------
def expected_precision(
    image: np.ndarray, noise: float, *, image_noise: float | None = None, taper: float = 0.25
) -> np.ndarray:
    """Cramér-Rao covariance of the shift between two frames of the scene in
    ``image`` with white noise ``noise`` on each (Robinson & Milanfar 2004),
    for the co-moving-window estimator: ``2 sigma_w**2 G^-1`` with ``G`` the
    gradient moments of the windowed scene, the noise ``image`` itself carries
    subtracted from its power: ``image_noise``, by default ``noise`` (``image``
    is one such frame; the mean of ``N`` frames carries ``noise / sqrt(N)``, a
    noise-free scene 0).

    Raises :class:`~lamina.InputError` ("not feasible: ...") where the
    estimator refuses or warns (:mod:`~lamina.plugins.subpixel.quality`'s
    texture test of the windowed scene against ``image_noise``): texture in one
    direction only, or too weak against the noise in some direction.
    """
    from lamina.plugins.subpixel.quality import SIGNIFICANT_Z, judged_texture
    from lamina.plugins.subpixel.spectral import CrossSpectrum
    from lamina.plugins.subpixel.windows import comoving_windows

    data = as_image(image, "image", integers=True)
    check_positive(noise, "noise", allow_zero=True)
    if image_noise is None:
        image_noise = noise
    check_positive(image_noise, "image_noise", allow_zero=True)
    window, _ = comoving_windows(data.shape, np.zeros(2), taper)
    # The estimator's own verdicts (MLRefine's final fit), not the spectrum's
    # stricter per-direction test: that one refused camera views at noise 0.1 as
    # one-directional (z 23 and 27).
    texture = judged_texture(data, data, (window, window), image_noise, None, lambda: image_noise)
    if texture.z[-1] < SIGNIFICANT_Z:
        raise InputError(
            "not feasible: no texture above the noise (along its strongest direction the "
            f"texture stands {max(float(texture.z[-1]), 0.0):.1f} standard errors above it)"
        )
    weak = texture.warnings()
    if weak:
        raise InputError(f"not feasible: {weak[0]}")
    windowed = window * (data - np.average(data, weights=window))
    spectrum = CrossSpectrum(windowed, windowed, dtype=np.float64)
    rms_window = float(np.sqrt(np.mean(window**2)))
    floor = 1e-12 * float(np.ptp(data))
    sigma_w = max(noise, floor) * rms_window
    # One image: its power holds its own noise, image_noise_w**2 per bin, which
    # ``information`` subtracts as (sqrt(2) image_noise_w)**2 / 2.
    image_noise_w = max(image_noise, floor) * rms_window
    information = spectrum.information(
        spectrum.midpoint_power(np.zeros(2)), np.sqrt(2.0) * image_noise_w, check=False
    )
    if np.linalg.eigvalsh(information)[0] <= 0.0:
        raise InputError(
            "not feasible: low SNR: the scene's spectrum holds no texture above the noise "
            "in some direction"
        )
    return spectrum.crlb(information, sigma_w)


@dataclass
class FeasibilityReport:
    """Everything :func:`feasibility_report` measured, and its verdict."""

    shape: tuple[int, int]
    frames: int
    noise: dict[str, Any]
    psf: dict[str, Any]
    precision: dict[str, Any]
    locking: dict[str, Any]
    feasible: bool
    verdict: str
    reasons: list[str]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def feasibility_report(
    images: Any,
    *,
    estimator: PositionEstimator | None = None,
    pixel_size: float | None = None,
    unit: str = "px",
    target: float | None = None,
    locking_size: int = 128,
    seed: int = 0,
) -> FeasibilityReport:
    """Measure noise, PSF width, expected precision and pixel locking on the user's images.

    Parameters
    ----------
    images : 2-D array or sequence of 2-D arrays
        One image, or a stack of frames of a stationary scene (then the noise comes
        from the temporal fluctuations and the scene from their mean). Float
        pixels, or integer ones scaled as :func:`skimage.util.img_as_float` does.
    estimator : position estimator, optional
        The estimator to check for pixel locking; ``ml-refine`` by default.
    pixel_size : float, optional
        Size of a pixel in ``unit``, to state the precision physically.
    unit : str
        Unit of ``pixel_size``.
    target : float, optional
        Precision wanted, in ``unit`` (pixels without ``pixel_size``); the verdict
        compares the expected standard error with it.
    locking_size : int
        The locking check runs on the central crop of this size (it registers
        about 180 pairs).
    seed : int
        Seed of the simulated noise of the locking check.

    Examples
    --------
    >>> from skimage import data
    >>> report = feasibility_report(data.camera()[100:228, 100:228] / 255.0, locking_size=64)
    >>> report.feasible
    True
    """
    stack = as_stack(
        [images] if isinstance(images, np.ndarray) and images.ndim == 2 else images,
        integers=True,
    )
    if pixel_size is not None:
        check_positive(pixel_size, "pixel_size")
    if target is not None:
        check_positive(target, "target")
    scale = 1.0 if pixel_size is None else float(pixel_size)
    shown_unit = "px" if pixel_size is None else unit
    reasons: list[str] = []
    single = noise_from_image(stack[0])
    noise: dict[str, Any] = {"single_image": single}
    sigma = single
    scene = stack[0]
    scene_noise = single
    if estimator is None:
        from lamina.plugins.subpixel.registration import MLRefine

        estimator = MLRefine()
    if len(stack) > 1:
        measured: StackNoise = noise_from_stack(stack)
        noise["stack"] = measured.as_dict()
        motion = _motion(estimator, stack[0], stack[-1])
        noise["motion_first_to_last_px"] = None if motion is None else motion[0]
        noise["motion_standard_error_px"] = None if motion is None else motion[1]
        if motion is not None and motion[0] <= max(_STATIONARY_PX, _MOTION_Z * motion[1]):
            sigma = measured.difference
            scene = temporal_mean(stack).astype(np.float64)
            scene_noise = sigma / np.sqrt(len(stack))
            noise["mean_image"] = scene_noise
        else:
            # A moving scene inflates temporal fluctuations: use the frames one by one.
            sigma = float(np.median([noise_from_image(frame) for frame in stack]))
            noise["note"] = "frames are not stationary; noise from single images"
    noise["used"] = sigma
    psf: dict[str, Any]
    try:
        psf = psf_from_points(scene, noise=sigma if sigma > 0 else None).as_dict()
        if psf["count"] < 3:
            raise InputError("fewer than three isolated points")
    except InputError as points_error:
        try:
            psf = psf_from_edge(scene).as_dict()
        except InputError as edge_error:
            psf = {"method": None, "reason": f"points: {points_error}; edge: {edge_error}"}
    precision: dict[str, Any]
    try:
        covariance = expected_precision(scene, sigma, image_noise=scene_noise)
        error = np.sqrt(np.diag(covariance))
        precision = {
            "pair_sigma_px": error.tolist(),
            "pair_sigma": (error * scale).tolist(),
            "unit": shown_unit,
            "covariance_px2": covariance.tolist(),
        }
        if len(stack) > 1:
            # registering two means of N frames each: noise sigma / sqrt(N)
            precision["averaged_pair_sigma"] = (error * scale / np.sqrt(len(stack))).tolist()
        worst = float(error.max() * scale)
        if target is not None and worst > target:
            reasons.append(
                f"expected standard error {worst:.3g} {shown_unit} exceeds the target {target:g} {shown_unit}"
            )
    except InputError as error_message:
        precision = {"reason": str(error_message)}
        reasons.append(str(error_message).removeprefix("not feasible: "))
    crop = _central_crop(scene, locking_size)
    try:
        locking = pixel_locking(estimator, crop, noise=sigma, seed=seed).as_dict()
        if locking["locked"]:
            reasons.append(locking["verdict"])
    except InputError as locking_error:
        locking = {"reason": str(locking_error)}
    feasible = not reasons
    if feasible:
        sy, sx = precision["pair_sigma"]
        verdict = (
            f"feasible: expected standard error {sy:.3g} x {sx:.3g} {shown_unit} (dy x dx) per pair"
        )
    else:
        verdict = "not feasible: " + "; ".join(reasons)
    return FeasibilityReport(
        shape=tuple(scene.shape),
        frames=len(stack),
        noise=noise,
        psf=psf,
        precision=precision,
        locking=locking,
        feasible=feasible,
        verdict=verdict,
        reasons=reasons,
    )


def _motion(
    estimator: PositionEstimator, first: np.ndarray, last: np.ndarray
) -> tuple[float, float] | None:
    """Length of the shift between two frames and the larger standard error of its
    estimate, or None when it cannot be measured (refused, or flagged not feasible:
    a guess's standard error would pass any motion for none)."""
    try:
        estimate = estimator.estimate(first, last)
    except InputError:
        return None
    if not estimate.diagnostics.get("feasible", True):
        return None
    return float(np.hypot(estimate.dy, estimate.dx)), float(np.max(estimate.uncertainty))


def _central_crop(image: np.ndarray, size: int) -> np.ndarray:
    height, width = image.shape
    top, left = max(0, (height - size) // 2), max(0, (width - size) // 2)
    return image[top : top + min(size, height), left : left + min(size, width)]
