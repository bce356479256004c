"""Displacement fields by digital image correlation: a grid of subsets, each
registered on its own, with its uncertainty.

The whole pair is registered first; each moving subset is then cut at the
subset's place plus the integer part of that global shift, so a subset only has
to find the local deviation (large global motion does not push its content out
of the subset). The reported displacement is the global integer offset plus
the subset's estimate.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lamina.errors import InputError
from lamina.kinds.position_estimator import require_masked_registration
from lamina.plugins.subpixel.checks import as_masked_pair, as_pair
from lamina.protocols import PositionEstimator
from lamina.types import ShiftEstimate

__all__ = ["DisplacementField", "displacement_field", "plot_field"]


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
    if subset < 8 or subset > min(ref.shape):
        raise InputError(
            f"subset must be between 8 and the smaller image side {min(ref.shape)}, got {subset}"
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
        result["dy"][i, j] = estimate.dy + offset[0]
        result["dx"][i, j] = estimate.dx + offset[1]
        result["sigma_dy"][i, j], result["sigma_dx"][i, j] = estimate.uncertainty
        feasible[i, j] = bool(estimate.diagnostics.get("feasible", True))
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
