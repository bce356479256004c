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
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lamina.errors import InputError
from lamina.memory import array_bytes, check_allocation

__all__ = [
    "VIDEO_SUFFIXES",
    "Physical",
    "frame_times",
    "parse_roi",
    "physical_series",
    "plot_tracks",
    "read_frames",
]

#: File types read as videos.
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")

_STACK_SUFFIXES = (".tif", ".tiff")

_FEWER = "cut the file to fewer or smaller frames"

_ROI = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*,\s*(\d+)\s*:\s*(\d+)\s*$")


def parse_roi(text: str, shape: tuple[int, int]) -> tuple[slice, slice]:
    """``"y0:y1,x0:x1"`` (pixel rows y0..y1-1, columns x0..x1-1) as slices inside ``shape``.

    >>> parse_roi("10:74,20:84", (128, 128))
    (slice(10, 74, None), slice(20, 84, None))
    """
    match = _ROI.match(text)
    if match is None:
        raise InputError(f"--roi must look like y0:y1,x0:x1 (e.g. 10:74,20:84), got {text!r}")
    y0, y1, x0, x1 = (int(v) for v in match.groups())
    height, width = shape
    if not (y0 < y1 <= height and x0 < x1 <= width):
        raise InputError(
            f"--roi {text!r} is not inside the {height}x{width} frames "
            "(need y0 < y1 <= height and x0 < x1 <= width)"
        )
    if min(y1 - y0, x1 - x0) < 3:
        raise InputError(f"--roi {text!r} is smaller than 3x3 pixels")
    return slice(y0, y1), slice(x0, x1)


def read_frames(
    paths: list[str], channel: str | None
) -> tuple[list[np.ndarray], list[str], np.ndarray | None]:
    """Frames from image files (one frame each), multi-page TIFF stacks, ``.npy``
    stacks (N, H, W) and videos, in the order given, as float32 grey images in
    [0, 1], a label per frame (the file, with ``#page`` for stacks and videos),
    and the frames' times in seconds when they all come from one video (its
    timestamps, from the first frame; None otherwise).

    Integer pixels (8, 16 bit, signed or not, boolean) are scaled as
    :func:`skimage.util.img_as_float32` does, float pages are kept; colour
    frames (RGB, RGBA, colour video) need ``channel``; grey video (``gray``,
    ``gray16le``, ...) is grey, read at its own bit depth. Whatever cannot be tracked is
    one :class:`~lamina.InputError` naming the file and the fix: complex or NaN
    pixels, frames of different sizes, fewer than two frames in all.
    """
    from lamina.plugins.subpixel.checks import select_channel

    frames: list[np.ndarray] = []
    labels: list[str] = []
    times: np.ndarray | None = None
    for path in paths:
        suffix = Path(path).suffix.lower()
        stamps = None
        if suffix in VIDEO_SUFFIXES:
            pages, stamps = _read_video(path)
        elif suffix in _STACK_SUFFIXES:
            pages = _read_tiff(path)
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
    with ``fps`` none (a constant rate), which a variable-rate video refuses."""
    if times is None or len(times) < 2:
        return None
    intervals = np.diff(times)
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
        raise InputError(f"file {path!r} cannot be read as a {kind}: {error}") from None
    if not pages:
        raise InputError(f"file {path!r} holds no frame")
    return [_as_unit_float(page, path) for page in pages]


def _read_video(path: str) -> tuple[list[np.ndarray], np.ndarray]:
    """Frames at their own depth (:func:`_native_depth`) and their timestamps (s,
    from the first). PyAV decodes in-process (its wheel ships FFmpeg's
    libraries), and the container header gives the frame count before any
    decoding."""
    stamps: list[float] = []

    def read() -> list[np.ndarray]:
        import av
        import imageio.v3 as iio

        shape = iio.improps(path, plugin="pyav").shape
        check_allocation(
            2 * array_bytes(shape, np.float32), what=f"the frames of {path!r}", fix=_FEWER
        )
        pages = []
        with av.open(path) as container:
            for index, frame in enumerate(container.decode(video=0)):
                pages.append(_native_depth(frame))
                stamps.append(float(frame.time) if frame.time is not None else float(index))
        return pages

    pages = _decoded(path, "video", read)
    return pages, np.array(stamps) - stamps[0]


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


def _read_tiff(path: str) -> list[np.ndarray]:
    def read() -> list[np.ndarray]:
        import tifffile

        with tifffile.TiffFile(path) as tiff:
            shapes = [page.shape for page in tiff.pages]
            needed = sum(2 * array_bytes(shape, np.float32) for shape in shapes)
            check_allocation(needed, what=f"the frames of {path!r}", fix=_FEWER)
            return [page.asarray() for page in tiff.pages]

    return _decoded(path, "TIFF stack", read)


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
    if time is None:
        time = np.arange(count, dtype=np.float64) / (fps if fps else 1.0)
    moved = displacement * scale
    sigma = uncertainty * scale
    if not timed or count < 2:
        return Physical(time, moved, sigma, None, None)
    low = np.clip(np.arange(count) - 1, 0, count - 1)
    high = np.clip(np.arange(count) + 1, 0, count - 1)
    span = (time[high] - time[low])[:, None]
    velocity = (moved[high] - moved[low]) / span
    velocity_sigma = np.sqrt(sigma[high] ** 2 + sigma[low] ** 2) / span
    return Physical(time, moved, sigma, velocity, velocity_sigma)


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
