"""3-D registration for ``ml-refine``: volumes (z, y, x).

The same model as for images (one unknown midpoint volume moved by -d/2 and +d/2
plus white noise; least squares over it maximises the Fourier-interpolated
cross-correlation ``Re sum q R conj(M) exp(-i k.d)``), written for any number of
axes on the full FFT grid. The integer start is the candidate whose overlap
correlates most significantly (:func:`.matching.choose_start`) among the peaks of
the phase and the plain correlation, scikit-image's masked normalised
cross-correlation with masks, and their wrapped alternatives. Newton steps follow
(Gauss-Newton where the curvature is not positive definite) with co-moving Tukey
windows (times the masks, :func:`.windows.masked_windows`; Hann windows on
overlaps under 16 voxels) re-placed at each estimate until the placement settles,
extrapolated (Aitken) where it contracts slowly. As in 2-D, a plain fit gives the
noise from its residual and the Wiener weights ``q = P / (P + s**2 / 2)`` (``P``
the smoothed mean power less its noise) the ML estimate with the scene
marginalised, and bins next to Nyquist that the windows alias are left out.

The uncertainty is the sandwich ``H^-1 (V - B) H^-1``: ``V`` each voxel's
influence on the estimating equation squared times its noise, summed over the
voxels (under windows the bins' noise is not white), ``B`` the
noise-times-noise part, once; without windows and weights at high SNR it is the
two-volume Cramér-Rao bound. It is multiplied by
``1 / (1 - c)`` per axis for the placement's fixed point (``c`` its contraction),
plus what the placement may still be off by, the bound with the texture floored
at its noise where the texture does not stand out of it, the half-band
model-error check, the difference from a pass under smoother windows (the
windows' aliasing bias), the doubts of the start and the stopping tolerance. The
texture diagnostics are :mod:`.quality`'s: ``feasible`` and warnings name low SNR,
small overlaps, periodic texture and unsettled fits; texture in one or two
directions only is refused, naming the direction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from warnings import warn

import numpy as np
from scipy import fft, ndimage

from lamina.errors import InputError
from lamina.plugins.subpixel.matching import Match, choose_start, image_independence
from lamina.plugins.subpixel.noise import weak_texture_noise
from lamina.plugins.subpixel.quality import (
    SIGNIFICANT_Z,
    Texture,
    require_texture,
    rounding_noise,
    texture_significance,
    valid_interior,
)
from lamina.plugins.subpixel.registration import THIN_OVERLAP_VARIANCE, settled_contraction
from lamina.plugins.subpixel.windows import (
    MIN_OVERLAP,
    WindowPowers,
    apply_window,
    comoving_windows,
    masked_windows,
)
from lamina.types import ShiftEstimate

__all__ = ["VolumeShiftEstimate", "register_volumes"]

#: Most window placements; each is a full Newton fit.
_PASSES = 12

#: Standard errors under which a direction's texture carries no information.
_GUESS_Z = 2.0

#: Largest contraction of the window-placement fixed point used to extrapolate.
_MAX_CONTRACTION = 0.95

#: Volumes with a side under this are fitted under Hann windows on overlaps down to
#: _SMALL_OVERLAP voxels (Tukey tapers need MIN_OVERLAP).
_SMALL_SIDE = 16

#: Smallest overlap (voxels per axis) fitted under the Hann windows of small volumes.
_SMALL_OVERLAP = 4

#: Largest fraction of the band left out next to Nyquist under windows.
_MAX_BAND_CUT = 0.3

#: Standard error (voxels) under which the window's aliasing bias is checked, and
#: the standard errors of the difference by which the Hann pass must differ.
_BIAS_SIGMA = 0.02
_BIAS_Z = 2.0

#: How far (voxels) the windows are moved off the estimate to measure the
#: contraction of their placement when the passes did not.
_PROBE_STEP = 0.1

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
    candidates); volumes with a side under 16 voxels are fitted under Hann
    windows, with a warning. ``weighting`` ``"wiener"`` or ``"none"``
    as :class:`~lamina.plugins.subpixel.registration.MLRefine`'s; ``masks``
    (True where a voxel is valid, as validated by :func:`.checks.as_masked_pair`)
    leave voxels out of the match. ``diagnostics["warnings"]`` names what limits
    the estimate (low SNR, small overlap, periodic texture, a small volume, a
    fit that did not settle) and ``diagnostics["feasible"]`` is False when one
    says the estimate may be grossly wrong; texture in one or two directions
    only (the aperture problem) is refused with the direction named.
    """
    ref, mov = (_as_volume(v, name) for v, name in ((reference, "reference"), (moving, "moving")))
    if ref.shape != mov.shape:
        raise InputError(
            f"reference and moving must have the same shape, got {ref.shape} and {mov.shape}"
        )
    constant = [name for name, v in (("reference", ref), ("moving", mov)) if np.ptp(v) == 0]
    if constant:
        # as images (and scikit-image): a warning and a result no one can
        # mistake for a measurement
        message = (
            f"constant volume: {' and '.join(constant)} {'is' if len(constant) == 1 else 'are'} "
            "constant, so no shift can be measured"
        )
        warn(message, UserWarning, stacklevel=3)
        result = _result(np.full(3, np.nan), np.diag([np.inf] * 3), float("nan"), 0, False, [])
        result.diagnostics.update(warnings=[message], feasible=False)
        return result
    model = _Model(None if periodic else taper, masks, MIN_OVERLAP)
    warnings: list[str] = []
    if min(ref.shape) < _SMALL_SIDE and not periodic:
        # too small for Tukey tapers: Hann windows over overlaps of a few voxels
        model = _Model(1.0, masks, _SMALL_OVERLAP)
        warnings.append(
            f"small volume: {'x'.join(map(str, ref.shape))} voxels is fitted from few "
            "frequencies under Hann windows"
        )
    match = _start(ref, mov, periodic, masks)
    shift = match.shift
    warnings = match.warnings + warnings
    if not model.fits(ref.shape, shift):
        # the overlap is too thin to fit, but the scene can still be judged
        plain = _windowed_spectra(ref, mov, shift, _Model(None, None, 0), None)
        sigma = float(np.sqrt(_noise_power(plain, shift)))
        require_texture(ref, mov, masks, _scene_sigma(ref, mov, masks, sigma))
        warnings.append(
            f"small overlap: under {model.min_overlap} voxels on an axis; the estimate is the "
            "correlation peak (about 0.5 voxel)"
        )
        covariance = np.eye(3) * THIN_OVERLAP_VARIANCE + np.diag(match.spread**2)
        return _result(shift, covariance, float("nan"), 0, False, warnings)
    iterations, converged = 0, False
    weights: np.ndarray | None = None
    steps: list[np.ndarray] = []
    estimates: list[np.ndarray] = []
    placement, lag = shift, np.zeros(3)
    stranded = False  # the estimate left the windows too little overlap to follow it
    for index in range(_PASSES):
        if index and not model.fits(ref.shape, placement):
            # the windows could not follow: the placement did not settle either
            stranded, converged = True, False
            break
        spectra = _windowed_spectra(ref, mov, placement, model, weights)
        start = placement
        if index == 0 and weighting == "wiener":
            # a plain fit first: its residual gives the noise the weights need
            start, _, more, _ = _newton(spectra, start, max_iter=max_iter, tol=tol)
            iterations += more
            weights = _wiener_weights(spectra, _noise_power(spectra, start))
            spectra.weights = spectra.used * weights
        shift, hessian, more, converged = _newton(spectra, start, max_iter=max_iter, tol=tol)
        iterations += more
        steps.append(shift - placement)
        estimates.append(shift)
        if model.taper is None:
            break
        # The estimate is a fixed point of placement -> estimate(placement); smooth
        # scenes contract slowly (c up to 0.7), so near it each axis is extrapolated
        # (Aitken) by step c / (1 - c), never more than a tenth of a voxel per
        # pass, and what the last placement may still be off by is reported.
        contraction = np.full(3, 0.01)
        if len(steps) >= 2:
            ratio = np.divide(steps[-1], steps[-2], out=np.zeros(3), where=np.abs(steps[-2]) > 0)
            contraction = np.clip(ratio, 0.01, _MAX_CONTRACTION)
        lag = np.abs(steps[-1]) * contraction / (1.0 - contraction)
        if np.max(lag) < tol:
            break
        jump = np.clip(steps[-1] * contraction / (1.0 - contraction), -0.1, 0.1)
        placement = shift + (jump if index and np.max(np.abs(steps[-1])) < 0.1 else 0.0)
    else:
        converged = False
    stranded = stranded or not model.fits(ref.shape, shift)
    # integer voxels carry at least their rounding noise (step**2 / 12): without it
    # the aliasing of rounded one-directional texture passes for texture
    rounding = rounding_noise(ref, mov, masks)
    sigma2 = max(_noise_power(spectra, shift), (rounding * spectra.noise_scale) ** 2)
    sigma = float(np.sqrt(sigma2)) / spectra.noise_scale  # per voxel of the raw volumes
    # gradients across a mask's edge reach into filled voxels: keep them out
    inner = spectra.windows if masks is None else valid_interior(spectra.windows)
    texture = texture_significance(ref, mov, inner, sigma)
    try:
        texture.require_two_directions()
    except InputError:
        # The overlap lacks texture along a direction: refused only when the whole
        # volumes do too; a small overlap of a textured scene is a low-SNR estimate.
        require_texture(ref, mov, masks, _scene_sigma(ref, mov, masks, sigma))
    warnings += texture.warnings()
    covariance = _covariance(spectra, hessian, sigma2, shift)
    if model.taper is not None:
        # the windows sit where the estimate puts them: at that fixed point an
        # error of the fit at fixed windows becomes error / (1 - c) per axis
        contraction = _contraction(
            ref, mov, shift, steps, spectra, model, max_iter=max_iter, tol=tol
        )
        covariance = covariance * np.outer(1.0 / (1.0 - contraction), 1.0 / (1.0 - contraction))
    if np.any(texture.z < SIGNIFICANT_Z):
        # the curvature is itself noise there: the bound with the texture energy
        # floored at its noise takes over where it is larger
        bound = np.diag(_floored_bound(texture, sigma))
        covariance += np.diag(np.maximum(bound - np.diag(covariance), 0.0))
        # along a direction without texture above the noise the estimate is a
        # guess anywhere in the search range (as a low-SNR start's), +-N per axis
        for direction in texture.directions[:, texture.z < _GUESS_Z].T:
            reach = float(np.abs(direction) @ np.array(ref.shape))
            covariance += reach**2 / 3.0 * np.outer(direction, direction)
    covariance += _model_error(spectra, shift, covariance, sigma2, max_iter=max_iter, tol=tol)
    covariance += np.eye(3) * (2.0 * tol) ** 2 + np.diag(match.spread**2 + lag**2)
    covariance += _window_bias(ref, mov, shift, covariance, model, weights, max_iter, tol)
    if not converged and len(estimates) > 3:
        # The placement wandered or drifted instead of settling: the estimate
        # depends on where the windows cut the content by about the spread of the
        # later passes, or by how far they still moved.
        later = np.array(estimates[len(estimates) // 2 :])
        drift = (later[-1] - later[0]) ** 2
        covariance += np.cov(later.T) + np.diag(drift)
    if stranded:
        # As in 2-D: the windows sat short of the estimate and no smoother pass can
        # check their bias (0.15-0.21 voxel at a standard error of 0.010 on noise-free
        # 16x32x24 cells at 7.7 voxels of overlap along z): the correlation peak's
        # precision only.
        covariance += THIN_OVERLAP_VARIANCE * np.eye(3)
        warnings.append(
            f"small overlap: the estimate leaves under {model.min_overlap} voxels of overlap "
            "on an axis, where co-moving windows cannot follow it (about 0.5 voxel)"
        )
    if not converged:
        warnings.append("not converged: the fit or the window placement did not settle")
    return _result(shift, covariance, sigma, iterations, converged, warnings)


@dataclass(frozen=True)
class _Model:
    """How the volumes are windowed: co-moving windows with ``taper`` (None: none,
    circular translates) times the ``masks``, on overlaps of ``min_overlap``
    voxels or more."""

    taper: float | None
    masks: tuple[np.ndarray, np.ndarray] | None
    min_overlap: int
    #: The windows are raised to this power (2: smoother than Hann, for the bias check).
    power: int = 1

    def fits(self, shape: tuple[int, ...], shift: np.ndarray) -> bool:
        """Whether the windows at ``shift`` keep ``min_overlap`` voxels on every axis."""
        overlap = np.array(shape) - 1.0 - np.abs(shift)
        return self.taper is None or bool(np.all(overlap >= self.min_overlap))


def _window_bias(
    ref: np.ndarray,
    mov: np.ndarray,
    shift: np.ndarray,
    covariance: np.ndarray,
    model: _Model,
    weights: np.ndarray | None,
    max_iter: int,
    tol: float,
) -> np.ndarray:
    """Covariance of the bias the window's own aliasing leaves, as
    ``MLRefine._remove_window_bias`` finds it: where the estimate is precise enough for
    it to matter, a pass at the estimate under smoother windows (Hann for Tukey
    windows, squared Hann for the Hann windows of small volumes, which fold
    most), whose difference from it varies by about ``V_smooth - V`` where there
    is no bias."""
    if model.taper is None:
        return np.zeros((3, 3))
    smoother = replace(model, taper=1.0) if model.taper < 1.0 else replace(model, power=2)
    if not smoother.fits(ref.shape, shift):
        return np.zeros((3, 3))
    spectra = _windowed_spectra(ref, mov, shift, smoother, weights)
    try:
        hann, _, _, _ = _newton(spectra, shift, max_iter=max_iter, tol=tol)
    except InputError:
        return np.zeros((3, 3))
    difference = (hann - shift) ** 2
    return np.diag(difference)


def _start(
    ref: np.ndarray,
    mov: np.ndarray,
    periodic: bool,
    masks: tuple[np.ndarray, np.ndarray] | None,
) -> Match:
    """The integer start and its doubts (:func:`.matching.choose_start`): the peaks of
    the phase and the plain correlation (with masks, of scikit-image's masked
    normalised cross-correlation too) and, for views, their wrapped alternatives;
    the candidate whose overlap correlates most significantly wins."""
    from skimage.registration import phase_cross_correlation

    peaks = [
        -np.asarray(phase_cross_correlation(ref, mov, normalization=norm)[0], dtype=np.float64)
        for norm in ("phase", None)
    ]
    if masks is not None:
        masked = phase_cross_correlation(ref, mov, reference_mask=masks[0], moving_mask=masks[1])
        peaks.insert(0, -np.asarray(masked[0] if isinstance(masked, tuple) else masked, float))
    return choose_start(
        ref, mov, peaks, wrap=not periodic, independent=image_independence([ref - ref.mean()])
    )


def _contraction(
    ref: np.ndarray,
    mov: np.ndarray,
    shift: np.ndarray,
    steps: list[np.ndarray],
    spectra: _Spectra,
    model: _Model,
    *,
    max_iter: int,
    tol: float,
) -> np.ndarray:
    """Contraction per axis of the window-placement fixed point: from the first two
    passes where their steps tell it (:func:`.registration.settled_contraction`),
    else measured by moving the windows ``_PROBE_STEP`` voxels off the estimate
    (toward zero shift, so they still fit) and refitting."""
    settled, measured = settled_contraction(steps, tol)
    if np.all(measured):
        return settled
    probe = np.where(shift > 0, -_PROBE_STEP, _PROBE_STEP)
    if not model.fits(ref.shape, shift + probe):
        return settled
    moved_spectra = replace(
        _windowed_spectra(ref, mov, shift + probe, model, None), weights=spectra.weights
    )
    try:
        moved, _, _, _ = _newton(moved_spectra, shift, max_iter=max_iter, tol=tol)
    except InputError:
        return settled
    probed, _ = settled_contraction([probe, moved - shift], tol)
    return np.where(measured, settled, probed)


def _scene_sigma(
    ref: np.ndarray, mov: np.ndarray, masks: tuple[np.ndarray, np.ndarray] | None, sigma: float
) -> float:
    """The noise the whole volumes' texture is judged against for the aperture
    problem: the fit's ``sigma`` or, where it is larger, the volumes' own noise (the
    larger :func:`_own_noise` of the two, over their valid voxels, at least the
    rounding), as in 2-D. An overlap's residual also holds the content entering and
    leaving it (0.06 on noise-free 8x40x40 cells of std 0.12 moved by 9.6 voxels),
    and with masks the filled voxels' edges, which buried isotropic texture and
    refused it as two-directional (noise-free blobs elongated along z, masked or
    not)."""
    valid = (None, None) if masks is None else masks
    own = max(_own_noise(volume, mask) for volume, mask in zip((ref, mov), valid, strict=True))
    return min(sigma, max(own, rounding_noise(ref, mov, masks)))


def _own_noise(volume: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Standard deviation of white noise in a volume, robust to its content: the
    3-D form of :func:`.noise.noise_from_image` (:func:`.noise.weak_texture_noise`),
    over the cells whose voxels are all ``valid`` (infinite where none is). Its
    measured band, the finest all-diagonal Haar coefficient of the 2 x 2 x 2
    cells, holds nothing of content smooth along any one axis; the 2-D
    coefficients of the (y, x) planes took 0.02 of noise-free blobs elongated
    along z for noise and refused their weak but exact z texture."""
    return weak_texture_noise(volume, valid=valid)


def _floored_bound(texture: Texture, sigma: float) -> np.ndarray:
    """Cramér-Rao bound ``2 sigma**2 G^-1`` with each eigenvalue of the texture's
    structure tensor ``G`` at least its noise standard error, so it stays finite
    (and large) where the texture does not stand out of the noise."""
    floor = float(np.min(texture.error)) if np.all(np.isfinite(texture.error)) else 0.0
    values = np.maximum(texture.energy, max(floor, np.finfo(float).tiny))
    vectors = texture.directions
    return 2.0 * sigma**2 * (vectors / values) @ vectors.T


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
    windows: tuple[np.ndarray, np.ndarray]
    #: Noise standard deviation of the windowed volumes per unit voxel noise.
    noise_scale: float


def _windowed_spectra(
    ref: np.ndarray,
    mov: np.ndarray,
    shift: np.ndarray,
    model: _Model,
    weights: np.ndarray | None,
) -> _Spectra:
    """Spectra of the volumes under the ``model``'s windows at ``shift``, and the bins
    the fit uses: no DC, no Nyquist planes, and with windows none next to Nyquist
    where the windowed content aliases (see ``registration._alias_free_band``:
    ``3 / t`` of the band per axis, at most 30 %, for tapers of ``t`` voxels)."""
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
    taper, masks, least = model.taper, model.masks, model.min_overlap
    if taper is None:
        windows = (np.ones(ref.shape), np.ones(ref.shape))
    else:
        for k, size, offset in zip(ks, ref.shape, shift, strict=True):
            taper_voxels = max(taper * (size - 1.0 - abs(float(offset))) / 2.0, 1.0)
            used = used * (np.abs(k) <= np.pi * (1.0 - min(_MAX_BAND_CUT, 3.0 / taper_voxels)))
        if masks is None:
            windows = comoving_windows(ref.shape, shift, taper, min_overlap=least)
        else:
            windows = masked_windows(ref.shape, shift, taper, masks, min_overlap=least)
        windows = (windows[0] ** model.power, windows[1] ** model.power)
    spectra = [
        np.fft.fftn(apply_window(volume, window)) / np.sqrt(volume.size)
        for volume, window in zip((ref, mov), windows, strict=True)
    ]
    scale = WindowPowers.of(windows).noise_scale
    weighted = used if weights is None else used * weights
    return _Spectra(spectra[0], spectra[1], ks, used, weighted, windows, scale)


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
    """Damped Newton ascent of the correlation, steps capped at one voxel: with the
    observed curvature where it is positive definite, else with the Gauss-Newton
    matrix of the symmetric residual (as :func:`.registration.gauss_newton`).
    Returns the shift, the matrix of the last step, the iterations and whether the
    last step was shorter than ``tol``."""
    shift = start.copy()
    value, gradient, curvature = _moments(spectra, shift)
    for iteration in range(1, max_iter + 1):
        hessian = _positive_curvature(spectra, curvature)
        step = np.linalg.solve(hessian, gradient)
        step /= max(1.0, float(np.max(np.abs(step))))
        for _ in range(12):
            trial = _moments(spectra, shift + step)
            if trial[0] >= value - 1e-12 * abs(value):
                break
            step = step / 2.0
        shift = shift + step
        value, gradient, curvature = trial
        if float(np.max(np.abs(step))) < tol:
            return shift, _positive_curvature(spectra, curvature), iteration, True
    return shift, _positive_curvature(spectra, curvature), max_iter, False


def _positive_curvature(spectra: _Spectra, curvature: np.ndarray) -> np.ndarray:
    """The curvature where it is positive definite, else the Gauss-Newton matrix
    ``sum q k k^T |A + B|**2 / 4`` (positive semi-definite everywhere); only
    volumes with no texture at all leave that singular."""
    if np.linalg.eigvalsh(curvature)[0] > 0:
        return curvature
    power = spectra.weights * (np.abs(spectra.reference) ** 2 + np.abs(spectra.moving) ** 2)
    matrix = (_k_moments(power, spectra.k)[2].real + 2.0 * curvature) / 4.0
    if np.linalg.eigvalsh(matrix)[0] <= 0:
        raise InputError("not feasible: the volumes carry no texture, so no shift can be measured")
    return matrix


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
    expected = np.maximum(
        np.diag(_covariance(sub, sub_hessian, sigma2, sub_shift) - covariance), 0.0
    )
    difference = (sub_shift - shift) ** 2
    return np.diag(np.where(difference > _MODEL_Z**2 * expected, difference, 0.0))


def _covariance(
    spectra: _Spectra, hessian: np.ndarray, sigma2: float, shift: np.ndarray
) -> np.ndarray:
    """Sandwich ``H^-1 (V - B) H^-1`` of the estimating equation ``s(d) = sum q k Im
    R conj(M) exp(-ik.d) = 0``: ``V`` the delta-method variance, each voxel's
    influence on ``s`` squared times its noise variance ``sigma**2 w(x)**2``;
    ``B = sigma**4 mean(w_r**2 w_m**2) sum q**2 k k^T``, the noise-times-noise part
    the noisy influences hold once. The influences are summed over the voxels, not
    the bins: under windows the bins' noise is not white, and the Parseval sum
    ``sum q**2 k k^T (|R|**2 + |M|**2)`` per bin (the module's description) was
    2.3-3x too small in standard error under Hann windows (0.005 against 0.015
    voxel measured over noise draws, smooth blobs at SNR 10, 8-32 voxels a side);
    these sums agree with the measured spread to within its sampling error. Without
    the subtraction where noise makes it negative."""
    raw2 = sigma2 / spectra.noise_scale**2  # per voxel of the raw volumes
    phase = _phase(spectra, shift)
    root = np.sqrt(spectra.reference.size)
    spread = np.zeros((3, 3))
    # influence of a windowed reference voxel x on s_j: Im sum q k_j conj(M) e^(-ik.(x+d))
    # / sqrt(N), an FFT; of a moving voxel: Im sum q k_j R e^(+ik.(x-d)) / sqrt(N)
    # scipy's single-precision FFTs: a quarter of numpy's double-precision time (2.6
    # against 9.7 ms at 64**3), and the variance within 1e-7 of the double one's
    k_z, k_y, k_x = (k.astype(np.float32) for k in spectra.k)
    for other, window, transform, scale in (
        (np.conj(spectra.moving) * phase, spectra.windows[0], fft.fftn, 1.0 / root),
        (spectra.reference * phase, spectra.windows[1], fft.ifftn, root),
    ):
        # q and |R|, |M| are even in k, k_j odd: each field is anti-Hermitian and its
        # transform imaginary, so one transform of f_z + i f_y gives both (2 of 3 FFTs)
        weighted = (spectra.weights * other).astype(np.complex64)
        pair = transform(weighted * (k_z + np.complex64(1j) * k_y))
        last = transform(weighted * k_x).imag
        influence = np.stack((pair.imag, -pair.real, last)).reshape(3, -1)
        influence = influence * (window * scale).reshape(1, -1)
        spread += influence @ influence.T
    spread *= raw2
    fourth = float(np.mean(spectra.windows[0] ** 2 * spectra.windows[1] ** 2))
    bilinear = raw2**2 * fourth * _k_moments(spectra.weights**2, spectra.k)[2].real
    inverse = np.linalg.inv(hessian)
    total = inverse @ (spread - bilinear) @ inverse
    if np.any(np.diag(total) <= 0):
        total = inverse @ spread @ inverse
    return 0.5 * (total + total.T)
