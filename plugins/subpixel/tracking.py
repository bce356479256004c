"""Displacement of every frame of a stack, with its uncertainty."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from lamina.errors import InputError
from lamina.kinds.position_estimator import require_masked_registration
from lamina.plugins.subpixel.checks import as_stack
from lamina.protocols import PositionEstimator
from lamina.types import ShiftEstimate

__all__ = ["Track", "track_stack"]

#: Standard error (fraction of the frame's smaller side) from which a sequential
#: step is a guess that later frames are not registered through.
_GUESS_FRACTION = 0.1


@dataclass
class Track:
    """Displacements (dy, dx) of each frame relative to the reference frame.

    Attributes
    ----------
    displacement : ndarray, shape (N, 2)
        Content displacement of frame i relative to the reference frame (0 there).
    uncertainty : ndarray, shape (N, 2)
        Standard error of each displacement.
    covariance : ndarray, shape (N, 2, 2)
    estimates : list of ShiftEstimate
        The pairwise estimates, one per entry of ``pairs``.
    pairs : list of (int, int)
        (reference frame, moving frame) of each estimate: (reference, i) in
        ``mode="reference"``, (i - 1, i) in ``mode="sequential"`` (or (k, i), k
        the last frame before i whose step was usable, over a bridged frame).
    correlated_steps : bool
        Sequential mode: whether the shared-frame correlation of neighbouring
        steps was used (see :func:`track_stack`).
    """

    mode: str
    reference: int
    displacement: np.ndarray
    uncertainty: np.ndarray
    covariance: np.ndarray
    estimates: list[ShiftEstimate] = field(default_factory=list)
    pairs: list[tuple[int, int]] = field(default_factory=list)
    correlated_steps: bool = False

    def __len__(self) -> int:
        return len(self.displacement)

    def rows(self) -> list[dict[str, Any]]:
        """One record per frame: frame, dy, dx, sigma_dy, sigma_dx, and the peak and
        convergence of the pairwise estimate that ends at this frame."""
        by_frame = {
            moving: estimate
            for (_, moving), estimate in zip(self.pairs, self.estimates, strict=True)
        }
        records = []
        for i, ((dy, dx), (sy, sx)) in enumerate(
            zip(self.displacement, self.uncertainty, strict=True)
        ):
            estimate = by_frame.get(i)
            records.append(
                {
                    "frame": i,
                    "dy": float(dy),
                    "dx": float(dx),
                    "sigma_dy": float(sy),
                    "sigma_dx": float(sx),
                    "peak": None if estimate is None else estimate.diagnostics.get("peak"),
                    "converged": None
                    if estimate is None
                    else estimate.diagnostics.get("converged"),
                }
            )
        return records

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "reference": self.reference,
            "correlated_steps": self.correlated_steps,
            "frames": self.rows(),
        }


def track_stack(
    frames: Any,
    estimator: PositionEstimator | None = None,
    *,
    mode: Literal["reference", "sequential"] = "reference",
    reference: int = 0,
    mask: np.ndarray | None = None,
    progress: Callable[[Iterable[int]], Iterable[int]] | None = None,
) -> Track:
    """Displacement of each frame relative to frame ``reference``.

    Parameters
    ----------
    frames : sequence of 2-D arrays or (N, H, W) array
    estimator : position estimator, optional
        Any object with ``estimate(reference, moving)``; lamina's default
        (``ml-refine``) when omitted.
    mode : {"reference", "sequential"}
        ``"reference"`` registers every frame to the reference frame directly
        (no accumulation of error; needs enough overlap with the reference).
        ``"sequential"`` registers each frame to the previous one and sums the
        steps (follows large or drifting motion and slowly changing scenes); a
        frame whose step is no measurement (no estimate, or a guess with a
        standard error over a tenth of the frame: a blank, corrupt or
        unrecognisable frame) is bridged, the next frame registered to the last
        frame that was.
    reference : int
        Index of the frame whose displacement is zero.
    mask : ndarray of bool, optional
        True where a pixel is valid in every frame (what a fixed camera sees
        through: a static occluder, a burnt-in timestamp, dead pixels are
        False): both images of each pair are registered with it (masked
        registration, which ``estimator`` must have).
    progress : callable, optional
        Wraps the iteration over pairs, e.g. :func:`lamina.progress.track`.

    Notes
    -----
    In sequential mode the covariance of a sum of steps is the sum of the step
    covariances plus twice the covariance of neighbouring steps. Two
    neighbouring steps share a frame, and the noise of that frame enters them
    with opposite signs: with ``ml-refine`` (whose diagnostics carry the part of
    the covariance linear in the noise) the shared part, half the linear
    covariance of each step, is subtracted, so the first-order error of the sum
    telescopes to that of the two end frames and only the noise-times-noise and
    model terms add up along the chain. Without that information the steps are
    combined as independent, which overstates the uncertainty.

    In reference mode every displacement shares the reference frame's noise, so
    the errors of different frames are correlated (positively).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import ndimage
    >>> from skimage import data
    >>> from lamina.plugins.subpixel.tracking import track_stack
    >>> scene = data.camera()[100:228, 100:228] / 255.0
    >>> frames = [np.fft.ifft2(ndimage.fourier_shift(np.fft.fft2(scene), (0.1 * i, -0.2 * i))).real
    ...           for i in range(4)]
    >>> result = track_stack(frames, mode="sequential")
    >>> print(np.round(result.displacement[-1], 3))
    [ 0.3 -0.6]
    """
    stack = as_stack(frames, min_frames=1)
    if mode not in ("reference", "sequential"):
        raise InputError(f"mode must be 'reference' or 'sequential', got {mode!r}")
    count = len(stack)
    if isinstance(reference, bool) or not isinstance(reference, (int, np.integer)):
        raise InputError(f"reference must be a frame index, got {reference!r}")
    if not -count <= reference < count:
        raise InputError(f"reference frame {reference} does not exist in {count} frame(s)")
    reference = int(reference) % count
    if estimator is None:
        from lamina.plugins.subpixel.registration import MLRefine

        estimator = MLRefine()
    register: Callable[..., ShiftEstimate] = estimator.estimate
    if mask is not None:
        require_masked_registration(estimator, "mask")
        mask = np.asarray(mask)
        if mask.dtype != bool or mask.shape != stack[0].shape or not mask.any():
            raise InputError(
                f"mask must be a boolean array of the frames' shape {stack[0].shape} with a "
                f"valid (True) pixel, got {mask.dtype} of shape {mask.shape}"
            )
        register = functools.partial(register, reference_mask=mask, moving_mask=mask)
    wrap = progress if progress is not None else (lambda items: items)
    if mode == "reference":
        return _against_reference(stack, register, reference, wrap)
    return _sequential(stack, register, reference, wrap)


def _covariance(estimate: ShiftEstimate) -> np.ndarray:
    matrix = estimate.diagnostics.get("covariance")
    if matrix is not None:
        return np.asarray(matrix, dtype=np.float64)
    sy, sx = estimate.uncertainty
    return np.diag([sy**2, sx**2])


def _against_reference(
    stack: list[np.ndarray],
    register: Callable[..., ShiftEstimate],
    reference: int,
    wrap: Callable,
) -> Track:
    count = len(stack)
    displacement = np.zeros((count, 2))
    covariance = np.zeros((count, 2, 2))
    estimates = []
    others = [i for i in range(count) if i != reference]
    for i in wrap(others):
        estimate = register(stack[reference], stack[i])
        estimates.append(estimate)
        displacement[i] = estimate.dy, estimate.dx
        covariance[i] = _covariance(estimate)
    uncertainty = np.sqrt(np.einsum("npp->np", covariance))
    pairs = [(reference, i) for i in others]
    return Track("reference", reference, displacement, uncertainty, covariance, estimates, pairs)


def _sequential(
    stack: list[np.ndarray],
    register: Callable[..., ShiftEstimate],
    reference: int,
    wrap: Callable,
) -> Track:
    count = len(stack)
    # links[j] = (parent, j): frame j registered to its parent, the last frame
    # before it whose own link was usable, so one blank or corrupt frame (NaN or a
    # guess with an uncertainty of tens of px) does not take every later frame with it
    parent = np.zeros(count, dtype=int)
    steps = np.zeros((count, 2))  # steps[j]: frame parent[j] -> frame j (steps[0] = 0)
    step_covariance = np.zeros((count, 2, 2))
    linear = np.zeros((count, 2, 2))
    estimates = []
    correlated = True
    anchor = 0
    for j in wrap(range(1, count)):
        estimate = register(stack[anchor], stack[j])
        estimates.append(estimate)
        parent[j] = anchor
        steps[j] = estimate.dy, estimate.dx
        step_covariance[j] = _covariance(estimate)
        first_order = estimate.diagnostics.get("first_order_covariance")
        usable = _usable(estimate, stack[j].shape)
        if first_order is not None:
            linear[j] = np.asarray(first_order, dtype=np.float64)
        elif usable:  # a bridged frame's link ends in it: its own variance is huge
            correlated = False
        if usable:
            anchor = j
    position = np.zeros((count, 2))
    for j in range(1, count):  # (a parent comes before its frames)
        position[j] = position[parent[j]] + steps[j]
    displacement = position - position[reference]
    covariance = _link_covariance(
        parent, step_covariance, linear if correlated else None, reference
    )
    uncertainty = np.sqrt(np.clip(np.einsum("npp->np", covariance), 0.0, None))
    pairs = [(int(parent[j]), j) for j in range(1, count)]
    return Track(
        "sequential", reference, displacement, uncertainty, covariance, estimates, pairs, correlated
    )


def _usable(estimate: ShiftEstimate, shape: tuple[int, ...]) -> bool:
    """Whether later frames may be registered to this step's frame: a finite estimate
    that is more than a guess, its standard error under ``_GUESS_FRACTION`` of the
    frame's smaller side (a blank frame gives NaN, pure noise or a half-read frame
    a guess over the search range, 57-80 px on 96 px frames). An estimate that is
    merely doubtful (``feasible`` False: low SNR everywhere) stays a link: bridging
    every such frame made a noisy stack's sequential track its reference track,
    with 3-13 times the uncertainty."""
    values = [estimate.dy, estimate.dx, *estimate.uncertainty]
    if not np.all(np.isfinite(values)):
        return False
    return max(estimate.uncertainty) < _GUESS_FRACTION * min(shape)


def _link_covariance(
    parent: np.ndarray, links: np.ndarray, linear: np.ndarray | None, reference: int
) -> np.ndarray:
    """Covariance (N, 2, 2) of each frame's displacement from ``reference``: the sum of
    the ``links``' covariances along the links from their last common ancestor down
    to each of the two frames, less (with ``linear``, the links' parts linear in the
    noise) half the linear covariance of either link of each consecutive pair on
    that chain, which share a frame whose noise enters them with opposite signs.

    Linear in the frames (per-frame paths from frame 0 made a 2,000-frame video
    take 9 s and a 10-minute one gigabytes): frames that later frames hang off
    form one chain from frame 0 (each registered to the one before), the others
    are leaves of it, so the common ancestor of two frames is the earlier of their
    places on the chain, and every sum along a path is a difference of prefix sums
    from frame 0.
    """
    count = len(parent)
    frames = np.arange(count)
    inner = np.zeros(count, dtype=bool)
    inner[0] = True
    inner[parent[1:]] = True
    place = np.where(inner, frames, parent)  # a frame's own or its parent's place
    chain = np.flatnonzero(inner)
    after = np.full(count, -1)
    after[chain[:-1]] = chain[1:]  # the next frame on the chain
    total = np.zeros((count, 2, 2))  # links' covariances from frame 0
    shared = np.zeros((count, 2, 2))  # consecutive links' shared terms from frame 0
    for j in range(1, count):
        total[j] = total[parent[j]] + links[j]
        if linear is not None and parent[j]:
            shared[j] = shared[parent[j]] + _shared_frame(linear, parent[j], j)
    common = np.minimum(place, place[reference])
    covariance = total + total[reference] - 2.0 * total[common]
    if linear is not None:
        # the first link below the common ancestor toward each frame (-1: none)
        toward = np.where(parent == common, frames, after[common])
        toward[frames == common] = -1
        toward_reference = np.where(parent[reference] == common, reference, after[common])
        toward_reference[common == reference] = -1
        for first, end in ((toward, frames), (toward_reference, np.full(count, reference))):
            below = (first >= 0) & (common > 0)  # a link above the ancestor too
            covariance -= shared[end] - shared[common]
            covariance[below] += _shared_frame(linear, common[below], first[below])
        junction = (toward >= 0) & (toward_reference >= 0)
        covariance[junction] -= _shared_frame(linear, toward[junction], toward_reference[junction])
    covariance[reference] = 0.0
    return covariance


def _shared_frame(linear: np.ndarray, first: Any, second: Any) -> np.ndarray:
    """What two consecutive links' shared frame adds to their sum's covariance, less
    than independent links: ``-(half + half^T)`` with ``half`` a quarter of their
    linear covariances' sum; returned positive, to be subtracted."""
    half = (linear[first] + linear[second]) / 4.0
    return half + np.swapaxes(half, -1, -2)
