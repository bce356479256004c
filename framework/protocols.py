"""The protocol each kind of component implements (checked structurally)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

    from lamina.types import PointEstimates, Rendering, ShiftEstimate

__all__ = ["Interpolator", "Learner", "Locator", "PositionEstimator", "Renderer"]


@runtime_checkable
class Renderer(Protocol):
    def render(self, scene: Any, camera: Any, size: tuple[int, int]) -> Rendering:
        """Render ``scene`` seen by ``camera`` at ``size`` = (height, width)."""


@runtime_checkable
class Interpolator(Protocol):
    def resize(self, image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """Return ``image`` resampled to ``shape`` = (height, width), float32."""


@runtime_checkable
class PositionEstimator(Protocol):
    def estimate(self, reference: np.ndarray, moving: np.ndarray) -> ShiftEstimate:
        """Return the shift that maps ``reference`` onto ``moving``."""


@runtime_checkable
class Locator(Protocol):
    def locate(self, image: np.ndarray) -> PointEstimates:
        """Return the sub-pixel positions of the point sources in ``image``."""


@runtime_checkable
class Learner(Protocol):
    def fit(self, X: Any, y: Any = None, **kwargs: Any) -> Learner: ...

    def get_params(self, deep: bool = True) -> dict[str, Any]: ...

    def set_params(self, **params: Any) -> Learner: ...
