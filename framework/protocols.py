"""The protocols of lamina's built-in kinds (checked structurally), under the names
plugins import; each is defined in its kind's module under :mod:`lamina.kinds`."""

from __future__ import annotations

from lamina.kinds.interpolator import Interpolator
from lamina.kinds.learner import Learner
from lamina.kinds.position_estimator import Locator, PositionEstimator
from lamina.kinds.renderer import Renderer

__all__ = ["Interpolator", "Learner", "Locator", "PositionEstimator", "Renderer"]
