"""lamina track on real footage: TIFF stacks, video files, ROIs, physical units, plot."""

from __future__ import annotations

import csv
import json
from fractions import Fraction

import imageio.v3 as iio
import numpy as np
import pytest
from click.testing import CliRunner

import lamina
from lamina.cli import main
from lamina.plugins.subpixel.footage import parse_roi, physical_series, read_frames

STEP = (0.3, -0.2)  # content displacement per frame, px


@pytest.fixture
def moving_scene(scene, shifted):
    """Six 96 x 96 frames of a scene moving by STEP per frame (uint8, as cameras give)."""
    rng = np.random.default_rng(2)
    frames = []
    for i in range(6):
        frame = shifted(scene, (STEP[0] * i, STEP[1] * i))[:96, :96]
        frame = np.clip(frame + rng.normal(0, 0.005, frame.shape), 0, 1)
        frames.append(np.round(frame * 255).astype(np.uint8))
    return np.stack(frames)


def test_multipage_tiff_with_rois_units_velocity_and_plot(tmp_path, moving_scene):
    stack = tmp_path / "stack.tif"
    iio.imwrite(stack, moving_scene)
    out = tmp_path / "track.csv"
    result = CliRunner().invoke(
        main,
        [
            "track", str(stack), "--roi", "0:64,0:64", "--roi", "30:96,20:90",
            "--pixel-size", "2.5", "--unit", "um", "--fps", "10", "--csv", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 12 and {r["roi"] for r in rows} == {"0:64,0:64", "30:96,20:90"}
    last = [r for r in rows if r["frame"] == "5"]
    for row in last:
        assert row["file"].endswith("stack.tif#5")
        assert float(row["time"]) == pytest.approx(0.5)
        assert float(row["dy_um"]) == pytest.approx(5 * STEP[0] * 2.5, abs=0.05)
        assert float(row["dx_um"]) == pytest.approx(5 * STEP[1] * 2.5, abs=0.05)
        # velocity: STEP px per frame at 10 frames/s and 2.5 um/px
        assert float(row["vy_um_per_s"]) == pytest.approx(STEP[0] * 25, abs=0.5)
        assert float(row["sigma_vy_um_per_s"]) > 0
    plot = out.with_suffix(".png")
    assert plot.is_file() and iio.imread(plot).ndim == 3


def test_video_file(tmp_path, moving_scene):
    video = tmp_path / "clip.mp4"
    # PyAV's wheel ships FFmpeg's libraries: no system ffmpeg needed
    rgb = np.repeat(moving_scene[..., None], 3, axis=3)
    iio.imwrite(video, rgb, plugin="pyav", fps=5, codec="libx264")
    frames, labels, times = read_frames([str(video)], "mean")
    assert len(frames) == 6 and labels[0].endswith("clip.mp4#0")
    assert np.allclose(times, np.arange(6) / 5)  # the container's timestamps
    result = CliRunner().invoke(
        main, ["track", str(video), "--channel", "mean", "--fps", "5", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    rows = data["rows"]
    # lossy compression: a looser tolerance, but within the reported uncertainty
    dy = float(rows[5]["dy_px"])
    assert dy == pytest.approx(5 * STEP[0], abs=max(0.1, 5 * rows[5]["sigma_dy_px"]))


@pytest.mark.parametrize("text", ["0:200,0:10", "5:5,0:10", "a:b,c:d", "0:2,0:2"])
def test_bad_roi(text):
    with pytest.raises(lamina.InputError, match="--roi"):
        parse_roi(text, (96, 96))


def test_damaged_video_and_bad_units(tmp_path, moving_scene):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(100))
    runner = CliRunner()
    result = runner.invoke(main, ["track", str(broken)])
    assert result.exit_code == 2 and "broken.mp4" in result.stderr
    stack = tmp_path / "stack.tif"
    iio.imwrite(stack, moving_scene)
    result = runner.invoke(main, ["track", str(stack), "--fps", "-1"])
    assert result.exit_code == 2 and "--fps" in result.stderr


def test_physical_series_velocity_is_a_central_difference():
    displacement = np.column_stack([np.arange(5) * 0.5, np.zeros(5)])
    uncertainty = np.full((5, 2), 0.01)
    data = physical_series(displacement, uncertainty, pixel_size=2.0, fps=4.0)
    assert np.allclose(data.time, np.arange(5) / 4.0)
    assert np.allclose(data.velocity[:, 0], 0.5 * 2.0 * 4.0)
    assert np.allclose(data.velocity_sigma[1:-1, 0], np.sqrt(2) * 0.02 / 0.5)


def _unit(frames: np.ndarray) -> np.ndarray:
    return frames.astype(np.float64) / 255.0


# Each pixel format the footage reader meets: how to write the moving_scene frames
# (uint8) in it, and the --channel it needs.
FORMATS = {
    "uint16.tif": (lambda f: (_unit(f) * 65535).astype(np.uint16), None),
    "int16.tif": (lambda f: (_unit(f) * 30000 - 15000).astype(np.int16), None),
    "float32.tif": (lambda f: _unit(f).astype(np.float32), None),
    "float64.tif": (lambda f: _unit(f), None),
    "rgb.tif": (lambda f: np.repeat(f[..., None], 3, axis=3), "luminance"),
    "rgba.tif": (
        lambda f: np.concatenate(
            [np.repeat(f[..., None], 3, axis=3), np.full((*f.shape, 1), 255, np.uint8)], axis=3
        ),
        "luminance",
    ),
    "stack.npy": (lambda f: _unit(f).astype(np.float32), None),
}


@pytest.mark.parametrize("name", list(FORMATS))
def test_pixel_formats_are_tracked(tmp_path, moving_scene, name):
    convert, channel = FORMATS[name]
    path = tmp_path / name
    data = convert(moving_scene)
    if name.endswith(".npy"):
        np.save(path, data)
    else:
        import tifffile

        tifffile.imwrite(path, data, photometric="rgb" if data.ndim == 4 else None)
    options = ["--channel", channel] if channel else []
    result = CliRunner().invoke(main, ["track", str(path), *options, "--json"])
    assert result.exit_code == 0, result.output
    last = json.loads(result.stdout)["rows"][-1]
    assert last["file"].endswith(f"{name}#5")
    for axis, step in zip(("dy", "dx"), STEP, strict=True):
        assert abs(last[f"{axis}_px"] - 5 * step) <= max(5 * last[f"sigma_{axis}_px"], 0.02)


def test_sixteen_bit_png_frames(tmp_path, moving_scene):
    paths = []
    for i, frame in enumerate(moving_scene[:3]):
        paths.append(str(tmp_path / f"frame{i}.png"))
        iio.imwrite(paths[-1], (_unit(frame) * 65535).astype(np.uint16))
    frames, labels, times = read_frames(paths, None)
    assert labels == paths and times is None
    assert frames[1].dtype == np.float32 and np.allclose(
        frames[1], _unit(moving_scene[1]), atol=1e-4
    )


def _write_tiff(path, pages):
    import tifffile

    with tifffile.TiffWriter(path) as tiff:
        for page in pages:
            tiff.write(page)


@pytest.mark.parametrize(
    ("pages", "channel", "message"),
    [
        ([np.zeros((40, 40, 3), np.uint8)] * 2, None, "colour image.*--channel"),
        ([np.ones((40, 40), np.complex64)] * 2, None, "complex64 pixels.*magnitude"),
        ([np.full((40, 40), np.nan, np.float32)] * 2, None, "NaN"),
        ([np.zeros((40, 40), np.float32), np.zeros((30, 40), np.float32)], None, "one size"),
        ([np.zeros((40, 40), np.uint16)], None, "one frame.*at least two"),
    ],
    ids=["rgb-without-channel", "complex", "nan", "mixed-sizes", "single-frame"],
)
def test_untrackable_stacks_are_one_error_naming_the_file(tmp_path, pages, channel, message):
    path = tmp_path / "odd.tif"
    _write_tiff(path, pages)
    with pytest.raises(lamina.InputError, match=message) as caught:
        read_frames([str(path)], channel)
    assert "odd.tif" in str(caught.value)
    result = CliRunner().invoke(main, ["track", str(path)])
    assert result.exit_code == 2 and "odd.tif" in result.stderr


def test_single_frame_stacks_join_other_files(tmp_path, moving_scene):
    paths = [str(tmp_path / f"one{i}.tif") for i in range(2)]
    for path, frame in zip(paths, moving_scene[:2], strict=True):
        _write_tiff(path, [frame])
    frames, labels, _ = read_frames(paths, None)
    assert len(frames) == 2 and labels == paths


def _variable_rate_video(path, frames, times_ms):
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for frame, stamp in zip(frames, times_ms, strict=True):
            picture = av.VideoFrame.from_ndarray(np.repeat(frame[..., None], 3, axis=2), "rgb24")
            picture.pts, picture.time_base = stamp, Fraction(1, 1000)
            container.mux(stream.encode(picture))
        container.mux(stream.encode())


def test_variable_frame_rate_video_uses_its_timestamps(tmp_path, moving_scene):
    video = tmp_path / "vfr.mp4"
    stamps = [0, 40, 120, 160, 300, 340]  # ms: intervals of 40, 80 and 140 ms
    _variable_rate_video(video, moving_scene, stamps)
    _, _, times = read_frames([str(video)], "mean")
    assert np.allclose(times, np.array(stamps) / 1000)
    result = CliRunner().invoke(main, ["track", str(video), "--channel", "mean", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["rows"]
    assert [row["time"] for row in rows] == pytest.approx(np.array(stamps) / 1000)
    # frame 2 (t = 0.12 s): (d[3] - d[1]) / (t[3] - t[1]) = 0.6 px / 0.12 s, within
    # the compression's error (a constant 25 frames/s would give 7.5 px/s)
    assert rows[2]["vy_px_per_s"] == pytest.approx(2 * STEP[0] / 0.12, rel=0.2)
    result = CliRunner().invoke(main, ["track", str(video), "--channel", "mean", "--fps", "25"])
    assert result.exit_code == 2 and "vfr.mp4" in result.stderr and "timestamps" in result.stderr


def test_mean_channel_averages_colour_not_alpha(tmp_path):
    # RGBA frames whose alpha varies from pixel to pixel: alpha is coverage, not
    # brightness, so "mean" is the average of R, G and B alone.
    rng = np.random.default_rng(11)
    pixels = rng.integers(0, 256, (2, 24, 32, 4), dtype=np.uint8)
    paths = [str(tmp_path / f"frame{i}.png") for i in range(2)]
    for path, frame in zip(paths, pixels, strict=True):
        iio.imwrite(path, frame)
    frames, _, _ = read_frames(paths, "mean")
    for frame, rgba in zip(frames, pixels, strict=True):
        expected = (rgba[..., 0] / 255.0 + rgba[..., 1] / 255.0 + rgba[..., 2] / 255.0) / 3
        np.testing.assert_allclose(frame, expected, atol=1e-6)


@pytest.mark.parametrize("channels", [2, 3, 4])
def test_mean_channel_leaves_out_the_alpha_of_grey_and_colour_images(channels):
    # Two channels are grey and alpha, four RGB and alpha (PNG's and TIFF's layouts).
    from lamina.kinds.estimate import select_channel

    image = np.random.default_rng(channels).random((8, 9, channels), dtype=np.float32)
    colour = {2: [0], 3: [0, 1, 2], 4: [0, 1, 2]}[channels]
    expected = sum(image[..., c].astype(np.float64) for c in colour) / len(colour)
    np.testing.assert_allclose(select_channel(image, "mean"), expected, rtol=1e-6)


def test_track_mask_is_cut_by_each_roi(tmp_path, moving_scene):
    # a static label in every frame, masked; each ROI's series is the API's with
    # the mask cut like the frames
    from lamina.plugins.subpixel.tracking import track_stack

    frames = moving_scene.copy()
    frames[:, 10:30, 5:60] = np.random.default_rng(3).integers(0, 256, (20, 55))
    mask = np.ones((96, 96), bool)
    mask[8:32, 3:62] = False
    stack, mask_file = tmp_path / "stack.tif", tmp_path / "mask.png"
    iio.imwrite(stack, frames)
    iio.imwrite(mask_file, np.where(mask, 255, 0).astype(np.uint8))
    rois = ["0:64,0:64", "30:96,20:90"]
    result = CliRunner().invoke(
        main,
        ["track", str(stack), "--roi", rois[0], "--roi", rois[1], "--mask", str(mask_file),
         "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    series = json.loads(result.stdout)["series"]
    pages = read_frames([str(stack)], None)[0]
    for text, found in zip(rois, series, strict=True):
        region = parse_roi(text, (96, 96))
        expected = track_stack([page[region] for page in pages], mask=mask[region])
        assert [[f["dy"], f["dx"]] for f in found["frames"]] == expected.displacement.tolist()
        assert [[f["sigma_dy"], f["sigma_dx"]] for f in found["frames"]] == (
            expected.uncertainty.tolist()
        )


@pytest.mark.parametrize(
    ("options", "mask", "message"),
    [
        ([], np.ones((96, 90), bool), "shape"),
        (["-e", "peak-fit"], np.ones((96, 96), bool), "masked registration"),
        (["--roi", "0:20,0:20"], np.pad(np.ones((70, 70), bool), ((26, 0), (26, 0))), "no pixel"),
    ],
    ids=["shape", "estimator", "empty-roi"],
)
def test_track_refuses_a_mask_naming_the_option(tmp_path, moving_scene, options, mask, message):
    stack = tmp_path / "stack.tif"
    iio.imwrite(stack, moving_scene)
    np.save(tmp_path / "mask.npy", mask)
    result = CliRunner().invoke(
        main, ["track", str(stack), *options, "--mask", str(tmp_path / "mask.npy")]
    )
    assert result.exit_code == 2, result.output
    assert "--mask" in result.stderr and message in result.stderr, result.stderr
