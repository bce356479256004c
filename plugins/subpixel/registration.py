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

import copy
import functools
import itertools
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from lamina.errors import InputError
from lamina.params import check_choice
from lamina.plugins.subpixel.checks import as_masked_pair, as_pair, check_positive
from lamina.plugins.subpixel.matching import (
    MATCH_Z,
    Match,
    choose_start,
    independence,
    secondary_peaks,
)
from lamina.plugins.subpixel.noise import noise_from_image
from lamina.plugins.subpixel.quality import (
    SIGNIFICANT_Z,
    Texture,
    judged_texture,
    require_texture,
    rounding_noise,
    saturation_warning,
    texture_significance,
    valid_interior,
)
from lamina.plugins.subpixel.spectral import (
    CrossSpectrum,
    Moments,
    inverse_2x2,
    noise_floor,
    solve_2x2,
    surface_peak,
    wavenumbers,
)
from lamina.plugins.subpixel.windows import (
    MIN_OVERLAP,
    Window,
    WindowPowers,
    apply_window,
    comoving_profiles,
    comoving_windows,
    masked_windows,
    taper_limits,
)
from lamina.types import PointEstimates, ShiftEstimate

__all__ = ["THIN_OVERLAP_VARIANCE", "MLRefine", "gauss_newton", "settled_contraction"]

_DTYPES = {"float32": np.float32, "float64": np.float64}

#: Most refits with co-moving windows; each moves the windows to the last estimate.
_MAX_WINDOW_PASSES = 12

#: Rounding error (px) of a shift estimate per pixel of image side, by precision
#: (measured: float32 and float64 fits of noise-free 64-1024 px views differ by
#: 1.4-1.9e-9 px per pixel of side (RMS) where the window placement settled).
_ROUNDING = {"float32": 2e-9, "float64": 1e-17}

#: Smallest side registered (scikit-image's smallest: a 3 x 3 grid has one
#: frequency per axis besides DC).
_MIN_SIDE = 3

#: Images with a side below this are fitted with the periodic model (co-moving
#: windows need MIN_OVERLAP pixels inside their tapers) and get a warning.
_SMALL_SIDE = 16

#: Below this fraction of shared area a "small overlap" warning is given.
_SMALL_OVERLAP = 0.25

#: Warnings that say the estimate may be grossly wrong: ``feasible`` is False.
_DOUBTFUL = ("low SNR", "periodic texture")

#: Standard errors by which the half-band estimate must differ from the full one
#: before the difference counts as model error.
_MODEL_Z = 3.0

#: Standard errors of the difference by which the Hann pass must differ to count
#: as window bias: lower than _MODEL_Z, since a missed bias costs coverage on
#: noise-free views.
_BIAS_Z = 2.0

#: Standard errors of the difference beyond which the window bias is clear enough
#: to take the Hann fit instead (between _BIAS_Z and this the difference counts as
#: variance: a chance difference must not swap in the noisier fit).
_SWITCH_Z = 5.0

#: Standard error (px) under which the window's aliasing bias is checked (a Hann
#: refit: a fifth of the time of a registration). At 0.02 px the check ran on every
#: 256 px view at noise 0.05 and, on the input-space grid, mostly added chance
#: differences as variance (noise-free natural views, seed 12: +-2 sigma coverage
#: 0.984 at 0.02 px, 0.968 at 0.005 px; no cell lost coverage).
_BIAS_CHECK_SIGMA = 0.005

#: Side (px) beyond which that threshold falls with the square of the smaller side,
#: as the bias does: |Hann - Tukey| of noise-free views (natural, blobs, speckle; 8
#: pairs each) is at most 1e-2 px at 32 px, 3e-2 at 64, 2e-4 at 128, 1e-4 at 256. A
#: check where the bias cannot reach the noise only adds chance differences as
#: variance (256 px camera views at noise 0.01: 7 of 50, no switch) at a quarter
#: of the registration's time.
_BIAS_CHECK_SIDE = 64

#: Overlap (px, on its shorter axis) under which the window-bias check settles a Hann
#: fit's windows instead of taking one Hann pass at the estimate (see
#: :meth:`MLRefine._take_settled_hann`).
_SETTLED_HANN_SIDE = 32

#: Side (px) under which the integer start climbs to the best-correlating overlap
#: (:func:`.matching.choose_start`): the fixed window's correlation peaks can sit
#: pixels off the match there.
_CLIMB_SIDE = 64

#: A placement step must exceed this many tolerances before the ratio of the next
#: step to it is taken as the fixed point's contraction.
_MEASURABLE_STEP = 100.0

#: How far (px) the windows are moved off the estimate to measure the contraction
#: when the passes did not (see MLRefine._probe_contraction).
_PROBE_STEP = 0.1

#: Largest contraction of the window-placement fixed point used to extrapolate.
_MAX_CONTRACTION = 0.95

#: Share of the fit's standard error under which the windows' remaining lag ends
#: the passes: the lag is counted in the covariance, so stopping there moves the
#: estimate by about this share of its uncertainty (the contraction is not quite
#: constant: up to 0.03 over 1,100 seeded views, masked, unweighted and float64
#: ones among them) and adds 1e-4 of its variance
#: (a third pass on 256 px camera views at sigma 0.05 took 3e-5 px off, against
#: +-0.0067).
_NEGLIGIBLE_LAG = 0.01

#: Farthest (px) the fixed-window fit may move the coarse start before it is
#: distrusted: at large shifts the fixed window weights the overlap by its thin
#: edge and its optimum drifts (18 px on 450 px views moved by 350 px).
_STATIC_DRIFT = 1.0

#: Variance (px^2 per axis; voxels^2 for volumes) of an estimate where the overlap is
#: too thin for co-moving windows: the correlation peak's three-point fit is good to
#: about half a pixel.
THIN_OVERLAP_VARIANCE = 0.25

#: Taper of the fixed window of the integer search.
_COARSE_TAPER = 0.25

#: Fraction of the co-moving windows' support in their tapers by default (each no
#: longer than the scene needs, see windows.taper_limits).
_DEFAULT_TAPER = 0.25

#: Largest fraction of the band left out next to Nyquist in the window model.
_MAX_BAND_CUT = 0.3

#: Largest shift, as a fraction of the side, that the fixed window's flat part
#: keeps in view (its tapers take an eighth of each side).
_FLAT_FRACTION = 0.25


