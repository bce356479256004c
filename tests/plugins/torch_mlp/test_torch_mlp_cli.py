"""``lamina approximate`` end to end, checked against numpy's own interpolation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("torch")

from lamina.cli import main


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_constructive_run_reports_the_interpolation_error():
    result = run(
        "approximate",
        "sin(3*x) + x**2",
        "--domain",
        "-2:2",
        "--method",
        "constructive",
        "--width",
        "101",
        "--grid",
        "4001",
        "--json",
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    row = document["results"][0]
    knots = np.linspace(-2, 2, 101)
    t = np.linspace(-2, 2, 4001)
    f = lambda x: np.sin(3 * x) + x**2  # noqa: E731
    reference = np.max(np.abs(np.interp(t, knots, f(knots)) - f(t)))
    assert row["sup_error"] == pytest.approx(reference, rel=1e-9)
    # |f''| = |2 - 9 sin 3x| <= 11: the a-priori bound h^2 M / 8 holds.
    assert row["sup_error"] <= (4 / 100) ** 2 * 11 / 8
    assert row["error_bound"] == pytest.approx((4 / 100) ** 2 * 11 / 8, rel=0.01)
    assert row["hidden_units"] == 101 and row["parameters"] == 3 * 101 + 1


def test_training_run_and_two_dimensional_constructive():
    result = run(
        "approximate",
        "tanh(2*x)",
        "--domain",
        "-1:1",
        "--width",
        "8",
        "--max-iter",
        "60",
        "--points",
        "200",
        "--grid",
        "1001",
        "--json",
    )
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)["results"][0]
    assert row["method"] == "train" and row["sup_error"] < 0.05
    result = run(
        "approximate",
        "franke(x, y)",
        "--dims",
        "2",
        "--domain",
        "0:1",
        "--method",
        "constructive",
        "--width",
        "900",
        "--grid",
        "101",
        "--json",
    )
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)["results"][0]
    assert row["hidden_units"] == 900 and row["sup_error"] <= row["error_bound"] * 1.05


def test_width_sweep_writes_a_table_and_a_plot(tmp_path):
    import imageio.v3 as iio

    plot = tmp_path / "sweep.png"
    result = run(
        "approximate",
        "sin(3*x) + x**2",
        "--sweep",
        "width",
        "--widths",
        "4,16",
        "--max-iter",
        "30",
        "--points",
        "200",
        "--grid",
        "2001",
        "--plot",
        str(plot),
    )
    assert result.exit_code == 0, result.output
    for method in ("train", "constructive", "random-features"):
        assert method in result.stdout
    image = iio.imread(plot)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 300


def test_depth_sweep_uses_the_minimal_width(tmp_path):
    result = run(
        "approximate",
        "abs(x)",
        "--domain",
        "-1:1",
        "--sweep",
        "depth",
        "--depths",
        "1,3",
        "--activation",
        "relu",
        "--max-iter",
        "20",
        "--points",
        "100",
        "--grid",
        "501",
        "--plot",
        str(tmp_path / "depth.png"),
        "--json",
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["results"]
    assert [(r["width"], r["depth"]) for r in rows] == [(2, 1), (2, 3)]
    assert (tmp_path / "depth.png").is_file()


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("__import__('os').getcwd()", "not an allowed function"),
        ("x.real", "Attribute"),
        ("q * x", "unknown name 'q'"),
        ("log(x)", "not finite"),
    ],
)
def test_unsafe_or_bad_expressions_exit_2(expression, fragment):
    result = CliRunner().invoke(main, ["approximate", expression, "--method", "constructive"])
    assert result.exit_code == 2
    assert fragment in result.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        # #16: these ran to 7.9 GB and 9.5 GB (114 s) before failing.
        (("--points", "1000000000"), "needs about"),
        (("--grid", "100000000", "--dims", "2"), "needs about"),
        (("--method", "random-features", "--width", "100000000"), "needs about"),
        (("--width", "10000000", "--depth", "100"), "needs about"),
        (("--method", "constructive", "--width", "100000000"), "MAX_INTERPOLANT_NODES"),
        (("--sweep", "width", "--widths", "4,100000000"), "choose a smaller --width"),
        # 0 is not "the default"
        (("--points", "0"), "--points needs at least 2 points per axis, got 0"),
        (("--grid", "0"), "--grid needs at least 2 points per axis, got 0"),
    ],
)
def test_sizes_that_cannot_fit_fail_before_any_work(args, fragment):
    result = CliRunner().invoke(main, ["approximate", "x", *args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], lines


def test_the_memory_estimate_honours_the_configured_limit(monkeypatch):
    monkeypatch.setenv("LAMINA_MEMORY_LIMIT", "50M")
    result = CliRunner().invoke(
        main, ["approximate", "x", "--method", "constructive", "--width", "1000000"]
    )
    assert result.exit_code == 2
    assert "LAMINA_MEMORY_LIMIT=50M" in result.stderr and "--width" in result.stderr
