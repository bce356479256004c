"""Scenes by name: scene TOML files, mesh files and procedural generators.

:func:`load` is what ``lamina render SCENE`` calls. ``SCENE`` is one of

- a mesh file read by :mod:`trimesh` (``.obj``, ``.ply``, ``.stl``, ``.glb``,
  ``.gltf``, ``.off``; :mod:`lamina.scene.meshes`), framed by an automatic camera;
- a scene file (``.toml``) with meshes, transforms, colours, a camera and an
  image size, described in :func:`load_scene_file`;
- ``procedural:NAME[:N]``, a generator of :mod:`lamina.scene.procedural`.

Every problem with a file raises :class:`~lamina.scene.meshes.FileError` (a
:class:`lamina.ConfigError`) naming the file, and the key and line where there is one.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lamina.errors import ConfigError, InputError
from lamina.limits import MAX_IMAGE_SIDE
from lamina.scene.camera import (
    depth_range,
    frame_camera,
    moved_camera,
    transform_matrix,
)
from lamina.scene.colors import color_override, recolored
from lamina.scene.core import Camera, Scene, check_coordinates, lengths
from lamina.scene.lighting import parse_lights
from lamina.scene.meshes import MESH_SUFFIXES, FileError, load_mesh, read_mesh
from lamina.tomlfile import TomlFile

__all__ = ["DEFAULT_SIZE", "LoadedScene", "load", "load_scene_file"]

#: (height, width) used when neither the scene nor the caller gives a size.
DEFAULT_SIZE = (480, 640)

_PROCEDURAL_PREFIX = "procedural:"

_TOP_KEYS = {"camera", "image", "lighting", "mesh"}
_CAMERA_KEYS = {"eye", "target", "up", "projection", "fov_y", "ortho_height", "near", "far"}
_IMAGE_KEYS = {"width", "height", "background"}
_LIGHTING_KEYS = {"light", "edge_opacity"}
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
    lights : tuple of str
        A scene file's ``[lighting]`` ``light`` specs (:func:`~lamina.scene.lighting.parse_lights`);
        empty when it gives none. Lighting depends on the camera, so it is applied
        per frame by the caller, not baked in here.
    edge_opacity : float or None
        A scene file's ``[lighting]`` ``edge_opacity``.
    normals : (V, 3) array or None
        A mesh file's own vertex normals (:func:`~lamina.scene.meshes.read_mesh`), for
        :func:`~lamina.scene.lighting.shade`; None for scene files and procedural
        scenes, whose normals are computed.
    """

    scene: Scene
    camera: Camera
    size: tuple[int, int] | None
    source: str
    lights: tuple[str, ...] = ()
    edge_opacity: float | None = None
    normals: np.ndarray | None = field(default=None, compare=False)


