"""Polygons of mesh files that trimesh's triangle fans would draw wrongly.

trimesh reads an OBJ, PLY or OFF face of more than three vertices as the fan of
triangles from its first vertex, ``(0, i, i + 1)``. That is right for a convex
polygon, and for any polygon whose first vertex sees all the others, but a
concave polygon starting elsewhere gets triangles outside it (an L-shaped face
with a notch filled in). lamina refuses such a file, naming the face, instead of
drawing shapes the file does not hold: trimesh reorders faces (triangles, then
quads, then larger polygons) and renumbers OBJ vertices, so the triangles of one
polygon cannot be replaced by a correct triangulation without reimplementing its
readers; one export with triangulated faces fixes the file.

A polygon that is not planar has no single right triangulation; its fan is
accepted when every fan triangle turns the polygon's way about its Newell
normal (the polygon, seen along that normal, is star-shaped about its first
vertex), which is the same test.
"""

from __future__ import annotations

import itertools
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FAN_AREA_TOLERANCE",
    "FAN_TOLERANCE",
    "file_polygons",
    "source_faces",
    "wrong_fan",
    "wrong_fans",
]

#: A fan triangle may turn against its polygon by this much (sine of the angle at the
#: first vertex) and still count as collinear: rounding, not a notch. Collinear fan
#: triangles are degenerate faces, which the mesh checks handle on their own.
FAN_TOLERANCE = 1e-9

#: A fan triangle turned against its polygon whose area is under this share of the
#: polygon's is rounding too: a vertex on an edge (a T-junction, common in CAD and
#: Blender n-gons) next to the first vertex makes a sliver of no area whose sine
#: rounding to %.6f text or float32 throws far past ``FAN_TOLERANCE``.
FAN_AREA_TOLERANCE = 1e-6

#: An OBJ face line with at least four vertex references (the only ones fanned).
_OBJ_POLYGON = re.compile(rb"^[ \t]*f(?:[ \t]+[^ \t\r\n#]+){4}", re.MULTILINE)
_OBJ_VERTEX = re.compile(rb"^[ \t]*v[ \t]+(\S+)[ \t]+(\S+)[ \t]+(\S+)", re.MULTILINE)
_OBJ_FACE = re.compile(rb"^[ \t]*f[ \t]+([^\r\n#]*)", re.MULTILINE)

#: Polygons of one size: vertex indices (n, k) and where each is in the file.
Group = tuple[np.ndarray, np.ndarray]


def wrong_fans(vertices: np.ndarray, polygons: np.ndarray) -> np.ndarray:
    """For polygons of one size (``polygons`` (n, k), indices into ``vertices``), True
    where the fan from the first vertex is not a triangulation of the polygon.

    >>> square = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], float)
    >>> wrong_fans(square, np.array([[0, 1, 2, 3]])).tolist()
    [False]
    >>> dart = np.array([[0, 0, 0], [2, 1, 0], [0, 2, 0], [1, 1, 0]], float)
    >>> wrong_fans(dart, np.array([[0, 1, 2, 3], [3, 0, 1, 2]])).tolist()  # notch covered
    [True, False]
    """
    points = vertices[polygons]  # (n, k, 3)
    points = points - points.mean(axis=1, keepdims=True)  # rounding relative to size
    normal = np.cross(points, np.roll(points, -1, axis=1)).sum(axis=1)  # Newell
    spokes = points[:, 1:] - points[:, :1]  # first vertex to each other vertex
    turns = np.einsum("nij,nj->ni", np.cross(spokes[:, :-1], spokes[:, 1:]), normal)
    length = np.linalg.norm(normal, axis=1)  # twice the polygon's area
    spans = np.linalg.norm(spokes, axis=2)
    scale = spans[:, :-1] * spans[:, 1:] * length[:, None]
    # turns / length is twice a wedge's area and length twice the polygon's
    scale = np.maximum(scale, FAN_AREA_TOLERANCE / FAN_TOLERANCE * length[:, None] ** 2)
    wrong = (turns < -FAN_TOLERANCE * scale).any(axis=1)
    # The wedges' angles at the first vertex add up to its interior angle, under a
    # full turn for a simple polygon: more is a polygon winding round it twice.
    dots = np.einsum("nij,nij->ni", spokes[:, :-1], spokes[:, 1:])
    swept = np.arctan2(turns / np.maximum(length, 1e-300)[:, None], dots).sum(axis=1)
    wrong |= swept > 2 * np.pi - 1e-9
    return wrong & (length > 0)  # a polygon of no area: degenerate faces, refused so


