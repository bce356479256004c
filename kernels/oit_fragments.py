"""Per-pixel fragment lists: fill, sort by (depth, primitive) key, composite.

After :func:`lamina.kernels.oit_common.build`'s ``count`` and ``tile_scan``
have sized and placed every pixel's list (count -> exclusive prefix sum; no
compare-and-swap is needed because each pixel thread gathers its own list
from its tile's bin of triangles), :func:`build`'s ``resolve`` fills each
list with 64-bit keys in one geometry pass, sorts it in place and
composites it front to back.  The bins are ordered by depth at the tile
centre, so most lists come out already sorted -- they are composited while
they are filled -- and the others nearly sorted, which insertion sort
handles in linear time (with a Shell-sort fallback for disordered lists,
see ``sort_keys``).

References
----------
Yang, Hensley, Grün, Thibieroz, "Real-Time Concurrent Linked List
Construction on the GPU", Computer Graphics Forum 29(4), 2010.
Ciura, "Best Increments for the Average Case of Shellsort", FCT 2001.
"""

import functools
from types import SimpleNamespace

import taichi as ti

from lamina.kernels import oit_common as common

__all__ = ["build"]


@functools.cache
def build(real: object) -> SimpleNamespace:
    """The fragment-list kernel with colour arithmetic in ``real``."""
    c = common.build(real)
    vec4 = c.vec4

    @ti.kernel
    def resolve(
        table: common.table_t,
        inv_w: common.inv_w_t,
        colors: common.colors_t,
        bin_start: common.starts_t,
        bin_entries: common.entries_t,
        offsets: common.map_i64_t,
        tile_base: common.keys_t,
        keys: common.keys_t,
        gaps: common.keys_t,
        image: common.image_t,
        layers: common.map_i32_t,
        residual: common.map_f32_t,
        tile0: ti.i32,
        n_pixels: ti.i32,
        tiles_x: ti.i32,
        base: ti.i64,
        id_bits: ti.i32,
        depth_shift: ti.i32,
        bg_r: ti.f32,
        bg_g: ti.f32,
        bg_b: ti.f32,
        bg_a: ti.f32,
        threshold: ti.f32,
        flat: ti.template(),
    ):
        """Fill, sort and composite the lists of ``n_pixels`` pixels from tile ``tile0``;
        ``keys`` holds the region's lists, which start at global offset ``base``."""
        height, width = image.shape[0], image.shape[1]
        background = vec4(bg_r, bg_g, bg_b, bg_a)
        mask = (ti.i64(1) << id_bits) - 1
        for q in range(n_pixels):
            p = c.pixel(q, tile0, tiles_x)
            i, j = p[1], p[2]
            if i < width and j < height:
                # Region-local list start; regions hold < 2**31 keys (the budget's bound).
                start = ti.cast(tile_base[p[0]] + offsets[j, i] - base, ti.i32)
                n = 0
                acc = vec4(0.0)
                transmittance = c.real(1.0)
                done = 0
                # Lists usually arrive sorted (bins are depth-ordered): composite on the
                # fly while they do, sort and start over only when one does not.
                ordered = 1
                last = ti.i64(-1)
                for e in range(
                    ti.cast(bin_start[p[0]], ti.i32), ti.cast(bin_start[p[0] + 1], ti.i32)
                ):
                    entry = bin_entries[e]
                    if c.hit(table, entry, i, j):
                        k = c.key(table, entry >> 1, i, j, id_bits, depth_shift)
                        keys[start + n] = k
                        n += 1
                        if k < last:
                            ordered = 0
                        last = k
                        if ordered and transmittance >= threshold:
                            color = c.rgba(table, inv_w, colors, entry >> 1, i, j, flat)
                            acc += transmittance * color
                            transmittance *= 1.0 - color[3]
                            done += 1
                if not ordered:
                    c.sort_keys(keys, gaps, start, n)
                    acc = vec4(0.0)
                    transmittance = 1.0
                    done = 0
                    while done < n:
                        if transmittance < threshold:
                            break
                        r = ti.cast(keys[start + done] & mask, ti.i32)
                        color = c.rgba(table, inv_w, colors, r, i, j, flat)
                        acc += transmittance * color
                        transmittance *= 1.0 - color[3]
                        done += 1
                layers[j, i] = ti.cast(done, ti.i32)
                c.finish(image, residual, i, j, acc, transmittance, done < n, background)

    return SimpleNamespace(resolve=resolve)
