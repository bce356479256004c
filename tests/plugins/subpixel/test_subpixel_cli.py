"""The estimate, locate, track and feasibility commands."""

from __future__ import annotations

import csv
import json

import imageio.v3 as iio
import numpy as np
import pytest
from click.testing import CliRunner

from lamina.cli import main


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def pair(tmp_path, scene, shifted):
    rng = np.random.default_rng(0)
    reference = tmp_path / "reference.npy"
    moving = tmp_path / "moving.npy"
    np.save(reference, (scene + rng.normal(0, 0.01, scene.shape)).astype(np.float32))
    np.save(
        moving, (shifted(scene, (1.2, -0.7)) + rng.normal(0, 0.01, scene.shape)).astype(np.float32)
    )
    return str(reference), str(moving)


@pytest.fixture
def frames(tmp_path, scene, shifted):
    rng = np.random.default_rng(1)
    paths = []
    for i in range(4):
        frame = np.clip(
            shifted(scene[:96, :96], (0.25 * i, 0.1 * i)) + rng.normal(0, 0.01, (96, 96)), 0, 1
        )
        path = tmp_path / f"frame{i}.png"
        iio.imwrite(path, np.round(frame * 65535).astype(np.uint16))
        paths.append(str(path))
    return paths


def test_estimate_json(runner, pair):
    result = runner.invoke(main, ["estimate", *pair, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["dy"] == pytest.approx(1.2, abs=0.01)
    assert data["dx"] == pytest.approx(-0.7, abs=0.01)
    assert data["estimator"] == "ml-refine"
    assert len(data["uncertainty"]) == 2 and data["diagnostics"]["converged"] is True


def test_estimate_table_with_another_estimator_and_settings(runner, pair):
    result = runner.invoke(
        main, ["estimate", *pair, "-e", "phase-correlation", "--set", "upsample_factor=10"]
    )
    assert result.exit_code == 0, result.output
    assert "dy" in result.output and "1.2" in result.output


def test_estimate_rejects_bad_settings_and_names(runner, pair):
    result = runner.invoke(main, ["estimate", *pair, "--set", "taper=2"])
    assert result.exit_code == 2 and "taper" in result.output
    result = runner.invoke(main, ["estimate", *pair, "-e", "ml-refin"])
    assert result.exit_code == 2 and "ml-refine" in result.output


def test_colour_needs_an_explicit_channel(runner, tmp_path, scene):
    path = tmp_path / "colour.png"
    iio.imwrite(path, np.round(np.dstack([scene.clip(0, 1)] * 3) * 255).astype(np.uint8))
    result = runner.invoke(main, ["estimate", str(path), str(path)])
    assert result.exit_code == 2 and "--channel" in result.output
    result = runner.invoke(
        main, ["estimate", str(path), str(path), "--channel", "luminance", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["dy"] == pytest.approx(0.0, abs=1e-3)
    result = runner.invoke(main, ["estimate", str(path), str(path), "--channel", "7"])
    assert result.exit_code == 2


def test_locate_json_and_table(runner, tmp_path, spots):
    truth = np.array([[20.3, 30.6], [50.2, 20.9], [45.7, 60.1]])
    image = spots.make((80, 80), truth, sigma=1.5) + np.random.default_rng(2).normal(
        0, 0.005, (80, 80)
    )
    path = tmp_path / "spots.npy"
    np.save(path, image.astype(np.float32))
    result = runner.invoke(main, ["locate", str(path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    positions = np.array(data["positions"])
    assert positions.shape == (3, 2)
    assert np.max(np.abs(np.sort(positions, axis=0) - np.sort(truth, axis=0))) < 0.05
    table = runner.invoke(main, ["locate", str(path)])
    assert table.exit_code == 0 and "3 point(s)" in table.output
    refused = runner.invoke(main, ["locate", str(path), "-e", "phase-correlation"])
    assert refused.exit_code == 2 and "does not locate" in refused.output


def test_track_csv_json_and_exclusive_options(runner, tmp_path, frames):
    out = tmp_path / "out" / "track.csv"
    out.parent.mkdir()  # lamina never creates an output file's missing folder
    result = runner.invoke(main, ["track", *frames, "--csv", str(out)])
    assert result.exit_code == 0, result.output
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["frame"]) for r in rows] == [0, 1, 2, 3]
    assert float(rows[3]["dy"]) == pytest.approx(0.75, abs=0.02)
    assert float(rows[3]["dx"]) == pytest.approx(0.3, abs=0.02)
    assert not list(out.parent.glob(".*.part"))  # written atomically, nothing left over
    result = runner.invoke(main, ["track", *frames, "--json", "--mode", "sequential"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["mode"] == "sequential" and len(data["frames"]) == 4
    assert runner.invoke(main, ["track", *frames, "--json", "--csv", str(out)]).exit_code == 2
    assert runner.invoke(main, ["track", *frames, "--reference", "9"]).exit_code == 2


def test_feasibility_json(runner, frames):
    result = runner.invoke(main, ["feasibility", *frames[:1], "--json", "--pixel-size", "0.1"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["feasible"] is True
    assert data["precision"]["unit"] == "m"
    table = runner.invoke(main, ["feasibility", *frames[:1]])
    assert table.exit_code == 0 and "feasible" in table.output


def test_missing_file_is_a_clean_error(runner, tmp_path):
    result = runner.invoke(main, ["estimate", str(tmp_path / "a.png"), str(tmp_path / "b.png")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_huge_upsample_factor_fails_fast_through_the_memory_guard(runner, pair, monkeypatch):
    # issue 16: 10**6 used to allocate ~6 GB of DFT kernels before failing
    monkeypatch.setenv("LAMINA_MEMORY_LIMIT", "1G")
    result = runner.invoke(
        main, ["estimate", *pair, "-e", "phase-correlation", "--set", "upsample_factor=1000000"]
    )
    assert result.exit_code == 2
    assert "upsample_factor" in result.output and "LAMINA_MEMORY_LIMIT" in result.output


def test_locate_with_no_point_prints_one_line(runner, tmp_path):
    # issue 16: an image without point sources used to crash with KeyError: 'psf_fwhm'
    path = tmp_path / "noise.npy"
    np.save(path, 0.3 + np.random.default_rng(0).normal(0, 0.01, (32, 32)))
    result = runner.invoke(main, ["locate", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("0 points in") and "noise sigmas" in result.output
    as_json = json.loads(runner.invoke(main, ["locate", str(path), "--json"]).output)
    assert as_json["positions"] == []


def test_estimate_warnings_on_stderr_and_strict_refuses(tmp_path):
    runner = CliRunner()  # click 8.2+: stdout and stderr apart
    rng = np.random.default_rng(5)
    first, second = tmp_path / "a.npy", tmp_path / "b.npy"
    np.save(first, rng.normal(size=(48, 48)))
    np.save(second, rng.normal(size=(48, 48)))
    plain = runner.invoke(main, ["estimate", str(first), str(second), "--json"])
    assert plain.exit_code == 0
    data = json.loads(plain.stdout)
    assert data["diagnostics"]["feasible"] is False
    assert "warning: low SNR" in plain.stderr
    strict = runner.invoke(main, ["estimate", str(first), str(second), "--strict"])
    assert strict.exit_code == 2 and "refused (--strict): low SNR" in strict.stderr


@pytest.mark.parametrize("white", [255, 65535], ids=["8-bit", "16-bit"])
def test_estimate_takes_mask_files_as_the_api_takes_masks(tmp_path, scene, shifted, white):
    # A block of each image is garbage (finite: image files hold no NaN), marked
    # by a black-and-white grey PNG of 8 or 16 bits (moving) and a boolean .npy
    # (reference): the command gives exactly what the API gives with the same masks.
    from lamina.io import read_image
    from lamina.plugins.subpixel.registration import MLRefine

    runner = CliRunner()
    rng = np.random.default_rng(8)
    truth = (0.8, -1.3)
    reference = scene + rng.normal(0, 0.01, scene.shape)
    moving = shifted(scene, truth) + rng.normal(0, 0.01, scene.shape)
    valid_r, valid_m = np.ones(scene.shape, bool), np.ones(scene.shape, bool)
    valid_r[80:, 90:] = False
    valid_m[:50, :60] = False
    reference[~valid_r] = rng.random(np.count_nonzero(~valid_r))
    moving[:50, :60] = 3.0 * reference[:50, :60]  # a strong match at zero shift
    paths = [str(tmp_path / name) for name in ("a.npy", "b.npy", "ra.npy", "mb.png")]
    np.save(paths[0], reference)
    np.save(paths[1], moving)
    np.save(paths[2], valid_r)
    iio.imwrite(
        paths[3], np.where(valid_m, white, 0).astype(np.uint8 if white == 255 else np.uint16)
    )
    assert iio.imread(paths[3]).dtype == (np.uint8 if white == 255 else np.uint16)
    masked = runner.invoke(
        main,
        ["estimate", *paths[:2], "--reference-mask", paths[2], "--moving-mask", paths[3],
         "--json"],
    )  # fmt: skip
    assert masked.exit_code == 0, masked.output
    found = json.loads(masked.stdout)
    expected = MLRefine().estimate(
        read_image(paths[0])[0], read_image(paths[1])[0], reference_mask=valid_r,
        moving_mask=valid_m,
    )  # fmt: skip
    assert (found["dy"], found["dx"]) == (expected.dy, expected.dx)
    assert found["uncertainty"] == list(expected.uncertainty)
    assert np.all(np.abs(expected.shift - truth) <= 5 * np.array(expected.uncertainty))
    # unmasked, the garbage leaves the estimate in doubt (its uncertainty says so)
    plain = json.loads(runner.invoke(main, ["estimate", *paths[:2], "--json"]).stdout)
    assert min(plain["uncertainty"]) > 100 * max(found["uncertainty"])
