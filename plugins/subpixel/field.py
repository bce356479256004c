"""Displacement fields by digital image correlation: a grid of subsets, each
registered on its own, with its uncertainty.

The whole pair is registered first; each moving subset is then cut at the
subset's place plus the integer part of that global shift, so a subset only has
to find the local deviation (large global motion does not push its content out
of the subset). The reported displacement is the global integer offset plus
the subset's estimate.

A subset registered as a whole (a zero-order shape function) measures the
displacement averaged over its texture, not the one at its centre: where the
field deforms, the two differ by the displacement gradient times how far the
texture's weight sits off the centre, plus the curvature times its spread. The
gradient and curvature come from the neighbouring subsets, and that deformation
bias (:func:`deformation_bias`) is added to each subset's variance: on camera
views under 0.3 % strain the +-2 sigma coverage was 0.74, under 1 % 0.54 (errors
up to 22 standard errors).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from lamina.errors import InputError
from lamina.kinds.position_estimator import require_masked_registration
from lamina.plugins.subpixel.checks import MIN_SIZE, as_masked_pair, as_pair
from lamina.protocols import PositionEstimator
from lamina.types import ShiftEstimate

#: Grid steps around a subset whose displacements give the field's local
#: gradient and curvature (a 5 x 5 patch).
_NEIGHBOURHOOD = 2

#: Factor on the estimated deformation bias added to the variance: the errors of
#: camera subsets under 0.3-1 % strain ran 1.1-1.4 times the estimate (its Hann
#: weights stand for the estimator's own), correlation 0.3-0.7.
_BIAS_SAFETY = 2.0

__all__ = ["DisplacementField", "deformation_bias", "displacement_field", "plot_field"]


@dataclass
class DisplacementField:
    """Per-subset displacement (dy, dx) and its standard error, on a grid.

    ``centre_y`` (rows,) and ``centre_x`` (columns,) are the subset centres in
    reference pixels; ``dy``, ``dx``, ``sigma_dy``, ``sigma_dx`` are (rows,
    columns) arrays, NaN where a subset could not be measured (``reason`` says
    why); ``feasible`` is False where the estimate came with a doubt.
    """

    centre_y: np.ndarray
    centre_x: np.ndarray
    dy: np.ndarray
    dx: np.ndarray
    sigma_dy: np.ndarray
    sigma_dx: np.ndarray
    feasible: np.ndarray
    subset: int
    step: int
    global_shift: tuple[float, float]
    reasons: dict[str, str] = field(default_factory=dict)

    def arrays(self) -> dict[str, np.ndarray]:
        """Everything as arrays, for ``numpy.savez``."""
        return {
            "centre_y": self.centre_y,
            "centre_x": self.centre_x,
            "dy": self.dy,
            "dx": self.dx,
            "sigma_dy": self.sigma_dy,
            "sigma_dx": self.sigma_dx,
            "feasible": self.feasible,
            "subset": np.array(self.subset),
            "step": np.array(self.step),
            "global_shift": np.array(self.global_shift),
        }


def displacement_field(
    reference: np.ndarray,
    moving: np.ndarray,
    estimator: PositionEstimator | None = None,
    *,
    subset: int = 32,
    step: int | None = None,
    reference_mask: np.ndarray | None = None,
    moving_mask: np.ndarray | None = None,
    progress: Callable[[Iterable[Any]], Iterable[Any]] | None = None,
) -> DisplacementField:
    """Register ``subset`` x ``subset`` windows every ``step`` pixels.

    ``reference_mask`` and ``moving_mask`` (True where a pixel is valid) are
    handed, cut like the images, to the estimator's masked registration; a subset
    with no valid pixel is NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import ndimage
    >>> from skimage import data
    >>> scene = ndimage.gaussian_filter(data.camera() / 255.0, 1.0)[100:228, 100:228]
    >>> moved = np.fft.ifft2(ndimage.fourier_shift(np.fft.fft2(scene), (0.4, -0.3))).real
    >>> result = displacement_field(scene, moved, subset=48, step=32)
    >>> result.dy.shape
    (3, 3)
    """
    masks: dict[str, np.ndarray] = {}
    if reference_mask is not None or moving_mask is not None:
        reference, moving, (valid_r, valid_m) = as_masked_pair(
            reference, moving, reference_mask, moving_mask
        )
        masks = {"reference_mask": valid_r, "moving_mask": valid_m}
    ref, mov = as_pair(reference, moving, integers=True)
    for name, value in (("subset", subset), ("step", step)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise InputError(f"{name} must be an integer, got {value!r}")
    if subset < MIN_SIZE or subset > min(ref.shape):
        raise InputError(
            f"subset must be between {MIN_SIZE} and the smaller image side {min(ref.shape)}, "
            f"got {subset}"
        )
    step = subset // 2 if step is None else step
    if step < 1:
        raise InputError(f"step must be >= 1, got {step}")
    if estimator is None:
        from lamina.plugins.subpixel.registration import MLRefine

        estimator = MLRefine()
    register: Callable[..., ShiftEstimate] = estimator.estimate
    if masks:
        require_masked_registration(estimator, "reference_mask, moving_mask")
    whole = register(ref, mov, **masks)
    offset = np.round(np.nan_to_num(whole.shift)).astype(int)
    tops = np.arange(0, ref.shape[0] - subset + 1, step)
    lefts = np.arange(0, ref.shape[1] - subset + 1, step)
    shape = (len(tops), len(lefts))
    result = {name: np.full(shape, np.nan) for name in ("dy", "dx", "sigma_dy", "sigma_dx")}
    feasible = np.zeros(shape, dtype=bool)
    reasons: dict[str, str] = {}
    cells = [(i, j) for i in range(shape[0]) for j in range(shape[1])]
    for i, j in progress(cells) if progress is not None else cells:
        top, left = tops[i], lefts[j]
        moved_top, moved_left = top + offset[0], left + offset[1]
        if not (
            0 <= moved_top <= ref.shape[0] - subset and 0 <= moved_left <= ref.shape[1] - subset
        ):
            reasons[f"{i},{j}"] = "the subset moves out of the moving image"
            continue
        window = (slice(top, top + subset), slice(left, left + subset))
        moved = (slice(moved_top, moved_top + subset), slice(moved_left, moved_left + subset))
        cut = {
            name: mask[moved if name == "moving_mask" else window] for name, mask in masks.items()
        }
        if any(not np.any(mask) for mask in cut.values()):
            reasons[f"{i},{j}"] = "no valid pixel in the subset"
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # constant subsets: NaN below
                estimate = register(ref[window], mov[moved], **cut)
        except InputError as error:  # e.g. one-directional texture in this subset
            reasons[f"{i},{j}"] = str(error)
            continue
        if not np.all(np.isfinite(estimate.shift)):  # a constant subset: no estimate
            said = estimate.diagnostics.get("warnings") or ["no shift could be measured"]
            reasons[f"{i},{j}"] = str(said[0])
            continue
        result["dy"][i, j] = estimate.dy + offset[0]
        result["dx"][i, j] = estimate.dx + offset[1]
        result["sigma_dy"][i, j], result["sigma_dx"][i, j] = estimate.uncertainty
        feasible[i, j] = bool(estimate.diagnostics.get("feasible", True))
    bias_y, bias_x = deformation_bias(
        ref,
        result["dy"],
        result["dx"],
        tops=tops,
        lefts=lefts,
        subset=subset,
        step=step,
        trusted=feasible,
        valid=masks.get("reference_mask"),
    )
    result["sigma_dy"] = np.hypot(result["sigma_dy"], _BIAS_SAFETY * bias_y)
    result["sigma_dx"] = np.hypot(result["sigma_dx"], _BIAS_SAFETY * bias_x)
    return DisplacementField(
        centre_y=tops + (subset - 1) / 2.0,
        centre_x=lefts + (subset - 1) / 2.0,
        feasible=feasible,
        subset=subset,
        step=step,
        global_shift=(float(whole.dy), float(whole.dx)),
        reasons=reasons,
        **result,
    )


def deformation_bias(
    reference: np.ndarray,
    dy: np.ndarray,
    dx: np.ndarray,
    *,
    tops: np.ndarray,
    lefts: np.ndarray,
    subset: int,
    step: int,
    trusted: np.ndarray | None = None,
    valid: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """How far (signed, per axis; NaN where a subset was not measured) each subset's
    displacement may be from the one at its centre where the field deforms.

    A translation fitted to a subset whose displacement varies as ``u(p)`` returns,
    to first order, ``G^-1 sum_p w g(p) g(p)^T u(p)``: the displacement averaged
    with the texture's weight (``g`` the reference's gradient, ``w`` a Hann
    window standing for the estimator's tapers, ``G = sum w g g^T``). With ``u``
    expanded about the centre ``c`` to second order (gradient ``A`` and
    curvature ``H`` of a quadratic fitted to the ``trusted`` subsets of a 5 x 5
    patch around it), the bias is ``G^-1 sum_p w g g^T (A (p - c) + (p - c)^T H
    (p - c) / 2)``. It is an estimate (the true weights are the estimator's),
    added in quadrature to the variance rather than subtracted. ``tops`` and
    ``lefts`` place the subsets of side ``subset`` on the grid of ``step``
    pixels; ``trusted`` (default: every measured subset) marks those whose
    displacement enters the fit (feasible ones: a low-SNR guess would make up a
    deformation); ``valid`` (True where a reference pixel is valid) keeps masked
    pixels out of the weights.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> reference = rng.normal(size=(64, 64))
    >>> shift = np.full((3, 3), 1.5)  # a translation: no deformation bias
    >>> bias_y, _ = deformation_bias(
    ...     reference, shift, shift, tops=np.arange(0, 33, 16), lefts=np.arange(0, 33, 16),
    ...     subset=32, step=16)
    >>> float(np.max(np.abs(bias_y))) < 1e-12
    True
    """
    shape = dy.shape
    field = np.stack([dy, dx])  # (2, rows, columns)
    measured = np.all(np.isfinite(field), axis=0)
    usable = measured if trusted is None else measured & trusted
    derivatives = _grid_derivatives(np.where(usable, field, np.nan), float(step))
    gradients = np.gradient(np.asarray(reference, dtype=np.float64))
    gradient_y, gradient_x = np.asarray(gradients[0]), np.asarray(gradients[1])
    if valid is not None:  # a gradient across a mask's edge is no texture
        inside = ndimage.binary_erosion(valid, iterations=1)
        gradient_y, gradient_x = gradient_y * inside, gradient_x * inside
    taper = np.hanning(subset + 2)[1:-1]
    window = np.outer(taper, taper)
    offsets = np.arange(subset) - (subset - 1) / 2.0
    oy, ox = np.meshgrid(offsets, offsets, indexing="ij")
    bias = np.full((2, *shape), np.nan)
    for i, j in zip(*np.nonzero(measured), strict=True):
        cut = (slice(tops[i], tops[i] + subset), slice(lefts[j], lefts[j] + subset))
        g = np.stack([gradient_y[cut], gradient_x[cut]])  # (2, s, s)
        outer = window * g[:, None] * g[None, :]  # (2, 2, s, s): w g g^T
        information = outer.sum(axis=(2, 3))
        if np.linalg.cond(information) > 1e12:
            bias[:, i, j] = 0.0
            continue
        first_y, first_x, second_yy, second_xx, second_yx = (
            d[:, i, j] for d in derivatives
        )  # each (2,): the derivative of (dy, dx)
        change = (
            first_y[:, None, None] * oy
            + first_x[:, None, None] * ox
            + 0.5 * second_yy[:, None, None] * oy**2
            + 0.5 * second_xx[:, None, None] * ox**2
            + second_yx[:, None, None] * oy * ox
        )  # (2, s, s): u(p) - u(c)
        weighted = np.einsum("abyx,byx->a", outer, change)
        bias[:, i, j] = np.linalg.solve(information, weighted)
    return bias[0], bias[1]


def _grid_derivatives(field: np.ndarray, step: float) -> list[np.ndarray]:
    """First and second derivatives (d/dy, d/dx, d2/dy2, d2/dx2, d2/dydx) per pixel of
    each component of ``field`` (components, rows, columns), from a quadratic fitted
    by least squares to the finite subsets within ``_NEIGHBOURHOOD`` grid steps
    (a plane where fewer than 12 are measured, 0 where fewer than 4): each
    subset's own deformation bias makes differences of next neighbours too noisy
    to tell a strain of 0.3 %."""
    derivatives = [np.zeros(field.shape) for _ in range(5)]
    measured = np.all(np.isfinite(field), axis=0)
    reach = _NEIGHBOURHOOD
    for i, j in zip(*np.nonzero(measured), strict=True):
        near = (slice(max(i - reach, 0), i + reach + 1), slice(max(j - reach, 0), j + reach + 1))
        ii, jj = np.nonzero(measured[near])
        if len(ii) < 4:
            continue
        y = (ii + near[0].start - i) * step
        x = (jj + near[1].start - j) * step
        terms = [np.ones_like(y), y, x]
        if len(ii) >= 12 and np.ptp(y) > 0 and np.ptp(x) > 0:
            terms += [0.5 * y * y, 0.5 * x * x, y * x]
        design = np.stack(terms, axis=1)
        values = field[:, near[0], near[1]][:, ii, jj].T  # (neighbours, components)
        coefficients = np.linalg.lstsq(design, values, rcond=None)[0]
        for index in range(len(terms) - 1):
            derivatives[index][:, i, j] = coefficients[index + 1]
    return derivatives


def plot_field(result: DisplacementField, background: np.ndarray) -> bytes:
    """PNG: the displacement magnitude as a heat map over the subset grid, arrows
    (quiver) for the feasible subsets, and the median standard error per subset."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4.8), constrained_layout=True)
    left, right = figure.subplots(1, 2)
    magnitude = np.hypot(result.dy, result.dx)
    extent = (
        result.centre_x[0] - result.step / 2,
        result.centre_x[-1] + result.step / 2,
        result.centre_y[-1] + result.step / 2,
        result.centre_y[0] - result.step / 2,
    )
    left.imshow(background, cmap="gray")
    shown = left.imshow(magnitude, extent=extent, alpha=0.55, cmap="viridis")
    figure.colorbar(shown, ax=left, label="|displacement| (px)")
    yy, xx = np.meshgrid(result.centre_y, result.centre_x, indexing="ij")
    good = result.feasible & np.isfinite(magnitude)
    # image axes point down: a positive dy is an arrow down the picture
    left.quiver(xx[good], yy[good], result.dx[good], -result.dy[good], color="white")
    left.set_title("displacement (arrows: feasible subsets)")
    from matplotlib.colors import LogNorm

    uncertainty = np.hypot(result.sigma_dy, result.sigma_dx)
    finite = uncertainty[np.isfinite(uncertainty) & (uncertainty > 0)]
    # guesses (low SNR) are tens of px, good subsets thousandths: a log scale
    norm = LogNorm(vmin=finite.min(), vmax=finite.max()) if finite.size else None
    shown = right.imshow(uncertainty, extent=extent, cmap="magma", norm=norm)
    figure.colorbar(shown, ax=right, label="standard error (px, log scale)")
    right.set_title("uncertainty per subset")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()
