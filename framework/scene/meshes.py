"""Triangle mesh files read through :mod:`trimesh` into scenes.

Colours of mesh files come from, in order of preference: per-vertex colours,
per-face colours, the material (OBJ ``Kd`` with ``d``/``Tr`` opacity, glTF
``baseColorFactor`` and texture), else light grey; an explicit ``color`` or
``opacity`` overrides them. Every problem with a file raises :class:`FileError`
naming the file; so does a concave polygon that trimesh's triangle fan would draw
wrongly (:mod:`lamina.scene.polygons`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lamina.errors import ConfigError, InputError
from lamina.io import quiet_logger
from lamina.memory import check_allocation
from lamina.scene.colors import color_override
from lamina.scene.core import Scene, check_vertices, degenerate_faces
from lamina.scene.lighting import check_normals
from lamina.scene.polygons import source_faces, wrong_fan

__all__ = ["DEFAULT_COLOR", "MESH_SUFFIXES", "FileError", "load_mesh", "read_mesh"]

#: File types :func:`load_mesh` reads (through trimesh).
MESH_SUFFIXES = (".obj", ".ply", ".stl", ".glb", ".gltf", ".off")
#: Colour of meshes whose file carries none.
DEFAULT_COLOR = (0.8, 0.8, 0.8, 1.0)
#: Longest parser message quoted in an error (a damaged file can make it huge).
_DETAIL_CHARS = 160
#: Peak bytes of reading a mesh file per byte of the file (trimesh's parse and the
#: Scene), measured with tracemalloc on 5k-20k-triangle spheres: OBJ 6-10, binary
#: STL 10-10.5, ASCII PLY 15, OFF 17, binary PLY 16-18.4, GLB 18.
PARSE_BYTES_PER_FILE_BYTE = 20
_STL_HEADER_BYTES = 84  # 80 bytes of text, then the triangle count (uint32)
_STL_TRIANGLE_BYTES = 50


class FileError(ConfigError, InputError):
    """A mesh or scene file is missing, damaged or invalid: names the file (and the
    key and line where there is one); bad input, so the command line exits 2."""


def load_mesh(
    path: str | Path,
    *,
    color: Sequence[float] | np.ndarray | None = None,
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
    >>> from lamina.scene.files import load_mesh
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = trimesh.creation.box().export(f"{folder}/box.ply")
    ...     scene = load_mesh(f"{folder}/box.ply", color=(1.0, 0.5, 0.0), opacity=0.4)
    >>> scene.n_triangles, scene.face_colors[0].tolist()
    (12, [1.0, 0.5, 0.0, 0.4])
    """
    return read_mesh(path, color=color, opacity=opacity, drop_degenerate=drop_degenerate)[0]


def read_mesh(
    path: str | Path,
    *,
    color: Sequence[float] | np.ndarray | None = None,
    opacity: float | None = None,
    drop_degenerate: bool = False,
) -> tuple[Scene, np.ndarray | None]:
    """:func:`load_mesh`'s scene and the file's own per-vertex normals.

    Returns
    -------
    scene : Scene
    normals : (V, 3) float64 array or None
        The normals the file gives (PLY ``nx ny nz``, OBJ ``vn``, glTF ``NORMAL``), one
        per vertex of ``scene``, for :func:`lamina.scene.lighting.shade`; None when it
        gives none (or only some of its meshes do). Those of vertices no face uses are
        not checked.

    Raises
    ------
    lamina.ConfigError
        As :func:`load_mesh`, and a normal of a used vertex that is zero or not finite.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder, "n.obj")
    ...     _ = path.write_text("v 0 0 0\\nv 1 0 0\\nv 0 1 0\\nvn 0 0 2\\nf 1//1 2//1 3//1\\n")
    ...     scene, normals = read_mesh(path)
    >>> normals.tolist()
    [[0.0, 0.0, 2.0], [0.0, 0.0, 2.0], [0.0, 0.0, 2.0]]
    """
    source = Path(path)
    override = color_override(color, opacity)
    suffix = source.suffix.lower()
    if suffix not in MESH_SUFFIXES:
        raise FileError(
            f"unsupported mesh file type {suffix or '(none)'!r}; "
            f"expected one of {', '.join(MESH_SUFFIXES)}",
            file=str(source),
        )
    if not source.is_file():
        raise FileError("mesh file does not exist or is not a file", file=str(source))
    if suffix == ".stl":
        _check_stl_header(source)
    file_bytes = source.stat().st_size
    check_allocation(
        file_bytes * PARSE_BYTES_PER_FILE_BYTE,
        what=f"reading the {file_bytes:,}-byte mesh file {source}",
        fix="decimate or split the mesh",
    )
    import trimesh

    try:
        # Damaged numbers parse as NaN or inf, which the checks below refuse in one line;
        # numpy's warnings while trimesh converts them would be more lines before it.
        with quiet_logger("trimesh"), np.errstate(all="ignore"):
            # process=False keeps the file's vertices and faces as they are: merging
            # vertices would blend per-vertex colours across seams.
            loaded = trimesh.load(source, process=False)
            raw = getattr(loaded, "metadata", {}).get("_ply_raw")
            if isinstance(raw, dict):
                _check_ascii_ply_integers(source, raw)  # face indices too: on every load
            fan = wrong_fan(source, loaded)
            if fan is not None:
                raise FileError(fan[0], file=str(source), line=fan[1])
            if override[0] is None:
                _check_file_colors(loaded, source)
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
    scenes = [scene for scene, _ in parts]
    scene = scenes[0] if len(scenes) == 1 else Scene.concatenate(scenes)
    normals = [n for _, n in parts if n is not None]
    # Concatenating face- with vertex-coloured meshes gives faces private vertices:
    # the normals would no longer line up, so they are computed then.
    if len(normals) < len(parts) or scene.n_vertices != sum(s.n_vertices for s in scenes):
        return scene, None
    return scene, np.concatenate(normals)


