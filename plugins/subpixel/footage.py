"""Real footage for ``lamina track``: frames from image files, multi-page TIFF stacks,
``.npy`` stacks and video files; regions of interest; physical units (a video's own
timestamps where no frame rate is given, variable rates included); the
displacement plot.

Videos are decoded by PyAV with the FFmpeg libraries that its wheel ships (no
system ffmpeg). Every stack is sized before it is decoded and goes through
:func:`lamina.memory.check_allocation`.
"""

from __future__ import annotations

import io
import itertools
import logging
import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lamina.errors import InputError
from lamina.io import check_tiff_pages, tiff_damage
from lamina.memory import array_bytes, check_allocation
from lamina.plugins.subpixel.checks import MIN_SIZE

__all__ = [
    "VIDEO_SUFFIXES",
    "Physical",
    "check_unit",
    "frame_times",
    "parse_roi",
    "parse_rois",
    "physical_series",
    "plot_tracks",
    "read_frames",
]

#: File types read as videos.
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")

_STACK_SUFFIXES = (".tif", ".tiff")

_FEWER = "cut the file to fewer or smaller frames"

_ROI = re.compile(r"^\s*(-?\d+)\s*:\s*(-?\d+)\s*,\s*(-?\d+)\s*:\s*(-?\d+)\s*$", re.ASCII)

#: A unit is a short name (letters, digits, ``µ``, ``°``, ``%``, ``/``, ``.``, ``_``,
#: ``-``, ``^``): it names CSV columns and the plot's axes, where separators,
#: quotes, spaces and matplotlib's ``$`` would break them.
_UNIT = re.compile(r"^[\w°%/.^-]{1,16}$")

#: Consumes an iterable of pages, e.g. :func:`lamina.progress.track`.
Progress = Callable[..., Iterable[Any]]


def _quiet(items: Iterable[Any], **_: Any) -> Iterable[Any]:
    return items


def parse_roi(text: str, shape: tuple[int, int]) -> tuple[slice, slice]:
    """``"y0:y1,x0:x1"`` (pixel rows y0..y1-1, columns x0..x1-1) as slices inside ``shape``.

    >>> parse_roi("10:74,20:84", (128, 128))
    (slice(10, 74, None), slice(20, 84, None))
    """
    match = _ROI.match(text)
    if match is None:
        raise InputError(
            f"--roi must look like y0:y1,x0:x1 with whole numbers (e.g. 10:74,20:84), got {text!r}"
        )
    y0, y1, x0, x1 = (int(v) for v in match.groups())
    height, width = shape
    if min(y0, y1, x0, x1) < 0:
        raise InputError(f"--roi {text!r}: coordinates are non-negative pixel indices")
    for low, high, axis in ((y0, y1, "y"), (x0, x1, "x")):
        if high <= low:
            raise InputError(
                f"--roi {text!r}: {axis}1={high} is not greater than {axis}0={low} "
                f"(the region spans {axis}0..{axis}1-1)"
            )
    if y1 > height or x1 > width:
        raise InputError(
            f"--roi {text!r} reaches past the {height}x{width} frames "
            f"(need y1 <= {height} and x1 <= {width})"
        )
    if min(y1 - y0, x1 - x0) < MIN_SIZE:
        # the estimators' own floor, said here in terms of --roi
        raise InputError(
            f"--roi {text!r} is too small ({y1 - y0}x{x1 - x0} pixels); give a region of at "
            f"least {MIN_SIZE}x{MIN_SIZE}"
        )
    return slice(y0, y1), slice(x0, x1)


def parse_rois(texts: Iterable[str], shape: tuple[int, int]) -> list[tuple[slice, slice]]:
    """Each ``--roi`` text as slices (:func:`parse_roi`); a region given twice
    (however spelled) would be two series under one label, and is refused.

    >>> parse_rois(["0:8,0:8", "4:12,0:8"], (16, 16))[1]
    (slice(4, 12, None), slice(0, 8, None))
    """
    texts = list(texts)
    regions = [parse_roi(text, shape) for text in texts]
    for i, region in enumerate(regions):
        if region in regions[:i]:
            first = texts[regions.index(region)]
            raise InputError(f"--roi {texts[i]!r} is --roi {first!r} given twice; give it once")
    return regions


