"""Procedural scenes and loaders: the geometry they claim, colours from files, errors."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import trimesh

import lamina
from lamina import ConfigError, InputError
from lamina.scene import Camera, Scene, procedural
from lamina.scene.camera import frame_camera, transform_matrix
from lamina.scene.files import load, load_scene_file
from lamina.scene.meshes import load_mesh

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "scenes"


@pytest.fixture(scope="module")
def reference():
    return lamina.create("renderer", "reference")


def _rays(camera: Camera, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre rays of a perspective look-at camera, row 0 at the top: an
    independent restatement of the camera model, (H, W, 3) origins and directions."""
    height, width = size
    eye, target = np.array(camera.eye), np.array(camera.target)
    forward = (target - eye) / np.linalg.norm(target - eye)
    right = np.cross(forward, camera.up)
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    half = math.tan(math.radians(camera.fov_y) / 2.0)
    x = ((np.arange(width) + 0.5) / width * 2.0 - 1.0) * half * width / height
    y = (1.0 - (np.arange(height) + 0.5) / height * 2.0) * half
    xx, yy = np.meshgrid(x, y)
    directions = forward + xx[..., None] * right + yy[..., None] * up
    return np.broadcast_to(eye, directions.shape), directions


def _quad_planes(scene: Scene) -> tuple[np.ndarray, np.ndarray]:
    """Corner sets (Q, 4, 3) of the quads of a procedural quad scene (faces 2q, 2q+1)."""
    first, second = scene.faces[0::2], scene.faces[1::2]
    corners = np.concatenate([scene.vertices[first], scene.vertices[second][:, 2:3]], axis=1)
    return corners, scene.face_colors[0::2]


# -- procedural scenes -----------------------------------------------------------------


@pytest.mark.parametrize("size", [(9, 13), (8, 64), (12, 12)])
@pytest.mark.parametrize("n", [1, 5])
def test_stacked_quads_cover_every_pixel_n_times(reference, n, size):
    scene, camera = procedural.stacked_quads(n)
    complexity = reference.render(scene, camera, size).depth_complexity
    assert np.all(complexity == n)


def test_stacked_quads_are_not_in_depth_order():
    scene, _ = procedural.stacked_quads(12)
    depth_by_face_order = scene.vertices[scene.faces[0::2, 0], 2]
    assert not np.all(np.diff(depth_by_face_order) <= 0), "faces already sorted far to near"
    assert not np.all(np.diff(depth_by_face_order) >= 0), "faces already sorted near to far"
    assert len(np.unique(depth_by_face_order)) == 12


def test_partial_quads_depth_complexity_counts_covering_rectangles(reference):
    size = (20, 28)
    height, width = size
    scene, camera = procedural.partial_quads(7, seed=4)
    corners, _ = _quad_planes(scene)
    half = math.tan(math.radians(camera.fov_y) / 2.0)
    columns, rows = np.arange(width) + 0.5, np.arange(height) + 0.5
    expected = np.zeros(size, int)
    ambiguous = np.zeros(size, bool)
    for quad in corners:
        z = quad[0, 2]
        assert np.all(quad[:, 2] == z), "partial quads face the camera"
        # The rectangle in pixel units: x right from the left edge, y down from the top.
        scale = (camera.eye[2] - z) * half
        lo, hi = quad.min(axis=0), quad.max(axis=0)
        x0, x1 = (np.array([lo[0], hi[0]]) / (scale * width / height) + 1.0) / 2.0 * width
        y0, y1 = (1.0 - np.array([hi[1], lo[1]]) / scale) / 2.0 * height
        inside_x, inside_y = (columns > x0) & (columns < x1), (rows > y0) & (rows < y1)
        expected += inside_y[:, None] & inside_x[None, :]
        # Renderers snap vertices to 1/256 pixel: an edge that close to a pixel centre
        # may fall either side of it.
        near_x = np.minimum(abs(columns - x0), abs(columns - x1)) < 1 / 128
        near_y = np.minimum(abs(rows - y0), abs(rows - y1)) < 1 / 128
        ambiguous |= (near_y[:, None] & inside_x[None, :]) | (inside_y[:, None] & near_x[None, :])
    found = reference.render(scene, camera, size).depth_complexity
    assert ambiguous.sum() < 0.05 * ambiguous.size
    np.testing.assert_array_equal(found[~ambiguous], expected[~ambiguous])
    assert np.all(np.abs(found - expected) <= 1)
    assert expected.min() == 0 and expected.max() >= 3, "coverage should vary"


