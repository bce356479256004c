"""One frame on the device: the raster triangles uploaded and binned into square
bins of 8x8 or 16x16 pixels, each bin in depth order (:mod:`lamina.kernels.oit_common`).

Every pixel walks its bin, so the resolve costs about (pixels per bin) x (entries
per bin) tests: 4x fewer with 8x8 bins, whose entries also carry exact coverage
masks (one bit per pixel, see ``lamina.kernels.oit_common``), while a triangle that
spans many bins costs 4x the entries and bin sorting with them.  :func:`bin_bits`
picks per frame from the triangles' mean pixel box."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from lamina.errors import InputError
from lamina.memory import check_allocation
from lamina.plugins.oit import raster
from lamina.plugins.oit.renderers.base import TILE_PIXELS

if TYPE_CHECKING:
    from lamina.plugins.oit.renderers.device import Device

__all__ = ["SMALL_BOX", "Frame", "bin_bits", "bin_triangles", "chunks", "cursors"]

#: Mean pixel-box area (within the frame) up to which a frame is binned in 8x8
#: bins instead of 16x16.  Since 8x8 entries carry coverage masks (a pixel tests one
#: bit instead of a box and three edge functions), 8x8 wins up to frame-sized
#: triangles; 16x16 only saves binning 4x the entries of triangles larger still.
#: Measured (fragment-list, CPU, median of 3 rounds of best-of-3 frames, load 8-10):
#: 8x8 / 16x16 = 0.59 for 10k random triangles at 1024x1024 (mean box 1,537 px),
#: 0.68 for 1k (14,508 px), 0.86 for 50 partial quads at 512x512 (42,587 px), 0.93
#: for 50 intersecting quads at 512x512 (241,992 px), 0.82 for 16 stacked full-frame
#: quads at 512x512 (262,144 px), 1.0 at 1024x1024 and 1920x1080, 1.14 at 3840x2160.
SMALL_BOX = 1 << 19
#: The count and fill phases of binning run a thread per chunk of consecutive
#: triangles, each with its own row of bin cursors (see ``oit_common``'s
#: ``bin_tiles``): at most this many chunks, of at least CHUNK_TRIANGLES triangles,
#: and at most MAX_CURSORS cursors (4 bytes each) in all.  Each chunk fills its own
#: stretch of every bin, so more chunks share more cache lines between cores: at 1M
#: random triangles, 1024x1024, the fill took 150-160 CPU ms in 2, 4 or 8 chunks,
#: 290 in 32.
MAX_CHUNKS = 8
CHUNK_TRIANGLES = 2048
MAX_CURSORS = 1 << 22


@dataclass
class Frame:
    """One frame on the device: the binned triangles and what every kernel needs."""

    tris: raster.RasterTriangles
    device: Device
    common: Any  # lamina.kernels.oit_common.build(real)
    budget: int
    tiles_x: int
    n_tiles: int
    #: Bins are squares of 2**bin_bits pixels, bins_x to a row.
    bin_bits: int
    bins_x: int
    bin_entries: int
    #: The leading arguments of every kernel, in order (see lamina.kernels.oit_common).
    scene: tuple
    gaps: Any
    #: Per bin: 1 when it is in key order at every pixel (oit_common.bin_order).
    ordered: Any

    @property
    def n_pixels(self) -> int:
        """Pixels of all tiles, the launch size of a whole-frame pass."""
        return self.n_tiles * TILE_PIXELS

    def args(self, threshold: float | None = None, *, tiles: bool = True) -> dict[str, Any]:
        """Keyword arguments shared by the compositing kernels (``tiles``: with the
        launch tiles' row length, for kernels that visit pixels tile by tile)."""
        bg = self.tris.background
        args: dict[str, Any] = {"tiles_x": self.tiles_x} if tiles else {}
        args |= {
            "bins_x": self.bins_x,
            "bin_bits": self.bin_bits,
            "id_bits": self.tris.id_bits,
            "depth_shift": self.tris.depth_shift,
            "background": tuple(float(v) for v in bg),
        }
        if threshold is not None:
            args.update(threshold=threshold, flat=self.tris.flat)
        return args

    def outputs(self) -> dict[str, Any]:
        """The frame's output buffers: image, depth complexity, layers, residual."""
        device, size = self.device, self.tris.size
        return {
            "image": device.empty((*size, 4), np.float32),
            "depth_complexity": device.empty(size, np.int32),
            "layers": device.empty(size, np.int32, keep="layers"),
            "residual": device.empty(size, np.float32, keep="residual"),
        }

    def download(self, out: dict) -> tuple[np.ndarray, ...]:
        """image, depth complexity, layers, residual of ``out`` on the host."""
        names = ("image", "depth_complexity", "layers", "residual")
        return tuple(self.device.download(out[name]) for name in names)


def bin_bits(tris: raster.RasterTriangles) -> int:
    """3 (8x8-pixel bins) when the mean pixel box of ``tris`` within the frame is at
    most :data:`SMALL_BOX` pixels, else 4 (16x16, one launch tile).  The mean is
    taken over at most 4096 evenly spaced triangles: a cheap, deterministic choice."""
    if not tris.n:
        return 4
    height, width = tris.size
    box = tris.bbox[:: max(1, tris.n // 4096)]
    span_i = np.minimum(box[:, 1], width - 1) - np.maximum(box[:, 0], 0) + 1
    span_j = np.minimum(box[:, 3], height - 1) - np.maximum(box[:, 2], 0) + 1
    area = np.maximum(span_i, 0) * np.maximum(span_j, 0)
    return 3 if area.mean() <= SMALL_BOX else 4


def chunks(n_triangles: int, n_bins: int) -> int:
    """How many chunks (rows of bin cursors) binning ``n_triangles`` into ``n_bins``
    bins takes: see :data:`MAX_CHUNKS`."""
    return max(1, min(MAX_CHUNKS, n_triangles // CHUNK_TRIANGLES, MAX_CURSORS // n_bins))


def cursors(counts: np.ndarray, start: np.ndarray) -> np.ndarray:
    """The fill phase's cursors from the count phase's ``counts`` (chunks, bins) and
    ``start``, the exclusive prefix sum of the bins' totals: chunk ``c``'s entries of
    bin ``b`` start after those of the chunks before it (int32: the caller has
    checked that the entries number under 2**31)."""
    result = np.empty(counts.shape, np.int32)
    running = start[:-1].astype(np.int32)
    # Row by row: numpy's cumsum along the first axis took 25 ms for 32 x 16,384.
    for chunk, row in zip(result, counts, strict=True):
        chunk[...] = running
        running += row
    return result


def _shade(tris: raster.RasterTriangles, device: Device) -> Any:
    """The colour planes in the kernels' colour precision: the setup's own float64
    array where that is float64 (on the host, no copy), else float32 planes rescaled
    into float32's range (:func:`lamina.plugins.oit.raster.float32_shade`)."""
    if device.real_np == np.float64:
        return device.upload(tris.shade, held=True, dtype=np.float64)
    return device.upload(raster.float32_shade(tris), dtype=np.float32, keep="shade")


def bin_triangles(tris: raster.RasterTriangles, device: Device, *, budget: int) -> Frame:
    """Upload ``tris`` to ``device`` (Taichi started) and bin them into bins of
    ``2**bin_bits(tris)`` pixels; ``budget`` is the frame's fragment budget."""
    from lamina.kernels import oit_common

    common = oit_common.build(device.real)
    height, width = tris.size
    tiles_x, tiles_y = -(-width // raster.TILE), -(-height // raster.TILE)
    n_tiles = tiles_x * tiles_y
    bits = bin_bits(tris)
    bins_x, bins_y = -(-width >> bits), -(-height >> bits)
    n_bins = bins_x * bins_y
    table = device.upload(tris.table, held=True)
    bbox = device.upload(tris.bbox, held=True)
    counts = device.zeros((chunks(tris.n, n_bins), n_bins), np.int32)
    gaps = device.upload(oit_common.SHELL_GAPS)
    extent = {"bins_x": bins_x, "bin_bits": bits, "width": width, "height": height}
    extent.update(id_bits=tris.id_bits, depth_shift=tris.depth_shift)
    unused = {"i32": device.empty((1,), np.int32), "i64": device.empty((1,), np.int64)}
    if tris.n:  # (the uploaded arrays are padded to one row when empty)
        common.bin_tiles(0, table, bbox, unused["i64"], unused["i32"], counts, unused["i64"],
                         gaps, unused["i64"], unused["i32"], **extent)  # fmt: skip
    counts = np.asarray(device.download(counts))
    start = np.zeros(n_bins + 1, dtype=np.int64)
    np.cumsum(counts.sum(axis=0, dtype=np.int64), out=start[1:])
    entries = int(start[-1])
    check_allocation(
        entries * 20,  # i32 entry, i64 box (or mask) and sort key per (triangle, bin) pair
        what=f"{entries} (triangle, bin) pairs of a {width} x {height} frame",
        fix="choose a smaller size (--size) or a smaller scene",
    )
    if entries >= 2**31:
        raise InputError(
            f"the scene needs {entries} (triangle, bin) pairs at this size; "
            "at most 2**31 - 1 are supported"
        )
    bin_start = device.upload(start)
    # Pooled (kept for the next frame): first-touching fresh pages costs more than
    # the binning's arithmetic on this project's VM (0.3 ms per MB).
    bin_entries = device.empty((max(1, entries),), np.int32, keep="bin_entries")
    boxes = device.empty((max(1, entries),), np.int64, keep="bin_boxes")
    ordered = device.zeros((n_bins,), np.int32)
    if entries:
        scratch = device.empty((max(1, entries),), np.int64, keep="bin_keys")
        cursor = device.upload(cursors(counts, start))
        for phase in (1, 2):
            common.bin_tiles(phase, table, bbox, bin_start, bin_entries, cursor, scratch, gaps,
                             boxes, ordered, **extent)  # fmt: skip
    scene = (
        table,
        _shade(tris, device),
        bin_start,
        bin_entries,
        boxes,
    )
    return Frame(
        tris=tris,
        device=device,
        common=common,
        budget=budget,
        tiles_x=tiles_x,
        n_tiles=n_tiles,
        bin_bits=bits,
        bins_x=bins_x,
        bin_entries=entries,
        scene=scene,
        gaps=gaps,
        ordered=ordered,
    )
