"""Cameras framed on a scene, and the transforms that move scenes and cameras."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from lamina.errors import InputError
from lamina.limits import MAX_COORDINATE, MAX_VIEW_MAGNIFICATION
from lamina.scene.core import Camera, Scene, lengths

__all__ = [
    "bounding_sphere",
    "check_magnification",
    "clip_range",
    "depth_range",
    "fit_depth_range",
    "frame_camera",
    "largest_framed_radius",
    "moved_camera",
    "transform_matrix",
    "view_magnification",
]


def frame_camera(
    scene: Scene,
    *,
    direction: Sequence[float] = (0.35, 0.3, 1.0),
    fov_y: float = 45.0,
    margin: float = 1.05,
) -> Camera:
    """A perspective camera that sees all of ``scene`` from ``direction``.

    The camera looks at the centre of the scene's bounding box from far enough
    away that the bounding sphere fits the vertical field of view (``margin``
    leaves a border); near and far hug the sphere, which keeps depth precise.

    Examples
    --------
    >>> from lamina.scene.procedural import nested_spheres
    >>> camera = frame_camera(nested_spheres(1, subdivisions=1)[0], direction=(0, 0, 1))
    >>> [round(x, 2) for x in camera.eye]
    [0.0, 0.0, 2.74]
    """
    centre, radius = bounding_sphere(scene)
    view = np.asarray(direction, dtype=np.float64)
    if view.shape != (3,) or not np.isfinite(view).all() or not np.linalg.norm(view):
        raise InputError(f"direction must be a non-zero 3-vector, got {direction!r}")
    view /= np.linalg.norm(view)
    distance = margin * radius / math.sin(math.radians(fov_y) / 2.0)
    up = (0.0, 1.0, 0.0) if abs(view[1]) < 0.99 else (0.0, 0.0, -1.0)
    eye = centre + distance * view
    near, far = clip_range(eye, centre, radius, "perspective")
    if far > MAX_COORDINATE:
        raise InputError(
            f"the mesh's radius {radius:.3g} is too large to frame within MAX_COORDINATE "
            f"{MAX_COORDINATE:g} (lamina.limits): the framing camera's far plane lies "
            f"{far / radius:.3g} radii away, so radii up to "
            f"{largest_framed_radius(fov_y=fov_y, margin=margin):.3g} fit; scale it down"
        )
    if np.abs(eye).max() > MAX_COORDINATE:
        raise InputError(
            f"the mesh's centre {centre.tolist()} lies too near MAX_COORDINATE "
            f"{MAX_COORDINATE:g} (lamina.limits) for a camera {distance:.3g} away from it; "
            "move it towards the origin"
        )
    return Camera.look_at(eye=eye, target=centre, up=up, fov_y=fov_y, near=near, far=far)


def largest_framed_radius(*, fov_y: float = 45.0, margin: float = 1.05) -> float:
    """The largest bounding-sphere radius :func:`frame_camera` frames with its far plane
    within :data:`lamina.limits.MAX_COORDINATE` (about 5.6 radii away by default).

    >>> f"{largest_framed_radius():.3g}"
    '1.78e+149'
    """
    eye = np.array([margin / math.sin(math.radians(fov_y) / 2.0), 0.0, 0.0])
    _, far = clip_range(eye, np.zeros(3), 1.0, "perspective")  # for a unit sphere
    return MAX_COORDINATE / far


def bounding_sphere(scene: Scene) -> tuple[np.ndarray, float]:
    """Centre of the bounding box and the radius that holds every used vertex (by
    ``hypot``, which neither overflows nor underflows: an absolute floor or squared
    lengths would frame a mesh at 1e-200 or 1e150 world units wrongly)."""
    centre = scene.bounds.mean(axis=0)
    radius = float(lengths(scene.vertices[np.unique(scene.faces)] - centre).max())
    return centre, radius if radius > 0.0 else 1.0


def clip_range(
    eye: np.ndarray, centre: np.ndarray, radius: float, projection: str
) -> tuple[float, float]:
    """Near and far planes that hold the sphere (``centre``, ``radius``) seen from ``eye``,
    with room to spare but no more than that: depth precision follows far / near."""
    distance = float(lengths(np.asarray(eye) - centre))
    if projection == "orthographic":
        return distance - 1.5 * radius, distance + 1.5 * radius
    return max(distance - radius, 0.0) * 0.5 + 1e-6 * distance, (distance + radius) * 1.5


def transform_matrix(
    *,
    translate: Sequence[float] = (0.0, 0.0, 0.0),
    rotate: Sequence[float] = (0.0, 0.0, 0.0),
    scale: float | Sequence[float] = 1.0,
) -> np.ndarray:
    """4x4 affine matrix: scale, then rotate (degrees about x, then y, then z, fixed
    axes), then translate.

    Examples
    --------
    >>> m = transform_matrix(translate=(1, 0, 0), rotate=(0, 0, 90), scale=2)
    >>> np.round(m @ [1.0, 0.0, 0.0, 1.0], 6).tolist()
    [1.0, 2.0, 0.0, 1.0]
    """
    s = np.broadcast_to(np.asarray(scale, dtype=np.float64), (3,))
    rx, ry, rz = np.radians(np.asarray(rotate, dtype=np.float64))
    cx, sx, cy, sy, cz, sz = np.cos(rx), np.sin(rx), np.cos(ry), np.sin(ry), np.cos(rz), np.sin(rz)
    rot_x = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    rot_y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rot_z = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    m = np.eye(4)
    m[:3, :3] = rot_z @ rot_y @ rot_x @ np.diag(s)
    m[:3, 3] = np.asarray(translate, dtype=np.float64)
    return m


def moved_camera(camera: Camera, matrix: np.ndarray) -> Camera:
    """``camera`` carried along with geometry transformed by ``matrix``."""
    linear = matrix[:3, :3]
    eye = linear @ np.asarray(camera.eye) + matrix[:3, 3]
    target = linear @ np.asarray(camera.target) + matrix[:3, 3]
    up = linear @ np.asarray(camera.up)
    return dataclasses.replace(camera, eye=tuple(eye), target=tuple(target), up=tuple(up))


def fit_depth_range(camera: Camera, scene: Scene) -> Camera:
    """``camera`` with near and far hugging ``scene``'s bounding sphere (for a camera
    moved by hand: depth precision follows far / near)."""
    near, far = depth_range(np.asarray(camera.eye), scene, camera.projection)
    return dataclasses.replace(camera, near=near, far=far)


def depth_range(eye: np.ndarray, scene: Scene, projection: str) -> tuple[float, float]:
    """Near and far for an eye the user placed (:func:`clip_range` about ``scene``'s
    bounding sphere), far cut to :data:`lamina.limits.MAX_COORDINATE` where only its
    margin lies beyond; an eye too far for the mesh's far side is refused by name."""
    centre, radius = bounding_sphere(scene)
    near, far = clip_range(eye, centre, radius, projection)
    if far > MAX_COORDINATE:  # the user gave the eye, not far: name what they gave
        distance = float(lengths(eye - centre))
        if distance + radius > MAX_COORDINATE:
            fix = "scale the scene down" if radius > MAX_COORDINATE else "move the eye nearer"
            raise InputError(
                f"eye {eye.tolist()} lies {distance:.3g} from the centre of a mesh of "
                f"radius {radius:.3g}, so its far side lies beyond MAX_COORDINATE "
                f"{MAX_COORDINATE:g} (lamina.limits); {fix}"
            )
        far = MAX_COORDINATE  # only the margin beyond the far side is cut
    # (orthographic near may lie behind the eye; its margin is cut the same way)
    return max(near, -MAX_COORDINATE), far


