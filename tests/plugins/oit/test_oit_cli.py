"""``lamina render``: outputs by extension, JSON, --compare, and clean failures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
import trimesh
from click.testing import CliRunner
from PIL import Image

import lamina
from lamina.cli import main
from lamina.scene.command import unpremultiply
from lamina.scene.files import load

SCENE = "procedural:nested_spheres:2"
SIZE = "24x18"  # width x height


@pytest.fixture(scope="module", autouse=True)
def taichi_started() -> None:
    """Start Taichi outside CliRunner: under a replaced sys.stdout Taichi prints its
    start-up banner into it, which a real terminal run keeps off stdout."""
    from lamina.kernels import runtime

    runtime.init()


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, ["render", *args])


@pytest.fixture(scope="module")
def expected() -> np.ndarray:
    """The reference renderer's image of SCENE at SIZE, through the Python API."""
    loaded = load(SCENE)
    return (
        lamina.create("renderer", "reference").render(loaded.scene, loaded.camera, (18, 24)).image
    )


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_npy_and_tiff_hold_the_premultiplied_float_image(tmp_path, expected):
    for name in ("out.npy", "out.tif", "out.tiff"):
        result = invoke(
            SCENE, "-o", str(tmp_path / name), "--size", SIZE, "--renderer", "reference"
        )
        assert result.exit_code == 0, result.output
    npy = np.load(tmp_path / "out.npy")
    assert npy.dtype == np.float32 and npy.shape == (18, 24, 4)
    np.testing.assert_array_equal(npy, expected)
    for name in ("out.tif", "out.tiff"):
        tif = tifffile.imread(tmp_path / name)
        assert tif.dtype == np.float32
        np.testing.assert_array_equal(tif, expected)
    assert leftovers(tmp_path) == ["out.npy", "out.tif", "out.tiff"]


def test_png_is_8_bit_straight_alpha_by_default(tmp_path, expected):
    assert (
        invoke(
            SCENE, "-o", str(tmp_path / "s.png"), "--size", SIZE, "--renderer", "reference"
        ).exit_code
        == 0
    )
    png = np.asarray(Image.open(tmp_path / "s.png"))
    assert png.dtype == np.uint8 and png.shape == (18, 24, 4)
    straight = np.zeros_like(expected)
    covered = expected[..., 3] > 0
    straight[covered, :3] = expected[covered, :3] / expected[covered, 3:]
    straight[..., 3] = expected[..., 3]
    np.testing.assert_array_equal(png, np.rint(np.clip(straight, 0, 1) * 255).astype(np.uint8))
    assert covered.any() and not covered.all()

    premultiplied = tmp_path / "p.png"
    args = [SCENE, "-o", str(premultiplied), "--size", SIZE, "--renderer", "reference"]
    assert invoke(*args, "--png-alpha", "premultiplied").exit_code == 0
    np.testing.assert_array_equal(
        np.asarray(Image.open(premultiplied)), np.rint(expected * 255).astype(np.uint8)
    )


def test_unpremultiply_inverts_premultiplication():
    straight = np.array([[[0.2, 0.4, 0.6, 0.5], [0.9, 0.1, 0.3, 0.0]]], np.float32)
    premultiplied = straight.copy()
    premultiplied[..., :3] *= straight[..., 3:]
    result = unpremultiply(premultiplied)
    np.testing.assert_allclose(result[0, 0], straight[0, 0], atol=1e-7)
    np.testing.assert_array_equal(result[0, 1], [0, 0, 0, 0])


def test_default_renderer_matches_reference_and_json_parses(tmp_path, expected):
    result = invoke(SCENE, "-o", str(tmp_path / "f.npy"), "--size", SIZE, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["renderer"] == "fragment-list" and document["size"] == [18, 24]
    stats = document["frames"][0]["stats"]
    assert stats["max_depth_complexity"] == 4 and stats["geometry_passes"] >= 1
    assert stats["fragments"] > 0 and document["frames"][0]["output"] == str(tmp_path / "f.npy")
    np.testing.assert_allclose(np.load(tmp_path / "f.npy"), expected, atol=1e-5)


def test_settings_reach_the_renderer(tmp_path):
    args = [SCENE, "-o", str(tmp_path / "m.npy"), "--size", SIZE, "--json"]
    result = invoke(*args, "--renderer", "multilayer-depth-peeling", "--set", "k=2")
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)["frames"][0]["stats"]
    assert stats["layers"] == 4 and 2 <= stats["geometry_passes"] <= 3  # 2 layers a pass


def test_scene_file_size_is_used_unless_overridden(tmp_path):
    scene = tmp_path / "s.toml"
    scene.write_text('[image]\nwidth = 20\nheight = 10\n[[mesh]]\nprocedural = "coplanar_pair"\n')
    args = [str(scene), "-o", str(tmp_path / "a.npy"), "--renderer", "reference"]
    assert invoke(*args).exit_code == 0
    assert np.load(tmp_path / "a.npy").shape == (10, 20, 4)
    assert invoke(*args, "--size", "8x6").exit_code == 0
    assert np.load(tmp_path / "a.npy").shape == (6, 8, 4)


def test_mesh_file_with_opacity_override(tmp_path):
    trimesh.creation.box().export(tmp_path / "box.stl")
    args = [str(tmp_path / "box.stl"), "-o", str(tmp_path / "b.npy"), "--size", "16x16"]
    assert invoke(*args, "--renderer", "reference", "--opacity", "0.5").exit_code == 0
    image = np.load(tmp_path / "b.npy")
    # The framed box covers the centre with a front and a back face of opacity 0.5.
    assert image[8, 8, 3] == pytest.approx(0.75)


