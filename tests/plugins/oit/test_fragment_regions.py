"""``fragment_list._regions``: how the spilled lists of a frame are split into runs of
whole tiles that each fit the fragment budget (seeded random inputs, degenerate sizes).

The properties below determine the split: every tile lies in exactly one region, in
order; a region of several tiles fits the budget; a tile over the budget on its own is
a region of one; and no region could take the next tile in without going over (the
greedy split, which makes as few regions, so as few geometry passes, as the order of
the tiles allows)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lamina.plugins.oit.renderers.fragment_list import _regions


def check_regions(tile_sum: np.ndarray, budget: int) -> list[tuple[int, int, int]]:
    regions = _regions(tile_sum, budget)
    assert regions, "at least one region, even for an empty frame"
    # Every tile exactly once, in order: consecutive runs from 0 to the last tile.
    assert regions[0][0] == 0
    assert regions[-1][1] == len(tile_sum)
    for (_, end, _), (start, _, _) in itertools.pairwise(regions):
        assert end == start
    for t0, t1, total in regions:
        assert t0 < t1 or len(tile_sum) == 0
        assert total == int(tile_sum[t0:t1].sum())  # the region's fragments, exactly
        if t1 - t0 > 1:
            assert total <= budget  # several tiles only when they fit together
    # Greedy: the next tile would not have fitted.
    for (_, t1, total), _ in itertools.pairwise(regions):
        assert total + int(tile_sum[t1]) > budget
    return regions


def random_sums(rng: np.random.Generator, n: int, budget: int, kind: str) -> np.ndarray:
    if kind == "zeros":
        return np.zeros(n, np.int64)
    if kind == "small":  # many tiles to a region
        return rng.integers(0, max(2, budget // 8), n)
    if kind == "mixed":  # some empty tiles, some over the budget on their own
        sums = rng.integers(0, 2 * budget, n)
        sums[rng.random(n) < 0.3] = 0
        return sums
    # heavy-tailed: most tiles small, a few huge (tile sums of one frame vary so)
    return (rng.pareto(1.2, n) * budget / 4).astype(np.int64)


@pytest.mark.parametrize("kind", ["zeros", "small", "mixed", "heavy"])
@pytest.mark.parametrize("n", [1, 2, 3, 17, 256, 1000])
@pytest.mark.parametrize("budget", [1, 256, 4096, 2**31 - 1])
def test_regions_cover_every_tile_once_within_budget(kind, n, budget):
    rng = np.random.default_rng([n, budget, len(kind)])
    for _ in range(5):
        tile_sum = random_sums(rng, n, budget, kind)
        regions = check_regions(tile_sum, budget)
        if int(tile_sum.sum()) <= budget:
            assert regions == [(0, n, int(tile_sum.sum()))]  # the whole frame at once


def test_regions_at_the_budget_edges():
    budget = 256
    # Tiles that fill the budget exactly share nothing; one more key starts a region.
    assert check_regions(np.array([256, 256, 256]), budget) == [(0, 1, 256), (1, 2, 256),
                                                              (2, 3, 256)]  # fmt: skip
    assert check_regions(np.array([128, 128, 1]), budget) == [(0, 2, 256), (2, 3, 1)]
    # A tile over the budget is alone, whatever is around it.
    assert check_regions(np.array([1, 257, 1]), budget) == [(0, 1, 1), (1, 2, 257), (2, 3, 1)]
    assert check_regions(np.array([257]), budget) == [(0, 1, 257)]
    # Empty tiles join any region.
    assert check_regions(np.array([0, 0, 300, 0, 0]), budget) == [(0, 2, 0), (2, 3, 300),
                                                                  (3, 5, 0)]  # fmt: skip
    # No tiles at all: one empty region.
    assert check_regions(np.zeros(0, np.int64), budget) == [(0, 0, 0)]
