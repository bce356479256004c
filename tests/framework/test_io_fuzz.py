"""Damaged image files: truncated, bit-flipped, cut-out, edited headers and huge
declared sizes thrown at :func:`lamina.io.read_image`, which may only succeed or raise
one :class:`~lamina.InputError` naming the file, with nothing on stderr.

A seeded loop (hypothesis is not a dependency): ``LAMINA_FUZZ_CASES`` widens it.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from lamina.errors import InputError
from lamina.io import read_image, write_image
from lamina.memory import MemoryLimitError
from lamina.testing.damage import bit_flipped, cut_out, truncated

CASES = int(os.environ.get("LAMINA_FUZZ_CASES", "75"))  # 15 of each kind on average
RNG = np.random.default_rng(16)
GREY = RNG.random((12, 10)).astype(np.float32)
COLOUR = RNG.random((12, 10, 3)).astype(np.float32)

# name: (image, bit depth) of every format and depth lamina writes and reads.
SEEDS = {
    "grey8.png": (GREY, 8),
    "colour8.png": (COLOUR, 8),
    "grey16.png": (GREY, 16),
    "colour16.png": (COLOUR, 16),
    "colour8.tif": (COLOUR, 8),
    "grey16.tif": (GREY, 16),
    "float.tif": (COLOUR, 32),
    "float.npy": (COLOUR, 32),
}


@pytest.fixture(autouse=True)
def _small_memory_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    # A damaged header may declare terabytes; the guard must refuse them at once.
    monkeypatch.setenv("LAMINA_MEMORY_LIMIT", "256M")


def _mutations(data: bytes, rng: np.random.Generator) -> list[tuple[str, bytes]]:
    """Truncations, bit flips, cut-out runs, header edits and huge numbers in the header."""
    out = []
    for _ in range(CASES):
        kind = ("truncate", "flip", "cut", "edit", "huge")[int(rng.integers(5))]
        if kind == "truncate":
            out.append((kind, truncated(data, rng)))
        elif kind == "flip":
            out.append((kind, bit_flipped(data, rng, int(rng.integers(1, 9)))))
        elif kind == "cut":
            out.append((kind, cut_out(data, rng, int(rng.integers(1, 9)))))
        else:
            damaged = bytearray(data)
            start = int(rng.integers(0, min(len(data), 160)))
            count = int(rng.integers(1, 5))
            value = b"\xff\xff\xff\x7f" if kind == "huge" else rng.bytes(count)
            damaged[start : start + len(value)] = value
            out.append((kind, bytes(damaged)))
    return out


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_damaged_files_give_one_input_error_or_their_pixels(
    name: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    image, bit_depth = SEEDS[name]
    seed = tmp_path / name
    write_image(seed, image, bit_depth=bit_depth)
    original, _ = read_image(seed)
    data = seed.read_bytes()
    target = tmp_path / f"damaged{seed.suffix}"
    outcomes = {"read": 0, "refused": 0}
    rng = np.random.default_rng(sorted(SEEDS).index(name))
    for index, (kind, damaged) in enumerate(_mutations(data, rng)):
        target.write_bytes(damaged)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                pixels, depth = read_image(target)
            except InputError as error:
                assert str(target) in str(error), (kind, index, error)
                outcomes["refused"] += 1
                continue
        outcomes["read"] += 1
        assert pixels.dtype == np.float32 and pixels.ndim in (2, 3), (kind, index)
        assert np.isfinite(pixels).all() and depth in (8, 16, 32), (kind, index)
        if kind == "truncate":
            # Only a cut after the pixels (PNG's end chunk) may still be read.
            np.testing.assert_array_equal(pixels, original, err_msg=f"{kind} {index}")
    assert outcomes["refused"] > 0
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""


def test_npy_header_declaring_a_huge_array_is_refused_before_reading(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": "<f4", "fortran_order": False, "shape": (99999, 99999)}
    )
    path = tmp_path / "huge.npy"
    path.write_bytes(buffer.getvalue() + bytes(64))
    with pytest.raises(
        InputError, match=r"huge.npy' is truncated: its header declares 39999200004"
    ):
        read_image(path)


def test_png_header_declaring_a_huge_image_is_refused_by_the_memory_guard(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    write_image(path, GREY)
    data = bytearray(path.read_bytes())
    data[16:24] = (100_000).to_bytes(4, "big") * 2  # IHDR width and height
    path.write_bytes(bytes(data))
    with pytest.raises(MemoryLimitError, match=r"'.*huge.png' \(100000 x 100000 x 1 uint8\)"):
        read_image(path)


def test_npy_of_python_objects_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "objects.npy"
    np.save(path, np.array([[None, 1]], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="Python objects"):
        read_image(path)


def test_empty_and_foreign_files_are_refused(tmp_path: Path) -> None:
    for name, content in (("empty.png", b""), ("text.tif", b"hello"), ("zip.npy", b"PK\x03\x04")):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(InputError, match=name):
            read_image(path)
