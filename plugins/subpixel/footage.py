"""Real footage for ``lamina track``: frames from image files, multi-page TIFF stacks
and video files; regions of interest; physical units; the displacement plot.

Videos are decoded by imageio's ``pyav`` plugin with the FFmpeg libraries that
the PyAV wheel ships (no system ffmpeg). Every stack is sized before it
is decoded and goes through :func:`lamina.memory.check_allocation`.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lamina.errors import InputError
from lamina.memory import array_bytes, check_allocation

__all__ = [
    "VIDEO_SUFFIXES",
    "Physical",
    "parse_roi",
    "physical_series",
    "plot_tracks",
    "read_frames",
]

#: File types read as videos.
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")

_STACK_SUFFIXES = (".tif", ".tiff")

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


def read_frames(paths: list[str], channel: str | None) -> tuple[list[np.ndarray], list[str]]:
    """Frames from image files (one frame each), multi-page TIFF stacks and videos,
    in the order given, as float32 grey images in [0, 1], and a label per frame
    (the file, with ``#page`` for stacks and videos)."""
    from lamina.plugins.subpixel.checks import select_channel

    frames: list[np.ndarray] = []
    labels: list[str] = []
    for path in paths:
        suffix = Path(path).suffix.lower()
        if suffix in VIDEO_SUFFIXES or suffix in _STACK_SUFFIXES:
            pages = _read_stack(path, suffix)
        else:
            from lamina.io import read_image

            pages = [read_image(path)[0]]
        frames += [
            select_channel(page, channel, name=f"frame {i} of {path!r}")
            for i, page in enumerate(pages)
        ]
        many = suffix in VIDEO_SUFFIXES or len(pages) > 1
        labels += [f"{path}#{i}" if many else path for i in range(len(pages))]
    return frames, labels


def _read_stack(path: str, suffix: str) -> list[np.ndarray]:
    import imageio.v3 as iio

    if not Path(path).is_file():
        raise InputError(f"file {path!r} does not exist or is not a file")
    what = f"the frames of {path!r}"
    fix = "cut the file to fewer or smaller frames"
    try:
        if suffix in VIDEO_SUFFIXES:
            # PyAV decodes in-process (its wheel ships FFmpeg's libraries), and
            # its container header gives the frame count before any decoding
            shape = iio.improps(path, plugin="pyav").shape
            check_allocation(2 * array_bytes(shape, np.float32), what=what, fix=fix)
            with iio.imopen(path, "r", plugin="pyav") as video:
                pages = [np.asarray(frame) for frame in video.iter()]
        else:
            import tifffile

            with tifffile.TiffFile(path) as tiff:
                shapes = [page.shape for page in tiff.pages]
                needed = sum(2 * array_bytes(shape, np.float32) for shape in shapes)
                check_allocation(needed, what=what, fix=fix)
                pages = [page.asarray() for page in tiff.pages]
    except InputError:
        raise
    except Exception as error:  # a damaged file: one line naming it
        raise InputError(f"file {path!r} cannot be read as a stack or video: {error}") from None
    if not pages:
        raise InputError(f"file {path!r} holds no frame")
    return [_as_unit_float(page, path) for page in pages]


def _as_unit_float(page: np.ndarray, path: str) -> np.ndarray:
    if page.dtype.kind in "iub":
        from skimage.util import img_as_float32

        return img_as_float32(page)
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
) -> Physical:
    """Scale a track to physical units; with ``fps`` also the velocity.

    The velocity is the central difference ``(d[i+1] - d[i-1]) / (2 dt)`` (one-sided
    at the ends), its standard error from the two displacements' standard errors
    taken as independent (an upper bound in reference mode, where they share the
    reference frame's noise with a positive correlation).
    """
    scale = 1.0 if pixel_size is None else float(pixel_size)
    count = len(displacement)
    time = np.arange(count, dtype=np.float64) / (fps if fps else 1.0)
    moved = displacement * scale
    sigma = uncertainty * scale
    if not fps or count < 2:
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