def check_unit(unit: str) -> str:
    """``unit`` if it is a short unit name (see ``_UNIT``), else an error naming --unit.

    >>> check_unit("µm")
    'µm'
    """
    if not _UNIT.match(unit):
        raise InputError(
            f"--unit must be a short unit name (up to 16 letters, digits or °%/._-^, "
            f"e.g. um, mm, deg), got {unit!r}"
        )
    return unit


def read_frames(
    paths: list[str], channel: str | None, *, progress: Progress = _quiet
) -> tuple[list[np.ndarray], list[str], np.ndarray | None]:
    """Frames from image files (one frame each), multi-page TIFF stacks, ``.npy``
    stacks (N, H, W) and videos, in the order given, as float32 grey images in
    [0, 1], a label per frame (the file, with ``#page`` for stacks and videos),
    and the frames' times in seconds when they all come from one video (its
    timestamps, from the first frame; None otherwise).

    Integer pixels (8, 16 bit, signed or not, boolean) are scaled as
    :func:`skimage.util.img_as_float32` does, float pages are kept; colour
    frames (RGB, RGBA, colour video; TIFF pages stored plane by plane too)
    need ``channel``; grey video (``gray``, ``gray16le``, ...) is grey, read at
    its own bit depth. ``progress`` wraps the files, or the pages of a single
    stack or video as they are decoded (``progress(items, description=...,
    total=...)``). Whatever
    cannot be tracked is one :class:`~lamina.InputError` naming the file and the
    fix: a damaged or truncated file (never a silently shorter series: a video
    whose header counts its frames must decode all but one of them; one whose
    count comes from its duration may decode up to 5 % fewer, with a
    ``UserWarning``), complex
    or NaN pixels, pages of different pixel types, frames of different sizes,
    fewer than two frames in all.
    """
    from lamina.plugins.subpixel.checks import select_channel

    frames: list[np.ndarray] = []
    labels: list[str] = []
    times: np.ndarray | None = None
    # one progress display at a time: over the files, or over the one file's pages
    files, pages_of = (paths, progress) if len(paths) == 1 else (None, _quiet)
    for path in files or progress(paths, description="reading"):
        suffix = Path(path).suffix.lower()
        stamps = None
        if suffix in VIDEO_SUFFIXES:
            pages, stamps = _read_video(path, pages_of)
        elif suffix in _STACK_SUFFIXES:
            pages = _read_tiff(path, pages_of)
        elif suffix == ".npy" and _is_npy_stack(path):
            pages = _read_npy_stack(path)
        else:
            from lamina.io import read_image

            pages = [read_image(path)[0]]
        many = suffix in VIDEO_SUFFIXES or len(pages) > 1
        for i, page in enumerate(pages):
            label = f"{path}#{i}" if many else path
            frame = select_channel(page, channel, name=f"frame {i} of {path!r}")
            if frames and frame.shape != frames[0].shape:
                raise InputError(
                    f"frame {label!r} is {frame.shape[0]}x{frame.shape[1]} but {labels[0]!r} is "
                    f"{frames[0].shape[0]}x{frames[0].shape[1]}: crop or resize the frames to one size"
                )
            frames.append(frame)
            labels.append(label)
        times = stamps if len(paths) == 1 else None
    if len(frames) < 2:
        raise InputError(
            f"{', '.join(map(repr, paths))} hold{'s' if len(paths) == 1 else ''} one frame; "
            "tracking needs at least two: give more files or a stack of frames"
        )
    return frames, labels, times


