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
_OBJ_VERTEX = re.compile(rb"^[ \t]*v[ \t]+(\S+[ \t]+\S+[ \t]+\S+)", re.MULTILINE)
_OBJ_FACE = re.compile(rb"^[ \t]*f[ \t]+([^\r\n#]*)", re.MULTILINE)
#: A face line's references: whole numbers, each perhaps with ``/texture/normal``.
_OBJ_REFS = re.compile(rb"[ \t]*(?:[+-]?\d+(?:/[^ \t]*)?[ \t]*)*")
#: What follows a vertex reference: its texture and normal references.
_OBJ_SLASHED = re.compile(rb"(?<=\d)/[^ \t\n]*")

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
    # coordinates first, (3, n, k): each product below is over contiguous rows
    points = np.moveaxis(vertices[polygons], 2, 0)
    points = points - points.mean(axis=2, keepdims=True)  # rounding relative to size
    normal = _cross(points, np.roll(points, -1, axis=2)).sum(axis=2)  # Newell
    spokes = points[:, :, 1:] - points[:, :, :1]  # first vertex to each other vertex
    turns = (_cross(spokes[:, :, :-1], spokes[:, :, 1:]) * normal[:, :, None]).sum(axis=0)
    length = np.sqrt((normal**2).sum(axis=0))  # twice the polygon's area
    spans = np.sqrt((spokes**2).sum(axis=0))
    scale = spans[:, :-1] * spans[:, 1:] * length[:, None]
    # turns / length is twice a wedge's area and length twice the polygon's
    scale = np.maximum(scale, FAN_AREA_TOLERANCE / FAN_TOLERANCE * length[:, None] ** 2)
    wrong = (turns < -FAN_TOLERANCE * scale).any(axis=1)
    # The wedges' angles at the first vertex add up to its interior angle, under a
    # full turn for a simple polygon: more is a polygon winding round it twice.
    dots = (spokes[:, :, :-1] * spokes[:, :, 1:]).sum(axis=0)
    swept = np.arctan2(turns / np.maximum(length, 1e-300)[:, None], dots).sum(axis=1)
    wrong |= swept > 2 * np.pi - 1e-9
    return wrong & (length > 0)  # a polygon of no area: degenerate faces, refused so


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross products of vectors stored coordinates first ((3, ...) arrays)."""
    return np.stack(
        [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
    )


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


def _grouped(rows: list[np.ndarray], places: np.ndarray, *, smallest: int = 4) -> list[Group]:
    """Rows of differing lengths as groups of one size each (``smallest`` and up)."""
    sizes = np.fromiter((len(row) for row in rows), dtype=np.int64, count=len(rows))
    flat = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    return _split(flat, sizes, places, smallest=smallest)


def _split(
    flat: np.ndarray, sizes: np.ndarray, places: np.ndarray, *, smallest: int
) -> list[Group]:
    """Rows laid end to end (``flat``, ``sizes`` each) as groups of one size each
    (``smallest`` and up), by fancy indexing: no Python work per row."""
    starts = np.cumsum(sizes) - sizes
    return [
        (flat[starts[sizes == k][:, None] + np.arange(k)], places[sizes == k])
        for k in np.unique(sizes[sizes >= smallest])
    ]


def _obj_polygons(data: bytes) -> tuple[np.ndarray, list[Group]]:
    """Faces are located by their index among the file's face lines (``f``), which
    :func:`_obj_line` turns into a line number for the one refused."""
    if _OBJ_POLYGON.search(data) is None:  # triangles only: nothing to parse
        return np.zeros((0, 3)), []
    # findall and one C parse: no Python work per vertex or face (files of millions)
    vertices = _numbers(b" ".join(_OBJ_VERTEX.findall(data)), float)
    if vertices is None:  # trimesh's own parse reports the damage
        return np.zeros((0, 3)), []
    vertices = vertices.reshape(-1, 3)
    lines = _OBJ_FACE.findall(data)
    ordinals = np.arange(len(lines))
    refs = _face_refs(lines)
    if refs is None:  # lines that are not whole numbers: trimesh's parse decides them
        kept = [i for i, line in enumerate(lines) if _OBJ_REFS.fullmatch(line)]
        ordinals = np.array(kept, dtype=np.int64)
        refs = _face_refs([lines[i] for i in ordinals])
        if refs is None:
            return vertices, []
    flat, sizes = refs
    if (flat < 0).any():  # relative to the vertices read so far: count them
        starts = np.array([m.start() for m in _OBJ_VERTEX.finditer(data)], dtype=np.int64)
        offsets = np.array([m.start() for m in _OBJ_FACE.finditer(data)])[ordinals]
        count = np.repeat(np.searchsorted(starts, offsets), sizes)
        flat = np.where(flat > 0, flat - 1, count + flat)
    else:
        flat = flat - 1
    return vertices, _split(flat, sizes, ordinals, smallest=4)


#: Ends each face line in the one parse of all of them: int64's least value, which no
#: reference an OBJ reader accepts can be.
_LINE_END = np.iinfo(np.int64).min
#: A sign with no digit after it, which numpy's parse would join to the next number.
_LONE_SIGN = re.compile(rb"[+-](?![0-9])")


def _face_refs(lines: list[bytes]) -> tuple[np.ndarray, np.ndarray] | None:
    """The vertex references of OBJ face lines (before any ``/``), laid end to end,
    and how many each line holds; None where a reference is not a whole number."""
    text = b" %d " % _LINE_END
    text = text.join([*lines, b""])
    if b"/" in text:
        text = _OBJ_SLASHED.sub(b"", text)
    if re.fullmatch(rb"[0-9+\- \t]*", text) is None or _LONE_SIGN.search(text):
        return None
    values = _numbers(text, np.int64)  # integers parse several times faster than floats
    if values is None:
        return None
    ends = np.flatnonzero(values == _LINE_END)
    if len(ends) != len(lines):
        return None
    return values[values != _LINE_END], np.diff(ends, prepend=-1) - 1


def _numbers(text: bytes, dtype: Any) -> np.ndarray | None:
    """The whitespace-separated numbers of ``text`` in one C parse, or None where one
    is not a number (numpy warns of such text and stops)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return np.fromstring(text, dtype=dtype, sep=" ")
    except (ValueError, DeprecationWarning):
        return None


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


