"""Stairstep: step sizes, exact landing, per-axis schedules, symmetric
reduction, base resolution through the host, the composed one-pass resize
against the steps and against matrices taken from the base, and its errors."""

from __future__ import annotations

import itertools
import math
import tracemalloc
from typing import ClassVar

import numpy as np
import pytest

import lamina
from lamina import InputError, hookimpl
from lamina.plugins.interpolate.engine import EDGE_MODES, apply_separable
from lamina.plugins.interpolate.separable import Bicubic, Nearest
from lamina.plugins.interpolate.stairstep import (
    Stairstep,
    axis_schedule,
    composite_matrix,
    step_count,
)

RNG = np.random.default_rng(3)


def ratios_ok(sizes: list[int], step: float) -> bool:
    """Every step changes the size by at most ``step``, or by one pixel."""
    return all(
        max(a, b) <= max(min(a, b) * step + 1e-9, min(a, b) + 1)
        for a, b in itertools.pairwise(sizes)
    )


@pytest.mark.parametrize("step", [1.10, 1.05, 1.01, 1.5])
@pytest.mark.parametrize("n_in", [1, 2, 7, 9, 10, 11, 64, 100, 512])
@pytest.mark.parametrize("n_out", [1, 3, 10, 13, 99, 100, 333, 2048])
def test_axis_schedule_obeys_the_step_and_lands_exactly(step: float, n_in: int, n_out: int) -> None:
    count = step_count(n_in, n_out, step)
    for steps in {count, count + 4} - {0}:
        sizes = axis_schedule(n_in, n_out, steps, step)
        assert len(sizes) == steps and sizes[-1] == n_out
        assert ratios_ok([n_in, *sizes], step)
        assert sizes == sorted(sizes, reverse=n_out < n_in)


def test_step_count_is_the_minimum() -> None:
    # Above 10 pixels every step can grow by the full 10%, so the count is
    # ceil(log(ratio) / log(1.1)) as long as rounding allows it.
    assert step_count(512, 2048, 1.1) == math.ceil(math.log(4) / math.log(1.1)) == 15
    assert step_count(100, 110, 1.1) == 1
    assert step_count(100, 111, 1.1) == 2
    assert step_count(1, 5, 1.1) == 4  # one pixel per step below 10 pixels
    assert step_count(2048, 512, 1.1) == 15
    assert step_count(7, 7, 1.1) == 0


def test_plan_spreads_both_axes_over_the_longer_schedule() -> None:
    plan = Stairstep().plan((100, 100), (400, 121))
    assert len(plan) == step_count(100, 400, 1.1) == 15
    assert plan[-1] == (400, 121)
    heights = [100] + [h for h, _ in plan]
    widths = [100] + [w for _, w in plan]
    assert ratios_ok(heights, 1.1) and ratios_ok(widths, 1.1)
    assert widths == sorted(widths) and heights == sorted(heights)


def test_reduction_is_the_enlargement_backwards() -> None:
    up = Stairstep().plan((40, 300), (400, 330))
    down = Stairstep().plan((400, 330), (40, 300))
    assert list(down) == [*reversed(up[:-1]), (40, 300)]


def test_mixed_enlarge_and_reduce() -> None:
    plan = Stairstep().plan((100, 300), (300, 100))
    heights = [100] + [h for h, _ in plan]
    widths = [300] + [w for _, w in plan]
    assert heights == sorted(heights) and widths == sorted(widths, reverse=True)
    assert ratios_ok(heights, 1.1) and ratios_ok(widths, 1.1)