@pytest.mark.parametrize("size", [(9, 16), (11, 11)])
def test_intersecting_quads_cover_every_pixel_and_cross_in_view(reference, size):
    n = 6
    scene, camera = procedural.intersecting_quads(n)
    assert np.all(reference.render(scene, camera, size).depth_complexity == n)
    # Ray-plane depths of every quad at every pixel: the front-to-back order changes
    # across the image, so the quads really cut through each other inside the view.
    corners, _ = _quad_planes(scene)
    origins, directions = _rays(camera, size)
    depths = []
    for quad in corners:
        normal = np.cross(quad[1] - quad[0], quad[2] - quad[0])
        t = ((quad[0] - origins) @ normal) / (directions @ normal)
        depths.append(t)
    orders = np.argsort(np.stack(depths, axis=-1), axis=-1).reshape(-1, n)
    assert len(np.unique(orders, axis=0)) >= n
    assert len(np.unique(orders[:, 0])) >= 3, "the same quad is in front everywhere"


def test_coplanar_pair_ties_are_exact_and_broken_by_face_order(reference):
    scene, camera = procedural.coplanar_pair(opacity=0.5)
    assert np.all(scene.vertices[:, 2] == 0.0)
    size = (30, 40)
    result = reference.render(scene, camera, size)
    assert result.depth_complexity.max() == 2
    red, blue = scene.face_colors[0], scene.face_colors[2]
    assert red[0] > red[2] and blue[2] > blue[0]
    # Centre pixel lies in both quads: red (lower face index) in front of blue.
    front = np.append(red[:3] * red[3], red[3])
    back = np.append(blue[:3] * blue[3], blue[3])
    expected = front + (1.0 - red[3]) * back
    np.testing.assert_allclose(result.image[15, 20], expected, atol=1e-6)


@pytest.mark.parametrize("n", [1, 3])
def test_nested_spheres_centre_ray_crosses_every_shell_twice(reference, n):
    scene, camera = procedural.nested_spheres(n, subdivisions=2)
    complexity = reference.render(scene, camera, (21, 21)).depth_complexity
    assert complexity[10, 10] == 2 * n
    assert complexity.max() == 2 * n


def test_torus_side_view_crosses_four_walls_per_tube(reference):
    n = 2
    scene, _ = procedural.torus(n, segments=32, rings=12)
    side = Camera.look_at(eye=(0.0, 0.0, 5.0), target=(0.0, 0.0, 0.0), fov_y=45.0)
    complexity = reference.render(scene, side, (21, 31)).depth_complexity
    assert complexity[10, 15] == 4 * n
    assert complexity.max() == 4 * n


@pytest.mark.parametrize("name", list(procedural.PROCEDURAL))
def test_generators_are_deterministic_with_colours_inside_the_unit_interval(name):
    first, camera = procedural.procedural_scene(name)
    second, _ = procedural.procedural_scene(name)
    colors = first.face_colors if first.face_colors is not None else first.vertex_colors
    other = second.face_colors if second.face_colors is not None else second.vertex_colors
    np.testing.assert_array_equal(first.vertices, second.vertices)
    np.testing.assert_array_equal(colors, other)
    assert np.all((colors > 0.0) & (colors < 1.0))
    assert isinstance(camera, Camera)


def test_seed_changes_the_scene_and_colour_modes_switch_storage():
    a, _ = procedural.stacked_quads(4, seed=0)
    b, _ = procedural.stacked_quads(4, seed=1)
    assert not np.array_equal(a.face_colors, b.face_colors)
    by_vertex, _ = procedural.nested_spheres(2, subdivisions=1, color_mode="vertex")
    by_face, _ = procedural.torus(1, segments=8, rings=4, color_mode="face")
    assert by_vertex.vertex_colors is not None and by_vertex.face_colors is None
    assert by_face.face_colors is not None and by_face.vertex_colors is None


