"""Polygon mends from the round-18 review: n-gons with a vertex on an edge next to
their first vertex (a T-junction), as CAD and Blender write them, were refused as
concave once their coordinates were rounded in the file (%.6f text, float32);
``source_faces`` took 16 CPU-s on a 500k-quad PLY. Each case failed before its fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from lamina.scene.polygons import FAN_AREA_TOLERANCE, source_faces, wrong_fans

ROUNDINGS = {
    "text %.6f": lambda p: np.array([[float(f"{c:.6f}") for c in row] for row in p]),
    "float32": lambda p: p.astype(np.float32).astype(np.float64),
}


def _t_junction(rng: np.random.Generator, notch: float = 0.0) -> np.ndarray:
    """A rectangle with an extra vertex on its first edge, rotated and moved; with
    ``notch`` that vertex is pushed inwards by ``notch`` times the rectangle's height,
    a real notch next to the first vertex that the fan covers."""
    w, h = rng.uniform(0.5, 2, 2)
    t = rng.uniform(0.2, 0.8)
    flat = np.array([[0, 0], [t * w, notch * h], [w, 0], [w, h], [0, h]])
    placed = np.column_stack([flat, np.zeros(5)])
    return Rotation.random(random_state=rng).apply(placed) + rng.normal(size=3)


@pytest.mark.parametrize("rounding", sorted(ROUNDINGS))
@pytest.mark.parametrize("seed", range(4))  # widen: 0-50
def test_a_rounded_t_junction_n_gon_is_accepted(rounding: str, seed: int) -> None:
    # 485 and 495 of 1000 were refused with FAN_TOLERANCE alone
    rng = np.random.default_rng(seed)
    polygons = np.stack([ROUNDINGS[rounding](_t_junction(rng)) for _ in range(250)])
    faces = np.arange(5)[None].repeat(len(polygons), 0) + 5 * np.arange(len(polygons))[:, None]
    wrong = wrong_fans(polygons.reshape(-1, 3), faces)
    assert not wrong.any(), int(wrong.sum())


@pytest.mark.parametrize("seed", range(3))
def test_a_notch_larger_than_the_area_tolerance_is_still_refused(seed: int) -> None:
    # the wedge the fan covers outside has area w * notch * h / 2: a notch of 1e-3
    # of the height is 5e-4 of the rectangle, 500 x the tolerance
    rng = np.random.default_rng(seed)
    for rounding in ROUNDINGS.values():
        polygons = np.stack([rounding(_t_junction(rng, notch=1e-3)) for _ in range(100)])
        faces = np.arange(500).reshape(100, 5)
        assert wrong_fans(polygons.reshape(-1, 3), faces).all()
    assert FAN_AREA_TOLERANCE * 500 <= 1e-3 / 2


def test_a_t_junction_obj_written_at_six_decimals_is_not_a_wrong_fan(tmp_path: Path) -> None:
    import trimesh

    from lamina.scene.polygons import wrong_fan

    rng = np.random.default_rng(7)
    lines = []
    for face in range(50):
        lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in _t_junction(rng)]
        lines.append("f " + " ".join(str(5 * face + i + 1) for i in range(5)))
    path = tmp_path / "ngons.obj"
    path.write_text("\n".join(lines) + "\n")
    assert wrong_fan(path, trimesh.load(path, process=False)) is None


def _quads_ply(count: int, seed: int) -> tuple[dict, np.ndarray]:
    """A trimesh-like PLY raw dict of ``count`` quads and triangles (binary layout:
    records of (count, indices)) and the fan triangles in a shuffled order."""
    rng = np.random.default_rng(seed)
    n = 4 * count
    quads = rng.permutation(n)[: 4 * count].reshape(count, 4)
    records = np.zeros(count, dtype=[("count", "u1"), ("vertex_indices", "<i4", (4,))])
    records["count"], records["vertex_indices"] = 4, quads
    raw = {"face": {"data": records}}
    fans = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])
    return raw, fans


@pytest.mark.parametrize("seed", range(3))
def test_source_faces_finds_each_triangles_face(seed: int) -> None:
    raw, fans = _quads_ply(300, seed)
    order = np.random.default_rng(seed).permutation(len(fans))
    # trimesh may start a triangle at any corner; the orientation is kept
    rolled = np.stack([np.roll(t, s) for t, s in zip(fans[order], order % 3, strict=True)])
    loaded = type("Loaded", (), {"metadata": {"_ply_raw": raw}})()
    found = source_faces(loaded, rolled)
    assert found is not None
    np.testing.assert_array_equal(found, order % 300)
    # a reversed triangle (the other side of a sheet) belongs to no face
    assert source_faces(loaded, rolled[:, ::-1]) is None


def _reference_obj_faces(text: str) -> dict[int, list[int]]:
    """An independent, line-by-line reading of an OBJ's polygon faces (four or more
    references): face-line ordinal -> 0-based vertex indices; lines with a reference
    that is not a whole number are left out (trimesh's own parse decides them)."""
    faces, vertices, ordinal = {}, 0, 0
    for line in text.splitlines():
        words = line.split("#")[0].split()
        if words[:1] == ["v"]:
            vertices += 1
        elif words[:1] == ["f"]:
            try:
                refs = [int(word.split("/")[0]) for word in words[1:]]
            except ValueError:
                refs = []
            if len(refs) > 3:
                faces[ordinal] = [r - 1 if r > 0 else vertices + r for r in refs]
            ordinal += 1
    return faces


def _random_obj(rng: np.random.Generator) -> str:
    lines, vertices = [], 0
    for _ in range(60):
        if rng.random() < 0.4 or vertices < 6:
            lines.append("v " + " ".join(f"{c:.4f}" for c in rng.normal(size=3)))
            vertices += 1
            continue
        k = int(rng.integers(3, 8))
        refs = rng.integers(1, vertices + 1, k)
        words = [str(r) if rng.random() < 0.7 else str(r - vertices - 1) for r in refs]
        style = rng.integers(4)
        words = [[w, f"{w}/1", f"{w}//2", f"{w}/3/4"][style] for w in words]
        if rng.random() < 0.05:
            words[int(rng.integers(k))] = ["x", "1.5", "/2", "-"][int(rng.integers(4))]
        gap = [" ", "\t", "  "][int(rng.integers(3))]
        comment = " # note" if rng.random() < 0.1 else ""
        lines.append("f" + gap + gap.join(words) + comment)
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("seed", range(30))  # widen: range(2000)
def test_obj_polygons_match_a_line_by_line_reading(tmp_path: Path, seed: int) -> None:
    from lamina.scene.polygons import file_polygons

    text = _random_obj(np.random.default_rng(seed))
    path = tmp_path / "m.obj"
    path.write_text(text)
    _, groups, locator = file_polygons(path, None)
    got = {
        int(place): row.tolist()
        for rows, places in groups
        for row, place in zip(rows, places, strict=True)
    }
    assert locator == "line" and got == _reference_obj_faces(text)


def test_source_faces_with_faces_of_mixed_sizes() -> None:
    # rows of differing lengths (an ASCII PLY of triangles, quads and hexagons); the
    # last face repeats face 5: a triangle two faces hold goes to the first of them
    rng = np.random.default_rng(3)
    rows = [rng.permutation(5000)[: rng.integers(3, 7)] for _ in range(40)]
    rows.append(rows[5].copy())
    raw = {"face": {"data": {"vertex_indices": np.array(rows, dtype=object)}}}
    loaded = type("Loaded", (), {"metadata": {"_ply_raw": raw}})()
    triangles, owners = [], []
    for index, row in enumerate(rows):
        for i in range(1, len(row) - 1):
            triangles.append([row[0], row[i], row[i + 1]])
            owners.append(5 if index == 40 else index)
    found = source_faces(loaded, np.array(triangles))
    assert found is not None
    np.testing.assert_array_equal(found, owners)