@pytest.mark.parametrize("shape", [(20, 30), (20, 30, 3)])
def test_resize_follows_the_plan_with_the_base(shape: tuple[int, ...]) -> None:
    image = RNG.random(shape).astype(np.float32)
    expected = image
    base = lamina.create("interpolator", "bilinear")
    for step_shape in Stairstep().plan(image.shape, (41, 37)):
        expected = base.resize(expected, step_shape)
    for compose in (False, True):
        stairstep = Stairstep(base="bilinear", compose=compose)
        out = stairstep.resize(image, (41, 37))
        assert out.shape == (41, 37, *shape[2:])
        assert out.dtype == np.float32
        if compose:  # one pass by the product of the steps' matrices
            np.testing.assert_allclose(out, expected, rtol=0, atol=2e-6)
        else:
            np.testing.assert_array_equal(out, expected)
        # heights 20 -> 22, 24, 26, 28, 30, 33, 36, 39, 41: whole pixels cost a step
        assert stairstep.n_steps_ == len(stairstep.plan(image.shape, (41, 37))) == 9


def test_one_big_step_equals_the_base() -> None:
    image = RNG.random((16, 16)).astype(np.float32)
    stairstep = Stairstep(base="bicubic", step=3.0, force=True)
    np.testing.assert_array_equal(
        stairstep.resize(image, (32, 40)), Bicubic().resize(image, (32, 40))
    )
    assert stairstep.n_steps_ == 1


def test_n_steps_resets_on_identity_and_scale_reports_it() -> None:
    image = RNG.random((10, 10)).astype(np.float32)
    stairstep = Stairstep()
    assert stairstep.scale(image, 2).shape == (20, 20)
    assert stairstep.n_steps_ == step_count(10, 20, 1.1) == 10  # 11, 12, ..., 19, 20
    stairstep.resize(image, (10, 10))
    assert stairstep.n_steps_ == 0


def test_base_can_be_an_object() -> None:
    image = RNG.random((12, 12)).astype(np.float32)
    out = Stairstep(base=Bicubic(a=-0.75, edge="clamp")).resize(image, (15, 15))
    assert out.shape == (15, 15)


