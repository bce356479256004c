"""lamina track on real footage: TIFF stacks, video files, ROIs, physical units, plot."""

from __future__ import annotations

import csv
import json

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
    frames, labels = read_frames([str(video)], "mean")
    assert len(frames) == 6 and labels[0].endswith("clip.mp4#0")
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
