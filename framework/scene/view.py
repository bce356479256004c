"""Framing a scene from the command line: camera overrides, presets, orbits, supersampling.

The camera a scene comes with (its scene file's, or one framing the whole mesh)
is the starting point; :func:`adjust_camera` applies, in this order, an explicit
eye, target and up, the field of view, orthographic projection, then the
azimuth, elevation and zoom presets (as VTK's ``vtkCamera.Azimuth``,
``Elevation`` and ``Zoom``), and refits near and far to the scene when the
camera moved.

Examples
--------
>>> from lamina.scene import Camera
>>> camera = Camera.look_at((0, 0, 5), (0, 0, 0), fov_y=40)
>>> turned = adjust_camera(camera, azimuth=90)
>>> [round(v, 6) + 0.0 for v in turned.eye]
[5.0, 0.0, 0.0]
>>> round(adjust_camera(camera, zoom=2).fov_y, 3)
20.628
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from lamina.errors import InputError
from lamina.limits import MAX_IMAGE_SIDE, MAX_SUPERSAMPLES
from lamina.scene.core import Camera, lengths
from lamina.scene.procedural import axis_rotation

__all__ = [
    "adjust_camera",
    "camera_record",
    "downsample",
    "orbit",
    "supersampled_size",
]


def _turned(camera: Camera, axis: np.ndarray, degrees: float) -> Camera:
    """``camera`` turned about ``axis`` through its target (eye and up turn along)."""
    rotation = axis_rotation(axis, math.radians(degrees))
    target = np.asarray(camera.target)
    eye = target + rotation @ (np.asarray(camera.eye) - target)
    return dataclasses.replace(camera, eye=tuple(eye), up=tuple(rotation @ np.asarray(camera.up)))


def orbit(camera: Camera, frame: int, frames: int) -> Camera:
    """``camera`` turned ``frame / frames`` of a full circle about its target and up axis."""
    return _turned(camera, np.asarray(camera.up), 360.0 * frame / frames)


def adjust_camera(
    camera: Camera,
    *,
    eye: Sequence[float] | None = None,
    target: Sequence[float] | None = None,
    up: Sequence[float] | None = None,
    fov: float | None = None,
    ortho: bool = False,
    azimuth: float = 0.0,
    elevation: float = 0.0,
    zoom: float = 1.0,
) -> Camera:
    """``camera`` with the command line's overrides and presets applied (module notes).

    ``azimuth`` turns the eye about the up axis through the target (degrees, to the
    right seen from above), ``elevation`` about the camera's horizontal axis (degrees,
    upwards; the up vector turns along, so 90 is a view from the top), ``zoom`` > 1
    narrows the view (field of view, or orthographic height, divided by it).
    ``ortho`` switches to an orthographic view whose height is the perspective
    view's at the target's distance.
    """
    changes: dict[str, Any] = {}
    for name, value in (("eye", eye), ("target", target), ("up", up)):
        if value is not None:
            changes[name] = tuple(value)
    if fov is not None:
        changes["fov_y"] = fov
    camera = dataclasses.replace(camera, **changes)
    if ortho and camera.projection == "perspective":
        distance = float(lengths(np.subtract(camera.target, camera.eye)))
        height = 2.0 * distance * math.tan(math.radians(camera.fov_y) / 2.0)
        camera = dataclasses.replace(camera, projection="orthographic", ortho_height=height)
    for name, degrees in (("azimuth", azimuth), ("elevation", elevation)):
        if not math.isfinite(degrees):
            raise InputError(f"{name} must be a finite number of degrees, got {degrees}")
    if azimuth:
        camera = _turned(camera, np.asarray(camera.up), azimuth)
    if elevation:
        forward = np.subtract(camera.target, camera.eye)
        camera = _turned(camera, np.cross(camera.up, forward), elevation)
    if not (math.isfinite(zoom) and zoom > 0):
        raise InputError(f"zoom must be a positive number, got {zoom}")
    if zoom != 1.0:
        fov_y, height = camera.fov_y, camera.ortho_height
        if camera.projection == "perspective":
            half = math.atan(math.tan(math.radians(camera.fov_y) / 2.0) / zoom)
            fov_y = math.degrees(2.0 * half)
            if not 0.0 < fov_y < 180.0:
                raise InputError(
                    f"zoom {zoom:g} turns the {camera.fov_y:g}-degree field of view into "
                    f"{fov_y:g} degrees, outside (0, 180); choose a zoom nearer 1"
                )
        else:
            height = camera.ortho_height / zoom
        try:
            camera = dataclasses.replace(camera, fov_y=fov_y, ortho_height=height)
        except InputError as error:  # the user gave the zoom, not the field it narrowed
            raise InputError(f"zoom {zoom:g}: {error}") from None
    return camera


def camera_record(camera: Camera) -> dict[str, object]:
    """The camera as plain JSON values (what ``--json`` reports)."""
    return {
        "eye": list(camera.eye),
        "target": list(camera.target),
        "up": list(camera.up),
        "projection": camera.projection,
        "fov_y": camera.fov_y,
        "ortho_height": camera.ortho_height,
        "near": camera.near,
        "far": camera.far,
    }


def supersampled_size(size: tuple[int, int], samples: int) -> tuple[int, int]:
    """The render size for ``samples`` x ``samples`` samples per pixel (checked)."""
    if (
        isinstance(samples, bool)
        or not isinstance(samples, int)
        or not 1 <= samples <= MAX_SUPERSAMPLES
    ):
        raise InputError(
            f"samples must be an integer in 1..{MAX_SUPERSAMPLES} "
            f"(lamina.limits.MAX_SUPERSAMPLES), got {samples!r}"
        )
    height, width = size[0] * samples, size[1] * samples
    if max(height, width) > MAX_IMAGE_SIDE:
        raise InputError(
            f"--samples {samples} at {size[1]}x{size[0]} renders {width}x{height}, over the "
            f"{MAX_IMAGE_SIDE}-pixel side (lamina.limits.MAX_IMAGE_SIDE); lower one of them"
        )
    return height, width


def downsample(image: np.ndarray, samples: int) -> np.ndarray:
    """Box-filter a premultiplied (H*s, W*s, C) image to (H, W, C): each pixel is the
    mean of its s x s exactly composited samples (premultiplied colour averages
    correctly; straight colour would not)."""
    if samples == 1:
        return image
    height, width = image.shape[0] // samples, image.shape[1] // samples
    blocks = image.reshape(height, samples, width, samples, -1).astype(np.float64)
    return blocks.mean(axis=(1, 3)).astype(image.dtype)
