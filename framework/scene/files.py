"""Scenes from mesh files, scene TOML files and procedural generators.

:func:`load` is what ``lamina render SCENE`` calls. ``SCENE`` is one of

- a mesh file read by :mod:`trimesh` (``.obj``, ``.ply``, ``.stl``, ``.glb``,
  ``.gltf``, ``.off``), framed by an automatic camera;
- a scene file (``.toml``) with meshes, transforms, colours, a camera and an
  image size, described in :func:`load_scene_file`;
- ``procedural:NAME[:N]``, a generator of :mod:`lamina.plugins.oit.procedural`.

Colours of mesh files come from, in order of preference: per-vertex colours,
per-face colours, the material (OBJ ``Kd`` with ``d``/``Tr`` opacity, glTF
``baseColorFactor`` and texture), else light grey; an explicit ``color`` or
``opacity`` overrides them. Every problem with a file raises
:class:`lamina.ConfigError` naming the file, and the key and line where there
is one.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lamina.errors import ConfigError, InputError
from lamina.io import quiet_logger
from lamina.limits import MAX_IMAGE_SIDE
from lamina.scene import Camera, Scene, degenerate_faces

__all__ = [
    "DEFAULT_SIZE",
    "MESH_SUFFIXES",
    "FileError",
    "LoadedScene",
    "fit_depth_range",
    "frame_camera",
    "load",
    "load_mesh",
    "load_scene_file",
    "recolor",
    "transform_matrix",
]

#: File types :func:`load_mesh` reads (through trimesh).
MESH_SUFFIXES = (".obj", ".ply", ".stl", ".glb", ".gltf", ".off")
#: (height, width) used when neither the scene nor the caller gives a size.
DEFAULT_SIZE = (480, 640)
#: Colour of meshes whose file carries none.
DEFAULT_COLOR = (0.8, 0.8, 0.8, 1.0)

_PROCEDURAL_PREFIX = "procedural:"
#: Longest parser message quoted in an error (a damaged file can make it huge).
_DETAIL_CHARS = 160


class FileError(ConfigError, InputError):
    """A mesh or scene file is missing, damaged or invalid: names the file (and the
    key and line where there is one); bad input, so the command line exits 2."""


_TOP_KEYS = {"camera", "image", "mesh"}
_CAMERA_KEYS = {"eye", "target", "up", "projection", "fov_y", "ortho_height", "near", "far"}
_IMAGE_KEYS = {"width", "height", "background"}
_MESH_KEYS = {
    "path",
    "procedural",
    "args",
    "translate",
    "rotate",
    "scale",
    "color",
    "opacity",
    "drop_degenerate",
}


@dataclass(frozen=True)
class LoadedScene:
    """A scene ready to render: geometry, camera and, if the source gave one, a size.

    Attributes
    ----------
    scene : Scene
    camera : Camera
    size : (height, width) or None
        From a scene file's ``[image]`` table; ``None`` for meshes and procedural
        scenes, whose callers pick the size (:data:`DEFAULT_SIZE`).
    source : str
        What was loaded, for messages and JSON output.
    """

    scene: Scene
    camera: Camera
    size: tuple[int, int] | None
    source: str


# -- mesh files ---------------------------------------------------------------


def load_mesh(
    path: str | Path,
    *,
    color: Sequence[float] | None = None,
    opacity: float | None = None,
    drop_degenerate: bool = False,
) -> Scene:
    """Read a triangle mesh file into a :class:`Scene`.

    Parameters
    ----------
    path : str or Path
        ``.obj`` (with its ``.mtl``), ``.ply``, ``.stl``, ``.glb``/``.gltf`` or
        ``.off``. Multi-mesh files (OBJ groups by material, glTF node trees) are
        flattened with their node transforms.
    color : sequence of 3 or 4 floats in [0, 1], optional
        Straight RGB(A) for every face instead of the file's colours.
    opacity : float in [0, 1], optional
        Opacity for every face instead of the file's (or ``color``'s) alpha.
    drop_degenerate : bool, default False
        Drop zero-area faces instead of refusing the file.

    Returns
    -------
    Scene
        Per-vertex colours when the file has them (or a texture), else per-face.

    Raises
    ------
    lamina.ConfigError
        Missing, unreadable or unsupported file, no triangles, degenerate faces.
    lamina.InputError
        ``color`` or ``opacity`` out of range.

    Examples
    --------
    >>> import tempfile, trimesh
    >>> from lamina.plugins.oit.loaders import load_mesh
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = trimesh.creation.box().export(f"{folder}/box.ply")
    ...     scene = load_mesh(f"{folder}/box.ply", color=(1.0, 0.5, 0.0), opacity=0.4)
    >>> scene.n_triangles, scene.face_colors[0].tolist()
    (12, [1.0, 0.5, 0.0, 0.4])
    """
    source = Path(path)
    override = _override_color(color, opacity)
    suffix = source.suffix.lower()
    if suffix not in MESH_SUFFIXES:
        raise FileError(
            f"unsupported mesh file type {suffix or '(none)'!r}; "
            f"expected one of {', '.join(MESH_SUFFIXES)}",
            file=str(source),
        )
    if not source.is_file():
        raise FileError("mesh file does not exist or is not a file", file=str(source))
    import trimesh

    try:
        with quiet_logger("trimesh"):
            # process=False keeps the file's vertices and faces as they are: merging
            # vertices would blend per-vertex colours across seams.
            loaded = trimesh.load(source, process=False)
            parts = [
                _mesh_to_scene(mesh, override, drop_degenerate, source)
                for mesh in _triangle_meshes(loaded, trimesh)
            ]
    except ConfigError:
        raise
    except Exception as error:  # trimesh's parsers fail in many ways on damaged files
        raise _damaged(source, error) from None
    if not parts:
        raise FileError("the file holds no triangles", file=str(source))
    return parts[0] if len(parts) == 1 else Scene.concatenate(parts)


def _damaged(source: Path, error: Exception) -> FileError:
    """One clear line for a file a parser choked on."""
    if isinstance(error, ModuleNotFoundError | UnicodeDecodeError):
        # trimesh looks for a text-encoding detector when bytes are not UTF-8.
        detail = "bytes that are not text where the format needs text"
    else:
        detail = f"{type(error).__name__}: {error}"
        if len(detail) > _DETAIL_CHARS:
            detail = detail[: _DETAIL_CHARS - 3] + "..."
    kind = source.suffix.lstrip(".").upper()
    return FileError(
        f"not a readable {kind} mesh: the file is truncated, damaged or not in that format "
        f"({detail})",
        file=str(source),
    )


def _override_color(
    color: Sequence[float] | None, opacity: float | None
) -> tuple[np.ndarray | None, float | None]:
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


def _triangle_meshes(loaded: Any, trimesh: Any) -> list[Any]:
    """The triangle meshes in whatever trimesh loaded, with scene-graph transforms."""
    if isinstance(loaded, trimesh.Trimesh):
        return [loaded]
    if isinstance(loaded, trimesh.Scene):
        meshes = []
        for node in loaded.graph.nodes_geometry:
            transform, name = loaded.graph[node]
            geometry = loaded.geometry.get(name)
            if isinstance(geometry, trimesh.Trimesh) and len(geometry.faces):
                placed = geometry.copy()
                placed.apply_transform(transform)
                meshes.append(placed)
        return meshes
    return []


def _mesh_to_scene(
    mesh: Any,
    override: tuple[np.ndarray | None, float | None],
    drop_degenerate: bool,
    source: Path,
) -> Scene:
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    if len(faces) == 0:
        raise FileError("a mesh in the file has no faces", file=str(source))
    if not np.isfinite(vertices).all():
        raise FileError("vertices contain NaN or infinite values", file=str(source))
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise FileError("face indices out of bounds of the vertex list", file=str(source))
    color, opacity = override
    if color is not None:
        per_vertex, rgba = False, np.broadcast_to(color, (len(faces), 4)).copy()
    else:
        per_vertex, rgba = _file_colors(mesh)
    if opacity is not None:
        rgba[:, 3] = opacity
    bad = degenerate_faces(vertices, faces)
    if bad.any():
        if not drop_degenerate:
            raise FileError(
                f"{int(bad.sum())} of {len(faces)} faces are degenerate (zero area); "
                "drop them with drop_degenerate = true (command line: --drop-degenerate)",
                file=str(source),
            )
        faces = faces[~bad]
        if not per_vertex:
            rgba = rgba[~bad]
        if len(faces) == 0:
            raise FileError("every face is degenerate", file=str(source))
    try:
        if per_vertex:
            return Scene(vertices=vertices, faces=faces, vertex_colors=rgba)
        return Scene(vertices=vertices, faces=faces, face_colors=rgba)
    except InputError as error:
        raise FileError(str(error), file=str(source)) from None


def _file_colors(mesh: Any) -> tuple[bool, np.ndarray]:
    """``(per_vertex, rgba)``: the mesh's own colours as straight float RGBA."""
    visual = mesh.visual
    kind = visual.kind
    if kind == "vertex":
        return True, np.asarray(visual.vertex_colors, dtype=np.float64)[:, :4] / 255.0
    if kind == "face":
        return False, np.asarray(visual.face_colors, dtype=np.float64)[:, :4] / 255.0
    if kind == "texture":
        material = visual.material
        rgba = _material_rgba(material)
        if _has_texture(material) and getattr(visual, "uv", None) is not None:
            colors = np.asarray(visual.to_color().vertex_colors, dtype=np.float64) / 255.0
            if colors.ndim == 2 and len(colors) == len(mesh.vertices):
                # glTF multiplies the texture by baseColorFactor; an OBJ texture replaces
                # Kd, but the material's opacity still applies.
                pbr = getattr(material, "baseColorFactor", None) is not None
                return True, colors[:, :4] * (rgba if pbr else np.array([1.0, 1.0, 1.0, rgba[3]]))
        return False, np.tile(rgba, (len(mesh.faces), 1))
    return False, np.tile(DEFAULT_COLOR, (len(mesh.faces), 1))


