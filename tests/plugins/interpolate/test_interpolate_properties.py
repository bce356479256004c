"""Behaviour every base interpolator promises: shapes, identity, constants,
range, colour, edge modes (against numpy.pad), anti-aliasing, purity."""

from __future__ import annotations

import numpy as np
import pytest

import lamina
from lamina.plugins.interpolate import filters

BASES = ["nearest", "bilinear", "bicubic", "bspline3", "lanczos3", "lanczos4"]
SMOOTH = ["bilinear", "bicubic", "bspline3", "lanczos3", "lanczos4"]
NUMPY_PAD = {
    "reflect": "symmetric",
    "mirror": "reflect",
    "clamp": "edge",
    "wrap": "wrap",
    "constant": "constant",
}
RNG = np.random.default_rng(7)


def make(name: str, **params: object) -> object:
    return lamina.create("interpolator", name, **params)


@pytest.mark.parametrize("name", [*BASES, "stairstep"])
@pytest.mark.parametrize("shape", [(23, 31), (23, 31, 3)])
def test_identity_at_scale_one(name: str, shape: tuple[int, ...]) -> None:
    image = RNG.random(shape).astype(np.float32)
    out = make(name).resize(image, shape[:2])
    assert out is not image
    np.testing.assert_array_equal(out, image)
    assert out.dtype == np.float32


@pytest.mark.parametrize("name", BASES)
@pytest.mark.parametrize("edge", ["reflect", "mirror", "clamp", "wrap", "constant"])
@pytest.mark.parametrize("source", [(1, 1), (2, 3), (15, 17)])
@pytest.mark.parametrize("target", [(1, 1), (31, 9), (4, 40)])
def test_constant_stays_constant(
    name: str, edge: str, source: tuple[int, int], target: tuple[int, int]
) -> None:
    params = {} if name == "nearest" else {"edge": edge, "cval": 0.4}
    out = make(name, **params).resize(np.full((*source, 2), 0.4, np.float32), target)
    np.testing.assert_allclose(out, 0.4, atol=2e-6)


@pytest.mark.parametrize("name", BASES)
@pytest.mark.parametrize("target", [(50, 70), (9, 12), (50, 12)])
def test_colour_is_per_channel_grey(name: str, target: tuple[int, int]) -> None:
    for channels in (3, 6):  # 6 takes the plane-by-plane path
        image = RNG.random((20, 25, channels)).astype(np.float32)
        out = make(name).resize(image, target)
        assert out.shape == (*target, channels)
        for c in range(channels):
            grey = make(name).resize(np.ascontiguousarray(image[:, :, c]), target)
            np.testing.assert_allclose(out[:, :, c], grey, atol=1e-6)


@pytest.mark.parametrize("name", BASES)
def test_grey_with_one_channel_keeps_its_axis(name: str) -> None:
    out = make(name).resize(RNG.random((10, 10, 1)).astype(np.float32), (20, 5))
    assert out.shape == (20, 5, 1)


@pytest.mark.parametrize("name", [*BASES, "stairstep"])
def test_input_never_modified_and_float64_accepted(name: str) -> None:
    image = RNG.random((12, 14, 3))
    before = image.copy()
    for dtype in (np.float64, np.float32):
        data = image.astype(dtype)
        copy = data.copy()
        out = make(name).resize(data, (20, 9))
        np.testing.assert_array_equal(data, copy)
        assert out.dtype == np.float32
    np.testing.assert_array_equal(image, before)
    np.testing.assert_allclose(
        make(name).resize(image, (20, 9)),
        make(name).resize(image.astype(np.float32), (20, 9)),
        atol=1e-6,
    )


@pytest.mark.parametrize("name", ["bicubic", "bspline3", "lanczos3", "lanczos4"])
def test_clip_keeps_input_range_and_is_needed(name: str) -> None:
    step = np.zeros((16, 16), np.float32)
    step[:, 8:] = 1.0
    clipped = make(name).resize(step, (16, 57))
    assert clipped.min() >= 0.0 and clipped.max() <= 1.0
    raw = make(name, clip=False).resize(step, (16, 57))
    assert raw.min() < -0.01 and raw.max() > 1.01  # the kernel's lobes overshoot


def test_clip_range_includes_cval_for_constant_edge() -> None:
    image = np.full((8, 8), 0.5, np.float32)
    out = make("bicubic", edge="constant", cval=1.0).resize(image, (16, 16))
    assert out.max() > 0.6  # the border blends towards cval instead of being clipped to 0.5


@pytest.mark.parametrize("name", ["bilinear", "nearest"])
def test_no_overshoot_without_clip(name: str) -> None:
    image = RNG.random((16, 16)).astype(np.float32)
    out = make(name).resize(image, (45, 7))
    assert out.min() >= image.min() and out.max() <= image.max()


@pytest.mark.parametrize("name", SMOOTH)
@pytest.mark.parametrize("edge", ["reflect", "mirror", "clamp", "wrap", "constant"])
@pytest.mark.parametrize(("factor", "pad"), [(2, 16), (0.5, 16)])
def test_edge_modes_match_numpy_pad(name: str, edge: str, factor: float, pad: int) -> None:
    # Resizing the image padded by numpy and cropping must equal resizing with
    # the edge mode: the padded image's own border is too far away to matter
    # (16 pixels: even the spline prefilter's influence has decayed to 1e-9).
    image = RNG.random((24, 20)).astype(np.float32)
    params = {"edge": edge, "cval": 0.3}
    if name != "bilinear":
        params["clip"] = False
    extra = {"constant_values": 0.3} if edge == "constant" else {}
    padded = np.pad(image, pad, mode=NUMPY_PAD[edge], **extra)
    target = (int(24 * factor), int(20 * factor))
    direct = make(name, **params).resize(image, target)
    big = make(name, **params).resize(
        padded, (int(padded.shape[0] * factor), int(padded.shape[1] * factor))
    )
    crop = int(pad * factor)
    np.testing.assert_allclose(
        direct, big[crop : crop + target[0], crop : crop + target[1]], atol=2e-6
    )


