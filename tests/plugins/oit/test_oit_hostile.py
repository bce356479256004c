"""``lamina render`` under hostile and unpicked input: mesh files written byte by byte
here (not by trimesh's exporters), camera and output options past their edges.

Each bad input must give one ``InputError`` naming what is wrong (on the command line:
one line on stderr, exit 2, nothing written); each good one the geometry that was
written. Seeded grids: raise ``SEEDS`` to widen them.
"""

from __future__ import annotations

import contextlib
import errno
import math
import re
import struct
import warnings
from collections.abc import Iterator

import numpy as np
import pytest
from click.testing import CliRunner

from lamina.cli import main
from lamina.errors import InputError
from lamina.limits import MAX_COORDINATE
from lamina.memory import MemoryLimitError
from lamina.plugins.oit.reference import Reference
from lamina.scene import Camera, Scene
from lamina.scene.meshes import load_mesh
from lamina.scene.view import adjust_camera

SEEDS = range(6)


@contextlib.contextmanager
def refused_without_a_warning(match: str) -> Iterator[pytest.ExceptionInfo[InputError]]:
    """Expect an ``InputError`` matching ``match``, with no warning printed before it."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InputError, match=match) as caught:
            yield caught


def random_mesh(seed: int, *, triangles: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (V, 3) and faces (F, 3) of a random non-degenerate soup."""
    rng = np.random.default_rng(seed)
    vertices = rng.normal(size=(triangles + 2, 3)).astype(np.float32).astype(np.float64)
    faces = np.array([rng.permutation(len(vertices))[:3] for _ in range(triangles)])
    return vertices, faces


def ply_bytes(vertices: np.ndarray, faces: np.ndarray, encoding: str) -> bytes:
    """A PLY file (float32 xyz, int32 indices) in ``encoding``: ascii, binary_little_endian
    or binary_big_endian."""
    header = (
        f"ply\nformat {encoding} 1.0\nelement vertex {len(vertices)}\n"
        "property float x\nproperty float y\nproperty float z\n"
        f"element face {len(faces)}\nproperty list uchar int vertex_indices\nend_header\n"
    ).encode()
    if encoding == "ascii":
        body = "".join(f"{x!r} {y!r} {z!r}\n" for x, y, z in vertices.astype(np.float32).tolist())
        body += "".join(f"3 {a} {b} {c}\n" for a, b, c in faces.tolist())
        return header + body.encode()
    order = "<" if encoding == "binary_little_endian" else ">"
    body = b"".join(struct.pack(f"{order}3f", *v) for v in vertices)
    body += b"".join(struct.pack(f"{order}B3i", 3, *f) for f in faces.tolist())
    return header + body


def stl_bytes(vertices: np.ndarray, faces: np.ndarray, *, count: int | None = None) -> bytes:
    """A binary STL whose header says ``count`` triangles (default: the true count)."""
    header = b"lamina test".ljust(80, b" ") + struct.pack(
        "<I", len(faces) if count is None else count
    )
    rows = [struct.pack("<12fH", 0, 0, 0, *vertices[f].ravel(), 0) for f in faces]
    return header + b"".join(rows)


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, ["render", *args])


# ---------------------------------------------------------------- PLY


