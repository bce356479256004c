"""Registration estimators other than ``ml-refine``: scikit-image's phase
correlation and the classic three-point peak fit, with a Cramér-Rao uncertainty.

Same sign convention as :mod:`lamina.plugins.subpixel.registration`: ``(dy, dx)``
is the displacement of the content from ``reference`` to ``moving``.
"""

from __future__ import annotations

import functools
from typing import Literal

import numpy as np

from lamina.errors import InputError
from lamina.memory import array_bytes, check_allocation
from lamina.params import check_choice
from lamina.plugins.subpixel.checks import as_pair, check_positive, require_texture
from lamina.plugins.subpixel.noise import noise_from_image
from lamina.plugins.subpixel.quality import SIGNIFICANT_Z, texture_significance
from lamina.plugins.subpixel.spectral import CrossSpectrum, noise_floor
from lamina.plugins.subpixel.windows import WindowPowers, apply_window, comoving_windows
from lamina.types import ShiftEstimate

__all__ = ["PeakFit", "PhaseCorrelation", "bound_at_shift"]

#: The border-to-interior residual power ratio, in standard errors, above which
#: :func:`bound_at_shift` decides the images are not circular translates.
_BORDER_Z = 6.0


def _border_excess(spectrum: CrossSpectrum, shift: np.ndarray, floor: float) -> tuple[float, float]:
    """Ratio of the mean squared residual along the borders to that inside, and the
    largest ratio that pure noise explains (``_BORDER_Z`` standard errors).

    For circular translates the residual is noise, spread evenly; for views of a
    larger scene the wrap-around edges do not move with the content and the
    residual piles up along the borders. ``floor`` is the rounding noise: inside
    residuals below ten times it count as that level, so noise-free circular data
    is not judged by the pattern of its rounding errors.
    """
    residual = spectrum.residual_image(shift) ** 2
    border = _border_mask(
        residual.shape,
        min(residual.shape[0] // 4, int(np.ceil(abs(shift[0]) / 2)) + 3),
        min(residual.shape[1] // 4, int(np.ceil(abs(shift[1]) / 2)) + 3),
    )
    inside = max(float(np.mean(residual[~border])), (10.0 * floor) ** 2)
    outside = float(np.mean(residual[border]))
    limit = 1.0 + _BORDER_Z * np.sqrt(2.0 / np.count_nonzero(border))
    return outside / inside, float(limit)


@functools.lru_cache(maxsize=32)
def _border_mask(shape: tuple[int, int], band_y: int, band_x: int) -> np.ndarray:
    border = np.zeros(shape, dtype=bool)
    border[:band_y] = border[-band_y:] = True
    border[:, :band_x] = border[:, -band_x:] = True
    border.flags.writeable = False
    return border


def bound_at_shift(
    reference: np.ndarray,
    moving: np.ndarray,
    shift: np.ndarray,
    *,
    noise: float | None = None,
    taper: float = 0.25,
) -> tuple[np.ndarray, float, float]:
    """Cramér-Rao covariance ``2 sigma**2 G^-1`` for the pair at ``shift``, the noise
    sigma used (given, or from the residual at ``shift``) and the normalised
    correlation peak there.

    The periodic model is used when the residual shows no excess along the
    borders (circular translates), the co-moving window of ``ml-refine``
    otherwise. It attaches an uncertainty to estimators that are not ML; for
    them it is a lower bound.
    """
    spectrum = CrossSpectrum(reference - reference.mean(), moving - moving.mean(), dtype=np.float64)
    floor = noise_floor(spectrum)
    ratio, limit = _border_excess(spectrum, shift, floor)
    noise_scale = 1.0
    if ratio > limit:
        window_r, window_m = comoving_windows(reference.shape, shift, taper)
        spectrum = CrossSpectrum(
            apply_window(reference, window_r), apply_window(moving, window_m), dtype=np.float64
        )
        noise_scale = WindowPowers.of((window_r, window_m)).noise_scale
    moments = spectrum.moments(shift)
    sigma = noise * noise_scale if noise is not None else spectrum.noise_sigma(shift)
    sigma = max(sigma, floor)
    information = spectrum.information(spectrum.midpoint_power(shift), sigma)
    crlb = spectrum.crlb(information, sigma)
    return crlb, sigma / noise_scale, spectrum.normalized_peak(moments.correlation)


def _bound_or_failure(
    reference: np.ndarray, moving: np.ndarray, shift: np.ndarray, noise: float | None
) -> tuple[np.ndarray, float, float, str | None]:
    """:func:`bound_at_shift`, or, when the images do have texture but the estimate
    does not align them (no information at that shift), an infinite covariance
    and the reason. Pairs without texture raise ``InputError`` ("not feasible")."""
    try:
        crlb, sigma, peak = bound_at_shift(reference, moving, shift, noise=noise)
    except InputError as error:
        if noise is None:
            noise = float(
                np.hypot(noise_from_image(reference), noise_from_image(moving)) / np.sqrt(2)
            )
        flat = np.ones(reference.shape)
        texture = texture_significance(reference, moving, (flat, flat), noise)
        texture.require_two_directions()
        if not texture.z[1] >= SIGNIFICANT_Z:
            raise InputError(
                "not feasible: the images carry no texture above the noise "
                "(constant or pure noise), so no shift can be measured"
            ) from None
        reason = f"the estimate does not align the images ({error}); try ml-refine"
        return np.full((2, 2), np.inf), noise, float("nan"), reason
    return crlb, sigma, peak, None


def _check_upsampling(shape: tuple[int, ...], factor: int) -> None:
    """Refuse, before scikit-image allocates them, upsampled-DFT kernels that do not fit.

    scikit-image refines the peak with a matrix DFT over a region of
    ``ceil(1.5 factor)`` samples per axis: one complex kernel of that many rows
    per axis and image side, and the region itself.
    """
    if factor <= 1:
        return
    region = int(np.ceil(1.5 * factor))
    elements = region * sum(shape) + region ** len(shape)
    check_allocation(
        2 * array_bytes((elements,), np.complex128),
        what=f"phase correlation with upsample_factor={factor} on {'x'.join(map(str, shape))} images",
        fix="choose a smaller upsample_factor (100 resolves 0.01 px; use ml-refine for finer)",
    )


class PhaseCorrelation:
    """scikit-image's upsampled phase cross-correlation (Guizar-Sicairos et al. 2008),
    returning a lamina :class:`~lamina.ShiftEstimate`.

    Parameters
    ----------
    upsample_factor : int
        Sub-pixel resolution 1 / upsample_factor (1 gives integer shifts).
    normalization : {"none", "phase"}
        ``"none"`` (default here): the plain cross-correlation of the paper,
        robust to noise. ``"phase"`` (scikit-image's default): whitens the
        cross-power spectrum, robust to illumination changes and to the
        wrap-around edges of real views, but it locks onto noise for smooth noisy
        images (blobs, defocus) and misses by a pixel or more.
    disambiguate : bool
        Resolve the periodic ambiguity of the peak by testing the overlaps
        (scikit-image's ``disambiguate``).
    noise : float or None
        Known noise standard deviation; by default estimated from the residual at
        the estimated shift.

    Notes
    -----
    The sign of scikit-image's result is flipped to lamina's convention
    (``moving`` is ``reference`` moved by (dy, dx)). The uncertainty is the
    two-image Cramér-Rao bound at the estimate plus the grid quantisation
    ``1 / (upsample_factor sqrt(12))`` in quadrature: a lower bound, since this
    estimator is not efficient (see ``benchmarks/subpixel.py``).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import ndimage
    >>> from skimage import data
    >>> from lamina.plugins.subpixel.peers import PhaseCorrelation
    >>> reference = data.camera()[128:384, 128:384] / 255.0
    >>> moving = np.fft.ifft2(ndimage.fourier_shift(np.fft.fft2(reference), (1.3, -2.7))).real
    >>> estimate = PhaseCorrelation(upsample_factor=100).estimate(reference, moving)
    >>> print(f"{estimate.dy:.2f} {estimate.dx:.2f}")
    1.30 -2.70
    """

    def __init__(
        self,
        *,
        upsample_factor: int = 100,
        normalization: Literal["none", "phase"] = "none",
        disambiguate: bool = False,
        noise: float | None = None,
    ) -> None:
        if (
            isinstance(upsample_factor, bool)
            or not isinstance(upsample_factor, int)
            or upsample_factor < 1
        ):
            raise InputError(f"upsample_factor must be an integer >= 1, got {upsample_factor!r}")
        check_choice("normalization", normalization, ("none", "phase"))
        if not isinstance(disambiguate, bool):
            raise InputError(f"disambiguate must be a boolean, got {disambiguate!r}")
        if noise is not None:
            check_positive(noise, "noise", allow_zero=True)
        self.upsample_factor = upsample_factor
        self.normalization = normalization
        self.disambiguate = disambiguate
        self.noise = noise

    def estimate(self, reference: np.ndarray, moving: np.ndarray) -> ShiftEstimate:
        """Shift (dy, dx) of the content from ``reference`` to ``moving``, in pixels."""
        from skimage.registration import phase_cross_correlation

        ref, mov = as_pair(reference, moving)
        require_texture(ref, "reference")
        require_texture(mov, "moving")
        _check_upsampling(ref.shape, self.upsample_factor)
        registration, error, phasediff = phase_cross_correlation(
            ref,
            mov,
            upsample_factor=self.upsample_factor,
            normalization=None if self.normalization == "none" else "phase",
            disambiguate=self.disambiguate,
        )
        shift = -np.asarray(registration, dtype=np.float64)
        crlb, sigma, peak, failure = _bound_or_failure(ref, mov, shift, self.noise)
        quantisation = 1.0 / (self.upsample_factor * np.sqrt(12.0))
        uncertainty = np.sqrt(np.diag(crlb) + quantisation**2)
        diagnostics = {
            "estimator": "phase-correlation",
            "upsample_factor": self.upsample_factor,
            "normalization": self.normalization,
            "iterations": 1,
            "converged": failure is None,
            "peak": peak,
            "skimage_error": float(error),
            "phasediff": float(phasediff),
            "noise_sigma": sigma,
            "noise_source": "given" if self.noise is not None else "residual",
            "crlb": np.sqrt(np.diag(crlb)).tolist(),
            "uncertainty_kind": "lower bound: CRLB + grid quantisation",
        }
        if failure is not None:
            diagnostics["failure"] = failure
        return ShiftEstimate(
            float(shift[0]),
            float(shift[1]),
            (float(uncertainty[0]), float(uncertainty[1])),
            diagnostics,
        )


class PeakFit:
    """Classic correlation-peak interpolation: integer cross-correlation peak plus a
    three-point Gaussian or parabolic fit per axis (Willert & Gharib 1991).

    Fast and simple, but biased toward integer shifts ("pixel locking",
    Westerweel 1997): kept as the reference point for the pixel-locking check.

    Parameters
    ----------
    fit : {"gaussian", "parabolic"}
        Three-point estimator of the peak position.
    normalization : {"none", "phase"}
        Plain cross-correlation or phase correlation.
    noise : float or None
        Known noise standard deviation; by default estimated from the residual.

    Notes
    -----
    The uncertainty is the Cramér-Rao bound at the estimate, a lower bound: the
    systematic locking bias, up to about 0.1 px, is not in it.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import ndimage
    >>> from skimage import data
    >>> from lamina.plugins.subpixel.peers import PeakFit
    >>> reference = data.camera()[128:384, 128:384] / 255.0
    >>> moving = np.fft.ifft2(ndimage.fourier_shift(np.fft.fft2(reference), (1.0, -3.0))).real
    >>> estimate = PeakFit().estimate(reference, moving)
    >>> print(f"{estimate.dy:.2f} {estimate.dx:.2f}")
    1.00 -3.00
    """

    def __init__(
        self,
        *,
        fit: Literal["gaussian", "parabolic"] = "gaussian",
        normalization: Literal["none", "phase"] = "none",
        noise: float | None = None,
    ) -> None:
        check_choice("fit", fit, ("gaussian", "parabolic"))
        check_choice("normalization", normalization, ("none", "phase"))
        if noise is not None:
            check_positive(noise, "noise", allow_zero=True)
        self.fit = fit
        self.normalization = normalization
        self.noise = noise

    def estimate(self, reference: np.ndarray, moving: np.ndarray) -> ShiftEstimate:
        """Shift (dy, dx) of the content from ``reference`` to ``moving``, in pixels."""
        ref, mov = as_pair(reference, moving)
        require_texture(ref, "reference")
        require_texture(mov, "moving")
        spectrum = CrossSpectrum(ref - ref.mean(), mov - mov.mean(), dtype=np.float64)
        shift, _ = spectrum.coarse_shift(phase=self.normalization == "phase", fit=self.fit)
        crlb, sigma, peak, failure = _bound_or_failure(ref, mov, shift, self.noise)
        uncertainty = np.sqrt(np.diag(crlb))
        diagnostics = {
            "estimator": "peak-fit",
            "fit": self.fit,
            "iterations": 1,
            "converged": failure is None,
            "peak": peak,
            "noise_sigma": sigma,
            "noise_source": "given" if self.noise is not None else "residual",
            "crlb": uncertainty.tolist(),
            "uncertainty_kind": "lower bound: CRLB (locking bias not included)",
        }
        if failure is not None:
            diagnostics["failure"] = failure
        return ShiftEstimate(
            float(shift[0]),
            float(shift[1]),
            (float(uncertainty[0]), float(uncertainty[1])),
            diagnostics,
        )