def test_automatic_opacity_leaves_a_little_light_through_the_stack():
    scene, _ = procedural.stacked_quads(40)
    transmittance = np.prod(1.0 - scene.face_colors[0::2, 3])
    assert 0.005 < transmittance < 0.3
    fixed, _ = procedural.stacked_quads(3, opacity=0.25)
    assert np.all(fixed.face_colors[:, 3] == 0.25)


@pytest.mark.parametrize(
    "call",
    [
        lambda: procedural.stacked_quads(0),
        lambda: procedural.stacked_quads(2.5),
        lambda: procedural.stacked_quads(3, opacity=1.5),
        lambda: procedural.intersecting_quads(3, tilt=0.0),
        lambda: procedural.nested_spheres(2, subdivisions=9),
        lambda: procedural.nested_spheres(2, color_mode="pixel"),
        lambda: procedural.torus(1, major=1.0, minor=1.0),
        lambda: procedural.torus(1, segments=2),
        lambda: procedural.procedural_scene("coplanar_pair", n=3),
    ],
)
def test_bad_generator_arguments_raise_input_error(call):
    with pytest.raises(InputError):
        call()


def test_unknown_generator_suggests_close_names():
    with pytest.raises(InputError, match="stacked_quads"):
        procedural.procedural_scene("stacked_quad")


# -- mesh files ------------------------------------------------------------------------


def test_ply_vertex_colours_round_trip(tmp_path):
    mesh = trimesh.creation.icosphere(subdivisions=1)
    rng = np.random.default_rng(0)
    colours = rng.integers(1, 255, (len(mesh.vertices), 4), dtype=np.uint8)
    mesh.visual.vertex_colors = colours
    mesh.export(tmp_path / "sphere.ply")
    scene = load_mesh(tmp_path / "sphere.ply")
    np.testing.assert_allclose(scene.vertices, mesh.vertices)
    np.testing.assert_array_equal(scene.faces, mesh.faces)
    np.testing.assert_allclose(scene.vertex_colors, colours / 255.0)
    assert scene.face_colors is None


@pytest.mark.parametrize("suffix", [".ply", ".glb"])
def test_face_colours_round_trip(tmp_path, suffix):
    mesh = trimesh.creation.box()
    # glTF has no face colours: with private vertices per face they survive as vertex colours.
    mesh.unmerge_vertices()
    colours = np.tile([200, 40, 10, 100], (len(mesh.faces), 1)).astype(np.uint8)
    colours[::2, 1] = 90
    mesh.visual.face_colors = colours
    mesh.export(tmp_path / f"box{suffix}")
    scene = load_mesh(tmp_path / f"box{suffix}")
    assert scene.n_triangles == 12
    rgba = (
        scene.face_colors
        if scene.face_colors is not None
        else scene.vertex_colors[scene.faces[:, 0]]
    )
    np.testing.assert_allclose(rgba, colours / 255.0)


def test_stl_has_no_colour_so_overrides_apply(tmp_path):
    trimesh.creation.box().export(tmp_path / "box.stl")
    plain = load_mesh(tmp_path / "box.stl")
    np.testing.assert_allclose(plain.face_colors, np.tile([0.8, 0.8, 0.8, 1.0], (12, 1)))
    tinted = load_mesh(tmp_path / "box.stl", color=(0.1, 0.2, 0.3), opacity=0.25)
    np.testing.assert_allclose(tinted.face_colors, np.tile([0.1, 0.2, 0.3, 0.25], (12, 1)))
    rgba = load_mesh(tmp_path / "box.stl", color=(0.1, 0.2, 0.3, 0.6))
    np.testing.assert_allclose(rgba.face_colors[:, 3], 0.6)


