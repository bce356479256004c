"""Point localisation: detect isolated point sources, then refine each to sub-pixel.

Coordinates are (y, x) in pixels with the centre of pixel ``[i, j]`` at
``(i, j)`` (scikit-image's convention). The spot model is a point-sampled
Gaussian ``A exp(-r**2 / (2 s**2)) + B``; for a camera, ``s`` is the effective
PSF width that includes the pixel aperture (``s**2 ≈ s_optics**2 + 1/12``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from lamina.errors import InputError
from lamina.plugins.subpixel.checks import as_image, check_positive
from lamina.plugins.subpixel.noise import noise_from_image
from lamina.types import PointEstimates

__all__ = ["fit_gaussian_spots", "gaussian_spot_jacobian", "locate_points"]

#: Fewest spots whose fitted widths give the PSF width when none is given.
_PSF_SAMPLE = 25

#: Fitted widths beyond this factor of the PSF width mark merged spots or hot pixels.
_WIDTH_RATIO = 1.6

#: Parameter order of the spot model.
PARAMETERS = ("amplitude", "y", "x", "sigma", "background")


def gaussian_spot_jacobian(
    params: np.ndarray, ys: np.ndarray, xs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Model ``A exp(-((y - y0)**2 + (x - x0)**2) / (2 s**2)) + B`` and its Jacobian.

    Parameters
    ----------
    params : ndarray, shape (n, 5)
        (A, y0, x0, s, B) per spot.
    ys, xs : ndarray, shape (k,)
        Pixel coordinates of the ``k`` samples of each spot's box.

    Returns
    -------
    model : ndarray, shape (n, k)
    jacobian : ndarray, shape (n, k, 5)
    """
    amplitude, y0, x0, sigma, background = (params[:, i : i + 1] for i in range(5))
    dy = ys[None, :] - y0
    dx = xs[None, :] - x0
    radius2 = dy * dy + dx * dx
    shape = np.exp(-radius2 / (2.0 * sigma * sigma))
    scaled = amplitude * shape
    jacobian = np.stack(
        [
            shape,
            scaled * dy / sigma**2,
            scaled * dx / sigma**2,
            scaled * radius2 / sigma**3,
            np.ones_like(shape),
        ],
        axis=-1,
    )
    return scaled + background, jacobian


@dataclass
class SpotFits:
    """Result of :func:`fit_gaussian_spots` for ``n`` boxes."""

    params: np.ndarray  # (n, 5) A, y, x, s, B in box coordinates
    unscaled_covariance: np.ndarray  # (n, 5, 5) (J^T J)^-1
    residual_sum: np.ndarray  # (n,) sum of squared residuals
    iterations: np.ndarray  # (n,)
    converged: np.ndarray  # (n,) bool


