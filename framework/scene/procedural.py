"""Procedural transparent scenes for tests, demos and benchmarks.

Every generator is deterministic (a fixed ``seed`` drives all random choices)
and returns a ``(Scene, Camera)`` pair: the scene and a camera that shows it
well. Colours are straight RGBA with every channel strictly inside (0, 1), so
no layer is invisible and no layer hides the ones behind it.

The generators make claims about depth complexity (how many surfaces cover a
pixel) that the tests check against the ``reference`` renderer:

============================  ====================================================
``stacked_quads(n)``          exactly ``n`` in every pixel of any view with an
                              aspect ratio up to 8:1
``partial_quads(n)``          the number of quads whose rectangle holds the pixel
``intersecting_quads(n)``     exactly ``n`` in every pixel (aspect up to 16:9)
``coplanar_pair()``           2 where the two quads overlap, at the *same* depth
``nested_spheres(n)``         ``2 n`` on the ray through the centre
``torus(n)``                  up to ``4 n`` (a ray along the ring's plane)
============================  ====================================================

Faces are stored in a shuffled order, so a renderer that composites in
submission order instead of depth order gets a visibly wrong image.
"""

from __future__ import annotations

import difflib
import inspect
import math
from collections.abc import Callable
from typing import Literal

import numpy as np

from lamina.errors import InputError
from lamina.limits import (
    LIMITS,
    MAX_RANDOM_COVERAGE,
    MAX_SPHERE_SUBDIVISIONS,
    MAX_TORUS_SUBDIVISIONS,
)
from lamina.scene.core import Camera, Scene

__all__ = [
    "PROCEDURAL",
    "axis_rotation",
    "coplanar_pair",
    "intersecting_quads",
    "nested_spheres",
    "partial_quads",
    "procedural_scene",
    "random_triangles",
    "stacked_quads",
    "torus",
]

# Transmittance left behind a whole stack when the opacity is chosen automatically:
# every layer then still changes the image by more than 8-bit quantisation.
_TARGET_TRANSMITTANCE = 0.05


def _check_count(n: int, name: str = "n", *, limit: str = "MAX_PROCEDURAL_LAYERS") -> int:
    """``n`` as an int in 1..the :mod:`lamina.limits` entry ``limit``."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise InputError(f"{name} must be an integer, got {n!r} ({type(n).__name__})")
    top = int(LIMITS[limit].value)
    if not 1 <= n <= top:
        raise InputError(f"{name} must be in 1..{top:,} (lamina.limits.{limit}), got {n}")
    return int(n)


def _layer_opacities(
    count: int, opacity: float | None, rng: np.random.Generator, *, name: str = "opacity"
) -> np.ndarray:
    """One opacity per layer: ``opacity`` for all of them, or, when ``None``, values
    jittered around the opacity that leaves ``_TARGET_TRANSMITTANCE`` behind ``count``
    layers."""
    if opacity is None:
        mean = 1.0 - _TARGET_TRANSMITTANCE ** (1.0 / count)
        return np.clip(mean * rng.uniform(0.7, 1.3, count), 0.01, 0.95)
    if isinstance(opacity, bool) or not isinstance(opacity, (int, float, np.floating)):
        raise InputError(f"{name} must be a number in (0, 1], got {opacity!r}")
    if not 0.0 < float(opacity) <= 1.0:
        raise InputError(f"{name} must be in (0, 1], got {opacity}")
    return np.full(count, float(opacity))


def _palette(count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` distinct, saturated RGB colours, channels in [0.1, 0.95]."""
    # Golden-ratio steps around the hue circle keep neighbouring layers apart.
    hue = (rng.uniform() + np.arange(count) * 0.618033988749895) % 1.0
    saturation = rng.uniform(0.55, 0.85, count)
    value = rng.uniform(0.75, 0.95, count)
    return _hsv_to_rgb(hue, saturation, value) * 0.85 + 0.1 * value[:, None]


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    k = (np.array([5.0, 3.0, 1.0]) + h[:, None] * 6.0) % 6.0
    return v[:, None] - v[:, None] * s[:, None] * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def _quads_to_scene(
    corners: np.ndarray, rgba: np.ndarray, rng: np.random.Generator | None
) -> Scene:
    """(Q, 4, 3) quad corners (counter-clockwise) and (Q, 4) colours -> two triangles per
    quad, quads in a shuffled order when ``rng`` is given."""
    count = len(corners)
    order = rng.permutation(count) if rng is not None else np.arange(count)
    vertices = corners[order].reshape(-1, 3)
    base = 4 * np.arange(count)[:, None]
    faces = (base + np.array([[0, 1, 2, 0, 2, 3]])).reshape(-1, 3)
    face_colors = np.repeat(rgba[order], 2, axis=0)
    return Scene(vertices=vertices, faces=faces.astype(np.int64), face_colors=face_colors)


