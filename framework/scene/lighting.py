"""Lighting for transparent meshes: per-vertex normals, Lambert + Blinn-Phong, edge opacity.

:func:`shade` turns a scene into one whose vertex colours carry the lighting
seen from a camera (Gouraud shading, as ``vtkProperty``'s default
interpolation), so every renderer -- the float64 ``reference`` included --
shades identically: lighting is done once, before rasterisation, and the
renderers interpolate the lit colours perspective-correctly.

The model, per vertex with unit normal ``N``, unit direction to the viewer
``V`` (to the eye for a perspective camera, against the viewing direction for
an orthographic one) and unit directions to the lights ``L_k``::

    rgb   = base * (ambient + diffuse * sum_k c_k max(N.L_k, 0))
            + specular * sum_k c_k max(N.H_k, 0) ** shininess,   H_k = unit(L_k + V)
    alpha = alpha + (1 - alpha) * edge_opacity * (1 - |N.V|) ** 2

clipped to [0, 1].  With ``two_sided`` (the default, for open surfaces) a
normal facing away from the viewer is flipped first, so both sides of a
sheet are lit alike; otherwise back faces get the ambient term only.  With
no light given, one white *headlight* shines from the camera (``L = V``).
The edge term makes surfaces seen edge-on more opaque, like a Fresnel
reflection or VTK's edge enhancement, which brings out silhouettes inside
nested translucent shells.

Examples
--------
>>> import numpy as np
>>> from lamina.scene import Camera, Scene
>>> quad = Scene(vertices=np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], float),
...              faces=np.array([[0, 1, 2], [0, 2, 3]]), face_colors=(0.8, 0.4, 0.2, 0.5))
>>> camera = Camera.look_at((0, 0, 3), (0, 0, 0), projection="orthographic")
>>> lit = shade(quad, camera)           # the headlight faces the quad: N.L = N.H = 1
>>> lit.vertex_colors[0].round(3).tolist()  # 0.8 * (0.25 + 0.7) + 0.3, clipped to 1
[1.0, 0.68, 0.49, 0.5]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from lamina.errors import InputError
from lamina.limits import MAX_LIGHTS
from lamina.scene.core import Camera, Scene, lengths, power_of_two_scaled, rescaled_rows

__all__ = [
    "MAX_LIGHTS",
    "Light",
    "Lighting",
    "check_normals",
    "corner_normals",
    "parse_lights",
    "shade",
    "vertex_normals",
]


def _unit(vector: object, name: str) -> tuple[float, float, float]:
    array = np.asarray(vector, dtype=np.float64)
    if array.shape != (3,) or not np.isfinite(array).all() or not np.linalg.norm(array) > 0:
        raise InputError(f"{name} must be a non-zero finite 3-vector, got {vector!r}")
    return tuple(float(v) for v in array / np.linalg.norm(array))  # type: ignore[return-value]


def _fraction(value: object, name: str, upper: float = 1.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise InputError(f"{name} must be a number, got {value!r}")
    if not 0.0 <= float(value) <= upper:
        raise InputError(f"{name} must lie in [0, {upper:g}], got {value}")
    return float(value)


@dataclass(frozen=True)
class Light:
    """A white or coloured directional light.

    Parameters
    ----------
    direction : 3 floats
        Direction *towards* the light, in world coordinates (normalised here).
    color : 3 floats in [0, 1]
        Light colour; multiplies the diffuse and specular terms.
    intensity : float in [0, 10]
        Scale of the colour.
    """

    direction: tuple[float, float, float]
    color: tuple[float, float, float] = (1.0, 1.0, 1.0)
    intensity: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "direction", _unit(self.direction, "light direction"))
        color = np.asarray(self.color, dtype=np.float64)
        if color.shape != (3,) or not ((color >= 0) & (color <= 1)).all():
            raise InputError(f"light color must be 3 numbers in [0, 1], got {self.color!r}")
        object.__setattr__(self, "color", tuple(float(c) for c in color))
        object.__setattr__(self, "intensity", _fraction(self.intensity, "light intensity", 10.0))


@dataclass(frozen=True)
class Lighting:
    """The shading model's settings (see the module notes for the formulas).

    Parameters
    ----------
    lights : sequence of Light, at most :data:`MAX_LIGHTS`
        Directional lights; empty (the default) means one white headlight.
    ambient, diffuse, specular : float in [0, 1]
        Weights of the three terms.
    shininess : float in [1, 1000]
        Blinn-Phong exponent.
    two_sided : bool
        Light back faces as front faces (open surfaces, transparent shells).
    edge_opacity : float in [0, 1]
        0 keeps the opacity; 1 makes surfaces seen edge-on opaque.
    """

    lights: tuple[Light, ...] = field(default=())
    ambient: float = 0.25
    diffuse: float = 0.7
    specular: float = 0.3
    shininess: float = 32.0
    two_sided: bool = True
    edge_opacity: float = 0.0

    def __post_init__(self) -> None:
        lights = tuple(self.lights)
        if len(lights) > MAX_LIGHTS:
            raise InputError(
                f"at most {MAX_LIGHTS} lights (lamina.limits.MAX_LIGHTS), got {len(lights)}"
            )
        if not all(isinstance(light, Light) for light in lights):
            raise InputError("lights must be lamina.scene.lighting.Light objects")
        object.__setattr__(self, "lights", lights)
        for name in ("ambient", "diffuse", "specular", "edge_opacity"):
            object.__setattr__(self, name, _fraction(getattr(self, name), name))
        shininess = _fraction(self.shininess, "shininess", 1000.0)
        if shininess < 1.0:
            raise InputError(f"shininess must lie in [1, 1000], got {shininess}")
        object.__setattr__(self, "shininess", shininess)
        if not isinstance(self.two_sided, bool):
            raise InputError(f"two_sided must be true or false, got {self.two_sided!r}")


def parse_lights(specs: Sequence[str], *, edge_opacity: float = 0.0) -> Lighting | None:
    """The :class:`Lighting` of light specs, as ``lamina render --light`` and a scene
    file's ``[lighting]`` table give them: ``none``, ``headlight``, or up to
    :data:`MAX_LIGHTS` directions towards lights ``X,Y,Z[:INTENSITY]``.

    ``none`` is unlit (``None``) unless ``edge_opacity`` asks for the edge term
    alone; ``InputError`` names a spec that is none of these.

    >>> parse_lights(["1,1,0:0.5"]).lights[0].intensity
    0.5
    >>> parse_lights(["none"]) is None
    True
    """
    words = {spec.strip().lower() for spec in specs}
    if words & {"none", "headlight"}:
        if len(specs) > 1:
            raise InputError("light none and light headlight cannot be combined with others")
        if "none" in words:
            if edge_opacity:
                return Lighting(ambient=1.0, diffuse=0.0, specular=0.0, edge_opacity=edge_opacity)
            return None
        return Lighting(edge_opacity=edge_opacity)
    lights = []
    for spec in specs:
        direction, _, intensity = spec.partition(":")
        try:
            vector = tuple(float(v) for v in direction.split(","))
            strength = float(intensity) if intensity else 1.0
        except ValueError:
            vector, strength = (), 1.0
        if len(vector) != 3 or not np.isfinite([*vector, strength]).all():
            raise InputError(
                f"light {spec!r} must be none, headlight or X,Y,Z[:INTENSITY] "
                "(numbers, comma-separated)"
            )
        lights.append(Light(vector, intensity=strength))  # type: ignore[arg-type]
    return Lighting(lights=tuple(lights), edge_opacity=edge_opacity)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit normals (F, 3, 3) at the corners of every face, smooth across faces that
    share a vertex *position* (so split vertices, as in STL files, still shade smoothly):
    the area-weighted sum of the faces' normals around each position.  Where that sum
    vanishes (a sheet and its reversed copy) a corner takes its own face's normal.

    >>> square = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], float)
    >>> vertex_normals(square, np.array([[0, 1, 2], [0, 2, 3]]))[0].tolist()
    [[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]
    """
    corners = vertices[faces]
    # Each face's edges times the power of two that brings them near 1 (exact), so
    # its cross product neither overflows (coordinates near MAX_COORDINATE) nor
    # underflows (tiny faces, or tiny faces beside huge ones in one mesh).
    edges = corners[:, 1:] - corners[:, :1]
    edges, exponent = power_of_two_scaled(edges, np.abs(edges).max(axis=(1, 2)))
    face_normal = np.cross(edges[:, 0], edges[:, 1])
    _, position = np.unique(vertices, axis=0, return_inverse=True)
    position = position.reshape(-1)[faces]  # (F, 3) position index of each corner
    # Area weights around a position relative to its largest face's power of two:
    # exact ratios, and only faces too small to change the sum underflow.
    largest = np.full(int(position.max()) + 1, np.iinfo(exponent.dtype).min, exponent.dtype)
    np.maximum.at(largest, position.reshape(-1), np.repeat(exponent, 3))
    own = np.ldexp(face_normal[:, None], 2 * (exponent[:, None] - largest[position])[..., None])
    summed = np.zeros((len(largest), 3))
    np.add.at(summed, position.reshape(-1), own.reshape(-1, 3))
    normals = summed[position]
    tiny = lengths(normals) <= 1e-12 * lengths(own)
    normals = np.where(tiny[..., None], face_normal[:, None], normals)
    return normals / lengths(normals)[..., None]


