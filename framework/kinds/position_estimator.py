"""The position estimator kind: ``estimate(reference, moving)`` returns a
:class:`ShiftEstimate`; where tagged ``locate``, ``locate(image)`` returns
:class:`PointEstimates`."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from lamina.kinds import Kind, ResultType, TagField, Template

if TYPE_CHECKING:  # numpy is imported when first needed: `lamina --help` never needs it
    import numpy as np

__all__ = [
    "DEFAULT",
    "KIND",
    "Locator",
    "PointEstimates",
    "PositionEstimator",
    "ShiftEstimate",
    "accepts_masks",
    "require_masked_registration",
]

#: The position estimator ``lamina estimate`` uses when none is named.
DEFAULT = "ml-refine"


@runtime_checkable
class PositionEstimator(Protocol):
    def estimate(self, reference: np.ndarray, moving: np.ndarray) -> ShiftEstimate:
        """Return the shift that maps ``reference`` onto ``moving``."""


def accepts_masks(estimator: Any) -> bool:
    """Whether ``estimator.estimate`` takes ``reference_mask=`` and ``moving_mask=``
    (masked registration, which the position estimator protocol does not promise)."""
    parameters = inspect.signature(estimator.estimate).parameters
    return "reference_mask" in parameters and "moving_mask" in parameters


def require_masked_registration(estimator: Any, what: str) -> None:
    """Refuse masks (``what`` names the argument or option) for an estimator
    without masked registration (see :func:`accepts_masks`)."""
    if not accepts_masks(estimator):
        from lamina.errors import InputError

        raise InputError(
            f"{what}: masks need an estimator with masked registration (ml-refine); "
            f"{type(estimator).__name__} has none"
        )


@runtime_checkable
class Locator(Protocol):
    def locate(self, image: np.ndarray) -> PointEstimates:
        """Return the sub-pixel positions of the point sources in ``image``."""


@dataclass
class ShiftEstimate:
    """A translation ``moving ≈ reference`` shifted by (dy, dx) pixels.

    ``uncertainty`` is the standard error (dy, dx) in pixels; ``diagnostics``
    holds estimator-specific facts (peak value, iterations, converged, ...).
    """

    dy: float
    dx: float
    uncertainty: tuple[float, float]
    diagnostics: dict[str, Any] = field(default_factory=dict)

    @property
    def shift(self) -> np.ndarray:
        import numpy as np

        return np.array([self.dy, self.dx])

    def as_dict(self) -> dict[str, Any]:
        return {
            "dy": float(self.dy),
            "dx": float(self.dx),
            "uncertainty": [float(u) for u in self.uncertainty],
            "diagnostics": self.diagnostics,
        }


@dataclass
class PointEstimates:
    """Point positions found by ``locate``: ``positions`` (N, 2) as (y, x) pixels,
    ``uncertainty`` (N, 2) standard errors, ``diagnostics`` per run."""

    positions: np.ndarray
    uncertainty: np.ndarray
    diagnostics: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.positions)


class ShiftResult(ResultType):
    """A shift estimate in a pipeline's report: one row of dy, dx and their standard errors."""

    def scalars(self, value: ShiftEstimate) -> dict[str, Any]:
        return {
            "dy": value.dy,
            "dx": value.dx,
            "sigma_dy": value.uncertainty[0],
            "sigma_dx": value.uncertainty[1],
        }


_TEMPLATE = '''\
"""{title}: a lamina position estimator."""

from __future__ import annotations

import numpy as np

from lamina import InputError, ShiftEstimate


class {cls}:
    """Cross-correlation (by FFT, periodic) with a three-point parabola through
    the peak on each axis.

    Add keyword-only constructor parameters with type hints and defaults:
    ``lamina describe position_estimator {name}`` lists them.

    Examples
    --------
    >>> import numpy as np
    >>> y, x = np.mgrid[:32, :32]
    >>> blob = lambda cy, cx: np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 8.0)
    >>> found = {cls}().estimate(blob(15, 15), blob(17, 14))
    >>> round(found.dy), round(found.dx)
    (2, -1)
    """

    def estimate(self, reference: np.ndarray, moving: np.ndarray) -> ShiftEstimate:
        """The shift (dy, dx) with ``moving`` ≈ ``reference`` translated by it."""
        reference, moving = np.asarray(reference), np.asarray(moving)
        if reference.ndim != 2 or reference.shape != moving.shape:
            raise InputError(
                "reference, moving: expected two 2-D images of one shape, got shapes "
                f"{{reference.shape}} and {{moving.shape}}"
            )
        if not (np.isfinite(reference).all() and np.isfinite(moving).all()):
            raise InputError("reference, moving: expected finite values, got NaN or infinity")
        spectrum = np.fft.fft2(moving - moving.mean()) * np.conj(
            np.fft.fft2(reference - reference.mean())
        )
        surface = np.fft.ifft2(spectrum).real
        peak = np.unravel_index(np.argmax(surface), surface.shape)
        shift = []
        for axis, size in enumerate(surface.shape):
            before, after = list(peak), list(peak)
            before[axis] = (peak[axis] - 1) % size
            after[axis] = (peak[axis] + 1) % size
            left, centre, right = surface[tuple(before)], surface[peak], surface[tuple(after)]
            curvature = left - 2 * centre + right
            offset = 0.5 * (left - right) / curvature if curvature < 0 else 0.0
            wrapped = (peak[axis] + size // 2) % size - size // 2
            shift.append(float(wrapped + offset))
        # A parabola through three samples is good to about a tenth of a pixel on
        # smooth images; report that, not a claim of precision.
        return ShiftEstimate(shift[0], shift[1], (0.1, 0.1), {{"peak": float(surface[peak])}})
'''


KIND = Kind(
    name="position_estimator",
    plural="position_estimators",
    summary="Measures the shift between two images (and, where tagged, point positions).",
    protocol="lamina.kinds.position_estimator:PositionEstimator",
    calls={"estimate": ("reference", "moving"), "locate": ("image",)},
    tags=(
        TagField(
            "locate",
            False,
            "Position estimator that also implements ``locate(image)``.",
            (False, True),
        ),
    ),
    checks="lamina.testing.position_estimator:checks",
    results=(
        ShiftResult("lamina.kinds.position_estimator:ShiftEstimate"),
        ResultType("lamina.kinds.position_estimator:PointEstimates"),
    ),
    commands=(
        (
            "estimate",
            "lamina.kinds.estimate:estimate",
            "Shift (dy, dx) of MOVING relative to REFERENCE, with standard errors.",
        ),
    ),
    template=Template("cross-correlation with a parabolic peak", _TEMPLATE),
)
