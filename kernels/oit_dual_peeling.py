"""Dual depth peeling: the nearest and the farthest remaining layer in each pass.

``bounds`` is the initial geometry pass: every pixel finds its nearest and
farthest fragment keys (and counts its fragments).  Each ``peel`` pass then
composites the fragment whose key equals the nearest bound front to back
(*under*), the one equal to the farthest bound back to front (*over*, in a
separate accumulator), and finds the next bounds strictly between the two.
Keys are unique per pixel (depth, primitive id), so exactly one fragment
matches each bound and coplanar fragments are never merged or dropped.
N layers take 1 + ceil(N / 2) geometry passes.  The back accumulator goes
behind the front one when the pixel is finished.

References
----------
Bavoil, Myers, "Order Independent Transparency with Dual Depth Peeling",
NVIDIA, 2008.
"""

import functools
from types import SimpleNamespace

import taichi as ti

from lamina.kernels import oit_common as common

__all__ = ["build"]


@functools.cache
def build(real: object) -> SimpleNamespace:
    """The dual-peeling passes with colour arithmetic in ``real``."""
    c = common.build(real)
    vec4 = c.vec4
    acc_t = ti.types.ndarray(dtype=real, ndim=3)
    trans_t = ti.types.ndarray(dtype=real, ndim=2)
    flag_t = ti.types.ndarray(dtype=ti.i32, ndim=1)

    @ti.kernel
    def bounds(
        table: common.table_t,
        shade: common.shade_t,
        bin_start: common.starts_t,
        bin_entries: common.entries_t,
        bin_boxes: common.boxes_t,
        nearest: common.map_i64_t,
        farthest: common.map_i64_t,
        accumulated: acc_t,
        transmittance: trans_t,
        active: common.map_i32_t,
        depth_complexity: common.map_i32_t,
        layers: common.map_i32_t,
        image: common.image_t,
        residual: common.map_f32_t,
        alive: flag_t,
        tile0: ti.i32,
        n_pixels: ti.i32,
        tiles_x: ti.i32,
        bins_x: ti.i32,
        bin_bits: ti.i32,
        id_bits: ti.i32,
        depth_shift: ti.i32,
        background: common.background_t,
    ):
        """The first pass: per-pixel nearest and farthest keys and the fragment count."""
        height, width = image.shape[0], image.shape[1]
        for q in range(n_pixels):
            p = c.pixel(q, tile0, tiles_x)
            i, j = p[1], p[2]
            if i < width and j < height:
                low = ti.i64(common.MAX_KEY)
                high = ti.i64(-1)
                n = 0
                span = c.bin_span(bin_start, c.bin_of(i, j, bins_x, bin_bits))
                for e in range(span[0], span[1]):
                    entry = bin_entries[e]
                    if c.hit_boxed(table, bin_boxes, e, entry, i, j, bin_bits):
                        k = c.key(table, entry >> 1, i, j, id_bits, depth_shift)
                        n += 1
                        low = ti.min(low, k)
                        high = ti.max(high, k)
                depth_complexity[j, i] = n
                layers[j, i] = 0
                for ch in ti.static(range(8)):
                    accumulated[j, i, ch] = 0.0
                transmittance[j, i] = 1.0
                if n == 0:
                    active[j, i] = 0
                    c.finish(image, residual, i, j, vec4(0.0), 1.0, 0, vec4(background))
                else:
                    active[j, i] = 1
                    alive[0] = 1
                    nearest[j, i] = low
                    farthest[j, i] = high

    @ti.kernel
    def peel(
        table: common.table_t,
        shade: common.shade_t,
        bin_start: common.starts_t,
        bin_entries: common.entries_t,
        bin_boxes: common.boxes_t,
        nearest: common.map_i64_t,
        farthest: common.map_i64_t,
        accumulated: acc_t,
        transmittance: trans_t,
        active: common.map_i32_t,
        layers: common.map_i32_t,
        image: common.image_t,
        residual: common.map_f32_t,
        alive: flag_t,
        tile0: ti.i32,
        n_pixels: ti.i32,
        tiles_x: ti.i32,
        bins_x: ti.i32,
        bin_bits: ti.i32,
        id_bits: ti.i32,
        depth_shift: ti.i32,
        background: common.background_t,
        threshold: ti.f32,
        flat: ti.template(),
    ):
        """One dual pass; ``accumulated[..., :4]`` is the front colour, ``[..., 4:]`` the back."""
        height, width = image.shape[0], image.shape[1]
        mask = c.id_mask(id_bits)
        for q in range(n_pixels):
            p = c.pixel(q, tile0, tiles_x)
            i, j = p[1], p[2]
            # Taichi's `and` evaluates both sides: keep active[j, i] inside the image.
            if i < width and j < height and active[ti.min(j, height - 1), ti.min(i, width - 1)]:
                low, high = nearest[j, i], farthest[j, i]
                next_low = ti.i64(common.MAX_KEY)
                next_high = ti.i64(-1)
                between = 0
                span = c.bin_span(bin_start, c.bin_of(i, j, bins_x, bin_bits))
                for e in range(span[0], span[1]):
                    entry = bin_entries[e]
                    if c.hit_boxed(table, bin_boxes, e, entry, i, j, bin_bits):
                        k = c.key(table, entry >> 1, i, j, id_bits, depth_shift)
                        if low < k and k < high:
                            between += 1
                            next_low = ti.min(next_low, k)
                            next_high = ti.max(next_high, k)
                front = c.load4(accumulated, i, j, 0)
                back = c.load4(accumulated, i, j, 4)
                trans = transmittance[j, i]
                c.under(shade, ti.cast(low & mask, ti.i32), i, j, flat, front, trans)
                peeled = layers[j, i] + 1
                if high != low:
                    color = c.rgba(shade, ti.cast(high & mask, ti.i32), i, j, flat)
                    back = color + (1.0 - color[3]) * back
                    peeled += 1
                layers[j, i] = peeled
                if between == 0:
                    active[j, i] = 0
                    c.finish(
                        image,
                        residual,
                        i,
                        j,
                        front + trans * back,
                        trans * (1.0 - back[3]),
                        0,
                        vec4(background),
                    )
                elif trans < threshold:
                    active[j, i] = 0
                    c.finish(image, residual, i, j, front, trans, 1, vec4(background))
                else:
                    alive[0] = 1
                    nearest[j, i] = next_low
                    farthest[j, i] = next_high
                    transmittance[j, i] = trans
                    c.store4(accumulated, i, j, 0, front)
                    c.store4(accumulated, i, j, 4, back)

    return SimpleNamespace(bounds=bounds, peel=peel)
