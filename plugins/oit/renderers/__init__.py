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

Modules: :mod:`.base` (what every renderer shares, the reference included),
:mod:`.device` (buffers on the Taichi backend, the Taichi renderers' base),
:mod:`.binning` (a frame's triangles binned into screen tiles),
:mod:`.fragment_list` and :mod:`.peeling` (the methods).
"""

from lamina.plugins.oit.renderers.base import default_max_fragments
from lamina.plugins.oit.renderers.fragment_list import FragmentList
from lamina.plugins.oit.renderers.peeling import (
    DepthPeeling,
    DualDepthPeeling,
    MultiLayerDepthPeeling,
)

__all__ = [
    "DepthPeeling",
    "DualDepthPeeling",
    "FragmentList",
    "MultiLayerDepthPeeling",
    "default_max_fragments",
]