def _ply_face_groups(raw: Any, *, smallest: int) -> list[Group] | None:
    """The vertex lists of a PLY's faces of ``smallest`` vertices or more, grouped by
    size, as trimesh keeps them: a table (one size: ASCII, or a binary file's records
    of (count, indices)), or rows of differing lengths; None without faces."""
    face = raw.get("face", {}).get("data") if isinstance(raw, dict) else None
    name = next((n for n in ("vertex_indices", "vertex_index") if n in _fields(face)), None)
    if face is None or name is None:
        return None
    lists = face[name]
    if isinstance(lists, np.ndarray) and lists.dtype.names:  # binary: (count, indices)
        lists = lists[lists.dtype.names[-1]]
    if isinstance(lists, np.ndarray) and lists.ndim == 2 and lists.dtype.kind in "iu":
        table = lists.astype(np.int64)
        return [(table, np.arange(len(table)))] if table.shape[1] >= smallest else []
    rows = [np.asarray(row, np.int64).reshape(-1) for row in lists]
    return _grouped(rows, np.arange(len(rows)), smallest=smallest)


def _ply_polygons(raw: dict[str, Any]) -> tuple[np.ndarray, list[Group]]:
    vertex = raw.get("vertex", {}).get("data")
    groups = _ply_face_groups(raw, smallest=4)
    if groups is None or not all(axis in _fields(vertex) for axis in "xyz"):
        return np.zeros((0, 3)), []
    vertices = np.column_stack([np.asarray(vertex[axis], np.float64) for axis in "xyz"])
    return vertices, groups


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
    groups = _ply_face_groups(getattr(loaded, "metadata", {}).get("_ply_raw"), smallest=3)
    if not groups:
        return None
    # Every fan triangle of every face (a quad's two halves are fan triangles too).
    corners = np.concatenate([_fans(rows) for rows, _ in groups])
    owner = np.concatenate([np.repeat(places, rows.shape[1] - 2) for rows, places in groups])
    triangles = np.asarray(triangles, np.int64).reshape(-1, 3)
    usable = (corners >= 0).all(axis=1)  # a damaged index matches no triangle
    corners, owner = corners[usable], owner[usable]
    if not len(corners) or not len(triangles) or triangles.min() < 0:
        return None
    fan_keys, triangle_keys = _triangle_keys(corners, triangles)
    # The first face (lowest index) holding each triangle: sort by key, then by face.
    order = np.lexsort((owner, fan_keys))
    fan_keys, owner = fan_keys[order], owner[order]
    first = np.ones(len(fan_keys), dtype=bool)
    first[1:] = fan_keys[1:] != fan_keys[:-1]
    keys, owners = fan_keys[first], owner[first]
    at = np.minimum(np.searchsorted(keys, triangle_keys), len(keys) - 1)
    if (keys[at] != triangle_keys).any():
        return None
    return owners[at]


def _fans(rows: np.ndarray) -> np.ndarray:
    """The fan triangles ``(0, i, i + 1)`` of polygons of one size, (n, k) -> (n (k - 2), 3)."""
    first, middle, last = np.broadcast_arrays(rows[:, :1], rows[:, 1:-1], rows[:, 2:])
    return np.stack([first, middle, last], axis=2).reshape(-1, 3)


def _triangle_keys(*triangles: np.ndarray) -> list[np.ndarray]:
    """One int64 key a triangle for each (T, 3) array of non-negative indices, equal
    across them for the same triangle: its corners rotated to start at the smallest,
    which keeps its orientation (a face and its reversed twin, as double-sided sheets
    have, differ), packed 21 bits a corner (or numbered by ``np.unique`` past that)."""
    both = np.concatenate(triangles)
    start = np.argmin(both, axis=1)[:, None]
    rotated = np.take_along_axis(both, (start + np.arange(3)) % 3, axis=1)
    if int(both.max()) < 1 << 21:
        keys = (rotated[:, 0] << 42) | (rotated[:, 1] << 21) | rotated[:, 2]
    else:
        keys = np.unique(rotated, axis=0, return_inverse=True)[1].reshape(-1)
    return np.split(keys, np.cumsum([len(t) for t in triangles])[:-1])
