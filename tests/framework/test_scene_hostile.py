"""Hostile and untested corners of scenes and ``lamina render`` that earlier reviews
left over: an orbit's normals, concave polygons in mesh files, extreme zoom. Each
case failed before its fix."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
import pytest
from click.testing import CliRunner

import lamina
from lamina.cli import main
from lamina.types import Rendering, RenderStats


class Recorder:
    """A renderer that keeps the scene and camera of every frame (no Taichi)."""

    seen: ClassVar[list[tuple[Any, Any]]] = []

    def render(self, scene: Any, camera: Any, size: tuple[int, int]) -> Rendering:
        Recorder.seen.append((scene, camera))
        return Rendering(
            image=np.zeros((*size, 4), np.float32),
            depth_complexity=np.zeros(size, np.int32),
            stats=RenderStats(),
        )


@lamina.hookimpl
def lamina_register_renderers(registry: Any) -> None:
    registry.add("recorder", Recorder, summary="Keeps what it is asked to render (a test).")


@pytest.fixture
def recorder() -> Any:
    lamina.reset_host()
    host = lamina.get_host()
    plugin = SimpleNamespace(lamina_register_renderers=lamina_register_renderers)
    host.register(plugin, name="recorder")
    Recorder.seen = []
    yield Recorder
    lamina.reset_host()


def test_an_orbit_computes_the_normals_once_and_lights_each_view_as_before(
    recorder: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lamina.scene import lighting
    from lamina.scene.files import load

    calls = []
    real = lighting.vertex_normals

    def counted(*args: Any) -> np.ndarray:
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(lighting, "vertex_normals", counted)
    frames = 5
    args = ["render", "procedural:torus", "-o", str(tmp_path / "f.npy"), "--size", "8x6"]
    result = CliRunner().invoke(
        main, [*args, "--renderer", "recorder", "--orbit", str(frames), "--light", "1,2,3"]
    )
    assert result.exit_code == 0, result.output
    assert len(calls) == 1 and len(recorder.seen) == frames
    # Each frame is lit exactly as shading that view from scratch lights it.
    monkeypatch.setattr(lighting, "vertex_normals", real)
    scene = load("procedural:torus").scene
    setup = lighting.parse_lights(["1,2,3"])
    colours = set()
    for lit, camera in recorder.seen:
        expected = lighting.shade(scene, camera, setup)
        np.testing.assert_array_equal(lit.vertex_colors, expected.vertex_colors)
        colours.add(lit.vertex_colors.tobytes())
    assert len(colours) == frames  # the views differ, so does the light


def test_shade_takes_corner_normals_or_normals_not_both() -> None:
    from lamina.scene.lighting import corner_normals, shade
    from lamina.scene.procedural import procedural_scene

    scene, camera = procedural_scene("torus")
    corners = corner_normals(scene)
    assert corners.shape == (scene.n_triangles, 3, 3)
    np.testing.assert_array_equal(
        shade(scene, camera, corners=corners).vertex_colors, shade(scene, camera).vertex_colors
    )
    with pytest.raises(lamina.InputError, match="not both"):
        shade(scene, camera, normals=np.ones((scene.n_vertices, 3)), corners=corners)
    with pytest.raises(lamina.InputError, match="corners must be"):
        shade(scene, camera, corners=corners[:-1])


# An L-shaped hexagon in z = 0 (area 3), concave at (1, 1). Started at (0, 0), which
# sees every vertex, its fan is right; started at (2, 1) its first fan triangle,
# (2, 1) (1, 1) (1, 2), lies outside it.
_L_SHAPE = [(0, 0), (2, 0), (2, 1), (1, 1), (1, 2), (0, 2)]


def _l_shape(start: int) -> list[tuple[int, int]]:
    return _L_SHAPE[start:] + _L_SHAPE[:start]


def _mesh_text(suffix: str, corners: list[tuple[int, int]]) -> str:
    """One polygon face over ``corners`` (z = 0) as an OBJ, OFF or ASCII PLY file."""
    n = len(corners)
    points = "".join(f"{x} {y} 0\n" for x, y in corners)
    if suffix == ".obj":
        vertices = "".join(f"v {line}" for line in points.splitlines(keepends=True))
        return f"{vertices}f {' '.join(str(i + 1) for i in range(n))}\n"
    if suffix == ".off":
        return f"OFF\n{n} 1 0\n{points}{n} {' '.join(map(str, range(n)))}\n"
    return (
        f"ply\nformat ascii 1.0\nelement vertex {n}\nproperty float x\nproperty float y\n"
        "property float z\nelement face 1\nproperty list uchar int vertex_indices\n"
        f"end_header\n{points}{n} {' '.join(map(str, range(n)))}\n"
    )


@pytest.mark.parametrize("suffix", [".obj", ".ply", ".off"])
def test_a_concave_polygon_whose_fan_leaves_it_is_refused_naming_the_face(
    tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"l{suffix}"
    path.write_text(_mesh_text(suffix, _l_shape(2)))
    out = tmp_path / "l.npy"
    result = CliRunner().invoke(
        main, ["render", str(path), "-o", str(out), "--size", "8x8", "--renderer", "recorder"]
    )
    assert result.exit_code == 2, result.output
    where = f"{path}:{len(_L_SHAPE) + 1}:" if suffix == ".obj" else "face 0:"
    assert where in result.stderr and "concave" in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and not out.exists()


@pytest.mark.parametrize("suffix", [".obj", ".ply", ".off"])
def test_a_concave_polygon_whose_fan_is_right_is_drawn_as_the_file_says(
    tmp_path: Path, suffix: str
) -> None:
    from lamina.scene.meshes import load_mesh

    path = tmp_path / f"l{suffix}"
    path.write_text(_mesh_text(suffix, _l_shape(0)))
    scene = load_mesh(path)
    corners = scene.vertices[scene.faces][:, :, :2]
    edges = corners[:, 1:] - corners[:, :1]
    areas = (edges[:, 0, 0] * edges[:, 1, 1] - edges[:, 0, 1] * edges[:, 1, 0]) / 2
    assert (areas > 0).all() and areas.sum() == 3.0  # no overlap, nothing outside


def _crosses(p: np.ndarray, q: np.ndarray, a: np.ndarray, b: np.ndarray) -> bool:
    """Whether segments pq and ab meet (touching counts), in 2-D."""

    def side(u: np.ndarray, v: np.ndarray, w: np.ndarray) -> float:
        return float((v[0] - u[0]) * (w[1] - u[1]) - (v[1] - u[1]) * (w[0] - u[0]))

    d1, d2, d3, d4 = side(a, b, p), side(a, b, q), side(p, q, a), side(p, q, b)
    return d1 * d2 <= 0 and d3 * d4 <= 0


def _inside(point: np.ndarray, polygon: np.ndarray) -> bool:
    """Even-odd rule, a ray towards +x."""
    inside = False
    for a, b in zip(polygon, np.roll(polygon, -1, axis=0), strict=True):
        if (a[1] > point[1]) != (b[1] > point[1]):
            x = a[0] + (point[1] - a[1]) * (b[0] - a[0]) / (b[1] - a[1])
            inside ^= bool(point[0] < x)
    return inside


def _fan_is_right(polygon: np.ndarray) -> bool:
    """O'Rourke's diagonal test: the fan from vertex 0 triangulates a simple polygon iff
    every segment from vertex 0 to a vertex not beside it is a diagonal (meets no edge
    away from its ends, and runs inside)."""
    k = len(polygon)
    for i in range(2, k - 1):
        for j in range(k):
            ends = {j, (j + 1) % k}
            if 0 in ends or i in ends:
                continue
            if _crosses(polygon[0], polygon[i], polygon[j], polygon[(j + 1) % k]):
                return False
        if not _inside((polygon[0] + polygon[i]) / 2, polygon):
            return False
    return True


@pytest.mark.parametrize("seed", range(3))
def test_the_fan_check_agrees_with_a_diagonal_oracle_on_random_polygons(seed: int) -> None:
    # Random star-shaped (so simple) polygons of 4-9 vertices, a third convex, placed
    # in a random plane, started at a random vertex, either way round.
    from scipy.spatial.transform import Rotation

    from lamina.scene.polygons import wrong_fans

    rng = np.random.default_rng(seed)
    verdicts = []
    for _ in range(200):
        k = int(rng.integers(4, 10))
        angles = np.sort(rng.uniform(0, 2 * np.pi, k))
        radii = 1.0 if rng.random() < 1 / 3 else rng.uniform(0.15, 1.0, k)
        flat = np.column_stack([radii * np.cos(angles), radii * np.sin(angles)])
        flat = np.roll(flat, int(rng.integers(k)), axis=0)
        if rng.random() < 0.5:
            flat = flat[::-1]
        rotation = Rotation.random(random_state=rng)
        placed = rotation.apply(np.column_stack([flat, np.zeros(k)])) + rng.normal(0, 5, 3)
        expected = _fan_is_right(flat)
        assert wrong_fans(placed, np.arange(k)[None])[0] != expected, (seed, flat.tolist())
        verdicts.append(expected)
    assert 20 < sum(verdicts) < 180  # both answers are exercised


@pytest.mark.parametrize(
    ("corners", "right"),
    [
        # a pentagram: every turn the same way, but it winds twice round its centre
        ([(np.cos(a), np.sin(a), 0) for a in np.arange(5) * 4 * np.pi / 5], False),
        # a twisted quad (not planar): either diagonal is as good; accepted
        ([(0, 0, 0), (1, 0, 0.2), (1, 1, 0), (0, 1, 0.2)], True),
        # collinear vertices on a square's side: a degenerate fan triangle, not a notch
        ([(0, 0, 0), (1, 0, 0), (2, 0, 0), (2, 2, 0), (0, 2, 0)], True),
    ],
)
def test_the_fan_check_on_polygons_nobody_picks(
    corners: list[tuple[float, float, float]], right: bool
) -> None:
    from lamina.scene.polygons import wrong_fans

    points = np.array(corners, dtype=np.float64)
    assert wrong_fans(points, np.arange(len(points))[None])[0] != right


def _zoomed(seed: int, magnification: float) -> tuple[Any, Any, tuple[int, int]]:
    """Held-out oracle scene ``seed`` shrunk about its target and seen by its camera
    zoomed by the same factor, so that the view's magnification is ``magnification``
    and it still shows the whole scene (near and far as before, scaled)."""
    import dataclasses

    from lamina.scene.camera import view_magnification
    from lamina.scene.view import adjust_camera
    from tests.plugins.oit.test_oit_oracle import SIZE, random_scene

    scene, camera = random_scene(seed)
    zoom = magnification / view_magnification(camera, SIZE)
    target = np.asarray(camera.target)
    small = dataclasses.replace(scene, vertices=target + (scene.vertices - target) / zoom)
    distance = float(np.linalg.norm(np.subtract(camera.eye, camera.target)))
    near, far = (distance / 2, 2 * distance) if seed % 2 else (distance - 2, distance + 2)
    view = dataclasses.replace(adjust_camera(camera, zoom=zoom), near=near, far=far)
    return small, view, SIZE


@pytest.mark.parametrize("seed", [1, 2])  # perspective, orthographic (widen: 0-5)
def test_at_the_magnification_limit_coverage_matches_the_ray_caster(seed: int) -> None:
    # Coverage (which triangles each robust pixel centre hits) is what the projection's
    # rounding decides. Colours also depend on the order of fragments, whose 40-bit
    # depth keys resolve 1e-12 of the depth range, coarser than such a view's depth
    # differences: that departure is the renderer's depth resolution, reported apart.
    from lamina.limits import MAX_VIEW_MAGNIFICATION
    from lamina.plugins.oit.reference import Reference
    from lamina.scene.camera import view_magnification
    from tests.plugins.oit.test_oit_oracle import ray_cast

    scene, camera, size = _zoomed(seed, MAX_VIEW_MAGNIFICATION)
    assert view_magnification(camera, size) == pytest.approx(MAX_VIEW_MAGNIFICATION)
    _, count, robust = ray_cast(scene, camera, size)
    found = Reference().render(scene, camera, size)
    assert robust.mean() > 0.8
    np.testing.assert_array_equal(found.depth_complexity[robust], count[robust])


def test_a_hundred_times_past_the_limit_coverage_departs(monkeypatch) -> None:
    # What the limit keeps out: measured first at 1.1e15 (MAX_VIEW_MAGNIFICATION's notes).
    # Renderers refuse such views themselves: the check is lifted to draw one.
    from lamina.limits import MAX_VIEW_MAGNIFICATION
    from lamina.plugins.oit import raster
    from lamina.plugins.oit.reference import Reference
    from tests.plugins.oit.test_oit_oracle import ray_cast

    monkeypatch.setattr(raster, "check_magnification", lambda *args, **kwargs: None)

    departed = 0
    for seed in (1,):
        scene, camera, size = _zoomed(seed, 100 * MAX_VIEW_MAGNIFICATION)
        _, count, robust = ray_cast(scene, camera, size)
        found = Reference().render(scene, camera, size)
        departed += int((found.depth_complexity[robust] != count[robust]).sum())
    assert departed > 10


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--zoom", "1e13"], "--zoom 1e+13"),
        (["--fov", "1e-12"], "--fov 1e-12"),
        (["--fov", "1e-12", "--ortho"], "--fov 1e-12"),
        (["--zoom", "3e11", "--samples", "8"], "--zoom 3e+11"),  # the supersampled size counts
    ],
)
def test_a_view_past_the_magnification_limit_is_refused_naming_the_option(
    recorder: Any, tmp_path: Path, options: list[str], named: str
) -> None:
    out = tmp_path / "z.png"
    result = CliRunner().invoke(
        main,
        ["render", "procedural:torus", "-o", str(out), "--size", "64x48", "--renderer",
         "recorder", *options],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert line.startswith(f"lamina: error: {named}: ") and "\n" not in line
    assert "MAX_VIEW_MAGNIFICATION" in line and "--fov at least" in line
    assert not out.exists() and recorder.seen == []


def test_a_view_at_the_magnification_limit_renders(recorder: Any, tmp_path: Path) -> None:
    from lamina.limits import MAX_VIEW_MAGNIFICATION
    from lamina.scene.camera import view_magnification
    from lamina.scene.files import load
    from lamina.scene.view import adjust_camera

    camera = load("procedural:torus").camera
    zoom = MAX_VIEW_MAGNIFICATION / view_magnification(camera, (48, 64)) * (1 - 1e-9)
    result = CliRunner().invoke(
        main,
        ["render", "procedural:torus", "-o", str(tmp_path / "z.npy"), "--size", "64x48",
         "--renderer", "recorder", "--zoom", repr(zoom)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert view_magnification(adjust_camera(camera, zoom=zoom), (48, 64)) <= MAX_VIEW_MAGNIFICATION


def test_a_scene_files_too_narrow_camera_is_named(recorder: Any, tmp_path: Path) -> None:
    scene = tmp_path / "narrow.toml"
    scene.write_text('[camera]\nfov_y = 1e-13\n[[mesh]]\nprocedural = "torus"\n')
    result = CliRunner().invoke(
        main, ["render", str(scene), "-o", str(tmp_path / "n.png"), "--renderer", "recorder"]
    )
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"lamina: error: {scene} [camera]: the view is magnified")


def _polygon_ply(path: Path, polygons: list[np.ndarray], points: np.ndarray, colours: np.ndarray,
                 *, binary: bool) -> None:  # fmt: skip
    """A PLY of ``polygons`` (vertex indices) with one uchar RGB colour per face."""
    import struct

    fmt = "binary_little_endian" if binary else "ascii"
    header = (
        f"ply\nformat {fmt} 1.0\nelement vertex {len(points)}\nproperty float x\n"
        "property float y\nproperty float z\n"
        f"element face {len(polygons)}\nproperty list uchar int vertex_indices\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n"
    )
    if not binary:
        body = "".join(f"{x} {y} {z}\n" for x, y, z in points) + "".join(
            f"{len(p)} {' '.join(map(str, p))} {' '.join(map(str, c))}\n"
            for p, c in zip(polygons, colours, strict=True)
        )
        path.write_text(header + body)
        return
    data = b"".join(struct.pack("<3f", *row) for row in points)
    data += b"".join(
        struct.pack(f"<B{len(p)}i3B", len(p), *p, *c)
        for p, c in zip(polygons, colours, strict=True)
    )
    path.write_bytes(header.encode() + data)


@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_polygon_faces_keep_their_own_colour(tmp_path: Path, seed: int, binary: bool) -> None:
    # trimesh gives a PLY's per-face colours one row per face of the file and orders
    # the triangles by polygon size: such files were refused ("face_colors must have
    # shape"). Each triangle must get the colour of the polygon that holds it, found
    # here by vertex sets (each polygon has its own vertices).
    from lamina.scene.meshes import load_mesh

    rng = np.random.default_rng(seed)
    polygons, points = [], []
    size = int(rng.integers(4, 8))  # trimesh reads binary PLY faces of one size only
    for face in range(int(rng.integers(2, 12))):
        k = size if binary else int(rng.integers(3, 8))
        angles = np.sort(rng.uniform(0, 2 * np.pi, k))
        ring = np.column_stack([np.cos(angles) + 3 * face, np.sin(angles), np.zeros(k)])
        polygons.append(np.arange(len(points), len(points) + k))
        points.extend(ring.tolist())
    colours = rng.integers(0, 256, (len(polygons), 3))
    path = tmp_path / "faces.ply"
    _polygon_ply(path, polygons, np.array(points), colours, binary=binary)
    scene = load_mesh(path, drop_degenerate=True)
    for triangle, colour in zip(scene.faces, scene.face_colors, strict=True):
        (owner,) = [i for i, p in enumerate(polygons) if set(triangle) <= set(p)]
        np.testing.assert_allclose(colour[:3] * 255, colours[owner], atol=1e-9)
    assert len(scene.faces) == sum(len(p) - 2 for p in polygons)


def test_a_binary_ply_polygon_whose_fan_leaves_it_is_refused(tmp_path: Path) -> None:
    from lamina.scene.meshes import FileError, load_mesh

    path = tmp_path / "l.ply"
    corners = np.array([(x, y, 0.0) for x, y in _l_shape(2)])
    _polygon_ply(path, [np.arange(6)], corners, np.array([[9, 9, 9]]), binary=True)
    with pytest.raises(FileError, match="face 0: a face of 6 vertices is concave"):
        load_mesh(path)
    _polygon_ply(
        path, [np.arange(6)], np.roll(corners, 2, axis=0), np.array([[9, 9, 9]]), binary=True
    )
    assert load_mesh(path).n_triangles == 4
