"""Images and JSON round-trip at the edge, atomically."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lamina import InputError
from lamina.io import atomic_write, dumps_json, read_image, write_image, write_json


@pytest.mark.parametrize(
    ("suffix", "bit_depth", "tolerance"),
    [
        (".png", 8, 0.5 / 255),
        (".png", 16, 0.5 / 65535),
        (".tif", 16, 0.5 / 65535),
        (".tif", 32, 0.0),
        (".npy", 32, 0.0),
    ],
)
def test_round_trip(tmp_path: Path, suffix: str, bit_depth: int, tolerance: float) -> None:
    image = np.random.default_rng(0).random((7, 9, 3)).astype(np.float32)
    path = tmp_path / f"image{suffix}"
    write_image(path, image, bit_depth=bit_depth)
    loaded, depth = read_image(path)
    assert depth == bit_depth
    assert loaded.dtype == np.float32 and loaded.shape == image.shape
    assert np.abs(loaded - image).max() <= tolerance + 1e-7
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError), atomic_write(target, "w") as handle:
        handle.write("half")
        raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    write_json(target, {"a": 1})
    with pytest.raises(TypeError):
        write_json(target, {"a": object()})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_json_converts_numpy_and_non_finite() -> None:
    data = json.loads(dumps_json({"x": np.float32(1.5), "y": np.arange(2), "z": float("nan")}))
    assert data == {"x": 1.5, "y": [0, 1], "z": None}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.png", None, "does not exist"),
        ("image.bmp", b"", "unsupported file type"),
        ("broken.png", b"not a png", "is not a PNG file"),
    ],
)
def test_bad_images_raise_input_error(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_image(path)


def test_nan_in_float_image_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nan.npy"
    np.save(path, np.array([[np.nan, 0.0]], np.float32))
    with pytest.raises(InputError, match="NaN"):
        read_image(path)


def _pypng_reference(path: Path) -> np.ndarray:
    """pypng's own decoding, scaled by the bit depth: shares no code with read_image's
    8-bit path (Pillow)."""
    import png

    with open(path, "rb") as handle:
        width, height, rows, info = png.Reader(file=handle).asDirect()
        data = np.vstack([np.asarray(row, np.float64) for row in rows])
    return data.reshape(height, width, info["planes"]) / (2 ** info["bitdepth"] - 1)


@pytest.mark.parametrize(
    ("bit_depth", "greyscale", "alpha"),
    [(1, True, False), (2, True, False), (4, True, False)]
    + [(depth, g, a) for depth in (8, 16) for g in (True, False) for a in (False, True)],
)
def test_png_matches_pypng_at_every_bit_depth_and_colour_type(
    tmp_path: Path, bit_depth: int, greyscale: bool, alpha: bool
) -> None:
    import png

    planes = (1 if greyscale else 3) + alpha
    rng = np.random.default_rng(bit_depth * 4 + greyscale * 2 + alpha)
    for height, width in ((1, 1), (5, 6), (17, 3)):
        values = rng.integers(0, 2**bit_depth, (height, width * planes))
        path = tmp_path / "image.png"
        with open(path, "wb") as handle:
            writer = png.Writer(width, height, greyscale=greyscale, alpha=alpha, bitdepth=bit_depth)
            writer.write(handle, values.tolist())
        image, depth = read_image(path)
        assert depth == (16 if bit_depth == 16 else 8)
        reference = _pypng_reference(path)
        assert image.reshape(reference.shape) == pytest.approx(reference, abs=1e-6)
        assert image.ndim == (2 if planes == 1 else 3)


def test_palette_png_with_transparency_keeps_its_alpha(tmp_path: Path) -> None:
    # Deliberate difference from imageio's pillow plugin, which returns RGB and
    # drops the palette's transparency: lamina returns RGBA, as pypng does.
    import png

    palette = [(255, 0, 0, 0), (0, 255, 0, 128), (0, 0, 255, 255)]
    path = tmp_path / "palette.png"
    with open(path, "wb") as handle:
        png.Writer(3, 2, palette=palette, bitdepth=8).write(handle, [[0, 1, 2], [2, 1, 0]])
    image, _ = read_image(path)
    assert image.shape == (2, 3, 4)
    assert image == pytest.approx(_pypng_reference(path), abs=1e-6)