def test_obj_material_colour_and_opacity(tmp_path):
    (tmp_path / "m.mtl").write_text(
        "newmtl glass\nKd 0.123 0.456 0.789\nd 0.35\nnewmtl smoke\nKd 0.5 0.5 0.5\nTr 0.75\n"
    )
    (tmp_path / "m.obj").write_text(
        "mtllib m.mtl\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 0 0 1\n"
        "usemtl glass\nf 1 2 3\nf 1 3 4\nusemtl smoke\nf 1 2 5\n"
    )
    scene = load_mesh(tmp_path / "m.obj")
    rows = {tuple(np.round(c, 6)) for c in scene.face_colors}
    assert rows == {(0.123, 0.456, 0.789, 0.35), (0.5, 0.5, 0.5, 0.25)}
    assert scene.n_triangles == 3
    opaque = load_mesh(tmp_path / "m.obj", opacity=1.0)
    assert np.all(opaque.face_colors[:, 3] == 1.0)


def test_glb_material_alpha_and_node_transforms(tmp_path):
    box = trimesh.creation.box()
    material = trimesh.visual.material.PBRMaterial(
        baseColorFactor=[51, 102, 204, 128], alphaMode="BLEND"
    )
    box.visual = trimesh.visual.TextureVisuals(material=material)
    scene = trimesh.Scene()
    scene.add_geometry(box, transform=trimesh.transformations.translation_matrix([5, 0, 0]))
    scene.add_geometry(box.copy(), transform=trimesh.transformations.translation_matrix([0, -3, 0]))
    scene.export(tmp_path / "two.glb")
    loaded = load_mesh(tmp_path / "two.glb")
    assert loaded.n_triangles == 24
    np.testing.assert_allclose(loaded.bounds, [[-0.5, -3.5, -0.5], [5.5, 0.5, 0.5]])
    np.testing.assert_allclose(loaded.face_colors, np.tile([0.2, 0.4, 0.8, 128 / 255], (24, 1)))


def test_glb_texture_is_sampled_per_vertex_and_scaled_by_the_factor(tmp_path):
    from PIL import Image

    texels = np.array(
        [[[255, 0, 0, 255], [0, 255, 0, 255]], [[0, 0, 255, 255], [255, 255, 0, 255]]], np.uint8
    )
    material = trimesh.visual.material.PBRMaterial(
        baseColorTexture=Image.fromarray(texels, "RGBA"),
        baseColorFactor=[255, 255, 255, 128],
        alphaMode="BLEND",
    )
    uv = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float)  # image rows run top-down
    quad = trimesh.Trimesh(
        vertices=np.c_[uv, np.zeros(4)],
        faces=[[0, 1, 2], [0, 2, 3]],
        visual=trimesh.visual.TextureVisuals(uv=uv, material=material),
        process=False,
    )
    quad.export(tmp_path / "textured.glb")
    scene = load_mesh(tmp_path / "textured.glb")
    expected = np.array([texels[1, 0], texels[1, 1], texels[0, 1], texels[0, 0]]) / 255.0
    expected[:, 3] = 128 / 255
    np.testing.assert_allclose(scene.vertex_colors, expected)


def test_degenerate_faces_are_refused_or_dropped(tmp_path):
    (tmp_path / "d.obj").write_text("v 0 0 0\nv 1 0 0\nv 2 0 0\nv 0 1 0\nf 1 2 3\nf 1 2 4\n")
    with pytest.raises(ConfigError, match=r"d\.obj.*1 of 2 faces are degenerate"):
        load_mesh(tmp_path / "d.obj")
    assert load_mesh(tmp_path / "d.obj", drop_degenerate=True).n_triangles == 1


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.ply", None, "does not exist"),
        ("mesh.xyz", "1 2 3\n", "unsupported mesh file type '.xyz'"),
        ("broken.ply", "ply\nformat nonsense\n", "not a readable PLY mesh"),
        ("points.obj", "v 0 0 0\nv 1 0 0\n", "no triangles"),
    ],
)
def test_bad_mesh_files_raise_config_error_naming_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=message) as caught:
        load_mesh(path)
    assert caught.value.file == str(path)


@pytest.mark.parametrize("kwargs", [{"opacity": 1.5}, {"opacity": -0.1}, {"color": (2, 0, 0)}])
def test_bad_colour_overrides_raise_input_error(tmp_path, kwargs):
    trimesh.creation.box().export(tmp_path / "box.stl")
    with pytest.raises(InputError):
        load_mesh(tmp_path / "box.stl", **kwargs)