def _has_texture(material: Any) -> bool:
    return (
        getattr(material, "image", None) is not None
        or getattr(material, "baseColorTexture", None) is not None
    )


def _material_rgba(material: Any) -> np.ndarray:
    """Straight RGBA of a trimesh material: glTF ``baseColorFactor`` (alpha only when
    ``alphaMode`` is BLEND or MASK, as glTF says), or OBJ ``Kd`` with ``d`` / ``Tr``."""
    factor = getattr(material, "baseColorFactor", None)
    if factor is not None:
        rgba = np.asarray(factor, dtype=np.float64)[:4] / 255.0
        if getattr(material, "alphaMode", None) not in ("BLEND", "MASK"):
            rgba[3] = 1.0
        return rgba
    extra = getattr(material, "kwargs", None) or {}
    diffuse = getattr(material, "diffuse", None)
    rgba = np.array(DEFAULT_COLOR)
    if "kd" in extra:  # the .mtl's own floats, before trimesh rounds them to 8 bits
        rgba[:3] = np.asarray(extra["kd"], dtype=np.float64)[:3]
    elif diffuse is not None:
        rgba = np.asarray(diffuse, dtype=np.float64)[:4] / 255.0
    if "d" in extra:
        rgba[3] = float(_first(extra["d"]))
    elif "tr" in extra:
        rgba[3] = 1.0 - float(_first(extra["tr"]))
    return np.clip(rgba, 0.0, 1.0)


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, (list, tuple)) else value


