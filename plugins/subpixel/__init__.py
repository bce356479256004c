"""Sub-pixel position estimators: registration, point localisation, feasibility.

Components (kind ``position_estimator``):

- ``ml-refine`` (the default, :data:`DEFAULT_ESTIMATOR`): coarse correlation,
  then maximum-likelihood refinement on the Fourier-shift model; also
  ``locate(image)`` for point sources.
- ``phase-correlation``: scikit-image's upsampled phase cross-correlation.
- ``peak-fit``: correlation peak with a three-point Gaussian/parabolic fit.

Commands: ``lamina locate``, ``lamina track``, ``lamina field``,
``lamina feasibility`` (and the position estimator kind's ``lamina estimate``).

Sign convention: ``(dy, dx)`` is the displacement of the content from the
reference to the moving image (``moving ≈ scipy.ndimage.shift(reference, (dy, dx))``),
the negative of :func:`skimage.registration.phase_cross_correlation`'s result.
"""

from __future__ import annotations

from typing import Any

from lamina import Tags, hookimpl
from lamina.kinds.position_estimator import DEFAULT

__all__ = ["DEFAULT_ESTIMATOR", "DEFAULT_LOCATOR"]

#: The position estimator lamina uses when none is named.
DEFAULT_ESTIMATOR = DEFAULT
#: The estimator whose ``locate`` the ``lamina locate`` command uses by default.
DEFAULT_LOCATOR = "ml-refine"


@hookimpl
def lamina_register_position_estimators(registry: Any) -> None:
    registry.add(
        "ml-refine",
        "lamina.plugins.subpixel.registration:MLRefine",
        summary="(default) ML registration: coarse correlation + Gauss-Newton on the "
        "Fourier-shift model, CRLB uncertainty; locate() for point sources",
        tags=Tags(deterministic=True, locate=True),
    )
    registry.add(
        "phase-correlation",
        "lamina.plugins.subpixel.peers:PhaseCorrelation",
        summary="scikit-image upsampled phase cross-correlation (Guizar-Sicairos 2008)",
        tags=Tags(deterministic=True),
    )
    registry.add(
        "peak-fit",
        "lamina.plugins.subpixel.peers:PeakFit",
        summary="correlation peak + 3-point Gaussian/parabolic fit (classic PIV; pixel-locks)",
        tags=Tags(deterministic=True),
    )


@hookimpl
def lamina_register_operations(registry: Any) -> None:
    """Register the pipeline operations; their module is imported when a pipeline runs."""
    registry.add(
        "score_shifts",
        "lamina.plugins.subpixel.operations:score_shifts",
        summary="Shift estimates against the true shifts and their reported uncertainty.",
    )


@hookimpl
def lamina_register_commands(cli: Any) -> None:
    # Each module is imported only when its command runs.
    for name, summary in (
        ("locate", "Sub-pixel positions (y, x) of the isolated point sources in IMAGE."),
        ("track", "Displacement (dy, dx) of every FRAME relative to the reference frame."),
        ("field", "Displacement field of MOVING relative to REFERENCE (image correlation)."),
        ("feasibility", "Is sub-pixel measurement feasible on IMAGES? Noise, PSF, precision."),
    ):
        cli.add(name, f"lamina.plugins.subpixel.cli:{name}", summary=summary)