# -- scene files -----------------------------------------------------------------------


def _write(tmp_path: Path, text: str, name: str = "scene.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_scene_file_round_trip_with_transforms_colours_camera_and_size(tmp_path):
    (tmp_path / "meshes").mkdir()
    box = trimesh.creation.box(extents=(1.0, 2.0, 3.0))
    box.export(tmp_path / "meshes" / "box.ply")
    path = _write(
        tmp_path,
        """
[image]
width = 40
height = 30
background = [0.1, 0.2, 0.3]

[camera]
eye = [0, 0, 10]
target = [0, 0, 0]
fov_y = 30
near = 1
far = 20

[[mesh]]
path = "meshes/box.ply"
color = [0.9, 0.1, 0.1]
opacity = 0.4
scale = 2
rotate = [0, 0, 90]
translate = [1, 2, 3]

[[mesh]]
procedural = "stacked_quads"
args = { n = 2, opacity = 0.3 }
""",
    )
    loaded = load_scene_file(path)
    assert loaded.size == (30, 40)
    assert loaded.scene.background == (0.1, 0.2, 0.3, 1.0)
    assert loaded.camera == Camera.look_at((0, 0, 10), (0, 0, 0), fov_y=30.0, near=1.0, far=20.0)
    expected = box.vertices @ (2.0 * np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]])).T + [1, 2, 3]
    np.testing.assert_allclose(loaded.scene.vertices[: len(box.vertices)], expected, atol=1e-12)
    colors = loaded.scene.face_colors
    np.testing.assert_allclose(colors[:12], np.tile([0.9, 0.1, 0.1, 0.4], (12, 1)))
    assert loaded.scene.n_triangles == 12 + 4
    np.testing.assert_allclose(colors[12:, 3], 0.3)


def test_single_procedural_entry_keeps_its_camera_moved_with_it(tmp_path):
    path = _write(
        tmp_path,
        '[[mesh]]\nprocedural = "coplanar_pair"\ntranslate = [0, 0, -2]\n',
    )
    loaded = load_scene_file(path)
    _, camera = procedural.coplanar_pair()
    assert loaded.camera.eye == (0.0, 0.0, camera.eye[2] - 2.0)
    assert loaded.camera.target == (0.0, 0.0, -2.0)
    assert loaded.size is None


def test_orthographic_override_frames_the_same_view(tmp_path):
    path = _write(
        tmp_path, '[camera]\nprojection = "orthographic"\n[[mesh]]\nprocedural = "coplanar_pair"\n'
    )
    camera = load_scene_file(path).camera
    assert camera.projection == "orthographic"
    expected = 2.0 * 3.0 * math.tan(math.radians(45.0) / 2.0)
    assert camera.ortho_height == pytest.approx(expected)


def _config_error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_scene_file(path)
    assert caught.value.file == str(path)
    return caught.value


