"""lamina field: per-subset displacement and uncertainty (digital image correlation)."""

from __future__ import annotations

import json
import os

import imageio.v3 as iio
import numpy as np
import pytest
from click.testing import CliRunner
from scipy import ndimage

import lamina
from lamina.cli import main
from lamina.plugins.subpixel.checks import MIN_SIZE
from lamina.plugins.subpixel.field import displacement_field


def test_uniform_and_large_motion_within_the_uncertainty(large_scene, shifted):
    rng = np.random.default_rng(3)
    shift = (23.4, -11.7)  # larger than half a subset: the global offset carries it
    moved = shifted(large_scene, shift)
    view = (slice(100, 292), slice(120, 312))
    reference = large_scene[view] + rng.normal(0, 0.01, (192, 192))
    moving = moved[view] + rng.normal(0, 0.01, (192, 192))
    result = displacement_field(reference, moving, subset=48, step=48)
    assert result.dy.shape == (4, 4)
    measured = np.isfinite(result.dy)
    assert np.count_nonzero(measured) >= 9  # subsets moved out of the view are NaN
    for values, sigma, truth in ((result.dy, result.sigma_dy, shift[0]),
                                 (result.dx, result.sigma_dx, shift[1])):  # fmt: skip
        assert np.all(np.abs(values[measured] - truth) <= 5 * sigma[measured])
    assert all("out of the moving image" in r for r in result.reasons.values())


def test_a_shear_field_is_resolved(camera):
    # moving(y, x) = reference(y, x - 0.01 (y - 64)): dx grows down the image
    scene = ndimage.gaussian_filter(camera[150:278, 150:278], 1.0)
    yy, xx = np.mgrid[0:128, 0:128].astype(float)
    moving = ndimage.map_coordinates(scene, [yy, xx - 0.01 * (yy - 64)], order=5, mode="reflect")
    result = displacement_field(scene, moving, subset=32, step=32)
    expected = 0.01 * (result.centre_y - 64)
    assert np.allclose(np.nanmean(result.dx, axis=1), expected, atol=0.03)


def test_field_command_writes_arrays_and_plot(tmp_path, scene, shifted):
    reference, moving = tmp_path / "a.npy", tmp_path / "b.npy"
    np.save(reference, scene)
    np.save(moving, shifted(scene, (0.5, -0.25)))
    out = tmp_path / "field.npz"
    result = CliRunner().invoke(
        main,
        ["field", str(reference), str(moving), "--subset", "48", "-o", str(out), "--json"],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["grid"] == [4, 4] and summary["measured"] == 16
    with np.load(out) as arrays:
        assert np.allclose(arrays["dy"], 0.5, atol=0.05)
        assert arrays["sigma_dx"].shape == (4, 4)
    assert iio.imread(out.with_suffix(".png")).ndim == 3


@pytest.mark.parametrize(
    ("options", "message"),
    [(["--subset", "4"], "subset"), (["--step", "0"], "step"), ([], "npz")],
)
def test_field_bad_input(tmp_path, scene, options, message):
    path = tmp_path / "a.npy"
    np.save(path, scene)
    output = str(tmp_path / ("field.npz" if options else "field.txt"))
    result = CliRunner().invoke(main, ["field", str(path), str(path), "-o", output, *options])
    assert result.exit_code == 2 and message in result.stderr
    with pytest.raises(lamina.InputError):
        displacement_field(scene, scene, subset=500)


def test_subsets_under_the_estimators_floor_are_refused_by_name(scene):
    # the floor is the estimators' own (checks.MIN_SIZE), not a second constant
    with pytest.raises(lamina.InputError, match=f"subset must be between {MIN_SIZE} "):
        displacement_field(scene, scene, subset=MIN_SIZE - 1)
    assert displacement_field(scene[:24, :24], scene[:24, :24], subset=MIN_SIZE).dy.size


def test_field_command_takes_mask_files(tmp_path, scene, shifted):
    # A block of the moving image is garbage (finite: image files hold no NaN) and
    # a black-and-white PNG marks it; the command gives what the API gives.
    from lamina.io import read_image

    moving = shifted(scene, (0.4, -0.3))
    moving[:40, :40] = np.random.default_rng(5).random((40, 40))
    valid = np.ones(scene.shape, dtype=bool)
    valid[:40, :40] = False
    paths = {name: tmp_path / f"{name}.npy" for name in ("a", "b")}
    np.save(paths["a"], scene)
    np.save(paths["b"], moving)
    mask = tmp_path / "mask.png"
    iio.imwrite(mask, np.where(valid, 255, 0).astype(np.uint8))
    out = tmp_path / "field.npz"
    images = [str(paths["a"]), str(paths["b"]), "--subset", "32", "--step", "32", "-o", str(out)]
    result = CliRunner().invoke(main, ["field", *images, "--moving-mask", str(mask), "--json"])
    assert result.exit_code == 0, result.output
    expected = displacement_field(
        read_image(paths["a"])[0], read_image(paths["b"])[0], subset=32, step=32,
        moving_mask=valid,
    )  # fmt: skip
    assert json.loads(result.stdout)["reasons"] == {"0,0": "no valid pixel in the subset"}
    with np.load(out) as arrays:
        for name, values in expected.arrays().items():
            np.testing.assert_array_equal(arrays[name], values, err_msg=name)
    # the same mask for the reference, as a boolean .npy
    np.save(tmp_path / "mask.npy", valid)
    result = CliRunner().invoke(
        main, ["field", *images, "--reference-mask", str(tmp_path / "mask.npy")]
    )
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("option", "mask", "message"),
    [
        ("--moving-mask", np.ones((64, 128), bool), "shape"),
        ("--reference-mask", np.ones((128, 128, 3), np.uint8) * 255, "shape"),
        ("--moving-mask", np.full((128, 128), 0.5, np.float32), "black and white"),
        ("--reference-mask", np.ones((128, 128), np.int32), "int32"),
    ],
    ids=["short", "colour", "grey", "int32"],
)
@pytest.mark.parametrize("command", ["field", "estimate"])
def test_a_mask_file_is_refused_naming_its_option(tmp_path, scene, command, option, mask, message):
    # one reader for both commands: the same refusals, exit 2
    path = tmp_path / "a.npy"
    np.save(path, scene)
    np.save(tmp_path / "mask.npy", mask)
    output = ["-o", str(tmp_path / "f.npz")] if command == "field" else []
    result = CliRunner().invoke(
        main, [command, str(path), str(path), *output, option, str(tmp_path / "mask.npy")]
    )
    assert result.exit_code == 2, result.output
    assert option in result.stderr and message in result.stderr, result.stderr
    assert not (tmp_path / "f.npz").exists()