class _Doubler:
    """A third-party interpolator: nearest-like, records its calls."""

    calls: ClassVar[list[tuple[int, int]]] = []

    def __init__(self) -> None:
        pass

    def resize(self, image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        type(self).calls.append(tuple(shape))
        rows = np.arange(shape[0]) * image.shape[0] // shape[0]
        columns = np.arange(shape[1]) * image.shape[1] // shape[1]
        return image[np.ix_(rows, columns)].astype(np.float32)


class _ThirdPartyPlugin:
    @hookimpl
    def lamina_register_interpolators(self, registry: object) -> None:
        registry.add("test-third-party", _Doubler, summary="test only")


@pytest.fixture
def third_party_host() -> object:
    lamina.reset_host()
    lamina.get_host().register(_ThirdPartyPlugin(), name="test-third-party-plugin")
    yield
    lamina.reset_host()


@pytest.mark.usefixtures("third_party_host")
def test_third_party_base_is_resolved_through_the_host() -> None:
    _Doubler.calls.clear()
    stairstep = lamina.create("interpolator", "stairstep", base="test-third-party")
    out = stairstep.resize(RNG.random((20, 20)).astype(np.float32), (30, 26))
    assert out.shape == (30, 26)
    assert _Doubler.calls == list(stairstep.plan((20, 20), (30, 26)))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"base": "nearest"}, "nearest"),
        ({"base": Nearest()}, "Nearest"),
        ({"base": "stairstep"}, "recurse"),
        ({"base": Stairstep()}, "Stairstep"),
        ({"base": object()}, "resize"),
        ({"step": 1.2}, "force"),
        ({"step": 1.0}, "above 1"),
        ({"step": 0.9, "force": True}, "above 1"),
        ({"step": float("nan")}, "above 1"),
        ({"step": "big"}, "number"),
        ({"force": "yes"}, "force"),
        ({"compose": 1}, "compose"),
        ({"memory_limit": -5}, "memory_limit"),
    ],
)
def test_bad_parameters(params: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        Stairstep(**params)


def test_unknown_base_suggests_names() -> None:
    with pytest.raises(lamina.ComponentNotFound, match="bicubic"):
        Stairstep(base="bicubc")


def test_force_allows_big_steps_and_cli_strings_coerce() -> None:
    assert Stairstep(step=1.5, force=True).step == 1.5
    stairstep = lamina.create(
        "interpolator", "stairstep", base="lanczos3", step="1.05", compose="false"
    )
    assert stairstep.step == 1.05
    assert stairstep.compose is False
    assert len(stairstep.plan((100, 100), (200, 200))) == step_count(100, 200, 1.05)


def test_memory_guard_checks_the_largest_step_before_starting() -> None:
    # The steps need their largest pair: about 909^2 + 1000^2 + 909 * 1000
    # floats (11 MB); the composite only the output and one intermediate (4.4 MB).
    image = np.zeros((100, 100), np.float32)
    for compose, refused, accepted in (
        (False, 10_000_000, 12_000_000),
        (True, 4_000_000, 5_000_000),
    ):
        stairstep = Stairstep(compose=compose, memory_limit=refused)
        with pytest.raises(InputError, match=f"memory_limit={refused}"):
            stairstep.resize(image, (1000, 1000))
        assert stairstep.n_steps_ == 0
        stairstep = Stairstep(compose=compose, memory_limit=accepted)
        assert stairstep.resize(image, (1000, 1000)).shape == (1000, 1000)


def test_composing_refuses_nothing_the_steps_accept() -> None:
    """What the composite falls back to -- the output, the smaller
    intermediate and the input shifted by cval -- never exceeds the steps'
    estimate. Both scale with the channels, so one channel covers all."""
    sides = (1, 2, 9, 11, 40, 333, 2048)
    base = Bicubic(edge="constant", cval=0.5)
    composite, steps = Stairstep(base=base), Stairstep(base=base, compose=False)
    for source in itertools.product(sides, repeat=2):
        for target in set(itertools.product(sides, repeat=2)) - {source}:
            stepwise = steps._working_bytes((*source, 1), target)
            smallest = min(target[0] * source[1], source[0] * target[1])
            fallback = 4 * (target[0] * target[1] + smallest + source[0] * source[1])
            assert fallback <= stepwise
            assert composite._working_bytes((*source, 1), target) <= stepwise


class _Recorder:
    """Stands in for an axis plan and records when it runs."""

    def __init__(self, plan: object, log: list[int]) -> None:
        self.plan, self.log, self.flops = plan, log, plan.flops

    def apply(self, image: np.ndarray, cval: float) -> np.ndarray:
        self.log.append(self.plan.axis)
        return self.plan.apply(image, cval)


def test_a_memory_budget_switches_to_the_smaller_intermediate() -> None:
    """(700, 40) -> (40, 5): fewer multiply-adds reducing the columns first
    (a 700 x 5 intermediate), less memory reducing the rows first (40 x 40)."""
    from lamina.plugins.interpolate.stairstep import _composite_plan

    base = Bicubic()
    plan = Stairstep().plan((700, 40), (40, 5))
    sizes = ((700, *(h for h, _ in plan)), (40, *(w for _, w in plan)))
    image = RNG.random((700, 40, 1)).astype(np.float32)
    results = []
    for budget, first in ((None, 1), (700 * 5 - 1, 0)):
        log: list[int] = []
        results.append(
            apply_separable(
                image,
                (40, 5),
                lambda axis, channels, log=log: _Recorder(
                    _composite_plan(base.axis_operator, sizes[axis], axis, channels), log
                ),
                max_intermediate=budget,
            )
        )
        assert log == [first, 1 - first]
    np.testing.assert_allclose(results[0], results[1], atol=1e-6)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ((200, 200), (800, 800)),
        ((40, 800), (800, 40)),
        ((600, 10), (18, 400)),
        ((400, 120), (60, 50)),
    ],
)
def test_composite_stays_within_its_memory_estimate(
    source: tuple[int, int], target: tuple[int, int]
) -> None:
    """Measured with tracemalloc (numpy reports its buffers to it), weights
    cached, allowing 64 KiB for Python's own bookkeeping."""
    image = RNG.random(source).astype(np.float32)
    base = Bicubic(edge="constant", cval=0.5, clip=False)
    composite = Stairstep(base=base)
    estimate = composite._working_bytes((*source, 1), target)
    composite.resize(image, target)
    tracemalloc.start()
    try:
        out = composite.resize(image, target)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= estimate + 65536
    expected = Stairstep(base=base, compose=False).resize(image, target)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5)