def view_magnification(camera: Camera, size: tuple[int, int]) -> float:
    """How finely a ``size`` (height, width) image of ``camera`` divides space, relative to
    the lengths the projection rounds: the largest side in pixels times the lengths of
    eye, target and target - eye, over the view's width at the target. Rounding moves
    a projected point by about 1e-16 of this many pixels (see
    :data:`lamina.limits.MAX_VIEW_MAGNIFICATION`).

    >>> camera = Camera.look_at((0, 0, 4), (0, 0, 0), fov_y=90)
    >>> round(view_magnification(camera, (100, 200)), 9)  # 200 px * (4 + 0 + 4) / (2 * 4 * 1)
    200.0
    """
    return max(size) * _reach(camera) / _view_width(camera)


def _view_width(camera: Camera) -> float:
    if camera.projection == "orthographic":
        return camera.ortho_height
    (distance,) = lengths(np.subtract(camera.target, camera.eye)[None])
    return 2.0 * float(distance) * math.tan(math.radians(camera.fov_y) / 2.0)


def _reach(camera: Camera) -> float:
    eye, target = np.asarray(camera.eye), np.asarray(camera.target)
    return float(lengths(np.stack([eye, target, target - eye])).sum())


def check_magnification(camera: Camera, size: tuple[int, int], *, cause: str) -> None:
    """Refuse a view so narrow for its size and its distances from the origin that the
    float64 projection would misplace edges (:func:`view_magnification` above
    :data:`lamina.limits.MAX_VIEW_MAGNIFICATION`); ``cause`` names what narrowed it
    (``"--zoom 1e+14"``) and the message says how far it may go.

    >>> camera = Camera.look_at((0, 0, 4), (0, 0, 0), fov_y=1e-11)
    >>> check_magnification(camera, (480, 640), cause="--fov 1e-11")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lamina.errors.InputError: --fov 1e-11: the view is magnified 7.3e+15 times (640 pixels ... --fov at least 7.3e-10 degrees), or bring the scene and the eye near the origin
    """
    magnification = view_magnification(camera, size)
    if magnification <= MAX_VIEW_MAGNIFICATION:
        return
    wider = magnification / MAX_VIEW_MAGNIFICATION
    # The command line frames orthographic views by --fov too (the height it spans at
    # the target), so the fix is an angle either way.
    (distance,) = lengths(np.subtract(camera.target, camera.eye)[None])
    half = _view_width(camera) / (2.0 * float(distance))
    other = f"--fov at least {math.degrees(2.0 * math.atan(half * wider)):.2g} degrees"
    raise InputError(
        f"{cause}: the view is magnified {magnification:.2g} times ({max(size)} pixels across "
        f"{_view_width(camera):.2g} units at the target, with eye, target and their distance "
        f"adding up to {_reach(camera):.3g}), past lamina.limits.MAX_VIEW_MAGNIFICATION = "
        f"{MAX_VIEW_MAGNIFICATION:g}, where float64 rounding moves edges by more than 1/100 "
        f"pixel; use a view at least {wider:.3g} times wider (a --zoom that much smaller, or "
        f"{other}), or bring the scene and the eye near the origin"
    )