def frame_times(times: np.ndarray | None, fps: float | None, path: str) -> np.ndarray | None:
    """The time axis of a track: a video's own timestamps where ``fps`` is not given;
    with ``fps`` none (a constant rate), which a variable-rate video refuses.
    Timestamps that do not increase (a damaged or edited file) need ``fps``.

    >>> frame_times(np.array([0.0, 0.04, 0.08]), None, "clip.mp4")
    array([0.  , 0.04, 0.08])
    """
    if times is None or len(times) < 2:
        return None
    intervals = np.diff(times)
    if not np.all(intervals > 0):
        if fps is not None:  # the constant rate the user gave replaces broken timestamps
            return None
        k = int(np.argmin(intervals > 0)) + 1
        raise InputError(
            f"the frame timestamps of {path!r} do not increase (frame {k} at {times[k]:.6g} s, "
            f"frame {k - 1} at {times[k - 1]:.6g} s); give --fps to time the frames at a "
            "constant rate"
        )
    variable = float(np.ptp(intervals)) > 0.01 * float(np.median(intervals))
    if fps is None:
        return times
    if variable:
        raise InputError(
            f"--fps {fps:g} assumes a constant frame rate, but {path!r} has variable frame "
            f"intervals ({intervals.min():.3g}-{intervals.max():.3g} s); leave --fps out to use "
            "the video's timestamps"
        )
    return None


def _decoded(path: str, kind: str, read: Callable[[], list[np.ndarray]]) -> list[np.ndarray]:
    """The pages ``read()`` decodes from ``path``, as unit floats; a missing, damaged
    or empty file is one error naming it."""
    if not Path(path).is_file():
        raise InputError(f"file {path!r} does not exist or is not a file")
    try:
        pages = read()
    except InputError:
        raise
    except Exception as error:  # a damaged file: one line naming it
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        raise InputError(
            f"file {path!r} is damaged or not a {kind} ({reason}); copy or export it again"
        ) from None
    if not pages:
        raise InputError(f"file {path!r} holds no frame")
    return [_as_unit_float(page, path) for page in pages]


def _read_video(path: str, progress: Progress) -> tuple[list[np.ndarray], np.ndarray]:
    """Frames at their own depth (:func:`_native_depth`) and their timestamps (s,
    from the first). PyAV decodes in-process (its wheel ships FFmpeg's
    libraries). The memory guard sizes the frames the header promises before
    decoding and again whenever more come; fewer than promised is a truncated
    file (a cut Matroska or AVI decodes up to the cut without an error)."""
    stamps: list[float] = []

    def read() -> list[np.ndarray]:
        import av

        with av.open(path) as container:
            if not container.streams.video:
                raise InputError(f"file {path!r} holds no video stream")
            stream = container.streams.video[0]
            promised, exact = _promised_frames(container, stream)
            # decoded at most 16-bit RGB, then float32: twice a float32 RGB frame bounds both
            side = (stream.codec_context.height or 1, stream.codec_context.width or 1, 3)
            per_frame = 2 * array_bytes(side, np.float32)
            sized = max(promised, 1)
            check_allocation(sized * per_frame, what=f"the frames of {path!r}", fix=_FEWER)
            pages = []
            decoding = progress(
                container.decode(stream),
                description=f"reading {Path(path).name}",
                total=promised or None,
            )
            for index, frame in enumerate(decoding):
                if index == sized:  # more frames than promised: size them as they come
                    sized *= 2
                    check_allocation(sized * per_frame, what=f"the frames of {path!r}", fix=_FEWER)
                pages.append(_native_depth(frame))
                stamps.append(float(frame.time) if frame.time is not None else float(index))
        _check_complete(path, len(pages), promised, exact=exact)
        return pages

    pages = _decoded(path, "video", read)
    return pages, np.array(stamps) - stamps[0]


#: Share of a duration-derived frame count that may fail to decode before a video
#: is refused as truncated (short of it, it is tracked with a warning): a duration
#: times an average rate is an estimate (variable rates, the last frame's length).
_DERIVED_SHORTFALL = 0.05