@pytest.mark.parametrize("seed", SEEDS)
def test_ply_in_every_encoding_reads_the_written_geometry(tmp_path, seed):
    vertices, faces = random_mesh(seed)
    for encoding in ("ascii", "binary_little_endian", "binary_big_endian"):
        path = tmp_path / f"{encoding}.ply"
        path.write_bytes(ply_bytes(vertices, faces, encoding))
        scene = load_mesh(path)
        np.testing.assert_array_equal(scene.vertices, vertices, err_msg=encoding)
        np.testing.assert_array_equal(scene.faces, faces, err_msg=encoding)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d[: len(d) - 7], "not a readable PLY"),  # truncated in the faces
        (lambda d: d.replace(b"element vertex 14", b"element vertex 1000000000000"), "PLY"),
        (lambda d: d.replace(b"binary_little_endian", b"binary_big_endian"), "out of bounds"),
        (lambda d: d[:-4] + struct.pack("<i", 99), "out of bounds"),
        (lambda d: d[:-4] + struct.pack("<i", -1), "out of bounds"),
        (lambda d: d.replace(b"element face 12", b"element face 0"), "unexpected length"),
    ],
)
def test_edited_binary_ply_is_refused_naming_the_file(tmp_path, edit, message):
    vertices, faces = random_mesh(0)
    path = tmp_path / "edited.ply"
    path.write_bytes(edit(ply_bytes(vertices, faces, "binary_little_endian")))
    with pytest.raises(InputError, match=message) as caught:
        load_mesh(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("value", ["1.5", "-0.25", "nan", "inf"])
def test_ply_float_colours_outside_0_1_are_refused_not_clipped(tmp_path, value):
    """trimesh clips float colours to [0, 1] and reads NaN as 0, silently."""
    header = (
        "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
        "property float z\nproperty float red\nproperty float green\nproperty float blue\n"
        "element face 1\nproperty list uchar int vertex_indices\nend_header\n"
    )
    rows = f"0 0 0 0.5 {value} 0.25\n1 0 0 1 1 1\n0 1 0 0 0 0\n3 0 1 2\n"
    (tmp_path / "c.ply").write_text(header + rows)
    with pytest.raises(InputError, match=r"c\.ply: vertex green .* outside \[0, 1\]"):
        load_mesh(tmp_path / "c.ply")
    (tmp_path / "ok.ply").write_text(header + rows.replace(value, "0.75", 1))
    colors = load_mesh(tmp_path / "ok.ply").vertex_colors
    np.testing.assert_allclose(colors[0], np.round(np.array([0.5, 0.75, 0.25, 1]) * 255) / 255)


# ---------------------------------------------------------------- OBJ


@pytest.mark.parametrize("seed", SEEDS)
def test_obj_relative_indices_quads_and_texture_indices(tmp_path, seed):
    """Negative (relative) indices, 'v/vt/vn' triples and quads read as the absolute
    triangles they mean (OBJ spec: -1 is the last vertex defined so far)."""
    vertices, faces = random_mesh(seed)
    lines = [f"v {x!r} {y!r} {z!r}" for x, y, z in vertices.tolist()] + ["vt 0 0", "vn 0 0 1"]
    absolute = [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces.tolist()]
    relative = [
        "f " + " ".join(f"{i - len(vertices)}/1/1" for i in face) for face in faces.tolist()
    ]
    (tmp_path / "abs.obj").write_text("\n".join(lines + absolute) + "\n")
    (tmp_path / "rel.obj").write_text("\n".join(lines + relative) + "\n")
    a, r = load_mesh(tmp_path / "abs.obj"), load_mesh(tmp_path / "rel.obj")
    np.testing.assert_array_equal(a.vertices[a.faces], vertices[faces])
    np.testing.assert_array_equal(r.vertices[r.faces], vertices[faces])
    (tmp_path / "quad.obj").write_text("v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nf 1 2 3 4\n")
    quad = load_mesh(tmp_path / "quad.obj")
    corners = quad.vertices[quad.faces]
    areas = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])[:, 2] / 2
    assert quad.n_triangles == 2 and np.abs(areas).sum() == 1.0  # the unit square, once


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf -3 -2 -5\n", "not a readable OBJ"),
        ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 99999999999999999999\n", "not a readable OBJ"),
        ("f 1 2 3\n", "no triangles"),
        ("", "no triangles"),
        ("v 0 0 0\nv inf 0 0\nv 0 1 0\nf 1 2 3\n", "NaN or infinite"),
        ("v 0 0 0\nv 1e200 0 0\nv 0 1e200 0\nf 1 2 3\n", "MAX_COORDINATE"),
        ("v 0 0 0 2 -1 0.5\nv 1 0 0 1 1 1\nv 0 1 0 1 1 1\nf 1 2 3\n", "vertex colour"),
        ("v 0 0 0 nan 0 0\nv 1 0 0 1 1 1\nv 0 1 0 1 1 1\nf 1 2 3\n", "vertex colour"),
        ("v 0 0 0 255 0 0\nv 1 0 0 1 1 1\nv 0 1 0 1 1 1\nf 1 2 3\n", "divide by 255"),
        ("v 0 0 0\nv 1 0 0\nv 2 0 0\nf 1 2 3\n", "degenerate"),
    ],
)
def test_bad_obj_files_are_refused_without_a_warning(tmp_path, text, message):
    path = tmp_path / "bad.obj"
    path.write_text(text)
    with refused_without_a_warning(message) as caught:  # no overflow warning first
        load_mesh(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_duplicate_faces_are_both_composited_in_face_order(tmp_path):
    """A face listed twice is two layers (as VTK draws it): alpha 1 - (1 - a)^2."""
    (tmp_path / "dup.obj").write_text("v -1 -1 0\nv 1 -1 0\nv 0 1 0\nf 1 2 3\nf 1 2 3\n")
    scene = load_mesh(tmp_path / "dup.obj", opacity=0.3)
    camera = Camera.look_at((0, 0, 3), (0, 0, 0), projection="orthographic", ortho_height=3)
    image = Reference().render(scene, camera, (8, 8)).image
    assert math.isclose(float(image[4, 4, 3]), 1 - 0.7**2, rel_tol=1e-6)


# ---------------------------------------------------------------- STL


@pytest.mark.parametrize("count", [0, 1, 3, 10**9, 2**32 - 1])
def test_binary_stl_whose_count_disagrees_with_its_length_is_truncated(tmp_path, count):
    vertices, faces = random_mesh(1, triangles=2)
    path = tmp_path / "lie.stl"
    path.write_bytes(stl_bytes(vertices, faces, count=count))
    with pytest.raises(InputError, match=rf"says {count:,} triangles .* truncated or damaged"):
        load_mesh(path)


@pytest.mark.parametrize("seed", SEEDS)
def test_binary_stl_reads_the_written_triangles(tmp_path, seed):
    vertices, faces = random_mesh(seed)
    path = tmp_path / "ok.stl"
    data = stl_bytes(vertices, faces)
    path.write_bytes(b"solid but binary".ljust(80) + data[80:])  # a header may say "solid"
    scene = load_mesh(path)
    np.testing.assert_array_equal(scene.vertices[scene.faces], vertices[faces])
    path.write_bytes(data[:-1])  # one byte short
    with pytest.raises(InputError, match="truncated"):
        load_mesh(path)


def test_a_billion_triangle_stl_is_refused_by_the_memory_guard_before_reading(
    tmp_path, monkeypatch
):
    """A consistent header and length (a sparse 50 GB file): refused from its size."""
    path = tmp_path / "huge.stl"
    with path.open("wb") as handle:
        handle.write(b" " * 80 + struct.pack("<I", 10**9))
        handle.truncate(84 + 50 * 10**9)
    import trimesh

    def never(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("the file was parsed")

    monkeypatch.setattr(trimesh, "load", never)
    monkeypatch.setenv("LAMINA_MEMORY_LIMIT", "4G")
    with pytest.raises(MemoryLimitError, match="50,000,000,084-byte mesh file"):
        load_mesh(path)


# ---------------------------------------------------------------- cameras


@pytest.mark.parametrize("seed", SEEDS)
def test_camera_basis_is_the_same_at_every_scale(seed):
    """Scaling eye, target and up by powers of two, up to MAX_COORDINATE and down to
    subnormals, gives bit for bit the same view rotation (lengths no longer overflow)."""
    rng = np.random.default_rng(seed)
    eye, target, up = rng.normal(size=(3, 3))
    base = Camera.look_at(eye, target, up).view_matrix()[:3, :3]
    for power in (-1000, -600, -100, 100, 480):
        s = 2.0**power  # eye and target stay within MAX_COORDINATE, up goes anywhere
        scaled = Camera.look_at(eye * min(s, 2.0**100), target * min(s, 2.0**100), up * s)
        np.testing.assert_array_equal(scaled.view_matrix()[:3, :3], base, err_msg=str(power))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"eye": (0, 0, 5), "target": (0, 0, 5)}, "eye and target must differ"),
        ({"eye": (0, 0, 5), "target": (0, 0, 0), "up": (0, 0, 3)}, "parallel"),
        ({"eye": (0, 0, 5), "target": (0, 0, 0), "up": (1e-300, 1e-300, 1)}, "parallel"),
        ({"eye": (1e151, 0, 0), "target": (0, 0, 0)}, "MAX_COORDINATE"),
        ({"eye": (0, 0, 5), "target": (0, 0, 0), "far": 1e200}, "MAX_COORDINATE"),
        ({"eye": (0, 0, 5), "target": (0, 0, 0), "fov_y": 180.0}, "fov_y"),
        ({"eye": (0, 0, 5), "target": (0, 0, 0), "near": 2.0, "far": 2.0}, "far"),
        ({"eye": (0, 0, 5), "target": (0, 0, 0), "ortho_height": 0.0}, "ortho_height"),
        ({"eye": (0, 0, 5), "target": (0, 0, 0), "ortho_height": 1e-305}, "at least 1e-300"),
        ({"eye": (0, 0, 5), "target": (0, 0, 0), "fov_y": 1e-305}, "fov_y must be at least"),
    ],
)
def test_impossible_cameras_are_refused_without_a_warning(kwargs, message):
    with refused_without_a_warning(message):
        Camera(**kwargs)


