"""Camera, colour, lighting, supersampling and animation options of ``lamina render``."""

from __future__ import annotations

import json
import math

import imageio.v3 as iio
import numpy as np
import pytest
import trimesh
from click.testing import CliRunner

import lamina
from lamina.cli import main
from lamina.scene import Camera
from lamina.scene.files import load
from lamina.scene.lighting import Light, Lighting, shade
from lamina.scene.view import adjust_camera, downsample

SIZE = "24x18"  # width x height


@pytest.fixture(scope="module", autouse=True)
def taichi_started() -> None:
    from lamina.kernels import runtime

    runtime.init()


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, ["render", *args])


def quad_file(folder) -> str:  # type: ignore[no-untyped-def]
    mesh = trimesh.Trimesh(
        vertices=[[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], faces=[[0, 1, 2], [0, 2, 3]]
    )
    path = folder / "quad.ply"
    mesh.export(path)
    return str(path)


# ---------------------------------------------------------------- camera presets


@pytest.mark.parametrize("seed", range(5))
def test_presets_keep_the_target_and_distance(seed):
    rng = np.random.default_rng(seed)
    camera = Camera.look_at(rng.normal(size=3) * 3, rng.normal(size=3), fov_y=rng.uniform(20, 80))
    distance = np.linalg.norm(np.subtract(camera.eye, camera.target))
    azimuth, elevation = rng.uniform(-180, 180, 2)
    turned = adjust_camera(camera, azimuth=azimuth, elevation=elevation)
    assert turned.target == camera.target
    assert np.linalg.norm(np.subtract(turned.eye, turned.target)) == pytest.approx(distance)
    back = adjust_camera(adjust_camera(camera, azimuth=azimuth), azimuth=360 - azimuth)
    np.testing.assert_allclose(back.eye, camera.eye, atol=1e-9)
    zoomed = adjust_camera(camera, zoom=2.5)
    assert math.tan(math.radians(zoomed.fov_y) / 2) == pytest.approx(
        math.tan(math.radians(camera.fov_y) / 2) / 2.5
    )
    ortho = adjust_camera(camera, ortho=True)
    assert ortho.projection == "orthographic"
    half = math.tan(math.radians(camera.fov_y) / 2)
    assert ortho.ortho_height == pytest.approx(2 * distance * half)


def test_elevation_90_looks_down_from_above():
    camera = adjust_camera(Camera.look_at((0, 0, 5), (0, 0, 0)), elevation=90)
    np.testing.assert_allclose(camera.eye, (0, 5, 0), atol=1e-12)


def test_downsample_is_the_mean_of_each_block():
    image = np.arange(4 * 6 * 4, dtype=np.float32).reshape(4, 6, 4)
    small = downsample(image, 2)
    assert small.shape == (2, 3, 4)
    np.testing.assert_allclose(small[1, 2], image[2:4, 4:6].mean(axis=(0, 1)))


# ---------------------------------------------------------------- the command line


def test_camera_options_reach_the_render_and_the_json(tmp_path):
    out = tmp_path / "v.npy"
    args = ["procedural:torus", "-o", str(out), "--size", SIZE, "--renderer", "reference"]
    camera_args = ["--eye", "0,3,4", "--target", "0,0,0.2", "--up", "0,0,1", "--fov", "40"]
    result = invoke(*args, *camera_args, "--azimuth", "30", "--zoom", "1.5", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    record = document["camera"]
    expected = adjust_camera(
        Camera.look_at((0, 3, 4), (0, 0, 0.2), (0, 0, 1), fov_y=40), azimuth=30, zoom=1.5
    )
    np.testing.assert_allclose(record["eye"], expected.eye)
    assert record["fov_y"] == pytest.approx(expected.fov_y)
    assert document["frames"][0]["camera"] == record
    camera = Camera(**{k: tuple(v) if isinstance(v, list) else v for k, v in record.items()})
    scene = load("procedural:torus").scene
    direct = lamina.create("renderer", "reference").render(scene, camera, (18, 24)).image
    np.testing.assert_array_equal(np.load(out), direct)


def test_colour_opacity_background_and_no_light_by_hand(tmp_path):
    args = [quad_file(tmp_path), "-o", str(tmp_path / "q.npy"), "--size", "16x16"]
    style = ["--light", "none", "--color", "1,0,0", "--opacity", "0.5", "--background", "0,0,1"]
    result = invoke(*args, *style, "--renderer", "reference")
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(tmp_path / "q.npy")[8, 8], [0.5, 0, 0.5, 1.0], atol=1e-6)


def test_mesh_files_are_lit_by_a_headlight_unless_told(tmp_path):
    args = [quad_file(tmp_path), "-o", str(tmp_path / "q.npy"), "--size", "16x16", "--json"]
    lit = json.loads(invoke(*args).stdout)["lighting"]
    assert lit["lights"] == [] and lit["two_sided"]
    assert json.loads(invoke(*args, "--light", "none").stdout)["lighting"] is None
    spheres = ["procedural:nested_spheres:1", "-o", str(tmp_path / "s.npy"), "--json"]
    assert json.loads(invoke(*spheres, "--size", "8x8").stdout)["lighting"] is None


def test_directional_lights_and_edge_opacity_match_the_api(tmp_path):
    out = tmp_path / "l.npy"
    args = ["procedural:nested_spheres:1", "-o", str(out), "--size", SIZE]
    result = invoke(*args, "--light", "1,1,1:0.8", "--light", "0,-1,0", "--edge-opacity", "0.5")
    assert result.exit_code == 0, result.output
    loaded = load("procedural:nested_spheres:1")
    lights = (Light((1, 1, 1), intensity=0.8), Light((0, -1, 0)))
    lit = shade(loaded.scene, loaded.camera, Lighting(lights=lights, edge_opacity=0.5))
    expected = lamina.create("renderer", "fragment-list").render(lit, loaded.camera, (18, 24))
    np.testing.assert_array_equal(np.load(out), expected.image)


def test_supersampling_is_the_box_filtered_exact_render(tmp_path):
    out = tmp_path / "s.npy"
    args = ["procedural:torus", "-o", str(out), "--size", SIZE, "--renderer", "reference"]
    assert invoke(*args, "--samples", "3").exit_code == 0
    loaded = load("procedural:torus")
    big = lamina.create("renderer", "reference").render(loaded.scene, loaded.camera, (54, 72))
    image = np.load(out)
    assert image.shape == (18, 24, 4)
    np.testing.assert_allclose(image, downsample(big.image, 3), atol=1e-7)


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_orbit_writes_one_animation(tmp_path, suffix):
    out = tmp_path / f"turn{suffix}"
    args = ["procedural:torus", "-o", str(out), "--size", "32x24", "--orbit", "4"]
    result = invoke(*args, "--background", "1,1,1")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]
    if suffix == ".mp4":
        # (imageio's ffmpeg reader leaves its pipes to the garbage collector: count only)
        import imageio_ffmpeg

        assert out.read_bytes()[4:8] == b"ftyp"
        assert imageio_ffmpeg.count_frames_and_secs(str(out))[0] == 4
        return
    frames = iio.imread(out, index=None, extension=suffix)
    assert frames.shape[0] == 4 and frames.shape[1:3] == (24, 32)
    assert np.abs(frames[0].astype(int) - frames[1].astype(int)).max() > 20