def _check_stl_header(source: Path) -> None:
    """Refuse a binary STL whose triangle count does not match its length (trimesh would
    fall back to reading it as text and report no triangles). A file starting with
    ``solid`` (after a UTF-8 byte order mark, if any) is left to trimesh, which reads it
    as binary when its length matches its count (binary headers may start with that
    word too) and as ASCII otherwise."""
    size = source.stat().st_size
    with source.open("rb") as handle:
        head = handle.read(_STL_HEADER_BYTES)
    text = head.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte order mark, as editors save
    if len(head) < _STL_HEADER_BYTES or text.lstrip().lower().startswith(b"solid"):
        return
    count = int.from_bytes(head[80:84], "little")
    expected = _STL_HEADER_BYTES + _STL_TRIANGLE_BYTES * count
    if size != expected:
        raise FileError(
            f"binary STL header says {count:,} triangles ({expected:,} bytes) but the file "
            f"has {size:,} bytes: it is truncated or damaged",
            file=str(source),
        )


def _check_file_colors(loaded: Any, source: Path) -> None:
    """Refuse float colours outside [0, 1] or not finite, which trimesh clips to 0 or 1
    (NaN to 0) without a word: PLY float colour properties and OBJ vertex colours.
    (Integer PLY colours out of their type's range are refused by
    :func:`_check_ascii_ply_integers`, which runs whether or not colours are overridden.)"""
    columns: dict[str, np.ndarray] = {}
    raw = getattr(loaded, "metadata", {}).get("_ply_raw")
    if isinstance(raw, dict):
        for element in ("vertex", "face"):
            data = raw.get(element, {}).get("data")
            if isinstance(data, dict):
                for channel in ("red", "green", "blue", "alpha"):
                    values = data.get(channel)
                    if isinstance(values, np.ndarray) and values.dtype.kind == "f":
                        columns[f"{element} {channel}"] = values
    elif source.suffix.lower() == ".obj":
        geometries = loaded.geometry.values() if hasattr(loaded, "geometry") else [loaded]
        if any(getattr(getattr(g, "visual", None), "kind", None) == "vertex" for g in geometries):
            columns["vertex colour"] = _obj_vertex_colors(source)
    for name, values in columns.items():
        inside = (values >= 0.0) & (values <= 1.0)
        bad = np.flatnonzero(~inside.all(axis=tuple(range(1, inside.ndim))))
        if len(bad):
            more = f" (and {len(bad) - 1} more rows)" if len(bad) > 1 else ""
            raise FileError(
                f"{name} {values[bad[0]].ravel().tolist()} at row {bad[0]}{more} lies outside "
                "[0, 1] or is not a number; float colours must lie in [0, 1] (0-255 values: "
                "divide by 255)",
                file=str(source),
            )