def fit_gaussian_spots(
    boxes: np.ndarray, start: np.ndarray, *, max_iter: int = 50, tol: float = 1e-7
) -> SpotFits:
    """Least-squares fit of the Gaussian spot model to many boxes at once.

    Levenberg-Marquardt with one damping factor per spot, vectorised over the
    spots: for white Gaussian noise this is the maximum-likelihood position, and
    ``sigma**2 (J^T J)^-1`` at the solution is its Cramér-Rao covariance.

    Parameters
    ----------
    boxes : ndarray, shape (n, m, m)
        Pixel values around each spot.
    start : ndarray, shape (n, 5)
        Initial (A, y0, x0, s, B) in box coordinates.
    """
    count, size = boxes.shape[0], boxes.shape[1]
    grid_y, grid_x = np.mgrid[0:size, 0:size]
    ys, xs = grid_y.ravel().astype(np.float64), grid_x.ravel().astype(np.float64)
    data = boxes.reshape(count, -1).astype(np.float64)
    params = start.astype(np.float64).copy()
    damping = np.full(count, 1e-3)
    model, jacobian = gaussian_spot_jacobian(params, ys, xs)
    cost = np.sum((data - model) ** 2, axis=1)
    iterations = np.zeros(count, dtype=int)
    active = np.ones(count, dtype=bool)
    identity = np.eye(5)
    for _ in range(max_iter):
        if not active.any():
            break
        index = np.flatnonzero(active)
        jac = jacobian[index]
        transposed = jac.transpose(0, 2, 1)
        normal = transposed @ jac
        gradient = (transposed @ (data[index] - model[index])[..., None])[..., 0]
        diagonal = np.einsum("npp->np", normal)
        damped = normal + damping[index, None, None] * diagonal[:, :, None] * identity
        try:
            steps = np.linalg.solve(damped, gradient[..., None])[..., 0]
        except np.linalg.LinAlgError:
            steps = np.stack(
                [
                    np.linalg.lstsq(d, g, rcond=None)[0]
                    for d, g in zip(damped, gradient, strict=True)
                ]
            )
        trial = params[index] + steps
        trial[:, 3] = np.abs(trial[:, 3])  # the width enters squared; keep it positive
        # A wild step on merged spots (amplitude 1e160, width 1e152) can keep a finite
        # cost while its Jacobian overflows, and the next solve failed with "SVD did
        # not converge": such a step is refused like one that raises the cost.
        with np.errstate(over="ignore", invalid="ignore"):
            trial_model, trial_jacobian = gaussian_spot_jacobian(trial, ys, xs)
            trial_cost = np.sum((data[index] - trial_model) ** 2, axis=1)
        better = (trial_cost <= cost[index]) & np.all(np.isfinite(trial_jacobian), axis=(1, 2))
        accepted = index[better]
        params[accepted] = trial[better]
        model[accepted] = trial_model[better]
        jacobian[accepted] = trial_jacobian[better]
        change = cost[index] - trial_cost
        cost[accepted] = trial_cost[better]
        damping[accepted] = np.maximum(damping[accepted] / 10.0, 1e-9)
        damping[index[~better]] *= 10.0
        iterations[index] += 1
        position_step = np.hypot(steps[:, 1], steps[:, 2])
        done = (better & (position_step < tol) & (change <= 1e-10 * cost[index] + 1e-300)) | (
            damping[index] > 1e12
        )
        active[index[done]] = False
    converged = ~active & (damping < 1e12)
    normal = jacobian.transpose(0, 2, 1) @ jacobian
    unscaled = np.full((count, 5, 5), np.inf)
    invertible = np.linalg.cond(normal) < 1e12 if count else np.zeros(0, dtype=bool)
    if np.any(invertible):
        unscaled[invertible] = np.linalg.inv(normal[invertible])
    converged &= invertible
    return SpotFits(params, unscaled, cost, iterations, converged)


