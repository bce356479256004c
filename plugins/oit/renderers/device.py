"""Frame buffers on the active Taichi backend, and the base of the Taichi renderers
(backend choice, one frame at a time over pooled buffers, the statistics)."""

from __future__ import annotations

import threading
from typing import Any, Literal

import numpy as np

from lamina.errors import InputError
from lamina.plugins.oit import raster
from lamina.plugins.oit.renderers.base import OITRenderer
from lamina.plugins.oit.renderers.binning import Frame, bin_triangles
from lamina.scene import Camera, Scene
from lamina.types import Rendering, RenderStats

__all__ = ["Device", "TaichiRenderer"]

_LINE = 64  # bytes of a cache line
_TAICHI_DTYPES = {"int64": "i64", "int32": "i32", "float32": "f32", "float64": "f64"}


class Device:
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
            # Cache-line aligned (malloc's large blocks are 16 bytes past a page), so a
            # 64-byte record of the packed triangles is one line, not two.
            size = int(np.prod(shape)) * dtype.itemsize
            raw = np.empty(size + _LINE, dtype=np.uint8)
            skip = -raw.ctypes.data % _LINE
            return raw[skip : skip + size].view(dtype).reshape(shape)
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
        if not fits or held is None:
            self.pool.pop(keep, None)  # free before allocating the replacement
            held = self.pool[keep] = (self._allocate(shape, dtype), shape, dtype)
        self.bytes += int(np.prod(held[1])) * dtype.itemsize
        return held[0]

    def upload(
        self, array: np.ndarray, *, held: bool = False, dtype: Any = None, keep: str | None = None
    ) -> Any:
        """``array`` for the kernels; ``held``: the caller keeps it anyway (the setup's
        arrays), so on the host, where it is passed as it is, it costs nothing more.
        ``dtype`` converts it on the way, on the host into the pooled buffer ``keep``."""
        # A frame with nothing visible still passes (unused) triangle arrays.
        array = np.ascontiguousarray(
            array if len(array) else np.zeros((1, *array.shape[1:]), array.dtype)
        )
        if dtype is not None and array.dtype != dtype:
            if self.host:
                converted = self.empty(array.shape, dtype, keep=keep)
                converted[...] = array
                return converted
            array = array.astype(dtype)
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


class TaichiRenderer(OITRenderer):
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
        self._setup_buffers: dict = {}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        # Pickled for other processes (e.g. Dask workers): no buffers, no lock.
        skip = ("_buffers", "_setup_buffers", "_lock")
        return {k: v for k, v in vars(self).items() if k not in skip}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._buffers = {}
        self._setup_buffers = {}
        self._lock = threading.Lock()

    def render(self, scene: Scene, camera: Camera, size: tuple[int, int]) -> Rendering:
        # One frame at a time: frames share the pooled buffers, the setup's included.
        with self._lock:
            return super().render(scene, camera, size)

    def _setup(self, scene: Scene, camera: Camera, size: tuple[int, int]) -> raster.RasterTriangles:
        return raster.setup(scene, camera, size, arch=self.arch, pool=self._setup_buffers)

    def _render(self, tris: raster.RasterTriangles) -> tuple[np.ndarray, np.ndarray, RenderStats]:
        from lamina.kernels import runtime

        # runtime.init before any Taichi import keeps the banner off stdout.
        device = Device(runtime.init(self.arch), pool=self._buffers)
        return self._draw(bin_triangles(tris, device, budget=self.budget()))

    def _stats(
        self, frame: Frame, layers: np.ndarray, residual: np.ndarray, **fields: Any
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
            bin_size=1 << frame.bin_bits,  # binning.bin_bits: 8 or 16, per frame
            bin_entries=frame.bin_entries,
            budget=frame.budget,
        )
        return stats

    def _draw(self, frame: Frame) -> tuple[np.ndarray, np.ndarray, RenderStats]:
        raise NotImplementedError
