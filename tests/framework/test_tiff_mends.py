"""TIFF reading mends from the round-18 review: 1-bit (bilevel) pages were refused
as edited (their strips pack 8 pixels a byte), and a zlib page whose height was
edited to more rows than it stores read as rows of zeros. Each case failed before
its fix."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from lamina.errors import InputError
from lamina.io import read_image
from lamina.plugins.subpixel.footage import read_frames

# a seeded grid of sizes (odd widths leave a partial last byte in every row);
# widen SIZES to search further
SIZES = [(1, 1), (3, 7), (37, 53), (16, 8), (5, 13), (64, 65)]


def _bits(shape: tuple[int, int], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random(shape) > 0.5


def _write(path: Path, mask: np.ndarray, writer: str) -> None:
    if writer == "pillow":
        from PIL import Image

        Image.fromarray(mask).save(path)  # mode "1"
    else:
        import tifffile

        tifffile.imwrite(path, mask)


@pytest.mark.parametrize("writer", ["pillow", "tifffile"])
@pytest.mark.parametrize("shape", SIZES)
def test_a_bilevel_tiff_reads_as_its_pixels(tmp_path: Path, writer: str, shape) -> None:
    mask = _bits(shape, seed=shape[0] * 100 + shape[1])
    path = tmp_path / "mask.tif"
    _write(path, mask, writer)
    image, depth = read_image(path)
    # the independent reference: the array written
    np.testing.assert_array_equal(image, mask.astype(np.float32))
    assert image.dtype == np.float32 and depth == 8


@pytest.mark.parametrize("writer", ["pillow", "tifffile"])
def test_a_cut_bilevel_tiff_is_still_damaged(tmp_path: Path, writer: str) -> None:
    path = tmp_path / "mask.tif"
    _write(path, _bits((64, 64), seed=1), writer)
    cut = tmp_path / "cut.tif"
    cut.write_bytes(path.read_bytes()[:-200])  # into the pixels or the tags after them
    with pytest.raises(InputError, match="damaged"):
        read_image(cut)


def test_a_bilevel_tiff_with_an_edited_width_is_refused(tmp_path: Path) -> None:
    import tifffile

    path = tmp_path / "mask.tif"
    tifffile.imwrite(path, _bits((32, 16), seed=2))
    data = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        tag = tif.pages[0].tags["ImageWidth"]
    struct.pack_into("<H" if tag.dtype == 3 else "<I", data, tag.valueoffset, 64)
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="damaged"):
        read_image(path)


@pytest.mark.parametrize("writer", ["pillow", "tifffile"])
def test_a_stack_of_bilevel_pages_is_tracked(tmp_path: Path, writer: str) -> None:
    masks = [_bits((24, 29), seed=s) for s in range(3)]
    path = tmp_path / "stack.tif"
    if writer == "pillow":
        from PIL import Image

        first, *rest = (Image.fromarray(m) for m in masks)
        first.save(path, save_all=True, append_images=rest)
    else:
        import tifffile

        with tifffile.TiffWriter(path) as tif:
            for mask in masks:
                tif.write(mask)
    frames, labels, _ = read_frames([str(path)], None)
    assert len(frames) == 3 and labels[2] == f"{path}#2"
    for frame, mask in zip(frames, masks, strict=True):
        np.testing.assert_array_equal(frame, mask.astype(np.float32))


def _taller(tmp_path: Path, compression: str | None, rows: int) -> Path:
    """A 37-row page in one strip whose ImageLength says ``rows``."""
    import tifffile

    pixels = np.random.default_rng(0).integers(0, 65536, (37, 53), dtype=np.uint16)
    path = tmp_path / f"taller-{compression}-{rows}.tif"
    tifffile.imwrite(path, pixels, compression=compression, rowsperstrip=37)
    data = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        tag = tif.pages[0].tags["ImageLength"]
    struct.pack_into("<H" if tag.dtype == 3 else "<I", data, tag.valueoffset, rows)
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("compression", [None, "zlib"])
@pytest.mark.parametrize("rows", [38, 74, 300])
def test_a_compressed_tiff_with_an_edited_height_is_not_zero_filled(
    tmp_path: Path, compression: str | None, rows: int
) -> None:
    # zlib at 74 rows read as (74, 53) with its lower half 0; tifffile logged the
    # damage and quiet_logger dropped it
    path = _taller(tmp_path, compression, rows)
    with pytest.raises(InputError, match=r"damaged \(truncated or edited\)"):
        read_image(path)
    with pytest.raises(InputError, match="damaged"):
        read_frames([str(path), str(path)], None)


def test_tifffile_records_stay_off_stderr(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    with pytest.raises(InputError):
        read_image(_taller(tmp_path, "zlib", 74))
    assert capfd.readouterr().err == ""


def test_tiff_readers_side_by_side_keep_their_own_records() -> None:
    # a pipeline's worker threads read TIFFs at once: one file's damage is not
    # another's, and the tifffile logger's propagate flag comes back as it was
    import logging
    import threading

    from lamina.io import tiff_damage

    logger = logging.getLogger("tifffile")
    before = logger.propagate
    first = tiff_damage("image 'a.tif'")
    second = tiff_damage("image 'b.tif'")
    damage_a = first.__enter__()
    damage_b = second.__enter__()
    other = threading.Thread(target=lambda: logger.error("incorrect StripOffsets count"))
    other.start()
    other.join()
    first.__exit__(None, None, None)  # out of order: a leaves before b
    second.__exit__(None, None, None)
    damage_a.check()
    damage_b.check()
    assert logger.propagate == before


def test_damaged_and_whole_tiffs_read_in_threads(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import tifffile

    whole = []
    for i in range(12):
        path = tmp_path / f"whole{i}.tif"
        tifffile.imwrite(path, np.full((8, 8), i, np.uint8))
        whole.append(path)
    damaged = [_taller(tmp_path, "zlib", 74 + i) for i in range(4)]

    def outcome(path: Path) -> str:
        try:
            read_image(path)
        except InputError as error:
            assert path.name in str(error)
            return "damaged"
        return "read"

    with ThreadPoolExecutor(8) as pool:
        for _ in range(3):
            got = list(pool.map(outcome, whole + damaged))
            assert got == ["read"] * 12 + ["damaged"] * 4


def test_quiet_loggers_leaving_out_of_order_give_the_level_back() -> None:
    # two mesh reads on a pipeline's threads: the second kept CRITICAL as "old"
    # and, leaving last, left trimesh's log silenced for good
    import logging

    from lamina.io import quiet_logger

    logger = logging.getLogger("trimesh")
    before = logger.level
    first, second = quiet_logger("trimesh"), quiet_logger("trimesh")
    first.__enter__()
    second.__enter__()
    assert logger.level == logging.CRITICAL
    first.__exit__(None, None, None)
    assert logger.level == logging.CRITICAL  # the second still reads
    second.__exit__(None, None, None)
    assert logger.level == before