def test_show_writes_a_self_contained_viewer(tmp_path):
    out = tmp_path / "v.png"
    args = ["procedural:torus", "-o", str(out), "--size", "16x12", "--orbit", "3", "--show"]
    assert invoke(*args).exit_code == 0
    page = (tmp_path / "v.html").read_text()
    assert page.count("iVBOR") == 3 + 1  # three PNG frames, the first also shown at once
    assert "http" not in page and "<script src" not in page


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "x.gif"], "with --orbit"),
        (["-o", "x.png", "--eye", "1,2"], "--eye must be X,Y,Z"),
        (["-o", "x.png", "--light", "headlight", "--light", "1,0,0"], "cannot be combined"),
        (["-o", "x.png", *[a for _ in range(5) for a in ("--light", "0,0,1")]], "at most 4"),
        (["-o", "x.png", "--background", "2,0,0"], "background"),
        (["-o", "x.png", "--samples", "8", "--size", "4096x4096"], "MAX_IMAGE_SIDE"),
        (["-o", "x.png", "--eye", "0,0,0", "--target", "0,0,0"], "eye and target must differ"),
        (["-o", "missing/x.png"], "does not exist"),  # issue 16: no folders made
        (["-o", "missing/x.gif", "--orbit", "2", "--show"], "does not exist"),
    ],
)
def test_bad_view_options_fail_in_one_line(tmp_path, args, message):
    args = [str(tmp_path / a) if a.startswith(("x.", "missing/")) else a for a in args]
    result = invoke("procedural:torus", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not any(tmp_path.iterdir())