def file_polygons(source: Path, loaded: Any) -> tuple[np.ndarray, list[Group], str]:
    """The vertex positions and the faces of more than three vertices, grouped by size,
    of an OBJ, PLY or OFF file trimesh loaded as ``loaded`` (none for other formats),
    with what locates a face: ``"line"`` (an OBJ face's index among the face lines) or
    ``"face"`` (its index among the file's faces)."""
    suffix = source.suffix.lower()
    if suffix == ".obj":
        return (*_obj_polygons(source.read_bytes()), "line")
    raw = getattr(loaded, "metadata", {}).get("_ply_raw")
    if suffix == ".ply" and isinstance(raw, dict):
        return (*_ply_polygons(raw), "face")
    if suffix == ".off":
        return (*_off_polygons(source.read_bytes()), "face")
    return np.zeros((0, 3)), [], "face"


def wrong_fan(source: Path, loaded: Any) -> tuple[str, int | None] | None:
    """``(message, line)`` for the first polygon of ``source`` that trimesh's fan draws
    wrongly (see the module notes), or None when every polygon's fan is right."""
    vertices, groups, locator = file_polygons(source, loaded)
    first: tuple[int, int] | None = None  # (where in the file, size)
    for polygons, places in groups:
        # Indices out of range are trimesh's to refuse (or the mesh checks').
        fine = ((polygons >= 0) & (polygons < len(vertices))).all(axis=1)
        wrong = np.zeros(len(polygons), dtype=bool)
        wrong[fine] = wrong_fans(vertices, polygons[fine])
        if wrong.any():
            place = int(places[wrong].min())
            if first is None or place < first[0]:
                first = (place, polygons.shape[1])
    if first is None:
        return None
    place, size = first
    message = (
        f"a face of {size} vertices is concave (or crosses itself) and its fan of "
        "triangles from its first vertex, which is how lamina's mesh reader (trimesh) "
        "splits polygons, would cover area outside it; triangulate the mesh before "
        "loading it (e.g. Blender: Face > Triangulate Faces), or start that face at a "
        "vertex that sees all the others"
    )
    if locator == "line":
        return message, _obj_line(source.read_bytes(), place)
    return f"face {place}: {message}", None


def _grouped(rows: list[np.ndarray], places: np.ndarray) -> list[Group]:
    sizes = np.array([len(row) for row in rows], dtype=np.int64)
    return [
        (np.stack([rows[i] for i in np.flatnonzero(sizes == k)]), places[sizes == k])
        for k in np.unique(sizes[sizes > 3])
    ]