@pytest.mark.parametrize(
    "camera",
    [
        Camera.look_at((0, 0, 5), (0, 0, 0), fov_y=1e-140),
        Camera.look_at((0, 0, 5), (0, 0, 0), projection="orthographic", ortho_height=1e-140),
    ],
)
def test_a_view_too_narrow_for_float64_is_refused_by_every_renderer(camera):
    """Clip-space coordinates would overflow (they did, with RuntimeWarnings and an
    empty image); now the setup every renderer shares refuses the camera, from the
    scene's extent (1e10 here) and the projection's scale (over 1e140)."""
    from lamina.plugins.oit.renderers import (
        DepthPeeling,
        DualDepthPeeling,
        FragmentList,
        MultiLayerDepthPeeling,
    )

    scene = Scene(
        vertices=np.array([[-1, -1, 0], [1, -1, 0], [0, 1, 0]], float) * 1e10,
        faces=np.array([[0, 1, 2]]),
        face_colors=(1, 0, 0, 0.5),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for cls in (Reference, FragmentList, DepthPeeling, DualDepthPeeling,
                    MultiLayerDepthPeeling):  # fmt: skip
            # (the magnification check comes first now; the clip range stays a guard)
            with pytest.raises(InputError, match=r"MAX_VIEW_MAGNIFICATION.*wider"):
                cls().render(scene, camera, (8, 8))


def test_zoom_that_opens_the_view_past_180_degrees_names_the_zoom():
    camera = Camera.look_at((0, 0, 5), (0, 0, 0), fov_y=40)
    with pytest.raises(InputError, match="zoom 1e-300 turns the 40-degree field of view"):
        adjust_camera(camera, zoom=1e-300)
    for name in ("azimuth", "elevation"):
        with pytest.raises(InputError, match=f"{name} must be a finite number"):
            adjust_camera(camera, **{name: math.inf})


# ---------------------------------------------------------------- the command line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fps", "nan", "--orbit", "2", "-o", "x.gif"], "--fps"),  # was a traceback
        (["--elevation", "inf"], "--elevation"),  # was a traceback (exit 1)
        (["--azimuth", "nan"], "--azimuth"),
        (["--zoom", "nan"], "--zoom"),
        (["--fov", "nan"], "--fov"),
        (["--opacity", "nan"], "--opacity"),
        (["--edge-opacity", "nan"], "--edge-opacity"),
        (["--color="], "--color"),  # was taken as no colour
        (["--background="], "--background"),
        (["--zoom", "1e-300"], "zoom 1e-300"),
        (["--ortho", "--zoom", "1e308"], "zoom 1e+308: ortho_height"),  # was warnings
        (["--zoom", "1e300"], "zoom 1e+300: fov_y must be at least"),  # named fov_y only
        # the render command's magnification limit refuses it first (the renderer's own
        # MAX_COORDINATE refusal, 'widen the view', guards the library call)
        (["--ortho", "--zoom", "1e149"], "--zoom 1e+149: the view is magnified"),
        (["--eye", "1e308,0,0"], "MAX_COORDINATE"),  # was 'up is parallel'
        (["--up", "0,0,-2", "--eye", "0,0,4", "--target", "0,0,1"], "parallel"),
        (["--light", "0,0,1:nan"], "light"),
        (["--samples", "0"], "--samples"),
        (["--orbit", "0"], "--orbit"),
        (["-o", "x.jpg"], "unsupported file type"),
    ],
)
def test_hostile_view_options_fail_in_one_line_writing_nothing(tmp_path, args, message):
    if "-o" not in args:
        args = [*args, "-o", "x.png"]
    args = [str(tmp_path / a) if a.startswith("x.") else a for a in args]
    result = invoke("procedural:stacked_quads:2", "--size", "8x6", "--renderer", "reference", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("lie.stl", b" " * 80 + struct.pack("<I", 10**9) + b"\0" * 50, "truncated"),
        ("far.obj", b"v 0 0 0\nv 1e300 0 0\nv 0 1 0\nf 1 2 3\n", "MAX_COORDINATE"),
        ("nan.obj", b"v 0 0 0 nan 0 0\nv 1 0 0 1 1 1\nv 0 1 0 1 1 1\nf 1 2 3\n", "colour"),
        ("empty.ply", b"ply\nformat ascii 1.0\nelement vertex 0\nend_header\n", "no triangles"),
    ],
)
def test_bad_mesh_files_on_the_command_line_keep_an_existing_output(tmp_path, name, data, message):
    (tmp_path / name).write_bytes(data)
    out = tmp_path / "out.png"
    out.write_bytes(b"earlier image")
    result = invoke(str(tmp_path / name), "-o", str(out), "--renderer", "reference")
    assert result.exit_code == 2, result.output
    assert message in result.stderr and name in result.stderr
    assert result.stderr.count("\n") == 1
    assert out.read_bytes() == b"earlier image"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "out.png"])


def test_extent_is_the_largest_coordinate():
    vertices, faces = random_mesh(3)
    scene = Scene(vertices=vertices, faces=faces, face_colors=(1, 1, 1, 1))
    assert scene.extent == np.abs(vertices).max()
    with pytest.raises(InputError, match="vertex 2 has a coordinate of magnitude 2e\\+150"):
        Scene(
            vertices=np.vstack([vertices[:2], [[0, 2e150, 0]], vertices[3:]]),
            faces=faces,
            face_colors=(1, 1, 1, 1),
        )


# ---------------------------------------------------------------- normals in files


def ply_with_normals(vertices: np.ndarray, faces: np.ndarray, normals: np.ndarray) -> str:
    header = (
        f"ply\nformat ascii 1.0\nelement vertex {len(vertices)}\n"
        + "".join(f"property float {c}\n" for c in ("x", "y", "z", "nx", "ny", "nz"))
        + f"element face {len(faces)}\nproperty list uchar int vertex_indices\nend_header\n"
    )
    rows = [
        " ".join(repr(float(x)) for x in (*v, *n)) for v, n in zip(vertices, normals, strict=True)
    ]
    return (
        header + "\n".join(rows) + "\n" + "".join(f"3 {a} {b} {c}\n" for a, b, c in faces.tolist())
    )


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_a_files_own_normals_light_the_command_lines_render(tmp_path, seed):
    """Issue 17 Must 2, 'normals from the mesh': the command line computed them always."""
    from lamina.scene.files import load
    from lamina.scene.lighting import parse_lights, shade

    vertices, faces = random_mesh(seed, triangles=6)
    normals = np.random.default_rng(seed).normal(size=vertices.shape).astype(np.float32)
    path = tmp_path / "n.ply"
    path.write_text(ply_with_normals(vertices, faces, normals))
    out = tmp_path / "out.npy"
    result = invoke(str(path), "-o", str(out), "--size", "16x12", "--renderer", "reference",
                    "--light", "1,0.5,1")  # fmt: skip
    assert result.exit_code == 0, result.output
    loaded = load(str(path))
    np.testing.assert_array_equal(loaded.normals, normals)
    lighting = parse_lights(["1,0.5,1"])
    given = shade(loaded.scene, loaded.camera, lighting, normals=normals)
    computed = shade(loaded.scene, loaded.camera, lighting)
    expected = Reference().render(given, loaded.camera, (12, 16)).image
    np.testing.assert_array_equal(np.load(out), expected)
    assert (
        np.abs(Reference().render(computed, loaded.camera, (12, 16)).image - expected).max() > 0.01
    )