def check_normals(normals: np.ndarray, faces: np.ndarray) -> None:
    """Refuse a per-vertex normal (``normals`` (V, 3)) that is zero or not finite at a
    vertex ``faces`` use, naming the first; any non-zero length is a direction, and a
    vertex no face uses may have any normal.

    >>> check_normals(np.array([[0, 0, 1], [0, 0, 0], [0, 0, 1e-300]]), np.array([[0, 1, 2]]))
    Traceback (most recent call last):
    ...
    lamina.errors.InputError: the normal of vertex 1 is [0.0, 0.0, 0.0]: zero or not a number (1 used vertices have such normals); correct it, or leave the normals out to have them computed
    """
    given = np.asarray(normals)
    used = np.zeros(len(given), dtype=bool)  # (a mask, not np.unique: no sort per frame)
    used[faces] = True
    bad = used & ~(np.isfinite(given).all(axis=1) & (given != 0).any(axis=1))
    if bad.any():
        vertex = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"the normal of vertex {vertex} is {np.asarray(normals)[vertex].tolist()}: zero or "
            f"not a number ({int(bad.sum())} used vertices have such normals); correct it, "
            "or leave the normals out to have them computed"
        )


def corner_normals(scene: Scene, normals: np.ndarray | None = None) -> np.ndarray:
    """Unit normals (F, 3, 3) at the corners of ``scene``'s faces, as :func:`shade`
    lights them: ``normals`` (V, 3) from the mesh file normalised (any non-zero
    length at the vertices faces use), else :func:`vertex_normals`. They depend on
    the geometry only, so many views of one scene (an orbit) compute them once.

    >>> from lamina.scene import Scene
    >>> tri = Scene(vertices=np.eye(3), faces=np.array([[0, 1, 2]]), face_colors=(1, 1, 1, 1))
    >>> corner_normals(tri, np.full((3, 3), 4.0))[0, 0].round(4).tolist()
    [0.5774, 0.5774, 0.5774]
    """
    faces = scene.faces
    if normals is None:
        return vertex_normals(scene.vertices, faces)
    given = np.asarray(normals, dtype=np.float64)
    if given.shape != scene.vertices.shape:
        raise InputError(
            f"normals must be a ({scene.n_vertices}, 3) array, got shape {given.shape}"
        )
    check_normals(given, faces)
    (rows,) = rescaled_rows(given)  # any length may be given
    with np.errstate(invalid="ignore", divide="ignore"):  # (unused vertices: anything)
        return (rows / lengths(rows)[:, None])[faces]


