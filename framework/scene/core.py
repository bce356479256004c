"""Transparent triangle scenes and the cameras that look at them.

A :class:`Scene` is an indexed triangle mesh with a straight (non-premultiplied)
RGBA colour per face or per vertex and a background colour composited behind
everything.  A :class:`Camera` is an OpenGL-style look-at camera with a
perspective or orthographic projection.  Both are immutable and validated when
they are made, so renderers can trust them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, cast

import numpy as np

from lamina.errors import InputError
from lamina.limits import MAX_COORDINATE, MAX_PROJECTION_SCALE

__all__ = [
    "Camera",
    "Scene",
    "check_coordinates",
    "check_vertices",
    "degenerate_faces",
    "lengths",
    "power_of_two_scaled",
    "rescaled_rows",
]

#: Smallest tan(fov_y / 2) and orthographic height (lamina.limits.MAX_PROJECTION_SCALE).
_SMALLEST_SCALE = 1.0 / MAX_PROJECTION_SCALE
#: What to do about a camera beyond MAX_COORDINATE.
_CAMERA_FIX = "scale the scene and camera down"
#: A face whose doubled area is below this fraction of its longest squared edge
#: is degenerate (collinear or repeated vertices): it has no interior to render.
DEGENERATE_TOLERANCE = 1e-12


def degenerate_faces(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Boolean mask of the faces with (numerically) zero area.

    A face is degenerate when ``|e1 x e2| <= 1e-12 * max(|e|)**2``: repeated
    vertex indices, coincident or collinear corners.  Mesh loaders can drop
    these faces with ``faces[~degenerate_faces(vertices, faces)]`` before
    building a :class:`Scene`, which rejects them.

    Examples
    --------
    >>> import numpy as np
    >>> v = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [0, 1, 0]], float)
    >>> degenerate_faces(v, np.array([[0, 1, 2], [0, 1, 3]])).tolist()
    [True, False]
    """
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    e1, e2, e3 = rescaled_rows(b - a, c - a, c - b)
    area2 = np.linalg.norm(np.cross(e1, e2), axis=1)
    longest = np.max(np.stack([(e * e).sum(axis=1) for e in (e1, e2, e3)]), axis=0)
    return (area2 <= DEGENERATE_TOLERANCE * longest) | (longest == 0)


def lengths(vectors: np.ndarray) -> np.ndarray:
    """Euclidean lengths of 3-vectors (..., 3) by ``hypot``, which neither overflows nor
    underflows where a sum of squares would (lengths near 1e-160 or 1e155).

    >>> lengths(np.array([[3e-200, 4e-200, 0.0], [0.0, 0.0, 2.0]])).tolist()
    [5e-200, 2.0]
    """
    v = np.asarray(vectors, dtype=np.float64)
    return np.hypot(np.hypot(v[..., 0], v[..., 1]), v[..., 2])


