"""One colour and/or opacity for every face of a scene (``--color``, ``--opacity``,
a scene file's ``color`` and ``opacity`` keys)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from lamina.errors import InputError
from lamina.scene.core import Scene

__all__ = ["color_override", "recolor", "recolored"]


def color_override(
    color: Sequence[float] | np.ndarray | None, opacity: float | None
) -> tuple[np.ndarray | None, float | None]:
    """``(rgba, opacity)`` checked: RGB(A) in [0, 1] as RGBA (alpha 1 for RGB), opacity
    in [0, 1]; ``InputError`` when out of range. ``None`` stays ``None``."""
    rgba = None
    if color is not None:
        rgba = np.asarray(color, dtype=np.float64)
        if rgba.shape not in ((3,), (4,)) or not np.all(np.isfinite(rgba)):
            raise InputError(f"color must be 3 or 4 numbers (RGB or RGBA), got {color!r}")
        if rgba.min() < 0.0 or rgba.max() > 1.0:
            raise InputError(f"color values must lie in [0, 1], got {list(map(float, rgba))}")
        if rgba.shape == (3,):
            rgba = np.append(rgba, 1.0)
    if opacity is not None:
        if isinstance(opacity, bool) or not isinstance(opacity, (int, float, np.number)):
            raise InputError(f"opacity must be a number in [0, 1], got {opacity!r}")
        if not 0.0 <= float(opacity) <= 1.0:
            raise InputError(f"opacity must lie in [0, 1], got {opacity}")
        opacity = float(opacity)
    return rgba, opacity


def recolor(
    scene: Scene, *, color: Sequence[float] | None = None, opacity: float | None = None
) -> Scene:
    """``scene`` with every face's colour set to ``color`` (RGB or RGBA in [0, 1]) and/or
    every opacity to ``opacity``; ``InputError`` when they are out of range.

    >>> from lamina.scene.procedural import torus
    >>> recolor(torus()[0], color=(1, 0.5, 0), opacity=0.3).vertex_colors[0].tolist()
    [1.0, 0.5, 0.0, 0.3]
    """
    rgba, alpha = color_override(color, opacity)
    if rgba is None and alpha is None:
        return scene
    return recolored(scene, rgba, alpha)


def recolored(scene: Scene, color: np.ndarray | None, opacity: float | None) -> Scene:
    """``scene`` with every colour set to ``color`` and/or every alpha to ``opacity``."""
    key = "vertex_colors" if scene.vertex_colors is not None else "face_colors"
    rgba = np.array(getattr(scene, key))
    if color is not None:
        rgba[:, : len(color)] = color
        if len(color) == 3:
            rgba[:, 3] = 1.0
    if opacity is not None:
        rgba[:, 3] = opacity
    if key == "vertex_colors":
        return dataclasses.replace(scene, vertex_colors=rgba)
    return dataclasses.replace(scene, face_colors=rgba)