@pytest.mark.parametrize("command", ["field", "estimate"])
def test_a_mask_needs_an_estimator_with_masked_registration(tmp_path, scene, command):
    path = tmp_path / "a.npy"
    np.save(path, scene)
    np.save(tmp_path / "mask.npy", np.ones(scene.shape, bool))
    output = ["-o", str(tmp_path / "f.npz")] if command == "field" else []
    result = CliRunner().invoke(
        main,
        [command, str(path), str(path), *output, "-e", "peak-fit",
         "--moving-mask", str(tmp_path / "mask.npy")],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "--moving-mask: masks need an estimator with masked registration" in result.stderr


# -- a seeded grid a reviewer can widen (LAMINA_FIELD_CASES=200) ----------------------
def _field_case(scene: np.ndarray, shifted, rng: np.random.Generator) -> dict:
    """One random pair: odd or even sides, a random subset and step, a uniform shift
    (up to 0.8 subset per axis: often beyond half a subset), noise or none, and
    sometimes a block of garbage (NaN) masked out of the moving image."""
    height, width = (int(v) for v in rng.integers(61, 150, 2))
    subset = int(rng.choice([16, 24, 31, 32, 47]))
    subset = min(subset, height, width)
    step = int(rng.choice([subset // 2, subset, subset - 3]))
    shift = rng.uniform(-0.8, 0.8, 2) * subset
    top, left = rng.integers(40, 512 - 40 - max(height, width), 2)
    view = (slice(top, top + height), slice(left, left + width))
    reference, moving = scene[view], shifted(scene, shift)[view]
    sigma = float(rng.choice([0.0, 0.01, 0.05]))
    reference = reference + rng.normal(0, sigma, reference.shape)
    moving = moving + rng.normal(0, sigma, moving.shape)
    mask = None
    if rng.random() < 0.3:
        y0, x0 = rng.integers(0, height // 2), rng.integers(0, width // 2)
        moving[y0 : y0 + height // 3, x0 : x0 + width // 3] = np.nan
        mask = np.isfinite(moving)
    return {"reference": reference, "moving": moving, "mask": mask, "shift": shift,
            "subset": subset, "step": step}  # fmt: skip


def _field_grid(scene: np.ndarray, shifted, cases: int, seed: int = 12) -> list[dict]:
    rng = np.random.default_rng(seed)
    records = []
    for _ in range(cases):
        case = _field_case(scene, shifted, rng)
        result = displacement_field(
            case["reference"], case["moving"], subset=case["subset"], step=case["step"],
            moving_mask=case["mask"],
        )  # fmt: skip
        for values, sigma, truth in ((result.dy, result.sigma_dy, case["shift"][0]),
                                     (result.dx, result.sigma_dx, case["shift"][1])):  # fmt: skip
            measured = np.isfinite(values)
            for error, s in zip(values[measured] - truth, sigma[measured], strict=True):
                records.append({"error": error, "sigma": s, "masked": case["mask"] is not None})
    return records


def test_seeded_grid_of_random_fields_within_the_uncertainty(large_scene, shifted):
    cases = int(os.environ.get("LAMINA_FIELD_CASES", "12"))
    records = _field_grid(large_scene, shifted, cases)
    error = np.array([r["error"] for r in records])
    sigma = np.array([r["sigma"] for r in records])
    z = np.abs(error) / sigma
    assert len(records) >= 20 * cases  # most subsets are measured
    assert np.mean(z <= 5) >= 0.995, np.sort(z)[-8:]
    assert not np.any((np.abs(error) > 0.5) & (sigma < 0.05))
    assert 0.85 <= np.mean(z <= 2) <= 0.99, np.mean(z <= 2)


def test_masked_field_leaves_invalid_subsets_out(scene, shifted):
    from lamina.plugins.subpixel.peers import PhaseCorrelation

    moving = shifted(scene, (0.4, -0.3))
    mask = np.ones(scene.shape, dtype=bool)
    mask[:40, :40] = False  # the first subset holds no valid pixel
    moving[~mask] = np.nan
    result = displacement_field(scene, moving, subset=32, step=32, moving_mask=mask)
    assert np.isnan(result.dy[0, 0]) and result.reasons["0,0"] == "no valid pixel in the subset"
    measured = np.isfinite(result.dy)
    assert np.count_nonzero(measured) == 15
    assert np.all(np.abs(result.dy[measured] - 0.4) <= 5 * result.sigma_dy[measured])
    with pytest.raises(lamina.InputError, match="masked registration"):
        displacement_field(scene, moving, PhaseCorrelation(), subset=32, moving_mask=mask)
