"""The Fourier-shift model of a registration pair, evaluated on the real-FFT half plane.

For reference ``r`` and moving ``m`` with spectra ``R`` and ``M`` (unitary DFT, so
white noise of standard deviation sigma per pixel has power sigma**2 in every
bin), the symmetric half-shift model says both are one unknown midpoint image
``g`` moved by -d/2 and +d/2::

    R(k) = G(k) exp(+i k.d/2) + N1(k)        M(k) = G(k) exp(-i k.d/2) + N2(k)

so ``moving`` is ``reference`` moved by +d (the lamina convention). Least squares
with ``g`` unknown minimises ``sum q(k) |R exp(-i k.d/2) - M exp(+i k.d/2)|**2``,
the same as maximising the Fourier-interpolated cross-correlation
``sum q(k) Re C(k) exp(-i k.d)`` with ``C = R conj(M)``. With ``q = 1`` this is the
ML estimate for a deterministic ``g``; with the Wiener weights
``q = P / (P + sigma**2 / 2)`` (``P`` the power of ``g``) it is the ML estimate with
``g`` marginalised under a Gaussian prior, which stays efficient when many bins
hold more noise than signal.

Every quantity the iteration and the covariance need is a sum of
``C(k) exp(-i k.d)`` times 1, k or k k^T; the exponential is separable in
(ky, kx), so each sum reduces to three weighted column sums of the cross
spectrum and no FFT is needed after the first two.

Nyquist bins of even sizes are left out (weight 0): the sampled Nyquist
component of a shifted real image changes amplitude (``cos(pi d)``), not phase,
so the complex shift model does not describe it. The DC bin is left out too, so
a brightness offset between the images neither moves the estimate nor inflates
the noise estimate.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import scipy.fft

try:  # optional speed-up: the plugin must load without it (scipy.fft computes the same)
    import ducc0
except ImportError:
    ducc0 = None
from scipy import ndimage

from lamina.errors import InputError
from lamina.plugins.subpixel.windows import WindowPowers, sum_product

__all__ = [
    "NO_TEXTURE",
    "CrossSpectrum",
    "Moments",
    "half_plane_weights",
    "inverse_2x2",
    "noise_floor",
    "periodic_component",
    "solve_2x2",
    "surface_peak",
    "wavenumbers",
]


#: The complex type of each real precision.
_COMPLEX = {np.float32: np.complex64, np.float64: np.complex128}

#: Why a pair whose model has no curvature along some direction is refused.
NO_TEXTURE = "not feasible: the images carry no texture, so no shift can be measured"


def periodic_component(image: np.ndarray) -> np.ndarray:
    """Moisan's periodic + smooth decomposition: the periodic part, i.e. the image less
    the smooth field that carries its wrap-around jumps, so Fourier shifts of it have
    no edge ringing.

    References
    ----------
    L. Moisan (2011). "Periodic plus smooth image decomposition." J. Math. Imaging Vis.
    """
    height, width = image.shape
    jumps = np.zeros_like(image)
    jumps[0, :] += image[-1, :] - image[0, :]
    jumps[-1, :] += image[0, :] - image[-1, :]
    jumps[:, 0] += image[:, -1] - image[:, 0]
    jumps[:, -1] += image[:, 0] - image[:, -1]
    q = np.arange(height)[:, None]
    r = np.arange(width)[None, :]
    denominator = 2 * np.cos(2 * np.pi * q / height) + 2 * np.cos(2 * np.pi * r / width) - 4
    denominator[0, 0] = 1.0
    smooth = np.fft.fft2(jumps) / denominator
    smooth[0, 0] = 0
    return image - np.fft.ifft2(smooth).real


def wavenumbers(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Angular wavenumbers (radians per pixel) of the rfft2 grid: ky (H,), kx (W//2+1,)."""
    height, width = shape
    return 2.0 * np.pi * scipy.fft.fftfreq(height), 2.0 * np.pi * scipy.fft.rfftfreq(width)