class _SceneFile:
    """One scene TOML file being read: raises :class:`FileError` with file, key, line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.toml = TomlFile.read(path, what="scene file", error_type=FileError)

    def error(
        self, message: str, section: str = "", key: str | None = None, index: int = 0
    ) -> FileError:
        """A FileError at ``key`` of the ``index``-th ``[section]`` (``""``: the top level;
        a top-level key the file lacks has no line)."""
        line = None
        if section or (key is not None and key in self.toml.data):
            dotted = ".".join(part for part in (section, key) if part)
            line = self.toml.line(dotted, occurrence=index)
        name: str | None
        if section == "mesh":
            name = f"mesh[{index}]" + (f".{key}" if key else "")
        else:
            name = ".".join(part for part in (section, key) if part) or None
        return FileError(message, file=str(self.path), line=line, key=name)

    def parse(self) -> dict[str, Any]:
        data = self.toml.data
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
        if unit and (array.min() < 0.0 or array.max() > 1.0):  # colours: their own bound
            raise self.error(f"values must lie in [0, 1], got {value!r}", section, key, index)
        try:
            check_coordinates(array, key)  # before any arithmetic can overflow
        except InputError as error:
            raise self.error(str(error), section, key, index) from None
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

        [lighting]                     # lamina render's defaults for --light, --edge-opacity
        light = ["1, 1, 1:0.8", "0, -1, 0"]  # or "headlight", or "none" (the default)
        edge_opacity = 0.5             # surfaces seen edge-on more opaque, in [0, 1]

        [[mesh]]
        path = "shell.obj"             # relative to this file
        color = [0.9, 0.3, 0.1]        # RGB or RGBA: overrides the file's colours
        opacity = 0.4                  # overrides the alpha
        scale = 1.5                    # or [sx, sy, sz]
        rotate = [0, 30, 0]            # degrees about x, then y, then z
        translate = [0, 0.5, 0]
        drop_degenerate = false

        [[mesh]]
        procedural = "stacked_quads"   # a name from lamina.scene.procedural
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
    >>> from lamina.scene.files import load_scene_file
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
    lights, edge_opacity = _lighting(file, file.table(data, "lighting", _LIGHTING_KEYS))
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
        try:
            suggested = frame_camera(scene)
        except InputError:
            # a mesh too large for the automatic camera, placed by hand: the table's
            # eye and target stand, with the defaults of a look-at camera
            if not {"eye", "target"} <= camera_table.keys():
                raise
            suggested = Camera.look_at(eye=(0.0, 0.0, 1.0), target=(0.0, 0.0, 0.0))
    camera = _camera(file, camera_table, suggested, scene)
    return LoadedScene(
        scene=scene,
        camera=camera,
        size=size,
        source=str(path),
        lights=lights,
        edge_opacity=edge_opacity,
    )


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
            scene = recolored(scene, color, own_opacity)
    if opacity is not None:
        scene = recolored(scene, None, opacity)

    transform: dict[str, Any] = {}
    for key in ("translate", "rotate"):
        if key in entry:
            transform[key] = file.vector(entry, key, "mesh", index)
    if "scale" in entry:
        value = entry["scale"]
        scale: np.ndarray | float
        if isinstance(value, list):
            scale = file.vector(entry, "scale", "mesh", index)
        else:
            scale = file.number(entry, "scale", "mesh", index)
        if np.any(np.asarray(scale) == 0):
            raise file.error("scale must not be zero", "mesh", "scale", index)
        transform["scale"] = scale
    if transform:
        matrix = transform_matrix(**transform)
        try:
            scene = scene.transformed(matrix)
            if camera is not None:
                camera = moved_camera(camera, matrix)
        except InputError as error:
            # Scale, then translation, then rotation: the first the file gives is the
            # likeliest to have carried the mesh out (rotations at most by sqrt(3)).
            key = next(k for k in ("scale", "translate", "rotate") if k in transform)
            raise file.error(
                f"after the transform ({', '.join(transform)}): {error}", "mesh", key, index
            ) from None
    return scene, camera


def _procedural_entry(
    file: _SceneFile, entry: Mapping[str, Any], index: int
) -> tuple[Scene, Camera]:
    from lamina.scene.procedural import procedural_scene

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


def _lighting(file: _SceneFile, table: Mapping[str, Any]) -> tuple[tuple[str, ...], float | None]:
    """The ``[lighting]`` table's light specs and edge opacity, checked as ``lamina render``
    checks ``--light`` and ``--edge-opacity``."""
    edge_opacity = None
    if "edge_opacity" in table:
        edge_opacity = float(file.number(table, "edge_opacity", "lighting"))
        if not 0.0 <= edge_opacity <= 1.0:
            raise file.error(f"must lie in [0, 1], got {edge_opacity}", "lighting", "edge_opacity")
    lights: tuple[str, ...] = ()
    if "light" in table:
        value = table["light"]
        specs = [value] if isinstance(value, str) else value
        if not isinstance(specs, list) or not specs or not all(isinstance(s, str) for s in specs):
            raise file.error(
                'expected "none", "headlight" or a list of "X,Y,Z[:INTENSITY]" strings, '
                f"got {value!r}",
                "lighting",
                "light",
            )
        lights = tuple(specs)
        try:
            parse_lights(lights, edge_opacity=edge_opacity or 0.0)
        except InputError as error:
            raise file.error(str(error), "lighting", "light") from None
    return lights, edge_opacity


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
        distance = float(lengths(np.subtract(suggested.eye, suggested.target)))
        values["ortho_height"] = 2.0 * distance * math.tan(math.radians(suggested.fov_y) / 2.0)
    moved = any(key in values for key in ("eye", "target", "projection"))
    try:
        if moved and "near" not in values and "far" not in values:
            # The suggested clipping range was made for the suggested eye: fit it to this.
            eye = np.asarray(values.get("eye", suggested.eye))
            projection = values.get("projection", suggested.projection)
            values["near"], values["far"] = depth_range(eye, scene, projection)
        return dataclasses.replace(suggested, **values)
    except InputError as error:
        named = next((k for k in values if k in str(error)), None)
        raise file.error(str(error), "camera", named) from None


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
    >>> from lamina.scene.files import load
    >>> loaded = load("procedural:nested_spheres:2")
    >>> loaded.scene.n_triangles, loaded.size
    (2560, None)
    """
    text = str(spec)
    if opacity is not None:
        color_override(None, opacity)
    if text.startswith(_PROCEDURAL_PREFIX):
        scene, camera = _procedural_spec(text)
        if opacity is not None:
            scene = recolored(scene, None, opacity)
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
    scene, normals = read_mesh(path, opacity=opacity, drop_degenerate=drop_degenerate)
    return LoadedScene(
        scene=scene, camera=frame_camera(scene), size=None, source=text, normals=normals
    )


def _procedural_spec(text: str) -> tuple[Scene, Camera]:
    from lamina.scene.procedural import procedural_scene

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
