"""``lamina track`` and ``lamina field`` under hostile input.

Each case ends in one line on stderr (``lamina: error: ...``; exit 2 for bad
input, 1 for a failed run, 130 for Ctrl-C), no traceback, nothing on stdout,
nothing half-written in the output folder and nothing written outside it.
Every test file is made here, in ``tmp_path``, from scikit-image's camera.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import warnings
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
from click.testing import CliRunner, Result
from skimage import data

import lamina
from lamina.cli import main
from lamina.plugins.subpixel.checks import MIN_SIZE
from lamina.plugins.subpixel.footage import (
    frame_times,
    parse_roi,
    physical_series,
    read_frames,
)

SIDE = 48


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    """Six uint8 48 x 48 frames of the camera moving one pixel a frame along x."""
    crop = data.camera()[100 : 100 + SIDE, 100 : 100 + SIDE]
    return np.stack([np.roll(crop, i, axis=1) for i in range(6)])


@pytest.fixture
def stack(tmp_path, frames) -> str:
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, frames)
    return str(path)


def run(*args: str) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def refused(result: Result, *words: str, code: int = 2) -> str:
    """The one error line of ``result``, checked: exit ``code``, no traceback, no
    data on stdout, and each of ``words`` in the line."""
    assert result.exit_code == code, (result.exit_code, result.output)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("lamina: error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def listing(folder) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


# ---------------------------------------------------------------- TIFF stacks


def _tag_offset(path, page: int, name: str) -> int:
    with tifffile.TiffFile(path) as tiff:
        tiff.pages.useframes = False
        return tiff.pages[page].tags[name].valueoffset


def _edited(source: str, target, edits: dict[int, bytes]) -> str:
    content = bytearray(Path(source).read_bytes())
    for offset, value in edits.items():
        content[offset : offset + len(value)] = value
    target.write_bytes(bytes(content))
    return str(target)


def test_a_tiff_cut_mid_file_is_damaged_not_a_shorter_stack(stack, tmp_path):
    # tifffile logs the broken page chain and hands back the pages before the cut:
    # tracking them would be a silently shorter series. The cuts fall in the first
    # page's pixels, in the middle, in the last IFD and at the start of it.
    content = Path(stack).read_bytes()
    with tifffile.TiffFile(stack) as tiff:
        last = tiff.pages[-1].offset
    for cut in (300, len(content) // 2, len(content) - 60, last + 1):
        path = tmp_path / f"cut{cut}.tif"
        path.write_bytes(content[:cut])
        refused(run("track", path), path.name, "damaged")


def test_tifffile_log_stays_off_stderr_in_a_real_run(stack, tmp_path):
    # tifffile logs a broken page chain through logging's last resort: in a real
    # process that is a second, raw line on stderr (a test's runner would hide it)
    content = Path(stack).read_bytes()
    path = tmp_path / "cut.tif"
    path.write_bytes(content[: len(content) // 2])
    done = subprocess.run(
        [sys.executable, "-c", "from lamina.cli import main; main()", "track", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [done.stderr.strip()], done.stderr
    assert "cut.tif" in done.stderr and "damaged" in done.stderr


def test_a_corrupted_first_ifd_offset_is_damaged(stack, tmp_path):
    path = _edited(stack, tmp_path / "ifd.tif", {4: struct.pack("<I", 0x7FFFFF00)})
    refused(run("track", path), "ifd.tif", "damaged")


def test_a_page_chain_that_loops_is_damaged(stack, tmp_path):
    with tifffile.TiffFile(stack) as tiff:
        pages = [page.offset for page in tiff.pages]
        # the "next IFD" field of page 2 points back at page 1
        tags = len(tiff.pages[2].tags)
    next_field = pages[2] + 2 + 12 * tags
    path = _edited(stack, tmp_path / "loop.tif", {next_field: struct.pack("<I", pages[1])})
    refused(run("track", path), "loop.tif", "damaged")


@pytest.mark.parametrize("content", [b"", b"II*\x00", b"II", b"MM\x00*" + bytes(4)])
def test_empty_and_header_only_tiffs(tmp_path, content):
    path = tmp_path / "head.tif"
    path.write_bytes(content)
    refused(run("track", path), "head.tif")


def test_a_strip_offset_past_the_end_is_refused_before_decoding(stack, tmp_path, monkeypatch):
    offset = _tag_offset(stack, 3, "StripOffsets")
    path = _edited(stack, tmp_path / "strip.tif", {offset: struct.pack("<I", 10**9)})

    def never(*args, **kwargs):
        raise AssertionError("a page was decoded")

    monkeypatch.setattr(tifffile.TiffPage, "asarray", never)
    refused(run("track", path), "strip.tif", "page 3", "truncated")


def test_a_compression_this_install_cannot_decode_says_so(stack, tmp_path):
    # LZW (5) needs imagecodecs, an optional package; 12345 is no compression at all
    offset = _tag_offset(stack, 0, "Compression")
    lzw = _edited(stack, tmp_path / "lzw.tif", {offset: struct.pack("<H", 5)})
    unknown = _edited(stack, tmp_path / "odd.tif", {offset: struct.pack("<H", 12345)})
    try:
        import imagecodecs  # noqa: F401
    except ImportError:
        refused(run("track", lzw), "lzw.tif", "page 0", "LZW", "imagecodecs")
    else:  # decodable here: the edited page is garbage LZW, a damaged file
        refused(run("track", lzw), "lzw.tif")
    refused(run("track", unknown), "odd.tif", "unknown compression (12345)")


def test_pages_of_different_pixel_types_are_refused(tmp_path, frames):
    # a uint16 page scales by 65535 and a uint8 one by 255: one stack, one camera
    path = tmp_path / "mixed.tif"
    with tifffile.TiffWriter(path) as tiff:
        tiff.write(frames[0])
        tiff.write(frames[1].astype(np.uint16) * 257)
        tiff.write(frames[2])
    line = refused(run("track", path), "mixed.tif#1", "uint16", "uint8")
    assert "one pixel type" in line


def test_an_edited_bits_per_sample_is_not_hidden_by_the_first_page(stack, tmp_path):
    # tifffile reads a stack's later pages with the first page's tags unless asked
    # not to: page 2's own (edited) BitsPerSample must count
    offset = _tag_offset(stack, 2, "BitsPerSample")
    path = _edited(stack, tmp_path / "bps.tif", {offset: struct.pack("<H", 16)})
    refused(run("track", path), "bps.tif")


def test_pages_of_another_size(tmp_path, frames):
    path = tmp_path / "sizes.tif"
    with tifffile.TiffWriter(path) as tiff:
        tiff.write(frames[0])
        tiff.write(frames[1][:30])
    refused(run("track", path), "sizes.tif#1", "30x48", "one size")


def test_a_header_claiming_a_huge_page_is_refused_before_any_page_is_read(
    stack, tmp_path, monkeypatch
):
    width, length = (_tag_offset(stack, 0, tag) for tag in ("ImageWidth", "ImageLength"))
    path = _edited(
        stack,
        tmp_path / "huge.tif",
        {width: struct.pack("<I", 60_000), length: struct.pack("<I", 60_000)},
    )

    def never(*args, **kwargs):
        raise AssertionError("a page was decoded before the memory guard")

    monkeypatch.setattr(tifffile.TiffPage, "asarray", never)
    monkeypatch.setenv("LAMINA_MEMORY_LIMIT", "1G")
    refused(run("track", path), "huge.tif", "memory")


def test_the_memory_guard_counts_every_page(stack, monkeypatch):
    # six 48 x 48 pages need 2 x 6 x 48 x 48 x 4 bytes (110 KiB) as float32
    monkeypatch.setenv("LAMINA_MEMORY_LIMIT", "64K")
    with pytest.raises(lamina.InputError, match=r"stack\.tif"):
        read_frames([stack], None)


def test_a_planar_colour_page_is_read_channel_last(tmp_path, frames):
    # PlanarConfiguration=2 stores (samples, rows, columns): channel 0 is a frame
    path = tmp_path / "planar.tif"
    with tifffile.TiffWriter(path) as tiff:
        for frame in frames[:3]:
            planes = np.stack([frame, 255 - frame, frame // 2])
            tiff.write(planes, photometric="rgb", planarconfig="separate")
    pages, labels, _ = read_frames([str(path)], "0")
    assert len(pages) == 3 and labels[2].endswith("planar.tif#2")
    np.testing.assert_allclose(pages[1], frames[1] / 255.0, atol=1e-6)
    inverted, _, _ = read_frames([str(path)], "1")
    np.testing.assert_allclose(inverted[2], (255 - frames[2]) / 255.0, atol=1e-6)


def test_a_folder_named_as_a_frame(tmp_path):
    folder = tmp_path / "frames.tif"
    folder.mkdir()
    refused(run("track", folder), "frames.tif", "directory")


# ---------------------------------------------------------------- videos


def _video(path, frames, codec: str = "ffv1") -> str:
    iio.imwrite(path, np.repeat(frames[..., None], 3, axis=3), plugin="pyav", fps=5, codec=codec)
    return str(path)


@pytest.fixture(scope="module")
def long_frames(frames) -> np.ndarray:
    return np.concatenate([frames] * 5)  # 30 frames


def test_a_truncated_video_is_damaged_not_a_shorter_track(tmp_path, long_frames):
    # a Matroska file streams: a cut one decodes up to the cut without an error
    whole = _video(tmp_path / "whole.mkv", long_frames)
    content = Path(whole).read_bytes()
    path = tmp_path / "cut.mkv"
    path.write_bytes(content[: len(content) // 2])
    line = refused(run("track", path, "--channel", "0"), "cut.mkv", "truncated")
    assert "30" in line  # the frames its header promises


@pytest.mark.parametrize("kept", [28, 27, 15])
def test_a_video_cut_short_of_its_exact_frame_count_is_refused(tmp_path, long_frames, kept):
    # an AVI header counts its frames exactly: a file cut at a packet boundary that
    # loses two frames of 30 (under the 5 % a duration-derived count allows) was
    # tracked as a shorter series
    import av

    whole = _video(tmp_path / "whole.avi", long_frames, codec="mpeg4")
    with av.open(whole) as container:
        starts = [p.pos for p in container.demux(container.streams.video[0]) if p.size]
    path = tmp_path / "cut.avi"
    path.write_bytes(Path(whole).read_bytes()[: starts[kept]])
    line = refused(run("track", path, "--channel", "0"), "cut.avi", "truncated", "30")
    assert str(kept) in line


def test_a_video_short_of_its_duration_is_tracked_with_a_warning(tmp_path, long_frames):
    # Matroska gives a duration, not a count: a few frames short of duration x rate
    # may be the estimate's error, so it is tracked, but with a warning line
    whole = _video(tmp_path / "whole.mkv", long_frames)
    content = Path(whole).read_bytes()
    path = tmp_path / "cut.mkv"
    path.write_bytes(content[: int(len(content) * 0.95)])
    with pytest.warns(UserWarning, match="decodes 28 frames where its duration suggests 30"):
        pages, _, _ = read_frames([str(path)], "0")
    assert len(pages) == 28
    result = run("track", path, "--channel", "0", "--json")
    assert result.exit_code == 0, result.output
    warned = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warned) == 1 and "cut.mkv" in warned[0] and "28" in warned[0], result.stderr


def test_a_longer_audio_track_does_not_make_a_video_truncated(tmp_path, frames):
    # the container lasts 4 s (audio), the video 2 s: only the video's own length counts
    import av

    path = tmp_path / "sound.mkv"
    with av.open(str(path), "w") as container:
        video = container.add_stream("ffv1", rate=5)
        video.width = video.height = SIDE
        video.pix_fmt = "gray"
        audio = container.add_stream("pcm_s16le", rate=8000)
        audio.layout = "mono"
        for frame in np.concatenate([frames, frames[:4]]):
            container.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="gray")))
        container.mux(video.encode())
        for second in range(4):
            sound = av.AudioFrame.from_ndarray(np.zeros((1, 8000), np.int16), layout="mono")
            sound.sample_rate, sound.pts = 8000, second * 8000
            container.mux(audio.encode(sound))
        container.mux(audio.encode())
    pages, _, times = read_frames([str(path)], None)
    assert len(pages) == 10 and np.allclose(times, np.arange(10) / 5)


@pytest.mark.parametrize(
    "content",
    [b"", b"not a video at all\n" * 20, b"\x00\x00\x00\x18ftypmp42" + bytes(100)],
    ids=["empty", "text", "mp4-header-only"],
)
def test_files_that_are_not_videos(tmp_path, content):
    path = tmp_path / "clip.mp4"
    path.write_bytes(content)
    line = refused(run("track", path), "clip.mp4")
    assert "pyav" not in line  # the reason in the file's terms, not a plugin's


def test_an_mp4_without_its_index_is_damaged(tmp_path, frames):
    whole = _video(tmp_path / "whole.mp4", frames, codec="libx264")
    content = Path(whole).read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(content[: len(content) // 2])  # the moov atom is at the end
    refused(run("track", path, "--channel", "0"), "cut.mp4")


def test_a_video_with_no_frame(tmp_path):
    import av

    path = tmp_path / "zero.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=5)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        container.start_encoding()
    refused(run("track", path), "zero.mp4")


def test_the_memory_guard_sizes_videos_without_a_frame_count(tmp_path, long_frames, monkeypatch):
    # Matroska has no frame count: the guard takes it from the duration
    path = _video(tmp_path / "clip.mkv", long_frames)
    monkeypatch.setenv("LAMINA_MEMORY_LIMIT", "300K")
    with pytest.raises(lamina.InputError, match="memory"):
        read_frames([path], "0")


@pytest.mark.parametrize("stamps", [[0.0, 0.2, 0.2, 0.6], [0.0, 0.4, 0.2, 0.6]])
def test_timestamps_that_do_not_increase_need_a_frame_rate(stamps):
    # a zero or negative interval would make the velocity infinite
    times = np.array(stamps)
    with pytest.raises(lamina.InputError, match=r"do not increase \(frame 2.*--fps"):
        frame_times(times, None, "clip.mkv")
    assert frame_times(times, 5.0, "clip.mkv") is None  # the given constant rate instead


# ---------------------------------------------------------------- options


def _valid_rois(rng: np.random.Generator, shape: tuple[int, int], count: int):
    for _ in range(count):
        y0, x0 = (int(rng.integers(0, side - MIN_SIZE + 1)) for side in shape)
        y1 = int(rng.integers(y0 + MIN_SIZE, shape[0] + 1))
        x1 = int(rng.integers(x0 + MIN_SIZE, shape[1] + 1))
        yield y0, y1, x0, x1


def test_every_valid_roi_parses_to_its_slices():
    # a seeded grid (widen ``count`` or the seeds to search further)
    for seed in range(3):
        rng = np.random.default_rng(seed)
        shape = (int(rng.integers(MIN_SIZE, 300)), int(rng.integers(MIN_SIZE, 300)))
        for y0, y1, x0, x1 in _valid_rois(rng, shape, 200):
            spaced = f" {y0} : {y1} , {x0}:{x1} "
            assert parse_roi(spaced, shape) == (slice(y0, y1), slice(x0, x1))


def test_every_roi_off_the_frame_or_reversed_is_refused():
    rng = np.random.default_rng(7)
    shape = (64, 80)
    for y0, y1, x0, x1 in _valid_rois(rng, shape, 200):
        for bad in ((y1, y0, x0, x1), (y0, y1, x1, x0), (y0, shape[0] + 1 + y1, x0, x1)):
            text = "{}:{},{}:{}".format(*bad)
            with pytest.raises(lamina.InputError, match="--roi"):
                parse_roi(text, shape)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("5:3,1:9", "y1=3 is not greater than y0=5"),
        ("1:9,30:30", "x1=30 is not greater than x0=30"),
        ("0:0,0:10", "y1=0 is not greater than y0=0"),
        ("0:65,0:10", "past the 64x64 frames"),
        ("0:10,10:99999999999999999999", "past the 64x64 frames"),
        ("-5:30,1:9", "non-negative"),
        ("1:9,-3:9", "non-negative"),
        ("5:30", "y0:y1,x0:x1"),
        ("5:30;1:9", "y0:y1,x0:x1"),
        ("a:b,c:d", "y0:y1,x0:x1"),
        ("1:9,2:9,3:9", "y0:y1,x0:x1"),
        ("1.5:9,2:9", "y0:y1,x0:x1"),
        ("\u0661:\u0669,0:9", "y0:y1,x0:x1"),  # Arabic-Indic digits: ASCII only
        ("", "y0:y1,x0:x1"),
        ("0:2,0:9", "at least 8x8"),
        ("0:5,0:5", "at least 8x8"),  # ended in the estimator's message, not naming --roi
        ("0:7,0:40", "7x40"),
    ],
)
def test_malformed_rois_name_the_problem(text, message):
    with pytest.raises(lamina.InputError, match="--roi") as caught:
        parse_roi(text, (64, 64))
    assert message in str(caught.value)


@pytest.mark.parametrize("roi", ["0:5,0:5", "0:7,0:7", "0:5,0:48", "3:40,2:9"])
def test_a_roi_too_small_for_the_estimator_is_named(stack, roi):
    # under 8 px the estimator refused it in a message not naming --roi (0:5,0:5)
    refused(run("track", stack, "--roi", roi), f"--roi '{roi}'", "too small", "at least 8x8")


def test_a_roi_at_the_estimators_floor_is_tracked(stack):
    assert run("track", stack, "--roi", "0:8,0:8", "--json").exit_code == 0


def test_a_roi_given_twice_is_refused(stack):
    refused(run("track", stack, "--roi", "0:20,0:20", "--roi", " 0:20 ,0:20"), "--roi", "twice")


def test_many_rois_each_give_a_series(stack):
    # 15 overlapping 32 x 32 regions clear of the roll's wrap-around (x0 >= 6)
    rois = [f"{y}:{y + 32},{x}:{x + 32}" for y in range(0, 17, 4) for x in range(6, 17, 5)]
    result = run("track", stack, *(a for roi in rois for a in ("--roi", roi)), "--json")
    assert result.exit_code == 0, result.output
    series = json.loads(result.stdout)["series"]
    assert [s["roi"] for s in series] == rois
    for found in series:  # one pixel a frame along x (integer rolls)
        for i, frame in enumerate(found["frames"]):
            assert abs(frame["dx"] - i) <= max(5 * frame["sigma_dx"], 0.05), (found["roi"], i)


def test_a_pair_the_estimator_refuses_is_named_by_roi_and_frame(tmp_path):
    # stripes along y: motion along y cannot be measured, and the estimator says so
    x = np.arange(SIDE)
    stripes = [
        np.tile(0.5 + 0.4 * np.sin(2 * np.pi * (x - 0.3 * i) / 8), (SIDE, 1)) for i in range(4)
    ]
    path = tmp_path / "stripes.tif"
    tifffile.imwrite(path, np.stack(stripes).astype(np.float32), photometric="minisblack")
    line = refused(run("track", path, "--roi", "4:40,2:42"), "--roi 4:40,2:42, frame 1")
    assert "stripes.tif#1" in line


def test_unmeasured_frames_are_one_bounded_line(tmp_path):
    path = tmp_path / "flat.tif"
    tifffile.imwrite(path, np.full((14, 16, 16), 3, np.uint8), photometric="minisblack")
    result = run("track", path, "--json")
    assert result.exit_code == 0, result.output
    (line,) = result.stderr.splitlines()
    assert "(frames 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 and 3 more)" in line and "constant" in line


@pytest.mark.parametrize("option", ["--pixel-size", "--fps"])
@pytest.mark.parametrize("value", ["0", "-1", "-0.0", "nan", "inf", "-inf", "abc", ""])
def test_non_positive_or_non_finite_scales(stack, option, value):
    refused(run("track", stack, option, value), option)


@pytest.mark.parametrize(
    ("options", "option", "fix"),
    [
        (["--pixel-size", "1e308"], "--pixel-size", "closer to the pixel"),
        # the fix for an overflow --fps causes is about --fps, not the pixel size
        (["--fps", "1e-310"], "--fps", "--fps in frames per second"),
    ],
)
def test_scales_that_overflow_the_series_are_refused(stack, options, option, fix):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy overflow warning either
        result = run("track", stack, *options, "--pixel-size" if option == "--fps" else "--fps",
                     "1e300" if option == "--fps" else "2")  # fmt: skip
    if option == "--fps" and not float(options[1]) > 0.0:
        # Only a subnormal rate overflows the times, and once Taichi has set the CPU to
        # flush subnormals (any earlier render in this process) it reads as 0: refused
        # as not positive (click's range, x>0), naming --fps all the same.
        refused(result, option, "x>0")
        return
    refused(result, option, "overflow", fix)


def test_overflow_is_caught_in_the_library_too():
    with pytest.raises(lamina.InputError, match="pixel_size"):
        physical_series(np.full((3, 2), 10.0), np.ones((3, 2)), pixel_size=1e308, fps=None)


@pytest.mark.parametrize(
    "unit", ["", " ", "a,b", "a\nb", "$\\frac{$", "$x$", "m m", "u" * 40, '"um"', "a;b"]
)
def test_odd_units_are_refused(stack, unit):
    refused(run("track", stack, "--pixel-size", "2", "--unit", unit), "--unit")


@pytest.mark.parametrize("unit", ["um", "µm", "mm", "m", "nm", "in", "deg", "Å", "km/h", "mil_x"])
def test_ordinary_units_name_the_columns(stack, tmp_path, unit):
    out = tmp_path / "track.csv"
    result = run("track", stack, "--pixel-size", "2", "--unit", unit, "--csv", out)
    assert result.exit_code == 0, result.output
    header = out.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert f"dx_{unit}" in header and f"sigma_dx_{unit}" in header
    assert out.with_suffix(".png").is_file()


def test_a_unit_without_a_pixel_size_is_refused(stack):
    # tracks would be labelled um while being pixels
    refused(run("track", stack, "--unit", "um"), "--unit", "--pixel-size")


@pytest.mark.parametrize("reference", ["6", "-7", "99"])  # -1 is the last frame
@pytest.mark.parametrize("roi", [[], ["--roi", "0:40,0:40"]], ids=["whole", "roi"])
def test_a_reference_frame_outside_the_stack(stack, reference, roi):
    # with a --roi the refusal blamed the --roi
    line = refused(
        run("track", stack, "--reference", reference, *roi), "--reference", "6 frames read"
    )
    assert "--roi" not in line


@pytest.mark.parametrize(
    ("options", "option"),
    [
        (["--subset", "0"], "--subset"),
        (["--subset", "7"], "--subset"),
        (["--subset", "-32"], "--subset"),
        (["--subset", "abc"], "--subset"),
        (["--step", "0"], "--step"),
        (["--step", "-3"], "--step"),
    ],
)
def test_field_grid_options_are_refused_by_name(tmp_path, frames, options, option):
    pair = [tmp_path / "a.png", tmp_path / "b.png"]
    for path, frame in zip(pair, frames[:2], strict=True):
        iio.imwrite(path, frame)
    refused(run("field", *pair, "-o", tmp_path / "f.npz", *options), option)
    assert listing(tmp_path) == {"a.png", "b.png"}


# ---------------------------------------------------------------- outputs


def test_the_csv_must_be_a_csv(stack, tmp_path):
    # --csv x.png would write the plot over the table
    for name in ("track.png", "track", "track.txt", "track.csv.png"):
        refused(run("track", stack, "--csv", tmp_path / name), "--csv", ".csv")
    assert listing(tmp_path) == {"stack.tif"}


@pytest.mark.parametrize(
    ("command", "option", "name"),
    [("track", "--csv", "t.CSV"), ("track", "--csv", "t.Csv"), ("field", "-o", "f.NPZ")],
)
def test_output_suffixes_are_read_in_any_case(tmp_path, frames, command, option, name):
    # one rule for both commands: field refused f.NPZ while track took t.CSV
    inputs = _inputs(command, tmp_path, frames)
    subset = ["--subset", "16"] if command == "field" else []
    result = run(command, *inputs, *subset, option, tmp_path / name)
    assert result.exit_code == 0, result.output
    plot = Path(name).with_suffix(".png").name
    assert listing(tmp_path) == {*(path.name for path in inputs), name, plot}


def test_outputs_never_overwrite_an_input(tmp_path, frames):
    paths = []
    for i, frame in enumerate(frames[:3]):
        paths.append(tmp_path / f"f{i}.png")
        iio.imwrite(paths[-1], frame)
    before = {p: p.read_bytes() for p in paths}
    # the plot of f0.csv is f0.png, the first frame
    refused(run("track", *paths, "--csv", tmp_path / "f0.csv"), "f0.png", "input")
    # the picture of f1.npz is f1.png, the moving image
    refused(run("field", paths[0], paths[1], "-o", tmp_path / "f1.npz"), "f1.png", "input")
    assert {p: p.read_bytes() for p in paths} == before
    assert listing(tmp_path) == {"f0.png", "f1.png", "f2.png"}


def test_dot_dot_paths_write_exactly_where_they_point(stack, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    result = run("track", stack, "--csv", tmp_path / "a" / ".." / "b" / "t.csv")
    assert result.exit_code == 0, result.output
    assert listing(tmp_path) == {"stack.tif", "a", "b", "b/t.csv", "b/t.png"}


@pytest.mark.parametrize("command", ["track", "field"])
def test_an_output_folder_that_is_a_file_or_missing(stack, tmp_path, command, frames):
    (tmp_path / "file").write_text("x")
    for folder, problem in (("file", "is not a folder"), ("missing", "does not exist")):
        if command == "track":
            args = ["track", stack, "--csv", tmp_path / folder / "t.csv"]
        else:
            args = ["field", stack, stack, "-o", tmp_path / folder / "t.npz"]
        refused(run(*args), problem)
    assert listing(tmp_path) == {"stack.tif", "file"}


def _inputs(command: str, tmp_path: Path, frames: np.ndarray) -> list[Path]:
    """A stack for ``track``, a pair of images for ``field``, written in ``tmp_path``."""
    if command == "track":
        tifffile.imwrite(tmp_path / "stack.tif", frames)
        return [tmp_path / "stack.tif"]
    pair = [tmp_path / "a.png", tmp_path / "b.png"]
    for path, frame in zip(pair, frames[:2], strict=True):
        iio.imwrite(path, frame)
    return pair


@pytest.mark.parametrize(
    ("command", "out", "first", "second", "error"),
    [
        ("track", "t.csv", ["--csv"], ["--fps", "7"], PermissionError(13, "Permission denied")),
        (
            "field",
            "f.npz",
            ["--subset", "16", "-o"],
            ["--subset", "24"],
            OSError(28, "No space left"),
        ),
    ],
)
def test_a_failed_write_leaves_the_previous_outputs_whole(
    tmp_path, frames, monkeypatch, command, out, first, second, error
):
    inputs = _inputs(command, tmp_path, frames)
    out = tmp_path / out
    plot = out.with_suffix(".png")
    assert run(command, *inputs, *first, out).exit_code == 0
    old = out.read_bytes(), plot.read_bytes()
    real = os.replace

    def refuse_the_plot(source, target, *args, **kwargs):
        if str(target).endswith(".png"):
            raise error
        return real(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "replace", refuse_the_plot)
    # a full disk is a failed run (exit 1), a permission bad input (exit 2)
    code = 1 if error.errno == 28 else 2
    refused(run(command, *inputs, *first, out, *second), plot.name, error.strerror, code=code)
    # the data is not replaced alone: data and a plot of two different runs
    assert (out.read_bytes(), plot.read_bytes()) == old
    assert listing(tmp_path) == {path.name for path in (*inputs, out, plot)}


def test_existing_outputs_are_replaced_whole(stack, tmp_path):
    out = tmp_path / "t.csv"
    out.write_text("x" * 100_000)  # longer than the new table: no tail may remain
    out.with_suffix(".png").write_bytes(b"old")
    assert run("track", stack, "--csv", out).exit_code == 0
    assert out.read_text().startswith("roi,frame") and len(out.read_text()) < 100_000
    assert iio.imread(out.with_suffix(".png")).ndim == 3


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_output_folder(stack, tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        refused(run("track", stack, "--csv", folder / "t.csv"), "cannot write")
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


# ---------------------------------------------------------------- streams


def test_json_is_one_document_on_stdout_even_with_unmeasured_frames(tmp_path, frames):
    stack = frames.copy()
    stack[2] = 7  # a constant frame: no shift can be measured
    path = tmp_path / "const.tif"
    tifffile.imwrite(path, stack)
    result = run("track", path, "--json")
    assert result.exit_code == 0, result.output

    def strict(constant):
        raise ValueError(f"{constant} is not JSON")

    document = json.loads(result.stdout, parse_constant=strict)
    assert document["rows"][2]["dx_px"] is None
    # the reason, once, as one line on stderr (not Python's two-line warning)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: ") and "constant" in lines[0]
    assert "frame 2" in lines[0]


def test_plain_progress_lines_when_stderr_is_not_a_terminal(stack, monkeypatch):
    import lamina.progress

    monkeypatch.setattr(lamina.progress, "LINE_EVERY", 0.0)
    result = run("track", stack, "--json")
    assert result.exit_code == 0, result.output
    json.loads(result.stdout)
    lines = result.stderr.splitlines()
    assert any(line.startswith("lamina: reading stack.tif: ") for line in lines), lines
    assert any(line.startswith("lamina: registering all: ") for line in lines), lines
    assert all(line.startswith("lamina: ") and "\x1b" not in line for line in lines)


def test_ctrl_c_mid_run_keeps_nothing_half_written(tmp_path, frames):
    path = tmp_path / "long.tif"
    tifffile.imwrite(path, np.concatenate([frames] * 70))  # 420 frames
    out = tmp_path / "t.csv"
    # the real entry point, with progress lines every 0.1 s to know when work started
    code = "import lamina.progress as p; p.LINE_EVERY = 0.1; from lamina.cli import main; main()"
    process = subprocess.Popen(
        [sys.executable, "-c", code, "track", str(path), "--csv", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        seen = []
        while not any("registering" in line for line in seen):
            line = process.stderr.readline()
            assert line, f"the run ended before registering: {seen}"
            seen.append(line)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    # a progress line may still come out between the last one read and the signal
    lines = [line for line in stderr.splitlines() if line.strip() and "registering" not in line]
    assert len(lines) == 1 and lines[0].startswith("lamina: interrupted"), stderr
    assert "no file was written" in lines[0]
    assert stdout == ""
    assert listing(tmp_path) == {"long.tif"}