def power_of_two_scaled(
    values: np.ndarray, reference: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """``values`` times the power of two ``2**-e`` that brings ``|reference|`` into
    [0.5, 1), and ``e`` (0 where ``reference`` is 0). ``reference`` holds one number per
    leading index of ``values`` (a row's largest component, a plane's divisor). Exact:
    ratios, comparisons and unit vectors come out bit for bit as unscaled, while squares
    and cross products of huge or tiny values neither over- nor underflow. The one
    place the scene and its renderers rescale for range (sub-pixel registration scales
    a whole image pair by one power of two for its float32 spectra).

    >>> scaled, exponent = power_of_two_scaled(np.array([[6.0, 2.0], [0.0, 0.0]]), [6.0, 0.0])
    >>> scaled.tolist(), exponent.tolist()
    ([[0.75, 0.25], [0.0, 0.0]], [3, 0])
    """
    exponent = np.frexp(np.asarray(reference, dtype=np.float64))[1]
    values = np.asarray(values, dtype=np.float64)
    shape = exponent.shape + (1,) * (values.ndim - exponent.ndim)
    return np.ldexp(values, -exponent.reshape(shape)), exponent


def rescaled_rows(*vectors: np.ndarray) -> tuple[np.ndarray, ...]:
    """``vectors`` (each (N, 3)) with row ``i`` of all of them times the one power of two
    that brings their largest component into [0.5, 1) (:func:`power_of_two_scaled`), so
    comparisons of cross products and squared lengths come out as unscaled, but neither
    4th powers of coordinates near :data:`lamina.limits.MAX_COORDINATE` overflow nor
    those of tiny edges underflow. All-zero rows stay zero.

    >>> [v.tolist() for v in rescaled_rows(np.array([[6.0, 0, 0]]), np.array([[0, 2.0, 0]]))]
    [[[0.75, 0.0, 0.0]], [[0.0, 0.25, 0.0]]]
    """
    largest = np.max([np.abs(v).max(axis=1) for v in vectors], axis=0)
    first, exponent = power_of_two_scaled(vectors[0], largest)
    return (first, *(np.ldexp(np.asarray(v, np.float64), -exponent[:, None]) for v in vectors[1:]))


def check_vertices(vertices: np.ndarray, name: str = "vertices") -> float:
    """Refuse NaN, infinite or huge coordinates (beyond :data:`lamina.limits.MAX_COORDINATE`,
    where squared lengths overflow float64), naming the first bad vertex; return the
    largest coordinate magnitude.

    >>> check_vertices(np.array([[0.0, 0.0, 0.0], [0.0, 2e150, 0.0]]))
    Traceback (most recent call last):
    ...
    lamina.errors.InputError: vertices: vertex 1 has a coordinate of magnitude 2e+150, beyond 1e+150 (lamina.limits.MAX_COORDINATE); scale the scene down
    """
    finite = np.isfinite(vertices).all(axis=1)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        raise InputError(f"{name} contain NaN or infinite values (first at vertex {bad})")
    return check_coordinates(vertices, name)


def check_coordinates(values: object, name: str, *, fix: str = "scale the scene down") -> float:
    """Refuse finite coordinates beyond :data:`lamina.limits.MAX_COORDINATE` (where
    squared lengths overflow float64), in a scalar, a vector, or (N, 3) rows (naming
    the first vertex beyond); return the largest magnitude. The one check of that bound.

    >>> check_coordinates([0.0, -3e150, 1.0], "eye", fix="move the camera in")
    Traceback (most recent call last):
    ...
    lamina.errors.InputError: eye [0.0, -3e+150, 1.0] has a coordinate of magnitude 3e+150, beyond 1e+150 (lamina.limits.MAX_COORDINATE); move the camera in
    """
    array = np.asarray(values, dtype=np.float64)
    magnitude = np.abs(array).max(axis=-1) if array.ndim == 2 else np.abs(array).reshape(-1)
    if not (magnitude > MAX_COORDINATE).any():
        return float(magnitude.max()) if magnitude.size else 0.0
    first = int(np.flatnonzero(magnitude > MAX_COORDINATE)[0])
    if array.ndim == 2:
        what = f"{name}: vertex {first} has a coordinate of magnitude {magnitude[first]:.3g},"
    elif array.ndim == 1:
        what = f"{name} {array.tolist()} has a coordinate of magnitude {magnitude[first]:.3g},"
    else:
        what = f"{name} {float(array):g} is"
    raise InputError(f"{what} beyond {MAX_COORDINATE:g} (lamina.limits.MAX_COORDINATE); {fix}")


def _float_array(value: object, name: str) -> np.ndarray:
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InputError(f"{name} must be a numeric array: {error}") from None
    return array


def _colors(value: object, rows: int, name: str) -> np.ndarray:
    """(rows, 4) straight RGBA from (rows, 4), (rows, 3), (4,) or (3,) input."""
    array = _float_array(value, name)
    if array.ndim == 1 and array.shape[0] in (3, 4):
        array = np.broadcast_to(array, (rows, array.shape[0]))
    if array.ndim != 2 or array.shape[0] != rows or array.shape[1] not in (3, 4):
        raise InputError(
            f"{name} must have shape ({rows}, 4) (RGBA) or ({rows}, 3) (RGB), got {array.shape}"
        )
    if not np.isfinite(array).all():
        raise InputError(f"{name} contains NaN or infinite values")
    if array.shape[1] == 4 and ((array[:, 3] < 0) | (array[:, 3] > 1)).any():
        bad = int(np.flatnonzero((array[:, 3] < 0) | (array[:, 3] > 1))[0])
        raise InputError(f"{name}: opacity must lie in [0, 1], got {array[bad, 3]:g} at row {bad}")
    if ((array < 0) | (array > 1)).any():
        bad = int(np.flatnonzero(((array < 0) | (array > 1)).any(axis=1))[0])
        raise InputError(
            f"{name}: colour values must lie in [0, 1], got {array[bad].tolist()} at row {bad}"
        )
    if array.shape[1] == 3:
        array = np.concatenate([array, np.ones((rows, 1))], axis=1)
    return _frozen(array)


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array).copy()
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class Scene:
    """Transparent triangles with straight RGBA colour per face or per vertex.

    Parameters
    ----------
    vertices : array_like, shape (V, 3)
        Vertex positions in world units (float64, finite).
    faces : array_like of int, shape (F, 3)
        Vertex indices of each triangle.  Faces of zero area are rejected
        (see :func:`degenerate_faces`).  Both windings are rendered: a
        transparent surface is seen from either side.
    face_colors : array_like, shape (F, 4) or (F, 3) or (4,), optional
        Straight (non-premultiplied) RGBA in [0, 1] per face; RGB means
        opacity 1, a single colour applies to every face.
    vertex_colors : array_like, shape (V, 4) or (V, 3) or (4,), optional
        Straight RGBA per vertex, interpolated perspective-correctly across
        each face and premultiplied per fragment.  Give exactly one of
        ``face_colors`` and ``vertex_colors``.
    background : tuple of 4 floats
        Straight RGBA composited behind every pixel; the default is
        transparent black, so the image alpha is the scene's coverage.

    Raises
    ------
    lamina.InputError
        Empty scene, wrong shapes, NaN or infinite vertices, face indices out
        of range, degenerate faces, colours or opacities outside [0, 1].

    Notes
    -----
    Arrays are copied and stored read-only, so a scene never changes after
    it is made and never aliases the caller's arrays.

    Examples
    --------
    >>> import numpy as np
    >>> quad = Scene(
    ...     vertices=np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], float),
    ...     faces=np.array([[0, 1, 2], [0, 2, 3]]),
    ...     face_colors=(1.0, 0.0, 0.0, 0.5),
    ... )
    >>> quad.n_triangles
    2
    >>> Scene.concatenate([quad, quad.transformed(np.diag([1.0, 1, 1, 1]))]).n_triangles
    4
    """

    vertices: np.ndarray
    faces: np.ndarray
    face_colors: np.ndarray | None = None
    vertex_colors: np.ndarray | None = None
    background: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        vertices = _float_array(self.vertices, "vertices")
        if vertices.ndim != 2 or vertices.shape[1] != 3:
            raise InputError(f"vertices must have shape (V, 3), got {vertices.shape}")
        object.__setattr__(self, "_extent", check_vertices(vertices))
        faces = np.asarray(self.faces)
        if faces.size == 0:
            faces = faces.reshape(0, 3)
        if faces.dtype.kind not in "iu" and faces.size:
            if faces.dtype.kind == "f" and np.array_equal(faces, np.round(faces)):
                faces = faces.astype(np.int64)
            else:
                raise InputError(f"faces must be integer vertex indices, got dtype {faces.dtype}")
        faces = faces.astype(np.int64)
        if faces.ndim != 2 or faces.shape[1] != 3:
            raise InputError(f"faces must have shape (F, 3), got {faces.shape}")
        if len(faces) == 0:
            raise InputError("the scene is empty: it has no faces")
        if faces.min() < 0 or faces.max() >= len(vertices):
            bad = int(np.flatnonzero(((faces < 0) | (faces >= len(vertices))).any(axis=1))[0])
            raise InputError(
                f"face {bad} has vertex indices {faces[bad].tolist()} outside "
                f"[0, {len(vertices) - 1}] (the scene has {len(vertices)} vertices)"
            )
        degenerate = np.flatnonzero(degenerate_faces(vertices, faces))
        if len(degenerate):
            shown = ", ".join(str(i) for i in degenerate[:5])
            more = f" and {len(degenerate) - 5} more" if len(degenerate) > 5 else ""
            raise InputError(
                f"face {shown}{more} {'is' if len(degenerate) == 1 else 'are'} degenerate "
                "(zero area); drop such faces first, e.g. with "
                "lamina.scene.degenerate_faces"
            )
        if (self.face_colors is None) == (self.vertex_colors is None):
            raise InputError("give exactly one of face_colors and vertex_colors")
        object.__setattr__(self, "vertices", _frozen(vertices))
        object.__setattr__(self, "faces", _frozen(faces))
        if self.face_colors is not None:
            object.__setattr__(
                self, "face_colors", _colors(self.face_colors, len(faces), "face_colors")
            )
        else:
            object.__setattr__(
                self, "vertex_colors", _colors(self.vertex_colors, len(vertices), "vertex_colors")
            )
        background = _float_array(self.background, "background")
        if background.shape == (3,):
            background = np.append(background, 1.0)
        if background.shape != (4,) or not np.isfinite(background).all():
            raise InputError(f"background must be 4 finite floats (RGBA), got {self.background!r}")
        if background.min() < 0 or background.max() > 1:
            raise InputError(f"background values must lie in [0, 1], got {background.tolist()}")
        object.__setattr__(self, "background", tuple(float(x) for x in background))

    @property
    def n_triangles(self) -> int:
        """Number of faces."""
        return len(self.faces)

    @property
    def extent(self) -> float:
        """The largest absolute coordinate of any vertex (at most
        :data:`lamina.limits.MAX_COORDINATE`)."""
        return cast(float, self._extent)  # type: ignore[attr-defined]

    @property
    def n_vertices(self) -> int:
        """Number of vertices."""
        return len(self.vertices)

    @property
    def bounds(self) -> np.ndarray:
        """Axis-aligned bounding box as a (2, 3) array: minimum row, maximum row."""
        used = self.vertices[np.unique(self.faces)]
        return np.stack([used.min(axis=0), used.max(axis=0)])

    def premultiplied_background(self) -> np.ndarray:
        """The background as premultiplied RGBA float64."""
        r, g, b, a = self.background
        return np.array([r * a, g * a, b * a, a])

    @staticmethod
    def concatenate(scenes: Sequence[Scene]) -> Scene:
        """One scene holding the faces of all ``scenes``, in order.

        Face order is kept (it breaks depth ties, see the renderers' notes).
        When the scenes mix face and vertex colours, the face-coloured ones are
        turned into vertex colours by giving each face its own three vertices.
        The background is the first scene's.
        """
        scenes = list(scenes)
        if not scenes:
            raise InputError("Scene.concatenate needs at least one scene")
        for i, scene in enumerate(scenes):
            if not isinstance(scene, Scene):
                raise InputError(f"scenes[{i}] is a {type(scene).__name__}, not a Scene")
        per_vertex = any(s.vertex_colors is not None for s in scenes)
        if per_vertex:
            scenes = [s if s.vertex_colors is not None else s._unshared() for s in scenes]
        offsets = np.cumsum([0] + [s.n_vertices for s in scenes[:-1]])
        vertices = np.concatenate([s.vertices for s in scenes])
        faces = np.concatenate([s.faces + o for s, o in zip(scenes, offsets, strict=True)])
        colors = np.concatenate([s.vertex_colors if per_vertex else s.face_colors for s in scenes])
        return Scene(
            vertices=vertices,
            faces=faces,
            face_colors=None if per_vertex else colors,
            vertex_colors=colors if per_vertex else None,
            background=scenes[0].background,
        )

    def _unshared(self) -> Scene:
        """The same faces with three private vertices each, coloured per vertex."""
        assert self.face_colors is not None  # a scene without vertex colours has face colours
        return Scene(
            vertices=self.vertices[self.faces.reshape(-1)],
            faces=np.arange(3 * self.n_triangles).reshape(-1, 3),
            vertex_colors=np.repeat(self.face_colors, 3, axis=0),
            background=self.background,
        )

    def transformed(self, matrix: np.ndarray) -> Scene:
        """A copy with the vertices mapped by the 4x4 affine ``matrix``
        (column-vector convention: ``p' = matrix @ [x, y, z, 1]``)."""
        m = _float_array(matrix, "matrix")
        if m.shape != (4, 4) or not np.isfinite(m).all():
            raise InputError(f"matrix must be a finite 4x4 array, got shape {m.shape}")
        if not np.allclose(m[3], [0.0, 0.0, 0.0, 1.0], rtol=0, atol=1e-12):
            raise InputError(f"matrix must be affine (last row 0, 0, 0, 1), got {m[3].tolist()}")
        with np.errstate(over="ignore", invalid="ignore"):  # refused just below
            vertices = self.vertices @ m[:3, :3].T + m[:3, 3]
        if not np.isfinite(vertices).all():
            raise InputError(
                f"matrix carries the vertices beyond float64's range, far past "
                f"{MAX_COORDINATE:g} (lamina.limits.MAX_COORDINATE); scale the scene down"
            )
        return Scene(
            vertices=vertices,
            faces=self.faces,
            face_colors=self.face_colors,
            vertex_colors=self.vertex_colors,
            background=self.background,
        )