# -- cameras and transforms -----------------------------------------------------


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
    >>> from lamina.plugins.oit.procedural import nested_spheres
    >>> camera = frame_camera(nested_spheres(1, subdivisions=1)[0], direction=(0, 0, 1))
    >>> [round(x, 2) for x in camera.eye]
    [0.0, 0.0, 2.74]
    """
    centre, radius = _bounding_sphere(scene)
    view = np.asarray(direction, dtype=np.float64)
    if view.shape != (3,) or not np.isfinite(view).all() or not np.linalg.norm(view):
        raise InputError(f"direction must be a non-zero 3-vector, got {direction!r}")
    view /= np.linalg.norm(view)
    distance = margin * radius / math.sin(math.radians(fov_y) / 2.0)
    up = (0.0, 1.0, 0.0) if abs(view[1]) < 0.99 else (0.0, 0.0, -1.0)
    eye = centre + distance * view
    near, far = _clip_range(eye, centre, radius, "perspective")
    return Camera.look_at(eye=eye, target=centre, up=up, fov_y=fov_y, near=near, far=far)


def _bounding_sphere(scene: Scene) -> tuple[np.ndarray, float]:
    """Centre of the bounding box and the radius that holds every used vertex."""
    centre = scene.bounds.mean(axis=0)
    used = scene.vertices[np.unique(scene.faces)]
    return centre, max(float(np.linalg.norm(used - centre, axis=1).max()), 1e-9)


def _clip_range(
    eye: np.ndarray, centre: np.ndarray, radius: float, projection: str
) -> tuple[float, float]:
    """Near and far planes that hold the sphere (``centre``, ``radius``) seen from ``eye``,
    with room to spare but no more than that: depth precision follows far / near."""
    distance = float(np.linalg.norm(np.asarray(eye) - centre))
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


def _moved_camera(camera: Camera, matrix: np.ndarray) -> Camera:
    """``camera`` carried along with geometry transformed by ``matrix``."""
    linear = matrix[:3, :3]
    eye = linear @ np.asarray(camera.eye) + matrix[:3, 3]
    target = linear @ np.asarray(camera.target) + matrix[:3, 3]
    up = linear @ np.asarray(camera.up)
    return dataclasses.replace(camera, eye=tuple(eye), target=tuple(target), up=tuple(up))


# -- scene files ------------------------------------------------------------------


class _Locator:
    """Line numbers of keys in a TOML text, for messages (tomllib gives none)."""

    _header = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_.\-]+)\s*\]\]?\s*(#.*)?$")

    def __init__(self, text: str) -> None:
        self.sections: list[tuple[str, int, int]] = []  # (name, occurrence, first line)
        counts: dict[str, int] = {}
        self.lines = text.splitlines()
        self.sections.append(("", 0, 1))
        for number, line in enumerate(self.lines, start=1):
            match = self._header.match(line)
            if match:
                name = match.group(1)
                self.sections.append((name, counts.get(name, 0), number))
                counts[name] = counts.get(name, 0) + 1

    def line(self, section: str, key: str | None = None, index: int = 0) -> int | None:
        """Line of ``key`` in the ``index``-th ``[section]`` (``""``: the top level). A key
        missing from a section gives the section's header line; a top-level key that
        names a table gives the table's header."""
        if not section and key is not None:
            header = self.line(key)
            if header is not None:
                return header
        for position, (name, occurrence, start) in enumerate(self.sections):
            if name != section or occurrence != index:
                continue
            if key is None:
                return start
            end = (
                self.sections[position + 1][2]
                if position + 1 < len(self.sections)
                else len(self.lines) + 1
            )
            pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
            for number in range(start, end):
                if pattern.match(self.lines[number - 1]):
                    return number
            return start if section else None
        return None


