"""The integer start of a registration: which correlation peak, and how sure.

A circular correlation cannot tell a shift ``d`` from ``d - N``, and a view that
shares only a corner with the other hides its match in the tapers of a window.
So the start is chosen among candidates (the peaks of several correlation
surfaces and their wrapped alternatives) by how significantly the pixels they
overlap correlate. Two doubts are reported rather than hidden:

- the best match does not stand out of chance (low SNR, or an overlap too small
  to carry the match): the estimate may be anywhere, and its uncertainty says so;
- another candidate matches nearly as well (periodic or repetitive scenes): the
  uncertainty covers it.

Smooth content counts as few independent samples, so a small view's match can
stay in doubt however well it correlates; before a doubt is reported, the
candidates get a second look with the smooth content taken out.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from lamina.plugins.subpixel.windows import MIN_OVERLAP

__all__ = ["Match", "choose_start", "independence", "secondary_peak"]

#: Fisher z a match must reach to stand out of chance.
MATCH_Z = 5.0

#: A runner-up within this many Fisher z of the best is not ruled out.
_RUNNER_UP_Z = 4.0

#: Most pixels used to correlate an overlap (a strided subsample beyond that).
_MAX_SAMPLES = 16384

#: A second correlation peak at least this fraction of the first is a candidate.
_SECOND_PEAK = 0.5

#: Standard deviation (px) of the Gaussian blur a doubtful match's second look
#: subtracts: what is left varies nearly independently from pixel to pixel (32 px
#: natural views: 0.05-0.6 of the pixels instead of 0.004-0.1).
_HIGH_PASS_SIGMA = 1.5


@dataclass
class Match:
    """The chosen start, its significance, and the doubts about it."""

    shift: np.ndarray
    score: float
    #: Per-axis standard deviation the doubts add to the estimate's uncertainty.
    spread: np.ndarray
    warnings: list[str] = field(default_factory=list)


def independence(power: np.ndarray, multiplicity: np.ndarray) -> float:
    """Fraction of a scene's pixels that vary independently: ``(sum P)**2 / (N sum P**2)``
    over the ``N`` bins of its power spectrum ``P`` (1 for white texture, small for
    smooth scenes, whose neighbouring pixels say the same thing)."""
    total = float(np.sum(multiplicity * power, dtype=np.float64))
    squares = float(np.sum(multiplicity * power * power, dtype=np.float64))
    bins = float(np.sum(multiplicity, dtype=np.float64))
    if total <= 0 or squares <= 0:
        return 1.0
    return min(1.0, total**2 / (bins * squares))


def choose_start(
    reference: np.ndarray,
    moving: np.ndarray,
    peaks: list[np.ndarray],
    *,
    wrap: bool,
    independent: float,
    climb: bool = False,
) -> Match:
    """The candidate whose overlap correlates most significantly.

    Parameters
    ----------
    reference, moving : ndarray
        The images (unwindowed).
    peaks : list of ndarray
        Correlation peaks (dy, dx), in (-size/2, size/2].
    wrap : bool
        Also try each peak's wrapped alternatives ``d - sign(d) N`` per axis (views
        of a larger scene; not for circular translates).
    independent : float
        :func:`independence` of the scene: the effective sample count of ``n``
        overlapping pixels is ``n * independent``.
    climb : bool
        From the winner, step to the neighbouring integer shift whose overlap
        correlates more significantly while there is one (small views, whose
        windowed correlation peaks can sit pixels off the match).
    """
    candidates: list[np.ndarray] = []
    for peak in peaks:
        options = [np.asarray(peak, dtype=np.float64)]
        if wrap:
            for axis, size in enumerate(reference.shape):
                options += [_wrapped(option, axis, size) for option in options]
        for option in options:
            if not any(_distance(option, seen) <= 1.0 for seen in candidates):
                candidates.append(option)
    scores = _scores(reference, moving, candidates, independent, wrap)
    sharp: list[np.ndarray] = []
    detail = 1.0
    if _in_doubt(scores, candidates):
        # A smooth scene's few independent samples hold its match under MATCH_Z
        # however well it correlates (32 px natural views at SNR 1000, right to
        # 0.03 px, were reported anywhere in the view): the candidates are also
        # judged on the content left when the blur is taken out, which keeps
        # pixel-scale detail, many independent samples. A wrong match stays in
        # doubt on both.
        sharp += [_detail(np.asarray(image, np.float64)) for image in (reference, moving)]
        power = np.abs(np.fft.fftn(sharp[0])) ** 2 + np.abs(np.fft.fftn(sharp[1])) ** 2
        detail = independence(power, np.ones(power.shape))
        scores = np.maximum(scores, _scores(sharp[0], sharp[1], candidates, detail, wrap))
    order = np.argsort(scores)[::-1]
    best = candidates[order[0]]
    score = float(scores[order[0]])
    if climb and np.isfinite(score):

        def score_of(shift: np.ndarray) -> float:
            value = _overlap_significance(reference, moving, shift, independent, wrap)
            if sharp:
                value = max(value, _overlap_significance(sharp[0], sharp[1], shift, detail, wrap))
            return value

        best, score = _climb(best, score, score_of, max(reference.shape))
        candidates[order[0]], scores[order[0]] = best, score
    spread = np.zeros(len(best))
    warnings: list[str] = []
    if not score >= MATCH_Z:
        # A guess anywhere in the search range: uniform over (-N, N) per axis.
        spread = np.array(reference.shape, dtype=np.float64) / np.sqrt(3.0)
        warnings.append(
            f"low SNR: the best match stands only {max(score, 0.0):.1f} standard errors above "
            "chance (noise, or an overlap too small to carry it); the estimate may be anywhere"
        )
        return Match(best, score, spread, warnings)
    rival = _rival(scores, candidates, order)
    if rival is not None:
        other = candidates[rival]
        spread = np.maximum(spread, np.abs(other - best) / 2.0)
        warnings.append(
            f"periodic texture: a shift of ({', '.join(f'{v:.0f}' for v in other)}) px matches "
            "nearly as well as the estimate"
        )
    return Match(best, score, spread, warnings)


def _climb(
    start: np.ndarray, score: float, score_of: Callable[[np.ndarray], float], limit: int
) -> tuple[np.ndarray, float]:
    """Greedy ascent of ``score_of`` over integer shifts from ``start`` (its score
    ``score``), by steps that gain more than ``_RUNNER_UP_Z`` (smaller gains are
    chance at low SNR, and walked noisy 16 px views off their match): ``start``
    itself when no neighbour gains that much, else the integer shift where none
    does. A 20 px view of camera moved by (0, 2) px correlated best,
    windowed, at (0.1, 0.6), whose overlap scores 13 against the match's 137, and
    was refined to a neighbouring fit 3 px off. At most ``limit`` steps."""
    current, best = np.round(start), score
    steps = [np.array(offset, dtype=np.float64) for offset in _NEIGHBOURS[len(start)]]
    for _ in range(limit):
        values = [score_of(current + step) for step in steps]
        top = int(np.argmax(values))
        if not values[top] > best + _RUNNER_UP_Z:
            break
        current, best = current + steps[top], values[top]
    return (start, score) if best == score else (current, best)


def _scores(
    reference: np.ndarray,
    moving: np.ndarray,
    candidates: list[np.ndarray],
    independent: float,
    wrap: bool,
) -> np.ndarray:
    return np.array(
        [_overlap_significance(reference, moving, c, independent, wrap) for c in candidates]
    )


#: The integer steps to a shift's neighbours, per number of axes.
_NEIGHBOURS = {
    axes: [o for o in itertools.product((-1, 0, 1), repeat=axes) if any(o)] for axes in (2, 3)
}


def _detail(image: np.ndarray) -> np.ndarray:
    """``image`` less its Gaussian blur (``_HIGH_PASS_SIGMA``), mean removed."""
    sharp = image - ndimage.gaussian_filter(image, _HIGH_PASS_SIGMA, mode="nearest")
    return sharp - sharp.mean()


def _in_doubt(scores: np.ndarray, candidates: list[np.ndarray]) -> bool:
    """Whether the best candidate fails to stand out of chance, or another one more
    than 1.5 px away matches nearly as well."""
    best = int(np.argmax(scores))
    if not scores[best] >= MATCH_Z:
        return True
    others = [index for index in range(len(candidates)) if index != best]
    return _rival(scores, candidates, [best, *others]) is not None


def _rival(
    scores: np.ndarray, candidates: list[np.ndarray], order: np.ndarray | list[int]
) -> int | None:
    """The first candidate after ``order[0]`` (the best) in ``order`` that matches
    nearly as well (within ``_RUNNER_UP_Z``) more than 1.5 px away from it: what
    puts a match in doubt and, past the second look, widens its spread."""
    best = order[0]
    for index in order[1:]:
        if (
            scores[index] >= scores[best] - _RUNNER_UP_Z
            and _distance(candidates[index], candidates[best]) > 1.5
        ):
            return int(index)
    return None


def secondary_peak(surface: np.ndarray) -> np.ndarray | None:
    """The highest value of a circular correlation ``surface`` outside the main
    peak's lobe, as a shift in (-size/2, size/2], when it reaches half the main peak
    (a repeating scene); None otherwise.

    The lobe is the box around the peak out to where the axis profiles through it
    first fall below half the peak, doubled.
    """
    peak = np.unravel_index(int(np.argmax(surface)), surface.shape)
    top = float(surface[peak])
    if top <= 0:
        return None
    index: list[np.ndarray] = []
    for axis, size in enumerate(surface.shape):
        profile = np.moveaxis(surface, axis, 0)[(slice(None), *np.delete(peak, axis))]
        ahead = np.roll(profile, -peak[axis])[: size // 2]
        behind = np.roll(profile[::-1], peak[axis] + 1)[: size // 2]
        reach = [int(np.argmax(side < 0.5 * top)) or size // 2 for side in (ahead, behind)]
        half = min(2 * max(reach), size // 2)
        index.append(np.arange(peak[axis] - half, peak[axis] + half + 1) % size)
    if all(np.unique(i).size == n for i, n in zip(index, surface.shape, strict=True)):
        return None  # the lobe covers the whole surface
    outside = surface.copy()
    outside[np.ix_(*index)] = -np.inf
    flat = int(np.argmax(outside))
    if surface.flat[flat] < _SECOND_PEAK * top:
        return None
    second = np.unravel_index(flat, surface.shape)
    return np.array(
        [s - n if s > n / 2 else s for s, n in zip(second, surface.shape, strict=True)],
        dtype=np.float64,
    )


def _distance(first: np.ndarray, second: np.ndarray) -> float:
    """Largest per-axis difference of two shifts, in Python floats: numpy's call
    overhead on two-element arrays, over every pair of candidates, took 3 % of a
    registration."""
    return max(abs(a - b) for a, b in zip(first.tolist(), second.tolist(), strict=True))


def _wrapped(shift: np.ndarray, axis: int, size: int) -> np.ndarray:
    other = shift.copy()
    other[axis] -= (1.0 if other[axis] >= 0 else -1.0) * size
    return other


def _overlap_significance(
    reference: np.ndarray,
    moving: np.ndarray,
    shift: np.ndarray,
    independent: float,
    views: bool = True,
) -> float:
    """Fisher z-score ``atanh(r) sqrt(n_eff - 3)`` of the correlation ``r`` of the
    pixels that overlap for the integer part of ``shift`` (``moving[y + dy, x + dx]``
    against ``reference[y, x]``), ``n_eff`` their effective number: a good match over
    a large overlap beats a chance match over a sliver, and smooth scenes count as
    the few samples they are. Circular translates (``views=False``) overlap
    everywhere."""
    steps = np.round(shift).astype(int)
    if not views:
        moving = np.roll(moving, tuple(-steps), axis=tuple(range(moving.ndim)))
        steps = np.zeros_like(steps)
    slices_r, slices_m = [], []
    count = 1
    for step, size in zip(steps, reference.shape, strict=True):
        if abs(step) > size - min(MIN_OVERLAP, size):
            return -np.inf
        slices_r.append(slice(max(0, -step), min(size, size - step)))
        slices_m.append(slice(max(0, step), min(size, size + step)))
        count *= size - abs(step)
    stride = max(1, int(np.ceil(np.sqrt(count / _MAX_SAMPLES))))
    sampled_r = tuple(slice(s.start, s.stop, stride) for s in slices_r)
    sampled_m = tuple(slice(s.start, s.stop, stride) for s in slices_m)
    first = reference[sampled_r].astype(np.float64).ravel()
    second = moving[sampled_m].astype(np.float64).ravel()
    first -= first.mean()
    second -= second.mean()
    # einsum, not BLAS dot: threaded BLAS stalls for milliseconds on busy cores
    denominator = np.sqrt(np.einsum("i,i->", first, first) * np.einsum("i,i->", second, second))
    if denominator <= 0:
        return -np.inf
    product = np.einsum("i,i->", first, second)
    correlation = float(np.clip(product / denominator, -0.999999, 0.999999))
    effective = max(count * independent - 3.0, 1.0)
    return float(np.arctanh(correlation) * np.sqrt(effective))