# -- the composed resize ------------------------------------------------------------

BASES = ("bilinear", "bicubic", "bspline3", "lanczos3", "lanczos4")
#: Enlarging, reducing and mixed resizes: 8 to 12 steps each.
RESIZES = (((13, 11), (31, 26)), ((30, 24), (11, 13)), ((9, 28), (23, 10)))


def _base(name: str, edge: str, *, clip: bool) -> object:
    params = {"edge": edge} | ({"cval": 0.3} if edge == "constant" else {})
    if name != "bilinear":
        params["clip"] = clip
    return lamina.create("interpolator", name, **params)


@pytest.mark.parametrize("channels", [None, 3, 5])
@pytest.mark.parametrize("edge", EDGE_MODES)
@pytest.mark.parametrize("name", BASES)
def test_composite_equals_the_steps_without_clipping(
    name: str, edge: str, channels: int | None
) -> None:
    """Without clipping the steps are linear (affine for edge="constant") and
    the composite is the same map, up to float rounding, on any image."""
    base = _base(name, edge, clip=False)
    for source, target in RESIZES:
        image = RNG.random((*source, channels) if channels else source).astype(np.float32)
        steps = Stairstep(base=base, compose=False)
        expected = steps.resize(image, target)
        composite = Stairstep(base=base)
        out = composite.resize(image, target)
        np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5)
        assert composite.n_steps_ == steps.n_steps_ == len(steps.plan(source, target)) >= 8


@pytest.mark.parametrize("name", BASES[1:])
def test_composite_equals_the_clipped_steps_where_no_step_clips(name: str) -> None:
    """A smooth ramp with mirror edges: no step overshoots its input's range,
    so the per-step clips of the steps never act and the composite's single
    clip changes nothing either."""
    rows, columns = np.mgrid[0:30, 0:24]
    ramp = (
        0.3 + 0.2 * rows / 30 + 0.1 * columns / 24 + 0.01 * np.sin(rows / 7) * np.sin(columns / 5)
    )
    ramp = ramp.astype(np.float32)
    unclipped = _base(name, "mirror", clip=False)
    for target in ((95, 61), (12, 40), (31, 10)):
        current = ramp
        for step_shape in Stairstep().plan(ramp.shape, target):
            following = unclipped.resize(current, step_shape)
            assert current.min() <= following.min() and following.max() <= current.max()
            current = following
        base = _base(name, "mirror", clip=True)
        expected = Stairstep(base=base, compose=False).resize(ramp, target)
        np.testing.assert_allclose(Stairstep(base=base).resize(ramp, target), expected, atol=1e-5)


def _step_matrix(base: object, n_in: int, n_out: int) -> np.ndarray:
    """One step's dense (n_out, n_in) matrix, taken from the base's own resize:
    resizing the columns of the identity gives the matrix's columns."""
    if n_in == n_out:
        return np.eye(n_in)
    return base.resize(np.eye(n_in, dtype=np.float32), (n_out, n_in)).astype(np.float64)