def locate_points(
    image: np.ndarray,
    *,
    psf_sigma: float | None = None,
    threshold: float = 5.0,
    fit_radius: int | None = None,
    min_separation: float | None = None,
    noise: float | None = None,
) -> PointEstimates:
    """Find isolated point sources and localise each with a 2-D Gaussian fit.

    1. Noise sigma from the image unless ``noise`` is given: its RMS noise read off
       its weak-texture blocks, by brightness where the noise grows with it
       (:func:`~lamina.plugins.subpixel.noise.noise_from_image`); background from
       the median.
    2. Detection: local maxima (:func:`skimage.feature.peak_local_max`) of the image
       filtered by a Gaussian of the PSF width (the matched filter), above
       ``threshold`` standard deviations of the filtered noise.
    3. Refinement: background-subtracted intensity-weighted centroid in a box of
       half-width ``fit_radius``, then the maximum-likelihood Gaussian fit
       (amplitude, position, width, local background) started from it.
    4. Uncertainty: the least-squares sandwich ``(J^T J)^-1 J^T V J (J^T J)^-1``
       with per-pixel noise variances ``V`` from a noise model fitted to the
       residuals (``constant + per_signal * spot light``: white or photon noise;
       the given ``noise`` is white), times the spot's reduced chi-square against
       that model (``misfit``) where its fit is worse than its noise. For white
       noise it is the Cramér-Rao bound ``sigma**2 (J^T J)^-1``.

    Spots whose boxes overlap another spot (closer than ``min_separation``), that
    touch the image border, whose fit fails (no convergence, position leaving the
    box, non-positive amplitude, width outside [0.3, fit_radius]) or whose width
    is more than 1.6 times off the PSF width (merged neighbours, hot pixels) are
    dropped and counted in ``diagnostics["rejected"]``. Pairs closer than about
    2.5 PSF sigmas merge into one peak that a circular Gaussian still fits: a spot
    that fits worse than its noise and is 1.25 times wider than the PSF is taken
    for such a pair and rejected as ``shape`` too (at SNR 5 a merged pair may
    still pass; the per-spot ``chi2`` is then the sign to look for).

    Parameters
    ----------
    image : ndarray
        2-D float image with bright spots on a darker background.
    psf_sigma : float or None
        Gaussian PSF standard deviation in pixels; when None it is the median
        width fitted to up to 25 of the brightest spots of a first detection.
    threshold : float
        Detection threshold in standard deviations of the filtered noise.
    fit_radius : int or None
        Half-width of the fitting box; ``max(2, ceil(3 psf_sigma))`` by default.
    min_separation : float or None
        Closest allowed distance to another detected spot; ``fit_radius + 1`` by
        default (the boxes then share no more than one ring of pixels).
    noise : float or None
        Known noise standard deviation per pixel.

    Returns
    -------
    lamina.PointEstimates
        ``positions`` and ``uncertainty`` (N, 2) as (y, x), brightest first;
        ``diagnostics`` holds per-spot arrays (``centroid``, ``amplitude``,
        ``sigma``, ``background``, ``snr``, ``chi2`` -- the reduced chi-square of
        the fit against the image noise, near 1 for a Gaussian spot --, ``misfit``
        -- the same against the noise model --, ``converged``) and the run's
        ``noise_model`` (``constant``, ``per_signal``),
        ``noise_sigma``, ``psf_sigma``, ``psf_fwhm``, ``detected`` and
        ``rejected`` counts.

    Examples
    --------
    >>> import numpy as np
    >>> from lamina.plugins.subpixel.localize import locate_points
    >>> yy, xx = np.mgrid[0:48, 0:48]
    >>> image = 0.1 + 0.8 * np.exp(-((yy - 20.3) ** 2 + (xx - 25.6) ** 2) / (2 * 1.5**2))
    >>> found = locate_points(image, noise=0.001)
    >>> print(np.round(found.positions, 3))
    [[20.3 25.6]]
    """
    data = as_image(image, "image", min_size=5)
    if psf_sigma is not None:
        psf_sigma = check_positive(psf_sigma, "psf_sigma")
    check_positive(threshold, "threshold")
    if noise is not None:
        check_positive(noise, "noise", allow_zero=True)
    if np.ptp(data) == 0:
        raise InputError("not feasible: image is constant, so it holds no point source")
    if noise is None:
        sigma_image = noise_from_image(data)
        noise_source = "image (weak-texture blocks)"
    else:
        sigma_image = float(noise)
        noise_source = "given"
    # A floor keeps the detection threshold meaningful on noise-free images.
    sigma_image = max(sigma_image, 1e-6 * float(np.ptp(data)))
    background = float(np.median(data))
    if psf_sigma is None:
        psf_sigma = _estimate_psf_sigma(data, background, sigma_image, threshold)
        if psf_sigma is None:  # nothing above the threshold: no point source
            return _empty(sigma_image, noise_source, threshold)
    radius = fit_radius if fit_radius is not None else max(2, int(np.ceil(3.0 * psf_sigma)))
    separation = float(min_separation) if min_separation is not None else radius + 1.0
    peaks = _detect(data, background, sigma_image, psf_sigma, threshold, radius)
    rejected = {"crowded": 0, "fit": 0, "shape": 0}
    if len(peaks) > 1:
        nearest, _ = cKDTree(peaks).query(peaks, k=2)
        isolated = nearest[:, 1] >= separation
        rejected["crowded"] = int(np.count_nonzero(~isolated))
        peaks = peaks[isolated]
    result = _refine(data, peaks, radius, psf_sigma, sigma_image)
    keep = result.keep
    rejected["fit"] = int(np.count_nonzero(~keep))
    # Merged neighbours fit wide, hot pixels narrow: neither is an isolated point.
    width = result.params[:, 3]
    shaped = (width <= _WIDTH_RATIO * psf_sigma) & (width >= psf_sigma / _WIDTH_RATIO)
    rejected["shape"] = int(np.count_nonzero(keep & ~shaped))
    keep = keep & shaped
    sigma = float(noise) if noise is not None else result.noise_sigma
    noise_model = _NoiseModel.fit(
        result, keep, None if noise is None else float(noise), ceiling=sigma_image
    )
    # Two spots closer than about 2.5 PSF sigmas merge into one peak that a circular
    # Gaussian fits between them (0.9-3.6 px off): wider than the PSF and fitting
    # worse than the noise allows. A single spot off the model (pixel-integrated,
    # a real PSF) fits worse at high SNR but is not wider; it keeps its estimate,
    # its uncertainty scaled by the misfit.
    covariance, misfit = noise_model.covariance(result, keep)
    box = (2 * radius + 1) ** 2 - 5.0
    misfitting = misfit > 1.0 + _MISFIT_Z * np.sqrt(2.0 / box)
    # in crowded views the PSF width of the brightest spots is itself widened by
    # merged ones (2.87 for 2.5); the median of every kept spot much less so
    single = min(float(np.median(width[keep])), psf_sigma) if np.any(keep) else psf_sigma
    merged = misfitting & (width[keep] > _MERGED_WIDTH * single)
    rejected["shape"] += int(np.count_nonzero(merged))
    keep[np.flatnonzero(keep)[merged]] = False
    covariance, misfit = covariance[~merged], misfit[~merged]
    positions = result.positions[keep]
    uncertainty = np.sqrt(np.stack([covariance[:, 0, 0], covariance[:, 1, 1]], axis=1))
    widths = result.params[keep, 3]
    fitted_psf = float(np.median(widths)) if len(widths) else float("nan")
    diagnostics = {
        "estimator": "ml-refine.locate",
        "detected": int(len(peaks) + rejected["crowded"]),
        "rejected": rejected,
        "noise_sigma": sigma,
        "noise_model": {"constant": noise_model.constant, "per_signal": noise_model.per_signal},
        "misfit": misfit,
        "noise_source": noise_source if noise is not None or result.dof == 0 else "fit residuals",
        "noise_sigma_image": sigma_image,
        "psf_sigma": fitted_psf,
        "psf_fwhm": float(2.0 * np.sqrt(2.0 * np.log(2.0)) * fitted_psf),
        "detection_sigma": float(psf_sigma),
        "fit_radius": radius,
        "centroid": result.centroids[keep],
        "amplitude": result.params[keep, 0],
        "sigma": widths,
        "background": result.params[keep, 4],
        "snr": result.params[keep, 0] / sigma if sigma > 0 else np.full(len(widths), np.inf),
        "chi2": result.residual_sum[keep] / ((2 * radius + 1) ** 2 - 5) / sigma_image**2,
        "iterations": result.iterations[keep],
        "converged": result.converged[keep],
    }
    return PointEstimates(positions=positions, uncertainty=uncertainty, diagnostics=diagnostics)


