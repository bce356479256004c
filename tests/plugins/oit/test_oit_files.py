"""Hostile inputs to ``lamina render``: damaged files and sizes that cannot fit.

Every mesh format and scene TOML is fuzzed with truncated, bit-flipped, cut-out
and edited copies (seeded; raise ``VARIANTS`` to widen): the loader may accept a
copy that still parses, and otherwise must raise one :class:`lamina.InputError`
that names the file, never a parser's own exception.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest
import trimesh
from click.testing import CliRunner

from lamina.cli import main
from lamina.errors import InputError
from lamina.limits import MAX_IMAGE_SIDE
from lamina.memory import MemoryLimitError
from lamina.plugins.oit.reference import Reference
from lamina.plugins.oit.renderers import FragmentList
from lamina.scene import Camera
from lamina.scene.files import load
from lamina.scene.meshes import load_mesh
from lamina.testing.damage import damaged

NESTED = Path(__file__).parents[3] / "examples" / "scenes" / "nested.toml"
VARIANTS = 40  # per format: a quarter each truncated, bit-flipped, cut-out and edited
SCENE_TOML = """\
[image]
width = 32
height = 24
background = [0.1, 0.1, 0.1]

[camera]
eye = [0, 0, 4]
target = [0, 0, 0]
fov_y = 45