@pytest.mark.parametrize(
    ("text", "key", "line", "message"),
    [
        ('[[mesh]]\nprocedural = "torus"\n\n[lights]\nsun = 1\n', "lights", 4, "unknown table"),
        (
            '[[mesh]]\nprocedural = "torus"\ncolour = [1, 0, 0]\n',
            "mesh[0].colour",
            3,
            "unknown key",
        ),
        (
            '[[mesh]]\nprocedural = "torus"\n[[mesh]]\nprocedural = "torus"\nrotate = [1, 2]\n',
            "mesh[1].rotate",
            5,
            "3 numbers",
        ),
        ('[camera]\neye = "front"\n[[mesh]]\nprocedural = "torus"\n', "camera.eye", 2, "3 numbers"),
        (
            '[camera]\nup = [0, 0, 1]\neye = [0, 0, 5]\n[[mesh]]\nprocedural = "torus"\n',
            "camera.up",
            2,
            "parallel",
        ),
        (
            '[camera]\nprojection = "fisheye"\n[[mesh]]\nprocedural = "torus"\n',
            "camera.projection",
            2,
            "perspective",
        ),
        ('[image]\nwidth = 64\n[[mesh]]\nprocedural = "torus"\n', "image.height", 1, "both"),
        (
            '[image]\nwidth = 0\nheight = 5\n[[mesh]]\nprocedural = "torus"\n',
            "image.width",
            2,
            "1..16384",
        ),
        (
            '[image]\nbackground = [2, 0, 0]\n[[mesh]]\nprocedural = "torus"\n',
            "image.background",
            2,
            r"\[0, 1\]",
        ),
        ('[[mesh]]\nprocedural = "torus"\nopacity = 1.5\n', "mesh[0].opacity", 3, r"\[0, 1\]"),
        ('[[mesh]]\nprocedural = "toros"\n', "mesh[0].procedural", 2, "did you mean 'torus'"),
        ('[[mesh]]\nprocedural = "torus"\nargs = { n = 0 }\n', "mesh[0].args", 3, "n must be"),
        ('[[mesh]]\nprocedural = "torus"\npath = "a.obj"\n', "mesh[0]", 1, "exactly one of"),
        ('[[mesh]]\npath = "missing.obj"\n', "mesh[0].path", 2, "does not exist"),
        ('[[mesh]]\nprocedural = "torus"\nscale = 0\n', "mesh[0].scale", 3, "zero"),
        ("[image]\nwidth = 10\n", "mesh", None, "empty"),
        (
            '[[mesh]]\nprocedural = "torus"\n[lighting]\nlights = 1\n',
            "lighting.lights",
            4,
            "unknown key",
        ),
        ('[[mesh]]\nprocedural = "torus"\n[lighting]\nlight = 1\n', "lighting.light", 4, "X,Y,Z"),
        ('[lighting]\nlight = []\n[[mesh]]\nprocedural = "torus"\n', "lighting.light", 2, "a list"),
        (
            '[lighting]\nlight = ["1,x,0"]\n[[mesh]]\nprocedural = "torus"\n',
            "lighting.light",
            2,
            "1,x,0",
        ),
        (
            '[lighting]\n\nlight = ["none", "0,0,1"]\n[[mesh]]\nprocedural = "torus"\n',
            "lighting.light",
            3,
            "combined",
        ),
        (
            '[lighting]\nlight = ["0,0,1"]\nedge_opacity = 2\n[[mesh]]\nprocedural = "torus"\n',
            "lighting.edge_opacity",
            3,
            r"\[0, 1\]",
        ),
        (
            '[lighting]\nlight = ["0,0,0"]\n[[mesh]]\nprocedural = "torus"\n',
            "lighting.light",
            2,
            "non-zero",
        ),
        (
            '[lighting]\nlight = ["0,0,1"]\n[[mesh]]\nprocedural = "torus"\n[lighting]\n',
            None,
            5,
            "malformed TOML",
        ),
        ("lighting = 3\n[[mesh]]\nprocedural = 'torus'\n", "lighting", 1, "must be a table"),
    ],
)
def test_scene_file_errors_name_file_key_and_line(tmp_path, text, key, line, message):
    error = _config_error(_write(tmp_path, text))
    assert error.key == key
    assert error.line == line
    assert re.search(message, str(error))
    assert str(tmp_path / "scene.toml") in str(error)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("[[mesh]]\nprocedural = torus\nscale = 2\n", 2),
        ('[[mesh]]\nprocedural = "torus"\nscale = [1, 2\n', 3),  # "at end of document"
    ],
)
def test_invalid_toml_reports_its_line(tmp_path, text, line):
    error = _config_error(_write(tmp_path, text))
    assert error.line == line
    assert "malformed TOML" in str(error)