def shade(
    scene: Scene,
    camera: Camera,
    lighting: Lighting | None = None,
    *,
    normals: np.ndarray | None = None,
    corners: np.ndarray | None = None,
) -> Scene:
    """The scene with ``lighting`` seen from ``camera`` baked into vertex colours.

    Parameters
    ----------
    scene : Scene
        Face or vertex colours are the base colours.
    camera : Camera
        Gives the viewer (and headlight) direction.
    lighting : Lighting, optional
        Default: ``Lighting()`` (headlight, two-sided, no edge opacity).
    normals : (V, 3) array, optional
        Per-vertex normals from the mesh file (any non-zero length at the vertices
        faces use; :func:`lamina.scene.meshes.read_mesh`); default: :func:`vertex_normals`.
    corners : (F, 3, 3) array, optional
        Instead of ``normals``: :func:`corner_normals` of this scene, computed once
        for many views of it.

    Returns
    -------
    Scene
        Same geometry with per-vertex colours (face-coloured scenes get three
        private vertices per face, so colours do not bleed across faces).
    """
    lighting = Lighting() if lighting is None else lighting
    if not isinstance(scene, Scene) or not isinstance(camera, Camera):
        raise InputError("shade needs a lamina.scene.Scene and a lamina.scene.Camera")
    faces = scene.faces
    if corners is None:
        corners = corner_normals(scene, normals)
    elif normals is not None:
        raise InputError("shade takes normals or corners, not both")
    elif np.shape(corners) != (scene.n_triangles, 3, 3):
        raise InputError(
            f"corners must be corner_normals of the scene, shape ({scene.n_triangles}, 3, 3); "
            f"got shape {np.shape(corners)}"
        )
    points = scene.vertices[faces]  # (F, 3, 3)
    if scene.vertex_colors is not None:
        base = scene.vertex_colors[faces]
    else:
        assert scene.face_colors is not None  # a scene without vertex colours has face colours
        base = np.repeat(scene.face_colors[:, None], 3, axis=1)
    rgba = _lit(points, corners, base, camera, lighting)
    if scene.vertex_colors is not None:
        # Shared vertices keep their topology where every corner of a vertex got the
        # same colour (normals are per position; only the fallback to a face's own
        # normal can differ between corners).
        colors = np.array(scene.vertex_colors)
        colors[faces.reshape(-1)] = rgba.reshape(-1, 4)
        if np.array_equal(colors[faces], rgba):
            return Scene(
                vertices=scene.vertices,
                faces=faces,
                vertex_colors=colors,
                background=scene.background,
            )
    return Scene(
        vertices=points.reshape(-1, 3),
        faces=np.arange(3 * scene.n_triangles).reshape(-1, 3),
        vertex_colors=rgba.reshape(-1, 4),
        background=scene.background,
    )


