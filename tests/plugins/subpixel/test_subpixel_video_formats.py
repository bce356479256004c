"""Video pixel formats inside containers: ``read_frames`` decodes each at its own depth.

The reference is the array that was encoded: FFV1 and PNG-in-MOV are lossless, so
every decoded sample must equal it exactly, scaled by ``img_as_float32`` from
the source dtype. Lossy codecs (x264) are checked for shape and depth only.
"""

from __future__ import annotations

import av
import numpy as np
import pytest
from click.testing import CliRunner
from skimage.util import img_as_float32

from lamina.cli import main
from lamina.plugins.subpixel.footage import read_frames

FRAMES, HEIGHT, WIDTH = 3, 48, 64


def _write(path, codec: str, pix_fmt: str, pages: list[np.ndarray], source: str) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=5)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, pix_fmt
        for page in pages:
            frame = av.VideoFrame.from_ndarray(page, format=source)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _pages(dtype: type, channels: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max
    shape = (HEIGHT, WIDTH) if channels == 1 else (HEIGHT, WIDTH, channels)
    return [rng.integers(0, top, shape, endpoint=True).astype(dtype) for _ in range(FRAMES)]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(
    ("codec", "pix_fmt", "source", "dtype", "channels", "suffix"),
    [
        ("ffv1", "gray16le", "gray16le", np.uint16, 1, ".mkv"),  # scientific 16-bit grey
        ("ffv1", "gray", "gray", np.uint8, 1, ".mkv"),
        ("ffv1", "rgb48le", "rgb48le", np.uint16, 3, ".mkv"),  # stored as gbrp16le
        ("png", "rgb24", "rgb24", np.uint8, 3, ".mov"),
        ("png", "rgba", "rgba", np.uint8, 4, ".mov"),  # alpha dropped, colour kept
    ],
)
def test_lossless_video_keeps_every_sample(
    tmp_path, seed, codec, pix_fmt, source, dtype, channels, suffix
):
    pages = _pages(dtype, channels, seed)
    video = tmp_path / f"clip{suffix}"
    _write(video, codec, pix_fmt, pages, source)
    frames, labels, times = read_frames([str(video)], None if channels == 1 else "0")
    assert len(frames) == FRAMES and labels[0] == f"{video}#0"
    np.testing.assert_allclose(times, np.arange(FRAMES) / 5, atol=1e-9)
    for frame, page in zip(frames, pages, strict=True):
        expected = page if channels == 1 else page[:, :, 0]
        assert frame.dtype == np.float32
        # Exact: an 8-bit round trip would be off by up to 128/65535 on 16-bit data.
        np.testing.assert_array_equal(frame, img_as_float32(expected))


def test_ten_bit_video_is_not_rounded_to_eight(tmp_path):
    # 10-bit 4:2:0 (ProRes/HEVC cameras): luma must keep steps finer than 1/255.
    pages = _pages(np.uint16, 3, seed=3)
    video = tmp_path / "ten.mkv"
    _write(video, "ffv1", "yuv420p10le", pages, "rgb48le")
    frames, _, _ = read_frames([str(video)], "0")
    levels = np.unique(np.round(frames[0].ravel() * 255, 6))
    assert np.mean(levels != np.round(levels)) > 0.5


def test_grey_video_needs_no_channel_and_colour_still_does(tmp_path):
    grey, colour = tmp_path / "grey.mkv", tmp_path / "colour.mp4"
    _write(grey, "ffv1", "gray", _pages(np.uint8, 1, seed=4), "gray")
    _write(colour, "libx264", "yuv444p", _pages(np.uint8, 3, seed=5), "rgb24")
    runner = CliRunner()
    result = runner.invoke(main, ["track", str(grey), "--json"])
    assert result.exit_code == 0, result.output
    refused = runner.invoke(main, ["track", str(colour)])
    assert refused.exit_code == 2
    assert "--channel" in refused.output and "colour" in refused.output
    frames, _, _ = read_frames([str(colour)], "luminance")
    assert all(frame.shape == (HEIGHT, WIDTH) for frame in frames)