def test_zero_or_nan_normals_are_refused_only_where_a_face_uses_them(tmp_path):
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [5, 5, 5]], float)
    faces = np.array([[0, 1, 2]])
    for bad in ([0, 0, 0], [float("nan"), 0, 1]):
        normals = np.array([[0, 0, 1], bad, [0, 0, 1], [0, 0, 1]], float)
        (tmp_path / "bad.ply").write_text(ply_with_normals(vertices, faces, normals))
        with pytest.raises(InputError, match=r"bad\.ply: the normal of vertex 1 is"):
            load_mesh(tmp_path / "bad.ply")
        unused = normals[[0, 2, 3, 1]]  # the bad normal on vertex 3, which no face uses
        (tmp_path / "ok.ply").write_text(ply_with_normals(vertices[[0, 2, 3, 1]], faces, unused))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            from lamina.scene.files import load
            from lamina.scene.lighting import shade

            loaded = load(str(tmp_path / "ok.ply"))
            shade(loaded.scene, loaded.camera, normals=loaded.normals)  # no division by zero


def test_an_orbit_that_fails_part_way_leaves_no_frames(tmp_path, monkeypatch):
    """Frames 0 and 1 of 3 were left behind when frame 2 failed."""
    from lamina.errors import LaminaError
    from lamina.scene import command

    drawn = []
    real_draw = command._draw

    def failing_draw(renderer, job, camera):  # type: ignore[no-untyped-def]
        drawn.append(camera)
        if len(drawn) == 3:
            raise LaminaError("renderer failed on frame 2")
        return real_draw(renderer, job, camera)

    monkeypatch.setattr(command, "_draw", failing_draw)
    out = tmp_path / "orbit.png"
    result = invoke("procedural:stacked_quads:2", "-o", str(out), "--size", "8x6",
                    "--renderer", "reference", "--orbit", "3")  # fmt: skip
    assert result.exit_code == 1 and "frame 2" in result.stderr, result.output
    assert len(drawn) == 3 and not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("camera", "key"),
    [
        ("eye = [1e200, 0, 0]", "camera.eye"),  # was an overflow warning, then the error
        ("target = [0, -1e151, 0]", "camera.target"),
        ("fov_y = 1e-305", "camera.fov_y"),
        ('projection = "orthographic"\northo_height = 1e-305', "camera.ortho_height"),
        ("near = 5.0\nfar = 5.0", "camera.near"),
    ],
)
def test_scene_file_cameras_past_float64_name_the_key_without_a_warning(tmp_path, camera, key):
    from lamina.scene.files import load_scene_file

    path = tmp_path / "s.toml"
    path.write_text(f'[camera]\n{camera}\n[[mesh]]\nprocedural = "stacked_quads"\n')
    with refused_without_a_warning(rf"s\.toml:\d+ \[{key}\]"):
        load_scene_file(path)


@pytest.mark.parametrize("bits", [0x7FBF28C0, 0x7F800001, 0x7FC00000, 0xFF800000])
def test_nan_and_inf_in_a_binary_stl_give_one_error_and_no_warning(tmp_path, bits):
    """A bit flip made a signalling NaN (0x7fbf28c0, from the fuzz below it): numpy
    warned 'invalid value encountered in cast' on stderr before lamina's error."""
    vertices, faces = random_mesh(2)
    data = bytearray(stl_bytes(vertices, faces))
    data[84 + 5 * 50 + 12 : 84 + 5 * 50 + 16] = struct.pack("<I", bits)  # triangle 5, x
    (tmp_path / "flip.stl").write_bytes(bytes(data))
    with refused_without_a_warning(r"flip\.stl: vertices contain NaN or infinite"):
        load_mesh(tmp_path / "flip.stl")


FUZZ_VARIANTS = 100  # per format; 300 each found the STL NaN above and nothing else


def fuzz_formats() -> dict[str, bytes]:
    import trimesh

    vertices, faces = random_mesh(0)
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    rng = np.random.default_rng(0)
    mesh.visual.vertex_colors = rng.integers(0, 256, (len(vertices), 4), dtype=np.uint8)
    return {
        ".ply le": ply_bytes(vertices, faces, "binary_little_endian"),
        ".ply be": ply_bytes(vertices, faces, "binary_big_endian"),
        ".ply ascii": ply_bytes(vertices, faces, "ascii"),
        ".ply normals": ply_with_normals(vertices, faces, vertices).encode(),
        ".stl": stl_bytes(vertices, faces),
        ".stl ascii": trimesh.exchange.stl.export_stl_ascii(mesh).encode(),
        ".obj": trimesh.exchange.obj.export_obj(mesh).encode(),
        ".off": trimesh.exchange.off.export_off(mesh).encode(),
        ".glb": trimesh.exchange.gltf.export_glb(mesh),
    }


@pytest.mark.parametrize("kind", list(fuzz_formats()))
def test_damaged_meshes_are_refused_or_render_lit_without_a_warning(tmp_path, kind):
    """Truncated, bit-flipped and cut-out copies: one InputError naming the file, or a
    scene that loads, lights (with its own normals if any) and renders to a finite
    image in [0, 1], with no numpy warning on the way."""
    import zlib

    from lamina.scene.files import load
    from lamina.scene.lighting import Lighting, shade
    from lamina.testing.damage import damaged

    data = fuzz_formats()[kind]
    rng = np.random.default_rng(zlib.crc32(kind.encode()))
    path = tmp_path / f"damaged{kind.split()[0]}"
    for case in range(FUZZ_VARIANTS):
        path.write_bytes(damaged(data, rng, case))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                loaded = load(str(path))
            except InputError as error:
                assert str(path) in str(error) and "\n" not in str(error), str(error)
                continue
            lit = shade(loaded.scene, loaded.camera, Lighting(edge_opacity=0.5),
                        normals=loaded.normals)  # fmt: skip
            image = Reference().render(lit, loaded.camera, (8, 8)).image
        assert np.isfinite(image).all() and image.min() >= 0 and image.max() <= 1 + 1e-6