[[mesh]]
procedural = "nested_spheres"
args = { n = 2 }
opacity = 0.4
translate = [0.1, 0, 0]
"""


def _mesh_bytes(folder: Path) -> dict[str, bytes]:
    mesh = trimesh.creation.icosphere(subdivisions=1)
    rng = np.random.default_rng(0)
    mesh.visual.vertex_colors = rng.integers(0, 256, (len(mesh.vertices), 4), dtype=np.uint8)
    formats = {}
    for suffix in (".obj", ".ply", ".stl", ".glb", ".off"):
        mesh.export(folder / f"mesh{suffix}")
        formats[suffix] = (folder / f"mesh{suffix}").read_bytes()
    formats[".ply ascii"] = trimesh.exchange.ply.export_ply(mesh, encoding="ascii")
    formats[".stl ascii"] = trimesh.exchange.stl.export_stl_ascii(mesh).encode()
    formats[".toml"] = SCENE_TOML.encode()
    return formats


def _damaged(data: bytes, variant: int, rng: np.random.Generator) -> bytes:
    """Truncated, bit-flipped and cut-out copies, and every fourth one edited."""
    if variant % 4 != 3:
        return damaged(data, rng, variant)
    copy = bytearray(data)
    at = rng.integers(0, len(copy))
    text = rng.integers(32, 127, rng.integers(1, 20)).astype(np.uint8).tobytes()
    copy[at : at + rng.integers(1, 20)] = text
    return bytes(copy)


@pytest.mark.parametrize(
    "kind", [".obj", ".ply", ".ply ascii", ".stl", ".stl ascii", ".glb", ".off", ".toml"]
)
def test_damaged_files_raise_one_input_error_naming_the_file(tmp_path, kind):
    data = _mesh_bytes(tmp_path)[kind]
    rng = np.random.default_rng(zlib.crc32(kind.encode()))
    suffix = kind.split()[0]
    refused = 0
    for variant in range(VARIANTS):
        path = tmp_path / f"damaged{suffix}"
        path.write_bytes(_damaged(data, variant, rng))
        try:
            load(str(path)) if suffix == ".toml" else load_mesh(path)
        except InputError as error:
            refused += 1
            message = str(error)
            assert str(path) in message and "\n" not in message, message
            assert "module" not in message.lower(), message  # no misleading dependency text
    assert refused >= VARIANTS // 4  # the damage did reach the parsers


def test_corrupt_stl_is_not_reported_as_a_missing_module(tmp_path):
    path = tmp_path / "broken.stl"
    path.write_bytes(b"solid x\n\xff\xfe\x00garbage\x80\x81 facet normal")
    # (trimesh reads binary junk as text through charset_normalizer when installed: then
    # it finds no triangles; either way one line naming the file, no missing module.)
    with pytest.raises(InputError, match=r"broken\.stl: (not a readable STL|the file holds no)"):
        load_mesh(path)


@pytest.mark.parametrize("suffix", [".glb", ".ply"])
def test_truncated_glb_and_ply_name_the_file(tmp_path, suffix):
    data = _mesh_bytes(tmp_path)[suffix]
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=rf"cut\{suffix}: not a readable"):
        load_mesh(path)


# ---------------------------------------------------------------- sizes


def test_a_frame_that_cannot_fit_fails_fast_through_the_memory_guard(monkeypatch):
    """Issue 16: 16384 x 16384 used 10.9 GB before failing; now it is refused first."""
    monkeypatch.setenv("LAMINA_MEMORY_LIMIT", "1G")
    scene = load("procedural:nested_spheres:2").scene
    camera = Camera.look_at((0, 0, 4), (0, 0, 0))
    for renderer in (FragmentList(arch="cpu"), Reference()):
        with pytest.raises(MemoryLimitError, match="16384 x 16384 render"):
            renderer.render(scene, camera, (MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))


def test_cli_size_limits_are_the_limits_table(tmp_path, monkeypatch):
    runner = CliRunner()
    too_big = f"{2 * MAX_IMAGE_SIDE}x{2 * MAX_IMAGE_SIDE}"
    result = runner.invoke(
        main, ["render", "procedural:torus", "-o", str(tmp_path / "o.png"), "--size", too_big]
    )
    assert result.exit_code == 2 and str(MAX_IMAGE_SIDE) in result.output
    scene = tmp_path / "big.toml"
    scene.write_text(SCENE_TOML.replace("width = 32", f"width = {MAX_IMAGE_SIDE + 1}"))
    result = runner.invoke(main, ["render", str(scene), "-o", str(tmp_path / "o.png")])
    assert result.exit_code == 2 and "MAX_IMAGE_SIDE" in result.output
    monkeypatch.setenv("LAMINA_MEMORY_LIMIT", "256M")
    result = runner.invoke(
        main,
        ["render", str(NESTED), "-o", str(tmp_path / "o.png"), "--size",
         f"{MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE}"],
    )  # fmt: skip
    assert result.exit_code == 2 and "LAMINA_MEMORY_LIMIT" in result.output
    assert not list(tmp_path.glob("o*"))


def test_peak_memory_counts_the_triangle_setup(monkeypatch):
    """Issue 17: the setup's arrays (312 bytes per raster triangle) and its scratch were
    left out of peak_memory_bytes."""
    from lamina.plugins.oit import raster
    from lamina.scene.procedural import random_triangles

    monkeypatch.setattr(raster, "_large_frames", 1)  # past the first frame: kernel setup
    scene, camera = random_triangles(20_000)
    for renderer in (FragmentList(arch="cpu"), Reference()):
        # (the Taichi renderers set up a scene this large in a kernel, with less scratch)
        tris = renderer._setup(scene, camera, (64, 64))
        stats = renderer.render(scene, camera, (64, 64)).stats
        assert stats.peak_memory_bytes >= tris.nbytes + tris.setup_bytes
        assert tris.nbytes <= tris.n * raster.KEPT_BYTES_PER_TRIANGLE


def test_cli_counts_writing_the_file_in_its_memory_check(tmp_path, monkeypatch):
    """Issue 16 under an address-space limit: the frame fitted, then converting it to
    PNG ran out of memory with a traceback; the command checks both first."""
    monkeypatch.setenv("LAMINA_MEMORY_LIMIT", "300M")  # 2048 x 2048: 160 MB + 192 MB
    args = ["render", "procedural:torus", "-o", str(tmp_path / "o.png"), "--size", "2048x2048"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "rendering and writing 1 2048 x 2048 frame" in result.output
    assert not any(tmp_path.iterdir())
