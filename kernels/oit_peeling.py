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

    @ti.func
    def resume(
        first: ti.i32,
        previous: ti.template(),
        accumulated: ti.template(),
        transmittance: ti.template(),
        layers: ti.template(),
        i: ti.i32,
        j: ti.i32,
        behind: ti.template(),
        acc: ti.template(),
        trans: ti.template(),
        peeled: ti.template(),
    ):
        """Load pixel (i, j)'s state from the previous pass into the caller's variables
        (by reference): the last key peeled, colour, transmittance and layers so far.
        The first pass keeps their initial values (nothing peeled)."""
        # Assigning a ti.template() argument writes the caller's variable (ruff sees
        # only local names that are never read).
        if not first:
            behind = previous[j, i]  # noqa: F841
            acc = c.load4(accumulated, i, j, 0)  # noqa: F841
            trans = transmittance[j, i]  # noqa: F841
            peeled = layers[j, i]  # noqa: F841

    @ti.func
    def settle(
        finished: ti.i32,
        stopped: ti.i32,
        last: ti.i64,
        previous: ti.template(),
        accumulated: ti.template(),
        transmittance: ti.template(),
        active: ti.template(),
        alive: ti.template(),
        image: ti.template(),
        residual: ti.template(),
        i: ti.i32,
        j: ti.i32,
        acc: vec4,
        trans: real,
        background: vec4,
    ):
        """End pixel (i, j)'s pass: write it when ``finished`` (``stopped``: early), else
        keep its state, ``last`` the key peeled last, for the next pass."""
        if finished:
            active[j, i] = 0
            c.finish(image, residual, i, j, acc, trans, stopped, background)
        else:
            active[j, i] = 1
            alive[0] = 1
            previous[j, i] = last
            transmittance[j, i] = trans
            c.store4(accumulated, i, j, 0, acc)

    @ti.kernel
    def peel(
        table: common.table_t,
        shade: common.shade_t,
        bin_start: common.starts_t,
        bin_entries: common.entries_t,
        bin_boxes: common.boxes_t,
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
        bins_x: ti.i32,
        bin_bits: ti.i32,
        id_bits: ti.i32,
        depth_shift: ti.i32,
        background: common.background_t,
        threshold: ti.f32,
        flat: ti.template(),
    ):
        """One classic depth-peeling pass: peel the nearest fragment behind ``previous``."""
        height, width = image.shape[0], image.shape[1]
        mask = c.id_mask(id_bits)
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
                resume(
                    first, previous, accumulated, transmittance, layers, i, j,
                    behind, acc, trans, peeled,
                )  # fmt: skip
                nearest = ti.i64(common.MAX_KEY)
                remaining = 0
                span = c.bin_span(bin_start, c.bin_of(i, j, bins_x, bin_bits))
                for e in range(span[0], span[1]):
                    entry = bin_entries[e]
                    if c.hit_boxed(table, bin_boxes, e, entry, i, j, bin_bits):
                        k = c.key(table, entry >> 1, i, j, id_bits, depth_shift)
                        if k > behind:
                            remaining += 1
                            nearest = ti.min(nearest, k)
                if first:
                    depth_complexity[j, i] = remaining
                if remaining > 0:
                    c.under(shade, ti.cast(nearest & mask, ti.i32), i, j, flat, acc, trans)
                    peeled += 1
                layers[j, i] = peeled
                stopped = remaining > 1 and trans < threshold
                settle(
                    remaining <= 1 or stopped, stopped, nearest, previous, accumulated,
                    transmittance, active, alive, image, residual, i, j, acc, trans,
                    vec4(background),
                )  # fmt: skip

    @ti.kernel
    def peel_k(
        table: common.table_t,
        shade: common.shade_t,
        bin_start: common.starts_t,
        bin_entries: common.entries_t,
        bin_boxes: common.boxes_t,
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
        bins_x: ti.i32,
        bin_bits: ti.i32,
        id_bits: ti.i32,
        depth_shift: ti.i32,
        background: common.background_t,
        threshold: ti.f32,
        flat: ti.template(),
    ):
        """One multi-layer pass: keep the ``k`` nearest fragments behind ``previous`` in
        the pixel's sorted k-buffer (``kbuffer[q * k:(q + 1) * k]``), composite them."""
        height, width = image.shape[0], image.shape[1]
        mask = c.id_mask(id_bits)
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
                resume(
                    first, previous, accumulated, transmittance, layers, i, j,
                    behind, acc, trans, peeled,
                )  # fmt: skip
                slot = ti.cast(q, ti.i64) * k
                held = 0
                remaining = 0
                span = c.bin_span(bin_start, c.bin_of(i, j, bins_x, bin_bits))
                for e in range(span[0], span[1]):
                    entry = bin_entries[e]
                    if c.hit_boxed(table, bin_boxes, e, entry, i, j, bin_bits):
                        key = c.key(table, entry >> 1, i, j, id_bits, depth_shift)
                        if key > behind:
                            remaining += 1
                            held = c.kbuffer_insert(kbuffer, slot, held, k, key)
                if first:
                    depth_complexity[j, i] = remaining
                done = 0
                while done < held:
                    if trans < threshold:
                        break
                    c.under(
                        shade, ti.cast(kbuffer[slot + done] & mask, ti.i32), i, j, flat, acc, trans
                    )
                    done += 1
                layers[j, i] = peeled + done
                more = remaining > done
                stopped = more and trans < threshold
                # (With nothing held the pixel is finished and the key is not used; the
                # index stays inside its k-buffer all the same.)
                settle(
                    not more or stopped, stopped, kbuffer[slot + ti.max(held, 1) - 1], previous,
                    accumulated, transmittance, active, alive, image, residual, i, j, acc, trans,
                    vec4(background),
                )  # fmt: skip

    return SimpleNamespace(peel=peel, peel_k=peel_k)
