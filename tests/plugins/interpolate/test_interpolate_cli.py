"""``lamina resize`` end to end through the click group."""

from __future__ import annotations

import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from click.testing import CliRunner

from lamina.cli import main

RNG = np.random.default_rng(11)


def run(*args: str) -> object:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    iio.imwrite(folder / "grey8.png", (RNG.random((20, 30)) * 255).astype(np.uint8))
    iio.imwrite(folder / "grey16.png", (RNG.random((20, 30)) * 65535).astype(np.uint16))
    iio.imwrite(folder / "rgb8.tif", (RNG.random((20, 30, 3)) * 255).astype(np.uint8))
    iio.imwrite(folder / "rgb16.tif", (RNG.random((20, 30, 3)) * 65535).astype(np.uint16))
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_single_file_keeps_bit_depth_and_matches_the_component(
    images: Path, tmp_path: Path
) -> None:
    import lamina
    from lamina.io import read_image

    out = tmp_path / "big.png"
    result = run("resize", str(images / "grey16.png"), str(out), "--scale", "2.5")
    assert result.exit_code == 0, result.output
    data = iio.imread(out)
    assert data.dtype == np.uint16 and data.shape == (50, 75)
    source, _ = read_image(images / "grey16.png")
    expected = lamina.create("interpolator", "bicubic").resize(source, (50, 75))
    np.testing.assert_allclose(data / 65535.0, expected, atol=1 / 65535)


def test_size_is_width_by_height(images: Path, tmp_path: Path) -> None:
    out = tmp_path / "small.tif"
    assert run("resize", str(images / "rgb8.tif"), str(out), "--size", "12x7").exit_code == 0
    data = iio.imread(out)
    assert data.shape == (7, 12, 3) and data.dtype == np.uint8


def test_folder_batch_with_stairstep_and_json(images: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run(
        "resize",
        str(images),
        str(out),
        "--scale",
        "1.5",
        "--interpolator",
        "stairstep",
        "--set",
        "base=lanczos3",
        "--set",
        "step=1.05",
        "--json",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["interpolator"] == "stairstep"
    assert report["parameters"]["base"] == "lanczos3" and report["parameters"]["step"] == 1.05
    names = sorted(Path(f["output"]).name for f in report["files"])
    assert names == ["grey16.png", "grey8.png", "rgb16.tif", "rgb8.tif"]
    for record in report["files"]:
        assert record["output_shape"][:2] == [30, 45]
        # widths 30 -> 31, 32, ..., 40, 42, 44, 45 at 5% per step (whole pixels)
        assert record["steps"] == 13
        data = iio.imread(record["output"])
        # The file's name, not its path: pytest's folders count up (pytest-116/...).
        sixteen = "16" in Path(record["input"]).name
        assert data.dtype == (np.uint16 if sixteen else np.uint8)
        assert record["bit_depth"] == (16 if sixteen else 8)


def test_several_files_and_bit_depth_override(images: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run(
        "resize",
        str(images / "grey8.png"),
        str(images / "rgb8.tif"),
        str(out),
        "--size",
        "10x10",
        "--bit-depth",
        "16",
        "-i",
        "lanczos3",
    )
    assert result.exit_code == 0, result.output
    assert iio.imread(out / "grey8.png").dtype == np.uint16
    assert iio.imread(out / "rgb8.tif").dtype == np.uint16
    assert "lanczos3" in result.stdout


def test_float_tiff_round_trip(tmp_path: Path) -> None:
    source = tmp_path / "float.tif"
    iio.imwrite(source, RNG.random((9, 9)).astype(np.float32))
    out = tmp_path / "out.tif"
    assert run("resize", str(source), str(out), "--scale", "2").exit_code == 0
    data = iio.imread(out)
    assert data.dtype == np.float32 and data.shape == (18, 18)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{g}", "{o}/x.png"], "exactly one of --scale and --size"),
        (["{g}", "{o}/x.png", "--scale", "2", "--size", "4x4"], "exactly one of"),
        (["{g}", "{o}/x.png", "--scale", "0"], "Invalid value for '--scale'"),
        (["{g}", "{o}/x.png", "--scale", "nan"], "Invalid value for '--scale'"),
        (["{g}", "{o}/x.png", "--scale", "0.001"], "at least one pixel"),
        (["{g}", "{o}/x.png", "--size", "0x4"], "size"),
        (["{g}", "{o}/x.png", "--size", "4by4"], "WIDTHxHEIGHT"),
        (["{g}", "{o}/x.png", "--scale", "2", "-i", "bicubc"], "did you mean 'bicubic'"),
        (
            ["{g}", "{o}/x.png", "--scale", "2", "-i", "stairstep", "--set", "base=nearest"],
            "nearest",
        ),
        (["{g}", "{o}/x.png", "--scale", "2", "-i", "stairstep", "--set", "step=1.5"], "force"),
        (["{g}", "{o}/x.png", "--scale", "2", "--set", "edge=sideways"], "edge"),
        (["{g}", "{o}/x.png", "--scale", "2", "--set", "nonsense"], "KEY=VALUE"),
        (["{o}/missing.png", "{o}/x.png", "--scale", "2"], "does not exist"),
        (["{g}", "{g}", "--scale", "2"], "overwrite its input"),
        (["{g}", "{o}/x.jpg", "--scale", "2"], "unsupported file type"),
        (["{g}", "{o}/x.png", "--scale", "2", "--bit-depth", "32"], "needs .tif or .npy"),
        (["{g}", "{i}/rgb8.tif", "{g}", "--scale", "2"], "OUTPUT must be a folder"),
        (["{g}", "{i}/../in/grey8.png", "{o}/out", "--scale", "2"], "would both be written"),
        (["{o}", "{o}/out", "--scale", "2"], "holds no images"),
        (["{g}"], "at least one INPUT and an OUTPUT"),
    ],
)
def test_bad_usage_exits_2_with_one_line(
    images: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    values = {"g": str(images / "grey8.png"), "o": str(empty), "i": str(images)}
    result = run("resize", *(a.format(**values) for a in args))
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
    assert not any(p.suffix == ".png" for p in empty.rglob("*"))


def test_memory_limit_is_settable(images: Path, tmp_path: Path) -> None:
    result = run(
        "resize",
        str(images / "grey8.png"),
        str(tmp_path / "x.png"),
        "--scale",
        "40",
        "--set",
        "memory_limit=1000000",
    )
    assert result.exit_code == 2 and "memory_limit=1000000" in result.stderr
    assert not (tmp_path / "x.png").exists()