def _vec3(value: object, name: str) -> tuple[float, float, float]:
    array = _float_array(value, name)
    if array.shape != (3,) or not np.isfinite(array).all():
        raise InputError(f"{name} must be 3 finite floats, got {value!r}")
    check_coordinates(array, name, fix=_CAMERA_FIX)
    return (float(array[0]), float(array[1]), float(array[2]))


def _rescaled(vector: np.ndarray) -> np.ndarray | None:
    """``vector`` times the power of two that brings its largest component into [0.5, 1),
    or None when it is zero: exact, so unit vectors and cross products come out bit for
    bit as unscaled, and neither huge nor subnormal vectors over- or underflow."""
    largest = float(np.abs(vector).max())
    if largest == 0.0:
        return None
    return power_of_two_scaled(vector, largest)[0]


@dataclass(frozen=True)
class Camera:
    """An OpenGL-style look-at camera.

    Parameters
    ----------
    eye, target : tuple of 3 floats
        Where the camera is and the point it looks at.
    up : tuple of 3 floats
        Up direction; must not be parallel to ``target - eye``.
    projection : {"perspective", "orthographic"}
    fov_y : float
        Vertical field of view in degrees, in (0, 180) (perspective).
    ortho_height : float
        World units visible vertically (orthographic); the width follows
        the image's aspect ratio.
    near, far : float
        Clipping distances along the viewing direction: geometry nearer
        than ``near`` or farther than ``far`` is clipped away.  Perspective
        needs ``0 < near < far``; orthographic needs ``near < far``.

    Notes
    -----
    The view matrix maps the eye to the origin looking down -z (right-handed);
    the projection maps the view frustum to OpenGL clip space, z in [-w, w].
    Pixel (row 0, column 0) is the top-left corner of the image.

    Examples
    --------
    >>> cam = Camera.look_at((0, 0, 5), (0, 0, 0), fov_y=60)
    >>> cam.view_matrix() @ [0.0, 0.0, 0.0, 1.0]
    array([ 0.,  0., -5.,  1.])
    >>> cam.projection_matrix(aspect=4 / 3).shape
    (4, 4)
    """

    eye: tuple[float, float, float]
    target: tuple[float, float, float]
    up: tuple[float, float, float] = (0.0, 1.0, 0.0)
    projection: Literal["perspective", "orthographic"] = "perspective"
    fov_y: float = 45.0
    ortho_height: float = 2.0
    near: float = 0.1
    far: float = 100.0
    _basis: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        eye, target, up = (_vec3(getattr(self, n), n) for n in ("eye", "target", "up"))
        for name, value in (("eye", eye), ("target", target), ("up", up)):
            object.__setattr__(self, name, value)
        if self.projection not in ("perspective", "orthographic"):
            raise InputError(
                f"projection must be 'perspective' or 'orthographic', got {self.projection!r}"
            )
        for name in ("fov_y", "ortho_height", "near", "far"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float | np.number):
                raise InputError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise InputError(f"{name} must be finite, got {value!r}")
            check_coordinates(value, name, fix=_CAMERA_FIX)
            object.__setattr__(self, name, float(value))
        if not 0.0 < self.fov_y < 180.0:
            raise InputError(f"fov_y must lie in (0, 180) degrees, got {self.fov_y}")
        # The projection scales by 1 / tan(fov_y / 2) and 2 / ortho_height, then by the
        # aspect ratio: these stay finite, and clear of subnormals (which Taichi's
        # flush-to-zero makes 0 in this process), from _SMALLEST_SCALE up.
        if math.tan(math.radians(self.fov_y) / 2.0) < _SMALLEST_SCALE:
            narrowest = math.degrees(2.0 * math.atan(_SMALLEST_SCALE))
            raise InputError(
                f"fov_y must be at least {narrowest:.3g} degrees "
                f"(lamina.limits.MAX_PROJECTION_SCALE), got {self.fov_y:g}"
            )
        if self.ortho_height < _SMALLEST_SCALE:
            raise InputError(
                f"ortho_height must be at least {_SMALLEST_SCALE:g} "
                f"(lamina.limits.MAX_PROJECTION_SCALE), got {self.ortho_height:g}"
            )
        if self.projection == "perspective" and self.near <= 0.0:
            raise InputError(f"near must be positive for a perspective camera, got {self.near}")
        if self.far <= self.near:
            raise InputError(f"far ({self.far}) must be greater than near ({self.near})")
        forward = _rescaled(np.subtract(target, eye))
        if forward is None:
            raise InputError("eye and target must differ")
        forward /= np.linalg.norm(forward)
        scaled_up = _rescaled(np.asarray(up))
        side = None if scaled_up is None else np.cross(forward, scaled_up)
        # Nearly parallel: the side vector would be all rounding, and the image would spin.
        if (
            side is None
            or scaled_up is None
            or np.linalg.norm(side) <= 1e-12 * np.linalg.norm(scaled_up)
        ):
            raise InputError(
                f"up {up} is parallel to the viewing direction (or zero); choose an up "
                "direction across the line of sight"
            )
        side /= np.linalg.norm(side)
        true_up = np.cross(side, forward)
        basis = np.stack([side, true_up, -forward])
        basis.flags.writeable = False
        object.__setattr__(self, "_basis", basis)

    @classmethod
    def look_at(
        cls,
        eye: Sequence[float] | np.ndarray,
        target: Sequence[float] | np.ndarray,
        up: Sequence[float] | np.ndarray = (0.0, 1.0, 0.0),
        **kw: object,
    ) -> Camera:
        """A camera at ``eye`` looking at ``target``; ``kw`` sets the other fields."""
        return cls(eye=tuple(eye), target=tuple(target), up=tuple(up), **kw)  # type: ignore[arg-type]

    def view_matrix(self) -> np.ndarray:
        """4x4 world-to-eye matrix (float64)."""
        m = np.eye(4)
        m[:3, :3] = self._basis
        m[:3, 3] = -self._basis @ np.asarray(self.eye)
        return m

    def projection_matrix(self, aspect: float) -> np.ndarray:
        """4x4 eye-to-clip matrix for an image of width/height ``aspect``."""
        if (
            not (isinstance(aspect, int | float | np.number) and math.isfinite(aspect))
            or aspect <= 0
        ):
            raise InputError(f"aspect must be a positive finite number, got {aspect!r}")
        n, f = self.near, self.far
        m = np.zeros((4, 4))
        if self.projection == "perspective":
            t = 1.0 / math.tan(math.radians(self.fov_y) / 2.0)
            m[0, 0] = t / aspect
            m[1, 1] = t
            m[2, 2] = -(f + n) / (f - n)
            m[2, 3] = -2.0 * n * (f / (f - n))  # f * n underflows for scenes below 1e-154
            m[3, 2] = -1.0
        else:
            half_h = self.ortho_height / 2.0
            m[0, 0] = 1.0 / (half_h * aspect)
            m[1, 1] = 1.0 / half_h
            m[2, 2] = -2.0 / (f - n)
            m[2, 3] = -(f + n) / (f - n)
            m[3, 3] = 1.0
        return m