def test_edge_index_mapping() -> None:
    from lamina.plugins.interpolate.engine import edge_indices

    index = np.arange(-5, 9)
    for edge, mode in NUMPY_PAD.items():
        mapped, outside = edge_indices(index, 4, edge)
        extra = {"constant_values": -1} if edge == "constant" else {}
        values = np.pad(np.arange(4), 5, mode=mode, **extra)[: len(index)]
        if edge == "constant":
            np.testing.assert_array_equal(outside, values == -1)
            np.testing.assert_array_equal(mapped[~outside], values[~outside])
        else:
            np.testing.assert_array_equal(mapped, values)


@pytest.mark.parametrize("name", SMOOTH)
def test_antialias_suppresses_aliasing(name: str) -> None:
    # Stripes at 0.45 cycles per pixel alias to a strong slow beat when sampled
    # 5x more sparsely (on pixel centres); a low-pass filter first leaves
    # nearly a flat grey.
    x = np.arange(400)
    stripes = np.tile(0.5 + 0.5 * np.cos(2 * np.pi * 0.45 * x), (10, 1)).astype(np.float32)
    smooth = make(name).resize(stripes, (2, 80))
    aliased = make(name, antialias=False).resize(stripes, (2, 80))
    assert np.ptp(smooth[:, 5:-5]) < 0.05
    assert np.ptp(aliased[:, 5:-5]) > 0.3


def test_antialias_nearest_averages_areas_when_reducing_only() -> None:
    image = RNG.random((12, 12)).astype(np.float32)
    box = make("nearest", antialias=True)
    np.testing.assert_array_equal(
        box.resize(image, (36, 24)), make("nearest").resize(image, (36, 24))
    )
    np.testing.assert_allclose(box.resize(image, (1, 1)), image.mean(), atol=1e-6)


@pytest.mark.parametrize("name", BASES)
def test_scale_rounds_half_up_and_per_axis(name: str) -> None:
    image = RNG.random((10, 7)).astype(np.float32)
    interpolator = make(name)
    assert interpolator.scale(image, 1.5).shape == (15, 11)  # 10.5 -> 11
    assert interpolator.scale(image, (2, 0.5)).shape == (20, 4)  # 3.5 -> 4
    np.testing.assert_array_equal(
        interpolator.scale(image, 2.0), interpolator.resize(image, (20, 14))
    )


def test_kernels_match_their_formulas() -> None:
    x = np.linspace(-4, 4, 161)
    t = np.abs(x)
    keys = np.select(
        [t < 1, t < 2], [1.5 * t**3 - 2.5 * t**2 + 1, -0.5 * t**3 + 2.5 * t**2 - 4 * t + 2], 0
    )
    np.testing.assert_allclose(filters.Keys(-0.5)(x), keys, atol=1e-12)
    spline = np.select([t < 1, t < 2], [(4 - 6 * t**2 + 3 * t**3) / 6, (2 - t) ** 3 / 6], 0)
    np.testing.assert_allclose(filters.CubicBSpline()(x), spline, atol=1e-12)
    with np.errstate(invalid="ignore", divide="ignore"):
        lanczos = np.where(
            t < 3, 3 * np.sin(np.pi * x) * np.sin(np.pi * x / 3) / (np.pi**2 * x**2), 0
        )
    lanczos[x == 0] = 1
    np.testing.assert_allclose(filters.Lanczos(3)(x), lanczos, atol=1e-12)
    np.testing.assert_allclose(filters.Triangle()(x), np.maximum(0, 1 - t), atol=1e-12)


@pytest.mark.parametrize(
    "filter_", [filters.Triangle(), filters.Keys(-0.5), filters.CubicBSpline(), filters.Lanczos(3)]
)
@pytest.mark.parametrize(("n_in", "n_out"), [(10, 37), (37, 10), (5, 5), (100, 3)])
def test_taps_cover_the_support_and_sum_to_one(filter_: object, n_in: int, n_out: int) -> None:
    first, weights = filter_.taps(n_in, n_out, antialias=True)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-12)
    stretch = max(1.0, n_in / n_out)
    centres = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    # every input pixel strictly inside the stretched support has a tap
    for j, c in enumerate(centres):
        needed = np.arange(
            np.floor(c - filter_.radius * stretch), np.ceil(c + filter_.radius * stretch) + 1
        )
        needed = needed[np.abs(needed - c) < filter_.radius * stretch - 1e-9]
        assert first[j] <= needed.min() and needed.max() < first[j] + weights.shape[1]


def test_plans_are_cached() -> None:
    from lamina.plugins.interpolate.engine import axis_plan

    axis_plan.cache_clear()
    interpolator = make("bicubic")
    image = RNG.random((30, 30)).astype(np.float32)
    interpolator.resize(image, (45, 45))
    interpolator.resize(image, (45, 45))
    info = axis_plan.cache_info()
    assert info.misses == 2 and info.hits == 2


def test_repr_and_params() -> None:
    interpolator = make("bicubic", a=-0.75, edge="wrap")
    assert interpolator.get_params() == {
        "a": -0.75,
        "edge": "wrap",
        "cval": 0.0,
        "antialias": True,
        "clip": True,
        "memory_limit": None,
    }
    assert repr(interpolator).startswith("Bicubic(a=-0.75, edge='wrap'")
