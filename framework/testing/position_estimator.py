"""Checks for position estimators: ``estimate(reference, moving)`` and ``locate(image)``."""

from __future__ import annotations

import numpy as np

from lamina.kinds.position_estimator import PointEstimates, ShiftEstimate
from lamina.registry import ComponentInfo
from lamina.testing._common import build, expect_input_error, unchanged
from lamina.testing._runner import Check

# The true shift used below: a sanity bound, not a precision test. Precision is
# the business of each plugin's own tests against the Cramér-Rao bound.
_SHIFT = (1.3, -0.7)


def _blobs(shape: tuple[int, int], centres: np.ndarray, sigma: float) -> np.ndarray:
    y, x = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    image = np.zeros(shape)
    for cy, cx in centres:
        image += np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * sigma**2))
    return image


def _pair(noise: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    centres = rng.uniform(12, 52, size=(12, 2))
    reference = _blobs((64, 64), centres, 3.0)
    moving = _blobs((64, 64), centres + np.array(_SHIFT), 3.0)
    scale = max(reference.max(), moving.max())
    reference = reference / scale + rng.normal(0, noise, reference.shape)
    moving = moving / scale + rng.normal(0, noise, moving.shape)
    return reference.astype(np.float32), moving.astype(np.float32)


def check_known_shift(info: ComponentInfo) -> None:
    estimator = build(info)
    reference, moving = _pair()
    with unchanged(reference, moving):
        result = estimator.estimate(reference, moving)
    assert isinstance(result, ShiftEstimate), f"estimate returned {type(result).__name__}"
    found = np.array([result.dy, result.dx])
    truth = np.array(_SHIFT)
    # Either sign convention is allowed, but it must be one of them and be documented.
    error = min(np.abs(found - truth).max(), np.abs(found + truth).max())
    assert error < 0.25, (
        f"shift {found} is more than 0.25 px from the true {truth} (or its negative)"
    )


def check_uncertainty_reported(info: ComponentInfo) -> None:
    result = build(info).estimate(*_pair())
    sigma = np.asarray(result.uncertainty, dtype=float)
    assert sigma.shape == (2,), f"uncertainty has shape {sigma.shape}, expected (2,)"
    assert np.all(np.isfinite(sigma)) and np.all(sigma > 0), f"uncertainty {sigma} is not positive"
    assert isinstance(result.diagnostics, dict), "diagnostics is not a dict"


def check_deterministic(info: ComponentInfo) -> None:
    reference, moving = _pair()
    first = build(info).estimate(reference, moving)
    second = build(info).estimate(reference, moving)
    assert (first.dy, first.dx) == (second.dy, second.dx), "two runs on the same input differ"


def check_bad_input(info: ComponentInfo) -> None:
    estimator = build(info)
    reference, moving = _pair()
    expect_input_error(
        lambda: estimator.estimate(reference, moving[:-3]), "images of different shapes"
    )
    broken = moving.copy()
    broken[5, 5] = np.nan
    expect_input_error(lambda: estimator.estimate(reference, broken), "an image with NaN")
    expect_input_error(lambda: estimator.estimate(reference[0], moving[0]), "1-D arrays")


def check_locate(info: ComponentInfo) -> None:
    locator = build(info)
    truth = np.array([[14.3, 20.6], [40.8, 45.2], [50.5, 12.1]])
    image = (_blobs((64, 64), truth, 1.5) + 0.02).astype(np.float32)
    with unchanged(image):
        found = locator.locate(image)
    assert isinstance(found, PointEstimates), f"locate returned {type(found).__name__}"
    assert found.positions.shape == (3, 2), f"found {len(found)} points, expected 3"
    assert found.uncertainty.shape == (3, 2), "uncertainty must be (N, 2)"
    for point in truth:
        nearest = np.abs(found.positions - point).max(axis=1).min()
        assert nearest < 0.2, f"no point found within 0.2 px of {point}"


def checks(info: ComponentInfo) -> list[Check]:
    """The position estimator checks that apply to ``info``, chosen by its tags (the position estimator
    kind's :attr:`~lamina.kinds.Kind.checks`)."""
    result = [
        Check("position_known_shift", check_known_shift),
        Check("position_uncertainty_reported", check_uncertainty_reported),
        Check("position_bad_input", check_bad_input),
    ]
    if info.tags.deterministic:
        result.append(Check("position_deterministic", check_deterministic))
    if info.tags.locate:
        result.append(Check("position_locate", check_locate))
    return result
