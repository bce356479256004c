"""Checks for interpolators: ``resize(image, shape)``."""

from __future__ import annotations

import numpy as np

from lamina.registry import ComponentInfo
from lamina.testing._common import build, expect_input_error, unchanged
from lamina.testing._runner import Check


def _image(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.1, 0.9, size=shape).astype(np.float32)


def check_output_shape_dtype(info: ComponentInfo) -> None:
    interpolator = build(info)
    for source, target in (((20, 30), (37, 45)), ((40, 30), (13, 11)), ((16, 16, 3), (24, 20))):
        image = _image(source)
        with unchanged(image):
            out = interpolator.resize(image, target[:2])
        expected = (*target[:2], *source[2:])
        assert out.shape == expected, f"resize {source} -> {target[:2]} gave shape {out.shape}"
        assert out.dtype == np.float32, f"output dtype is {out.dtype}, expected float32"
        assert np.all(np.isfinite(out)), "output has NaN or infinite values"


def check_range_preserved(info: ComponentInfo) -> None:
    interpolator = build(info)
    image = _image((24, 24), seed=1)
    out = interpolator.resize(image, (50, 41))
    low, high = float(image.min()), float(image.max())
    assert out.min() >= low - 1e-5 and out.max() <= high + 1e-5, (
        f"output range [{out.min()}, {out.max()}] leaves the input range [{low}, {high}]"
    )


def check_constant_preserved(info: ComponentInfo) -> None:
    interpolator = build(info)
    out = interpolator.resize(np.full((15, 17), 0.25, np.float32), (31, 9))
    np.testing.assert_allclose(
        out, 0.25, atol=1e-5, err_msg="a constant image does not stay constant"
    )


def check_deterministic(info: ComponentInfo) -> None:
    image = _image((19, 23), seed=2)
    first = build(info).resize(image, (40, 33))
    second = build(info).resize(image, (40, 33))
    assert np.array_equal(first, second), "two runs on the same input differ"


def check_bad_input(info: ComponentInfo) -> None:
    interpolator = build(info)
    nan = _image((8, 8))
    nan[3, 3] = np.nan
    expect_input_error(lambda: interpolator.resize(nan, (16, 16)), "an image with NaN")
    expect_input_error(lambda: interpolator.resize(_image((8, 8)), (0, 16)), "target shape (0, 16)")
    expect_input_error(lambda: interpolator.resize(_image((2, 8, 8, 3)), (16, 16)), "a 4-D array")
    expect_input_error(lambda: interpolator.resize(_image((0, 8)), (16, 16)), "an empty image")


def checks(info: ComponentInfo) -> list[Check]:
    """The interpolator checks that apply to ``info``, chosen by its tags (the interpolator
    kind's :attr:`~lamina.kinds.Kind.checks`)."""
    result = [
        Check("interpolator_output_shape_dtype", check_output_shape_dtype),
        Check("interpolator_range_preserved", check_range_preserved),
        Check("interpolator_constant_preserved", check_constant_preserved),
        Check("interpolator_bad_input", check_bad_input),
    ]
    if info.tags.deterministic:
        result.append(Check("interpolator_deterministic", check_deterministic))
    return result