def test_orbit_writes_numbered_frames_that_differ(tmp_path):
    out = tmp_path / "o.npy"
    args = ["procedural:torus", "-o", str(out), "--size", "16x12", "--renderer", "reference"]
    result = invoke(*args, "--orbit", "3", "--json")
    assert result.exit_code == 0, result.output
    assert leftovers(tmp_path) == ["o_0000.npy", "o_0001.npy", "o_0002.npy"]
    assert len(json.loads(result.stdout)["frames"]) == 3
    first, second = np.load(tmp_path / "o_0000.npy"), np.load(tmp_path / "o_0001.npy")
    assert not np.array_equal(first, second)


def test_compare_json_covers_every_renderer_and_they_are_exact():
    result = invoke("--compare", "procedural:intersecting_quads:4", "--size", "12x10", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    rows = {row["renderer"]: row for row in document["renderers"]}
    assert set(rows) == {c.name for c in lamina.components("renderer") if c.available}
    assert document["renderers"][0]["renderer"] == "reference"
    for name, row in rows.items():
        assert row["max_error"] <= 1e-5, name
        assert row["stats"]["fragments"] == 4 * 12 * 10, name


def test_compare_table_lists_renderers_and_columns():
    result = invoke("--compare", "procedural:stacked_quads:3", "--size", "8x8", "--set", "k=2")
    assert result.exit_code == 0, result.output
    for text in ("renderer", "passes", "layers", "fragments", "max error", "reference"):
        assert text in result.stdout
    for component in lamina.components("renderer"):
        assert component.name in result.stdout


def test_compare_rejects_a_setting_no_renderer_has():
    result = invoke("--compare", "procedural:stacked_quads:3", "--size", "8x8", "--set", "kk=2")
    assert result.exit_code == 2
    assert "kk" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["procedural:stacked_quads:3", "--size", "0x10"], "size"),
        (["procedural:stacked_quads:3", "--size", "100000x100000"], "size"),
        (["procedural:stacked_quads:3", "--size", "ten"], "WIDTHxHEIGHT"),
        (["procedural:stacked_quads:3", "--opacity", "1.5"], "opacity"),
        (["procedural:nothing"], "no procedural scene"),
        (["missing.ply"], "does not exist"),
        (["scene.blend"], "unsupported scene"),
        (["procedural:stacked_quads:3", "--renderer", "fragment-lists"], "fragment-list"),
        (["procedural:stacked_quads:3", "--set", "nope=1"], "nope"),
        (["procedural:stacked_quads:3", "--set", "k"], "KEY=VALUE"),
    ],
)
def test_bad_input_fails_cleanly_without_output(tmp_path, args, message):
    out = tmp_path / "out.png"
    result = invoke(*args, "-o", str(out))
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert result.stderr.count("\n") == 1, "one line on stderr"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("empty.toml", "[image]\nwidth = 8\nheight = 8\n", "empty"),
        ("nan.obj", "v 0 0 0\nv 1 0 0\nv nan 1 0\nf 1 2 3\n", "NaN"),
        # trimesh itself fails on the index (lamina checks again when trimesh lets it by)
        ("range.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\nf 1 2 9\n", "out of bounds"),
        ("flat.obj", "v 0 0 0\nv 1 0 0\nv 2 0 0\nf 1 2 3\n", "degenerate"),
        ("junk.glb", "this is not a glb file", "not a readable GLB mesh"),
    ],
)
def test_bad_scene_files_fail_cleanly_without_output(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    out = tmp_path / "out" / "image.npy"
    out.parent.mkdir()  # lamina never creates an output file's missing folder
    result = invoke(str(tmp_path / name), "-o", str(out), "--renderer", "reference")
    assert result.exit_code == 2, result.output
    assert message in result.stderr and name in result.stderr
    assert not (tmp_path / "out").exists() or leftovers(tmp_path / "out") == []


def test_unsupported_output_is_refused_before_rendering(tmp_path):
    result = invoke("procedural:stacked_quads:3", "-o", str(tmp_path / "x.jpg"))
    assert result.exit_code == 2
    assert ".jpg" in result.stderr and leftovers(tmp_path) == []


def test_render_failure_leaves_no_partial_file(tmp_path, monkeypatch):
    from lamina.scene import command as cli

    def broken_write(path, image, **kwargs):  # type: ignore[no-untyped-def]
        from lamina.io import atomic_write

        with atomic_write(path) as handle:
            handle.write(b"half an ima")
            raise OSError("disk full")

    monkeypatch.setattr(cli, "write_image", broken_write)
    args = ["procedural:stacked_quads:2", "-o", str(tmp_path / "x.npy"), "--size", "8x8"]
    result = invoke(*args, "--renderer", "reference")
    assert result.exit_code in (1, 2) and "disk full" in result.stderr
    assert leftovers(tmp_path) == []


def test_arch_conflicting_with_the_running_backend_fails_cleanly(tmp_path):
    from lamina.kernels import runtime

    other = "vulkan" if runtime.active_arch() != "vulkan" else "cuda"
    out = tmp_path / "a.npy"
    result = invoke("procedural:stacked_quads:2", "-o", str(out), "--size", "8x8", "--arch", other)
    assert result.exit_code == 2 and other in result.stderr
    assert leftovers(tmp_path) == []


def test_usage_errors():
    assert invoke("procedural:stacked_quads:3").exit_code == 2  # no -o
    assert invoke("--compare", "procedural:stacked_quads:3", "-o", "x.png").exit_code == 2


def test_command_line_module_does_not_import_taichi():
    code = (
        "import sys, lamina.scene.command, lamina.scene.files; "
        "from lamina.cli import main; main.get_command(None, 'render'); "
        "assert 'taichi' not in sys.modules, 'taichi imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
