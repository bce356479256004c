"""3-D registration for ``ml-refine``: volumes (z, y, x).

The same model as for images (one unknown midpoint volume moved by -d/2 and +d/2
plus white noise; least squares over it maximises the Fourier-interpolated
cross-correlation ``Re sum q R conj(M) exp(-i k.d)``), written for any number of
axes on the full FFT grid: the integer start is scikit-image's phase-correlation
peak or one of its wrapped alternatives, whichever overlap correlates most
significantly (:func:`.matching.choose_start`), or with masks scikit-image's
masked normalised cross-correlation; then Newton steps with co-moving Tukey
windows (times the masks, :func:`.windows.masked_windows`) re-placed at each
estimate. As in 2-D, a plain fit gives the noise from its residual and the
Wiener weights ``q = P / (P + s**2 / 2)`` (``P`` the smoothed mean power less
its noise) the ML estimate with the scene marginalised. The uncertainty is the
sandwich ``s**2 H^-1 (S - s**2 K) H^-1`` with ``S = sum q**2 k k^T (|R|**2 +
|M|**2)`` and ``K = sum q**2 k k^T`` (the noise-times-noise part, once), which is
the two-volume Cramér-Rao bound at high SNR without weights, plus the stopping
tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy import ndimage

from lamina.errors import InputError
from lamina.plugins.subpixel.matching import Match, choose_start, independence
from lamina.plugins.subpixel.windows import (
    MIN_OVERLAP,
    apply_window,
    comoving_windows,
    masked_windows,
)
from lamina.types import ShiftEstimate

__all__ = ["VolumeShiftEstimate", "register_volumes"]

#: Window re-placements; each is a full Newton fit.
_PASSES = 4

#: Standard errors by which the half-band fit must differ to count as model error
#: (as in 2-D).
_MODEL_Z = 3.0


@dataclass
class VolumeShiftEstimate(ShiftEstimate):
    """A :class:`~lamina.ShiftEstimate` of volumes: ``dz`` too, and ``shift`` and
    ``uncertainty`` with one entry per axis (z, y, x)."""

    dz: float = 0.0

    @property
    def shift(self) -> np.ndarray:
        return np.array([self.dz, self.dy, self.dx])

    def as_dict(self) -> dict:
        return {"dz": float(self.dz), **super().as_dict()}


def register_volumes(
    reference: np.ndarray,
    moving: np.ndarray,
    *,
    taper: float,
    max_iter: int,
    tol: float,
    periodic: bool = False,
    weighting: str = "wiener",
    masks: tuple[np.ndarray, np.ndarray] | None = None,
) -> VolumeShiftEstimate:
    """Shift (dz, dy, dx) of the content from ``reference`` to ``moving``.

    ``periodic=True`` for circular translates (no windows, no wrapped
    candidates); ``weighting`` ``"wiener"`` or ``"none"`` as
    :class:`~lamina.plugins.subpixel.registration.MLRefine`'s; ``masks`` (True
    where a voxel is valid, as validated by :func:`.checks.as_masked_pair`)
    leave voxels out of the match.
    """
    from skimage.registration import phase_cross_correlation

    ref, mov = (_as_volume(v, name) for v, name in ((reference, "reference"), (moving, "moving")))
    if ref.shape != mov.shape:
        raise InputError(
            f"reference and moving must have the same shape, got {ref.shape} and {mov.shape}"
        )
    if np.ptp(ref) == 0 or np.ptp(mov) == 0:
        raise InputError("not feasible: a constant volume holds no shift")
    if masks is None:
        coarse, _, _ = phase_cross_correlation(ref, mov)
        power = np.abs(np.fft.fftn(ref - ref.mean())) ** 2
        match = choose_start(
            ref,
            mov,
            [-np.asarray(coarse, dtype=np.float64)],
            wrap=not periodic,
            independent=independence(power, np.ones(power.shape)),
        )
    else:
        masked = phase_cross_correlation(ref, mov, reference_mask=masks[0], moving_mask=masks[1])
        start = -np.asarray(masked[0] if isinstance(masked, tuple) else masked, dtype=np.float64)
        match = Match(start, float("inf"), np.zeros(3))
    shift = match.shift
    warnings = list(match.warnings)
    shape = np.array(ref.shape)
    if not periodic and np.any(shape - 1 - np.abs(shift) < MIN_OVERLAP):
        warnings.append("small overlap: under 8 voxels on an axis; the integer peak (±0.5)")
        covariance = np.eye(3) * 0.25 + np.diag(match.spread**2)
        return _result(shift, covariance, float("nan"), 0, False, warnings)
    iterations, converged = 0, False
    weights: np.ndarray | None = None
    window_taper = None if periodic else taper
    for index in range(_PASSES):
        spectra = _windowed_spectra(ref, mov, shift, window_taper, masks, weights)
        if index == 0 and weighting == "wiener":
            # a plain fit first: its residual gives the noise the weights need
            shift, _, more, _ = _newton(spectra, shift, max_iter=max_iter, tol=tol)
            iterations += more
            weights = _wiener_weights(spectra, _noise_power(spectra, shift))
            spectra.weights = spectra.used * weights
        moved, hessian, more, converged = _newton(spectra, shift, max_iter=max_iter, tol=tol)
        iterations += more
        step = float(np.max(np.abs(moved - shift)))
        shift = moved
        if step < tol:
            break
    sigma2 = _noise_power(spectra, shift)
    covariance = _covariance(spectra, hessian, sigma2)
    covariance += _model_error(spectra, shift, covariance, sigma2, max_iter=max_iter, tol=tol)
    covariance += np.eye(3) * (2.0 * tol) ** 2 + np.diag(match.spread**2)
    if not periodic and taper < 1.0:
        # the window's aliasing bias (see MLRefine._window_bias): a Hann pass
        hann_spectra = _windowed_spectra(ref, mov, shift, 1.0, masks, weights)
        try:
            hann, hann_hessian, _, _ = _newton(hann_spectra, shift, max_iter=max_iter, tol=tol)
        except InputError:
            hann = None
        if hann is not None:
            hann_covariance = _covariance(
                hann_spectra, hann_hessian, _noise_power(hann_spectra, hann)
            )
            difference = (hann - shift) ** 2
            expected = np.diag(covariance) + np.diag(hann_covariance)
            covariance += np.diag(np.where(difference > 9.0 * expected, difference, 0.0))
    return _result(shift, covariance, float(np.sqrt(sigma2)), iterations, converged, warnings)


def _result(
    shift: np.ndarray,
    covariance: np.ndarray,
    sigma: float,
    iterations: int,
    converged: bool,
    warnings: list[str],
) -> VolumeShiftEstimate:
    uncertainty = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    diagnostics = {
        "estimator": "ml-refine",
        "dimensions": 3,
        "iterations": iterations,
        "converged": converged,
        "noise_sigma": sigma,
        "covariance": covariance.tolist(),
        "uncertainty_zyx": uncertainty.tolist(),
        "warnings": warnings,
        "feasible": not any(w.startswith(("low SNR", "periodic texture")) for w in warnings),
    }
    dz, dy, dx = (float(v) for v in shift)
    return VolumeShiftEstimate(
        dy, dx, (float(uncertainty[1]), float(uncertainty[2])), diagnostics, dz=dz
    )


def _as_volume(volume: object, name: str) -> np.ndarray:
    array = np.asarray(volume)
    if array.dtype.kind in "iu":
        from skimage.util import img_as_float

        array = img_as_float(array)
    if array.dtype.kind != "f" or array.ndim != 3:
        raise InputError(f"{name} must be a real (z, y, x) volume, got {array.dtype} {array.shape}")
    if min(array.shape) < 3:
        raise InputError(f"{name} of shape {array.shape} needs at least 3 voxels per side")
    if not np.all(np.isfinite(array)):
        raise InputError(f"{name} contains NaN or infinite voxels")
    return array.astype(np.float64)


@dataclass
class _Spectra:
    reference: np.ndarray  # unitary FFTs of the windowed volumes
    moving: np.ndarray
    k: list[np.ndarray]  # per-axis angular wavenumbers, broadcastable
    used: np.ndarray  # 1 where a bin enters the fit (no DC, no Nyquist planes)
    weights: np.ndarray  # per-bin weights q, 0 where a bin is not used


def _windowed_spectra(
    ref: np.ndarray,
    mov: np.ndarray,
    shift: np.ndarray,
    taper: float | None,
    masks: tuple[np.ndarray, np.ndarray] | None,
    weights: np.ndarray | None,
) -> _Spectra:
    """Spectra of the volumes under co-moving Tukey windows (none: ``taper=None``),
    times the masks when there are any."""
    ks, used = [], np.ones(ref.shape)
    for axis, size in enumerate(ref.shape):
        view: list[slice | None] = [None] * ref.ndim
        view[axis] = slice(None)
        ks.append((2 * np.pi * np.fft.fftfreq(size))[tuple(view)])
        if size % 2 == 0:
            plane = [slice(None)] * ref.ndim
            plane[axis] = size // 2
            used[tuple(plane)] = 0.0
    used[(0,) * ref.ndim] = 0.0
    if taper is None:
        windows = (np.ones(ref.shape), np.ones(ref.shape))
    elif masks is None:
        windows = comoving_windows(ref.shape, shift, taper)
    else:
        windows = masked_windows(ref.shape, shift, taper, masks)
    spectra = [
        np.fft.fftn(apply_window(volume, window)) / np.sqrt(volume.size)
        for volume, window in zip((ref, mov), windows, strict=True)
    ]
    return _Spectra(spectra[0], spectra[1], ks, used, used if weights is None else used * weights)


def _phase(spectra: _Spectra, shift: np.ndarray, scale: float = 1.0) -> np.ndarray:
    phase = np.ones((1, 1, 1), dtype=complex)
    for k, d in zip(spectra.k, shift, strict=True):
        phase = phase * np.exp(-1j * scale * d * k)
    return phase


def _moments(spectra: _Spectra, shift: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    term = spectra.weights * spectra.reference * np.conj(spectra.moving) * _phase(spectra, shift)
    total, first, second = _k_moments(term, spectra.k)
    return float(total.real), first.imag, second.real


def _k_moments(field: np.ndarray, ks: list[np.ndarray]) -> tuple[Any, np.ndarray, np.ndarray]:
    """``sum f``, ``sum k_a f`` and ``sum k_a k_b f`` over the grid, from the sums of
    ``f`` over all but two axes (each ``k_a`` varies along axis ``a`` only): one
    pass over ``f`` per pair of axes instead of one per moment."""
    n = field.ndim
    k = [np.ravel(k_a) for k_a in ks]
    pairs = {
        (a, b): field.sum(axis=tuple(c for c in range(n) if c not in (a, b)))
        for a in range(n)
        for b in range(a + 1, n)
    }
    lines = [pairs[(0, 1)].sum(axis=1), *(pairs[(0, a)].sum(axis=0) for a in range(1, n))]
    first = np.array([k[a] @ lines[a] for a in range(n)])
    second = np.empty((n, n), dtype=first.dtype)
    for a in range(n):
        second[a, a] = (k[a] ** 2) @ lines[a]
    for (a, b), plane in pairs.items():
        second[a, b] = second[b, a] = k[a] @ plane @ k[b]
    return lines[0].sum(), first, second


def _newton(
    spectra: _Spectra, start: np.ndarray, *, max_iter: int, tol: float
) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """Damped Newton ascent of the correlation, steps capped at one voxel."""
    shift = start.copy()
    value, gradient, hessian = _moments(spectra, shift)
    for iteration in range(1, max_iter + 1):
        if np.linalg.eigvalsh(hessian)[0] <= 0:
            raise InputError("not feasible: the volumes carry too little texture to register")
        step = np.linalg.solve(hessian, gradient)
        step /= max(1.0, float(np.max(np.abs(step))))
        for _ in range(12):
            trial = _moments(spectra, shift + step)
            if trial[0] >= value - 1e-12 * abs(value):
                break
            step = step / 2.0
        shift = shift + step
        value, gradient, hessian = trial
        if float(np.max(np.abs(step))) < tol:
            return shift, hessian, iteration, True
    return shift, hessian, max_iter, False


def _noise_power(spectra: _Spectra, shift: np.ndarray) -> float:
    """Noise power per bin of the windowed spectra from the plain residual: each bin
    of ``R exp(-ik.d/2) - M exp(+ik.d/2)`` holds noise of power 2 s**2."""
    half = _phase(spectra, shift, 0.5)
    residual = spectra.used * np.abs(spectra.reference * half - spectra.moving / half) ** 2
    bins = max(float(np.sum(spectra.used)) - 3.0, 1.0)
    return float(np.sum(residual)) / (2.0 * bins)


def _wiener_weights(spectra: _Spectra, sigma2: float) -> np.ndarray:
    """``P / (P + s**2 / 2)``, ``P`` the mean of the two volumes' powers (expectation
    ``P + s**2``) averaged over 5 x 5 x 5 neighbouring bins, less ``s**2``: symmetric
    in the two volumes, so the weights do not pull the shift (see
    ``MLRefine._weights``)."""
    mean_power = 0.5 * (np.abs(spectra.reference) ** 2 + np.abs(spectra.moving) ** 2)
    signal = np.maximum(ndimage.uniform_filter(mean_power, 5, mode="wrap") - sigma2, 0.0)
    denominator = signal + 0.5 * sigma2
    return np.divide(signal, denominator, out=np.zeros_like(signal), where=denominator > 0)


def _model_error(
    spectra: _Spectra,
    shift: np.ndarray,
    covariance: np.ndarray,
    sigma2: float,
    *,
    max_iter: int,
    tol: float,
) -> np.ndarray:
    """Covariance the Fourier-shift model leaves out, as ``MLRefine._model_error``
    finds it: the fit on the lower half of the band agrees with the full one to
    within ``V_sub - V`` where the model holds; a larger difference (aliasing of
    windowed content, the hard edges of masks) counts as model error."""
    low = np.ones(spectra.used.shape)
    for k in spectra.k:
        low = low * (np.abs(k) <= 0.5 * np.pi)
    sub = replace(spectra, weights=spectra.weights * low)
    try:
        sub_shift, sub_hessian, _, _ = _newton(sub, shift, max_iter=max_iter, tol=tol)
    except InputError:
        return np.zeros((3, 3))
    expected = np.maximum(np.diag(_covariance(sub, sub_hessian, sigma2) - covariance), 0.0)
    difference = (sub_shift - shift) ** 2
    return np.diag(np.where(difference > _MODEL_Z**2 * expected, difference, 0.0))


def _covariance(spectra: _Spectra, hessian: np.ndarray, sigma2: float) -> np.ndarray:
    """Sandwich ``s**2 H^-1 (S - s**2 K) H^-1`` (see the module's description);
    without the subtraction where noise makes it negative."""
    squared = spectra.weights**2
    power = squared * (np.abs(spectra.reference) ** 2 + np.abs(spectra.moving) ** 2)
    spread = _k_moments(power, spectra.k)[2]
    bilinear = sigma2 * _k_moments(squared, spectra.k)[2]
    inverse = np.linalg.inv(hessian)
    total = sigma2 * inverse @ (spread - bilinear) @ inverse
    if np.any(np.diag(total) <= 0):
        total = sigma2 * inverse @ spread @ inverse
    return 0.5 * (total + total.T)
