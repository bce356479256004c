"""Exact order-independent-transparency renderers on Taichi kernels.

Four methods that composite every fragment in (depth, primitive id) order
and therefore produce the same image (and the same image as
:class:`~lamina.plugins.oit.reference.Reference`, to float rounding):

- :class:`FragmentList` -- per-pixel fragment lists, sorted and composited;
- :class:`DepthPeeling` -- classic depth peeling, one layer per geometry pass;
- :class:`DualDepthPeeling` -- nearest and farthest layer per pass;
- :class:`MultiLayerDepthPeeling` -- the k nearest layers per pass (k-buffer).

All share :mod:`lamina.plugins.oit.raster`'s integer coverage and depth
rules; the triangles are binned into 16x16-pixel screen tiles and every
kernel is pixel-parallel over those tiles (no atomics), so it runs unchanged
on Taichi's CPU, CUDA and Vulkan backends and is deterministic bit for bit.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from lamina.errors import InputError
from lamina.limits import MAX_FRAGMENTS, MAX_PEEL_LAYERS
from lamina.memory import check_allocation
from lamina.plugins.oit import raster
from lamina.scene import Camera, Scene
from lamina.types import Rendering, RenderStats

__all__ = [
    "DepthPeeling",
    "DualDepthPeeling",
    "FragmentList",
    "MultiLayerDepthPeeling",
    "default_max_fragments",
]

#: Smallest budget: one screen tile must fit one fragment per pixel.
MIN_BUDGET = raster.TILE * raster.TILE
_TILE_PIXELS = raster.TILE * raster.TILE
_TAICHI_DTYPES = {"int64": "i64", "int32": "i32", "float32": "f32", "float64": "f64"}


def default_max_fragments(bytes_per_fragment: int) -> int:
    """A quarter of the memory available now, in fragments of ``bytes_per_fragment``."""
    import psutil

    available = psutil.virtual_memory().available
    return int(min(MAX_FRAGMENTS, max(MIN_BUDGET, available // 4 // bytes_per_fragment)))


class _Renderer:
    """Parameter checks and the ``render`` frame shared by every renderer."""

    #: Bytes one fragment record costs against ``max_fragments``.
    bytes_per_fragment = 8
    #: Bytes of per-pixel buffers (outputs and state): with the setup, what the
    #: memory guard checks before a frame allocates anything.
    bytes_per_pixel = 40

    def __init__(
        self, *, max_fragments: int | None = None, early_stop_transmittance: float = 0.0
    ) -> None:
        if max_fragments is not None:
            if isinstance(max_fragments, bool) or not isinstance(max_fragments, int | np.integer):
                raise InputError(f"max_fragments must be an integer or None, got {max_fragments!r}")
            if not MIN_BUDGET <= max_fragments <= MAX_FRAGMENTS:
                raise InputError(
                    f"max_fragments must lie in [{MIN_BUDGET}, {MAX_FRAGMENTS}] "
                    f"(lamina.limits.MAX_FRAGMENTS), got {max_fragments}"
                )
            max_fragments = int(max_fragments)
        if isinstance(early_stop_transmittance, bool) or not isinstance(
            early_stop_transmittance, int | float | np.floating
        ):
            raise InputError(
                f"early_stop_transmittance must be a number, got {early_stop_transmittance!r}"
            )
        if not 0.0 <= early_stop_transmittance < 1.0:
            raise InputError(
                f"early_stop_transmittance must lie in [0, 1), got {early_stop_transmittance}"
            )
        self.max_fragments = max_fragments
        self.early_stop_transmittance = float(early_stop_transmittance)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({params})"

    def budget(self) -> int:
        """The fragment budget this frame works within."""
        if self.max_fragments is not None:
            return self.max_fragments
        return default_max_fragments(self.bytes_per_fragment)

    def render(self, scene: Scene, camera: Camera, size: tuple[int, int]) -> Rendering:
        """Render ``scene`` seen by ``camera`` at ``size`` = (height, width).

        Returns
        -------
        lamina.Rendering
            Premultiplied RGBA float32 image (H, W, 4), the per-pixel depth
            complexity (H, W) int32 and the :class:`lamina.RenderStats`.
        """
        began = time.perf_counter()
        self._check_memory(scene, size)
        tris = raster.setup(scene, camera, size)
        image, depth_complexity, stats = self._render(tris)
        # Upper bound of the frame's peak: the setup's scratch or the render's buffers,
        # on top of the setup's arrays.
        stats.peak_memory_bytes = tris.nbytes + max(tris.setup_bytes, stats.peak_memory_bytes)
        stats.fragments = int(depth_complexity.sum(dtype=np.int64))
        stats.max_depth_complexity = int(depth_complexity.max(initial=0))
        stats.notes.setdefault("raster_triangles", tris.n)
        stats.seconds = time.perf_counter() - began
        return Rendering(image=image, depth_complexity=depth_complexity, stats=stats)

    def _render(self, tris: raster.RasterTriangles) -> tuple[np.ndarray, np.ndarray, RenderStats]:
        raise NotImplementedError

    def memory_estimate(self, scene: Scene, size: tuple[int, int]) -> int:
        """Bytes a frame of ``scene`` at ``size`` needs besides its fragment records:
        per-pixel buffers and the triangle setup (what :meth:`render` checks first)."""
        height, width = raster.check_size(size)
        return (
            height * width * self.bytes_per_pixel
            + min(scene.n_triangles, raster.SETUP_CHUNK) * raster.SETUP_BYTES_PER_FACE
            + scene.n_triangles * raster.KEPT_BYTES_PER_TRIANGLE
        )

    def _check_memory(self, scene: Scene, size: tuple[int, int]) -> None:
        """Refuse, before allocating, a frame whose pixels and setup cannot fit."""
        if not isinstance(scene, Scene):
            return  # raster.setup names the wrong type
        height, width = raster.check_size(size)
        check_allocation(
            self.memory_estimate(scene, size),
            what=f"a {width} x {height} render of {scene.n_triangles} triangles "
            f"({type(self).__name__})",
            fix="choose a smaller size (--size) or a smaller scene",
        )

    def _early_stop_error(self, residual: np.ndarray) -> float | None:
        if self.early_stop_transmittance == 0.0:
            return None
        return float(residual.max(initial=0.0))


class _Device:
    """Buffers for one frame on the active Taichi backend, with their byte count.

    On the CPU numpy arrays are passed to kernels without copies; on GPU
    backends buffers are ``ti.ndarray`` that stay on the device between
    passes and are copied back once at the end.  Named scratch buffers are
    kept in ``pool`` (the renderer's) and reused by the next frame, which
    saves allocating and first-touching hundreds of megabytes per frame.
    """

    def __init__(
        self,
        arch: str,
        *,
        pool: dict | None = None,
        host: bool | None = None,
        real: str | None = None,
    ) -> None:
        import taichi as ti

        self.ti = ti
        self.host = arch == "cpu" if host is None else host
        # Many Vulkan devices lack float64: accumulate in float32 there.
        real = real or ("f32" if arch == "vulkan" else "f64")
        self.real = getattr(ti, real)
        self.real_np = np.dtype({"f32": np.float32, "f64": np.float64}[real])
        self.pool = {} if pool is None else pool
        self.bytes = 0

    def _allocate(self, shape: tuple[int, ...], dtype: np.dtype) -> Any:
        if self.host:
            return np.empty(shape, dtype=dtype)
        return self.ti.ndarray(getattr(self.ti, _TAICHI_DTYPES[dtype.name]), shape)

    def empty(self, shape: tuple[int, ...], dtype: Any, *, keep: str | None = None) -> Any:
        """A new buffer, or the pooled buffer ``keep`` when its shape and dtype fit.
        Kernels index ``keys``-like 1-D scratch only within their range, so a
        pooled 1-D buffer may be longer than asked for."""
        dtype = np.dtype(dtype)
        shape = tuple(int(n) for n in shape)
        if keep is None:
            self.bytes += int(np.prod(shape)) * dtype.itemsize
            return self._allocate(shape, dtype)
        held = self.pool.get(keep)  # (buffer, shape, dtype)
        fits = (
            held is not None
            and held[2] == dtype
            and (held[1] == shape or (len(shape) == 1 and held[1][0] >= shape[0]))
        )
        if not fits:
            self.pool.pop(keep, None)  # free before allocating the replacement
            held = self.pool[keep] = (self._allocate(shape, dtype), shape, dtype)
        self.bytes += int(np.prod(held[1])) * dtype.itemsize
        return held[0]

    def upload(self, array: np.ndarray, *, held: bool = False) -> Any:
        """``array`` for the kernels; ``held``: the caller keeps it anyway (the setup's
        arrays), so on the host, where it is passed as it is, it costs nothing more."""
        # A frame with nothing visible still passes (unused) triangle arrays.
        array = np.ascontiguousarray(
            array if len(array) else np.zeros((1, *array.shape[1:]), array.dtype)
        )
        if self.host:
            self.bytes += 0 if held else array.nbytes
            return array
        buffer = self.empty(array.shape, array.dtype)
        buffer.from_numpy(array)
        return buffer

    def download(self, buffer: Any) -> np.ndarray:
        return buffer if self.host else buffer.to_numpy()

    def zeros(self, shape: tuple[int, ...], dtype: Any) -> Any:
        buffer = self.empty(shape, dtype)
        buffer.fill(0)  # numpy and ti.ndarray alike
        return buffer

    def clear_flag(self, flag: Any) -> None:
        if self.host:
            flag[0] = 0
        else:
            flag.fill(0)

    def flag(self, flag: Any) -> bool:
        return bool(flag[0])


@dataclass
class _Frame:
    """One frame on the device: the binned triangles and what every kernel needs."""

    tris: raster.RasterTriangles
    device: _Device
    common: Any  # lamina.kernels.oit_common.build(real)
    budget: int
    tiles_x: int
    n_tiles: int
    bin_entries: int
    #: The leading arguments of every kernel, in order (see lamina.kernels.oit_common).
    scene: tuple
    gaps: Any
    #: Per tile: 1 when its bin is in key order at every pixel (oit_common.tile_order).
    ordered: Any

    @property
    def n_pixels(self) -> int:
        """Pixels of all tiles, the launch size of a whole-frame pass."""
        return self.n_tiles * _TILE_PIXELS

    def args(self, threshold: float | None = None) -> dict[str, Any]:
        """Keyword arguments shared by the compositing kernels."""
        bg = self.tris.background
        args = {
            "tiles_x": self.tiles_x,
            "id_bits": self.tris.id_bits,
            "depth_shift": self.tris.depth_shift,
            "bg_r": float(bg[0]),
            "bg_g": float(bg[1]),
            "bg_b": float(bg[2]),
            "bg_a": float(bg[3]),
        }
        if threshold is not None:
            args.update(threshold=threshold, flat=self.tris.flat)
        return args


class _TaichiRenderer(_Renderer):
    """Taichi backend selection, binning and device upload."""

    def __init__(
        self,
        *,
        max_fragments: int | None = None,
        early_stop_transmittance: float = 0.0,
        arch: Literal["auto", "cpu", "cuda", "vulkan"] = "auto",
    ) -> None:
        super().__init__(
            max_fragments=max_fragments, early_stop_transmittance=early_stop_transmittance
        )
        from lamina.kernels.runtime import ARCHES

        if arch not in ARCHES:
            raise InputError(f"arch must be one of {', '.join(ARCHES)}, got {arch!r}")
        self.arch = arch
        self._buffers: dict = {}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        # Pickled for other processes (e.g. Dask workers): no buffers, no lock.
        return {k: v for k, v in vars(self).items() if k not in ("_buffers", "_lock")}

    def __setstate__(self, state: dict) -> None:
        vars(self).update(state)
        self._buffers = {}
        self._lock = threading.Lock()

    def _render(self, tris: raster.RasterTriangles) -> tuple[np.ndarray, np.ndarray, RenderStats]:
        with self._lock:  # one frame at a time: frames share the pooled buffers
            return self._draw(self._prepare(tris))

    def _prepare(self, tris: raster.RasterTriangles) -> _Frame:
        """Start Taichi, upload the triangles and bin them into screen tiles."""
        from lamina.kernels import runtime

        # runtime.init before any Taichi import keeps the banner off stdout.
        device = _Device(runtime.init(self.arch), pool=self._buffers)
        from lamina.kernels import oit_common

        common = oit_common.build(device.real)
        height, width = tris.size
        tiles_x, tiles_y = -(-width // raster.TILE), -(-height // raster.TILE)
        n_tiles = tiles_x * tiles_y
        table = device.upload(tris.table, held=True)
        bbox = device.upload(tris.bbox, held=True)
        total = device.zeros((n_tiles,), np.int32)
        extent = {"tiles_x": tiles_x, "width": width, "height": height}
        if tris.n:  # (the uploaded arrays are padded to one row when empty)
            common.bin_count(table, bbox, total, **extent)
        start = np.zeros(n_tiles + 1, dtype=np.int64)
        np.cumsum(device.download(total), out=start[1:])
        entries = int(start[-1])
        check_allocation(
            entries * 16,  # i32 entry and box, i64 sort key per (triangle, tile) pair
            what=f"{entries} (triangle, tile) pairs of a {width} x {height} frame",
            fix="choose a smaller size (--size) or a smaller scene",
        )
        if entries >= 2**31:
            raise InputError(
                f"the scene needs {entries} (triangle, tile) pairs at this size; "
                "at most 2**31 - 1 are supported"
            )
        bin_start = device.upload(start)
        bin_entries = device.empty((max(1, entries),), np.int32)
        gaps = device.upload(oit_common.SHELL_GAPS)
        boxes = device.empty((max(1, entries),), np.int32)
        ordered = device.zeros((n_tiles,), np.int32)
        if entries:
            common.bin_fill(
                table, bbox, bin_start, bin_entries, device.zeros((n_tiles,), np.int32), **extent
            )
            common.bin_sort(
                table,
                bbox,
                bin_start,
                bin_entries,
                device.empty((max(1, entries),), np.int64),
                gaps,
                boxes,
                ordered,
                **extent,
                id_bits=tris.id_bits,
                depth_shift=tris.depth_shift,
            )
        scene = (
            table,
            device.upload(tris.shade.astype(np.float32)),
            bin_start,
            bin_entries,
            boxes,
        )
        return _Frame(
            tris=tris,
            device=device,
            common=common,
            budget=self.budget(),
            tiles_x=tiles_x,
            n_tiles=n_tiles,
            bin_entries=entries,
            scene=scene,
            gaps=gaps,
            ordered=ordered,
        )

    def _stats(
        self, frame: _Frame, layers: np.ndarray, residual: np.ndarray, **fields: Any
    ) -> RenderStats:
        from lamina.kernels import runtime

        stats = RenderStats(
            layers=int(layers.max(initial=0)),
            peak_memory_bytes=frame.device.bytes,
            early_stop_error=self._early_stop_error(residual),
            **fields,
        )
        stats.notes.update(
            arch=runtime.active_arch(),
            tile_size=raster.TILE,
            bin_entries=frame.bin_entries,
            budget=frame.budget,
        )
        return stats

    def _draw(self, frame: _Frame) -> tuple[np.ndarray, np.ndarray, RenderStats]:
        raise NotImplementedError


class _PeelState:
    """Per-pixel state carried between peeling passes, and the frame's outputs."""

    def __init__(self, frame: _Frame, channels: int = 4) -> None:
        device, size = frame.device, frame.tris.size
        self.previous = device.empty(size, np.int64, keep="previous")
        self.accumulated = device.empty((*size, channels), device.real_np, keep="accumulated")
        self.transmittance = device.empty(size, device.real_np, keep="transmittance")
        self.active = device.empty(size, np.int32, keep="active")
        self.alive = device.empty((1,), np.int32)


def _outputs(frame: _Frame) -> dict[str, Any]:
    device, size = frame.device, frame.tris.size
    return {
        "image": device.empty((*size, 4), np.float32),
        "depth_complexity": device.empty(size, np.int32),
        "layers": device.empty(size, np.int32, keep="layers"),
        "residual": device.empty(size, np.float32, keep="residual"),
    }


def _download(frame: _Frame, out: dict) -> tuple[np.ndarray, ...]:
    """image, depth complexity, layers, residual on the host."""
    names = ("image", "depth_complexity", "layers", "residual")
    return tuple(frame.device.download(out[name]) for name in names)


def _peel_passes(
    frame: _Frame,
    out: dict,
    state: _PeelState,
    kernel: Any,
    tiles: tuple[int, int],
    threshold: float,
    **extra: Any,
) -> int:
    """Passes of a peeling ``kernel`` (classic or multi-layer, whose own arguments
    come in ``extra``) over ``tiles`` = [t0, t1) until no pixel is left; their count."""
    passes = 0
    while True:
        frame.device.clear_flag(state.alive)
        kernel(
            *frame.scene,
            state.previous,
            state.accumulated,
            state.transmittance,
            state.active,
            out["depth_complexity"],
            out["layers"],
            out["image"],
            out["residual"],
            state.alive,
            **extra,
            first=int(passes == 0),
            tile0=tiles[0],
            n_pixels=(tiles[1] - tiles[0]) * _TILE_PIXELS,
            **frame.args(threshold),
        )
        passes += 1
        if not frame.device.flag(state.alive):
            return passes


class FragmentList(_TaichiRenderer):
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

    def _draw(self, frame: _Frame) -> tuple[np.ndarray, np.ndarray, RenderStats]:
        from lamina.kernels import oit_fragments

        device, size = frame.device, frame.tris.size
        out = _outputs(frame)
        kernels = oit_fragments.build(device.real)
        pending = device.empty(size, np.int32, keep="pending")
        spilled = device.empty((1,), np.int32)
        device.clear_flag(spilled)
        kernels.resolve(
            *frame.scene,
            frame.ordered,  # tiles whose every list arrives sorted from the bin
            frame.gaps,
            out["image"],
            out["depth_complexity"],
            out["layers"],
            out["residual"],
            pending,
            spilled,
            n_pixels=frame.n_pixels,
            **frame.args(self.early_stop_transmittance),
            stop=self.early_stop_transmittance > 0,
            local=self._local_keys,
        )
        passes, regions, batched, spilled_fragments = 1, 0, 0, 0
        if device.flag(spilled):
            passes, regions, batched, spilled_fragments = self._resolve_spilled(
                frame, out, pending, kernels
            )
        image, depth_complexity, layers, residual = _download(frame, out)
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

    def _resolve_spilled(
        self, frame: _Frame, out: dict, pending: Any, kernels: Any
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
                pending,
                offsets,
                tile_base,
                keys,
                frame.gaps,
                out["image"],
                out["layers"],
                out["residual"],
                tile0=t0,
                n_pixels=(t1 - t0) * _TILE_PIXELS,
                base=int(base[t0]),
                **frame.args(self.early_stop_transmittance),
                stop=self.early_stop_transmittance > 0,
            )
            passes += 1
        batched = int(over.sum())
        if batched:
            kernels.resolve_batched(
                *frame.scene,
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
        if running + n > budget and t > t0:
            regions.append((t0, t, running))
            t0, running = t, 0
        running += n
        if running > budget:  # a single tile over the budget
            regions.append((t0, t + 1, running))
            t0, running = t + 1, 0
    if t0 < len(tile_sum):
        regions.append((t0, len(tile_sum), running))
    return regions


class DepthPeeling(_TaichiRenderer):
    """Exact OIT by classic depth peeling: one layer per geometry pass.

    Each pass keeps, per pixel, the nearest fragment strictly behind the
    layer peeled by the previous pass -- comparing 64-bit (depth, primitive
    id) keys, so exactly coplanar fragments are peeled one after the other
    instead of being dropped -- and composites it front to back.  The pass
    also counts the fragments behind the previous layer (an occlusion
    query), so peeling stops right after the last layer: N layers take
    exactly N geometry passes, with no empty confirming pass.

    Parameters
    ----------
    max_fragments : int or None
        Fragment budget (see :class:`FragmentList`).  Peeling holds one
        fragment per pixel whatever the depth complexity, so it never tiles;
        the parameter is accepted so every renderer takes the same settings.
    early_stop_transmittance : float
        See :class:`FragmentList`.
    arch : {"auto", "cpu", "cuda", "vulkan"}
        Taichi backend.

    References
    ----------
    Everitt, "Interactive Order-Independent Transparency", NVIDIA, 2001.

    Examples
    --------
    >>> import numpy as np
    >>> from lamina.scene import Camera, Scene
    >>> quads = Scene(  # two coplanar quads: ties broken by face index
    ...     vertices=np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], float),
    ...     faces=np.array([[0, 1, 2], [0, 2, 3], [0, 1, 2], [0, 2, 3]]),
    ...     face_colors=[(1, 0, 0, 0.5)] * 2 + [(0, 0, 1, 0.5)] * 2,
    ... )
    >>> camera = Camera.look_at((0, 0, 3), (0, 0, 0), projection="orthographic", ortho_height=4)
    >>> out = DepthPeeling(arch="cpu").render(quads, camera, (24, 32))
    >>> out.image[12, 16].round(3).tolist(), out.stats.geometry_passes
    ([0.5, 0.0, 0.25, 0.75], 2)
    """

    bytes_per_pixel = 84  # outputs 32, previous key 8, accumulator 32, transmittance 8, flag 4

    def _draw(self, frame: _Frame) -> tuple[np.ndarray, np.ndarray, RenderStats]:
        from lamina.kernels import oit_peeling

        out = _outputs(frame)
        state = _PeelState(frame)
        peel = oit_peeling.build(frame.device.real).peel
        passes = _peel_passes(
            frame, out, state, peel, (0, frame.n_tiles), self.early_stop_transmittance
        )
        image, depth_complexity, layers, residual = _download(frame, out)
        stats = self._stats(frame, layers, residual, geometry_passes=passes)
        return image, depth_complexity, stats


class DualDepthPeeling(_TaichiRenderer):
    """Exact OIT by dual depth peeling: nearest and farthest layer per pass.

    A first geometry pass finds each pixel's nearest and farthest fragment;
    every further pass composites those two -- the nearest front to back,
    the farthest back to front into a second accumulator -- and finds the
    next pair strictly between them.  N layers take 1 + ceil(N / 2)
    geometry passes.  (depth, primitive id) keys make every bound match
    exactly one fragment, so coplanar fragments are never merged or lost.

    Parameters
    ----------
    max_fragments : int or None
        Fragment budget; dual peeling holds two fragments per pixel and never
        tiles (see :class:`DepthPeeling`).
    early_stop_transmittance : float
        See :class:`FragmentList`; a pixel stops when its front
        transmittance falls below the threshold.
    arch : {"auto", "cpu", "cuda", "vulkan"}
        Taichi backend.

    References
    ----------
    Bavoil, Myers, "Order Independent Transparency with Dual Depth Peeling",
    NVIDIA, 2008.

    Examples
    --------
    >>> import numpy as np
    >>> from lamina.scene import Camera, Scene
    >>> square = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], float)
    >>> stack = Scene.concatenate([
    ...     Scene(vertices=square + [0, 0, -z], faces=np.array([[0, 1, 2], [0, 2, 3]]),
    ...           face_colors=(0.2, 0.4, 0.8, 0.3)) for z in range(6)])
    >>> camera = Camera.look_at((0, 0, 3), (0, 0, 0), projection="orthographic", ortho_height=4)
    >>> DualDepthPeeling(arch="cpu").render(stack, camera, (24, 32)).stats.geometry_passes
    4
    """

    bytes_per_pixel = 124  # as DepthPeeling, plus a back accumulator and the far key

    def _draw(self, frame: _Frame) -> tuple[np.ndarray, np.ndarray, RenderStats]:
        from lamina.kernels import oit_dual_peeling

        out = _outputs(frame)
        state = _PeelState(frame, channels=8)  # front and back accumulators
        farthest = frame.device.empty(frame.tris.size, np.int64, keep="farthest")
        kernels = oit_dual_peeling.build(frame.device.real)
        buffers = (
            state.previous,  # the nearest remaining key
            farthest,
            state.accumulated,
            state.transmittance,
            state.active,
        )
        frame.device.clear_flag(state.alive)
        kernels.bounds(
            *frame.scene,
            *buffers,
            out["depth_complexity"],
            out["layers"],
            out["image"],
            out["residual"],
            state.alive,
            tile0=0,
            n_pixels=frame.n_pixels,
            **frame.args(),
        )
        passes = 1
        while frame.device.flag(state.alive):
            frame.device.clear_flag(state.alive)
            kernels.peel(
                *frame.scene,
                *buffers,
                out["layers"],
                out["image"],
                out["residual"],
                state.alive,
                tile0=0,
                n_pixels=frame.n_pixels,
                **frame.args(self.early_stop_transmittance),
            )
            passes += 1
        image, depth_complexity, layers, residual = _download(frame, out)
        stats = self._stats(frame, layers, residual, geometry_passes=passes)
        return image, depth_complexity, stats


class MultiLayerDepthPeeling(_TaichiRenderer):
    """Exact OIT by multi-layer depth peeling: the k nearest layers per pass.

    Each geometry pass keeps, per pixel, the ``k`` nearest fragments behind
    the last layer peeled in a sorted k-buffer (insertion on the fly), and
    composites them front to back.  N layers take ceil(N / k) passes.

    Parameters
    ----------
    k : int
        Layers per pass (k-buffer size), >= 1.
    max_fragments : int or None
        Fragment budget: the k-buffers of all pixels hold ``k`` keys each;
        when ``k * pixels`` exceeds the budget the frame is peeled in screen
        regions that fit (``stats.tiles > 1``), and when not even one
        16x16 tile fits, k is lowered to ``max_fragments // 256``
        (``stats.notes["k"]``).
    early_stop_transmittance : float
        See :class:`FragmentList`.
    arch : {"auto", "cpu", "cuda", "vulkan"}
        Taichi backend.

    References
    ----------
    Liu, Wei, Xu, Wu, "Multi-layer depth peeling via fragment sort",
    CAD/Graphics 2009.

    Examples
    --------
    >>> import numpy as np
    >>> from lamina.scene import Camera, Scene
    >>> square = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], float)
    >>> stack = Scene.concatenate([
    ...     Scene(vertices=square + [0, 0, -z], faces=np.array([[0, 1, 2], [0, 2, 3]]),
    ...           face_colors=(0.2, 0.4, 0.8, 0.3)) for z in range(10)])
    >>> camera = Camera.look_at((0, 0, 3), (0, 0, 0), projection="orthographic", ortho_height=4)
    >>> MultiLayerDepthPeeling(k=4, arch="cpu").render(stack, camera, (24, 32)).stats.geometry_passes
    3
    """

    bytes_per_pixel = 84  # as DepthPeeling; the k-buffers are bounded by max_fragments

    def __init__(
        self,
        *,
        k: int = 8,
        max_fragments: int | None = None,
        early_stop_transmittance: float = 0.0,
        arch: Literal["auto", "cpu", "cuda", "vulkan"] = "auto",
    ) -> None:
        super().__init__(
            max_fragments=max_fragments,
            early_stop_transmittance=early_stop_transmittance,
            arch=arch,
        )
        if (
            isinstance(k, bool)
            or not isinstance(k, int | np.integer)
            or not 1 <= k <= MAX_PEEL_LAYERS
        ):
            raise InputError(
                f"k must be an integer in [1, {MAX_PEEL_LAYERS}] (lamina.limits.MAX_PEEL_LAYERS), "
                f"got {k!r}"
            )
        self.k = int(k)

    def _draw(self, frame: _Frame) -> tuple[np.ndarray, np.ndarray, RenderStats]:
        from lamina.kernels import oit_peeling

        out = _outputs(frame)
        state = _PeelState(frame)
        k = min(self.k, frame.budget // _TILE_PIXELS)
        per_region = min(frame.n_tiles, frame.budget // (k * _TILE_PIXELS))
        kbuffer = frame.device.empty((per_region * _TILE_PIXELS * k,), np.int64, keep="kbuffer")
        peel_k = oit_peeling.build(frame.device.real).peel_k
        passes = regions = 0
        for t0 in range(0, frame.n_tiles, per_region):
            tiles = (t0, min(t0 + per_region, frame.n_tiles))
            passes += _peel_passes(
                frame,
                out,
                state,
                peel_k,
                tiles,
                self.early_stop_transmittance,
                kbuffer=kbuffer,
                k=k,
            )
            regions += 1
        image, depth_complexity, layers, residual = _download(frame, out)
        stats = self._stats(
            frame,
            layers,
            residual,
            geometry_passes=passes,
            bound_hit=regions > 1 or k < self.k,
            tiles=regions,
        )
        stats.notes["k"] = k
        return image, depth_complexity, stats
