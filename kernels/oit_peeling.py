"""Depth peeling: classic (one layer per geometry pass) and multi-layer (k per pass).

Each launch of a ``peel`` kernel is one geometry pass: every pixel runs
through its tile's bin of triangles and keeps the fragments strictly behind
the layer it peeled last, comparing 64-bit (depth, primitive) keys, so
coplanar fragments are ordered by primitive id and never lost.  The per-pixel
state between passes is the key of the last layer peeled (the "previous
depth buffer"), the colour accumulated front to back with the *under*
operator, and the transmittance left.  A pass also counts the fragments
behind the last layer (an occlusion query): a pixel with nothing left is
finished and written, and the host stops when no pixel is left, so N layers
take exactly N passes (classic) or ceil(N / k) passes (multi-layer).

References
----------
Everitt, "Interactive Order-Independent Transparency", NVIDIA, 2001.
Liu, Wei, Xu, Wu, "Multi-layer depth peeling via fragment sort",
CAD/Graphics 2009.
"""

import functools
from types import SimpleNamespace

import taichi as ti

from lamina.kernels import oit_common as common

__all__ = ["build"]


@functools.cache
def build(real: object) -> SimpleNamespace:
    """The classic and multi-layer peeling passes with colour arithmetic in ``real``."""
    c = common.build(real)
    vec4 = c.vec4
    acc_t = ti.types.ndarray(dtype=real, ndim=3)
    trans_t = ti.types.ndarray(dtype=real, ndim=2)
    flag_t = ti.types.ndarray(dtype=ti.i32, ndim=1)

    @ti.kernel
    def peel(
        table: common.table_t,
        shade: common.shade_t,
        bin_start: common.starts_t,
        bin_entries: common.entries_t,
        bin_boxes: common.entries_t,
        previous: common.map_i64_t,
        accumulated: acc_t,
        transmittance: trans_t,
        active: common.map_i32_t,
        depth_complexity: common.map_i32_t,
        layers: common.map_i32_t,
        image: common.image_t,
        residual: common.map_f32_t,
        alive: flag_t,
        first: ti.i32,
        tile0: ti.i32,
        n_pixels: ti.i32,
        tiles_x: ti.i32,
        id_bits: ti.i32,
        depth_shift: ti.i32,
        bg_r: ti.f32,
        bg_g: ti.f32,
        bg_b: ti.f32,
        bg_a: ti.f32,
        threshold: ti.f32,
        flat: ti.template(),
    ):
        """One classic depth-peeling pass: peel the nearest fragment behind ``previous``."""
        height, width = image.shape[0], image.shape[1]
        mask = (ti.i64(1) << id_bits) - 1
        for q in range(n_pixels):
            p = c.pixel(q, tile0, tiles_x)
            i, j = p[1], p[2]
            # Taichi's `and`/`or` evaluate both sides: keep active[j, i] inside the image.
            if (
                i < width
                and j < height
                and (first or active[ti.min(j, height - 1), ti.min(i, width - 1)])
            ):
                behind = ti.i64(-1)
                acc = vec4(0.0)
                trans = c.real(1.0)
                peeled = 0
                if not first:
                    behind = previous[j, i]
                    acc = vec4(
                        accumulated[j, i, 0],
                        accumulated[j, i, 1],
                        accumulated[j, i, 2],
                        accumulated[j, i, 3],
                    )
                    trans = transmittance[j, i]
                    peeled = layers[j, i]
                nearest = ti.i64(common.MAX_KEY)
                remaining = 0
                for e in range(
                    ti.cast(bin_start[p[0]], ti.i32), ti.cast(bin_start[p[0] + 1], ti.i32)
                ):
                    entry = bin_entries[e]
                    r = entry >> 1
                    if c.hit_boxed(table, bin_boxes, e, entry, i, j):
                        k = c.key(table, r, i, j, id_bits, depth_shift)
                        if k > behind:
                            remaining += 1
                            nearest = ti.min(nearest, k)
                if first:
                    depth_complexity[j, i] = remaining
                if remaining > 0:
                    color = c.rgba(shade, ti.cast(nearest & mask, ti.i32), i, j, flat)
                    acc += trans * color
                    trans *= 1.0 - color[3]
                    peeled += 1
                layers[j, i] = peeled
                stopped = remaining > 1 and trans < threshold
                if remaining <= 1 or stopped:
                    active[j, i] = 0
                    c.finish(
                        image, residual, i, j, acc, trans, stopped, vec4(bg_r, bg_g, bg_b, bg_a)
                    )
                else:
                    active[j, i] = 1
                    alive[0] = 1
                    previous[j, i] = nearest
                    transmittance[j, i] = trans
                    for ch in ti.static(range(4)):
                        accumulated[j, i, ch] = acc[ch]

    @ti.kernel
    def peel_k(
        table: common.table_t,
        shade: common.shade_t,
        bin_start: common.starts_t,
        bin_entries: common.entries_t,
        bin_boxes: common.entries_t,
        previous: common.map_i64_t,
        accumulated: acc_t,
        transmittance: trans_t,
        active: common.map_i32_t,
        depth_complexity: common.map_i32_t,
        layers: common.map_i32_t,
        image: common.image_t,
        residual: common.map_f32_t,
        alive: flag_t,
        kbuffer: common.keys_t,
        k: ti.i32,
        first: ti.i32,
        tile0: ti.i32,
        n_pixels: ti.i32,
        tiles_x: ti.i32,
        id_bits: ti.i32,
        depth_shift: ti.i32,
        bg_r: ti.f32,
        bg_g: ti.f32,
        bg_b: ti.f32,
        bg_a: ti.f32,
        threshold: ti.f32,
        flat: ti.template(),
    ):
        """One multi-layer pass: keep the ``k`` nearest fragments behind ``previous`` in
        the pixel's sorted k-buffer (``kbuffer[q * k:(q + 1) * k]``), composite them."""
        height, width = image.shape[0], image.shape[1]
        mask = (ti.i64(1) << id_bits) - 1
        for q in range(n_pixels):
            p = c.pixel(q, tile0, tiles_x)
            i, j = p[1], p[2]
            # Taichi's `and`/`or` evaluate both sides: keep active[j, i] inside the image.
            if (
                i < width
                and j < height
                and (first or active[ti.min(j, height - 1), ti.min(i, width - 1)])
            ):
                behind = ti.i64(-1)
                acc = vec4(0.0)
                trans = c.real(1.0)
                peeled = 0
                if not first:
                    behind = previous[j, i]
                    acc = vec4(
                        accumulated[j, i, 0],
                        accumulated[j, i, 1],
                        accumulated[j, i, 2],
                        accumulated[j, i, 3],
                    )
                    trans = transmittance[j, i]
                    peeled = layers[j, i]
                slot = ti.cast(q, ti.i64) * k
                held = 0
                remaining = 0
                for e in range(
                    ti.cast(bin_start[p[0]], ti.i32), ti.cast(bin_start[p[0] + 1], ti.i32)
                ):
                    entry = bin_entries[e]
                    r = entry >> 1
                    if c.hit_boxed(table, bin_boxes, e, entry, i, j):
                        key = c.key(table, r, i, j, id_bits, depth_shift)
                        if key > behind:
                            remaining += 1
                            place = -1
                            if held < k:
                                place = held
                                held += 1
                            elif key < kbuffer[slot + k - 1]:
                                place = k - 1  # the farthest held key drops out
                            if place >= 0:
                                # Insertion into the sorted k-buffer.
                                while place > 0:
                                    if kbuffer[slot + place - 1] < key:
                                        break
                                    kbuffer[slot + place] = kbuffer[slot + place - 1]
                                    place -= 1
                                kbuffer[slot + place] = key
                if first:
                    depth_complexity[j, i] = remaining
                done = 0
                while done < held:
                    if trans < threshold:
                        break
                    r = ti.cast(kbuffer[slot + done] & mask, ti.i32)
                    color = c.rgba(shade, r, i, j, flat)
                    acc += trans * color
                    trans *= 1.0 - color[3]
                    done += 1
                layers[j, i] = peeled + done
                more = remaining > done
                stopped = more and trans < threshold
                if not more or stopped:
                    active[j, i] = 0
                    c.finish(
                        image, residual, i, j, acc, trans, stopped, vec4(bg_r, bg_g, bg_b, bg_a)
                    )
                else:
                    active[j, i] = 1
                    alive[0] = 1
                    previous[j, i] = kbuffer[slot + held - 1]
                    transmittance[j, i] = trans
                    for ch in ti.static(range(4)):
                        accumulated[j, i, ch] = acc[ch]

    return SimpleNamespace(peel=peel, peel_k=peel_k)