def _check_complete(path: str, decoded: int, promised: int, *, exact: bool) -> None:
    """Refuse a video that decodes fewer frames than its header promises (a cut
    Matroska or AVI decodes up to the cut without an error). One frame of slack
    either way: a header's packet count may include one that decodes to no picture
    (a frame an MP4 edit list hides, a dropped-frame packet in an AVI), and a
    duration times a rate rounds. An exact count (a frame-count field) allows no
    more; a count derived from a duration allows ``_DERIVED_SHORTFALL`` more, with
    a warning, since it may be the estimate, not the file, that is off."""
    if decoded >= promised - 1:
        return
    if exact or decoded < (1.0 - _DERIVED_SHORTFALL) * promised - 1:
        raise InputError(
            f"file {path!r} is truncated: its header promises {promised} frames but only "
            f"{decoded} decode; copy or export it again"
        )
    message = (
        f"{path!r} decodes {decoded} frames where its duration suggests {promised}; "
        "tracking those (if the file was cut, copy or export it again)"
    )
    logging.getLogger("lamina").info("%s", message)
    warnings.warn(message, UserWarning, stacklevel=2)


def _promised_frames(container: Any, stream: Any) -> tuple[int, bool]:
    """The frame count a video's header gives (MP4, MOV, AVI; exact), else the
    video stream's duration times its average rate (Matroska, WebM; an estimate),
    and whether it is exact; 0 when it gives neither. The container's duration
    counts only when the video is its one stream: a longer audio track would
    promise frames that never were."""
    if stream.frames > 0:
        return int(stream.frames), True
    seconds = _stream_seconds(stream)
    if seconds is None and len(container.streams) == 1 and container.duration:
        import av

        seconds = container.duration / av.time_base
    if not seconds or seconds <= 0 or not stream.average_rate:
        return 0, False
    return round(seconds * float(stream.average_rate)), False