def _check_ascii_ply_integers(source: Path, raw: dict[str, Any]) -> None:
    """Refuse an ASCII PLY whose integer properties (colours, face indices) hold numbers
    their type cannot: trimesh parses every number as a float and casts, so 300 in a
    ``uchar`` red became 44 and 4294967296 in an ``int`` index 0, silently. Rows are
    split as trimesh splits them (one line per row, elements in header order)."""
    data = source.read_bytes()
    header, found, body = data.partition(b"end_header")
    if not found or b"format ascii" not in header:
        return
    lines = body.decode("utf-8", errors="replace").splitlines()[1:]
    row = 0
    for element, spec in raw.items():
        length = int(spec.get("length", 0))
        rows = [np.array(line.split(), dtype=np.float64) for line in lines[row : row + length]]
        row += length
        if not rows or len({len(r) for r in rows}) != 1:
            continue  # lists of differing lengths: trimesh reads those row by row, uncast
        table, column = np.vstack(rows), 0
        for name, dtype in spec.get("properties", {}).items():
            if "$LIST" in dtype:
                count = int(table[0, column])
                values, dtype = table[:, column + 1 : column + 1 + count], dtype.split(")")[-1]
                column += count + 1
            else:
                values, column = table[:, column], column + 1
            kind = np.dtype(dtype)
            if kind.kind not in "iu" or not values.size:
                continue
            info = np.iinfo(kind)
            bad = (values != np.round(values)) | (values < info.min) | (values > info.max)
            if bad.any():
                first = values[bad].ravel()[0]
                raise FileError(
                    f"{element} property {name!r} ({kind.name}) holds {first:g}, which that "
                    f"type cannot ({info.min}..{info.max}, whole numbers)",
                    file=str(source),
                )


def _obj_vertex_colors(source: Path) -> np.ndarray:
    """The colour columns (5th to 7th numbers) of an OBJ file's ``v`` lines that have
    them, as trimesh reads ``v x y z r g b``, before it clips them."""
    rows = [
        line.split()[4:7]
        for line in source.read_bytes().splitlines()
        if line.startswith((b"v ", b"v\t")) and len(line.split()) >= 7
    ]
    try:
        return np.array(rows, dtype=np.float64).reshape(len(rows), 3)
    except ValueError:  # not numbers: trimesh read no colours from them either
        return np.zeros((0, 3))


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
                placed = geometry.copy(include_cache=True)  # keeps the file's normals
                placed.apply_transform(transform)
                meshes.append(placed)
        return meshes
    return []


def _mesh_to_scene(
    mesh: Any,
    override: tuple[np.ndarray | None, float | None],
    drop_degenerate: bool,
    source: Path,
) -> tuple[Scene, np.ndarray | None]:
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    if len(faces) == 0:
        raise FileError("a mesh in the file has no faces", file=str(source))
    try:
        check_vertices(vertices)  # before any arithmetic on them can overflow
    except InputError as error:
        raise FileError(str(error), file=str(source)) from None
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise FileError("face indices out of bounds of the vertex list", file=str(source))
    color, opacity = override
    if color is not None:
        per_vertex, rgba = False, np.broadcast_to(color, (len(faces), 4)).copy()
    else:
        per_vertex, rgba = _file_colors(mesh)
        if not per_vertex and len(rgba) != len(faces):
            # A PLY's polygon faces: one colour per face of the file, not per triangle.
            owners = source_faces(mesh, faces)
            if owners is None or owners.max() >= len(rgba):
                raise FileError(
                    f"{len(rgba)} face colours for {len(faces)} triangles that cannot be "
                    "matched to the file's faces; triangulate the mesh before loading it",
                    file=str(source),
                )
            rgba = rgba[owners]
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
        scene = Scene(
            vertices=vertices,
            faces=faces,
            face_colors=None if per_vertex else rgba,
            vertex_colors=rgba if per_vertex else None,
        )
    except InputError as error:
        raise FileError(str(error), file=str(source)) from None
    return scene, _file_normals(mesh, faces, source)


def _file_normals(mesh: Any, faces: np.ndarray, source: Path) -> np.ndarray | None:
    """The vertex normals the file gave (trimesh caches them only then; reading
    ``mesh.vertex_normals`` otherwise computes its own), checked on the used vertices."""
    if "vertex_normals" not in mesh._cache:
        return None
    normals = np.asarray(mesh.vertex_normals, dtype=np.float64)
    if normals.shape != (len(mesh.vertices), 3):
        return None
    try:
        check_normals(normals, faces)
    except InputError as error:
        raise FileError(str(error), file=str(source)) from None
    return normals


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