def _lit(
    points: np.ndarray,
    normals: np.ndarray,
    base: np.ndarray,
    camera: Camera,
    lighting: Lighting,
) -> np.ndarray:
    """Lit straight RGBA (..., 4) at ``points`` with unit ``normals``."""
    forward = np.subtract(camera.target, camera.eye)
    forward /= lengths(forward)
    if camera.projection == "perspective":
        # Each row brought near 1 by a power of two first (exact): views of a mesh near
        # the smallest normal number would lose bits in subnormal lengths.
        (view,) = rescaled_rows((np.asarray(camera.eye) - points).reshape(-1, 3))
        length = lengths(view)[..., None]  # zero only at a vertex on the eye
        view = (view / np.where(length > 0.0, length, 1.0)).reshape(points.shape)
    else:
        view = np.broadcast_to(-forward, points.shape)
    facing = (normals * view).sum(-1, keepdims=True)
    front = facing >= 0
    if lighting.two_sided:
        normals = np.where(front, normals, -normals)
        facing = np.abs(facing)
    lights: Sequence[tuple[np.ndarray, np.ndarray]]
    if lighting.lights:
        lights = [
            (np.asarray(light.direction), np.multiply(light.color, light.intensity))
            for light in lighting.lights
        ]
    else:
        lights = [(view, np.ones(3))]  # the headlight: L = V
    diffuse = np.zeros((*points.shape[:-1], 3))
    specular = np.zeros_like(diffuse)
    for direction, colour in lights:
        to_light = np.broadcast_to(direction, points.shape)
        lambert = np.maximum((normals * to_light).sum(-1, keepdims=True), 0.0)
        half = to_light + view
        half = half / np.maximum(np.linalg.norm(half, axis=-1, keepdims=True), 1e-300)
        highlight = np.maximum((normals * half).sum(-1, keepdims=True), 0.0)
        highlight = np.where(lambert > 0, highlight**lighting.shininess, 0.0)
        if not lighting.two_sided:
            lambert, highlight = np.where(front, lambert, 0.0), np.where(front, highlight, 0.0)
        diffuse += lambert * colour
        specular += highlight * colour
    rgb = base[..., :3] * (lighting.ambient + lighting.diffuse * diffuse)
    rgb += lighting.specular * specular
    alpha = base[..., 3:]
    if lighting.edge_opacity:
        edge = (1.0 - np.clip(np.abs(facing), 0.0, 1.0)) ** 2
        alpha = alpha + (1.0 - alpha) * lighting.edge_opacity * edge
    return np.clip(np.concatenate([rgb, alpha], axis=-1), 0.0, 1.0)
