"""The data types of lamina's built-in kinds, under the names plugins import.

Each type is defined in its kind's module (:mod:`lamina.kinds.renderer`,
:mod:`lamina.kinds.position_estimator`), and :class:`Tags` in
:mod:`lamina.kinds`; this module gathers them for ``from lamina.types import ...``.
"""

from __future__ import annotations

from lamina.kinds import Tags, builtin_kinds
from lamina.kinds.position_estimator import PointEstimates, ShiftEstimate
from lamina.kinds.renderer import Rendering, RenderStats

__all__ = ["KINDS", "PointEstimates", "RenderStats", "Rendering", "ShiftEstimate", "Tags"]

#: The names of lamina's built-in kinds (a plugin may add more: ``lamina.get_host().kinds()``).
KINDS: tuple[str, ...] = tuple(kind.name for kind in builtin_kinds())