@pytest.mark.parametrize(
    ("output", "orbit"),
    [("still.png", []), ("frames.png", ["--orbit", "2"]), ("orbit.gif", ["--orbit", "2"])],
)
def test_a_viewer_that_cannot_be_written_takes_the_images_with_it(
    tmp_path, monkeypatch, output, orbit
):
    """A full disk while writing the --show viewer: one line, exit 1 (a failed run:
    lamina.io reports a full disk as a LaminaError on the output path), and neither
    the still, the numbered frames nor the animation is left behind."""
    from lamina.scene import frames

    def full_disk(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        from lamina.io import atomic_write

        with atomic_write(path, "w") as handle:
            handle.write("<!doctype html>")
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(frames, "write_viewer", full_disk)
    result = invoke("procedural:stacked_quads:2", "-o", str(tmp_path / output), "--size", "8x6",
                    "--renderer", "reference", *orbit, "--show")  # fmt: skip
    assert result.exit_code == 1 and "No space left" in result.stderr, result.output
    assert result.stderr.count("\n") == 1
    assert not any(tmp_path.iterdir())


def test_orbit_frames_and_viewer_stay_in_the_named_folder(tmp_path):
    """'..' in -o is the user's own path: every file lands in the folder it names."""
    (tmp_path / "a" / "b").mkdir(parents=True)
    out = tmp_path / "a" / "b" / ".." / "frames.png"
    result = invoke("procedural:stacked_quads:2", "-o", str(out), "--size", "8x6",
                    "--renderer", "reference", "--orbit", "3", "--show")  # fmt: skip
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == ["b", "frames.html", "frames_0000.png", "frames_0001.png", "frames_0002.png"]
    assert not any((tmp_path / "a" / "b").iterdir()) and sorted(tmp_path.iterdir()) == [
        tmp_path / "a"
    ]


ASCII_PLY = (
    "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
    "property float z\nproperty uchar red\nproperty uchar green\nproperty uchar blue\n"
    "element face 1\nproperty list uchar int vertex_indices\nend_header\n"
    "0 0 0 {red} 0 0\n1 0 0 0 255 0\n0 1 0 0 0 255\n3 0 1 {index}\n"
)


@pytest.mark.parametrize(
    ("red", "index", "message"),
    [
        ("300", "2", "'red' (uint8) holds 300"),  # trimesh read 44
        ("-5", "2", "'red' (uint8) holds -5"),  # trimesh read 251
        ("255", str(2**32 + 2), "'vertex_indices' (int32) holds 4.29497e+09"),  # read 2
        ("255", "1.5", "'vertex_indices' (int32) holds 1.5"),  # read 1
    ],
)
def test_ascii_ply_integers_their_type_cannot_hold_are_refused(tmp_path, red, index, message):
    """With a colour override too: the check was skipped then, and 1.5 read as 1."""
    (tmp_path / "wrap.ply").write_text(ASCII_PLY.format(red=red, index=index))
    for color in (None, (0.2, 0.4, 0.6)):
        with pytest.raises(InputError, match=r"wrap\.ply: .*" + re.escape(message)) as caught:
            load_mesh(tmp_path / "wrap.ply", color=color)
        assert "\n" not in str(caught.value)
    from lamina.scene.files import load_scene_file

    (tmp_path / "s.toml").write_text('[[mesh]]\npath = "wrap.ply"\ncolor = [1, 0, 0]\n')
    with pytest.raises(InputError, match=r"s\.toml:2 \[mesh\[0\]\.path\]: .*" + re.escape(message)):
        load_scene_file(tmp_path / "s.toml")
    (tmp_path / "ok.ply").write_text(ASCII_PLY.format(red="255", index="2"))
    scene = load_mesh(tmp_path / "ok.ply")
    assert scene.vertex_colors[:, :3].tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]


def test_gltf_normals_are_read_and_turned_with_their_node(tmp_path):
    """glTF's NORMAL was dropped: the node's mesh was copied without trimesh's cache."""
    import trimesh

    from lamina.scene.meshes import read_mesh

    normal = [0.0, 0.6, 0.8]
    mesh = trimesh.Trimesh(
        [[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]], vertex_normals=[normal] * 3, process=False
    )
    scene = trimesh.Scene()
    scene.add_geometry(
        mesh, transform=trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0])
    )
    scene.export(tmp_path / "turned.glb")
    _, normals = read_mesh(tmp_path / "turned.glb")
    np.testing.assert_allclose(normals, [[0.0, -0.8, 0.6]] * 3, atol=1e-6)  # x by 90 degrees