class _SceneFile:
    """One scene TOML file being read: raises :class:`ConfigError` with file, key, line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise FileError(f"cannot read scene file: {error}", file=str(path)) from None
        self.locate = _Locator(self.text)

    def error(
        self, message: str, section: str = "", key: str | None = None, index: int = 0
    ) -> FileError:
        line = self.locate.line(section, key, index) if section or key else None
        if section == "mesh":
            name = f"mesh[{index}]" + (f".{key}" if key else "")
        else:
            name = ".".join(part for part in (section, key) if part) or None
        return FileError(message, file=str(self.path), line=line, key=name)

    def parse(self) -> dict[str, Any]:
        try:
            data = tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as error:
            found = re.search(r"line (\d+)", str(error))
            line = int(found.group(1)) if found else None
            if line is None and "end of document" in str(error):
                line = max(len(self.locate.lines), 1)
            raise FileError(f"not valid TOML: {error}", file=str(self.path), line=line) from None
        for key in data:
            if key not in _TOP_KEYS:
                raise self.error(
                    f"unknown table or key {key!r}; expected {', '.join(sorted(_TOP_KEYS))}",
                    key=key,
                )
        return data

    def table(self, data: Mapping[str, Any], section: str, allowed: set[str]) -> dict[str, Any]:
        value = data.get(section, {})
        if not isinstance(value, dict):
            raise self.error(f"[{section}] must be a table", section)
        self.known_keys(value, allowed, section)
        return value

    def known_keys(
        self, table: Mapping[str, Any], allowed: set[str], section: str, index: int = 0
    ) -> None:
        for key in table:
            if key not in allowed:
                raise self.error(
                    f"unknown key {key!r}; expected one of {', '.join(sorted(allowed))}",
                    section,
                    key,
                    index,
                )

    def number(
        self,
        table: Mapping[str, Any],
        key: str,
        section: str,
        index: int = 0,
        *,
        integer: bool = False,
    ) -> float:
        value = table[key]
        kinds = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value):
            expected = "an integer" if integer else "a number"
            raise self.error(f"expected {expected}, got {value!r}", section, key, index)
        return value

    def vector(
        self,
        table: Mapping[str, Any],
        key: str,
        section: str,
        index: int = 0,
        *,
        lengths: tuple[int, ...] = (3,),
        unit: bool = False,
    ) -> np.ndarray:
        value = table[key]
        ok = (
            isinstance(value, list)
            and len(value) in lengths
            and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                for v in value
            )
        )
        if not ok:
            shape = " or ".join(str(n) for n in lengths)
            raise self.error(
                f"expected a list of {shape} numbers, got {value!r}", section, key, index
            )
        array = np.asarray(value, dtype=np.float64)
        if unit and (array.min() < 0.0 or array.max() > 1.0):
            raise self.error(f"values must lie in [0, 1], got {value!r}", section, key, index)
        return array


def load_scene_file(
    path: str | Path, *, opacity: float | None = None, drop_degenerate: bool = False
) -> LoadedScene:
    """Read a scene TOML file.

    The format (every table and key optional except at least one ``[[mesh]]``)::

        [image]
        width = 320                    # pixels; both or neither
        height = 240
        background = [1, 1, 1, 1]      # straight RGB or RGBA in [0, 1]

        [camera]                       # keys left out come from an automatic camera
        eye = [0, 0, 4]
        target = [0, 0, 0]
        up = [0, 1, 0]
        projection = "perspective"     # or "orthographic" (with ortho_height)
        fov_y = 45                     # degrees
        near = 0.1
        far = 100

        [[mesh]]
        path = "shell.obj"             # relative to this file
        color = [0.9, 0.3, 0.1]        # RGB or RGBA: overrides the file's colours
        opacity = 0.4                  # overrides the alpha
        scale = 1.5                    # or [sx, sy, sz]
        rotate = [0, 30, 0]            # degrees about x, then y, then z
        translate = [0, 0.5, 0]
        drop_degenerate = false

        [[mesh]]
        procedural = "stacked_quads"   # a name from lamina.plugins.oit.procedural
        args = { n = 4, partial = true }

    Without ``[camera]``, a file with a single procedural mesh uses that
    generator's camera (moved with the mesh's transform); otherwise an automatic
    camera frames all meshes (:func:`frame_camera`). Faces keep the file's mesh
    order, which breaks depth ties.

    Parameters
    ----------
    path : str or Path
    opacity : float in [0, 1], optional
        Overrides the opacity of every mesh (after the file's own ``opacity``).
    drop_degenerate : bool, default False
        Default for meshes without their own ``drop_degenerate`` key.

    Raises
    ------
    lamina.ConfigError
        Names the file, the key (``mesh[1].rotate``, ``camera.eye``, ...) and its line.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from lamina.plugins.oit.loaders import load_scene_file
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     file = pathlib.Path(folder, "s.toml")
    ...     _ = file.write_text('[image]\\nwidth = 64\\nheight = 48\\n'
    ...                         '[[mesh]]\\nprocedural = "stacked_quads"\\nargs = { n = 3 }\\n')
    ...     loaded = load_scene_file(file)
    >>> loaded.size, loaded.scene.n_triangles
    ((48, 64), 6)
    """
    file = _SceneFile(Path(path))
    data = file.parse()
    image = file.table(data, "image", _IMAGE_KEYS)
    camera_table = file.table(data, "camera", _CAMERA_KEYS)
    meshes = data.get("mesh")
    if meshes is None:
        raise file.error("no [[mesh]] entries: the scene is empty", key="mesh")
    if not isinstance(meshes, list) or not all(isinstance(m, dict) for m in meshes):
        raise file.error("mesh must be an array of tables ([[mesh]])", key="mesh")
    if not meshes:
        raise file.error("no [[mesh]] entries: the scene is empty", key="mesh")

    parts, suggested = [], None
    for index, entry in enumerate(meshes):
        scene, camera = _load_entry(file, entry, index, opacity, drop_degenerate)
        parts.append(scene)
        suggested = camera
    scene = parts[0] if len(parts) == 1 else Scene.concatenate(parts)

    size = None
    if "width" in image or "height" in image:
        for key in ("width", "height"):
            if key not in image:
                raise file.error("give both width and height", "image", key)
            value = file.number(image, key, "image", integer=True)
            if not 1 <= value <= MAX_IMAGE_SIDE:
                raise file.error(
                    f"must be in 1..{MAX_IMAGE_SIDE} (lamina.limits.MAX_IMAGE_SIDE), got {value}",
                    "image",
                    key,
                )
        size = (int(image["height"]), int(image["width"]))
    if "background" in image:
        background = file.vector(image, "background", "image", lengths=(3, 4), unit=True)
        if background.shape == (3,):
            background = np.append(background, 1.0)
        scene = dataclasses.replace(scene, background=tuple(background))

    if len(meshes) > 1 or suggested is None:
        suggested = frame_camera(scene)
    camera = _camera(file, camera_table, suggested, scene)
    return LoadedScene(scene=scene, camera=camera, size=size, source=str(path))


def _load_entry(
    file: _SceneFile,
    entry: Mapping[str, Any],
    index: int,
    opacity: float | None,
    drop_degenerate: bool,
) -> tuple[Scene, Camera | None]:
    """One ``[[mesh]]`` table -> its scene (transformed) and, for a procedural
    entry, the generator's camera moved with it."""
    file.known_keys(entry, _MESH_KEYS, "mesh", index)
    has_path, has_procedural = "path" in entry, "procedural" in entry
    if has_path == has_procedural:
        raise file.error("give exactly one of path and procedural", "mesh", None, index)
    color = (
        file.vector(entry, "color", "mesh", index, lengths=(3, 4), unit=True)
        if ("color" in entry)
        else None
    )
    own_opacity = None
    if "opacity" in entry:
        own_opacity = file.number(entry, "opacity", "mesh", index)
        if not 0.0 <= own_opacity <= 1.0:
            raise file.error(f"must lie in [0, 1], got {own_opacity}", "mesh", "opacity", index)
    drop = entry.get("drop_degenerate", drop_degenerate)
    if not isinstance(drop, bool):
        raise file.error(f"expected true or false, got {drop!r}", "mesh", "drop_degenerate", index)

    camera = None
    if has_path:
        target = entry["path"]
        if not isinstance(target, str) or not target:
            raise file.error(f"expected a file name, got {target!r}", "mesh", "path", index)
        mesh_path = (file.path.parent / target).resolve()
        try:
            scene = load_mesh(mesh_path, color=color, opacity=own_opacity, drop_degenerate=drop)
        except ConfigError as error:
            detail = str(error).removeprefix(f"{mesh_path}: ")
            raise file.error(f"{mesh_path}: {detail}", "mesh", "path", index) from None
    else:
        scene, camera = _procedural_entry(file, entry, index)
        if color is not None or own_opacity is not None:
            scene = _recolored(scene, color, own_opacity)
    if opacity is not None:
        scene = _recolored(scene, None, opacity)

    transform = {}
    for key in ("translate", "rotate"):
        if key in entry:
            transform[key] = file.vector(entry, key, "mesh", index)
    if "scale" in entry:
        value = entry["scale"]
        if isinstance(value, list):
            scale = file.vector(entry, "scale", "mesh", index)
        else:
            scale = file.number(entry, "scale", "mesh", index)
        if np.any(np.asarray(scale) == 0):
            raise file.error("scale must not be zero", "mesh", "scale", index)
        transform["scale"] = scale
    if transform:
        matrix = transform_matrix(**transform)
        scene = scene.transformed(matrix)
        if camera is not None:
            camera = _moved_camera(camera, matrix)
    return scene, camera


def _procedural_entry(
    file: _SceneFile, entry: Mapping[str, Any], index: int
) -> tuple[Scene, Camera]:
    from lamina.plugins.oit.procedural import procedural_scene

    name = entry["procedural"]
    args = entry.get("args", {})
    if not isinstance(name, str):
        raise file.error(f"expected a generator name, got {name!r}", "mesh", "procedural", index)
    if not isinstance(args, dict):
        raise file.error("args must be a table, e.g. { n = 4 }", "mesh", "args", index)
    try:
        return procedural_scene(name, **args)
    except InputError as error:
        key = "procedural" if "no procedural scene" in str(error) else "args"
        raise file.error(str(error), "mesh", key, index) from None


def recolor(
    scene: Scene, *, color: Sequence[float] | None = None, opacity: float | None = None
) -> Scene:
    """``scene`` with every face's colour set to ``color`` (RGB or RGBA in [0, 1]) and/or
    every opacity to ``opacity``; ``InputError`` when they are out of range.

    >>> from lamina.plugins.oit.procedural import torus
    >>> recolor(torus()[0], color=(1, 0.5, 0), opacity=0.3).vertex_colors[0].tolist()
    [1.0, 0.5, 0.0, 0.3]
    """
    rgba, alpha = _override_color(color, opacity)
    if rgba is None and alpha is None:
        return scene
    return _recolored(scene, rgba, alpha)


def fit_depth_range(camera: Camera, scene: Scene) -> Camera:
    """``camera`` with near and far hugging ``scene``'s bounding sphere (for a camera
    moved by hand: depth precision follows far / near)."""
    centre, radius = _bounding_sphere(scene)
    near, far = _clip_range(np.asarray(camera.eye), centre, radius, camera.projection)
    return dataclasses.replace(camera, near=near, far=far)


def _recolored(scene: Scene, color: np.ndarray | None, opacity: float | None) -> Scene:
    """``scene`` with every colour set to ``color`` and/or every alpha to ``opacity``."""
    key = "vertex_colors" if scene.vertex_colors is not None else "face_colors"
    rgba = np.array(getattr(scene, key))
    if color is not None:
        rgba[:, : len(color)] = color
        if len(color) == 3:
            rgba[:, 3] = 1.0
    if opacity is not None:
        rgba[:, 3] = opacity
    return dataclasses.replace(scene, **{key: rgba})


def _camera(file: _SceneFile, table: Mapping[str, Any], suggested: Camera, scene: Scene) -> Camera:
    values: dict[str, Any] = {}
    for key in ("eye", "target", "up"):
        if key in table:
            values[key] = tuple(file.vector(table, key, "camera"))
    for key in ("fov_y", "ortho_height", "near", "far"):
        if key in table:
            values[key] = float(file.number(table, key, "camera"))
    if "projection" in table:
        projection = table["projection"]
        if projection not in ("perspective", "orthographic"):
            raise file.error(
                f"expected 'perspective' or 'orthographic', got {projection!r}",
                "camera",
                "projection",
            )
        values["projection"] = projection
    if values.get("projection") == "orthographic" and "ortho_height" not in values:
        # Frame the target plane exactly as the suggested perspective camera does.
        distance = float(np.linalg.norm(np.subtract(suggested.eye, suggested.target)))
        values["ortho_height"] = 2.0 * distance * math.tan(math.radians(suggested.fov_y) / 2.0)
    moved = any(key in values for key in ("eye", "target", "projection"))
    if moved and "near" not in values and "far" not in values:
        # The suggested clipping range was made for the suggested eye: fit it to this one.
        centre, radius = _bounding_sphere(scene)
        eye = np.asarray(values.get("eye", suggested.eye))
        projection = values.get("projection", suggested.projection)
        values["near"], values["far"] = _clip_range(eye, centre, radius, projection)
    try:
        return dataclasses.replace(suggested, **values)
    except InputError as error:
        key = next((k for k in values if k in str(error)), None)
        raise file.error(str(error), "camera", key) from None


# -- one entry point ----------------------------------------------------------------


def load(
    spec: str | Path, *, opacity: float | None = None, drop_degenerate: bool = False
) -> LoadedScene:
    """Load what ``lamina render SCENE`` names: a mesh file, a ``.toml`` scene file, or
    ``procedural:NAME[:N]`` (``N`` is the generator's ``n``).

    Parameters
    ----------
    spec : str or Path
    opacity : float in [0, 1], optional
        Overrides the opacity of every face.
    drop_degenerate : bool, default False
        Drop zero-area faces of mesh files instead of refusing them (the default
        for a scene file's meshes without their own ``drop_degenerate`` key).

    Examples
    --------
    >>> from lamina.plugins.oit.loaders import load
    >>> loaded = load("procedural:nested_spheres:2")
    >>> loaded.scene.n_triangles, loaded.size
    (2560, None)
    """
    text = str(spec)
    if opacity is not None:
        _override_color(None, opacity)
    if text.startswith(_PROCEDURAL_PREFIX):
        scene, camera = _procedural_spec(text)
        if opacity is not None:
            scene = _recolored(scene, None, opacity)
        return LoadedScene(scene=scene, camera=camera, size=None, source=text)
    path = Path(text)
    if path.suffix.lower() == ".toml":
        if not path.is_file():
            raise FileError("scene file does not exist or is not a file", file=text)
        return load_scene_file(path, opacity=opacity, drop_degenerate=drop_degenerate)
    if path.suffix.lower() not in MESH_SUFFIXES:
        raise FileError(
            f"unsupported scene {path.suffix or '(no file type)'!r}: expected a .toml scene "
            f"file, a mesh ({', '.join(MESH_SUFFIXES)}) or procedural:NAME[:N]",
            file=text,
        )
    scene = load_mesh(path, opacity=opacity, drop_degenerate=drop_degenerate)
    return LoadedScene(scene=scene, camera=frame_camera(scene), size=None, source=text)


def _procedural_spec(text: str) -> tuple[Scene, Camera]:
    from lamina.plugins.oit.procedural import procedural_scene

    name, _, count = text.removeprefix(_PROCEDURAL_PREFIX).partition(":")
    kwargs: dict[str, Any] = {}
    if count:
        try:
            kwargs["n"] = int(count)
        except ValueError:
            raise InputError(
                f"scene {text!r}: N must be an integer, as in procedural:stacked_quads:16"
            ) from None
    return procedural_scene(name, **kwargs)
