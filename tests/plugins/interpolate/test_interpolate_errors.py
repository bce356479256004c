"""Bad input and bad parameters raise lamina.InputError with a specific message."""

from __future__ import annotations

import numpy as np
import pytest

import lamina
from lamina import InputError
from lamina.memory import MemoryLimitError

NAMES = ["nearest", "bilinear", "bicubic", "bspline3", "lanczos3", "lanczos4", "stairstep"]
GOOD = np.random.default_rng(0).random((8, 8)).astype(np.float32)


def _with(value: float) -> np.ndarray:
    image = GOOD.copy()
    image[2, 3] = value
    return image


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    ("image", "message"),
    [
        (_with(np.nan), "NaN or infinite"),
        (_with(np.inf), "NaN or infinite"),
        (_with(-np.inf), "NaN or infinite"),
        (np.zeros((0, 8), np.float32), "empty"),
        (np.zeros((8, 0, 3), np.float32), "empty"),
        (np.zeros(8, np.float32), "1 dimensions"),
        (np.zeros((2, 8, 8, 3), np.float32), "4 dimensions"),
        (np.zeros((8, 8), np.uint8), "floating-point"),
        (np.zeros((8, 8), bool), "floating-point"),
        (np.zeros((8, 8), np.complex64), "floating-point"),
        ([[0.0, 1.0], [1.0, 0.0]], "numpy array"),
    ],
)
def test_bad_images(name: str, image: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        lamina.create("interpolator", name).resize(image, (16, 16))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((0, 16), "height must be a positive integer, got 0"),
        ((16, -3), "width must be a positive integer, got -3"),
        ((16.5, 16), "height must be a positive integer"),
        ((16.0, 16), "height must be a positive integer"),
        ((16, "16"), "width must be a positive integer"),
        ((True, 16), "height must be a positive integer"),
        ((16,), "got 1 values"),
        ((16, 16, 3), "got 3 values"),
        (16, "must be \\(height, width\\)"),
        ("16x16", "must be \\(height, width\\)"),
    ],
)
def test_bad_shapes(name: str, shape: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        lamina.create("interpolator", name).resize(GOOD, shape)


@pytest.mark.parametrize("name", NAMES)
def test_numpy_integer_sizes_are_fine(name: str) -> None:
    out = lamina.create("interpolator", name).resize(GOOD, (np.int64(12), np.int32(10)))
    assert out.shape == (12, 10)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    ("factor", "message"),
    [
        (0, "finite and positive"),
        (-2.0, "finite and positive"),
        (float("nan"), "finite and positive"),
        (float("inf"), "finite and positive"),
        ((2.0,), "number or \\(fy, fx\\)"),
        ("2", "number or \\(fy, fx\\)"),
        (True, "number or \\(fy, fx\\)"),
        (0.01, "at least one pixel"),
    ],
)
def test_bad_scale_factors(name: str, factor: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        lamina.create("interpolator", name).scale(GOOD, factor)


@pytest.mark.parametrize("name", NAMES)
def test_memory_guard_refuses_before_allocating(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # 16384^2 float32 is 1 GiB: refused by LAMINA_MEMORY_LIMIT through lamina.memory.
    monkeypatch.setenv("LAMINA_MEMORY_LIMIT", "100M")
    with pytest.raises(
        MemoryLimitError, match=r"needs about \d.* GiB of memory.*LAMINA_MEMORY_LIMIT"
    ):
        lamina.create("interpolator", name).resize(GOOD, (16384, 16384))
    monkeypatch.delenv("LAMINA_MEMORY_LIMIT")
    with pytest.raises(MemoryLimitError, match="memory_limit=1000000"):
        lamina.create("interpolator", name, memory_limit=10**6).resize(GOOD, (1000, 1000))
    small = lamina.create("interpolator", name, memory_limit=10**6).resize(GOOD, (100, 100))
    assert small.shape == (100, 100)


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("bicubic", {"edge": "nearest"}, "edge must be one of"),
        ("bilinear", {"edge": "symmetric"}, "edge must be one of"),
        ("bicubic", {"a": 0.5}, "a must be in \\[-1, 0\\]"),
        ("bicubic", {"a": float("nan")}, "a must be finite"),
        ("lanczos3", {"cval": float("inf")}, "cval must be finite"),
        ("bspline3", {"antialias": "yes"}, "antialias must be True or False"),
        ("lanczos3", {"clip": 1}, "clip must be True or False"),
        ("nearest", {"memory_limit": 0}, "memory_limit must be a positive"),
        ("bilinear", {"memory_limit": 1.5}, "memory_limit must be a positive"),
    ],
)
def test_bad_parameters(name: str, params: dict, message: str) -> None:
    info = lamina.get_host().get("interpolator", name)
    with pytest.raises(InputError, match=message):
        info.load()(**params)


def test_cli_style_strings_are_checked_by_the_host() -> None:
    with pytest.raises(InputError, match="edge"):
        lamina.create("interpolator", "bicubic", edge="sideways")
    assert lamina.create("interpolator", "bicubic", a="-0.75", antialias="false").a == -0.75


@pytest.mark.parametrize("name", NAMES)
def test_output_sides_beyond_the_limits_table_are_refused(name: str) -> None:
    from lamina.limits import MAX_IMAGE_SIDE

    interpolator = lamina.create("interpolator", name)
    with pytest.raises(InputError, match=f"at most {MAX_IMAGE_SIDE} per side"):
        interpolator.resize(GOOD, (4, MAX_IMAGE_SIDE + 1))
    with pytest.raises(InputError, match=r"MAX_IMAGE_SIDE.*smaller factor"):
        interpolator.scale(GOOD, MAX_IMAGE_SIDE)
    # Inputs are not capped: only what lamina would allocate is.
    wide = np.zeros((1, MAX_IMAGE_SIDE + 7), np.float32)
    assert interpolator.resize(wide, (1, 9)).shape == (1, 9)


def test_a_prefiltered_axis_needs_a_kernel_filter_to_pad_by() -> None:
    # Padding past the borders is the kernel's reach; a box or point filter has none.
    from lamina.plugins.interpolate.engine import AxisOperator
    from lamina.plugins.interpolate.filters import Area, CubicBSpline, CubicBSplinePrefilter

    spline = AxisOperator(CubicBSpline(), True, "reflect", CubicBSplinePrefilter())
    assert spline.margin(10, 5) == 2 * 2 + 1  # radius 2, stretched by 2
    with pytest.raises(TypeError, match=r"needs a kernel filter of finite radius.*not Area"):
        AxisOperator(Area(), True, "reflect", CubicBSplinePrefilter()).margin(10, 5)