#: Standard errors of the reduced chi-square above 1 from which a spot fits worse
#: than its noise allows.
_MISFIT_Z = 3.0

#: Fitted width (times the PSF width) from which a misfitting spot counts as two
#: merged ones: merged pairs fitted 1.5-1.8 times the PSF width, single
#: spots off the model (pixel-integrated) the PSF width.
_MERGED_WIDTH = 1.25

#: Bins of spot light whose median squared residuals give the noise model.
_NOISE_BINS = 8

#: Reweighted passes refining the noise model, and the multiple of its variance at
#: which a squared residual is clipped there.
_NOISE_PASSES = 4
_CLIP_CHI2 = 9.0

#: Median of a chi-square variable with one degree of freedom.
_MEDIAN_CHI2_1 = 0.45493642311957283


@dataclass(frozen=True)
class _NoiseModel:
    """Pixel noise variance ``constant + per_signal * (model - background)``: white
    noise (``per_signal`` 0) or photon noise, whose variance grows with the spot's
    own light, fitted to the squared residuals of the spots (Poisson spots at SNR
    100-1000 covered +-2 sigma only 0.46-0.86 with one pooled variance: the
    position is learnt where the light, and its noise, is)."""

    constant: float
    per_signal: float

    @classmethod
    def fit(
        cls, result: _Refined, keep: np.ndarray, noise: float | None, *, ceiling: float
    ) -> _NoiseModel:
        """From the kept fits' residuals, robustly: the median squared residual of
        ``_NOISE_BINS`` bins of spot light (a median of chi-square with one degree of
        freedom is 0.4549 of its mean), then a line through the bins. Means let
        merged neighbours (a third of the spots in crowded views) raise the noise
        40-180 fold and pass their own misfit for noise; where most spots are
        merged even the medians do, so the constant part stays under the image's
        own noise ``ceiling`` (:func:`.noise.noise_from_image`: the image's RMS noise,
        which texture can raise, read under it only on small images with few flat
        blocks). The given ``noise`` is taken as white."""
        if noise is not None or not np.any(keep):
            return cls((result.noise_sigma if noise is None else noise) ** 2, 0.0)
        residual, signal, leverage = _residuals(result, keep)
        squared = (residual**2 / (1.0 - leverage)).ravel()
        light = signal.ravel()
        order = np.argsort(light, kind="stable")
        bins = np.array_split(order, _NOISE_BINS)
        level = np.array([np.median(squared[b]) / _MEDIAN_CHI2_1 for b in bins])
        mean_light = np.array([np.mean(light[b]) for b in bins])
        design = np.stack([np.ones(len(bins)), mean_light], axis=1)
        constant, per_signal = np.linalg.lstsq(design, level, rcond=None)[0]
        if per_signal <= 0.0:
            constant, per_signal = float(np.median(squared)) / _MEDIAN_CHI2_1, 0.0
        per_signal = float(per_signal)
        floor = (1e-3 * result.noise_sigma) ** 2 + np.finfo(float).tiny
        constant = min(max(float(constant), floor), ceiling**2)
        # The bins' medians read a bright bin's mixture of variances low (the slope
        # of photon noise 0.3-0.7 of the truth at PSF 0.7-1.5 px): weighted least
        # squares with weights 1 / v**2 (squared residuals vary by 2 v**2), each
        # squared residual clipped at _CLIP_CHI2 times its variance so misfits
        # weigh little, refine it.
        for _ in range(_NOISE_PASSES):
            variance = constant + per_signal * light
            clipped = np.minimum(squared, _CLIP_CHI2 * variance)
            weighted = np.stack([np.ones(light.size), light], axis=1) / variance[:, None]
            refined = np.linalg.lstsq(weighted, clipped / variance, rcond=None)[0]
            constant = min(max(float(refined[0]), floor), ceiling**2)
            per_signal = max(float(refined[1]), 0.0)
        return cls(constant, float(per_signal))

    def reduced_chi2(self, residual: np.ndarray, signal: np.ndarray) -> np.ndarray:
        variance = self.constant + self.per_signal * signal
        return np.sum(residual**2 / variance, axis=1) / (residual.shape[1] - 5.0)

    def covariance(self, result: _Refined, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Position covariance of each kept spot, the least-squares sandwich
        ``(J^T J)^-1 J^T V J (J^T J)^-1`` with this model's per-pixel variances ``V``,
        times the spot's reduced chi-square where its fit is worse than its noise
        (merged neighbours, a neighbour's tail in the box: those were 0.9 px off
        at 0.02 px), and that chi-square. A given noise of 0 (a noise-free image)
        has no variance to compare a misfit with: the sandwich is then 0 and so is
        the misfit, rather than 0/0."""
        if not np.any(keep):
            return np.zeros((0, 2, 2)), np.zeros(0)
        residual, signal, _ = _residuals(result, keep)
        _, jacobian = _box_model(result, keep)
        variance = self.constant + self.per_signal * signal
        bread = result.unscaled[keep]
        meat = np.einsum("nkp,nk,nkq->npq", jacobian, variance, jacobian)
        sandwich = bread @ meat @ bread
        if self.constant == 0.0 and self.per_signal == 0.0:
            return sandwich[:, 1:3, 1:3], np.zeros(len(sandwich))
        chi2 = self.reduced_chi2(residual, signal)
        return sandwich[:, 1:3, 1:3] * np.maximum(chi2, 1.0)[:, None, None], chi2


def _box_model(result: _Refined, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The fitted spot model and its Jacobian over the chosen boxes' pixels."""
    size = result.boxes.shape[1]
    grid_y, grid_x = np.mgrid[0:size, 0:size]
    return gaussian_spot_jacobian(
        result.params[chosen], grid_y.ravel().astype(np.float64), grid_x.ravel().astype(np.float64)
    )


def _residuals(result: _Refined, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Residuals, spot light (model less background) and leverage per pixel of the
    chosen boxes. A pixel's residual holds ``1 - leverage`` of its noise variance
    (``leverage = J (J^T J)^-1 J^T`` on the diagonal): the fit absorbs most of the
    noise of the few bright pixels of a small spot (leverage up to 0.6-0.8 at a
    PSF of 0.7 px), which read photon noise's slope at half its value."""
    model, jacobian = _box_model(result, chosen)
    data = result.boxes[chosen].reshape(model.shape)
    signal = np.clip(model - result.params[chosen, 4:5], 0.0, None)
    leverage = np.einsum("nkp,npq,nkq->nk", jacobian, result.unscaled[chosen], jacobian)
    return data - model, signal, np.clip(leverage, 0.0, 0.99)


def _estimate_psf_sigma(
    data: np.ndarray, background: float, noise: float, threshold: float
) -> float | None:
    """Median fitted width of the brightest spots of a first detection (None when
    nothing stands above the threshold)."""
    peaks = _detect(data, background, noise, 1.0, threshold, 4)
    if len(peaks) == 0:
        return None
    result = _refine(data, peaks[:_PSF_SAMPLE], 4, 1.5, noise)
    widths = result.params[result.keep, 3]
    return float(np.median(widths)) if len(widths) else None


def _empty(noise: float, source: str, threshold: float) -> PointEstimates:
    return PointEstimates(
        positions=np.zeros((0, 2)),
        uncertainty=np.zeros((0, 2)),
        diagnostics={
            "estimator": "ml-refine.locate",
            "detected": 0,
            "rejected": {"crowded": 0, "fit": 0, "shape": 0},
            "noise_sigma": noise,
            "noise_source": source,
            "reason": f"no point source stands {threshold:g} noise sigmas above the background",
        },
    )


def _detect(
    data: np.ndarray,
    background: float,
    noise: float,
    psf_sigma: float,
    threshold: float,
    border: int,
) -> np.ndarray:
    """Integer peak positions of the matched-filtered image above the threshold."""
    from skimage.feature import peak_local_max

    filtered = ndimage.gaussian_filter(data - background, psf_sigma, mode="nearest")
    # White noise through a unit-sum Gaussian of width s has variance sigma^2/(4 pi s^2).
    filtered_noise = noise / (2.0 * np.sqrt(np.pi) * psf_sigma)
    peaks = peak_local_max(
        filtered,
        min_distance=max(1, round(psf_sigma)),
        threshold_abs=threshold * filtered_noise,
        exclude_border=border,
    ).astype(int)
    # A spot centred between pixels gives a plateau of equal maxima, which
    # peak_local_max may return as two peaks: keep the first (brightest) of any
    # peaks closer than the PSF width, so one spot is never "crowded" by itself.
    if len(peaks) < 2:
        return peaks
    pairs = cKDTree(peaks).query_pairs(max(1.5, psf_sigma), output_type="ndarray")
    removed = np.zeros(len(peaks), dtype=bool)
    for first, second in sorted(map(tuple, pairs.tolist())):
        if not removed[first]:
            removed[second] = True
    return peaks[~removed]


@dataclass(frozen=True)
class _Refined:
    """Per-peak fits of `_refine`; ``keep`` marks those that converged inside the box
    with a positive amplitude and a width in [0.3, radius] (the caller judges the
    width against the PSF)."""

    positions: np.ndarray  # (n, 2) fitted (y, x)
    centroids: np.ndarray  # (n, 2) background-subtracted centroids
    params: np.ndarray  # (n, 5) amplitude, y, x, width, background (box coordinates)
    unscaled: np.ndarray  # (n, 5, 5) covariance for unit noise
    residual_sum: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray
    keep: np.ndarray
    noise_sigma: float  # pooled from the kept fits' residuals (or the given noise)
    dof: int
    boxes: np.ndarray  # (n, size, size) the pixels each fit saw


def _refine(
    data: np.ndarray, peaks: np.ndarray, radius: int, psf_sigma: float, noise: float
) -> _Refined:
    """Centroid and Gaussian fit in a box around each peak."""
    count = len(peaks)
    size = 2 * radius + 1
    if count == 0:
        empty = np.zeros((0, 2))
        return _Refined(
            positions=empty,
            centroids=empty,
            params=np.zeros((0, 5)),
            unscaled=np.zeros((0, 5, 5)),
            residual_sum=np.zeros(0),
            iterations=np.zeros(0, dtype=int),
            converged=np.zeros(0, dtype=bool),
            keep=np.zeros(0, dtype=bool),
            noise_sigma=noise,
            dof=0,
            boxes=np.zeros((0, size, size)),
        )
    offsets = np.arange(-radius, radius + 1)
    rows = peaks[:, 0, None, None] + offsets[None, :, None]
    cols = peaks[:, 1, None, None] + offsets[None, None, :]
    boxes = data[rows, cols]  # (n, size, size)
    edge = np.concatenate(
        [boxes[:, 0, :], boxes[:, -1, :], boxes[:, 1:-1, 0], boxes[:, 1:-1, -1]], axis=1
    )
    local_background = np.median(edge, axis=1)
    signal = np.clip(boxes - local_background[:, None, None], 0.0, None)
    total = signal.sum(axis=(1, 2))
    grid = np.arange(size, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        centroid_y = np.einsum("nij,i->n", signal, grid) / total
        centroid_x = np.einsum("nij,j->n", signal, grid) / total
    centre = np.where(np.isfinite(centroid_y), centroid_y, radius)
    centre_x = np.where(np.isfinite(centroid_x), centroid_x, radius)
    start = np.stack(
        [
            boxes[:, radius, radius] - local_background,
            centre,
            centre_x,
            np.full(count, psf_sigma),
            local_background,
        ],
        axis=1,
    )
    fits = fit_gaussian_spots(boxes, start)
    params = fits.params
    inside = (
        (params[:, 1] > 0)
        & (params[:, 1] < size - 1)
        & (params[:, 2] > 0)
        & (params[:, 2] < size - 1)
        & (np.abs(params[:, 1] - radius) <= radius / 2 + 1)
        & (np.abs(params[:, 2] - radius) <= radius / 2 + 1)
    )
    keep = (
        fits.converged
        & inside
        & (params[:, 0] > 0)
        & (params[:, 3] >= 0.3)
        & (params[:, 3] <= radius)
        & np.all(np.isfinite(fits.unscaled_covariance), axis=(1, 2))
    )
    dof = int(np.count_nonzero(keep)) * (size * size - 5)
    pooled = float(np.sqrt(fits.residual_sum[keep].sum() / dof)) if dof > 0 else noise
    positions = params[:, 1:3] + peaks - radius
    centroids = np.stack([centre, centre_x], axis=1) + peaks - radius
    return _Refined(
        positions=positions,
        centroids=centroids,
        params=params,
        unscaled=fits.unscaled_covariance,
        residual_sum=fits.residual_sum,
        iterations=fits.iterations,
        converged=fits.converged,
        keep=keep,
        noise_sigma=pooled,
        dof=dof,
        boxes=boxes,
    )