@pytest.mark.parametrize("power", [-900, -400, -60, 60, 400])
def test_a_lit_scene_and_camera_scaled_by_a_power_of_two_render_bit_identical(power):
    """Every length in the pipeline scales exactly by 2**power (clip coordinates, w,
    lighting's unit vectors), so no absolute epsilon may show: 2**400 is 2.6e120,
    within MAX_COORDINATE; 2**-400 is 3.9e-121. Before: 2**-400 made every face
    'degenerate' (squared cross products underflowed) and vertex normals overflowed at
    2**400. On the host the Taichi renderers take the colour planes in float64; the
    float32 planes of devices without float64 (Vulkan), where 1/w left float32's range
    (NaN pixels), are tested on their own below."""

    from lamina.plugins.oit.renderers import (
        DepthPeeling,
        DualDepthPeeling,
        FragmentList,
        MultiLayerDepthPeeling,
    )
    from lamina.scene.lighting import Light, Lighting, shade
    from lamina.scene.procedural import nested_spheres

    scene, camera = nested_spheres(2, subdivisions=1)
    s = 2.0**power
    big = scene.transformed(np.diag([s, s, s, 1.0]))
    moved = _scaled_camera(camera, s)
    lighting = Lighting(lights=(Light((1, 2, 3)),), edge_opacity=0.4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        for cls in (Reference, FragmentList, DepthPeeling, DualDepthPeeling,
                    MultiLayerDepthPeeling):  # fmt: skip
            renderer = cls()
            expected = renderer.render(shade(scene, camera, lighting), camera, (12, 16)).image
            found = renderer.render(shade(big, moved, lighting), moved, (12, 16)).image
            np.testing.assert_array_equal(found, expected)


def _scaled_camera(camera: Camera, s: float) -> Camera:
    """``camera`` with its eye, target, near and far scaled by ``s``."""
    import dataclasses

    return dataclasses.replace(
        camera,
        eye=tuple(np.multiply(camera.eye, s)),
        target=tuple(np.multiply(camera.target, s)),
        near=camera.near * s,
        far=camera.far * s,
    )


@pytest.mark.parametrize("power", [-400, -100, 100, 400])
def test_float32_colour_planes_give_the_colours_of_scale_1_bit_for_bit(power):
    """raster.float32_shade (the colour planes of float32 devices: Vulkan) called on the
    setup of a lit scene and camera scaled by 2**power: 1/w is near 2**-power, which
    float32 flushes to 0 or overflows (NaN colours); rescaled per triangle by a power of
    two, the float32 colour ratios at every triangle's anchor pixel and at steps from it
    are those of scale 1, bit for bit."""

    from lamina.plugins.oit.raster import SHADE_ANCHOR, float32_shade, setup
    from lamina.scene.lighting import Lighting, shade
    from lamina.scene.procedural import nested_spheres

    scene, camera = nested_spheres(2, subdivisions=1)
    s = 2.0**power
    moved = _scaled_camera(camera, s)
    lighting = Lighting(edge_opacity=0.4)
    base = setup(shade(scene, camera, lighting), camera, (12, 16))
    scaled = setup(shade(scene.transformed(np.diag([s, s, s, 1.0])), moved, lighting), moved,
                   (12, 16))  # fmt: skip
    assert float32_shade(base) is base.shade  # 1/w within float32's range: no copy
    np.testing.assert_array_equal(scaled.table, base.table)  # the same raster triangles

    def colours(planes: np.ndarray) -> np.ndarray:
        """Straight RGBA in float32 at the anchor and 1-3 pixels from it in i and j."""
        planes = planes[:, :SHADE_ANCHOR].astype(np.float32)
        steps = np.array([[0, 0], [1, 0], [0, 1], [3, -2]], np.float32)[:, None, None]
        at = planes[:, :5] + planes[:, 5:10] * steps[..., 0] + planes[:, 10:15] * steps[..., 1]
        return at[..., :4] / at[..., 4:5]

    expected = colours(base.shade)  # planes extend past a triangle: any finite colours
    anchor = base.shade[:, SHADE_ANCHOR : SHADE_ANCHOR + 2].astype(np.int64).T
    float64 = base.rgba(np.arange(base.n), *anchor)
    np.testing.assert_allclose(expected[0], float64, rtol=1e-5, atol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        found = colours(float32_shade(scaled))
    np.testing.assert_array_equal(found, expected)
    if abs(power) > 128:  # without the rescale 1/w leaves float32's range
        with np.errstate(all="ignore"):
            assert not np.isfinite(colours(scaled.shade)).all()


@pytest.mark.parametrize("power", [-600, -30, 30, 480])
def test_a_mesh_file_at_any_scale_is_framed_and_lit_alike(tmp_path, power):
    """The automatic camera and headlight of `lamina render mesh.obj`: a radius floor of
    1e-9 left a mesh at 2**-600 world units a sub-pixel speck."""
    from lamina.scene.files import load
    from lamina.scene.lighting import shade

    vertices, faces = random_mesh(4)
    images = []
    for scale in (1.0, 2.0**power):
        lines = [f"v {x!r} {y!r} {z!r}" for x, y, z in (vertices * scale).tolist()]
        lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces.tolist()]
        (tmp_path / "m.obj").write_text("\n".join(lines) + "\n")
        loaded = load(str(tmp_path / "m.obj"))
        lit = shade(loaded.scene, loaded.camera)
        images.append(Reference().render(lit, loaded.camera, (12, 16)).image)
    assert images[0][..., 3].max() > 0.5
    np.testing.assert_allclose(images[1], images[0], rtol=0, atol=1e-6)


def test_supersampling_past_memory_is_refused_by_the_guard_before_rendering(tmp_path, monkeypatch):
    """--samples 8 at 2048x2048 renders 16384 x 16384 (10 GiB with its writing)."""
    monkeypatch.setenv("LAMINA_MEMORY_LIMIT", "2G")
    result = invoke("procedural:stacked_quads:2", "-o", str(tmp_path / "x.png"),
                    "--size", "2048x2048", "--samples", "8")  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "LAMINA_MEMORY_LIMIT" in result.stderr and "fewer --samples" in result.stderr
    assert result.stderr.count("\n") == 1 and not any(tmp_path.iterdir())


def random_face(rng: np.random.Generator, power: int) -> np.ndarray:
    """Three corners (3, 3) of a random non-degenerate triangle scaled by 2**power."""
    corners = rng.normal(size=(3, 3))
    while np.linalg.norm(np.cross(corners[1] - corners[0], corners[2] - corners[0])) < 0.1:
        corners = rng.normal(size=(3, 3))
    return np.ldexp(corners, power)


@pytest.mark.parametrize("seed", SEEDS)
def test_vertex_normals_of_faces_at_any_two_scales_are_each_faces_own(seed):
    """A mesh mixing scales (a face at 2**480, one at 2**-1000): the smaller face's
    normals were NaN (its cross product, under one rescale for the whole mesh, squared
    to 0 in the norm). Each face alone and both in one mesh give the same unit normals,
    bit for bit, for every pair of scales from subnormal-adjacent to MAX_COORDINATE."""
    from lamina.scene.lighting import vertex_normals

    rng = np.random.default_rng(seed)
    powers = [-1000, -300, -83, 0, 200, 480]
    faces = np.array([[0, 1, 2], [3, 4, 5]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for big in powers:
            for small in powers:
                a, b = random_face(rng, big), random_face(rng, small)
                found = vertex_normals(np.vstack([a, b]), faces)
                alone = [vertex_normals(f, faces[:1])[0] for f in (a, b)]
                np.testing.assert_array_equal(found, alone, err_msg=f"{big}, {small}")
                np.testing.assert_allclose(lengths_of(found), 1.0, rtol=1e-15)


def lengths_of(vectors: np.ndarray) -> np.ndarray:
    return np.sqrt((np.asarray(vectors, dtype=np.float64) ** 2).sum(axis=-1))


def test_a_mesh_mixing_1e60_and_1e_25_renders_lit_from_the_command_line(tmp_path):
    """The reviewer's file: a face at 1e60 and one at 1e-25 (NaN normals, then NaN
    colours); and a vertex shared by a huge and a tiny face takes the huge face's
    normal (area-weighted), finite."""
    from lamina.scene.lighting import vertex_normals

    (tmp_path / "mix.obj").write_text(
        "v 0 0 0\nv 1e60 0 0\nv 0 1e60 0\nv 0 0 5\nv 1e-25 0 5\nv 0 1e-25 5\nf 1 2 3\nf 4 5 6\n"
    )
    out = tmp_path / "mix.npy"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = invoke(str(tmp_path / "mix.obj"), "-o", str(out), "--size", "8x8",
                        "--renderer", "reference")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert np.isfinite(np.load(out)).all()
    shared = np.array([[0, 0, 0], [1e60, 0, 0], [0, 1e60, 0], [0, 1e-30, 0], [0, 0, 1e-30]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        normals = vertex_normals(shared, np.array([[0, 1, 2], [0, 3, 4]]))
    np.testing.assert_allclose(normals[:, 0], [[0, 0, 1]] * 2, rtol=0, atol=1e-150)
    np.testing.assert_array_equal(normals[1, 1:], [[1, 0, 0]] * 2)  # the tiny face's own


@pytest.mark.parametrize("power", [-1010, -1000, -990])
def test_headlight_on_a_mesh_near_the_smallest_normal_number_lights_as_at_scale_1(power):
    """The view vector was divided by max(length, 1e-300), so below 1e-300 it was not
    normalised and the lighting of a triangle at 2**-1000 came out 0.49 off. (Not
    below: once Taichi has run, this process flushes subnormals to zero, and the
    framing camera's near plane at 2**-1020 is one.)"""
    from lamina.scene.camera import frame_camera
    from lamina.scene.lighting import Lighting, shade

    colours = []
    for scale in (1.0, 2.0**power):
        scene = Scene(
            vertices=np.array([[0, 0, 0], [scale, 0, 0], [0, scale, 0]]),
            faces=np.array([[0, 1, 2]]),
            vertex_colors=np.eye(3),
        )
        lit = shade(scene, frame_camera(scene), Lighting(edge_opacity=0.5))
        colours.append(lit.vertex_colors)
    np.testing.assert_allclose(colours[1], colours[0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_ascii_stl_with_a_utf8_byte_order_mark_reads_the_written_triangles(tmp_path, seed):
    """Editors on Windows save text with a BOM: such an ASCII STL was refused as a
    truncated binary one (its first bytes are not 'solid')."""
    vertices, faces = random_mesh(seed, triangles=4)
    rows = "".join(
        "facet normal 0 0 0\nouter loop\n"
        + "".join(f"vertex {x!r} {y!r} {z!r}\n" for x, y, z in vertices[face].tolist())
        + "endloop\nendfacet\n"
        for face in faces
    )
    path = tmp_path / "bom.stl"
    path.write_bytes(b"\xef\xbb\xbf" + f"solid t\n{rows}endsolid t\n".encode())
    scene = load_mesh(path)
    np.testing.assert_array_equal(scene.vertices[scene.faces], vertices[faces])


@pytest.mark.parametrize("size", [3e149, 5e149, 1e150])
def test_a_mesh_too_large_to_frame_names_its_radius_not_the_far_plane(tmp_path, size):
    """Automatic framing puts far at about 5.6 radii: a mesh within MAX_COORDINATE but of
    radius over 1.78e149 was refused naming `far`, which the user never gave."""
    (tmp_path / "big.obj").write_text(f"v 0 0 0\nv {size!r} 0 0\nv 0 {size!r} 0\nf 1 2 3\n")
    result = invoke(str(tmp_path / "big.obj"), "-o", str(tmp_path / "big.png"), "--size", "8x8",
                    "--renderer", "reference")  # fmt: skip
    assert result.exit_code == 2, result.output
    radius = size / math.sqrt(2)  # centre of the bounding box to its far corners
    message = f"the mesh's radius {radius:.3g} is too large to frame within MAX_COORDINATE"
    assert message in result.stderr and "far plane lies 5.62 radii" in result.stderr
    assert result.stderr.count("\n") == 1 and sorted(tmp_path.iterdir()) == [tmp_path / "big.obj"]


def test_the_largest_mesh_the_readme_says_is_framed_is_framed():
    from pathlib import Path

    from lamina.scene.camera import frame_camera, largest_framed_radius

    limit = largest_framed_radius()
    readme = Path(__file__).parents[3] / "plugins" / "oit" / "README.md"
    from lamina.limits import LIMITS

    assert f"{limit:.3g}" in readme.read_text()
    assert f"{limit:.3g}" in LIMITS["MAX_COORDINATE"].applies_to
    for radius in (limit * 0.999, limit * 1.001):
        scene = Scene(
            vertices=np.array([[-radius, 0, 0], [radius, 0, 0], [0, radius, 0], [0, -radius, 0]]),
            faces=np.array([[0, 1, 2], [0, 3, 1]]),
            face_colors=(1, 1, 1, 1),
        )
        if radius < limit:
            assert frame_camera(scene).far <= MAX_COORDINATE
        else:
            with pytest.raises(InputError, match="too large to frame"):
                frame_camera(scene)


@pytest.mark.parametrize(
    ("mesh", "transform", "key"),
    [
        ('procedural = "stacked_quads"', "scale = 1e149", "scale"),
        ('procedural = "stacked_quads"', "scale = 1e300", "scale"),
        ('procedural = "stacked_quads"', "scale = [1, 1e200, 1]", "scale"),
        ('path = "far.obj"', "translate = [1e150, 0, 0]", "translate"),
        ('path = "far.obj"', "rotate = [0, 0, 45]", "rotate"),
        ('path = "far.obj"', "scale = 1e300\nrotate = [0, 0, 45]", "scale"),
    ],
)
def test_a_scene_file_transform_past_max_coordinate_names_the_file_line_and_key(
    tmp_path, mesh, transform, key
):
    """The error had no file, line or key (it came from the transformed vertices)."""
    from lamina.scene.files import load_scene_file

    (tmp_path / "far.obj").write_text("v 0 0 0\nv 9e149 0 0\nv 9e149 9e149 0\nf 1 2 3\n")
    path = tmp_path / "s.toml"
    path.write_text(f"[[mesh]]\n{mesh}\n{transform}\n")
    line = 2 + [t.split(" =")[0] for t in transform.split("\n")].index(key) + 1
    with refused_without_a_warning(rf"s\.toml:{line} \[mesh\[0\]\.{key}\]: ") as e:
        load_scene_file(path)
    assert "MAX_COORDINATE" in str(e.value) and "\n" not in str(e.value)
    # Quads of side 1 moved to 9.9e149 lose their area to rounding: also the transform's.
    path.write_text('[[mesh]]\nprocedural = "stacked_quads"\ntranslate = [9.9e149, 0, 0]\n')
    with pytest.raises(InputError, match=r"s\.toml:3 \[mesh\[0\]\.translate\]: .*degenerate"):
        load_scene_file(path)


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ('[[mesh]]\nprocedural = "stacked_quads"\ncolor = [1e200, 0, 0]', "mesh[0].color"),
        ('[[mesh]]\nprocedural = "stacked_quads"\ncolor = [2, 0, 0]', "mesh[0].color"),
        (
            '[image]\nbackground = [0, -1e300, 0]\n[[mesh]]\nprocedural = "stacked_quads"',
            "image.background",
        ),
    ],
)
def test_a_scene_file_colour_out_of_range_is_held_to_0_1_not_max_coordinate(tmp_path, table, key):
    from lamina.scene.files import load_scene_file

    (tmp_path / "s.toml").write_text(table + "\n")
    with pytest.raises(InputError, match=re.escape(f"[{key}]: values must lie in [0, 1]")):
        load_scene_file(tmp_path / "s.toml")


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_given_normals_of_any_length_light_alike_and_bad_ones_name_their_vertex(seed):
    """shade(normals=...) took lengths by squares: normals of length 1e200 were refused as
    'not finite' and those of 1e-200 as zero; its error named no vertex."""
    from lamina.scene.lighting import Lighting, shade

    vertices, faces = random_mesh(seed, triangles=6)
    scene = Scene(vertices=vertices, faces=faces, face_colors=(0.8, 0.5, 0.3, 0.6))
    camera = Camera.look_at((0.3, 0.2, 6), (0, 0, 0))
    rng = np.random.default_rng(seed)
    unit = rng.normal(size=vertices.shape)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    lighting = Lighting(edge_opacity=0.5)
    expected = shade(scene, camera, lighting, normals=unit).vertex_colors
    lengths = np.ldexp(1.0, rng.integers(-1000, 500, size=(len(vertices), 1)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        found = shade(scene, camera, lighting, normals=unit * lengths).vertex_colors
    np.testing.assert_allclose(found, expected, rtol=0, atol=1e-15)
    bad = unit.copy()
    bad[faces[2, 1]] = 0.0
    with pytest.raises(InputError, match=rf"normal of vertex {faces[2, 1]} is \[0.0, 0.0, 0.0\]"):
        shade(scene, camera, lighting, normals=bad)


def test_the_narrowest_view_is_the_projection_scale_limit():
    """tan(fov_y / 2) and the orthographic height reach down to 1 / MAX_PROJECTION_SCALE,
    and no further, naming the limit."""
    from lamina.limits import MAX_PROJECTION_SCALE

    smallest = 1.0 / MAX_PROJECTION_SCALE
    fov = math.degrees(2.0 * math.atan(smallest))
    for name, value in (("ortho_height", smallest), ("fov_y", fov * (1 + 1e-12))):
        Camera.look_at((0, 0, 5), (0, 0, 0), **{name: value})
        with pytest.raises(InputError, match=rf"{name} must be at least .*MAX_PROJECTION_SCALE"):
            Camera.look_at((0, 0, 5), (0, 0, 0), **{name: value * (1 - 1e-9)})


def test_an_eye_given_far_from_a_large_mesh_names_the_eye_not_far(tmp_path):
    """The depth range fitted to a hand-placed eye put far at 1.5 x the far side: an eye
    8e149 from a mesh of radius 7e148 was refused naming `far`, which the user
    never gave. Far is cut to MAX_COORDINATE where the mesh's far side is within it;
    beyond, the error names the eye."""
    (tmp_path / "b.obj").write_text("v 0 0 0\nv 1e149 0 0\nv 0 1e149 0\nf 1 2 3\n")
    out = tmp_path / "x.npy"
    common = ["-o", str(out), "--size", "8x8", "--renderer", "reference"]
    result = invoke(str(tmp_path / "b.obj"), *common, "--eye", "0,0,8e149")
    assert result.exit_code == 0, result.output
    assert np.load(out)[..., 3].max() > 0  # the mesh is in view
    out.unlink()
    result = invoke(str(tmp_path / "b.obj"), *common, "--eye", "0,0,1e150")
    assert result.exit_code == 2, result.output
    assert "far side lies beyond MAX_COORDINATE" in result.stderr and "eye [" in result.stderr
    assert result.stderr.count("\n") == 1 and not out.exists()
    from lamina.scene.files import load_scene_file  # a scene file's [camera] alike

    scene_file = tmp_path / "s.toml"
    for eye, far in (("8e149", MAX_COORDINATE), ("1e150", None)):
        scene_file.write_text(f'[camera]\neye = [0, 0, {eye}]\n[[mesh]]\npath = "b.obj"\n')
        if far is not None:
            assert load_scene_file(scene_file).camera.far == far
        else:
            with pytest.raises(InputError, match=r"s\.toml:2 \[camera\.eye\]: eye .* far side"):
                load_scene_file(scene_file)


def test_depth_range_cuts_near_too_and_asks_for_a_smaller_scene_when_the_eye_cannot_help():
    """An orthographic eye at the centre of a mesh of radius 8.7e149 got a near of
    -1.3e150, beyond MAX_COORDINATE and named though the user never gave it; a mesh
    whose radius alone is past the bound was told to move the eye nearer."""
    from lamina.scene.camera import depth_range

    corners = np.array([[-1, -1, -1], [1, 1, 1], [1, -1, 0]], dtype=float)
    inside = Scene(vertices=0.5e150 * corners, faces=[[0, 1, 2]], face_colors=(1, 1, 1, 1))
    near, far = depth_range(np.array([0.0, 0.0, 1.0]), inside, "orthographic")
    assert (near, far) == (-MAX_COORDINATE, MAX_COORDINATE)
    beyond = Scene(vertices=1e150 * corners, faces=[[0, 1, 2]], face_colors=(1, 1, 1, 1))
    with pytest.raises(InputError, match="scale the scene down"):
        depth_range(np.array([0.0, 0.0, 1.0]), beyond, "orthographic")


def test_a_mesh_too_large_to_frame_loads_with_a_hand_placed_camera(tmp_path):
    """A scene file whose [camera] gives eye and target was refused by the automatic
    camera it never asked for ("too large to frame"); without them it still is."""
    from lamina.scene.files import load_scene_file

    (tmp_path / "tri.obj").write_text("v -1 -1 0\nv 1 1 0\nv 1 -1 0\nf 1 2 3\n")
    mesh = '[[mesh]]\npath = "tri.obj"\nscale = 2e149\n'
    placed = '[camera]\neye = [0, 0, 1]\ntarget = [0, 0, 0]\nprojection = "orthographic"\n'
    (tmp_path / "s.toml").write_text(placed + "ortho_height = 1e149\n" + mesh)
    camera = load_scene_file(tmp_path / "s.toml").camera
    assert camera.eye == (0.0, 0.0, 1.0) and camera.far <= MAX_COORDINATE
    (tmp_path / "s.toml").write_text(mesh)
    with pytest.raises(InputError, match="too large to frame"):
        load_scene_file(tmp_path / "s.toml")


def test_a_library_render_too_magnified_for_float64_is_refused():
    """The command line refuses such a view naming --zoom/--fov; a library call to a
    renderer is refused too, not drawn with edges moved by rounding."""
    scene = Scene(
        vertices=np.eye(3), faces=np.array([[0, 1, 2]]), face_colors=np.array([[1, 0, 0, 0.5]])
    )
    camera = Camera.look_at((0, 0, 4), (0, 0, 0), fov_y=1e-11)
    with pytest.raises(InputError, match="MAX_VIEW_MAGNIFICATION"):
        Reference().render(scene, camera, (64, 64))
