"""Per-pixel fragment lists (A-buffer) on the kernels of
:mod:`lamina.kernels.oit_fragments`."""

from __future__ import annotations

from typing import Any

import numpy as np

from lamina.plugins.oit import raster
from lamina.plugins.oit.renderers.base import TILE_PIXELS
from lamina.plugins.oit.renderers.binning import Frame
from lamina.plugins.oit.renderers.device import TaichiRenderer
from lamina.types import RenderStats

__all__ = ["FragmentList"]

#: Rows of 8 pixels a thread of the CPU resolve takes, one bin after the other (a
#: GPU's takes one): Taichi zeroes a thread's 4 KiB key array, which, once per row,
#: took a tenth of the resolve at 100k random triangles, 1024x1024.  8 is an 8x8
#: bin, a quarter of a 16x16 one (it must divide 8, the rows of an 8x8 bin).
_THREAD_ROWS = 8


class FragmentList(TaichiRenderer):
    """Exact OIT with per-pixel fragment lists (A-buffer).

    Every pixel gathers its list of 64-bit (depth, primitive id) keys from
    its screen tile's depth-ordered bin of triangles, sorts it and composites
    it front to back.  One geometry pass counts every list and resolves those
    that fit a thread's own array of 64 keys (sorted there by insertion
    sort) or that provably arrive sorted (every list of a tile whose bin
    order is the key order at all its pixels, whatever the length).  Longer
    lists are spilled: an exclusive prefix sum of their counts places them
    in a global key buffer, and a second geometry pass fills, sorts and
    composites them.  So 1 geometry pass, or 2 when a list spills; memory is
    one 8-byte key per spilled fragment.

    Parameters
    ----------
    max_fragments : int or None
        Most fragment keys held at once in the global buffer (spilled
        lists); ``None`` sizes it from a quarter of the memory available.
        When the spilled lists need more, they are resolved in screen regions
        that each fit (``stats.tiles > 1``, ``stats.bound_hit``); a tile
        whose own spilled lists exceed the budget is resolved without global
        memory, each pixel peeling batches of its nearest keys in its own
        array.  The image is identical either way: no fragment is ever dropped.
    early_stop_transmittance : float
        0 (default) composites every fragment.  Above 0 a pixel stops once
        its transmittance falls below the threshold and
        ``stats.early_stop_error`` reports the largest transmittance left,
        an upper bound on the error of any channel.
    arch : {"auto", "cpu", "cuda", "vulkan"}
        Taichi backend (``auto``: ``LAMINA_ARCH``, else the first GPU that
        starts, else the CPU).

    Notes
    -----
    Coverage, depth and the (depth, primitive id) order are the integer rules
    of :mod:`lamina.plugins.oit.raster`, shared with every other renderer.
    ``stats.notes["spilled_fragments"]`` counts the fragments that went
    through the global buffer.

    References
    ----------
    Yang, Hensley, Grün, Thibieroz, "Real-Time Concurrent Linked List
    Construction on the GPU", Computer Graphics Forum 29(4), 2010.

    Examples
    --------
    >>> import numpy as np
    >>> from lamina.scene import Camera, Scene
    >>> quad = Scene(
    ...     vertices=np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], float),
    ...     faces=np.array([[0, 1, 2], [0, 2, 3]]),
    ...     face_colors=(1.0, 0.0, 0.0, 0.5),
    ... )
    >>> camera = Camera.look_at((0, 0, 3), (0, 0, 0), projection="orthographic", ortho_height=4)
    >>> out = FragmentList(arch="cpu").render(quad, camera, (24, 32))
    >>> out.image[12, 16].round(3).tolist()
    [0.5, 0.0, 0.0, 0.5]
    >>> out.stats.geometry_passes, out.stats.max_depth_complexity
    (1, 1)
    """

    #: Keys a pixel sorts in its own array (a compile-time size: 512 bytes of stack per
    #: thread); longer lists outside ordered tiles take the global count -> prefix sum
    #: -> fill path.
    _local_keys = 64

    def _draw(self, frame: Frame) -> tuple[np.ndarray, np.ndarray, RenderStats]:
        from lamina.kernels import oit_fragments

        device, size = frame.device, frame.tris.size
        out = frame.outputs()
        kernels = oit_fragments.build(device.real)
        pending = device.empty(size, np.int32, keep="pending")
        spilled = device.empty((2,), np.int32)  # the flag and resolve's prefetch sink
        device.clear_flag(spilled)
        packed = self._packed(frame)
        kernels.resolve(
            *frame.scene,
            packed,
            frame.ordered,  # tiles whose every list arrives sorted from the bin
            frame.gaps,
            out["image"],
            out["depth_complexity"],
            out["layers"],
            out["residual"],
            pending,
            spilled,
            **frame.args(self.early_stop_transmittance, tiles=False),
            stop=self.early_stop_transmittance > 0,
            local=self._local_keys,
            rows=_THREAD_ROWS if device.host else 1,
        )
        passes, regions, batched, spilled_fragments = 1, 0, 0, 0
        if device.flag(spilled):
            passes, regions, batched, spilled_fragments = self._resolve_spilled(
                frame, out, pending, packed, kernels
            )
        image, depth_complexity, layers, residual = frame.download(out)
        if not self.early_stop_transmittance:
            layers = depth_complexity  # every layer composited (and no layer map written)
        stats = self._stats(
            frame,
            layers,
            residual,
            geometry_passes=passes,
            bound_hit=regions > 1,
            tiles=max(1, regions),
        )
        stats.notes.update(batched_tiles=batched, spilled_fragments=spilled_fragments)
        return image, depth_complexity, stats

    @staticmethod
    def _packed(frame: Frame) -> Any:
        """Face-coloured triangles' key and colour records (``oit_common.build``'s
        ``pack``, pooled), read by the kernels in place of the table and shade: one
        cache line per fragment; one unused row for vertex colours."""
        device, table, shade = frame.device, frame.scene[0], frame.scene[1]
        from lamina.kernels.oit_common import PACKED_COLUMNS

        if not frame.tris.flat:
            return device.empty((1, PACKED_COLUMNS), np.int64)
        packed = device.empty((table.shape[0], PACKED_COLUMNS), np.int64, keep="packed")
        if device.host and not raster.kernels_pay(table.shape[0]):
            pack_on_host(table, shade, packed)
        else:
            frame.common.pack(table, shade, packed)
        return packed

    def _resolve_spilled(
        self, frame: Frame, out: dict, pending: Any, packed: Any, kernels: Any
    ) -> tuple[int, int, int, int]:
        """The lists too long for a thread's array: count -> exclusive prefix sum ->
        fill, in runs of tiles whose spilled keys fit the budget.  Returns the geometry
        passes of the frame, the regions, the batched tiles and the spilled keys."""
        device, budget = frame.device, frame.budget
        offsets = device.empty(frame.tris.size, np.int64, keep="offsets")
        tile_sum = device.empty((frame.n_tiles,), np.int64)
        tile_max = device.empty((frame.n_tiles,), np.int64)
        frame.common.tile_scan(pending, offsets, tile_sum, tile_max, frame.tiles_x)
        sums = np.array(device.download(tile_sum))
        regions = [region for region in _regions(sums, budget) if region[2]]
        base = np.zeros(frame.n_tiles, dtype=np.int64)
        np.cumsum(sums[:-1], out=base[1:])
        tile_base = device.upload(base)
        fitting = [total for _, _, total in regions if total <= budget]
        keys = device.empty((max(1, max(fitting, default=1)),), np.int64, keep="keys")
        passes = 1
        over = np.zeros(frame.n_tiles, dtype=np.int32)
        for t0, t1, total in regions:
            if total > budget:
                # This tile alone spills more keys than the budget: its pixels peel their
                # lists in batches of their nearest keys in their own arrays (no global
                # memory), all such tiles in one launch below.
                over[t0:t1] = 1
                continue
            kernels.resolve_spilled(
                *frame.scene,
                packed,
                pending,
                offsets,
                tile_base,
                keys,
                frame.gaps,
                out["image"],
                out["layers"],
                out["residual"],
                tile0=t0,
                n_pixels=(t1 - t0) * TILE_PIXELS,
                base=int(base[t0]),
                **frame.args(self.early_stop_transmittance),
                stop=self.early_stop_transmittance > 0,
            )
            passes += 1
        batched = int(over.sum())
        if batched:
            kernels.resolve_batched(
                *frame.scene,
                packed,
                pending,
                device.upload(over),
                out["image"],
                out["layers"],
                out["residual"],
                n_pixels=frame.n_pixels,
                **frame.args(self.early_stop_transmittance),
                stop=self.early_stop_transmittance > 0,
                local=self._local_keys,
            )
            # Each list takes ceil(n / local) walks of its tile's bin.
            longest = int(np.array(device.download(tile_max))[over.astype(bool)].max())
            passes += -(-longest // self._local_keys)
        return passes, len(regions), batched, int(sums.sum())


def _regions(tile_sum: np.ndarray, budget: int) -> list[tuple[int, int, int]]:
    """Split tiles into consecutive runs (t0, t1, fragments) that fit ``budget``;
    a tile over the budget on its own is a run of one (resolved in batches)."""
    total = int(tile_sum.sum())
    if total <= budget:
        return [(0, len(tile_sum), total)]
    regions = []
    t0, running = 0, 0
    for t, n in enumerate(tile_sum.tolist()):
        # (A tile over the budget on its own stays open until this closes it.)
        if running + n > budget and t > t0:
            regions.append((t0, t, running))
            t0, running = t, 0
        running += n
    regions.append((t0, len(tile_sum), running))
    return regions


def pack_on_host(table: np.ndarray, shade: np.ndarray, packed: np.ndarray) -> None:
    """``oit_common``'s ``pack`` in numpy, bit for bit, for the CPU frames that take
    the numpy setup (:func:`~lamina.plugins.oit.raster.kernels_pay`): small ones, and
    a process's first up to ``SETUP_KERNEL_FIRST_FACES``. About 76 ns a row against
    the kernel's 20 (at most 1 ms more on small frames, 15 ms at 2**18 rows), where
    compiling the kernel cost the first frame of every process 20 ms (front end 5,
    first launch 16)."""
    from lamina.kernels.oit_common import PACKED_COLUMNS, PACKED_RGBA

    packed[:, :PACKED_RGBA] = table[:, :PACKED_RGBA]
    # f32 bits as unsigned words, two to a column: the high word's shift wraps as
    # the kernel's (two's complement)
    bits = shade[:, :4].astype(np.float32).view(np.uint32).astype(np.int64)
    packed[:, PACKED_RGBA] = bits[:, 0] | (bits[:, 1] << 32)
    packed[:, PACKED_RGBA + 1] = bits[:, 2] | (bits[:, 3] << 32)
    packed[:, PACKED_COLUMNS - 1] = 0
