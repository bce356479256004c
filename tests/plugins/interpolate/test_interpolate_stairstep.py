"""Stairstep: step sizes, exact landing, per-axis schedules, symmetric
reduction, base resolution through the host, and its errors."""

from __future__ import annotations

import itertools
import math
from typing import ClassVar

import numpy as np
import pytest

import lamina
from lamina import InputError, hookimpl
from lamina.plugins.interpolate.base import Bicubic, Nearest
from lamina.plugins.interpolate.stairstep import Stairstep, axis_schedule, step_count

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
    stairstep = Stairstep(base="bilinear")
    out = stairstep.resize(image, (41, 37))
    expected = image
    base = lamina.create("interpolator", "bilinear")
    for step_shape in stairstep.plan(image.shape, (41, 37)):
        expected = base.resize(expected, step_shape)
    assert out.shape == (41, 37, *shape[2:])
    assert out.dtype == np.float32
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
    stairstep = lamina.create("interpolator", "stairstep", base="lanczos3", step="1.05")
    assert stairstep.step == 1.05
    assert len(stairstep.plan((100, 100), (200, 200))) == step_count(100, 200, 1.05)


def test_memory_guard_checks_the_largest_step_before_starting() -> None:
    stairstep = Stairstep(memory_limit=10_000_000)
    with pytest.raises(InputError, match="working memory"):
        stairstep.resize(np.zeros((100, 100), np.float32), (1000, 1000))
    assert stairstep.n_steps_ == 0