def _obj_polygons(data: bytes) -> tuple[np.ndarray, list[Group]]:
    """Faces are located by their index among the file's face lines (``f``), which
    :func:`_obj_line` turns into a line number for the one refused."""
    if _OBJ_POLYGON.search(data) is None:  # triangles only: nothing to parse
        return np.zeros((0, 3)), []
    # findall and one C parse: no Python work per vertex (files of millions)
    found = _OBJ_VERTEX.findall(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # numpy warns of text that is not a number
            vertices = np.fromstring(b" ".join(itertools.chain.from_iterable(found)), sep=" ")
    except (ValueError, DeprecationWarning):  # trimesh's own parse reports the damage
        return np.zeros((0, 3)), []
    vertices = vertices.reshape(-1, 3)
    lines = [line.split() for line in _OBJ_FACE.findall(data)]
    groups = []
    for k in sorted({len(words) for words in lines if len(words) > 3}):
        ordinals = np.array([i for i, words in enumerate(lines) if len(words) == k])
        words = np.array([lines[i] for i in ordinals], dtype=np.bytes_)
        try:
            refs = np.char.partition(words, b"/")[..., 0].astype(np.int64)
        except ValueError:
            continue  # trimesh's own parse decides what such lines mean
        if (refs < 0).any():  # relative to the vertices read so far: count them
            starts = np.array([m.start() for m in _OBJ_VERTEX.finditer(data)])
            offsets = np.array([m.start() for m in _OBJ_FACE.finditer(data)])[ordinals]
            count = np.searchsorted(starts, offsets)[:, None]
            refs = np.where(refs > 0, refs - 1, count + refs)
        else:
            refs -= 1
        groups.append((refs, ordinals))
    return vertices, groups


def _obj_line(data: bytes, ordinal: int) -> int:
    """The line number of the ``ordinal``-th face line (from 0) of an OBJ file."""
    match = next(itertools.islice(_OBJ_FACE.finditer(data), ordinal, None))
    return data.count(b"\n", 0, match.start()) + 1


def _fields(element: Any) -> Any:
    """The property names of a PLY element as trimesh keeps it: a dict of columns
    (ASCII) or an array with one record per row (binary)."""
    if isinstance(element, dict):
        return element.keys()
    return getattr(getattr(element, "dtype", None), "names", None) or ()


def _ply_face_lists(raw: Any) -> list[np.ndarray] | None:
    """The vertex lists of a PLY's faces as trimesh keeps them: a table (one size, ASCII),
    rows of differing lengths, or a binary file's records of (count, indices)."""
    face = raw.get("face", {}).get("data") if isinstance(raw, dict) else None
    name = next((n for n in ("vertex_indices", "vertex_index") if n in _fields(face)), None)
    if face is None or name is None:
        return None
    lists = face[name]
    if isinstance(lists, np.ndarray) and lists.dtype.names:  # binary: (count, indices)
        lists = lists[lists.dtype.names[-1]]
    return [np.asarray(row, np.int64).reshape(-1) for row in lists]


def _ply_polygons(raw: dict[str, Any]) -> tuple[np.ndarray, list[Group]]:
    vertex = raw.get("vertex", {}).get("data")
    rows = _ply_face_lists(raw)
    if rows is None or not all(axis in _fields(vertex) for axis in "xyz"):
        return np.zeros((0, 3)), []
    vertices = np.column_stack([np.asarray(vertex[axis], np.float64) for axis in "xyz"])
    return vertices, _grouped(rows, np.arange(len(rows)))


def _off_polygons(data: bytes) -> tuple[np.ndarray, list[Group]]:
    """As trimesh's OFF reader splits the file: comments stripped, the counts, then one
    vertex and one face per non-empty line."""
    from trimesh.util import comment_strip, decode_text

    text = comment_strip(decode_text(data)).strip()
    parts = re.split("(COFF|OFF)", text, maxsplit=1)
    if len(parts) != 3:
        return np.zeros((0, 3)), []
    lines = [line.strip() for line in parts[2].splitlines() if line.strip()]
    try:
        n_vertices, n_faces = (int(v) for v in lines[0].split()[:2])
        vertices = np.array(
            [line.split()[:3] for line in lines[1 : n_vertices + 1]], dtype=np.float64
        ).reshape(n_vertices, 3)
        faces = [line.split() for line in lines[n_vertices + 1 : n_vertices + n_faces + 1]]
        rows = [np.array(face[1 : int(face[0]) + 1], dtype=np.int64) for face in faces]
    except (IndexError, ValueError):
        return np.zeros((0, 3)), []  # trimesh's own parse reports the damage
    return vertices, _grouped(rows, np.arange(len(rows)))


def source_faces(loaded: Any, triangles: np.ndarray) -> np.ndarray | None:
    """For a PLY file trimesh loaded as ``loaded``, the index of the file's face that each
    of ``triangles`` (trimesh's faces, (T, 3)) was cut from, or None (not a PLY, or a
    triangle no face of the file holds). trimesh gives per-face colours one row per
    face of the file, not per triangle, and orders its triangles by polygon size, so the
    colours of polygon faces are matched to triangles by their vertices.

    >>> raw = {"face": {"data": {"vertex_indices": np.array([[0, 1, 2, 3]])}}}
    >>> loaded = type("Loaded", (), {"metadata": {"_ply_raw": raw}})()
    >>> source_faces(loaded, np.array([[0, 1, 2], [2, 3, 0]])).tolist()
    [0, 0]
    """
    rows = _ply_face_lists(getattr(loaded, "metadata", {}).get("_ply_raw"))
    if rows is None:
        return None
    # Every fan triangle of every face (a quad's two halves are fan triangles too).
    fans = [
        (np.stack([np.repeat(row[0], len(row) - 2), row[1:-1], row[2:]], axis=1), index)
        for index, row in enumerate(rows)
        if len(row) >= 3
    ]
    if not fans:
        return None
    corners = np.concatenate([fan for fan, _ in fans])
    owner = np.concatenate([np.full(len(fan), index) for fan, index in fans])
    # Each triangle's corners rotated to start at its smallest index: a key that keeps
    # its orientation (a face and its reversed twin, as double-sided sheets have, differ).
    both = np.concatenate([corners, np.asarray(triangles, np.int64)])
    start = np.argmin(both, axis=1)[:, None]
    keys = np.take_along_axis(both, (start + np.arange(3)) % 3, axis=1)
    _, group = np.unique(keys, axis=0, return_inverse=True)
    group = group.reshape(-1)
    first_owner = np.full(group.max() + 1, -1, dtype=np.int64)
    first_owner[group[: len(owner)][::-1]] = owner[::-1]  # the first face with that triangle
    found = first_owner[group[len(owner) :]]
    return None if (found < 0).any() else found