def half_plane_weights(shape: tuple[int, int]) -> np.ndarray:
    """How many bins of the full spectrum each rfft2 bin stands for (2 for the interior
    columns, 1 for the DC column), with the DC and Nyquist bins set to 0."""
    height, width = shape
    wx = np.full(width // 2 + 1, 2.0)
    wx[0] = 1.0
    if width % 2 == 0:
        wx[-1] = 0.0  # Nyquist column: amplitude, not phase, carries the shift
    wy = np.ones(height)
    if height % 2 == 0:
        wy[height // 2] = 0.0
    weights = np.outer(wy, wx)
    weights[0, 0] = 0.0  # DC: brightness offsets carry no position
    return weights


@dataclass(frozen=True)
class _Grid:
    """The half-plane frequency grid of one shape and precision (read-only, cached)."""

    ky: np.ndarray  # (H,)
    kx: np.ndarray  # (W//2+1,)
    base: np.ndarray  # half-plane multiplicity, 0 at DC and Nyquist
    used: np.ndarray  # 1 where a bin enters the fit
    products: tuple[np.ndarray, np.ndarray, np.ndarray]  # ky^2, ky kx, kx^2 grids
    ky_powers: np.ndarray  # (H, 3) float64: 1, ky, ky^2
    ky_complex: np.ndarray  # the same as complex numbers (mixed products cast each time)
    kx_powers: np.ndarray  # (W//2+1, 3): 1, kx, kx^2 in the grid's precision
    kx_complex: np.ndarray  # (W//2+1,) complex128: kx (as the grid's precision has it)
    kx_pairs: np.ndarray  # (W//2+1, 2, 3) complex128: 1, kx, kx^2 and i times them


@functools.lru_cache(maxsize=32)
def _grid(shape: tuple[int, int], dtype: type) -> _Grid:
    ky, kx = wavenumbers(shape)
    base = half_plane_weights(shape)
    arrays = {
        "ky": ky,
        "kx": kx,
        "base": base,
        "used": (base > 0).astype(np.float64),
    }
    frozen = {}
    for name, value in arrays.items():
        value = value.astype(dtype)
        value.flags.writeable = False
        frozen[name] = value
    products = []
    for value in (ky[:, None] ** 2 + 0 * kx, ky[:, None] * kx[None, :], 0 * ky[:, None] + kx**2):
        value = value.astype(dtype)
        value.flags.writeable = False
        products.append(value)
    powers = {"ky_powers": _powers(ky), "kx_powers": _powers(kx).astype(dtype)}
    powers["ky_complex"] = powers["ky_powers"].astype(np.complex128)
    kx_powers = powers["kx_powers"].astype(np.float64)
    powers["kx_complex"] = kx_powers[:, 1].astype(np.complex128)
    powers["kx_pairs"] = np.stack([kx_powers, 1j * kx_powers], axis=1)
    for value in powers.values():
        value.flags.writeable = False
    return _Grid(products=tuple(products), **powers, **frozen)


@dataclass(frozen=True)
class _Support:
    """The weighted cross spectrum on the columns up to the last with a weighted bin."""

    #: ``q C`` with the multiplicities, as real numbers: (rows, 2 columns), real and
    #: imaginary parts interleaved.
    interleaved: np.ndarray
    #: (columns,) complex128: kx of its columns.
    kx: np.ndarray
    #: (columns, 2, 3) complex128: 1, kx, kx**2 of its columns and i times them.
    kx_pairs: np.ndarray


@dataclass(frozen=True)
class Moments:
    """The model at one shift d."""

    #: ``sum q Re C exp(-ik.d)``.
    correlation: float
    #: (2,) derivative of the correlation with respect to (dy, dx).
    gradient: np.ndarray
    #: (2, 2) ``sum q k k^T Re C exp(-ik.d)``: minus the Hessian of the correlation,
    #: whose expectation is ``sum q k k^T P`` (no noise bias: the noises are independent).
    curvature: np.ndarray


class CrossSpectrum:
    """Spectra of a registration pair and the sums of the shift model over them.

    Parameters
    ----------
    reference, moving : ndarray
        Validated 2-D images of one shape (already windowed if a window is used).
    dtype : {numpy.float32, numpy.float64}
        Precision of the FFTs and of the per-bin arithmetic; sums are float64.
    weights : ndarray or None
        Per-bin weights ``q`` on the half plane (see :meth:`set_weights`).
    """

    def __init__(
        self,
        reference: np.ndarray,
        moving: np.ndarray,
        *,
        dtype: type = np.float32,
        weights: np.ndarray | None = None,
    ):
        self.shape: tuple[int, int] = reference.shape
        self.dtype = dtype
        self.grid = _grid(self.shape, dtype)
        # unitary ("ortho"): white noise keeps its variance
        self.spectrum_r = _unitary_rfft2(reference.astype(dtype, copy=False))
        self.spectrum_m = _unitary_rfft2(moving.astype(dtype, copy=False))
        # not written over the conjugate: numpy multiplies complex arrays in place
        # by another loop, whose products differ in the last bit
        self.cross = self.spectrum_r * np.conj(self.spectrum_m)
        self._aligned_at: tuple[tuple[float, float], np.ndarray] | None = None
        self.set_weights(weights)

    def set_weights(self, weights: np.ndarray | None) -> None:
        """Use per-bin weights ``q`` (on top of the half-plane multiplicities); ``None``
        for the plain least-squares fit. The sums that depend on them are computed
        when first needed (a fit sets weights several times per spectrum), so the
        array is read later: it must not be changed while it is in use."""
        if weights is not None and weights.shape != self.grid.used.shape:
            raise ValueError(
                f"weights of shape {self.grid.used.shape} expected (the half plane), "
                f"got {weights.shape}"
            )
        self._given_weights = weights
        # the products below are taken when first read: a fit sets weights it
        # reads only in part (the covariance's q, never the multiplicities')
        self.__dict__.pop("bin_weights", None)
        self.__dict__.pop("weights", None)
        self._support: _Support | None = None
        self._power_kk: np.ndarray | None = None
        self._n_bins: float | None = None

    @functools.cached_property
    def bin_weights(self) -> np.ndarray:
        """Per-bin weights q (0 on the DC and Nyquist bins)."""
        weights, used = self._given_weights, self.grid.used
        return used if weights is None else used * weights.astype(self.dtype, copy=False)

    @functools.cached_property
    def weights(self) -> np.ndarray:
        """q times the half-plane multiplicity: what the sums over the half plane use
        (the multiplicity itself for q = 1: it is 0 wherever ``used`` is, so the given
        weights times it are ``base * bin_weights`` to the last bit, NaN and the
        sign of zero included, without taking ``bin_weights``)."""
        if self._given_weights is None:
            return self.grid.base
        return self.grid.base * self._given_weights.astype(self.dtype, copy=False)

    def _weighted_cross(self) -> _Support:
        """``q C`` with the multiplicities, cut to the columns up to the last that
        holds a weighted bin (the band and the Wiener weights leave out the columns
        next to Nyquist; a slice, where cutting rows took a copy that cost more
        than the sums it saved)."""
        if self._support is None:
            weights = self.weights
            columns = np.flatnonzero(np.any(weights, axis=0))
            width = int(columns[-1]) + 1 if columns.size else 0
            weighted = self.cross[:, :width] * weights[:, :width]
            self._support = _Support(
                weighted.view(weighted.real.dtype),
                self.grid.kx_complex[:width],
                self.grid.kx_pairs[:width],
            )
        return self._support

    def residual_power(self, shift: np.ndarray) -> float:
        """``sum q |R exp(-ik.d/2) - M exp(+ik.d/2)|^2`` at ``shift`` (with the current
        weights), bin by bin: as ``sum q (|R|**2 + |M|**2)`` less twice the
        correlation it would cancel away all but the rounding of the FFT precision on
        noise-free pairs, whose residual (aliasing, model error) lies many orders
        below the power. The half-shift phases are unit numbers, so the difference
        has the power of ``R - M exp(+ik.d)``: one phase product fewer."""
        # The phases are not kept for the correlation at the same shift (it could
        # take their conjugate, equal to the last bit): one more array alive per
        # spectrum made glibc hand back and fault in heap pages, 236 more faults and
        # 0.66 ms more a circular 0.05 pair than the phase product it saved.
        difference = self.spectrum_m * self.phase(shift, -1.0)
        np.subtract(self.spectrum_r, difference, out=difference)
        # the same float products and pairwise sum as _sum(weights, _power(...)),
        # in two temporaries where those took six
        parts = difference.view(self.dtype)
        np.multiply(parts, parts, out=parts)
        power = np.add(parts[:, 0::2], parts[:, 1::2])
        np.multiply(power, self.weights, out=power)
        return float(np.sum(power))

    @functools.cached_property
    def power_r(self) -> np.ndarray:
        """``|R|**2`` per bin (taken when first asked for: a fit's intermediate window
        placements need the cross spectrum only)."""
        return _power(self.spectrum_r)

    @functools.cached_property
    def power_m(self) -> np.ndarray:
        """``|M|**2`` per bin (see :attr:`power_r`)."""
        return _power(self.spectrum_m)

    @functools.cached_property
    def mean_power(self) -> float:
        """Mean power per half-plane bin of the two spectra (taken once: the noise
        floor asks for it at every noise estimate)."""
        total = np.sum(self.power_r) + np.sum(self.power_m)
        return float(total) / (2.0 * self.power_r.size)

    @property
    def n_bins(self) -> float:
        """Number of full-spectrum bins that enter the fit (with their weights)."""
        if self._n_bins is None:
            self._n_bins = _sum(self.weights)
        return self._n_bins

    def gauss_newton_matrix(self, moments: Moments) -> np.ndarray:
        """Gauss-Newton matrix ``sum q k k^T |A + B|^2 / 4`` of the symmetric residual:
        positive semi-definite everywhere, unlike the curvature."""
        if self._power_kk is None:
            power = self.power_r + self.power_m
            power *= self.weights
            self._power_kk = self.kk_sum(power, multiplicity=False)
        return (self._power_kk + 2.0 * moments.curvature) / 4.0

    def kk_sum(self, values: np.ndarray, *, multiplicity: bool = True) -> np.ndarray:
        """``sum values * k k^T`` over the full spectrum as a (2, 2) matrix; ``values``
        on the half plane, multiplied by the half-plane multiplicity unless
        ``multiplicity=False`` says it already is."""
        if multiplicity:
            values = values * self.grid.base
        # k k^T is separable: row sums of values times 1, kx and kx**2 (one matrix
        # product, one pass), then sums over ky of them times 1, ky and ky**2 in
        # float64; sums[a, b] is the sum of values ky**a kx**b
        rows = (values.astype(self.dtype, copy=False) @ self.grid.kx_powers).astype(np.float64)
        sums = self.grid.ky_powers.T @ rows
        return np.array([[sums[2, 0], sums[1, 1]], [sums[1, 1], sums[0, 2]]])

    def coarse_shift(
        self, *, phase: bool = False, fit: str = "parabolic"
    ) -> tuple[np.ndarray, float]:
        """Integer cross-correlation peak refined by a three-point fit per axis.

        Returns the shift (dy, dx) of ``moving`` relative to ``reference`` and the
        correlation surface at the integer peak. With ``phase=True`` the cross
        spectrum is whitened first (phase correlation): a sharper peak for smooth
        images, less robust to noise. ``fit`` is ``"parabolic"`` or ``"gaussian"``
        (the parabola through the logarithms; it falls back to the parabola where a
        value is not positive).
        """
        return surface_peak(self.correlation_surface(phase=phase), fit=fit)

    def correlation_surface(self, *, phase: bool = False) -> np.ndarray:
        """Circular cross-correlation of the pair (whitened with ``phase=True``): its
        value at index ``(i, j)`` is the match of a shift of ``(i, j)`` modulo the shape."""
        spectrum = np.conj(self.cross)  # conj(R) M: its inverse transform peaks at +d
        if phase:
            magnitude = np.abs(spectrum)
            np.maximum(magnitude, np.finfo(magnitude.dtype).tiny, out=magnitude)
            # times the reciprocal: dividing complex by real numbers takes numpy a
            # slow casting loop (about 10x the time of the product)
            spectrum *= np.divide(1.0, magnitude, out=magnitude)
        spectrum[0, 0] = 0
        return _irfft2(spectrum, self.shape[1])

    def phase(self, shift: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """``exp(-i k.(scale * shift))`` on the half-plane grid."""
        dtype = self.cross.dtype
        phase_y = np.exp(-1j * scale * float(shift[0]) * self.grid.ky.astype(np.float64))
        phase_x = np.exp(-1j * scale * float(shift[1]) * self.grid.kx.astype(np.float64))
        # the product in the spectra's precision: a float64 outer product and its
        # cast take five times as long
        return phase_y.astype(dtype)[:, None] * phase_x.astype(dtype)[None, :]

    # -- the model at a shift ------------------------------------------------------
    def moments(self, shift: np.ndarray) -> Moments:
        """Correlation, its gradient and curvature at ``shift``."""
        support = self._weighted_cross()
        # The sums over kx of q C exp(-i kx dx) times 1, kx and kx**2 are one real
        # matrix product of the interleaved spectrum, (rows, 2 columns) by
        # (2 columns, 6): a single pass over the spectrum (the three complex
        # products and row sums it replaces made six, each with a temporary). A
        # column's two rows of the matrix hold kx**p e and i kx**p e (e = exp(-i kx
        # dx)), real parts first: the spectrum's real part takes the first, its
        # imaginary part the second; the product's first three columns are the real
        # parts of the row sums, the last three their imaginary parts.
        phase_x = np.exp(-1j * float(shift[1]) * support.kx)
        pairs = np.multiply(
            support.kx_pairs,
            phase_x[:, None, None],
            out=np.empty(support.kx_pairs.shape, _COMPLEX[support.interleaved.dtype.type]),
            casting="same_kind",
        )
        matrix = np.ascontiguousarray(
            pairs.view(support.interleaved.dtype).reshape(-1, 2, 3, 2).transpose(0, 1, 3, 2)
        ).reshape(-1, 6)
        products = support.interleaved @ matrix
        rows = np.empty((len(products), 3), dtype=np.complex128)
        rows.real = products[:, :3]
        rows.imag = products[:, 3:]
        # then over ky with exp(-i ky dy) times 1, ky and ky**2: sums[a, b] is the
        # sum of ky**a kx**b q C exp(-ik.d)
        ky_powers = self.grid.ky_complex
        sums = (ky_powers * np.exp(-1j * float(shift[0]) * ky_powers[:, 1:2])).T @ rows
        (c00, c01, c02), (c10, c11, _), (c20, _, _) = sums.tolist()
        correlation = c00.real
        # d/dd Re sum C exp(-ik.d) = Re sum (-i k) C exp(-ik.d) = Im sum k C exp(-ik.d)
        gradient = np.array([c10.imag, c01.imag])
        curvature = np.array([[c20.real, c11.real], [c11.real, c02.real]])
        return Moments(correlation, gradient, curvature)

    def midpoint_power(self, shift: np.ndarray) -> np.ndarray:
        """Per-bin power ``|A + B|^2 / 4`` of the aligned mean of the two images, whose
        expectation is the power of ``g`` plus ``sigma**2 / 2``."""
        power = self.power_r + self.power_m
        power += 2.0 * self._aligned(shift)
        power /= 4.0
        return power

    def noise_sigma(self, shift: np.ndarray) -> float:
        """Noise standard deviation per pixel from the residual at ``shift`` (with the
        current weights): each bin of ``R exp(-ik.d/2) - M exp(ik.d/2)`` holds noise
        of power 2 sigma**2."""
        dof = max(self.n_bins - 2.0, 1.0)
        return float(np.sqrt(self.residual_power(shift) / (2.0 * dof)))

    def correlation(self, shift: np.ndarray) -> float:
        """``sum q Re C exp(-ik.d)`` alone: a third of the work of :meth:`moments`."""
        return _sum(self.weights, self._aligned(shift))

    def _aligned(self, shift: np.ndarray) -> np.ndarray:
        """``Re C exp(-ik.d)`` per bin, kept for the last ``shift``: the correlation and
        the midpoint power are both taken at the estimate."""
        key = (float(shift[0]), float(shift[1]))
        if self._aligned_at is None or self._aligned_at[0] != key:
            self._aligned_at = (key, np.real(self.cross * self.phase(shift)))
        return self._aligned_at[1]

    def normalized_peak(self, correlation: float) -> float:
        """A ``correlation`` (:meth:`correlation`, or of :class:`Moments`) over the
        geometric mean of the two powers, in [-1, 1]."""
        denominator = np.sqrt(_sum(self.weights, self.power_r) * _sum(self.weights, self.power_m))
        return float(correlation / denominator) if denominator > 0 else 0.0

    def residual_image(self, shift: np.ndarray) -> np.ndarray:
        """The symmetric residual ``r(x - d/2) - m(x + d/2)`` in pixel space (Fourier
        interpolation, DC and Nyquist bins left out)."""
        half = self.phase(shift, 0.5)
        difference = self.spectrum_r * half - self.spectrum_m * np.conj(half)
        difference *= self.grid.used
        return scipy.fft.irfft2(difference, s=self.shape) * np.sqrt(self.shape[0] * self.shape[1])

    # -- bounds and covariances ----------------------------------------------------
    def signal_power(self, midpoint: np.ndarray, sigma: float, *, smooth: int = 9) -> np.ndarray:
        """Estimated power of ``g`` per bin from the ``midpoint`` power
        (:meth:`midpoint_power`): averaged over ``smooth`` x ``smooth`` neighbouring
        bins, less its noise, floored at 0. It depends on the data only through
        quantities that are symmetric in the two images, so weights built from it do
        not bias the shift."""
        noise = self.dtype(0.5 * sigma**2)
        if smooth > 1:
            # ndimage.uniform_filter's two passes, without its wrapper (20 us), into
            # one array
            power = np.empty_like(midpoint)
            ndimage.uniform_filter1d(midpoint, smooth, axis=0, output=power, mode="wrap")
            ndimage.uniform_filter1d(power, smooth, axis=1, output=power, mode="nearest")
            power -= noise
        else:
            power = midpoint - noise
        return np.maximum(power, 0, out=power)

    def information(self, midpoint: np.ndarray, sigma: float, *, check: bool = True) -> np.ndarray:
        """Unbiased estimate of ``G = sum grad g grad g^T`` of the midpoint image.

        ``G = sum k k^T (|A + B|^2 / 4 - sigma**2 / 2)`` over the bins with a non-zero
        weight, from the
        ``midpoint`` power ``|A + B|^2 / 4`` (:meth:`midpoint_power`). Each
        direction of ``G`` must exceed five of its own standard errors (what the
        noise makes it vary by): otherwise the images hold no texture above the
        noise in that direction and :class:`~lamina.InputError` says why the shift
        is not feasible (``check=False`` returns ``G`` without judging it).
        """
        support = self.grid.base * (self.bin_weights > 0)  # the bins the fit uses
        signal = midpoint - self.dtype(0.5 * sigma**2)
        signal *= support
        gradient_moments = self.kk_sum(signal, multiplicity=False)
        if not check:
            return gradient_moments
        eigenvalues, vectors = np.linalg.eigh(gradient_moments)
        # Noise makes a bin's midpoint power vary by 2 P n + n**2 (n = sigma**2 / 2
        # its noise power, P its signal power); Hermitian pairs are one random
        # variable, so each half-plane bin counts twice its multiplicity.
        half_noise = 0.5 * sigma**2
        signal = np.maximum(midpoint - half_noise, 0.0)
        spread = 2.0 * support * (2.0 * signal * half_noise + half_noise**2)
        yy, yx, xx = self.grid.products
        significant = []
        for value, (uy, ux) in zip(eigenvalues, vectors.T, strict=True):
            along = uy * uy * yy + 2 * uy * ux * yx + ux * ux * xx  # (u.k)^2
            error = np.sqrt(_sum(spread, along * along))
            significant.append(bool(np.isfinite(value) and value > 5.0 * error))
        if not significant[1]:
            raise InputError(
                "not feasible: the images carry no texture above the noise "
                "(constant or pure noise), so no shift can be measured"
            )
        if not significant[0]:
            vy, vx = vectors[:, 0]
            angle = float(np.degrees(np.arctan2(vy, vx))) % 180.0
            raise InputError(
                "not feasible: the images have texture in one direction only (aperture "
                f"problem); motion along {angle:.0f} degrees from the x axis cannot be measured"
            )
        return gradient_moments

    @staticmethod
    def crlb(gradient_moments: np.ndarray, sigma: float) -> np.ndarray:
        """Cramér-Rao bound ``2 sigma**2 G^-1`` on the shift for two images with white
        noise ``sigma`` (Robinson & Milanfar 2004)."""
        return _symmetric(2.0 * sigma**2 * inverse_2x2(gradient_moments))

    def covariance(
        self,
        moments: Moments,
        sigma: float,
        windows: WindowPowers | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Covariance of the shift estimated with the current weights ``q``.

        Sandwich ``H^-1 V H^-1`` of the estimating equation
        ``s(d) = sum q k Im C exp(-ik.d) = 0``; ``H`` is the observed curvature.
        ``V`` is the delta-method variance: the influence of each pixel of each
        image on ``s`` weighted by its noise variance ``sigma**2 w(x)**2``. Without
        windows, Parseval turns it into ``sigma**2 sum q**2 k k^T (|R|**2 + |M|**2)``.
        With windows, the influence of a reference pixel is the windowed moving
        content's filtered gradient there, so it carries the window too, and
        ``V`` sums ``w**4`` times the gradient energy; with that energy spread
        evenly over the window it is the same sum with ``|M|**2`` scaled by
        ``mean(w_r**4) / mean(w_r**2)`` (and ``|R|**2`` by the moving window's). No
        influence images are needed: the pixel-space sums this replaces took
        eight inverse FFTs per registration, and the +-2 sigma coverage of the
        input-space grid stayed within 0.01 per condition cell. Influences
        computed from the noisy data each include the noise-times-noise term
        once, so it is subtracted once (``sigma**4 mean(w**4) sum q**2 k k^T``) for
        the total and twice for the part linear in the noise. With ``q = 1``, no
        window and high SNR this is the Cramér-Rao bound ``2 sigma**2 G^-1``.

        Parameters
        ----------
        moments
            The model at the estimate.
        sigma : float
            Noise standard deviation per pixel of the raw images.
        windows : WindowPowers or None
            The powers of the windows applied to reference and moving before the FFT.

        Returns
        -------
        total, first_order : ndarray
            (2, 2) covariances: everything, and the part linear in the noise.
        """
        q = self.bin_weights
        gain_r = gain_m = fourth = 1.0
        if windows is not None:
            gain_r, gain_m = (f / s for f, s in zip(windows.fourth, windows.second, strict=True))
            fourth = 0.5 * (windows.fourth[0] + windows.fourth[1])
        squares = q * q
        squares *= self.grid.base
        powers = gain_r * self.power_m
        powers += gain_m * self.power_r
        powers *= squares
        spread = sigma**2 * self.kk_sum(powers, multiplicity=False)
        bilinear = sigma**4 * fourth * self.kk_sum(squares, multiplicity=False)
        return _sandwich(inverse_2x2(moments.curvature), spread, bilinear)


def _sandwich(
    inverse: np.ndarray, spread: np.ndarray, bilinear: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The covariances ``H^-1 (V - B) H^-1`` and ``H^-1 (V - 2 B) H^-1`` of
    :meth:`CrossSpectrum.covariance`, from ``inverse`` = ``H^-1``, the spread ``V``
    and the noise-times-noise term ``B``."""
    total = inverse @ (spread - bilinear) @ inverse
    first = inverse @ (spread - 2.0 * bilinear) @ inverse
    # The subtractions are expectations; at very low SNR a noisy spread can
    # fall below them. Never report less than the plug-in spread allows.
    if np.any(np.diag(total) <= 0):
        total = inverse @ spread @ inverse
    if np.any(np.diag(first) <= 0):
        first = total
    return _symmetric(total), _symmetric(first)


def inverse_2x2(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a 2 x 2 matrix (a curvature or a texture energy) by its
    adjugate, in Python floats: numpy's LAPACK call took 25-35 us inside a
    registration (its code cold in the caches), the arithmetic under a
    microsecond. A singular one leaves a direction without information, refused as
    the fit's own steps refuse it (numpy raised ``LinAlgError`` out of ``estimate``
    on 16 px checkerboard views)."""
    (a, b), (c, d), determinant = _entries(matrix)
    return np.array([[d / determinant, -b / determinant], [-c / determinant, a / determinant]])


def solve_2x2(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """``matrix^-1 vector`` for a 2 x 2 ``matrix`` by Cramer's rule (see
    :func:`inverse_2x2`); a singular one means no texture at all."""
    (a, b), (c, d), determinant = _entries(matrix)
    y, x = vector.tolist()
    return np.array([(d * y - b * x) / determinant, (a * x - c * y) / determinant])


def _entries(matrix: np.ndarray) -> tuple[list[float], list[float], float]:
    """A 2 x 2 matrix's rows in Python floats and its determinant, refused as
    :data:`NO_TEXTURE` when that is 0."""
    (a, b), (c, d) = rows = matrix.tolist()
    determinant = a * d - b * c
    if determinant == 0:
        raise InputError(NO_TEXTURE)
    return rows[0], rows[1], determinant


def noise_floor(spectrum: CrossSpectrum) -> float:
    """Rounding noise of the FFTs: the smallest noise the residual can show."""
    eps = float(np.finfo(spectrum.cross.real.dtype).eps)
    return eps * float(np.sqrt(spectrum.mean_power))


def surface_peak(surface: np.ndarray, *, fit: str = "parabolic") -> tuple[np.ndarray, float]:
    """Highest value of a circular correlation surface, refined by a three-point fit
    per axis (see :meth:`CrossSpectrum.coarse_shift`): the shift in (-size/2, size/2]
    and the value at the integer peak."""
    # in Python numbers: numpy's per-call overhead was most of this function's time
    peak = tuple(int(i) for i in np.unravel_index(int(np.argmax(surface)), surface.shape))
    top = float(surface[peak])
    shift = np.zeros(surface.ndim)
    for axis, size in enumerate(surface.shape):
        below, above = list(peak), list(peak)
        below[axis] = (peak[axis] - 1) % size
        above[axis] = (peak[axis] + 1) % size
        values = [float(surface[tuple(below)]), top, float(surface[tuple(above)])]
        position = peak[axis] + _three_point(values, fit)
        shift[axis] = position - size if position > size / 2 else position
    return shift, top


def _unitary_rfft2(image: np.ndarray) -> np.ndarray:
    """``scipy.fft.rfft2(image, norm="ortho")``, by ducc0 where it is installed
    (pocketfft's successor: in its precision, 0.6x the time on 256 x 256 float32
    images, two per fit pass)."""
    if ducc0 is None:
        return scipy.fft.rfft2(image, axes=(0, 1), norm="ortho")
    return ducc0.fft.r2c(image, axes=(0, 1), forward=True, inorm=1)


def _irfft2(spectrum: np.ndarray, width: int) -> np.ndarray:
    """``scipy.fft.irfft2(spectrum, s=(rows, width))`` (the 1/N "backward"
    normalisation), by ducc0 where it is installed (0.8x the time)."""
    if ducc0 is None:
        return scipy.fft.irfft2(spectrum, s=(spectrum.shape[0], width), axes=(0, 1))
    return ducc0.fft.c2r(spectrum, axes=(0, 1), lastsize=width, forward=False, inorm=2)


def _powers(wavenumbers: np.ndarray) -> np.ndarray:
    """(n, 3) float64: 1, k and k**2 of each wavenumber."""
    k = wavenumbers.astype(np.float64)
    return np.stack([np.ones_like(k), k, k * k], axis=1)


def _power(spectrum: np.ndarray) -> np.ndarray:
    return spectrum.real**2 + spectrum.imag**2


def _sum(values: np.ndarray, other: np.ndarray | None = None) -> float:
    """``sum(values * other)`` by pairwise summation in the inputs' precision (see
    :func:`.windows.sum_product`; an einsum that casts to float64 took twice as
    long, and the sums here are of terms of one sign or of noise)."""
    if other is None:
        return float(np.sum(values))
    return sum_product(values, other)


def _three_point(values: list[float], fit: str) -> float:
    """Sub-sample offset of a peak from its value and its two neighbours, in [-0.5, 0.5]."""
    if fit == "gaussian" and min(values) > 0:
        values = [float(np.log(v)) for v in values]
    below, centre, above = values
    curvature = below - 2.0 * centre + above
    if curvature >= 0:
        return 0.0
    return min(max(0.5 * (below - above) / curvature, -0.5), 0.5)


def _symmetric(matrix: np.ndarray) -> np.ndarray:
    return 0.5 * (matrix + matrix.T)
