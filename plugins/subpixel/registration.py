"""The refined maximum-likelihood registration estimator, ``ml-refine``.

Sign convention (lamina's, see :class:`lamina.ShiftEstimate`): ``(dy, dx)`` is
the displacement of the content from ``reference`` to ``moving``, so
``moving ≈ scipy.ndimage.shift(reference, (dy, dx))`` and
``scipy.ndimage.fourier_shift`` by ``(dy, dx)`` turns ``reference`` into
``moving``. It is the **negative** of what
:func:`skimage.registration.phase_cross_correlation` returns (that function
gives the shift that registers ``moving`` back onto ``reference``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from lamina.errors import InputError
from lamina.plugins.subpixel.checks import as_pair, check_choice, check_positive, require_texture
from lamina.plugins.subpixel.spectral import CrossSpectrum, Moments, noise_floor
from lamina.plugins.subpixel.windows import MIN_OVERLAP, apply_window, comoving_windows, sum_product
from lamina.types import PointEstimates, ShiftEstimate

__all__ = ["MLRefine", "gauss_newton", "texture_check"]

_DTYPES = {"float32": np.float32, "float64": np.float64}

#: Most refits with co-moving windows; each moves the windows to the last estimate.
_MAX_WINDOW_PASSES = 8

#: Taper of the fixed window of the integer search.
_COARSE_TAPER = 0.25

#: Largest fraction of the band left out next to Nyquist in the window model.
_MAX_BAND_CUT = 0.3

#: How much of a change of the window placement reaches the estimate (measured on
#: camera crops: about 0.008 for taper 0.25, so 0.01 errs on the safe side).
_WINDOW_CONTRACTION = 0.01


def gauss_newton(
    spectrum: CrossSpectrum, start: np.ndarray, *, max_iter: int, tol: float
) -> tuple[np.ndarray, Moments, int, bool]:
    """Maximise the (weighted) Fourier-interpolated correlation from ``start``.

    Each step solves with the observed curvature ``sum q k k^T Re C exp(-ik.d)``
    (a Newton step: quadratic convergence) while it is positive definite, and
    with the Gauss-Newton matrix of the symmetric residual otherwise (always
    positive semi-definite, but its noise power shortens the steps). Steps are
    capped at one pixel and halved until the correlation does not drop. Returns
    the shift, the model there, the number of iterations and whether the last
    step was shorter than ``tol`` pixels.
    """
    shift = np.asarray(start, dtype=np.float64).copy()
    moments = spectrum.moments(shift)
    slack = 1e-6 if spectrum.cross.dtype == np.complex64 else 1e-12
    for iteration in range(1, max_iter + 1):
        matrix = moments.curvature
        if np.linalg.eigvalsh(matrix)[0] <= 0:
            matrix = spectrum.gauss_newton_matrix(moments)
        try:
            step = np.linalg.solve(matrix, moments.gradient)
        except np.linalg.LinAlgError:
            raise InputError(
                "not feasible: the images carry no texture, so no shift can be measured"
            ) from None
        length = float(np.hypot(*step))
        if length > 1.0:
            step /= length
        for _ in range(12):
            trial = shift + step
            trial_moments = spectrum.moments(trial)
            if trial_moments.correlation >= moments.correlation - slack * abs(moments.correlation):
                break
            step = step / 2.0
        shift, moments = trial, trial_moments
        if float(np.hypot(*step)) < tol:
            return shift, moments, iteration, True
    return shift, moments, max_iter, False


@dataclass
class _Fit:
    shift: np.ndarray
    covariance: np.ndarray
    first_order: np.ndarray
    crlb: np.ndarray
    sigma: float
    iterations: int
    converged: bool
    peak: float


class MLRefine:
    """Refined maximum-likelihood registration: coarse correlation, then Gauss-Newton
    on the Fourier-shift model with symmetric half-shifts. lamina's default
    position estimator.

    Parameters
    ----------
    boundary : {"window", "periodic"}
        How the image borders are modelled. ``"window"`` (default): views of a
        larger scene, as a camera takes them; a Tukey window that moves with the
        content (placed at -d/2 and +d/2, its support shrinking to the overlap)
        removes the wrap-around edges without biasing the shift, and the bins
        next to Nyquist that the window aliases are left out. ``"periodic"``:
        the images are circular translates (Fourier-shifted test data, periodic
        scenes); every pixel and bin is used, about 25-40 % more precise there,
        but biased toward zero shift on real views.
    taper : float
        Fraction of the window support in its cosine tapers (0 < taper <= 1;
        1 is a Hann window). Used by the window model.
    coarse : {"auto", "cross", "phase"}
        Integer search by cross-correlation (robust to noise), phase
        correlation (sharper peak: large shifts of smooth scenes, illumination
        changes), or both, keeping the candidate whose overlap correlates best.
    weighting : {"wiener", "none"}
        ``"wiener"`` weights each frequency by ``P / (P + sigma**2 / 2)``, the
        ML estimate with the unknown scene marginalised, efficient at low SNR;
        ``"none"`` is plain least squares (efficient at high SNR only).
    noise : float or None
        Known noise standard deviation per pixel (image units); by default it is
        estimated from the residual of the fit.
    max_iter : int
        Most Gauss-Newton iterations per pass.
    tol : float
        Convergence: last step shorter than ``tol`` pixels.
    precision : {"float32", "float64"}
        Precision of the FFTs and the cross spectrum.
    psf_sigma : float or None
        ``locate``: Gaussian PSF standard deviation in pixels for the detection
        filter; estimated from the brightest spots when None.
    threshold : float
        ``locate``: detection threshold in standard deviations of the filtered
        noise.
    fit_radius : int or None
        ``locate``: half-width of the fitting box; ``ceil(3 psf_sigma)`` by default.
    min_separation : float or None
        ``locate``: spots closer than this to another are dropped as crowded;
        ``fit_radius + 1`` by default.

    Notes
    -----
    Sign: ``(dy, dx)`` is the displacement of the content from ``reference`` to
    ``moving`` (``moving ≈ scipy.ndimage.shift(reference, (dy, dx))``), the
    negative of :func:`skimage.registration.phase_cross_correlation`.

    Both images are modelled as one unknown midpoint image moved by -d/2 and +d/2
    plus white noise. Least squares over that image gives the maximum of the
    Fourier-interpolated cross-correlation ``Re sum R conj(M) exp(-i k.d)``
    (Guizar-Sicairos et al. 2008 reach it by upsampled DFT; here damped
    Newton/Gauss-Newton steps reach it in a few iterations with no FFT after the
    first two). The integer start comes from the cross-correlation peak of
    Hann-windowed images with a three-point parabola. A second pass
    weights each frequency by ``P / (P + sigma**2 / 2)``, the ML estimate with the
    scene marginalised under a Gaussian prior of power ``P``; without it the
    noise-times-noise term doubles the error at low SNR.

    The uncertainty is the sandwich covariance of that estimating equation, which
    reduces to the two-image Cramér-Rao bound ``2 sigma**2 G^-1``,
    ``G = sum grad g grad g^T`` (Robinson & Milanfar 2004), at high SNR; the bound
    itself is in ``diagnostics["crlb"]``. Noise is estimated from the residual of
    the fit, so model errors (rotation, illumination, non-rigid motion) make the
    uncertainty larger, not falsely small. Nyquist bins of even sizes and the DC
    bin are left out of the fit.

    References
    ----------
    .. [1] M. Guizar-Sicairos, S. T. Thurman, J. R. Fienup, "Efficient subpixel
       image registration algorithms", Opt. Lett. 33, 156-158 (2008).
    .. [2] D. Robinson, P. Milanfar, "Fundamental performance limits in image
       registration", IEEE Trans. Image Process. 13, 1185-1199 (2004).
    .. [3] C. Aguerrebere, M. Delbracio, A. Bartesaghi, G. Sapiro, "Fundamental
       limits in multi-image alignment", IEEE Trans. Signal Process. 64,
       5707-5722 (2016).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import ndimage
    >>> from skimage import data
    >>> from lamina.plugins.subpixel.registration import MLRefine
    >>> reference = data.camera()[128:384, 128:384] / 255.0
    >>> spectrum = ndimage.fourier_shift(np.fft.fft2(reference), (1.3, -2.7))
    >>> moving = np.fft.ifft2(spectrum).real
    >>> estimate = MLRefine().estimate(reference, moving)
    >>> print(f"{estimate.dy:.3f} {estimate.dx:.3f}")
    1.300 -2.700
    """

    def __init__(
        self,
        *,
        boundary: Literal["window", "periodic"] = "window",
        taper: float = 0.25,
        coarse: Literal["auto", "cross", "phase"] = "auto",
        weighting: Literal["wiener", "none"] = "wiener",
        noise: float | None = None,
        max_iter: int = 30,
        tol: float = 1e-5,
        precision: Literal["float32", "float64"] = "float32",
        psf_sigma: float | None = None,
        threshold: float = 5.0,
        fit_radius: int | None = None,
        min_separation: float | None = None,
    ) -> None:
        check_choice("boundary", boundary, ("window", "periodic"))
        check_choice("coarse", coarse, ("auto", "cross", "phase"))
        check_choice("weighting", weighting, ("wiener", "none"))
        check_choice("precision", precision, tuple(_DTYPES))
        if not (isinstance(taper, (int, float)) and 0 < taper <= 1):
            raise InputError(f"taper must be a number in (0, 1], got {taper!r}")
        if noise is not None:
            check_positive(noise, "noise", allow_zero=True)
        if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
            raise InputError(f"max_iter must be an integer >= 1, got {max_iter!r}")
        check_positive(tol, "tol")
        if psf_sigma is not None:
            check_positive(psf_sigma, "psf_sigma")
        check_positive(threshold, "threshold")
        if fit_radius is not None and (
            isinstance(fit_radius, bool) or not isinstance(fit_radius, int) or fit_radius < 2
        ):
            raise InputError(f"fit_radius must be an integer >= 2 or None, got {fit_radius!r}")
        if min_separation is not None:
            check_positive(min_separation, "min_separation")
        self.boundary = boundary
        self.taper = float(taper)
        self.coarse = coarse
        self.weighting = weighting
        self.noise = None if noise is None else float(noise)
        self.max_iter = max_iter
        self.tol = float(tol)
        self.precision = precision
        self.psf_sigma = psf_sigma
        self.threshold = float(threshold)
        self.fit_radius = fit_radius
        self.min_separation = min_separation

    # -- registration ----------------------------------------------------------
    def estimate(self, reference: np.ndarray, moving: np.ndarray) -> ShiftEstimate:
        """Shift (dy, dx) of the content from ``reference`` to ``moving``, in pixels.

        Raises
        ------
        lamina.InputError
            Bad arrays, or a pair whose shift is not feasible (constant images,
            no texture above the noise, texture in one direction only, too little
            overlap).
        """
        dtype = _DTYPES[self.precision]
        ref, mov = as_pair(reference, moving, dtype=dtype)
        require_texture(ref, "reference")
        require_texture(mov, "moving")
        # The integer search runs on a fixed Tukey window, which keeps the
        # wrap-around edges out of the correlation but most of the overlap of
        # large shifts in; its pull toward zero shift is about 1e-2 px and the
        # refinement removes it.
        window = _static_window(ref.shape, dtype)
        coarse = CrossSpectrum(
            window * (ref - ref.mean()), window * (mov - mov.mean()), dtype=dtype
        )
        start = self._coarse_start(ref, mov, coarse)
        if self.boundary == "periodic":
            spectrum = CrossSpectrum(ref - ref.mean(), mov - mov.mean(), dtype=dtype)
            fit = self._fit_periodic(spectrum, start)
        else:
            # Close enough for placing the first co-moving windows (1e-3 px).
            shift, _, iterations, _ = gauss_newton(
                coarse, start, max_iter=self.max_iter, tol=max(self.tol, 1e-3)
            )
            fit = self._fit_windowed(ref, mov, shift, dtype, iterations)
        height, width = ref.shape
        dy, dx = (float(v) for v in fit.shift)
        diagnostics: dict[str, Any] = {
            "estimator": "ml-refine",
            "boundary": self.boundary,
            "weighting": self.weighting,
            "coarse_shift": start.tolist(),
            "iterations": fit.iterations,
            "converged": fit.converged,
            "peak": fit.peak,
            "noise_sigma": fit.sigma,
            "noise_source": "given" if self.noise is not None else "residual",
            "crlb": np.sqrt(np.diag(fit.crlb)).tolist(),
            "covariance": fit.covariance.tolist(),
            "first_order_covariance": fit.first_order.tolist(),
            "overlap": max(0.0, (1 - abs(dy) / height) * (1 - abs(dx) / width)),
        }
        uncertainty = np.sqrt(np.diag(fit.covariance))
        return ShiftEstimate(dy, dx, (float(uncertainty[0]), float(uncertainty[1])), diagnostics)

    def _coarse_start(
        self, ref: np.ndarray, mov: np.ndarray, spectrum: CrossSpectrum
    ) -> np.ndarray:
        """Integer (+ parabola) start.

        ``"auto"`` takes the peaks of both the plain correlation (resists noise) and
        the phase correlation (finds large shifts of smooth scenes). The circular
        correlation cannot tell d from d - N; for views (``boundary="window"``)
        each peak's wrapped alternatives are candidates too. When candidates
        disagree, the one whose overlapping pixels correlate most significantly
        (Fisher z of the correlation coefficient) wins.
        """
        whiten = {"cross": [False], "phase": [True], "auto": [False, True]}[self.coarse]
        peaks = [spectrum.coarse_shift(phase=flag)[0] for flag in whiten]
        quarter = np.array(ref.shape) / 4.0
        agree = len(peaks) == 1 or np.max(np.abs(peaks[0] - peaks[1])) <= 1.0
        if agree and (self.boundary == "periodic" or np.all(np.abs(peaks[0]) < quarter)):
            return peaks[0]
        candidates = []
        for peak in peaks:
            options = [peak]
            if self.boundary == "window":
                for axis, size in enumerate(ref.shape):
                    wrapped = [option.copy() for option in options]
                    for option in wrapped:
                        option[axis] -= np.sign(option[axis]) * size
                    options += wrapped
            candidates += options
        scores = [_overlap_significance(ref, mov, candidate) for candidate in candidates]
        return candidates[int(np.argmax(scores))]

    def _sigma(self, spectrum: CrossSpectrum, moments: Moments, noise_scale: float) -> float:
        """Noise in the (windowed) spectrum: given, or from the plain residual."""
        if self.noise is not None:
            sigma = self.noise * noise_scale
        else:
            sigma = spectrum.noise_sigma(moments)
        return max(sigma, noise_floor(spectrum))

    def _weights(
        self, spectrum: CrossSpectrum, shift: np.ndarray, sigma: float
    ) -> np.ndarray | None:
        """Wiener weights ``P / (P + sigma**2 / 2)`` (or None for plain least squares)."""
        if self.weighting == "none":
            return None
        signal = spectrum.signal_power(spectrum.midpoint_power(shift), sigma)
        denominator = signal + signal.dtype.type(0.5 * sigma**2)
        weights = np.divide(signal, denominator, out=np.zeros_like(signal), where=denominator > 0)
        # Bins weighted below 1e-6 carry nothing; zeroing them keeps the float32
        # products out of denormal numbers, which are very slow.
        weights[weights < 1e-6] = 0.0
        return weights

    def _fit_periodic(self, spectrum: CrossSpectrum, start: np.ndarray) -> _Fit:
        """Plain least squares, noise from its residual, then the weighted pass."""
        shift, moments, iterations, converged = gauss_newton(
            spectrum, start, max_iter=self.max_iter, tol=self.tol
        )
        sigma = self._sigma(spectrum, moments, 1.0)
        peak = spectrum.normalized_peak(moments)
        try:
            information = spectrum.information(spectrum.midpoint_power(shift), sigma)
        except InputError as error:
            raise InputError(
                f"{error} (with boundary='periodic'; views of a larger scene, whose content "
                "enters and leaves at the borders, need boundary='window')"
            ) from None
        crlb = spectrum.crlb(information, sigma)
        weights = self._weights(spectrum, shift, sigma)
        if weights is not None:
            spectrum.set_weights(weights)
            shift, moments, more, converged = gauss_newton(
                spectrum, shift, max_iter=self.max_iter, tol=self.tol
            )
            iterations += more
        total, first = spectrum.covariance(shift, moments, sigma)
        return _Fit(shift, total, first, crlb, sigma, iterations, converged, peak)

    def _fit_windowed(
        self, ref: np.ndarray, mov: np.ndarray, start: np.ndarray, dtype: type, iterations: int
    ) -> _Fit:
        """Refit with co-moving windows until their placement stops moving."""
        shift = start
        weights: np.ndarray | None = None
        band: np.ndarray | None = None
        converged = False
        for outer in range(_MAX_WINDOW_PASSES):
            window_r, window_m = comoving_windows(ref.shape, shift, self.taper, dtype=dtype)
            spectrum = CrossSpectrum(
                apply_window(ref, window_r),
                apply_window(mov, window_m),
                dtype=dtype,
                weights=weights,
            )
            noise_scale = float(np.sqrt(0.5 * (np.mean(window_r**2) + np.mean(window_m**2))))
            if outer == 0:
                band = _alias_free_band(spectrum, ref.shape, shift, self.taper)
                spectrum.set_weights(band)
                sigma = self._sigma(spectrum, spectrum.moments(shift), noise_scale)
                weights = self._weights(spectrum, shift, sigma)
                weights = band if weights is None else weights * band
                spectrum.set_weights(weights)
            moved_to, moments, more, converged = gauss_newton(
                spectrum, shift, max_iter=self.max_iter, tol=self.tol
            )
            iterations += more
            moved = float(np.hypot(*(moved_to - shift)))
            shift = moved_to
            # The next placement would move the estimate by about 1 % of this
            # move (measured contraction of the window fixed point).
            if moved * _WINDOW_CONTRACTION < self.tol:
                break
        else:
            converged = False
        # Noise, bound and peak at the final shift, from the plain residual.
        spectrum.set_weights(band)
        plain = spectrum.moments(shift)
        sigma = self._sigma(spectrum, plain, noise_scale)
        texture_check(ref, mov, (window_r, window_m), sigma / noise_scale)
        peak = spectrum.normalized_peak(plain)
        crlb = spectrum.crlb(spectrum.information(spectrum.midpoint_power(shift), sigma), sigma)
        spectrum.set_weights(weights)
        total, first = spectrum.covariance(
            shift, moments, sigma / noise_scale, (window_r, window_m)
        )
        return _Fit(shift, total, first, crlb, sigma / noise_scale, iterations, converged, peak)

    # -- localisation ----------------------------------------------------------
    def locate(self, image: np.ndarray) -> PointEstimates:
        """Sub-pixel positions of the isolated point sources in ``image``.

        See :func:`lamina.plugins.subpixel.localize.locate_points`; the detection
        and fitting settings are this estimator's ``psf_sigma``, ``threshold``,
        ``fit_radius`` and ``min_separation``.
        """
        from lamina.plugins.subpixel.localize import locate_points

        return locate_points(
            image,
            psf_sigma=self.psf_sigma,
            threshold=self.threshold,
            fit_radius=self.fit_radius,
            min_separation=self.min_separation,
            noise=self.noise,
        )


def texture_check(
    reference: np.ndarray,
    moving: np.ndarray,
    windows: tuple[np.ndarray, np.ndarray],
    sigma: float,
) -> None:
    """Refuse a windowed pair whose content has no texture above the noise in some
    direction.

    The spectrum of a windowed image also holds the window's own edges, which
    move with the shift estimate and would pass for information; so the test uses
    the content's gradients (central differences, noise variance sigma**2 / 2 per
    axis) weighted by the squared windows: ``G = sum w**2 grad g grad g^T``, less
    its noise, must exceed five standard errors along both of its principal
    directions.
    """
    moments = np.zeros((2, 2))
    squared = np.zeros(2)
    noise = 0.5 * sigma**2
    for image, window in zip((reference, moving), windows, strict=True):
        # central differences on the interior (the windows vanish at the border)
        gy = (image[2:, 1:-1] - image[:-2, 1:-1]) / 2
        gx = (image[1:-1, 2:] - image[1:-1, :-2]) / 2
        weight = window[1:-1, 1:-1] ** 2
        yy = sum_product(weight, gy * gy)
        yx = sum_product(weight, gy * gx)
        xx = sum_product(weight, gx * gx)
        moments += np.array([[yy, yx], [yx, xx]])
        squared += [np.sum(weight, dtype=np.float64), sum_product(weight, weight)]
    moments = moments / 2.0 - noise * squared[0] / 2.0 * np.eye(2)
    eigenvalues, vectors = np.linalg.eigh(moments)
    # u^T G u sums w^2 (u.grad)^2: its noise varies by 4 (u.grad g)^2 n + 2 n^2 per pixel
    errors = [
        np.sqrt(
            max(
                4.0 * noise * max(value, 0.0) * squared[1] / squared[0]
                + 2.0 * noise**2 * squared[1],
                0.0,
            )
        )
        for value in eigenvalues
    ]
    if not eigenvalues[1] > 5.0 * errors[1]:
        raise InputError(
            "not feasible: the images carry no texture above the noise "
            "(constant or pure noise), so no shift can be measured"
        )
    if not eigenvalues[0] > 5.0 * errors[0]:
        vy, vx = vectors[:, 0]
        angle = float(np.degrees(np.arctan2(vy, vx))) % 180.0
        raise InputError(
            "not feasible: the images have texture in one direction only (aperture "
            f"problem); motion along {angle:.0f} degrees from the x axis cannot be measured"
        )


def _alias_free_band(
    spectrum: CrossSpectrum, shape: tuple[int, int], shift: np.ndarray, taper: float
) -> np.ndarray:
    """Bins far enough from Nyquist to be free of the aliasing of windowed content.

    Multiplying by a window widens the spectrum by the window's bandwidth, about
    ``2 pi / t`` for a taper of ``t`` pixels, so content near Nyquist folds over
    and no longer moves as a Fourier shift (a bias of ~1e-3 px on camera crops of
    128 px). Leaving out ``3 / t`` of the band per axis (at most 30 %) removes it
    at little cost: those bins are mostly noise.
    """
    limits = []
    for axis, size in enumerate(shape):
        taper_px = max(taper * (size - 1.0 - abs(float(shift[axis]))) / 2.0, 1.0)
        limits.append(np.pi * (1.0 - min(_MAX_BAND_CUT, 3.0 / taper_px)))
    ky = np.abs(spectrum.grid.ky.astype(np.float64))[:, None]
    kx = np.abs(spectrum.grid.kx.astype(np.float64))[None, :]
    return ((ky <= limits[0]) & (kx <= limits[1])).astype(spectrum.dtype)


def _overlap_significance(reference: np.ndarray, moving: np.ndarray, shift: np.ndarray) -> float:
    """Fisher z-score ``atanh(r) sqrt(n - 3)`` of the correlation ``r`` of the ``n``
    pixels that overlap for the integer part of ``shift`` (``moving[y + dy, x + dx]``
    against ``reference[y, x]``): a good match over a large overlap beats a chance
    match over a sliver."""
    steps = np.round(shift).astype(int)
    slices_r, slices_m = [], []
    for step, size in zip(steps, reference.shape, strict=True):
        if abs(step) > size - MIN_OVERLAP:
            return -np.inf
        slices_r.append(slice(max(0, -step), min(size, size - step)))
        slices_m.append(slice(max(0, step), min(size, size + step)))
    first = reference[tuple(slices_r)].astype(np.float64).ravel()
    second = moving[tuple(slices_m)].astype(np.float64).ravel()
    first -= first.mean()
    second -= second.mean()
    denominator = np.sqrt(np.dot(first, first) * np.dot(second, second))
    if denominator <= 0:
        return -np.inf
    correlation = float(np.clip(np.dot(first, second) / denominator, -0.999999, 0.999999))
    return float(np.arctanh(correlation) * np.sqrt(max(first.size - 3, 1)))


@functools.lru_cache(maxsize=8)
def _static_window(shape: tuple[int, int], dtype: type) -> np.ndarray:
    window, _ = comoving_windows(shape, np.zeros(2), _COARSE_TAPER, dtype=dtype)
    window.flags.writeable = False
    return window