def _stream_seconds(stream: Any) -> float | None:
    """The video stream's own duration: its header field, or the ``DURATION`` tag
    FFmpeg's Matroska muxer writes (``HH:MM:SS.fffffffff``)."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    match = re.fullmatch(r"(\d+):(\d\d):(\d\d(?:\.\d+)?)", stream.metadata.get("DURATION", ""))
    if match is None:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _native_depth(frame: Any) -> np.ndarray:
    """A decoded video frame at its own bit depth: grey formats as one channel,
    colour as RGB (alpha dropped), 8-bit or, past 8 bits a component, 16-bit.

    Scientific cameras write 10-16 bit grey (FFV1, ProRes); converting them to
    8-bit RGB would round away the precision sub-pixel tracking lives on.
    """
    components = frame.format.components
    deep = max(component.bits for component in components) > 8
    grey = sum(not component.is_alpha for component in components) == 1
    if grey:
        return frame.to_ndarray(format="gray16le" if deep else "gray")
    return frame.to_ndarray(format="rgb48le" if deep else "rgb24")


def _read_tiff(path: str, progress: Progress) -> list[np.ndarray]:
    """The pages of a TIFF file, colour channels last. Every page is read with its
    own tags (by default tifffile reads a stack's later pages with the first
    page's, which hides an edited page), sized by the memory guard from the
    headers, and refused if tifffile found the file damaged."""

    def read() -> list[np.ndarray]:
        import tifffile

        with tiff_damage(f"file {path!r}") as damage, tifffile.TiffFile(path) as tiff:
            tiff.pages.useframes = False
            # an IFD takes at least 18 bytes: more pages than that is a loop in their chain
            size = Path(path).stat().st_size
            most = size // 18
            pages = list(itertools.islice(tiff.pages, most + 1))
            if len(pages) > most:
                raise InputError(f"file {path!r} is damaged: its chain of pages loops")
            needed = sum(2 * array_bytes(page.shape, np.float32) for page in pages)
            check_allocation(needed, what=f"the frames of {path!r}", fix=_FEWER)
            damage.check()
            check_tiff_pages(pages, name=f"file {path!r}")
            _same_pixel_type(pages, path)
            decoded = [
                _channel_last(page.asarray(), page.axes)
                for page in progress(pages, description=f"reading {Path(path).name}")
            ]
            damage.check()
            return decoded

    return _decoded(path, "TIFF stack", read)


def _same_pixel_type(pages: list[Any], path: str) -> None:
    """One stack, one pixel type: a uint16 page scales by 65535 and a uint8 one by
    255, so a mixed stack is a damaged or spliced file."""
    first = pages[0].dtype if pages else None
    for index, page in enumerate(pages):
        if page.dtype != first:
            raise InputError(
                f"page {path}#{index} has {page.dtype} pixels but page {path}#0 has {first}: "
                "a stack holds one pixel type; convert its pages to one type"
            )


def _channel_last(page: np.ndarray, axes: str) -> np.ndarray:
    """A page stored plane by plane (PlanarConfiguration 2, axes ``SYX``) with its
    samples last, as the rest of lamina expects colour."""
    if page.ndim == 3 and axes.startswith("S"):
        return np.moveaxis(page, 0, -1)
    return page


def _is_npy_stack(path: str) -> bool:
    """A ``.npy`` file of shape (N, H, W) (a last axis over 4: not colour channels)."""
    try:
        shape = np.load(path, mmap_mode="r").shape
    except Exception:  # not readable as a header: read_image says why
        return False
    return len(shape) == 3 and shape[2] > 4


def _read_npy_stack(path: str) -> list[np.ndarray]:
    def read() -> list[np.ndarray]:
        stack = np.load(path, mmap_mode="r")
        check_allocation(
            2 * array_bytes(stack.shape, np.float32), what=f"the frames of {path!r}", fix=_FEWER
        )
        return [np.asarray(page) for page in stack]

    return _decoded(path, "stack", read)


def _as_unit_float(page: np.ndarray, path: str) -> np.ndarray:
    if page.dtype.kind in "iub":
        from skimage.util import img_as_float32

        return img_as_float32(page)
    if page.dtype.kind != "f":
        raise InputError(
            f"file {path!r} has {page.dtype} pixels; frames must be real (integer or float): "
            "save the magnitude or one component"
        )
    data = page.astype(np.float32)
    if not np.all(np.isfinite(data)):
        raise InputError(f"file {path!r} contains NaN or infinite values")
    return data


@dataclass
class Physical:
    """Displacement and velocity of one series in physical units."""

    time: np.ndarray  # (N,) seconds, or frame index without fps
    displacement: np.ndarray  # (N, 2) in unit
    sigma: np.ndarray  # (N, 2)
    velocity: np.ndarray | None  # (N, 2) unit per second
    velocity_sigma: np.ndarray | None


def physical_series(
    displacement: np.ndarray,
    uncertainty: np.ndarray,
    *,
    pixel_size: float | None,
    fps: float | None,
    time: np.ndarray | None = None,
) -> Physical:
    """Scale a track to physical units; with ``fps`` (or the frames' own ``time`` in
    seconds, a video's timestamps) also the velocity.

    The velocity is the central difference ``(d[i+1] - d[i-1]) / (t[i+1] - t[i-1])``
    (one-sided at the ends), its standard error from the two displacements' standard errors
    taken as independent (an upper bound in reference mode, where they share the
    reference frame's noise with a positive correlation).
    """
    scale = 1.0 if pixel_size is None else float(pixel_size)
    count = len(displacement)
    timed = bool(fps) or time is not None
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        if time is None:
            time = np.arange(count, dtype=np.float64) / (fps if fps else 1.0)
        _finite(
            time,
            "the frame times",
            f"fps (--fps) = {fps:g}" if fps else "the timestamps",
            _IN_FPS if fps else "give --fps to time the frames at a constant rate",
        )
        moved = displacement * scale
        sigma = uncertainty * scale
        size = f"pixel_size (--pixel-size) = {scale:g}"
        _finite(moved, "the displacements", size, _CLOSER_UNIT, displacement)
        _finite(sigma, "the uncertainties", size, _CLOSER_UNIT, uncertainty)
        if not timed or count < 2:
            return Physical(time, moved, sigma, None, None)
        low = np.clip(np.arange(count) - 1, 0, count - 1)
        high = np.clip(np.arange(count) + 1, 0, count - 1)
        span = (time[high] - time[low])[:, None]
        velocity = (moved[high] - moved[low]) / span
        velocity_sigma = np.sqrt(sigma[high] ** 2 + sigma[low] ** 2) / span
        scales = f"pixel_size (--pixel-size) = {scale:g} over fps (--fps) = {fps or 0:g}"
        # a velocity is measured where both of its displacements are
        both = np.where(np.isfinite(moved[high]) & np.isfinite(moved[low]), 0.0, np.nan)
        fix = f"{_CLOSER_UNIT}, or {_IN_FPS}"
        _finite(velocity, "the velocities", scales, fix, both)
        _finite(velocity_sigma, "the velocities' uncertainties", scales, fix, both)
    return Physical(time, moved, sigma, velocity, velocity_sigma)


_CLOSER_UNIT = "give the scale in a unit closer to the pixel (e.g. mm instead of km)"
_IN_FPS = "give --fps in frames per second"


def _finite(
    values: np.ndarray, what: str, cause: str, fix: str, source: np.ndarray | None = None
) -> None:
    """Refuse ``values`` that overflowed where ``source`` (the values they were
    computed from) was finite, with ``fix`` for the ``cause``; a frame that was not
    measured stays NaN."""
    measured = np.ones(values.shape, bool) if source is None else np.isfinite(source)
    if not np.all(np.isfinite(values[measured])):
        raise InputError(f"{cause} makes {what} overflow a 64-bit float; {fix}")


def plot_tracks(series: list[tuple[str, Physical]], *, unit: str, seconds: bool) -> bytes:
    """PNG of displacement against time, one panel per axis, one line per ROI, with
    +-2 standard-error bands."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 5.5), constrained_layout=True)
    axes = figure.subplots(2, 1, sharex=True)
    for axis, name in enumerate(("dy", "dx")):
        panel = axes[axis]
        for label, data in series:
            value = data.displacement[:, axis]
            band = 2.0 * data.sigma[:, axis]
            (line,) = panel.plot(data.time, value, marker=".", label=label)
            panel.fill_between(
                data.time, value - band, value + band, color=line.get_color(), alpha=0.25
            )
        panel.set_ylabel(f"{name} ({unit})")
        panel.grid(alpha=0.3)
    axes[-1].set_xlabel("time (s)" if seconds else "frame")
    axes[0].set_title("displacement, ±2 standard errors")
    if len(series) > 1:
        axes[0].legend(loc="best", fontsize="small")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def series_rows(label: str, frames: list[dict[str, Any]], data: Physical, unit: str) -> list[dict]:
    """CSV records of one series: the pixel columns of ``Track.rows`` plus the
    physical ones."""
    rows = []
    for i, frame in enumerate(frames):
        row = {"roi": label, **frame, "time": float(data.time[i])}
        row[f"dy_{unit}"], row[f"dx_{unit}"] = (float(v) for v in data.displacement[i])
        row[f"sigma_dy_{unit}"], row[f"sigma_dx_{unit}"] = (float(v) for v in data.sigma[i])
        if data.velocity is not None and data.velocity_sigma is not None:
            row[f"vy_{unit}_per_s"], row[f"vx_{unit}_per_s"] = (float(v) for v in data.velocity[i])
            row[f"sigma_vy_{unit}_per_s"], row[f"sigma_vx_{unit}_per_s"] = (
                float(v) for v in data.velocity_sigma[i]
            )
        rows.append(row)
    return rows
