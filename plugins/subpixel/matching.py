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
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import fft, ndimage

from lamina.plugins.subpixel.overlaps import (
    Lags,
    lag_moments,
    lag_table,
    overlap_match,
    overlap_peaks,
    overlap_significance,
)
from lamina.plugins.subpixel.windows import MIN_OVERLAP

__all__ = ["Match", "choose_start", "image_independence", "independence", "secondary_peaks"]

#: Fisher z a match must reach to stand out of chance.
MATCH_Z = 5.0

#: A runner-up within this many Fisher z of the best is not ruled out.
_RUNNER_UP_Z = 4.0

#: Correlation coefficients closer than this are alike whatever their sample
#: counts (see :func:`_rivals`).
_ALIKE = 0.05

#: A second correlation peak at least this fraction of the first is a candidate.
_SECOND_PEAK = 0.5

#: Most second peaks taken as candidates (a repeating scene's nearest aliases;
#: each costs a correlation of its overlaps and of their wrapped alternatives).
_MAX_SECOND_PEAKS = 8

#: Largest side (px) of the crop whose autocorrelation proposes a scene's periods,
#: and the longest lag tried as a fraction of it, per number of axes (a 32 voxel
#: cube's lags out to 3/4 of its side cost half of its registration).
_PERIOD_CROP = {2: 64, 3: 24}
_PERIOD_LAGS = {2: 0.75, 3: 0.5}

#: Correlation coefficient with itself at which a lag may be a scene's period: a
#: repeating scene's at an SNR (std / noise) of 2; natural views' best lags reach
#: 0.3-0.6 (median over crops of scikit-image's pictures), rarely 0.95.
_PERIOD_CORRELATION = 0.8

#: Fisher z a period tried from the best must reach to be an alias (a far one
#: overlaps little: the truth of 48-64 px checkerboard views 35-50 px off scored
#: 2.7-4.6).
_PERIOD_Z = 2.0

#: Most periods of a scene tried from the best match (each both ways).
_MAX_PERIODS = 4

#: Most points of a repeating scene's period lattice searched beyond its peaks.
_MAX_LATTICE = 64

