"""Images and JSON round-trip at the edge, atomically."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

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


def _png16(samples: np.ndarray, filters: list[int], extra: bytes = b"") -> bytes:
    """A 16-bit PNG of ``samples`` (H, W, C) with row ``y`` filtered by ``filters[y]``
    (0 None, 1 Sub, 2 Up, 3 Average, 4 Paeth), encoded here from the PNG spec."""
    import struct
    import zlib

    height, width, planes = samples.shape
    raw = samples.astype(">u2").tobytes()
    stride, bpp = width * planes * 2, planes * 2
    rows = [
        np.frombuffer(raw[y * stride : (y + 1) * stride], np.uint8).astype(int)
        for y in range(height)
    ]
    out = bytearray()
    for y, kind in enumerate(filters):
        row, up = rows[y], rows[y - 1] if y else np.zeros(stride, int)
        left = np.concatenate([np.zeros(bpp, int), row[:-bpp]])
        upleft = np.concatenate([np.zeros(bpp, int), up[:-bpp]])
        if kind == 4:
            p = left + up - upleft
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - upleft)
            predictor = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, upleft))
        else:
            predictor = [0 * row, left, up, (left + up) // 2][kind]
        out += bytes([kind]) + bytes(((row - predictor) % 256).astype(np.uint8))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    colour = {1: 0, 2: 4, 3: 2, 4: 6}[planes]
    header = struct.pack(">IIBBBBB", width, height, 16, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + extra
        + chunk(b"IDAT", zlib.compress(bytes(out)))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("planes", [1, 2, 3, 4])
@pytest.mark.parametrize(
    "filters", [(0, 0, 0, 0), (1, 1, 1, 1), (2, 2, 2, 2), (1, 2, 0, 2), (3, 4, 1, 2)]
)
def test_sixteen_bit_png_rows_of_every_filter_match_pypng(
    tmp_path: Path, planes: int, filters: tuple[int, ...]
) -> None:
    # None/Sub/Up rows take lamina's numpy path, Average/Paeth pypng's: both must agree.
    samples = np.random.default_rng(planes).integers(0, 65536, (4, 5, planes))
    path = tmp_path / "filtered.png"
    path.write_bytes(_png16(samples, list(filters)))
    image, depth = read_image(path)
    assert depth == 16
    assert image.reshape(samples.shape) == pytest.approx(samples / 65535, abs=1e-7)
    assert image.reshape(samples.shape) == pytest.approx(_pypng_reference(path), abs=1e-7)


def test_sixteen_bit_png_with_a_transparent_colour_gets_pypng_alpha(tmp_path: Path) -> None:
    import struct
    import zlib

    samples = np.array([[[7], [9]]])
    body = struct.pack(">H", 7)
    trns = struct.pack(">I", 2) + b"tRNS" + body + struct.pack(">I", zlib.crc32(b"tRNS" + body))
    path = tmp_path / "trns.png"
    path.write_bytes(_png16(samples, [0], extra=trns))
    image, _ = read_image(path)
    assert image.shape == (1, 2, 2)  # grey + the alpha pypng derives from tRNS
    assert image == pytest.approx(_pypng_reference(path), abs=1e-7)


@pytest.mark.parametrize("shape", [(8, 8), (5, 7, 2), (5, 7, 3), (9, 4, 4), (64, 96, 3)])
def test_eight_bit_png_has_the_bytes_imageio_writes(tmp_path: Path, shape: tuple[int, ...]) -> None:
    # write_image calls Pillow directly (imageio's overhead is most of a small PNG's
    # cost); the file must stay byte for byte what imageio, through Pillow, wrote.
    import imageio.v3 as iio

    image = np.random.default_rng(len(shape) * 100 + shape[-1]).random(shape).astype(np.float32)
    image[0] = 0.5  # a flat row: a different filter choice would change the bytes
    write_image(tmp_path / "a.png", image)
    expected = np.rint(image * 255).astype(np.uint8)
    assert (tmp_path / "a.png").read_bytes() == iio.imwrite("<bytes>", expected, extension=".png")


def test_a_folder_removed_between_writes_is_created_again(tmp_path: Path) -> None:
    # atomic_write creates a folder at its first write there, not at every write.
    write_json(tmp_path / "sub" / "a.json", {"a": 1})
    (tmp_path / "sub" / "a.json").unlink()
    (tmp_path / "sub").rmdir()
    write_json(tmp_path / "sub" / "b.json", {"b": 2})
    assert json.loads((tmp_path / "sub" / "b.json").read_text()) == {"b": 2}


def test_a_written_file_gets_the_mode_open_gives_under_any_umask(tmp_path: Path) -> None:
    # The kernel applies the umask to the temporary file, as open() would; in a
    # child process, as the umask is process-wide.
    import subprocess
    import sys

    umasks = ("022", "077", "002")
    code = (
        "import os, sys; from lamina.io import write_json\n"
        "for umask in sys.argv[2:]:\n"
        "    os.umask(int(umask, 8)); folder = os.path.join(sys.argv[1], umask); os.mkdir(folder)\n"
        "    write_json(folder + '/a.json', {}); open(folder + '/b.json', 'w').close()"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path), *umasks], check=True)
    for umask in umasks:
        modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / umask).iterdir()}
        assert modes["a.json"] == modes["b.json"] == 0o666 & ~int(umask, 8), modes


def test_a_temporary_name_left_by_a_killed_writer_is_stepped_over(tmp_path: Path) -> None:
    import os

    import lamina.io

    serial = next(lamina.io._serial)
    for n in (1, 2):  # the next two names this process would take
        (tmp_path / f".a.json.{os.getpid()}.{serial + n}.part").write_text("left")
    write_json(tmp_path / "a.json", [1])
    assert json.loads((tmp_path / "a.json").read_text()) == [1]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_png_of_values_outside_the_unit_range_is_that_of_the_clipped_image(
    tmp_path: Path, dtype: type
) -> None:
    # The pipeline writes a result's picture unclipped: write_image clips (NaN to 0).
    image = np.random.default_rng(7).normal(0.5, 0.8, (6, 9, 3)).astype(dtype)
    image.flat[::5], image.flat[1::7], image.flat[2::11] = np.nan, np.inf, -np.inf
    write_image(tmp_path / "raw.png", image)
    write_image(tmp_path / "clipped.png", np.nan_to_num(np.clip(image, 0, 1), nan=0.0))
    assert (tmp_path / "raw.png").read_bytes() == (tmp_path / "clipped.png").read_bytes()


def _rows_of_every_kind(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """uint8 samples whose rows are flat, noise, ramps or repeats of the row above:
    each of PNG's row filters wins somewhere, so a different choice changes the bytes."""
    data = rng.integers(0, 256, shape, dtype=np.uint8)
    for y in range(1, shape[0]):
        kind = rng.integers(4)
        if kind == 0:
            data[y] = rng.integers(256)
        elif kind == 1:
            data[y] = data[y - 1]
        elif kind == 2:
            ramp = np.arange(shape[1]) * int(rng.integers(1, 9)) + int(rng.integers(256))
            data[y] = (ramp % 256).astype(np.uint8).reshape(-1, *([1] * (len(shape) - 2)))
    return data