def gauss_newton(
    spectrum: CrossSpectrum,
    start: np.ndarray,
    *,
    max_iter: int,
    tol: float,
    moments: Moments | None = None,
) -> tuple[np.ndarray, Moments, int, bool]:
    """Maximise the (weighted) Fourier-interpolated correlation from ``start``.

    Each step solves with the observed curvature ``sum q k k^T Re C exp(-ik.d)``
    (a Newton step: quadratic convergence) while it is positive definite, and
    with the Gauss-Newton matrix of the symmetric residual otherwise (always
    positive semi-definite, but its noise power shortens the steps). Steps are
    capped at one pixel and halved until the correlation does not drop. Returns
    the shift, the model there, the number of iterations and whether the last
    step was shorter than ``tol`` pixels. ``moments`` is the model at ``start``
    when the caller has it already.
    """
    shift = np.asarray(start, dtype=np.float64).copy()
    if moments is None:
        moments = spectrum.moments(shift)
    slack = 1e-6 if spectrum.cross.dtype == np.complex64 else 1e-12
    for iteration in range(1, max_iter + 1):
        matrix = moments.curvature
        if _smallest_eigenvalue(matrix) <= 0:
            matrix = spectrum.gauss_newton_matrix(moments)
        step = solve_2x2(matrix, moments.gradient)
        length = math.hypot(*step)
        if length < tol:
            # Converged: a step this short changes the model by less than its
            # rounding, so it is taken without evaluating the model again.
            return shift + step, moments, iteration, True
        if length > 1.0:
            step /= length
        for _ in range(12):
            trial = shift + step
            trial_moments = spectrum.moments(trial)
            if trial_moments.correlation >= moments.correlation - slack * abs(moments.correlation):
                break
            step = step / 2.0
        shift, moments = trial, trial_moments
        if math.hypot(*step) < tol:
            return shift, moments, iteration, True
    return shift, moments, max_iter, False


