"""lamina field: per-subset displacement and uncertainty (digital image correlation)."""

from __future__ import annotations

import json

import imageio.v3 as iio
import numpy as np
import pytest
from click.testing import CliRunner
from scipy import ndimage

import lamina
from lamina.cli import main
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
