"""Depth peeling, dual depth peeling and multi-layer depth peeling (k-buffer) on the
kernels of :mod:`lamina.kernels.oit_peeling` and :mod:`lamina.kernels.oit_dual_peeling`."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from lamina.errors import InputError
from lamina.limits import MAX_PEEL_LAYERS
from lamina.plugins.oit.renderers.base import TILE_PIXELS
from lamina.plugins.oit.renderers.binning import Frame
from lamina.plugins.oit.renderers.device import TaichiRenderer
from lamina.types import RenderStats

__all__ = ["DepthPeeling", "DualDepthPeeling", "MultiLayerDepthPeeling"]


class PeelState:
    """Per-pixel state carried between peeling passes, and the frame's outputs."""

    def __init__(self, frame: Frame, channels: int = 4) -> None:
        device, size = frame.device, frame.tris.size
        self.previous = device.empty(size, np.int64, keep="previous")
        self.accumulated = device.empty((*size, channels), device.real_np, keep="accumulated")
        self.transmittance = device.empty(size, device.real_np, keep="transmittance")
        self.active = device.empty(size, np.int32, keep="active")
        self.alive = device.empty((1,), np.int32)


def peel_passes(
    frame: Frame,
    out: dict,
    state: PeelState,
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
            n_pixels=(tiles[1] - tiles[0]) * TILE_PIXELS,
            **frame.args(threshold),
        )
        passes += 1
        if not frame.device.flag(state.alive):
            return passes


class DepthPeeling(TaichiRenderer):
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

    def _draw(self, frame: Frame) -> tuple[np.ndarray, np.ndarray, RenderStats]:
        from lamina.kernels import oit_peeling

        out = frame.outputs()
        state = PeelState(frame)
        peel = oit_peeling.build(frame.device.real).peel
        passes = peel_passes(
            frame, out, state, peel, (0, frame.n_tiles), self.early_stop_transmittance
        )
        image, depth_complexity, layers, residual = frame.download(out)
        stats = self._stats(frame, layers, residual, geometry_passes=passes)
        return image, depth_complexity, stats


class DualDepthPeeling(TaichiRenderer):
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

    def _draw(self, frame: Frame) -> tuple[np.ndarray, np.ndarray, RenderStats]:
        from lamina.kernels import oit_dual_peeling

        out = frame.outputs()
        state = PeelState(frame, channels=8)  # front and back accumulators
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
        image, depth_complexity, layers, residual = frame.download(out)
        stats = self._stats(frame, layers, residual, geometry_passes=passes)
        return image, depth_complexity, stats


class MultiLayerDepthPeeling(TaichiRenderer):
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

    def _draw(self, frame: Frame) -> tuple[np.ndarray, np.ndarray, RenderStats]:
        from lamina.kernels import oit_peeling

        out = frame.outputs()
        state = PeelState(frame)
        k = min(self.k, frame.budget // TILE_PIXELS)
        per_region = min(frame.n_tiles, frame.budget // (k * TILE_PIXELS))
        kbuffer = frame.device.empty((per_region * TILE_PIXELS * k,), np.int64, keep="kbuffer")
        peel_k = oit_peeling.build(frame.device.real).peel_k
        passes = regions = 0
        for t0 in range(0, frame.n_tiles, per_region):
            tiles = (t0, min(t0 + per_region, frame.n_tiles))
            passes += peel_passes(
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
        image, depth_complexity, layers, residual = frame.download(out)
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