def _smallest_eigenvalue(matrix: np.ndarray) -> float:
    """Smallest eigenvalue of a symmetric 2 x 2 matrix, in closed form: LAPACK's
    call overhead is ten times the arithmetic, and the fits take it every step."""
    (a, b), (_, d) = matrix.tolist()
    return 0.5 * (a + d) - math.hypot(0.5 * (a - d), b)


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
    warnings: list[str] = field(default_factory=list)
    #: Contraction of the window-placement fixed point per axis (0 without windows).
    contraction: np.ndarray = field(default_factory=lambda: np.zeros(2))
    #: The co-moving windows' taper: fraction and longest taper per axis (px).
    taper: tuple[float, np.ndarray | None] = (_DEFAULT_TAPER, None)


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
    taper : float or None
        Fraction of the window support in its cosine tapers (0 < taper <= 1;
        1 is a Hann window). Used by the window model. None (default): a
        quarter of the support, each taper no longer than half the content's
        wavelength along its axis and at least 16 px
        (:func:`~lamina.plugins.subpixel.windows.taper_limits`): a taper's cost
        in precision grows with its share of the view.
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
        taper: float | None = None,
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
        if taper is not None and not (isinstance(taper, (int, float)) and 0 < taper <= 1):
            raise InputError(f"taper must be a number in (0, 1] or None, got {taper!r}")
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
        # by default the fraction's tapers are cut to what the scene needs
        self.taper = _DEFAULT_TAPER if taper is None else float(taper)
        self.adaptive_taper = taper is None
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
    def estimate(
        self,
        reference: np.ndarray,
        moving: np.ndarray,
        *,
        reference_mask: np.ndarray | None = None,
        moving_mask: np.ndarray | None = None,
    ) -> ShiftEstimate:
        """Shift (dy, dx) of the content from ``reference`` to ``moving``, in pixels.

        ``reference_mask`` and ``moving_mask`` (boolean, True where a pixel is
        valid; as :func:`skimage.registration.phase_cross_correlation`) leave
        pixels out of the match: the integer start comes from scikit-image's
        masked normalised cross-correlation, the refinement weights each image
        by its own mask times the other's moved to it. Invalid pixels may hold
        anything, NaN included.

        Volumes (z, y, x) are registered in 3-D
        (:mod:`lamina.plugins.subpixel.volumes`): the result's ``shift`` and
        ``diagnostics["uncertainty_zyx"]`` have three entries and ``dz`` is set.
        Integer images are scaled as :func:`skimage.util.img_as_float` does. A
        constant image gives, as in scikit-image, a warning and a clear result:
        NaN shift, infinite uncertainty, ``feasible`` False.
        ``diagnostics["warnings"]`` names what limits the estimate (low SNR,
        small overlap, periodic texture, a small image, a fit that did not
        settle); ``diagnostics["feasible"]`` is False when a warning says the
        estimate may be grossly wrong, and its uncertainty then covers that.

        Raises
        ------
        lamina.InputError
            Bad arrays, or texture in one direction only (the aperture problem:
            motion along the other direction cannot be measured).
        """
        dtype = _DTYPES[self.precision]
        masks = None
        if reference_mask is not None or moving_mask is not None:
            if self.boundary != "window":
                raise InputError(
                    "masks need boundary='window' (a masked scene is not a circular translate)"
                )
            reference, moving, masks = as_masked_pair(
                reference, moving, reference_mask, moving_mask
            )
        if _is_volume(reference):
            from lamina.plugins.subpixel.volumes import register_volumes

            return register_volumes(
                reference,
                moving,
                taper=self.taper,
                max_iter=self.max_iter,
                tol=self.tol,
                periodic=self.boundary == "periodic",
                weighting=self.weighting,
                masks=masks,
            )
        # Validated in float64 unless both are float32 already: pixels of extreme
        # magnitude (1e-39, 1e18) would under- or overflow float32 before the pair
        # could be scaled.
        ref, mov = as_pair(
            reference,
            moving,
            min_size=_MIN_SIDE,
            integers=True,
            dtype=_checked_dtype(reference, moving),
        )
        exponent = _range_exponent(ref, mov)
        if exponent:  # (ldexp rounds at most as the cast to dtype would, never overflows)
            ref, mov = np.ldexp(ref, -exponent), np.ldexp(mov, -exponent)
        ref, mov = ref.astype(dtype, copy=False), mov.astype(dtype, copy=False)
        constant = [n for n, image in (("reference", ref), ("moving", mov)) if np.ptp(image) == 0]
        if constant:
            return _constant_pair(constant)
        if not exponent:
            return self._estimate_pair(ref, mov, masks, dtype)
        # Measured scaled, the noise given and reported in the images' own units.
        scaled = copy.copy(self)
        scaled.noise = None if self.noise is None else float(np.ldexp(self.noise, -exponent))
        estimate = scaled._estimate_pair(ref, mov, masks, dtype)
        estimate.diagnostics["noise_sigma"] = float(
            np.ldexp(estimate.diagnostics["noise_sigma"], exponent)
        )
        return estimate

    def _estimate_pair(
        self,
        ref: np.ndarray,
        mov: np.ndarray,
        masks: tuple[np.ndarray, np.ndarray] | None,
        dtype: type,
    ) -> ShiftEstimate:
        """:meth:`estimate` of a validated, non-constant pair of images."""
        if masks is not None:
            return _with_saturation(self._estimate_masked(ref, mov, masks, dtype), ref, mov, masks)
        boundary = self.boundary
        small = min(ref.shape) < _SMALL_SIDE
        if small:
            boundary = "periodic"
        # The integer search runs on a fixed Tukey window, which keeps the
        # wrap-around edges out of the correlation but most of the overlap of
        # large shifts in; its pull toward zero shift is about 1e-2 px and the
        # refinement removes it.
        window = _static_window(ref.shape, dtype) if not small else np.ones(ref.shape, dtype)
        coarse = CrossSpectrum(
            window * (ref - ref.mean()), window * (mov - mov.mean()), dtype=dtype
        )
        match = self._coarse_start(ref, mov, coarse, boundary)
        start = match.shift
        rounding = rounding_noise(ref, mov, None)
        if boundary == "periodic":
            spectrum = CrossSpectrum(ref - ref.mean(), mov - mov.mean(), dtype=dtype)
            fit = self._fit_periodic(ref, mov, spectrum, start, rounding)
        else:
            shift, iterations = start, 0
            if _in_flat_part(start, ref.shape):
                # Close enough for placing the first co-moving windows (1e-3 px).
                # Past the flat part the fixed window hides most of the overlap in
                # its tapers and the fit wanders instead (on 256 px camera views
                # moved by 180 px: 30 iterations, up to 10 px off the start).
                shift, _, iterations, _ = gauss_newton(
                    coarse, start, max_iter=self.max_iter, tol=max(self.tol, 1e-3)
                )
                if np.max(np.abs(shift - start)) > _STATIC_DRIFT:
                    shift = start
            if not _fits_windows(ref.shape, shift):
                fit = _peak_only(ref, mov, start, None, rounding)
            else:
                try:
                    fit = self._fit_windowed(ref, mov, shift, dtype, iterations, rounding)
                except InputError:
                    # A guess (a start that does not stand out of chance) may place
                    # the windows where no bin stands above the noise (16 px speckle
                    # views at SNR 0.5): the images do not support a refusal, and
                    # the match's spread already says the estimate may be anywhere.
                    if match.score >= MATCH_Z:
                        raise
                    fit = _peak_only(ref, mov, start, None, rounding, why="a guess")
                else:
                    self._remove_window_bias(ref, mov, fit, dtype, rounding)
        return _with_saturation(
            self._result(ref.shape, fit, match, boundary, small), ref, mov, None
        )

    def _estimate_masked(
        self, ref: np.ndarray, mov: np.ndarray, masks: tuple[np.ndarray, np.ndarray], dtype: type
    ) -> ShiftEstimate:
        """Masked registration: scikit-image's masked NCC for the integer start, then
        co-moving windows times the masks (see :func:`.windows.masked_windows`)."""
        from skimage.registration import phase_cross_correlation

        registration = phase_cross_correlation(
            ref, mov, reference_mask=masks[0], moving_mask=masks[1]
        )
        masked = -np.asarray(registration[0] if isinstance(registration, tuple) else registration)
        # On small or mostly masked views the masked NCC peaks at spurious thin
        # overlaps: it competes with the correlation peaks of the filled images by
        # how significantly each candidate's overlap correlates.
        small = min(ref.shape) < _SMALL_SIDE
        window = _static_window(ref.shape, dtype) if not small else np.ones(ref.shape, dtype)
        coarse = CrossSpectrum(
            window * (ref - ref.mean()), window * (mov - mov.mean()), dtype=dtype
        )
        match = self._coarse_start(ref, mov, coarse, "window", extra=[masked.astype(np.float64)])
        start = match.shift
        rounding = rounding_noise(ref, mov, masks)
        if not _fits_windows(ref.shape, start):
            fit = _peak_only(ref, mov, start, masks, rounding)
            return self._result(ref.shape, fit, match, "window", False)
        fit = self._fit_windowed(ref, mov, start, dtype, 0, rounding, masks)
        self._remove_window_bias(ref, mov, fit, dtype, rounding, masks)
        return self._result(ref.shape, fit, match, "window", False)

    def _result(
        self, shape: tuple[int, int], fit: _Fit, match: Match, boundary: str, small: bool
    ) -> ShiftEstimate:
        """The estimate with its floors, diagnostics and warnings."""
        height, width = shape
        dy, dx = (float(v) for v in fit.shift)
        # What the noise model leaves out: the arithmetic rounds (_floor), and a
        # doubtful start may belong to another match.
        covariance = fit.covariance + np.diag(self._floor(shape) + match.spread**2)
        diagnostics: dict[str, Any] = {
            "estimator": "ml-refine",
            "boundary": boundary,
            "weighting": self.weighting,
            "coarse_shift": match.shift.tolist(),
            "match_z": match.score,
            "iterations": fit.iterations,
            "converged": fit.converged,
            "peak": fit.peak,
            "noise_sigma": fit.sigma,
            "noise_source": "given" if self.noise is not None else "residual",
            "crlb": np.sqrt(np.diag(fit.crlb)).tolist(),
            "covariance": covariance.tolist(),
            "first_order_covariance": fit.first_order.tolist(),
            "overlap": max(0.0, (1 - abs(dy) / height) * (1 - abs(dx) / width)),
        }
        warnings = match.warnings + [w for w in fit.warnings if w not in match.warnings]
        if boundary == "window" and diagnostics["overlap"] < _SMALL_OVERLAP:
            warnings.append(
                f"small overlap: the views share {diagnostics['overlap']:.0%} of their area"
            )
        if small:
            warnings.append(
                f"small image: {height}x{width} px is fitted as a circular "
                "translate (too small for co-moving windows) from few frequencies"
            )
        diagnostics["warnings"] = warnings
        diagnostics["feasible"] = not any(w.startswith(_DOUBTFUL) for w in warnings)
        uncertainty = np.sqrt(np.diag(covariance))
        return ShiftEstimate(dy, dx, (float(uncertainty[0]), float(uncertainty[1])), diagnostics)

    def _floor(self, shape: tuple[int, ...]) -> float:
        """Variance of the rounding no fit resolves. Stopping adds none: the last
        Newton step, shorter than tol, is taken, which leaves an error of order its
        square; where the windows' placement had not settled its lag is counted
        by the fit."""
        return (_ROUNDING[self.precision] * max(shape)) ** 2

    def _coarse_start(
        self,
        ref: np.ndarray,
        mov: np.ndarray,
        spectrum: CrossSpectrum,
        boundary: str,
        extra: list[np.ndarray] | None = None,
    ) -> Match:
        """Integer (+ parabola) start, with its doubts (:mod:`.matching`).

        ``"auto"`` takes the peaks of both the plain correlation (resists noise) and
        the phase correlation (finds large shifts of smooth scenes) of the
        fixed-window pair, and for views the phase correlation without a window;
        the second peaks of a repeating scene (its aliases) are candidates too. The circular
        correlation cannot tell d from d - N; for views (``boundary="window"``)
        each peak's wrapped alternatives are candidates too. The candidate whose
        overlapping pixels correlate most significantly wins. ``extra`` peaks
        (masked registration's) are candidates too.
        """
        whiten = {"cross": [False], "phase": [True], "auto": [False, True]}[self.coarse]
        surfaces = [spectrum.correlation_surface(phase=flag) for flag in whiten]
        peaks = [surface_peak(surface)[0] for surface in surfaces] + (extra or [])
        peaks += secondary_peaks(surfaces[0])
        if boundary == "window" and self.coarse != "cross" and not _agree_small(peaks, ref.shape):
            # The fixed window hides a small overlap in its tapers (a 100 px corner
            # of a 450 px view): the unwindowed phase correlation still sees it.
            # Where the windowed surfaces agree on a shift inside the window's flat
            # part it adds nothing (its peak is the same modulo the size, and the
            # wrapped alternatives are candidates anyway): one FFT pair saved.
            plain = CrossSpectrum(ref - ref.mean(), mov - mov.mean(), dtype=spectrum.dtype)
            peaks.append(surface_peak(plain.correlation_surface(phase=True))[0])
        power = spectrum.power_r + spectrum.power_m
        return choose_start(
            ref,
            mov,
            peaks,
            wrap=boundary == "window",
            independent=independence(power, spectrum.grid.base),
            climb=boundary == "window" and min(ref.shape) < _CLIMB_SIDE,
        )

    def _sigma(
        self, spectrum: CrossSpectrum, shift: np.ndarray, noise_scale: float, rounding: float
    ) -> float:
        """Noise in the (windowed) spectrum: given, or from the plain residual; at
        least the pixels' ``rounding`` noise (:func:`.quality.rounding_noise`)."""
        sigma = self.noise * noise_scale if self.noise is not None else spectrum.noise_sigma(shift)
        return max(sigma, noise_floor(spectrum), rounding * noise_scale)

    def _weights(self, spectrum: CrossSpectrum, sigma: float) -> np.ndarray | None:
        """Wiener weights ``P / (P + sigma**2 / 2)`` (or None for plain least squares).

        ``P`` comes from the mean of the two images' powers, ``(|R|**2 + |M|**2) / 2``
        (expectation ``P + sigma**2``), not from the power of their aligned mean:
        that one holds the cross term ``Re C exp(-ik.d)`` at a trial shift, so
        weights built from it favour the bins that agree with the start and, at low
        SNR, pull the estimate toward it (error correlation 0.9 with the start's
        error on the moon at SNR 0.9).
        """
        if self.weighting == "none":
            return None
        mean_power = 0.5 * (spectrum.power_r + spectrum.power_m)
        signal = spectrum.signal_power(mean_power, float(np.sqrt(2.0)) * sigma)
        denominator = signal + signal.dtype.type(0.5 * sigma**2)
        weights = np.divide(signal, denominator, out=np.zeros_like(signal), where=denominator > 0)
        # Bins weighted below 1e-6 carry nothing; zeroing them keeps the float32
        # products out of denormal numbers, which are very slow.
        weights[weights < 1e-6] = 0.0
        return weights

    def _fit_periodic(
        self,
        ref: np.ndarray,
        mov: np.ndarray,
        spectrum: CrossSpectrum,
        start: np.ndarray,
        rounding: float,
    ) -> _Fit:
        """Plain least squares, noise from its residual, then the weighted pass."""
        shift, moments, iterations, converged = gauss_newton(
            spectrum, start, max_iter=self.max_iter, tol=self.tol
        )
        sigma = self._sigma(spectrum, shift, 1.0, rounding)
        peak = spectrum.normalized_peak(moments.correlation)
        flat = np.ones(ref.shape, dtype=ref.dtype)  # float64 ones cast every product
        texture = texture_significance(ref, mov, (flat, flat), sigma)
        texture.require_two_directions()
        information = spectrum.information(spectrum.midpoint_power(shift), sigma, check=False)
        crlb = spectrum.crlb(_floor_eigenvalues(information, texture), sigma)
        weights = self._weights(spectrum, sigma)
        if weights is not None:
            spectrum.set_weights(weights)
            shift, moments, more, converged = gauss_newton(
                spectrum, shift, max_iter=self.max_iter, tol=self.tol
            )
            iterations += more
        total, first = spectrum.covariance(moments, sigma)
        total = total + self._model_error(spectrum, shift, moments, total, texture, crlb)
        total = total + texture.unmeasured(ref.shape)
        return _Fit(
            shift, total, first, crlb, sigma, iterations, converged, peak, texture.warnings()
        )

    def _model_error(
        self,
        spectrum: CrossSpectrum,
        shift: np.ndarray,
        moments: Moments,
        covariance: np.ndarray,
        texture: Texture,
        crlb: np.ndarray,
    ) -> np.ndarray:
        """Covariance the noise model leaves out.

        Where the texture does not stand out of the noise, the observed curvature
        is itself noise and the sandwich can be far too small: the bound with the
        texture energy floored at its noise (``crlb``) takes over. And the
        Fourier-shift model holds only approximately (aliasing of windowed or
        non-band-limited content, circular borders of small images): the fit is
        repeated on the lower half of the band, whose estimate would agree with
        the full one to within ``V_sub - V_full`` if the model held; a larger
        difference is counted as model error.
        """
        extra = np.zeros((2, 2))
        if texture.z[1] < SIGNIFICANT_Z or texture.z[0] < SIGNIFICANT_Z:
            extra += np.diag(np.maximum(np.diag(crlb) - np.diag(covariance), 0.0))
        weights = spectrum.bin_weights
        spectrum.set_weights(weights * _lower_half_band(spectrum.shape, spectrum.dtype))
        try:
            sub_moments = spectrum.moments(shift)
            if _smallest_eigenvalue(sub_moments.curvature) <= 0:
                return extra
            sub_shift, _, _, _ = gauss_newton(
                spectrum, shift, max_iter=self.max_iter, tol=self.tol, moments=sub_moments
            )
            ratio = np.diag(inverse_2x2(sub_moments.curvature)) / np.diag(
                inverse_2x2(moments.curvature)
            )
        finally:
            spectrum.set_weights(weights)
        difference = (sub_shift - shift) ** 2
        expected = np.diag(covariance) * np.maximum(ratio - 1.0, 0.0)
        return extra + np.diag(np.where(difference > _MODEL_Z**2 * expected, difference, 0.0))

    def _fit_windowed(
        self,
        ref: np.ndarray,
        mov: np.ndarray,
        start: np.ndarray,
        dtype: type,
        iterations: int,
        rounding: float,
        masks: tuple[np.ndarray, np.ndarray] | None = None,
        *,
        hann: bool = False,
    ) -> _Fit:
        """Refit with co-moving windows (``hann``: Hann windows, whatever the taper)
        until their placement stops moving.

        The estimate is a fixed point of ``placement -> estimate(placement)``; its
        contraction ``c`` is about 0.01 on clean textured views but reaches 0.9 on
        small noisy ones, so after two passes each axis is extrapolated (Aitken)
        by ``step c / (1 - c)``. What the last placement may still be off by,
        ``step c / (1 - c)`` of the last step, goes into the covariance.
        """
        placement = np.asarray(start, dtype=np.float64)
        fraction = 1.0 if hann else self.taper
        taper = (fraction, taper_limits(ref) if self.adaptive_taper and not hann else None)
        weights: np.ndarray | None = None
        band: np.ndarray | None = None
        converged = False
        steps: list[np.ndarray] = []
        estimates: list[np.ndarray] = []
        contraction = np.full(2, 0.01)
        for outer in range(_MAX_WINDOW_PASSES):
            if outer and not _fits_windows(ref.shape, placement):
                converged = False
                break
            window_r, window_m, powers = _windows(ref.shape, placement, taper, masks, dtype)
            spectrum = _windowed_spectrum(ref, mov, (window_r, window_m), dtype, weights)
            noise_scale = powers.noise_scale
            if outer == 0:
                band = _alias_free_band(spectrum, ref.shape, placement, fraction)
                spectrum.set_weights(band)
                sigma = self._sigma(spectrum, placement, noise_scale, rounding)
                weights = self._weights(spectrum, sigma)
                weights = band if weights is None else weights * band
                if not np.any(weights):
                    # no bin of the band stands above the noise (16 px views at SNR
                    # 0.5): the plain fit is kept, a low-SNR estimate, not no fit
                    weights = band
                spectrum.set_weights(weights)
            shift, moments, more, converged = gauss_newton(
                spectrum, placement, max_iter=self.max_iter, tol=self.tol
            )
            iterations += more
            steps.append(shift - placement)
            estimates.append(shift)
            if len(steps) >= 2:
                previous = steps[-2]
                ratio = np.divide(steps[-1], previous, out=np.zeros(2), where=np.abs(previous) > 0)
                contraction = np.clip(ratio, 0.01, _MAX_CONTRACTION)
            lag = np.abs(steps[-1]) * contraction / (1.0 - contraction)
            settling = _settling_lag(steps, contraction, self.tol)
            if np.max(lag) < self.tol or (
                settling is not None
                and _negligible_lag(
                    settling,
                    moments.curvature,
                    # at the estimate: the first pass's noise, taken where the
                    # windows sat, holds its misfit too (noise-free views)
                    self._sigma(spectrum, shift, noise_scale, rounding),
                )
            ):
                break
            # extrapolate only near the fixed point, and never by more than a
            # tenth of a pixel per pass
            jump = np.clip(steps[-1] * contraction / (1.0 - contraction), -0.1, 0.1)
            placement = shift + (jump if outer and np.max(np.abs(steps[-1])) < 0.1 else 0.0)
        else:
            converged = False
        # Noise, bound and peak at the final shift, from the plain residual.
        spectrum.set_weights(band)
        sigma = self._sigma(spectrum, shift, noise_scale, rounding)
        # gradients across a mask's edge reach into the filled pixels: kept out
        inner = (window_r, window_m) if masks is None else valid_interior((window_r, window_m))
        # A small overlap of a textured scene (16-64 px natural views moved by 40-80 %
        # of their side) is a low-SNR estimate, not refused. The residual of such an
        # overlap holds the model's error as well as the noise (0.014-0.06 on
        # noise-free 16-32 px natural views, which were refused): the whole scene is
        # judged against the images' own noise where that is lower.
        pixel_sigma = sigma / noise_scale

        def scene_sigma() -> float:
            return (
                pixel_sigma
                if masks is not None
                else min(pixel_sigma, _own_noise(ref, mov, rounding))
            )

        texture = judged_texture(ref, mov, inner, pixel_sigma, masks, scene_sigma)
        peak = spectrum.normalized_peak(spectrum.correlation(shift))
        information = spectrum.information(spectrum.midpoint_power(shift), sigma, check=False)
        crlb = spectrum.crlb(_floor_eigenvalues(information, texture), sigma)
        spectrum.set_weights(weights)
        total, first = spectrum.covariance(moments, sigma / noise_scale, powers)
        # The sandwich holds the windows still, but they sit where the estimate
        # puts them: at the fixed point e = E(e) an error eps of the fit at fixed
        # windows becomes eps / (1 - c) (c: the contraction along each axis).
        settled, measured = settled_contraction(steps, self.tol)
        if not np.all(measured):
            probed = self._probe_contraction(ref, mov, shift, weights, dtype, masks, taper)
            settled = np.where(measured, settled, probed)
        amplification = np.outer(1.0 / (1.0 - settled), 1.0 / (1.0 - settled))
        total, first = total * amplification, first * amplification
        total = total + self._model_error(spectrum, shift, moments, total, texture, crlb)
        total = total + texture.unmeasured(ref.shape)
        warnings = texture.warnings()
        total = total + np.diag(lag**2)
        if not converged and len(estimates) > 3:
            # The placement wandered instead of settling: the estimate depends on
            # where the windows cut the content more than the noise model says, by
            # about the spread of the estimates of the later passes.
            total = total + np.cov(np.array(estimates[len(estimates) // 2 :]).T)
        if not converged:
            warnings.append(
                f"not converged: the window placement may still be {np.max(lag):.2g} px off"
            )
        if not _fits_windows(ref.shape, shift):
            # The estimate lies past the thinnest overlap windows can hold, so they sat
            # short of it and no Hann pass can check their bias, which reaches several
            # standard errors there (z up to 9.5 on noise-free 64-128 px speckle views
            # at 7.6-8 px of overlap): it keeps the correlation peak's precision only,
            # which also keeps _remove_window_bias from placing windows there.
            total = total + THIN_OVERLAP_VARIANCE * np.eye(2)
            warnings.append(
                f"small overlap: the estimate leaves under {MIN_OVERLAP} px of overlap on "
                "an axis, where co-moving windows cannot follow it (about 0.5 px)"
            )
        fit = _Fit(
            shift, total, first, crlb, sigma / noise_scale, iterations, converged, peak, warnings
        )
        fit.contraction = settled
        fit.taper = taper
        return fit

    def _probe_contraction(
        self,
        ref: np.ndarray,
        mov: np.ndarray,
        shift: np.ndarray,
        weights: np.ndarray | None,
        dtype: type,
        masks: tuple[np.ndarray, np.ndarray] | None,
        taper: tuple[float, np.ndarray | None],
    ) -> np.ndarray:
        """Contraction per axis measured by moving the windows ``_PROBE_STEP`` px off
        the estimate (toward zero shift, so they still fit) and refitting: for when
        the passes settled too fast for the ratio of their steps to tell it (small
        shifts, where the fixed window already sat almost right)."""
        step = np.where(shift > 0, -_PROBE_STEP, _PROBE_STEP)
        if not _fits_windows(ref.shape, shift + step):
            return np.zeros(2)
        window_r, window_m, _ = _windows(ref.shape, shift + step, taper, masks, dtype)
        spectrum = _windowed_spectrum(ref, mov, (window_r, window_m), dtype, weights)
        try:
            moved, _, _, _ = gauss_newton(spectrum, shift, max_iter=self.max_iter, tol=self.tol)
        except InputError:
            return np.zeros(2)
        return np.clip((moved - shift) / step, 0.0, _MAX_CONTRACTION)

    def _remove_window_bias(
        self,
        ref: np.ndarray,
        mov: np.ndarray,
        fit: _Fit,
        dtype: type,
        rounding: float,
        masks: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """Replace the fit by a Hann fit where the window's own aliasing biases it.

        A steep taper folds content across Nyquist, so windowed views are not
        exact Fourier translates; on noise-free views that moves the estimate by
        up to a few 1e-2 px, far beyond a noise-only uncertainty. A Hann window
        (taper 1) folds far less: when the estimate is precise enough for that to
        matter (standard error under ``_BIAS_CHECK_SIGMA``, less on views larger
        than ``_BIAS_CHECK_SIDE``, whose bias is smaller), one Hann pass at the
        estimate is run. A difference beyond ``_SWITCH_Z`` standard errors *of the
        difference* (about ``V_hann - V``) is bias: the Hann estimate is the better
        one and is taken, with its own noise (counting the difference as variance
        instead left every such estimate within about one reported standard error,
        +-2 sigma coverage 0.99-1.0 on noise-free views). A difference between
        ``_BIAS_Z`` and ``_SWITCH_Z`` standard errors may be chance and counts as
        variance.
        """
        if not _fits_windows(ref.shape, fit.shift):
            return  # (no Hann windows fit there either: see _fit_windowed)
        variance = np.diag(fit.covariance)
        # The windows span the overlap, so a view moved by most of its side is
        # windowed as a small view is: a noise-free 64 px page view moved by 49 px
        # came out 0.135 px off, reporting +-0.018 (Hann: 0.015 off), and a 32 px
        # checkerboard view moved by 0.8 px took one Hann pass that stopped
        # 0.0023 px short of the settled Hann fit, reporting +-0.00016.
        extent = float(np.min(np.array(ref.shape) - np.abs(fit.shift)))
        # The bias grows as the taper shortens (on 256 px views of smooth blobs,
        # 1.7e-4 px with 16 px tapers against 5e-5 with 32): a taper cut short of
        # the fraction's (windows.taper_limits) is checked that much longer.
        fraction, limits = fit.taper
        longest = fraction * extent / 2.0
        shortened = 1.0 if limits is None else longest / min(longest, float(np.min(limits)))
        # Below _BIAS_CHECK_SIDE the bias keeps growing as the windows shrink (a
        # noise-free 16 px natural view: 0.24 px, reported +-0.024).
        growth = (_BIAS_CHECK_SIDE / extent) ** 2
        threshold = _BIAS_CHECK_SIGMA * (growth if growth > 1.0 else min(1.0, growth * shortened))
        if self.taper >= 1.0 or np.max(variance) >= threshold**2:
            return
        if extent < _SETTLED_HANN_SIDE:
            self._take_settled_hann(ref, mov, fit, dtype, rounding, masks)
            return
        window_r, window_m, powers = _windows(ref.shape, fit.shift, (1.0, None), masks, dtype)
        spectrum = _windowed_spectrum(ref, mov, (window_r, window_m), dtype)
        band = _alias_free_band(spectrum, ref.shape, fit.shift, 1.0)
        spectrum.set_weights(band)
        noise_scale = powers.noise_scale
        weights = self._weights(spectrum, fit.sigma * noise_scale)
        spectrum.set_weights(band if weights is None else band * weights)
        hann, moments, _, _ = gauss_newton(
            spectrum, fit.shift, max_iter=self.max_iter, tol=self.tol
        )
        if _smallest_eigenvalue(moments.curvature) <= 0:
            return
        # The Hann fit's noise from its own residual (on noise-free views the
        # residual is the aliasing each window leaves, far less for Hann), by the
        # same sandwich as the estimate's, with the same fixed-point amplification.
        spectrum.set_weights(band)
        hann_sigma = self._sigma(spectrum, hann, noise_scale, rounding) / noise_scale
        spectrum.set_weights(band if weights is None else band * weights)
        hann_covariance, _ = spectrum.covariance(moments, hann_sigma, powers)
        gain = 1.0 / (1.0 - fit.contraction)
        hann_covariance = hann_covariance * np.outer(gain, gain)
        if not self._hann_differs(fit, hann, hann_covariance, ref.shape):
            return
        step = hann - fit.shift
        # The Hann windows sit at the old estimate, |step| from their own fixed
        # point, which leaves the Hann estimate c |step| / (1 - c) short of it.
        lag = step * fit.contraction * gain
        fit.covariance = fit.covariance - fit.first_order + hann_covariance + np.diag(lag**2)
        fit.first_order = hann_covariance
        fit.shift = hann

    def _hann_differs(
        self, fit: _Fit, hann: np.ndarray, hann_covariance: np.ndarray, shape: tuple[int, int]
    ) -> bool:
        """Whether the Hann estimate ``hann`` differs from the fit by window bias, beyond
        ``_SWITCH_Z`` standard errors of the difference; a difference between
        ``_BIAS_Z`` and that is added to the fit's variance.

        Both fits see the same noise, so their difference varies by about
        ``V_hann - V`` (Hausman 1978: a consistent, less efficient estimator minus
        the efficient one), not by ``V_hann + V``, which let biases of two reported
        standard errors through on small smooth views."""
        noise = np.maximum(np.diag(hann_covariance) - np.diag(fit.first_order), 0.0)
        noise = noise + self._floor(shape)
        step = hann - fit.shift
        if np.any(step**2 > _SWITCH_Z**2 * noise):
            return True
        # A bias of a few standard errors, or chance: counted as variance.
        significant = step**2 > _BIAS_Z**2 * noise
        fit.covariance = fit.covariance + np.diag(np.where(significant, step**2, 0.0))
        return False

    def _take_settled_hann(
        self,
        ref: np.ndarray,
        mov: np.ndarray,
        fit: _Fit,
        dtype: type,
        rounding: float,
        masks: tuple[np.ndarray, np.ndarray] | None,
    ) -> None:
        """:meth:`_remove_window_bias` on views under ``_SETTLED_HANN_SIDE``: a Hann
        fit whose windows settle (:meth:`_fit_windowed`), not one pass at the
        estimate, which on such views moves only part of the way (contraction
        about 0.9), and the same test of the difference."""
        hann = self._fit_windowed(ref, mov, fit.shift, dtype, 0, rounding, masks, hann=True)
        if not self._hann_differs(fit, hann.shift, hann.first_order, ref.shape):
            return
        fit.shift, fit.covariance, fit.first_order = hann.shift, hann.covariance, hann.first_order
        fit.iterations, fit.converged = fit.iterations + hann.iterations, hann.converged
        fit.warnings = fit.warnings + [w for w in hann.warnings if w not in fit.warnings]

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


def _constant_pair(names: list[str]) -> ShiftEstimate:
    """scikit-image warns and returns a result for a constant image; so does lamina,
    with a NaN shift that no one can mistake for a measurement."""
    message = (
        f"constant image: {' and '.join(names)} {'is' if len(names) == 1 else 'are'} "
        "constant, so no shift can be measured"
    )
    warnings.warn(message, UserWarning, stacklevel=3)
    diagnostics = {
        "estimator": "ml-refine",
        "converged": False,
        "feasible": False,
        "warnings": [message],
        "covariance": np.diag([np.inf, np.inf]).tolist(),
    }
    return ShiftEstimate(float("nan"), float("nan"), (np.inf, np.inf), diagnostics)


#: Largest pixel magnitude (a power of two) used as it comes: beyond it the powers
#: of 4096 x 4096 float32 spectra would overflow (and below its inverse their noise
#: would underflow), so the pair is scaled by a power of two first.
_SAFE_MAGNITUDE = 2.0**32


def _checked_dtype(reference: Any, moving: Any) -> type:
    """The type a pair is validated and scaled in: float32 where both images are
    float32 arrays already (their float64 copies took 0.1 ms of a 256 px pair; their
    pixels cannot lie beyond float32's range), float64 otherwise."""
    float32 = np.dtype(np.float32)
    return (
        np.float32
        if all(getattr(a, "dtype", None) == float32 for a in (reference, moving))
        else np.float64
    )


def _range_exponent(ref: np.ndarray, mov: np.ndarray) -> int:
    """0, or the exponent ``e`` such that ``2**-e`` brings the pair's largest magnitude
    into [0.5, 1), when it lies outside ``[1 / _SAFE_MAGNITUDE, _SAFE_MAGNITUDE]``
    (spectra of float32 pixels of 1e-30 or 1e18 under- or overflow: "no texture", a
    NaN shift)."""
    peak = float(max(np.max(np.abs(ref)), np.max(np.abs(mov))))
    if peak == 0.0 or 1.0 / _SAFE_MAGNITUDE <= peak <= _SAFE_MAGNITUDE:
        return 0
    return int(np.frexp(peak)[1])


def _is_volume(array: Any) -> bool:
    """A (z, y, x) volume: 3-D with more than four samples on its last axis (fewer
    is a colour or multi-channel image, which needs a channel chosen)."""
    shape = np.shape(array)
    return len(shape) == 3 and shape[2] > 4


def _windows(
    shape: tuple[int, int],
    placement: np.ndarray,
    taper: tuple[float, np.ndarray | None],
    masks: tuple[np.ndarray, np.ndarray] | None,
    dtype: type,
) -> tuple[Window, Window, WindowPowers]:
    """Co-moving windows (masked ones with ``masks``) and their powers; ``taper`` is the
    fraction and the longest taper per axis in px (see :func:`.windows.comoving_windows`)."""
    fraction, longest = taper
    if masks is None:
        return comoving_profiles(shape, placement, fraction, dtype=dtype, max_taper=longest)
    windows = masked_windows(shape, placement, fraction, masks, dtype=dtype, max_taper=longest)
    return windows[0], windows[1], WindowPowers.of(windows)


def _windowed_spectrum(
    ref: np.ndarray,
    mov: np.ndarray,
    windows: tuple[Window, Window],
    dtype: type,
    weights: np.ndarray | None = None,
) -> CrossSpectrum:
    """The pair's spectra under its windows (:func:`_windows`)."""
    return CrossSpectrum(
        apply_window(ref, windows[0]), apply_window(mov, windows[1]), dtype=dtype, weights=weights
    )


def _with_saturation(
    result: ShiftEstimate,
    ref: np.ndarray,
    mov: np.ndarray,
    masks: tuple[np.ndarray, np.ndarray] | None,
) -> ShiftEstimate:
    """``result`` with a ``saturated`` warning where the pair clips (see
    :func:`.quality.saturation_warning`; it does not change ``feasible``)."""
    warning = saturation_warning(ref, mov, masks)
    if warning is not None:
        result.diagnostics["warnings"].append(warning)
    return result


def _agree_small(peaks: list[np.ndarray], shape: tuple[int, ...]) -> bool:
    """Whether the correlation peaks agree to a pixel on a shift inside the fixed
    window's flat part."""
    first = peaks[0]
    return _in_flat_part(first, shape) and all(np.all(np.abs(p - first) <= 1.0) for p in peaks[1:])


def _in_flat_part(shift: np.ndarray, shape: tuple[int, ...]) -> bool:
    """Whether the fixed window's flat part keeps ``shift`` in view."""
    return bool(np.all(np.abs(shift) <= _FLAT_FRACTION * np.array(shape)))


def _fits_windows(shape: tuple[int, ...], shift: np.ndarray) -> bool:
    """Whether co-moving windows at ``shift`` keep MIN_OVERLAP pixels on every axis."""
    return bool(np.all(np.array(shape) - 1.0 - np.abs(shift) >= MIN_OVERLAP))


def _own_noise(ref: np.ndarray, mov: np.ndarray, rounding: float) -> float:
    """The images' own noise (the larger image estimate, at least the rounding):
    what texture is judged against where a residual holds more than noise."""
    return max(noise_from_image(ref), noise_from_image(mov), rounding)


def _peak_only(
    ref: np.ndarray,
    mov: np.ndarray,
    start: np.ndarray,
    masks: tuple[np.ndarray, np.ndarray] | None,
    rounding: float,
    *,
    why: str = "small overlap",
) -> _Fit:
    """The correlation peak as the estimate, for overlaps too thin for co-moving
    windows (or, ``why="a guess"``, for a start that does not stand out of chance
    where the windows hold nothing to fit): its three-point fit is good to about
    half a pixel.

    The whole views' texture is judged as on any other path (one-directional
    texture is refused, naming the direction), against the images' own noise:
    a thin overlap's residual measures nothing.
    """
    require_texture(ref, mov, masks, _own_noise(ref, mov, rounding))
    shape = ref.shape
    covariance = np.eye(2) * THIN_OVERLAP_VARIANCE
    message = (
        f"small overlap: fewer than {MIN_OVERLAP} px overlap on an axis of the "
        f"{shape[0]}x{shape[1]} views; the estimate is the correlation peak (about 0.5 px)"
        if why == "small overlap"
        else "low SNR: the windows at the guess hold no frequency above the noise; "
        "the estimate is the correlation peak"
    )
    nan = np.full((2, 2), np.nan)
    return _Fit(start, covariance, covariance, nan, float("nan"), 0, False, float("nan"), [message])


def _settling_lag(
    steps: list[np.ndarray], contraction: np.ndarray, tol: float
) -> np.ndarray | None:
    """The lag left per axis where the passes' steps have shrunk at every pass (at
    least two of them), else None: placements that wander (32 px subsets of
    strained views) take short steps by chance, and stopping at one dropped the
    spread that their "not converged" estimate counts. The contraction is at least
    that of the first two passes (no extrapolation between them): a step after a
    jump can turn back, and its ratio, clipped to 0.01, read the lag 10-100 times
    short (24 px views fitted with weighting="none" stopped 0.16 standard errors
    off)."""
    sizes = [float(np.max(np.abs(step))) for step in steps]
    if len(sizes) < 2 or not all(b < a for a, b in itertools.pairwise(sizes)):
        return None
    contraction = np.maximum(contraction, settled_contraction(steps, tol)[0])
    return np.abs(steps[-1]) * contraction / (1.0 - contraction)


def _negligible_lag(lag: np.ndarray, curvature: np.ndarray, sigma: float) -> bool:
    """Whether the windows' ``lag`` per axis is under ``_NEGLIGIBLE_LAG`` of the fit's
    standard error, about ``sigma sqrt(2 diag H^-1)`` (``H``: the ``curvature``;
    ``sigma``: the noise per bin of the windowed spectra). That is the variance of
    the Wiener-weighted fit to first order, and under that of the unweighted one."""
    if _smallest_eigenvalue(curvature) <= 0:
        return False
    variance = 2.0 * sigma**2 * np.diag(inverse_2x2(curvature))
    return bool(np.all(lag**2 < _NEGLIGIBLE_LAG**2 * variance))


def settled_contraction(steps: list[np.ndarray], tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Contraction of the window-placement fixed point per axis, from the first two
    passes (the second placed at the first's estimate, with no extrapolation), and
    where it was measured: not where the first step was too short for the ratio
    to mean anything, or where the passes settled after one. Any number of axes
    (images, volumes)."""
    axes = len(steps[0])
    if len(steps) < 2:
        return np.zeros(axes), np.zeros(axes, dtype=bool)
    first, second = steps[0], steps[1]
    measurable = np.abs(first) > _MEASURABLE_STEP * tol
    ratio = np.divide(second, first, out=np.zeros(axes), where=measurable)
    return np.clip(ratio, 0.0, _MAX_CONTRACTION), measurable


def _floor_eigenvalues(information: np.ndarray, texture: Texture) -> np.ndarray:
    """``G`` with each eigenvalue at least one noise standard error of the texture
    energy along it, so the bound stays finite (and large) where the texture does
    not stand out of the noise."""
    values, vectors = np.linalg.eigh(information)
    floor = np.min(texture.error) if np.all(np.isfinite(texture.error)) else 0.0
    values = np.maximum(values, max(floor, np.finfo(float).tiny))
    return (vectors * values) @ vectors.T


def _alias_free_band(
    spectrum: CrossSpectrum, shape: tuple[int, int], shift: np.ndarray, taper: float
) -> np.ndarray:
    """Bins far enough from Nyquist to be free of the aliasing of windowed content.

    Multiplying by a window widens the spectrum by the window's bandwidth, about
    ``2 pi / t`` for a taper of ``t`` pixels, so content near Nyquist folds over
    and no longer moves as a Fourier shift (a bias of ~1e-3 px on camera crops of
    128 px). Leaving out ``3 / t`` of the band per axis (at most 30 %) removes it
    at little cost: those bins are mostly noise. ``t`` is the fraction's taper even
    where the windows' is shorter (:func:`.windows.taper_limits`): the aliased
    power also falls with the support, and on 256 px camera views 16 px tapers
    left a noise-free bias of at most 6e-5 px with this cut (a cut for 16 px
    would give back most of their gain in precision).
    """
    limits = []
    for axis, size in enumerate(shape):
        taper_px = max(taper * (size - 1.0 - abs(float(shift[axis]))) / 2.0, 1.0)
        limits.append(np.pi * (1.0 - min(_MAX_BAND_CUT, 3.0 / taper_px)))
    ky = np.abs(spectrum.grid.ky.astype(np.float64))[:, None]
    kx = np.abs(spectrum.grid.kx.astype(np.float64))[None, :]
    return ((ky <= limits[0]) & (kx <= limits[1])).astype(spectrum.dtype)


@functools.lru_cache(maxsize=8)
def _static_window(shape: tuple[int, int], dtype: type) -> np.ndarray:
    window, _ = comoving_windows(shape, np.zeros(2), _COARSE_TAPER, dtype=dtype)
    window.flags.writeable = False
    return window


@functools.lru_cache(maxsize=8)
def _lower_half_band(shape: tuple[int, int], dtype: type) -> np.ndarray:
    """1 on the half-plane bins with both wavenumbers up to pi / 2 (read-only)."""
    # compared in the grid's precision, as the fit's wavenumbers are
    ky, kx = wavenumbers(shape)
    low = (np.abs(ky.astype(dtype))[:, None] <= 0.5 * np.pi) & (
        np.abs(kx.astype(dtype))[None, :] <= 0.5 * np.pi
    )
    low = low.astype(dtype)
    low.flags.writeable = False
    return low
