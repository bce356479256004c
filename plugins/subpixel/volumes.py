"""3-D registration for ``ml-refine``: volumes (z, y, x).

The same model as for images (one unknown midpoint volume moved by -d/2 and +d/2
plus white noise; least squares over it maximises the Fourier-interpolated
cross-correlation ``Re sum R conj(M) exp(-i k.d)``), written for any number of
axes on the full FFT grid: the integer start is scikit-image's phase-correlation
peak or one of its wrapped alternatives, whichever overlap correlates most
significantly (:func:`.matching.choose_start`), then Newton steps with
co-moving Tukey windows re-placed at each estimate. The uncertainty is the
sandwich ``s**2 H^-1 S H^-1`` with ``S = sum k k^T (|R|**2 + |M|**2)`` (the
two-volume Cramér-Rao bound at high SNR), noise from the residual, plus the
stopping tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lamina.errors import InputError
from lamina.plugins.subpixel.matching import choose_start, independence
from lamina.plugins.subpixel.windows import MIN_OVERLAP, tukey_profile
from lamina.types import ShiftEstimate

__all__ = ["VolumeShiftEstimate", "register_volumes"]

#: Window re-placements; each is a full Newton fit.
_PASSES = 4


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
) -> VolumeShiftEstimate:
    """Shift (dz, dy, dx) of the content from ``reference`` to ``moving``;
    ``periodic=True`` for circular translates (no windows, no wrapped candidates)."""
    from skimage.registration import phase_cross_correlation

    ref, mov = (_as_volume(v, name) for v, name in ((reference, "reference"), (moving, "moving")))
    if ref.shape != mov.shape:
        raise InputError(
            f"reference and moving must have the same shape, got {ref.shape} and {mov.shape}"
        )
    if np.ptp(ref) == 0 or np.ptp(mov) == 0:
        raise InputError("not feasible: a constant volume holds no shift")
    coarse, _, _ = phase_cross_correlation(ref, mov)
    power = np.abs(np.fft.fftn(ref - ref.mean())) ** 2
    match = choose_start(
        ref,
        mov,
        [-np.asarray(coarse, dtype=np.float64)],
        wrap=not periodic,
        independent=independence(power, np.ones(power.shape)),
    )
    shift = match.shift
    warnings = list(match.warnings)
    shape = np.array(ref.shape)
    if not periodic and np.any(shape - 1 - np.abs(shift) < MIN_OVERLAP):
        warnings.append("small overlap: under 8 voxels on an axis; the integer peak (±0.5)")
        covariance = np.eye(3) * 0.25 + np.diag(match.spread**2)
        return _result(shift, covariance, float("nan"), 0, False, warnings)
    iterations, converged = 0, False
    for _ in range(_PASSES):
        spectra = _windowed_spectra(ref, mov, shift, None if periodic else taper)
        moved, hessian, more, converged = _newton(spectra, shift, max_iter=max_iter, tol=tol)
        iterations += more
        step = float(np.max(np.abs(moved - shift)))
        shift = moved
        if step < tol:
            break
    sigma, covariance = _covariance(spectra, shift, hessian)
    covariance += np.eye(3) * (2.0 * tol) ** 2 + np.diag(match.spread**2)
    if not periodic and taper < 1.0:
        # the window's aliasing bias (see MLRefine._window_bias): a Hann pass
        hann_spectra = _windowed_spectra(ref, mov, shift, 1.0)
        try:
            hann, hann_hessian, _, _ = _newton(hann_spectra, shift, max_iter=max_iter, tol=tol)
        except InputError:
            hann = None
        if hann is not None:
            _, hann_covariance = _covariance(hann_spectra, hann, hann_hessian)
            difference = (hann - shift) ** 2
            expected = np.diag(covariance) + np.diag(hann_covariance)
            covariance += np.diag(np.where(difference > 9.0 * expected, difference, 0.0))
    return _result(shift, covariance, sigma, iterations, converged, warnings)


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


def _windowed_spectra(
    ref: np.ndarray, mov: np.ndarray, shift: np.ndarray, taper: float | None
) -> _Spectra:
    """Spectra of the volumes under co-moving Tukey windows (none: ``taper=None``)."""
    windows_r, windows_m, ks, used = [], [], [], np.ones(ref.shape)
    for axis, size in enumerate(ref.shape):
        length = size - 1.0 - abs(shift[axis])
        centre = (size - 1) / 2.0
        if taper is None:
            windows_r.append(np.ones(size))
            windows_m.append(np.ones(size))
        else:
            windows_r.append(tukey_profile(size, centre - shift[axis] / 2, length, taper))
            windows_m.append(tukey_profile(size, centre + shift[axis] / 2, length, taper))
        view = [None] * ref.ndim
        view[axis] = slice(None)
        ks.append((2 * np.pi * np.fft.fftfreq(size))[tuple(view)])
        if size % 2 == 0:
            plane = [slice(None)] * ref.ndim
            plane[axis] = size // 2
            used[tuple(plane)] = 0.0
    used[(0,) * ref.ndim] = 0.0
    spectra = []
    for volume, profiles in ((ref, windows_r), (mov, windows_m)):
        window = (
            profiles[0][:, None, None] * profiles[1][None, :, None] * profiles[2][None, None, :]
        )
        mean = np.sum(window * volume) / np.sum(window)
        spectra.append(np.fft.fftn(window * (volume - mean)) / np.sqrt(volume.size))
    return _Spectra(spectra[0], spectra[1], ks, used)


def _phase(spectra: _Spectra, shift: np.ndarray, scale: float = 1.0) -> np.ndarray:
    phase = np.ones((1, 1, 1), dtype=complex)
    for k, d in zip(spectra.k, shift, strict=True):
        phase = phase * np.exp(-1j * scale * d * k)
    return phase


def _moments(spectra: _Spectra, shift: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    term = spectra.used * spectra.reference * np.conj(spectra.moving) * _phase(spectra, shift)
    gradient = np.array([np.sum(k * term).imag for k in spectra.k])
    hessian = np.array([[np.sum(a * b * term).real for b in spectra.k] for a in spectra.k])
    return float(np.sum(term).real), gradient, hessian


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


def _covariance(
    spectra: _Spectra, shift: np.ndarray, hessian: np.ndarray
) -> tuple[float, np.ndarray]:
    half = _phase(spectra, shift, 0.5)
    residual = spectra.used * np.abs(spectra.reference * half - spectra.moving / half) ** 2
    bins = max(float(np.sum(spectra.used)) - 3.0, 1.0)
    sigma2 = float(np.sum(residual)) / (2.0 * bins)
    power = spectra.used * (np.abs(spectra.reference) ** 2 + np.abs(spectra.moving) ** 2)
    spread = np.array([[np.sum(a * b * power) for b in spectra.k] for a in spectra.k])
    inverse = np.linalg.inv(hessian)
    return float(np.sqrt(sigma2)), sigma2 * inverse @ spread @ inverse
