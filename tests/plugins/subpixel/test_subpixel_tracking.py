"""Tracking a stack: displacements against a reference and accumulated steps."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import lamina
from lamina.plugins.subpixel.peers import PhaseCorrelation
from lamina.plugins.subpixel.registration import MLRefine
from lamina.plugins.subpixel.tracking import track_stack


def drifting_stack(scene, shifted, steps, sigma, rng):
    positions = np.cumsum(np.vstack([[0.0, 0.0], steps]), axis=0)
    frames = [shifted(scene, p) + rng.normal(0, sigma, scene.shape) for p in positions]
    return frames, positions


@pytest.mark.parametrize("mode", ["reference", "sequential"])
def test_known_drift_is_recovered(scene, shifted, mode):
    rng = np.random.default_rng(0)
    steps = np.tile([0.23, -0.41], (5, 1))
    frames, positions = drifting_stack(scene[:96, :96], shifted, steps, 0.01, rng)
    track = track_stack(frames, mode=mode)
    assert track.displacement.shape == (6, 2)
    error = track.displacement - positions
    assert np.all(np.abs(error[1:]) < 4 * track.uncertainty[1:])
    assert np.all(track.displacement[0] == 0) and np.all(track.uncertainty[0] == 0)
    assert len(track.estimates) == len(track.pairs) == 5


def test_reference_frame_can_be_any_frame(scene, shifted):
    rng = np.random.default_rng(1)
    frames, positions = drifting_stack(scene[:96, :96], shifted, [[0.5, 0.1]] * 3, 0.005, rng)
    for mode in ("reference", "sequential"):
        track = track_stack(frames, mode=mode, reference=2)
        assert np.allclose(track.displacement, positions - positions[2], atol=0.01)
        assert track.uncertainty[2].tolist() == [0.0, 0.0]
        assert track.reference == 2


def test_sequential_uncertainty_accounts_for_shared_frames(scene, shifted):
    # The first-order error of a sum of steps telescopes: the reported standard
    # error of the last frame must match the spread over noise seeds, and be far
    # below the sum of independent step variances after 7 steps.
    crop = scene[16:80, 16:80]
    rng = np.random.default_rng(5)
    steps = np.tile([0.31, 0.17], (7, 1))
    last_errors, reported, independent = [], [], []
    for _ in range(24):
        frames, positions = drifting_stack(crop, shifted, steps, 0.03, rng)
        track = track_stack(frames, mode="sequential")
        assert track.correlated_steps
        last_errors.append(track.displacement[-1] - positions[-1])
        reported.append(track.uncertainty[-1])
        independent.append(np.sqrt(sum(np.square(e.uncertainty) for e in track.estimates)))
    z = np.array(last_errors) / np.array(reported)
    assert np.all((z.std(axis=0) > 0.6) & (z.std(axis=0) < 1.5)), z.std(axis=0)
    assert np.all(np.mean(reported, axis=0) < 0.7 * np.mean(independent, axis=0))


def test_estimators_without_linear_covariance_combine_independently(scene, shifted):
    rng = np.random.default_rng(2)
    frames, _ = drifting_stack(scene[:64, :64], shifted, [[0.3, 0.3]] * 3, 0.01, rng)
    track = track_stack(frames, PhaseCorrelation(upsample_factor=50), mode="sequential")
    assert not track.correlated_steps
    variances = np.cumsum([np.square(e.uncertainty) for e in track.estimates], axis=0)
    assert np.allclose(track.uncertainty[1:], np.sqrt(variances))


class _ScriptedSteps:
    """An estimator whose answers come from a list: frame k's step to whatever frame
    it is registered to is ``steps[k]``, with covariance ``covariances[k]`` and linear
    part ``linear[k]``; a NaN step is a blank frame (bridged)."""

    def __init__(self, steps, covariances, linear):
        self.steps, self.covariances, self.linear = steps, covariances, linear

    def estimate(self, reference, moving):
        k = int(moving[0, 0])
        sigma = np.sqrt(np.diag(self.covariances[k]))
        return lamina.ShiftEstimate(
            *self.steps[k],
            tuple(sigma),
            {
                "covariance": self.covariances[k].tolist(),
                "first_order_covariance": self.linear[k].tolist(),
            },
        )


def _chain_covariance(parent, covariances, linear, frame, reference):
    """The covariance of frame's displacement from reference, link by link along the
    chain between them (written independently of tracking.py's prefix sums)."""

    def path(k):
        links = []
        while k:
            links.append(k)
            k = parent[k]
        return links[::-1]

    ours, theirs = path(frame), path(reference)
    common = 0
    while common < min(len(ours), len(theirs)) and ours[common] == theirs[common]:
        common += 1
    chain = theirs[common:][::-1] + ours[common:]
    total = sum((covariances[k] for k in chain), np.zeros((2, 2)))
    for first, second in itertools.pairwise(chain):
        half = (linear[first] + linear[second]) / 4.0
        total = total - half - half.T
    return total


@pytest.mark.parametrize("reference", [0, 7, 2999])
def test_sequential_covariance_follows_the_links_for_long_stacks(reference):
    # Every frame's path from frame 0 made sequential tracking quadratic: 2,000 frames
    # took 9 s in the covariance alone (now a few tenths for 3,000), a 10-minute video
    # gigabytes. Blank frames (every 50th from 5) are bridged: the next frame is
    # registered to the last good one.
    count = 3000
    rng = np.random.default_rng(reference)
    steps = rng.normal(0, 0.3, (count, 2))
    steps[5::50] = np.nan
    root = rng.normal(size=(count, 2, 2)) * 0.01
    covariances = root @ np.swapaxes(root, 1, 2) + 1e-4 * np.eye(2)
    linear = 0.8 * covariances
    frames = [np.full((8, 8), float(k)) for k in range(count)]
    estimator = _ScriptedSteps(steps, covariances, linear)
    track = track_stack(frames, estimator, mode="sequential", reference=reference)
    parent, last = np.zeros(count, dtype=int), 0
    for k in range(1, count):
        parent[k], last = last, (last if np.isnan(steps[k, 0]) else k)
    for frame in rng.choice(count, 40, replace=False):
        expected = _chain_covariance(parent, covariances, linear, frame, reference)
        np.testing.assert_allclose(track.covariance[frame], expected, rtol=1e-9, atol=1e-15)
    assert track.pairs[-1] == (int(parent[-1]), count - 1)


def test_rows_and_progress(scene, shifted):
    rng = np.random.default_rng(3)
    frames, _ = drifting_stack(scene[:64, :64], shifted, [[0.2, 0.0]] * 2, 0.01, rng)
    seen = []

    def progress(items):
        for item in items:
            seen.append(item)
            yield item

    track = track_stack(np.stack(frames), MLRefine(), progress=progress)
    assert seen == [1, 2]
    rows = track.rows()
    assert [r["frame"] for r in rows] == [0, 1, 2]
    assert rows[0]["peak"] is None and rows[1]["converged"] is True
    assert set(track.as_dict()) == {"mode", "reference", "correlated_steps", "frames"}


@pytest.mark.parametrize(
    "kwargs",
    [{"mode": "both"}, {"reference": 5}, {"reference": 1.5}],
)
def test_bad_arguments(scene, kwargs):
    frames = [scene[:32, :32]] * 3
    with pytest.raises(lamina.InputError):
        track_stack(frames, **kwargs)


def test_bad_stacks(scene):
    with pytest.raises(lamina.InputError):
        track_stack([scene[:32, :32], scene[:40, :40]])
    with pytest.raises(lamina.InputError):
        track_stack([])
    with pytest.raises(lamina.InputError):
        track_stack(scene[:32, :32])  # one 2-D image is not a stack


@pytest.mark.parametrize("mode", ["reference", "sequential"])
def test_a_mask_leaves_static_content_out_of_every_pair(scene, shifted, mode):
    # A burnt-in label (textured, the same in every frame) holds a match at zero
    # shift: with it masked out, each pair is what masked registration gives, and
    # the drift is recovered within the uncertainty.
    rng = np.random.default_rng(4)
    frames, positions = drifting_stack(scene[:96, :96], shifted, [[0.6, -0.9]] * 3, 0.005, rng)
    label = rng.random((30, 60))
    for frame in frames:
        frame[60:90, 20:80] = label
    mask = np.ones((96, 96), bool)
    mask[58:92, 18:82] = False
    track = track_stack(frames, mode=mode, mask=mask)
    for (first, second), estimate in zip(track.pairs, track.estimates, strict=True):
        expected = MLRefine().estimate(
            frames[first], frames[second], reference_mask=mask, moving_mask=mask
        )
        assert (estimate.dy, estimate.dx) == (expected.dy, expected.dx)
    error = track.displacement - positions
    assert np.all(np.abs(error[1:]) < 5 * track.uncertainty[1:])
    assert np.max(track.uncertainty) < 0.05
    unmasked = track_stack(frames, mode=mode)
    assert np.max(np.abs(unmasked.displacement - positions)) > 0.1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mask": np.ones((32, 40), bool)}, "shape"),
        ({"mask": np.ones((32, 32), np.uint8)}, "boolean"),
        ({"mask": np.zeros((32, 32), bool)}, "valid"),
        ({"mask": np.ones((32, 32), bool), "estimator": PhaseCorrelation()}, "masked registration"),
    ],
    ids=["shape", "dtype", "empty", "estimator"],
)
def test_bad_masks(scene, kwargs, message):
    with pytest.raises(lamina.InputError, match=message):
        track_stack([scene[:32, :32]] * 3, **kwargs)