def _rectangles(z: np.ndarray, x0, x1, y0, y1) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Axis-aligned rectangles in the planes ``z``; each bound broadcasts against ``z``."""
    x0, x1, y0, y1 = (np.broadcast_to(b, z.shape) for b in (x0, x1, y0, y1))
    return np.stack(
        [
            np.stack([x0, y0, z], axis=-1),
            np.stack([x1, y0, z], axis=-1),
            np.stack([x1, y1, z], axis=-1),
            np.stack([x0, y1, z], axis=-1),
        ],
        axis=1,
    )


def stacked_quads(
    n: int = 8,
    *,
    partial: bool = False,
    opacity: float | None = None,
    seed: int = 0,
) -> tuple[Scene, Camera]:
    """``n`` translucent quads facing the camera at distinct depths.

    Parameters
    ----------
    n : int, default 8
        Number of quads: the depth complexity of every pixel (``partial=False``).
    partial : bool, default False
        Give each quad its own rectangle inside the view, so coverage (and depth
        complexity) varies from pixel to pixel; at most ``n``.
    opacity : float in (0, 1] or None, default None
        Opacity of every quad. ``None`` draws per-quad opacities around the value
        that leaves about 5 % transmittance behind all ``n``, so every layer shows.
    seed : int, default 0
        Seed for the colours, opacities, rectangles and face order.

    Returns
    -------
    scene : Scene
        ``2 n`` triangles with per-face colours, in shuffled depth order.
    camera : Camera
        Perspective camera on the +z axis looking at the origin.

    Examples
    --------
    >>> from lamina.scene.procedural import stacked_quads
    >>> scene, camera = stacked_quads(4)
    >>> scene.n_triangles
    8
    """
    n = _check_count(n)
    rng = np.random.default_rng(seed)
    camera = Camera.look_at(eye=(0.0, 0.0, 5.0), target=(0.0, 0.0, 0.0), fov_y=40.0)
    z = np.linspace(1.0, -1.0, n) if n > 1 else np.zeros(1)
    distance = camera.eye[2] - z
    half_view = distance * math.tan(math.radians(camera.fov_y) / 2.0)
    if partial:
        # Rectangles in units of the view's half-height at their own depth, so each
        # lands at a chosen place on screen whatever its distance.
        centre = rng.uniform(-0.55, 0.55, (n, 2))
        half = rng.uniform(0.2, 0.6, (n, 2))
        lo, hi = (centre - half) * half_view[:, None], (centre + half) * half_view[:, None]
        corners = _rectangles(z, lo[:, 0], hi[:, 0], lo[:, 1], hi[:, 1])
    else:
        # Nine half-heights each way: the whole view even at an 8:1 aspect ratio. The
        # quads are not square and sit off-centre so their diagonals (shared triangle
        # edges) avoid pixel centres, where fill-rule conventions would decide coverage.
        reach = 9.0 * half_view
        shift = 0.3183 * half_view
        corners = _rectangles(z, shift - reach, shift + reach, -0.77 * reach, 0.81 * reach)
    rgba = np.column_stack([_palette(n, rng), _layer_opacities(n, opacity, rng)])
    return _quads_to_scene(corners, rgba, rng), camera


def partial_quads(
    n: int = 8, *, opacity: float | None = None, seed: int = 0
) -> tuple[Scene, Camera]:
    """``stacked_quads(n, partial=True)``: quads covering different parts of the view.

    Examples
    --------
    >>> from lamina.scene.procedural import partial_quads
    >>> scene, camera = partial_quads(3)
    >>> scene.n_triangles
    6
    """
    return stacked_quads(n, partial=True, opacity=opacity, seed=seed)


def intersecting_quads(
    n: int = 8,
    *,
    tilt: float = 30.0,
    opacity: float | None = None,
    seed: int = 0,
) -> tuple[Scene, Camera]:
    """``n`` large quads tilted in different directions, cutting through each other.

    Each quad passes near the origin, tilted by about ``tilt`` degrees about an axis
    in the image plane; the axes fan around the view direction, so every pair meets
    along a line inside the view and the depth order changes across the image.

    Parameters
    ----------
    n : int, default 8
        Number of quads; each covers the whole view (aspect up to 16:9), so the
        depth complexity is ``n`` in every pixel.
    tilt : float, default 30
        Tilt of the quads in degrees, in (0, 40]; alternate quads tilt the other way
        and each is jittered by up to 5 degrees.
    opacity : float in (0, 1] or None, default None
        As in :func:`stacked_quads`.
    seed : int, default 0
        Seed for the colours, opacities, tilts and face order.

    Returns
    -------
    scene : Scene
    camera : Camera
        Perspective camera, 20 degree field of view, 30 units from the origin.

    Examples
    --------
    >>> from lamina.scene.procedural import intersecting_quads
    >>> scene, camera = intersecting_quads(5)
    >>> scene.n_triangles
    10
    """
    n = _check_count(n)
    if not 0.0 < tilt <= 40.0:
        raise InputError(f"tilt must be in (0, 40] degrees, got {tilt}")
    rng = np.random.default_rng(seed)
    camera = Camera.look_at(eye=(0.0, 0.0, 30.0), target=(0.0, 0.0, 0.0), fov_y=20.0)
    # A half-extent of 20 keeps every corner 11+ units in front of the eye while the
    # view (at most 16:9 wide) meets each plane within 9 units of the axis.
    reach = 20.0
    square = np.array(
        [[-reach, -reach, 0.0], [reach, -reach, 0.0], [reach, reach, 0.0], [-reach, reach, 0.0]]
    )
    angles = np.radians((tilt + rng.uniform(-5.0, 5.0, n)) * np.where(np.arange(n) % 2, -1, 1))
    angles = np.clip(angles, -math.radians(45.0), math.radians(45.0))
    axes_phi = np.pi * np.arange(n) / n + rng.uniform(0.0, np.pi / max(n, 1), n)
    offsets = np.linspace(-2.0, 2.0, n) if n > 1 else np.zeros(1)
    corners = np.empty((n, 4, 3))
    # Off-axis centres keep the diagonals (shared triangle edges) away from the image
    # centre, which is a pixel centre at odd image sizes.
    shifts = rng.uniform(-1.0, 1.0, (n, 2))
    for i in range(n):
        axis = np.array([math.cos(axes_phi[i]), math.sin(axes_phi[i]), 0.0])
        moved = square + np.array([shifts[i, 0], shifts[i, 1], 0.0])
        corners[i] = moved @ axis_rotation(axis, angles[i]).T + [0.0, 0.0, offsets[i]]
    rgba = np.column_stack([_palette(n, rng), _layer_opacities(n, opacity, rng)])
    return _quads_to_scene(corners, rgba, rng), camera


def axis_rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """3x3 rotation by ``angle`` radians about ``axis`` (Rodrigues' formula).

    Examples
    --------
    >>> np.round(axis_rotation(np.array([0.0, 0.0, 1.0]), np.pi / 2) @ [1.0, 0.0, 0.0], 12)
    array([0., 1., 0.])
    """
    x, y, z = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    k = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + math.sin(angle) * k + (1.0 - math.cos(angle)) * (k @ k)


def coplanar_pair(*, opacity: float = 0.5) -> tuple[Scene, Camera]:
    """Two quads in exactly the same plane, overlapping in the middle.

    The overlap has two fragments at bit-identical depth: a renderer must keep both
    and order them by primitive id (the red quad, faces 0-1, in front). Depth tests
    with a strict comparison drop one of them.

    Parameters
    ----------
    opacity : float in (0, 1], default 0.5
        Opacity of both quads.

    Returns
    -------
    scene : Scene
        Four triangles in the plane z = 0: red (faces 0, 1) then blue (faces 2, 3).
    camera : Camera
        Perspective camera on the +z axis, so the plane faces it squarely and
        every fragment in it has the same depth.

    Examples
    --------
    >>> from lamina.scene.procedural import coplanar_pair
    >>> scene, camera = coplanar_pair()
    >>> scene.n_triangles, float(abs(scene.vertices[:, 2]).max())
    (4, 0.0)
    """
    alpha = float(_layer_opacities(1, opacity, np.random.default_rng(0))[0])
    corners = _rectangles(
        np.zeros(2),
        np.array([-1.0, -0.4]),
        np.array([0.4, 1.0]),
        np.array([-0.7, -0.5]),
        np.array([0.7, 0.9]),
    )
    rgba = np.array([[0.9, 0.15, 0.1, alpha], [0.1, 0.3, 0.9, alpha]])
    camera = Camera.look_at(eye=(0.0, 0.0, 3.0), target=(0.0, 0.0, 0.0), fov_y=45.0)
    return _quads_to_scene(corners, rgba, None), camera


ColorMode = Literal["vertex", "face"]


def _check_color_mode(color_mode: str) -> Literal["vertex", "face"]:
    if color_mode == "vertex":
        return "vertex"
    if color_mode == "face":
        return "face"
    raise InputError(f"color_mode must be 'vertex' or 'face', got {color_mode!r}")


def _shells(
    meshes: list[tuple[np.ndarray, np.ndarray]],
    opacities: np.ndarray,
    color_mode: str,
    shade: Callable[[np.ndarray], np.ndarray],
    base: np.ndarray,
) -> Scene:
    """Concatenate closed surfaces, colouring each from ``shade(points)`` (RGB in [0, 1])
    blended with the shell's ``base`` colour, per vertex or per face."""
    vertices, faces, colors = [], [], []
    offset = 0
    for k, (v, f) in enumerate(meshes):
        points = v if color_mode == "vertex" else v[f].mean(axis=1)
        rgb = 0.1 + 0.8 * (0.55 * shade(points) + 0.45 * base[k])
        colors.append(np.column_stack([rgb, np.full(len(points), opacities[k])]))
        vertices.append(v)
        faces.append(f + offset)
        offset += len(v)
    rgba = np.concatenate(colors)
    if color_mode == "vertex":
        return Scene(
            vertices=np.concatenate(vertices), faces=np.concatenate(faces), vertex_colors=rgba
        )
    return Scene(vertices=np.concatenate(vertices), faces=np.concatenate(faces), face_colors=rgba)


def _direction_colour(points: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(points, axis=1, keepdims=True)
    return 0.5 + 0.5 * points / np.where(norm > 0, norm, 1.0)


def _icosphere(subdivisions: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit icosphere: 20 * 4**subdivisions triangles, no degenerate ones."""
    t = (1.0 + math.sqrt(5.0)) / 2.0
    vertices = np.array(
        [[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0], [0, -1, t], [0, 1, t],
         [0, -1, -t], [0, 1, -t], [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1]],
        dtype=np.float64,
    )  # fmt: skip
    faces = np.array(
        [[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4],
         [11, 10, 2], [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8],
         [3, 8, 9], [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]],
        dtype=np.int64,
    )  # fmt: skip
    vertices /= np.linalg.norm(vertices, axis=1, keepdims=True)
    for _ in range(subdivisions):
        # Split every edge once: midpoints keyed by their sorted vertex pair.
        edges = np.sort(faces[:, [[0, 1], [1, 2], [2, 0]]].reshape(-1, 2), axis=1)
        unique, inverse = np.unique(edges, axis=0, return_inverse=True)
        mids = vertices[unique].mean(axis=1)
        mids /= np.linalg.norm(mids, axis=1, keepdims=True)
        m = (inverse.reshape(-1, 3) + len(vertices)).T
        a, b, c = faces.T
        faces = np.stack(
            [
                np.stack([a, m[0], m[2]], 1),
                np.stack([b, m[1], m[0]], 1),
                np.stack([c, m[2], m[1]], 1),
                np.stack([m[0], m[1], m[2]], 1),
            ],
            axis=1,
        ).reshape(-1, 3)
        vertices = np.vstack([vertices, mids])
    return vertices, faces


def nested_spheres(
    n: int = 3,
    *,
    subdivisions: int = 3,
    color_mode: ColorMode = "vertex",
    opacity: float | None = None,
    seed: int = 0,
) -> tuple[Scene, Camera]:
    """``n`` concentric transparent spheres of radii 1, (n-1)/n, ..., 1/n.

    Parameters
    ----------
    n : int, default 3
        Number of shells; a ray through the centre crosses ``2 n`` surfaces.
    subdivisions : int, default 3
        Icosphere subdivision level (20 * 4**subdivisions triangles per shell), 0..7.
    color_mode : {"vertex", "face"}, default "vertex"
        Colour per vertex (interpolated across triangles) or per face; either way the
        colour follows the surface direction, tinted per shell.
    opacity : float in (0, 1] or None, default None
        Opacity of every shell; ``None`` jitters it around the value that leaves
        about 5 % transmittance along the ray through the centre.
    seed : int, default 0
        Seed for the shell tints and opacities.

    Returns
    -------
    scene : Scene
    camera : Camera
        Perspective camera 2.9 units from the centre, slightly above and to the side.

    Examples
    --------
    >>> from lamina.scene.procedural import nested_spheres
    >>> scene, camera = nested_spheres(2, subdivisions=1)
    >>> scene.n_triangles
    160
    """
    n = _check_count(n, limit="MAX_PROCEDURAL_SHELLS")
    if not 0 <= subdivisions <= MAX_SPHERE_SUBDIVISIONS:
        raise InputError(
            f"subdivisions must be in 0..{MAX_SPHERE_SUBDIVISIONS} "
            f"(lamina.limits.MAX_SPHERE_SUBDIVISIONS), got {subdivisions}"
        )
    color_mode = _check_color_mode(color_mode)
    rng = np.random.default_rng(seed)
    unit, faces = _icosphere(subdivisions)
    radii = (n - np.arange(n)) / n
    opacities = _layer_opacities(2 * n, opacity, rng)[:n]
    scene = _shells(
        [(unit * r, faces) for r in radii],
        opacities,
        color_mode,
        _direction_colour,
        _palette(n, rng),
    )
    camera = Camera.look_at(eye=(1.0, 0.8, 2.6), target=(0.0, 0.0, 0.0), fov_y=45.0)
    return scene, camera


def torus(
    n: int = 1,
    *,
    major: float = 1.0,
    minor: float = 0.4,
    segments: int = 64,
    rings: int = 24,
    color_mode: ColorMode = "vertex",
    opacity: float | None = None,
    seed: int = 0,
) -> tuple[Scene, Camera]:
    """``n`` nested transparent tori in the xz plane: one ring, tubes of minor radius
    ``minor``, ``minor (n-1)/n``, ..., ``minor / n``.

    Parameters
    ----------
    n : int, default 1
        Number of nested tubes; a ray along the ring's plane through both sides of
        the ring crosses ``4 n`` surfaces.
    major, minor : float, default 1.0 and 0.4
        Ring radius and outer tube radius, ``0 < minor < major``.
    segments, rings : int, default 64 and 24
        Subdivisions around the ring and around the tube (each >= 3).
    color_mode : {"vertex", "face"}, default "vertex"
        Colour per vertex or per face, following the angle around the ring.
    opacity : float in (0, 1] or None, default None
        Opacity of every tube; ``None`` leaves about 5 % transmittance behind the
        ``4 n`` surfaces of the deepest ray.
    seed : int, default 0
        Seed for the tube tints and opacities.

    Returns
    -------
    scene : Scene
        ``2 n segments rings`` triangles.
    camera : Camera
        Perspective camera above the ring, looking down at 35 degrees.

    Examples
    --------
    >>> from lamina.scene.procedural import torus
    >>> scene, camera = torus(2, segments=8, rings=4)
    >>> scene.n_triangles
    128
    """
    n = _check_count(n, limit="MAX_PROCEDURAL_SHELLS")
    if not 0.0 < minor < major:
        raise InputError(f"torus needs 0 < minor < major, got minor={minor}, major={major}")
    for name, value in (("segments", segments), ("rings", rings)):
        if not 3 <= value <= MAX_TORUS_SUBDIVISIONS:
            raise InputError(
                f"{name} must be in 3..{MAX_TORUS_SUBDIVISIONS} "
                f"(lamina.limits.MAX_TORUS_SUBDIVISIONS), got {value}"
            )
    color_mode = _check_color_mode(color_mode)
    rng = np.random.default_rng(seed)
    # Half-step offsets put the axis-aligned rays (x = 0, y = 0) through the middle of
    # triangles rather than along their shared edges.
    u = 2.0 * np.pi * (np.arange(segments) + 0.5) / segments
    v = 2.0 * np.pi * (np.arange(rings) + 0.5) / rings
    uu, vv = np.meshgrid(u, v, indexing="ij")
    i, j = np.meshgrid(np.arange(segments), np.arange(rings), indexing="ij")
    a = i * rings + j
    b = ((i + 1) % segments) * rings + j
    c = ((i + 1) % segments) * rings + (j + 1) % rings
    d = i * rings + (j + 1) % rings
    faces = np.concatenate([np.stack([a, b, c], -1), np.stack([a, c, d], -1)]).reshape(-1, 3)
    meshes = []
    for k in range(n):
        tube = minor * (n - k) / n
        radial = major + tube * np.cos(vv)
        points = np.stack([radial * np.cos(uu), tube * np.sin(vv), radial * np.sin(uu)], -1)
        meshes.append((points.reshape(-1, 3), faces.astype(np.int64)))

    def around_ring(points: np.ndarray) -> np.ndarray:
        hue = (np.arctan2(points[:, 2], points[:, 0]) / (2.0 * np.pi)) % 1.0
        return _hsv_to_rgb(hue, np.full(len(hue), 0.7), np.full(len(hue), 0.95))

    opacities = _layer_opacities(4 * n, opacity, rng)[:n]
    scene = _shells(meshes, opacities, color_mode, around_ring, _palette(n, rng))
    reach = major + minor
    distance = 1.15 * reach / math.sin(math.radians(22.5))
    elevation = math.radians(35.0)
    eye = (0.0, distance * math.sin(elevation), distance * math.cos(elevation))
    return scene, Camera.look_at(eye=eye, target=(0.0, 0.0, 0.0), fov_y=45.0)


#: Generators by the name the command line and scene files use (``procedural:NAME[:N]``).
def random_triangles(
    n: int = 10_000, *, coverage: float = 6.0, seed: int = 0, opacity: float = 0.3
) -> tuple[Scene, Camera]:
    """``n`` small triangles at random places and tilts in a cube, for throughput tests.

    The triangles shrink as ``n`` grows so that together they cover about
    ``coverage`` times the view: the fragment count stays about the same whatever
    ``n``, so the cost per triangle shows.  The camera is orthographic, looking
    down -z at the cube.

    Parameters
    ----------
    n : int, default 10000
        Number of triangles, 1 .. 10,000,000.
    coverage : float, default 6
        Total projected area over the view's area (about the mean depth complexity).
    seed : int, default 0
    opacity : float, default 0.3

    Examples
    --------
    >>> scene, camera = random_triangles(1000)
    >>> scene.n_triangles, camera.projection
    (1000, 'orthographic')
    """
    from lamina.memory import array_bytes, check_allocation

    n = _check_count(n, limit="MAX_RANDOM_TRIANGLES")
    if not (isinstance(coverage, int | float) and 0 < coverage <= MAX_RANDOM_COVERAGE):
        raise InputError(
            f"coverage must be a number in (0, {MAX_RANDOM_COVERAGE}] "
            f"(lamina.limits.MAX_RANDOM_COVERAGE), got {coverage!r}"
        )
    if not (isinstance(opacity, int | float) and 0 <= opacity <= 1):
        raise InputError(f"opacity must lie in [0, 1], got {opacity!r}")
    check_allocation(
        4 * array_bytes((n, 3, 3)),
        what=f"{n} random triangles",
        fix="choose a smaller n",
    )
    rng = np.random.default_rng(seed)
    view_area = 2.2 * 2.2
    # An equilateral triangle of circumradius r has area 1.3 r**2; a random tilt halves
    # its projected area on average.
    radius = math.sqrt(coverage * view_area / n / 1.3 * 2.0)
    angles = rng.uniform(0, 2 * math.pi, (n, 1)) + np.array([0.0, 2.1, 4.2])
    flat = np.stack([np.cos(angles), np.sin(angles), np.zeros_like(angles)], axis=-1)
    tilt = rng.normal(size=(n, 3))
    tilt /= np.linalg.norm(tilt, axis=1, keepdims=True)
    # Turn the xy-plane triangle so that its normal is ``tilt`` (a reflection suffices).
    mirror = tilt - np.array([0.0, 0.0, 1.0])
    length = np.maximum(np.linalg.norm(mirror, axis=1, keepdims=True), 1e-12)
    mirror = mirror / length
    flat = flat - 2.0 * (flat @ mirror[..., None]) * mirror[:, None, :]
    centres = rng.uniform(-1.1, 1.1, (n, 1, 3)) * [1.0, 1.0, 0.9]
    vertices = (centres + radius * flat).reshape(-1, 3)
    colors = np.column_stack([_palette(n, rng), np.full(n, float(opacity))])
    scene = Scene(vertices=vertices, faces=np.arange(3 * n).reshape(n, 3), face_colors=colors)
    camera = Camera.look_at(
        (0.0, 0.0, 3.0), (0.0, 0.0, 0.0), projection="orthographic", ortho_height=2.2, near=1.0
    )
    return scene, camera


PROCEDURAL: dict[str, Callable[..., tuple[Scene, Camera]]] = {
    "random_triangles": random_triangles,
    "stacked_quads": stacked_quads,
    "partial_quads": partial_quads,
    "intersecting_quads": intersecting_quads,
    "coplanar_pair": coplanar_pair,
    "nested_spheres": nested_spheres,
    "torus": torus,
}


def procedural_scene(name: str, **kwargs: object) -> tuple[Scene, Camera]:
    """Build the procedural scene ``name`` with keyword arguments ``kwargs``.

    Raises
    ------
    InputError
        Unknown ``name`` (close names are suggested) or bad arguments.

    Examples
    --------
    >>> from lamina.scene.procedural import procedural_scene
    >>> scene, camera = procedural_scene("stacked_quads", n=3)
    >>> scene.n_triangles
    6
    """
    try:
        generator = PROCEDURAL[name]
    except KeyError:
        close = difflib.get_close_matches(name, PROCEDURAL, n=3, cutoff=0.5)
        hint = (
            f"did you mean {', '.join(map(repr, close))}?"
            if close
            else (f"available: {', '.join(PROCEDURAL)}")
        )
        raise InputError(f"no procedural scene named {name!r}; {hint}") from None
    try:
        inspect.signature(generator).bind(**kwargs)
    except TypeError as error:
        raise InputError(f"procedural scene {name!r}: {error}") from None
    return generator(**kwargs)