@pytest.mark.parametrize(
    "shape",
    [
        *(
            (int(h), int(w), *c)
            for h, w, c in zip(
                np.random.default_rng(5).integers(1, 40, 12),
                np.random.default_rng(6).integers(1, 40, 12),
                [(), (2,), (3,), (4,)] * 3,
                strict=True,
            )
        ),
        (300, 300, 3),  # noise: its compressed data spans several IDAT chunks
        (2, 17000, 4),  # a row wider than Pillow's 64 KiB buffer: the buffer is 4 x width
    ],
)
def test_eight_bit_png_is_byte_for_byte_what_pillow_saves(
    tmp_path: Path, shape: tuple[int, ...]
) -> None:
    # write_image drives Pillow's PNG encoder itself and writes the chunks (Pillow's
    # save path costs more than encoding a small image); the file must be the one
    # Image.save writes, for every channel count, size and kind of row.
    from PIL import Image

    samples = _rows_of_every_kind(np.random.default_rng(sum(shape)), shape)
    write_image(tmp_path / "a.png", samples.astype(np.float32) / 255)
    expected = io.BytesIO()
    Image.fromarray(samples).save(expected, format="PNG")
    assert (tmp_path / "a.png").read_bytes() == expected.getvalue()


def test_eight_bit_png_falls_back_to_pillows_public_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fast path uses Pillow internals (Image._getencoder, PngImagePlugin._OUTMODES);
    # a Pillow release that renames or reshapes them must still get the same file
    # through Image.save (which uses them too, so the change is simulated here).
    from PIL import Image

    import lamina.io

    def changed_internals(image: object) -> bytes:
        raise AttributeError("module 'PIL.Image' has no attribute '_getencoder'")

    samples = _rows_of_every_kind(np.random.default_rng(3), (9, 13, 3))
    expected = io.BytesIO()
    Image.fromarray(samples).save(expected, format="PNG")
    monkeypatch.setattr(lamina.io, "_png8_encoded", changed_internals)
    write_image(tmp_path / "a.png", samples.astype(np.float32) / 255)
    assert (tmp_path / "a.png").read_bytes() == expected.getvalue()


@pytest.mark.parametrize("layout", ["C", "Fortran", "strided", "float64", "float16", "3-D"])
def test_npy_image_is_byte_for_byte_what_np_save_writes(tmp_path: Path, layout: str) -> None:
    # write_image builds the .npy header once per shape and writes the samples
    # without a copy; the file must be np.save's, header, order and all.
    rng = np.random.default_rng(len(layout))
    image = {
        "C": rng.random((5, 7), dtype=np.float32),
        "Fortran": np.asfortranarray(rng.random((5, 7), dtype=np.float32)),
        "strided": rng.random((10, 14), dtype=np.float32)[::2, 1::2],
        "float64": rng.random((6, 3)),
        "float16": rng.random((4, 4)).astype(np.float16),
        "3-D": rng.random((3, 5, 4), dtype=np.float32),
    }[layout]
    for name in ("first.npy", "second.npy"):  # the second reuses the header
        write_image(tmp_path / name, image)
        expected = io.BytesIO()
        np.save(expected, image.astype(np.float32, copy=False), allow_pickle=False)
        assert (tmp_path / name).read_bytes() == expected.getvalue()


def test_write_bytes_finishes_partial_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A write may take fewer bytes than it is given (a signal, a pipe, a full quota
    # being approached): what is left is written, in order.
    import os

    import lamina.io

    class Trickle:
        def __getattr__(self, name: str) -> Any:
            return getattr(os, name)

        def write(self, fd: int, data: Any) -> int:
            return os.write(fd, bytes(data[:7]))

    monkeypatch.setattr(lamina.io, "os", Trickle())
    samples = np.arange(300, dtype=np.float32).reshape(20, 15)
    lamina.io.write_bytes(tmp_path / "a.bin", b"head", samples.data, b"tail")
    assert (tmp_path / "a.bin").read_bytes() == b"head" + samples.tobytes() + b"tail"