#: Most steps along each period of the lattice (17 points per period, 289 in 2-D).
_LATTICE_REACH = 8

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
    weighted = multiplicity * power
    total = float(np.sum(weighted, dtype=np.float64))
    squares = float(np.sum(weighted * power, dtype=np.float64))
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
        Small views, whose windowed correlation peaks can sit pixels off the match
        or miss it: the best-correlating overlaps of all integer shifts
        (:func:`.overlaps.overlap_significance`) are candidates too, and from the
        winner the start steps to the neighbouring integer shift whose overlap
        correlates more significantly while there is one.
    """
    options: list[np.ndarray] = []
    detail: tuple[np.ndarray, np.ndarray, float] | None = None  # the detail look, once taken
    for peak in peaks:
        alternatives = [np.asarray(peak, dtype=np.float64)]
        if wrap:
            for axis, size in enumerate(reference.shape):
                alternatives += [_wrapped(option, axis, size) for option in alternatives]
        options += alternatives
    if climb:
        # A small view's windowed correlation peaks can all miss its match: every
        # shift's overlap is scored too, in both looks (a checkerboard's edges
        # stand out only in its detail). The overlaps that could win or rival the
        # winner outright (see _rivals: within _RUNNER_UP_Z of the look's best, or
        # standing out of chance) are candidates; the others are not scored, nor
        # known to the lattice search.
        detail = _detail_look(reference, moving)
        for significance in overlap_significance([(reference, moving, independent), detail]):
            floor = min(MATCH_Z, float(np.max(significance)) - _RUNNER_UP_Z)
            options += overlap_peaks(significance, _MAX_SECOND_PEAKS, at_least=floor)
    candidates: list[np.ndarray] = []
    seen: list[list[float]] = []  # the candidates in Python floats (see _distance)
    for option in options:
        values = option.tolist()
        if not any(_distance(values, other) <= 1.0 for other in seen):
            candidates.append(option)
            seen.append(values)
    scored = _Scored(reference, moving, independent, wrap, detail=detail)
    scored.add(candidates)
    if scored.rivals(len(candidates)) or not scored.top >= MATCH_Z:
        # A smooth scene's few independent samples hold its match under MATCH_Z
        # however well it correlates (32 px natural views at SNR 1000, right to
        # 0.03 px, were reported anywhere in the view): the candidates are also
        # judged on the content left when the blur is taken out, which keeps
        # pixel-scale detail, many independent samples. A wrong match stays in
        # doubt on both.
        scored.take_second_look()
    if climb and np.isfinite(scored.top):
        winner = scored.best
        shift, _ = _climb(
            scored.shifts[winner],
            scored.top,
            lambda shift: float(scored.judge([shift])[0][0]),
            max(reference.shape),
        )
        scored.replace(winner, shift)
    best, score = scored.shifts[scored.best], scored.top
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
    peaks_scored = len(scored.shifts)
    # A repeating scene also matches at the best plus any of its periods, where
    # the correlation peaks of views may not show (windows fade them out).
    periods = _periods(reference)
    scored.add([point for period in periods for point in (best + period, best - period)])
    if len(scored.shifts) > peaks_scored and len(scored.looks_at) == 1:
        # an alias far off overlaps little: its few independent samples need the
        # second look too (a 64 px checkerboard view's truth scored 1.8 plain)
        scored.take_second_look()
    if scored.shifts[scored.best] is not best:  # a period won: its periods too
        best = scored.shifts[scored.best]
        scored.add([point for period in periods for point in (best + period, best - period)])
    rivals = scored.rivals(peaks_scored)
    # A repeating scene matches at every point of its period lattice, and its
    # periods show only the nearest few: the lattice that the periods found to
    # match span is searched, and the uncertainty covers every point that matches.
    # (a correlation peak seeds it too when it is a match apart, not the best's lobe)
    repeats = [scored.shifts[i] for i in rivals if i >= peaks_scored or _separated(scored, i)]
    dense = False
    if repeats:
        points, dense = _lattice(
            scored.shifts[scored.best], repeats, reference.shape, scored.shifts, wrap
        )
        lattice = len(scored.shifts)
        scored.add(points)
        rivals = scored.rivals(peaks_scored)
        dense = dense and any(i >= lattice for i in rivals)
    best, score = scored.shifts[scored.best], scored.top
    if not rivals:
        return Match(best, score, spread, warnings)
    offsets = np.abs(np.array([scored.shifts[i] for i in rivals]) - best)
    farthest = scored.shifts[rivals[int(np.argmax(np.max(offsets, axis=1)))]]
    if dense:
        # more aliases than were tried: anywhere in the search range, as a guess
        spread = np.array(reference.shape, dtype=np.float64) / np.sqrt(3.0)
        also = " and many more"
    else:
        spread = np.max(offsets, axis=0) / 2.0
        also = f" and {len(rivals) - 1} more" if len(rivals) > 1 else ""
    warnings.append(
        f"periodic texture: a shift of ({', '.join(f'{v:.0f}' for v in farthest)}) px"
        f"{also} match nearly as well as the estimate"
    )
    return Match(best, score, spread, warnings)


class _Scored:
    """Candidate shifts and how their overlaps correlate
    (:func:`.overlaps.overlap_match`): the Fisher z, the effective sample count, and the look that gave them (0: the
    images, 1: their detail, once :meth:`take_second_look` has taken it; the
    better of the two). A candidate is scored on its integer overlap, so one
    with the same rounded shift as another is not added."""

    def __init__(
        self,
        reference: np.ndarray,
        moving: np.ndarray,
        independent: float,
        wrap: bool,
        *,
        detail: tuple[np.ndarray, np.ndarray, float] | None = None,
    ) -> None:
        self.looks_at = [(reference, moving, independent)]
        self.wrap = wrap
        #: the second look (:func:`_detail_look`) where the caller already took it
        self.detail = detail
        self.shifts: list[np.ndarray] = []
        self.scores = np.zeros(0)
        self.samples = np.zeros(0)
        self.looks = np.zeros(0, dtype=int)
        #: :func:`_rivals` per count of peaks, until the candidates or scores change
        self._rivals: dict[int, list[int]] = {}

    @property
    def best(self) -> int:
        return int(np.argmax(self.scores))

    @property
    def top(self) -> float:
        return float(np.max(self.scores))

    def judge(
        self, shifts: list[np.ndarray], look: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Scores, effective samples and looks of ``shifts``: in ``look``, or the
        better look."""
        if look is not None:
            return self._in_look(shifts, look)
        best = self._in_look(shifts, 0)
        for index in range(1, len(self.looks_at)):
            best = _better(best, self._in_look(shifts, index))
        return best

    def _in_look(
        self, shifts: list[np.ndarray], look: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        reference, moving, independent = self.looks_at[look]
        matches = [overlap_match(reference, moving, s, independent, self.wrap) for s in shifts]
        return (
            np.array([m[0] for m in matches]),
            np.array([m[1] for m in matches]),
            np.full(len(shifts), look),
        )

    def add(self, shifts: list[np.ndarray]) -> None:
        if not shifts:  # (a scene without periods)
            return
        known = {tuple(np.round(s).tolist()) for s in self.shifts}
        fresh = []
        for shift in shifts:
            if (key := tuple(np.round(shift).tolist())) not in known:
                known.add(key)
                fresh.append(np.asarray(shift, dtype=np.float64))
        if not fresh:
            return
        self._rivals.clear()
        scores, samples, looks = self.judge(fresh)
        self.shifts += fresh
        self.scores = np.concatenate([self.scores, scores])
        self.samples = np.concatenate([self.samples, samples])
        self.looks = np.concatenate([self.looks, looks])

    def replace(self, index: int, shift: np.ndarray) -> None:
        self._rivals.clear()
        self.shifts[index] = shift
        scores, samples, looks = self.judge([shift])
        self.scores[index], self.samples[index], self.looks[index] = scores[0], samples[0], looks[0]

    def take_second_look(self) -> None:
        self._rivals.clear()
        reference, moving, _ = self.looks_at[0]
        self.looks_at.append(self.detail or _detail_look(reference, moving))
        # the earlier looks' better scores are known: only the new look is scored
        self.scores, self.samples, self.looks = _better(
            (self.scores, self.samples, self.looks),
            self._in_look(self.shifts, len(self.looks_at) - 1),
        )

    def rivals(self, peaks: int) -> list[int]:
        """:func:`_rivals` with the first ``peaks`` candidates correlation peaks,
        taken once while the candidates and their scores stay as they are (a match
        that needs no second look, in a scene with no periods, asked twice)."""
        if peaks not in self._rivals:
            self._rivals[peaks] = _rivals(self, peaks)
        return self._rivals[peaks]


def _better(
    best: tuple[np.ndarray, np.ndarray, np.ndarray],
    found: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per candidate, the scores, samples and looks of ``found`` where it scores
    higher than ``best`` (the earlier look on a tie)."""
    better = found[0] > best[0]
    return (
        np.where(better, found[0], best[0]),
        np.where(better, found[1], best[1]),
        np.where(better, found[2], best[2]),
    )


def _periods(image: np.ndarray) -> list[np.ndarray]:
    """The lags at which ``image`` resembles itself most outside its main lobe:
    the highest local maxima (at most ``_MAX_PERIODS``) of the correlation
    coefficient of a central crop (at most ``_PERIOD_CROP`` per axis) with
    itself moved by the lag, over lags up to ``_PERIOD_LAGS`` of the crop that
    leave at least ``MIN_OVERLAP`` overlapping, that reach ``_PERIOD_CORRELATION``. A repeating
    scene's periods are among them (a circular autocorrelation of a view, whose
    period does not divide its side, misplaced a checkerboard's by 2 px)."""
    sides = tuple(min(n, _PERIOD_CROP[image.ndim]) for n in image.shape)
    crop = tuple(
        slice((n - m) // 2, (n - m) // 2 + m) for n, m in zip(image.shape, sides, strict=True)
    )
    centred = np.asarray(image[crop], np.float64)
    coefficient = _lag_correlation(centred - centred.mean())
    periods: list[np.ndarray] = []
    for period in secondary_peaks(coefficient, fraction=_PERIOD_CORRELATION, origin=True):
        if not any(np.array_equal(period, -known) for known in periods):  # tried both ways
            periods.append(period)
    return periods[:_MAX_PERIODS]


def _lag_correlation(centred: np.ndarray) -> np.ndarray:
    """The correlation coefficient of the pixels of ``centred`` (mean 0) that
    overlap for each lag of :func:`_period_lags` with the pixels they overlap (1 at
    lag 0; 0 where either side is constant)."""
    covariance, scale = lag_moments(centred, centred, _period_lags(centred.shape))
    coefficient = np.divide(covariance, scale, out=np.zeros_like(covariance), where=scale > 0)
    coefficient[(0,) * centred.ndim] = 1.0
    return coefficient


def _period_lags(sides: tuple[int, ...]) -> Lags:
    """The lags :func:`_periods` tries on a crop of shape ``sides``: up to
    ``_PERIOD_LAGS`` of it, leaving at least ``MIN_OVERLAP`` and a quarter of it."""
    lag = _PERIOD_LAGS[len(sides)]
    reach = tuple(max(min(m - max(m // 4, MIN_OVERLAP), int(lag * m)), 1) for m in sides)
    return lag_table(sides, reach)


def _lattice(
    best: np.ndarray,
    rivals: list[np.ndarray],
    shape: tuple[int, ...],
    known: list[np.ndarray],
    views: bool,
) -> tuple[list[np.ndarray], bool]:
    """The points of the period lattice that the rivals' offsets from ``best`` span
    (its shortest independent offsets as basis) inside the search range (views:
    an overlap of ``MIN_OVERLAP`` per axis; circular: half the size), not already
    ``known``, nearest to ``best`` first; and whether the range holds more of
    them than ``_MAX_LATTICE`` (then only the nearest are returned: the match may
    be anywhere in the range)."""
    offsets = sorted((np.round(r - best) for r in rivals), key=lambda v: float(np.max(np.abs(v))))
    basis = [offsets[0]]
    for offset in offsets[1:]:
        stacked = np.array([*basis, offset])
        if len(basis) < len(shape) and np.linalg.matrix_rank(stacked) > len(basis):
            basis.append(offset)
    sizes = np.array(shape, dtype=np.float64)
    limit = sizes - np.minimum(MIN_OVERLAP, sizes) if views else sizes / 2
    wanted = [int(np.ceil(2 * np.max(limit) / np.max(np.abs(v)))) for v in basis]
    reach = [min(r, _LATTICE_REACH) for r in wanted]
    grids = np.meshgrid(*(np.arange(-r, r + 1) for r in reach), indexing="ij")
    coefficients = np.stack([grid.ravel() for grid in grids], axis=1)
    points = best + coefficients @ np.array(basis)
    inside = np.all(np.abs(points) <= limit, axis=1)
    # a point on a capped step count still inside the range: the lattice goes on
    capped = [
        (np.abs(coefficients[:, k]) == r) & (w > r)
        for k, (r, w) in enumerate(zip(reach, wanted, strict=True))
    ]
    points = points[inside]
    dense = len(points) > _MAX_LATTICE or bool(np.any(inside & np.any(capped, axis=0)))
    if known:  # the same integer overlap as a known candidate
        gaps = np.max(np.abs(np.round(points)[:, None] - np.round(known)[None]), axis=2)
        points = points[np.all(gaps > 0, axis=1)]
    points = points[np.argsort(np.max(np.abs(points - best), axis=1), kind="stable")]
    return list(points[:_MAX_LATTICE]), dense


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


#: The integer steps to a shift's neighbours, per number of axes.
_NEIGHBOURS = {
    axes: [o for o in itertools.product((-1, 0, 1), repeat=axes) if any(o)] for axes in (2, 3)
}


def _detail_look(reference: np.ndarray, moving: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The pair's detail (:func:`_detail`) and the fraction of its pixels that vary
    independently (:func:`independence`)."""
    sharp = [_detail(np.asarray(image, np.float64)) for image in (reference, moving)]
    return sharp[0], sharp[1], image_independence(sharp)


def _detail(image: np.ndarray) -> np.ndarray:
    """``image`` less its Gaussian blur (``_HIGH_PASS_SIGMA``), mean removed."""
    # in place, in the blur's array: a large view's fresh temporaries took pages
    sharp = ndimage.gaussian_filter(image, _HIGH_PASS_SIGMA, mode="nearest")
    np.subtract(image, sharp, out=sharp)
    sharp -= sharp.mean()
    return sharp


def image_independence(images: list[np.ndarray]) -> float:
    """:func:`independence` of real ``images`` (mean removed) from their summed power
    on the half spectrum."""
    return independence(*_half_power(images))


def _half_power(images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The summed power spectra of real ``images`` on the half spectrum of a real
    FFT, and how many bins of the full spectrum each stands for (a real image's
    spectrum is symmetric: the full complex FFTs took seven times as long), one
    image at a time, summed in their order (stacking them took a copy of both)."""
    shapes = {image.shape for image in images}
    if len(shapes) != 1:
        raise ValueError(f"images of one shape expected, got shapes {sorted(shapes)}")
    dtype = np.result_type(*images)  # (mixed precisions summed in the wider, as stacked)
    power: np.ndarray | None = None
    for image in images:
        spectrum = fft.rfftn(image.astype(dtype, copy=False))
        square = spectrum.real**2 + spectrum.imag**2
        if power is None:
            power = square
        else:
            power += square
    assert power is not None  # (at least one image)
    multiplicity = np.full(power.shape, 2.0)
    # the last axis's zero (and, for even sizes, Nyquist) frequency is its own mirror
    multiplicity[..., 0] = 1.0
    if images[0].shape[-1] % 2 == 0:
        multiplicity[..., -1] = 1.0
    return power, multiplicity


def _rivals(scored: _Scored, peaks: int) -> list[int]:
    """The candidates, more than 1.5 px away from the best, that match nearly as
    well: what puts a match in doubt and, past the second look, widens its spread.
    The first ``peaks`` candidates are correlation peaks, the others a scene's
    periods tried from the best.

    Nearly as well is either of: a significance within ``_RUNNER_UP_Z`` of the
    best's; or a separate match (the overlap halfway to the best correlates
    significantly worse than both) that stands out of chance itself and whose
    correlation does not differ significantly from the best's (Fisher
    z-transforms within ``_RUNNER_UP_Z`` standard errors) or by more than
    ``_ALIKE`` (noise-free aliases differ by what their overlaps' borders hold,
    not by sampling: 0.95 against 0.99 for a checkerboard's). The second catches
    repeating scenes, whose aliases correlate as well as the match but over a
    smaller overlap: significance grows with the overlap, so a checkerboard view
    moved by (16, 1) px was matched at its alias (-9, -24), 25 px off, reporting
    0.001 px. The valley keeps a smooth scene's broad correlation peak, where a
    shift 6 px off correlates nearly as well at low SNR, from counting as one; a
    period tried from the best needs it in either case (a correlation peak is a
    separate match already). The valley is measured in the candidate's own look.
    """
    # the loop reads Python floats: numpy's scalar overhead was most of its time
    scores, samples, shifts = scored.scores.tolist(), scored.samples.tolist(), scored.shifts
    best = scored.best
    best_values = shifts[best].tolist()
    # atanh(r) of each candidate's overlap
    transformed = (scored.scores / np.sqrt(scored.samples)).tolist()
    found = []
    for index in np.argsort(scored.scores)[::-1].tolist():
        if index == best or _distance(shifts[index].tolist(), best_values) <= 1.5:
            continue
        close = scores[index] >= scores[best] - _RUNNER_UP_Z
        if close and index < peaks:
            found.append(index)
            continue
        error = math.sqrt(1.0 / samples[index] + 1.0 / samples[best])
        alike = transformed[best] - transformed[index] <= _RUNNER_UP_Z * error or (
            np.tanh(transformed[best]) - np.tanh(transformed[index]) <= _ALIKE
        )
        # a period of the scene is an alias in its own right: it need only stand
        # out of chance at _PERIOD_Z (far ones overlap little)
        significant = scores[index] >= (MATCH_Z if index < peaks else _PERIOD_Z)
        if not close and not (significant and alike):
            continue
        if _separated(scored, index):
            found.append(index)
    return found


def _separated(scored: _Scored, index: int) -> bool:
    """Whether candidate ``index`` is a match apart from the best: the overlap halfway
    between them correlates worse than it by ``_PERIOD_Z`` standard errors, in its
    own look."""
    shift, samples = scored.shifts[index], scored.samples[index]
    middle = np.round((shift + scored.shifts[scored.best]) / 2)
    middle_score, middle_samples, _ = scored.judge([middle], look=int(scored.looks[index]))
    dip = np.sqrt(1.0 / samples + 1.0 / middle_samples[0])
    transformed = scored.scores[index] / np.sqrt(samples)
    return bool(transformed - middle_score[0] / np.sqrt(middle_samples[0]) > _PERIOD_Z * dip)


def secondary_peaks(
    surface: np.ndarray, *, fraction: float = _SECOND_PEAK, origin: bool = False
) -> list[np.ndarray]:
    """The local maxima of a circular correlation ``surface`` outside the main
    peak's lobe that reach ``fraction`` of the main peak (by default half: a
    repeating scene), highest first
    (at most ``_MAX_SECOND_PEAKS``), as shifts in (-size/2, size/2].

    The lobe is the box around the peak out to where the axis profiles through it
    first fall below half the peak, doubled; with ``origin`` the main peak is taken
    at index 0 (an autocorrelation's zero lag). A repeating scene correlates at every
    point of its period lattice: the match may be any of them (the alias with the
    larger overlap often correlates highest), so all are candidates.
    """
    if origin:
        peak: tuple[int, ...] = (0,) * surface.ndim
    else:
        peak = tuple(int(i) for i in np.unravel_index(int(np.argmax(surface)), surface.shape))
    top = float(surface[peak])
    if top <= 0:
        return []
    # half the peak in the surface's precision, as numpy compares the surface with it
    half_top = float(np.result_type(surface.dtype, 0.5).type(0.5 * top))
    lobe = []  # per axis, the lobe's first index (modulo the size) and its width
    for axis, size in enumerate(surface.shape):
        line: tuple[Any, ...] = (*peak[:axis], slice(None), *peak[axis + 1 :])
        # the profile in Python floats, walked from the peak until it falls below
        # half: a few steps either way (numpy's calls on the whole profile, both
        # ways round, cost more: a scene's periods' 97 x 97 surface 54 -> 46 us)
        profile = surface[line].tolist()
        half, at = size // 2, peak[axis]
        reach = [_fall(profile, at, step, half, half_top) for step in (1, -1)]
        width = min(2 * max(reach), half)
        lobe.append((at - width, min(2 * width + 1, size)))
    if all(width == size for (_, width), size in zip(lobe, surface.shape, strict=True)):
        return []  # the lobe covers the whole surface
    if _max_outside(surface, lobe) < fraction * top:
        return []  # (most scenes: the local maxima below are not looked for)
    # the lobe blanked in a mask (its local maxima are looked for on the rare
    # surfaces with a second peak high enough, see _max_outside)
    inside = np.zeros(surface.shape, dtype=bool)
    for box in itertools.product(
        *(
            _cyclic(start, width, size)
            for (start, width), size in zip(lobe, surface.shape, strict=True)
        )
    ):
        inside[box] = True
    outside = np.where(inside, surface.dtype.type(-np.inf), surface)
    local = (outside >= fraction * top) & (
        outside == ndimage.maximum_filter(outside, size=3, mode="wrap")
    )
    found = np.flatnonzero(local)
    found = found[np.argsort(outside.flat[found])[::-1][:_MAX_SECOND_PEAKS]]
    return [
        np.array(
            [s - n if s > n / 2 else s for s, n in zip(point, surface.shape, strict=True)],
            dtype=np.float64,
        )
        for point in zip(*np.unravel_index(found, surface.shape), strict=True)
    ]


def _fall(profile: list[float], at: int, step: int, half: int, limit: float) -> int:
    """Steps (1 to ``half - 1``) from ``at`` along the cyclic ``profile``, one way
    (``step`` 1 or -1), to its first value under ``limit``; ``half`` where there is none."""
    size = len(profile)
    for distance in range(1, half):
        if profile[(at + step * distance) % size] < limit:
            return distance
    return half


def _cyclic(start: int, width: int, size: int) -> list[slice]:
    """The indices ``start .. start + width - 1`` modulo ``size`` (``width`` at most
    ``size``) as at most two slices."""
    start %= size
    if start + width <= size:
        return [slice(start, start + width)]
    return [slice(start, size), slice(0, start + width - size)]


def _max_outside(surface: np.ndarray, lobe: list[tuple[int, int]]) -> float:
    """Largest value of ``surface`` outside the box of the axes' cyclic intervals
    ``lobe`` (first index, width), which does not cover it: the maxima of the
    views that tile the rest (outside on an axis, inside on the axes before it,
    anything on the axes after); no copy and no mask (a masked maximum of a
    256 x 256 surface took 3x a plain one, and building the mask as long)."""
    parts = []
    for axis, ((start, width), size) in enumerate(zip(lobe, surface.shape, strict=True)):
        if width == size:
            continue
        before = [
            _cyclic(s, w, n) for (s, w), n in zip(lobe[:axis], surface.shape[:axis], strict=True)
        ]
        for outside in _cyclic(start + width, size - width, size):
            for inside in itertools.product(*before):
                parts.append(np.max(surface[(*inside, outside)]))
    return float(np.max(parts))


def _distance(first: list[float], second: list[float]) -> float:
    """Largest per-axis difference of two shifts, given as Python floats: numpy's
    call overhead on two-element arrays, over every pair of candidates, took 3 % of
    a registration."""
    return max(abs(a - b) for a, b in zip(first, second, strict=True))


def _wrapped(shift: np.ndarray, axis: int, size: int) -> np.ndarray:
    other = shift.copy()
    other[axis] -= (1.0 if other[axis] >= 0 else -1.0) * size
    return other