@pytest.mark.parametrize("edge", ["reflect", "wrap", "constant"])
@pytest.mark.parametrize("name", BASES)
def test_composite_equals_the_product_of_matrices_from_the_base(name: str, edge: str) -> None:
    """Reference: the steps' dense matrices taken from the base's single-step
    resizes (unclipped; cval 0 gives the linear part), multiplied in float64,
    applied as ``cval + R (x - cval) C^T`` and clipped once to the input's
    range (widened by cval) -- what the composite promises."""
    cval = 0.3 if edge == "constant" else 0.0
    extract = _base(name, edge, clip=False)
    if edge == "constant":
        extract = type(extract)(**(extract.get_params() | {"cval": 0.0}))
    base = _base(name, edge, clip=True)
    for source, target in RESIZES:
        image = RNG.random((*source, 2)).astype(np.float32)  # two channels clip separately
        plan = Stairstep().plan(source, target)
        composites = []
        for axis in (0, 1):
            sizes = [source[axis], *(shape[axis] for shape in plan)]
            product = np.eye(source[axis])
            for n_in, n_out in itertools.pairwise(sizes):
                product = _step_matrix(extract, n_in, n_out) @ product
            composites.append(product)
        rows, columns = composites
        expected = cval + np.einsum("ij,jkc,lk->ilc", rows, image - cval, columns)
        if name != "bilinear":
            low = np.minimum(image.min(axis=(0, 1)), cval if edge == "constant" else np.inf)
            high = np.maximum(image.max(axis=(0, 1)), cval if edge == "constant" else -np.inf)
            expected = np.clip(expected, low, high)
        out = Stairstep(base=base).resize(image, target)
        np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("edge", ["reflect", "wrap"])
@pytest.mark.parametrize("name", BASES)
def test_composite_matrix_is_banded_and_its_trimmed_tails_negligible(name: str, edge: str) -> None:
    """128 -> 512 in 15 steps: trimming the composite's tails moves no row by
    more than 1e-8 of absolute weight against the exact product, and every
    weight lies within a few input pixels of the point its row samples
    (periodically for wrap; reflect folds taps closer), so it stays sparse."""
    base = _base(name, edge, clip=True)
    sizes = (128, *(shape[0] for shape in Stairstep().plan((128, 1), (512, 1))))
    assert len(sizes) == 16
    exact = np.eye(128)
    for n_in, n_out in itertools.pairwise(sizes):
        exact = base.axis_operator.matrix(n_in, n_out).toarray() @ exact
    composite = composite_matrix(base.axis_operator, sizes)
    assert np.abs(composite.toarray() - exact).sum(axis=1).max() < 1e-8
    rows, columns = composite.nonzero()
    offset = columns - ((rows + 0.5) / 4 - 0.5)
    if edge == "wrap":
        offset = (offset + 64) % 128 - 64
    # measured: 6.4, 9.9, 14.6, 18.9 and 19.6 pixels
    reach = {"bilinear": 7, "bicubic": 11, "lanczos3": 16, "lanczos4": 20, "bspline3": 21}[name]
    assert np.abs(offset).max() <= reach
    assert composite.nnz <= 512 * 2 * reach


class _CountingBicubic(Bicubic):
    calls = 0

    def resize(self, image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        type(self).calls += 1
        return super().resize(image, shape)


def test_compose_false_applies_each_step_and_compose_true_none() -> None:
    image = RNG.random((40, 40)).astype(np.float32)
    base = _CountingBicubic()
    steps = step_count(40, 160, 1.1)
    assert steps == 16  # rounding to whole pixels costs one more than log(4) / log(1.1)
    for compose, calls in ((False, steps), (True, 0)):
        _CountingBicubic.calls = 0
        stairstep = Stairstep(base=base, compose=compose)
        assert stairstep.resize(image, (160, 160)).shape == (160, 160)
        assert stairstep.n_steps_ == steps
        assert _CountingBicubic.calls == calls
    # One step is the base itself, composed or not.
    _CountingBicubic.calls = 0
    Stairstep(base=base).resize(image, (44, 40))
    assert _CountingBicubic.calls == 1


def test_composite_keeps_the_range_where_steps_overshoot() -> None:
    """A sharp edge: the steps clip at every step, the composite once; both
    stay inside the input's range and agree away from the edge."""
    image = np.zeros((20, 20), np.float32)
    image[:, 10:] = 1.0
    base = Bicubic()
    out = Stairstep(base=base).resize(image, (80, 80))
    steps = Stairstep(base=base, compose=False).resize(image, (80, 80))
    assert out.min() >= 0.0 and out.max() <= 1.0
    np.testing.assert_allclose(out[:, :20], steps[:, :20], atol=1e-5)
    np.testing.assert_allclose(out[:, 60:], steps[:, 60:], atol=1e-5)
