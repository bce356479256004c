"""The subpixel plugin's pipeline operation ``score_shifts`` (moved from the
pipeline plugin, issue 14): registered under the same name, same results."""

from __future__ import annotations

import numpy as np
import pytest

import lamina
from lamina.plugins.subpixel import operations
from lamina.types import ShiftEstimate


def test_registered_by_name_and_resolved_to_this_module():
    host = lamina.get_host()
    registered = {op.name for op in host.plugins["subpixel"].operations}
    assert registered == set(operations.OPERATIONS)
    assert host.operation("score_shifts").function is operations.score_shifts
    assert "score_shifts" not in {op.name for op in host.plugins["pipeline"].operations}


def test_score_shifts_against_a_direct_computation():
    rng = np.random.default_rng(0)
    truth = rng.uniform(-3, 3, (6, 2))
    sigma = rng.uniform(0.01, 0.05, (6, 2))
    found = truth + rng.normal(0, 1, (6, 2)) * sigma * 1.5
    estimates = [ShiftEstimate(f[0], f[1], tuple(s), {}) for f, s in zip(found, sigma, strict=True)]
    # truth as pairs, as mappings and as estimates: all read as (dy, dx)
    mixed: list = [tuple(truth[0]), {"dy": truth[1][0], "dx": truth[1][1]}]
    mixed += [ShiftEstimate(t[0], t[1], (0.0, 0.0), {}) for t in truth[2:]]
    score = operations.score_shifts(estimates=estimates, truth=mixed)
    error = found - truth
    assert score["rmse_px"] == pytest.approx(np.sqrt(np.mean(error**2)))
    assert score["max_abs_error_px"] == pytest.approx(np.abs(error).max())
    assert score["within_2_sigma"] == pytest.approx(np.mean(np.abs(error) <= 2 * sigma))
    assert [row["sigma_dx"] for row in score["table"]] == pytest.approx(sigma[:, 1])
    assert score["plot"]["series"]["dy"] == pytest.approx(error[:, 0])


def test_score_shifts_needs_one_truth_per_estimate():
    estimate = ShiftEstimate(0.1, 0.2, (0.01, 0.01), {})
    with pytest.raises(lamina.InputError, match="1 estimates but 2 true shifts"):
        operations.score_shifts(estimates=[estimate], truth=[(0, 0), (1, 1)])
    with pytest.raises(lamina.InputError, match="0 estimates"):
        operations.score_shifts(estimates=[], truth=[])