def test_lighting_table_is_the_render_commands_default(tmp_path):
    """A scene file's [lighting] lights and edge opacity are what `lamina render` uses
    unless --light / --edge-opacity say otherwise, each on its own; the image is the
    API's (shade, then render) with those settings."""
    from click.testing import CliRunner

    from lamina.cli import main
    from lamina.scene.lighting import Light, Lighting, shade

    text = (
        "[image]\nwidth = 24\nheight = 18\n"
        '[lighting]\nlight = ["1, 1, 1:0.8", "0,-1,0"]\nedge_opacity = 0.5\n'
        '[[mesh]]\nprocedural = "nested_spheres"\nargs = { n = 1 }\n'
    )
    path = _write(tmp_path, text)
    loaded = load_scene_file(path)
    assert loaded.lights == ("1, 1, 1:0.8", "0,-1,0") and loaded.edge_opacity == 0.5
    lights = (Light((1, 1, 1), intensity=0.8), Light((0, -1, 0)))
    renderer = lamina.create("renderer", "reference")

    def expected(lighting):
        lit = loaded.scene if lighting is None else shade(loaded.scene, loaded.camera, lighting)
        return renderer.render(lit, loaded.camera, (18, 24)).image

    cases = [
        ([], Lighting(lights=lights, edge_opacity=0.5)),
        (["--edge-opacity", "0"], Lighting(lights=lights)),
        (["--light", "headlight"], Lighting(edge_opacity=0.5)),
        (["--light", "none", "--edge-opacity", "0"], None),
    ]
    for options, lighting in cases:
        out = tmp_path / "lit.npy"
        args = ["render", str(path), "-o", str(out), "--renderer", "reference", *options]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        np.testing.assert_allclose(np.load(out), expected(lighting), rtol=0, atol=1e-7)
    assert not np.allclose(expected(cases[0][1]), expected(None))  # the lighting shows


def test_mesh_problems_inside_a_scene_file_name_the_entry(tmp_path):
    (tmp_path / "flat.obj").write_text("v 0 0 0\nv 1 0 0\nv 2 0 0\nf 1 2 3\n")
    text = '[[mesh]]\nprocedural = "torus"\n[[mesh]]\npath = "flat.obj"\n'
    error = _config_error(_write(tmp_path, text))
    assert error.key == "mesh[1].path" and error.line == 4
    assert "flat.obj" in str(error) and "degenerate" in str(error)
    fixed = _write(tmp_path, text + "drop_degenerate = true\n", "fixed.toml")
    with pytest.raises(ConfigError, match="every face is degenerate"):
        load_scene_file(fixed)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.name)
def test_example_scene_files_load(path):
    loaded = load(path)
    assert loaded.scene.n_triangles > 0 and loaded.size is not None


# -- the SCENE argument and helpers ------------------------------------------------------


def test_load_dispatches_procedural_specs():
    loaded = load("procedural:stacked_quads:5")
    assert loaded.scene.n_triangles == 10 and loaded.size is None
    assert load("procedural:coplanar_pair").scene.n_triangles == 4
    assert np.all(load("procedural:torus", opacity=0.2).scene.vertex_colors[:, 3] == 0.2)


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ("procedural:stacked_quads:many", InputError),
        ("procedural:nothing", InputError),
        ("procedural:coplanar_pair:3", InputError),
        ("scene.blend", ConfigError),
        ("missing.toml", ConfigError),
    ],
)
def test_load_rejects_bad_specs(spec, error):
    with pytest.raises(error):
        load(spec)


def test_transform_matrix_scales_then_rotates_then_translates():
    m = transform_matrix(translate=(1, 2, 3), rotate=(90, 0, 0), scale=(2, 3, 4))
    # (0, 1, 0) -> scale (0, 3, 0) -> 90 degrees about x (0, 0, 3) -> translate (1, 2, 6)
    np.testing.assert_allclose(m @ [0, 1, 0, 1], [1, 2, 6, 1], atol=1e-12)
    yz = transform_matrix(rotate=(0, 90, 90))
    # x first about y: (1, 0, 0) -> (0, 0, -1); then about z: unchanged
    np.testing.assert_allclose(yz @ [1, 0, 0, 1], [0, 0, -1, 1], atol=1e-12)


def test_frame_camera_sees_every_vertex():
    scene, _ = procedural.torus(1, segments=16, rings=8)
    scene = scene.transformed(transform_matrix(translate=(10, -4, 2), scale=3))
    for direction in [(0.35, 0.3, 1.0), (0, 1, 0), (-1, 0, 0)]:
        camera = frame_camera(scene, direction=direction)
        points = np.c_[scene.vertices, np.ones(len(scene.vertices))]
        clip = points @ (camera.projection_matrix(1.0) @ camera.view_matrix()).T
        ndc = clip[:, :3] / clip[:, 3:]
        assert np.all(np.abs(ndc) < 1.0)
