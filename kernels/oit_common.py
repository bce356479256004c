"""Rasterisation building blocks shared by the order-independent-transparency kernels.

Pure compute on ``ti.types.ndarray`` arguments, no global fields.  The triangle
setup (clipping, snapping, integer edge and depth planes) is defined in float64
numpy by :func:`lamina.plugins.oit.raster.setup` and, for the faces that need no
clipping, run bit for bit the same by the :mod:`lamina.kernels.oit_setup`
kernel; these functions evaluate its integer formulas at a pixel centre, so
every backend sees bit-identical coverage and sort keys.  :func:`build`'s
``bin_tiles`` bins the triangles into screen tiles, one compiled kernel for
its three phases (count, fill, sort).  Colour arithmetic uses the ``real`` type given to
:func:`build` (f64 on CPU/CUDA, f32 where the device lacks f64).

Pixels are visited tile-major: pixel ``q`` of a launch is pixel
``q % TILE**2`` (row-major) of screen tile ``tile0 + q // TILE**2``, so the
pixels of one tile, which share one bin of triangles, run together.

Every kernel takes the same leading "scene" arguments, in this order:
``table`` (R, 17) i64, ``shade`` (R, 17) f32 (colour planes, see
``RasterTriangles.shade``), ``bin_start`` (bins + 1) i64, ``bin_entries`` (E) i32,
``bin_boxes`` (E) i64 (each entry's coverage mask of its 8x8 bin, or its pixel box
within its 16x16 bin: see ``entry_box``).
"""

import functools
from types import SimpleNamespace

import numpy as np
import taichi as ti

__all__ = ["SHELL_GAPS", "TILE", "build"]

# Must match lamina.plugins.oit.raster (checked by the tests).
TILE = 16
SUBPIXEL_BITS = 8
GRADIENT_BITS = 8
COL_Z, COL_GX, COL_GY, COL_ZLO, COL_ZHI = range(5)
#: The anchor pixel of a depth plane rides above its bounds in COL_ZLO and COL_ZHI.
ANCHOR_SHIFT = 48
COL_EDGE = 5
SHADE_ANCHOR = 15
MAX_KEY = (1 << 63) - 1
#: Set in the pixel box of a 16x16 bin's entry that covers the whole bin (its 4-bit
#: corners take bits 0-15).
FULL_BIT = 16
#: Loop iterations per binning chunk (see ``bin_tiles``): Taichi's CPU task size.
CHUNK_STRIDE = 512
#: Bins of up to this many entries are sorted by rank (``rank_bin``), larger ones by
#: Shell sort.
RANK_SORT = 64
#: ``pack``'s record: the depth plane, RGBA f32 bits from column PACKED_RGBA, padding
#: to 64 bytes.
PACKED_RGBA, PACKED_COLUMNS = COL_ZHI + 1, 8


def _gaps() -> np.ndarray:
    gaps = [1, 4, 10, 23, 57, 132, 301, 701]
    while gaps[-1] < 2**31:
        gaps.append(int(gaps[-1] * 2.25))
    return np.array(gaps[::-1], dtype=np.int64)


#: Shell-sort gaps, largest first (Ciura's sequence, extended by x2.25).
SHELL_GAPS = _gaps()

table_t = ti.types.ndarray(dtype=ti.i64, ndim=2)
#: Colour planes in the colour arithmetic's precision (``build``'s ``real``: float64
#: but on Vulkan): float32 planes of a vertex-coloured face whose 1/w varies tenfold
#: across it (cut by the near plane) lost 3e-6 of a colour to cancellation.
shade_t = ti.types.ndarray(ndim=2)
starts_t = ti.types.ndarray(dtype=ti.i64, ndim=1)
entries_t = ti.types.ndarray(dtype=ti.i32, ndim=1)
keys_t = ti.types.ndarray(dtype=ti.i64, ndim=1)
boxes_t = keys_t
map_i32_t = ti.types.ndarray(dtype=ti.i32, ndim=2)
map_i64_t = ti.types.ndarray(dtype=ti.i64, ndim=2)
map_f32_t = ti.types.ndarray(dtype=ti.f32, ndim=2)
image_t = ti.types.ndarray(dtype=ti.f32, ndim=3)
#: The background colour, premultiplied RGBA.
background_t = ti.types.vector(4, ti.f32)


@functools.cache
def build(real: object) -> SimpleNamespace:
    """The shared ``ti.func`` helpers with colour arithmetic in ``real``."""
    vec4 = ti.types.vector(4, real)

    @ti.func
    def pixel(q: ti.i32, tile0: ti.i32, tiles_x: ti.i32) -> ti.math.ivec3:
        """(tile, column i, row j) of launch pixel ``q``."""
        t = tile0 + q // (TILE * TILE)
        local = q % (TILE * TILE)
        return ti.math.ivec3(
            t, (t % tiles_x) * TILE + local % TILE, (t // tiles_x) * TILE + local // TILE
        )

    @ti.func
    def bin_of(i: ti.i32, j: ti.i32, bins_x: ti.i32, bin_bits: ti.i32) -> ti.i32:
        """The bin of pixel (i, j): bins are squares of ``2**bin_bits`` pixels, 8 or
        16 (see :mod:`lamina.plugins.oit.renderers.binning`), ``bins_x`` to a row."""
        return (j >> bin_bits) * bins_x + (i >> bin_bits)

    @ti.func
    def bin_span(bin_start: ti.template(), b: ti.i32) -> ti.math.ivec2:
        """[first, end) entries of bin ``b``."""
        return ti.math.ivec2(ti.cast(bin_start[b], ti.i32), ti.cast(bin_start[b + 1], ti.i32))

    @ti.func
    def id_mask(id_bits: ti.i32) -> ti.i64:
        """The primitive-id bits of a key."""
        return (ti.i64(1) << id_bits) - 1

    @ti.func
    def edge(table: ti.template(), r: ti.i32, k: ti.i32, x: ti.i64, y: ti.i64) -> ti.i64:
        """Edge function ``k`` of triangle ``r`` at pixel (x >> 8, y >> 8)."""
        c = COL_EDGE + 4 * k
        return table[r, c] * x + table[r, c + 1] * y + table[r, c + 2]

    @ti.func
    def covers(table: ti.template(), r: ti.i32, i: ti.i32, j: ti.i32) -> ti.i32:
        """Top-left-rule coverage of pixel (i, j)'s centre by raster triangle ``r``."""
        x = ti.cast(i, ti.i64) << SUBPIXEL_BITS
        y = ti.cast(j, ti.i64) << SUBPIXEL_BITS
        inside = 1
        for k in range(3):  # (a loop, not ti.static: one copy of edge to compile)
            if edge(table, r, k, x, y) < table[r, COL_EDGE + 4 * k + 3]:
                inside = 0
        return inside

    @ti.func
    def hit(table: ti.template(), entry: ti.i32, i: ti.i32, j: ti.i32) -> ti.i32:
        """Whether bin ``entry`` (``2 * r + full``) covers pixel (i, j).  (Taichi's
        ``or`` does not short-circuit, hence the explicit branch.)"""
        result = 1
        if entry & 1 == 0:
            result = covers(table, entry >> 1, i, j)
        return result

    @ti.func
    def hit_boxed(
        table: ti.template(),
        boxes: ti.template(),
        e: ti.i32,
        entry: ti.i32,
        i: ti.i32,
        j: ti.i32,
        bin_bits: ti.i32,
    ) -> ti.i32:
        """:func:`hit` from ``boxes[e]`` (see ``entry_box``): in an 8x8 bin the entry's
        coverage mask, one bit per pixel, so no triangle is read at all; in a 16x16
        bin a cheap test of the triangle's pixel box within the bin first, so small
        triangles, most of a bin, are rejected without reading their row of the table."""
        box = boxes[e]
        last = (1 << bin_bits) - 1
        li, lj = i & last, j & last
        inside = 0
        if bin_bits == 3:
            inside = ti.cast((box >> ((lj << 3) | li)) & 1, ti.i32)
        # (Taichi's `and` evaluates every side: all four are cheap comparisons.)
        elif box & 15 <= li <= (box >> 4) & 15 and (box >> 8) & 15 <= lj <= (box >> 12) & 15:
            inside = hit(table, entry, i, j)
        return inside

    @ti.func
    def key(
        table: ti.template(), r: ti.i32, i: ti.i32, j: ti.i32, id_bits: ti.i32, depth_shift: ti.i32
    ) -> ti.i64:
        """``depth << id_bits | r``: the fragment's place in the depth order (the plane
        about its anchor pixel, clamped to the triangle's depth range)."""
        low, high = table[r, COL_ZLO], table[r, COL_ZHI]
        field = ti.i64((1 << ANCHOR_SHIFT) - 1)
        z = (
            table[r, COL_Z]
            + table[r, COL_GX] * (ti.cast(i, ti.i64) - (low >> ANCHOR_SHIFT))
            + table[r, COL_GY] * (ti.cast(j, ti.i64) - (high >> ANCHOR_SHIFT))
        ) >> GRADIENT_BITS
        z = ti.min(ti.max(z, low & field), high & field)
        return ((z >> depth_shift) << id_bits) | ti.cast(r, ti.i64)

    @ti.func
    def rgba(shade: ti.template(), r: ti.i32, i: ti.i32, j: ti.i32, flat: ti.template()) -> vec4:
        """Premultiplied colour of raster triangle ``r`` at pixel (i, j): its colour
        planes (colour / w and 1 / w, affine in screen space) at the pixel, divided."""
        c = vec4(shade[r, 0], shade[r, 1], shade[r, 2], shade[r, 3])
        if ti.static(not flat):
            di = ti.cast(i, real) - ti.cast(shade[r, SHADE_ANCHOR], real)
            dj = ti.cast(j, real) - ti.cast(shade[r, SHADE_ANCHOR + 1], real)
            q = vec4(0.0)
            for k in ti.static(range(4)):
                q[k] = (
                    ti.cast(shade[r, k], real)
                    + ti.cast(shade[r, 5 + k], real) * di
                    + ti.cast(shade[r, 10 + k], real) * dj
                )
            w = (
                ti.cast(shade[r, 4], real)
                + ti.cast(shade[r, 9], real) * di
                + ti.cast(shade[r, 14], real) * dj
            )
            c = q / w
        return premultiplied(c)

    @ti.func
    def premultiplied(c: vec4) -> vec4:
        """Straight RGBA ``c`` premultiplied by its alpha."""
        return vec4(c[0] * c[3], c[1] * c[3], c[2] * c[3], c[3])

    @ti.func
    def behind(color: vec4, acc: ti.template(), transmittance: ti.template()):
        """Composite the premultiplied ``color`` behind the caller's ``acc`` and
        ``transmittance`` (front to back; ``ti.template()`` passes both by reference)."""
        acc += transmittance * color
        transmittance *= 1.0 - color[3]

    @ti.func
    def under(
        shade: ti.template(),
        r: ti.i32,
        i: ti.i32,
        j: ti.i32,
        flat: ti.template(),
        acc: ti.template(),
        transmittance: ti.template(),
    ):
        """Composite raster triangle ``r``'s fragment at (i, j) behind the caller's
        ``acc`` and ``transmittance`` (see ``behind``)."""
        behind(rgba(shade, r, i, j, flat), acc, transmittance)

    @ti.kernel
    def pack(table: table_t, shade: shade_t, packed: table_t):
        """Each face-coloured triangle's record of ``PACKED_COLUMNS`` i64: its depth
        plane (``table``'s columns ``COL_Z`` to ``COL_ZHI``, so :func:`key` reads the
        record as it reads the table), then its straight RGBA f32 bits, two to a
        column (see ``packed_rgba``).  A fragment's key and colour are then one
        64-byte cache line instead of parts of a 136-byte table row and a 16-byte
        shade row: the resolve reads randomly ordered triangles, and these first
        reads were half of its time at 1M random triangles."""
        for r in range(packed.shape[0]):
            for k in ti.static(range(COL_ZHI + 1)):
                packed[r, k] = table[r, k]
            for k in ti.static(range(2)):
                straight = ti.cast(shade[r, 2 * k], ti.f32), ti.cast(shade[r, 2 * k + 1], ti.f32)
                low = ti.cast(ti.bit_cast(straight[0], ti.i32), ti.i64) & ti.i64(0xFFFFFFFF)
                high = ti.cast(ti.bit_cast(straight[1], ti.i32), ti.i64) << 32
                packed[r, PACKED_RGBA + k] = low | high
            packed[r, PACKED_COLUMNS - 1] = 0

    @ti.func
    def packed_rgba(packed: ti.template(), r: ti.i32) -> vec4:
        """:func:`rgba` of a face-coloured triangle from its ``pack`` record."""
        c = vec4(0.0)
        for k in ti.static(range(2)):
            bits = packed[r, PACKED_RGBA + k]
            c[2 * k] = ti.cast(ti.bit_cast(ti.cast(bits, ti.i32), ti.f32), real)
            c[2 * k + 1] = ti.cast(ti.bit_cast(ti.cast(bits >> 32, ti.i32), ti.f32), real)
        return premultiplied(c)

    @ti.func
    def load4(buffer: ti.template(), i: ti.i32, j: ti.i32, offset: ti.template()) -> vec4:
        """Channels ``offset`` to ``offset + 3`` of pixel (i, j) of ``buffer``."""
        return vec4(
            buffer[j, i, offset],
            buffer[j, i, offset + 1],
            buffer[j, i, offset + 2],
            buffer[j, i, offset + 3],
        )

    @ti.func
    def store4(buffer: ti.template(), i: ti.i32, j: ti.i32, offset: ti.template(), value: vec4):
        """Write ``value`` to channels ``offset`` to ``offset + 3`` of pixel (i, j)."""
        for c in ti.static(range(4)):
            buffer[j, i, offset + c] = value[c]

    @ti.func
    def kbuffer_insert(
        keys: ti.template(), slot: ti.template(), held: ti.i32, k: ti.i32, key: ti.i64
    ) -> ti.i32:
        """Insert ``key`` into the sorted k-buffer ``keys[slot:slot + k]`` holding ``held``
        keys (the farthest drops out when it is full and ``key`` is nearer); return
        the keys held after.  ``keys`` is a global buffer or a thread's own vector."""
        place = -1
        if held < k:
            place = held
            held += 1
        elif key < keys[slot + k - 1]:
            place = k - 1  # the farthest held key drops out
        if place >= 0:
            insert(keys, slot, place, key)
        return held

    @ti.func
    def insert(keys: ti.template(), slot: ti.template(), at: ti.i32, key: ti.i64) -> ti.i32:
        """Insert ``key`` into the sorted ``keys[slot:slot + at]``, moving the larger keys
        up one place; return where it went (``keys`` as in ``kbuffer_insert``)."""
        while at > 0:
            if keys[slot + at - 1] < key:
                break
            keys[slot + at] = keys[slot + at - 1]
            at -= 1
        keys[slot + at] = key
        return at

    @ti.kernel
    def tile_scan(
        depth_complexity: map_i32_t,
        offsets: map_i64_t,
        tile_sum: keys_t,
        tile_max: keys_t,
        tiles_x: ti.i32,
    ):
        """Exclusive prefix sum of the counts inside each tile, with the tile's sum and max."""
        height, width = depth_complexity.shape[0], depth_complexity.shape[1]
        for t in range(tile_sum.shape[0]):
            running = ti.i64(0)
            largest = ti.i64(0)
            for local in range(TILE * TILE):
                i = (t % tiles_x) * TILE + local % TILE
                j = (t // tiles_x) * TILE + local // TILE
                if i < width and j < height:
                    n = ti.cast(depth_complexity[j, i], ti.i64)
                    offsets[j, i] = running
                    running += n
                    largest = ti.max(largest, n)
            tile_sum[t] = running
            tile_max[t] = largest

    @ti.func
    def shell_sort(keys: ti.template(), values: ti.template(), gaps: ti.template(),
                   start: ti.i32, n: ti.i32):  # fmt: skip
        """Shell sort of ``keys[start:start + n]`` carrying ``values`` along (Ciura's
        gaps, largest first in ``gaps``, the last one 1)."""
        for g in range(gaps.shape[0]):
            h = ti.cast(ti.min(gaps[g], n), ti.i32)
            if h < n:
                for a in range(start + h, start + n):
                    k = keys[a]
                    v = values[a]
                    b = a
                    while b >= start + h:
                        if keys[b - h] <= k:
                            break
                        keys[b] = keys[b - h]
                        values[b] = values[b - h]
                        b -= h
                    keys[b] = k
                    values[b] = v

    @ti.func
    def rank_bin(scratch: ti.template(), boxes: ti.template(), bin_entries: ti.template(),
                 lo: ti.i32, n: ti.i32, bin_bits: ti.i32, id_bits: ti.i32):  # fmt: skip
        """``sort_bin`` of a bin of ``n`` <= RANK_SORT entries from ``lo``: each entry
        goes to its rank, the count of smaller keys (the keys are distinct: each
        holds its triangle), its box with it from a copy in the thread's own array
        (the keys are left in place).  n**2 comparisons, but without the branches of
        insertion or Shell sort, which on the random order of a bin's fill
        mispredict at about every other comparison."""
        carried = ti.Vector([ti.i64(0)] * RANK_SORT, dt=ti.i64)  # (see resolve's keys)
        for a in range(n):
            carried[a] = boxes[lo + a]
        for a in range(n):
            k = scratch[lo + a]
            rank = 0
            for c in range(n):
                rank += ti.select(scratch[lo + c] < k, 1, 0)
            boxes[lo + rank] = carried[a]
            bin_entries[lo + rank] = entry_of(k, carried[a], bin_bits, id_bits)

    @ti.func
    def entry_of(k: ti.i64, box: ti.i64, bin_bits: ti.i32, id_bits: ti.i32) -> ti.i32:
        """The bin entry (``2 * r + full``) of sort key ``k`` (``r`` its low bits) and
        its ``entry_box``."""
        full = (box >> FULL_BIT) & 1  # a 16x16 box
        if bin_bits == 3:
            full = ti.cast(box == -1, ti.i64)  # a full 8x8 mask: every pixel covered
        return ti.cast(((k & id_mask(id_bits)) << 1) | full, ti.i32)

    @ti.func
    def sort_keys(keys: ti.template(), gaps: ti.template(), start: ti.i32, n: ti.i32):
        """Sort ``keys[start:start + n]``: insertion sort, which is linear on the nearly
        sorted lists that sorted bins give, falling back to Shell sort (Ciura's
        gaps) once it has moved more than 8 keys per key."""
        moves = 0
        a = start + 1
        while a < start + n:
            k = keys[a]
            b = a
            while b > start:
                if keys[b - 1] <= k:
                    break
                keys[b] = keys[b - 1]
                b -= 1
            keys[b] = k
            moves += a - b
            a += 1
            if moves > 8 * n:
                a = start + n  # too disordered: finish with Shell sort
        if moves > 8 * n:
            for g in range(gaps.shape[0]):
                h = ti.cast(ti.min(gaps[g], n), ti.i32)
                if h < n:
                    for c in range(start + h, start + n):
                        k = keys[c]
                        b = c
                        while b >= start + h:
                            if keys[b - h] <= k:
                                break
                            keys[b] = keys[b - h]
                            b -= h
                        keys[b] = k

    @ti.func
    def finish(
        image: ti.template(),
        residual: ti.template(),
        i: ti.i32,
        j: ti.i32,
        acc: vec4,
        transmittance: real,
        stopped: ti.i32,
        background: vec4,
    ):
        """Write a finished pixel: the background goes behind unless compositing
        stopped early, in which case the transmittance left bounds the error."""
        out = acc
        if stopped:
            residual[j, i] = ti.cast(transmittance, ti.f32)
        else:
            out += transmittance * background
            residual[j, i] = 0.0
        for c in ti.static(range(4)):
            image[j, i, c] = ti.cast(out[c], ti.f32)

    @ti.func
    def classify(table: ti.template(), r: ti.i32, bx: ti.i32, by: ti.i32, width: ti.i32,
                 height: ti.i32, bin_bits: ti.i32) -> ti.i32:  # fmt: skip
        """0: no pixel centre of bin (bx, by) is covered, 1: some may be, 2: all are.
        Edge functions are affine, so their extremes over the bin are at its corners."""
        size = 1 << bin_bits
        i_lo, j_lo = bx * size, by * size
        i_span = ti.cast(ti.min(i_lo + size - 1, width - 1) - i_lo, ti.i64)
        j_span = ti.cast(ti.min(j_lo + size - 1, height - 1) - j_lo, ti.i64)
        x = ti.cast(i_lo, ti.i64) << SUBPIXEL_BITS
        y = ti.cast(j_lo, ti.i64) << SUBPIXEL_BITS
        rejected = 0
        full = 1
        for k in range(3):
            corner = edge(table, r, k, x, y)
            step_i = (table[r, COL_EDGE + 4 * k] * i_span) << SUBPIXEL_BITS
            step_j = (table[r, COL_EDGE + 4 * k + 1] * j_span) << SUBPIXEL_BITS
            threshold = table[r, COL_EDGE + 4 * k + 3]
            if corner + ti.max(step_i, 0) + ti.max(step_j, 0) < threshold:
                rejected = 1
            if corner + ti.min(step_i, 0) + ti.min(step_j, 0) < threshold:
                full = 0
        result = 1 + full
        if rejected:
            result = 0
        return result

    @ti.func
    def bin_rect(bx: ti.i32, by: ti.i32, bin_bits: ti.i32, width: ti.i32,
                 height: ti.i32) -> ti.math.ivec4:  # fmt: skip
        """(i0, j0, i1, j1): the first and last pixel of bin (bx, by) within the frame."""
        size = 1 << bin_bits
        i0, j0 = bx * size, by * size
        return ti.math.ivec4(
            i0, j0, ti.min(i0 + size - 1, width - 1), ti.min(j0 + size - 1, height - 1)
        )

    @ti.func
    def bin_triangle(
        table: ti.template(),
        bbox: ti.template(),
        cursor: ti.template(),
        boxes: ti.template(),
        scratch: ti.template(),
        r: ti.i32,
        chunk: ti.i32,
        fill: ti.i32,
        bins_x: ti.i32,
        bin_bits: ti.i32,
        width: ti.i32,
        height: ti.i32,
        id_bits: ti.i32,
        depth_shift: ti.i32,
    ):
        """Count triangle ``r`` in its ``chunk``'s row of ``cursor`` for every bin it may
        cover, or (``fill``) write its ``entry_box`` (with ``FULL_BIT`` set in a 16x16
        bin it covers) and its sort key (its key at the bin's centre pixel, which
        holds ``r``) at those bins' cursors, advancing them (in arbitrary order:
        ``sort_bin`` orders the bins and writes their entries).  Box and key are made
        here, where the triangle's row of the table is in cache (``sort_bin`` would
        read the triangles in random order), and two scattered writes per entry are
        what this phase's time goes to on large scenes: no third for the entry."""
        for by in range(
            ti.cast(bbox[r, 2], ti.i32) >> bin_bits, (ti.cast(bbox[r, 3], ti.i32) >> bin_bits) + 1
        ):
            for bx in range(
                ti.cast(bbox[r, 0], ti.i32) >> bin_bits,
                (ti.cast(bbox[r, 1], ti.i32) >> bin_bits) + 1,
            ):
                kind = classify(table, r, bx, by, width, height, bin_bits)
                b = by * bins_x + bx
                if kind > 0:
                    if fill:
                        e = cursor[chunk, b]
                        cursor[chunk, b] = e + 1
                        rect = bin_rect(bx, by, bin_bits, width, height)
                        boxes[e] = entry_box(table, bbox, r, kind == 2, rect, bin_bits)
                        half = 1 << (bin_bits - 1)
                        i, j = ti.min(rect[0] + half, rect[2]), ti.min(rect[1] + half, rect[3])
                        scratch[e] = key(table, r, i, j, id_bits, depth_shift)
                    else:
                        cursor[chunk, b] += 1

    @ti.func
    def entry_box(table: ti.template(), bbox: ti.template(), r: ti.i32, full: ti.i32,
                  rect: ti.math.ivec4, bin_bits: ti.i32) -> ti.i64:  # fmt: skip
        """The ``bin_boxes`` value of triangle ``r`` (``full``: it covers every pixel) in
        the bin of pixels ``rect``.  In a 16x16 bin its pixel box clipped to the bin,
        in bin coordinates, 4 bits each: i0 | i1 << 4 | j0 << 8 | j1 << 12, with
        ``full << FULL_BIT`` (which the nibbles' readers mask off).  In an 8x8
        bin (``bin_bits`` 3) its coverage mask: bit ``8 * lj + li`` set when it covers
        the bin's pixel (li, lj) (:func:`hit`, evaluated once per bin entry instead of
        once per pixel and entry, stepping the integer edge functions exactly)."""
        last = (1 << bin_bits) - 1
        i0 = ti.max(ti.cast(bbox[r, 0], ti.i32) - rect[0], 0)
        i1 = ti.min(ti.cast(bbox[r, 1], ti.i32) - rect[0], last)
        j0 = ti.max(ti.cast(bbox[r, 2], ti.i32) - rect[1], 0)
        j1 = ti.min(ti.cast(bbox[r, 3], ti.i32) - rect[1], last)
        box = ti.cast(i0 | (i1 << 4) | (j0 << 8) | (j1 << 12) | (full << FULL_BIT), ti.i64)
        if bin_bits == 3:
            box = ti.i64(-1)  # a full entry covers every pixel
            if not full:
                box = coverage_mask(table, r, i0, i1, j0, j1, rect)
        return box

    @ti.func
    def coverage_mask(table: ti.template(), r: ti.i32, i0: ti.i32, i1: ti.i32, j0: ti.i32,
                      j1: ti.i32, rect: ti.math.ivec4) -> ti.i64:  # fmt: skip
        """Bit ``8 * lj + li`` set for the pixels (li, lj) of 8x8 bin ``rect`` in the box
        ``i0:i1, j0:j1`` (inclusive, bin coordinates) that triangle ``r`` covers: its
        edge functions less their thresholds (inside when all are >= 0), exact
        integers stepped from the bin's first column."""
        x = ti.cast(rect[0], ti.i64) << SUBPIXEL_BITS
        y = ti.cast(rect[1] + j0, ti.i64) << SUBPIXEL_BITS
        zero = ti.i64(0)
        e, a, b = ti.Vector([zero] * 3), ti.Vector([zero] * 3), ti.Vector([zero] * 3)
        for k in range(3):  # (a loop: one copy of edge to compile)
            e[k] = edge(table, r, k, x, y) - table[r, COL_EDGE + 4 * k + 3]
            a[k] = table[r, COL_EDGE + 4 * k] << SUBPIXEL_BITS
            b[k] = table[r, COL_EDGE + 4 * k + 1] << SUBPIXEL_BITS
        columns = ((ti.i64(2) << i1) - 1) & ~((ti.i64(1) << i0) - 1)
        mask = ti.i64(0)
        for lj in range(j0, j1 + 1):
            # All 8 pixels of the row, branch-free (the sign of the OR is set when any
            # edge is negative; LLVM unrolls the 8), then cut to the box's columns: 1.8x
            # faster than looping over the box's columns at 100k random triangles.
            row = ti.i64(0)
            for li in range(8):
                outside = ((e[0] + a[0] * li) | (e[1] + a[1] * li) | (e[2] + a[2] * li)) >> 63
                row |= (~outside & 1) << li
            mask |= (row & columns) << (lj << 3)
            e += b
        return mask

    @ti.func
    def bin_order(table: ti.template(), bin_entries: ti.template(), rect: ti.math.ivec4,
                  lo: ti.i32, hi: ti.i32, id_bits: ti.i32, depth_shift: ti.i32) -> ti.i32:  # fmt: skip
        """1 when the (sorted) bin ``bin_entries[lo:hi]`` of pixels ``rect`` is in key
        order at every pixel centre of the bin, so every fragment list there
        arrives sorted.

        The depth plane is affine and the key monotone in it, so a triangle's keys
        over the bin's rectangle of centres lie between its keys at the corners;
        consecutive entries whose key ranges do not overlap keep their order
        everywhere (a sufficient condition, exact in integers).  It reads the
        table only up to the first overlap, early in a bin of random triangles."""
        result = 1
        previous = ti.i64(-1)  # the largest key of the entry before
        for e in range(lo, hi):
            r = bin_entries[e] >> 1
            low, high = ti.i64(MAX_KEY), ti.i64(-1)
            for corner in range(4):  # (i0 or i1, j0 or j1; one copy of key to compile)
                i = ti.select(corner & 1, rect[2], rect[0])
                j = ti.select(corner >> 1, rect[3], rect[1])
                k = key(table, r, i, j, id_bits, depth_shift)
                low, high = ti.min(low, k), ti.max(high, k)
            if low <= previous:
                result = 0
                break
            previous = high
        return result

    @ti.func
    def sort_bin(table: ti.template(), bin_start: ti.template(), bin_entries: ti.template(),
                 scratch: ti.template(), gaps: ti.template(), boxes: ti.template(),
                 ordered: ti.template(), b: ti.i32, rect: ti.math.ivec4, bin_bits: ti.i32,
                 id_bits: ti.i32, depth_shift: ti.i32):  # fmt: skip
        """Order bin ``b`` (pixels ``rect``) by the triangles' keys at its centre
        pixel (``scratch``, written by ``bin_triangle``), so the fragment lists built
        from it come out (nearly) sorted, the entries' boxes with them; write the
        entries (``2 * r + full``, ``r`` from the keys' low bits) and flag the bin
        when it is in key order at every pixel (``ordered[b]``, see ``bin_order``)."""
        lo, hi = ti.cast(bin_start[b], ti.i32), ti.cast(bin_start[b + 1], ti.i32)
        if hi - lo <= RANK_SORT:
            rank_bin(scratch, boxes, bin_entries, lo, hi - lo, bin_bits, id_bits)
        else:
            shell_sort(scratch, boxes, gaps, lo, hi - lo)
            for e in range(lo, hi):
                bin_entries[e] = entry_of(scratch[e], boxes[e], bin_bits, id_bits)
        ordered[b] = bin_order(table, bin_entries, rect, lo, hi, id_bits, depth_shift)

    @ti.kernel
    def bin_tiles(
        phase: ti.i32,
        table: table_t,
        bbox: map_i64_t,
        bin_start: starts_t,
        bin_entries: entries_t,
        cursor: map_i32_t,
        scratch: keys_t,
        gaps: keys_t,
        boxes: boxes_t,
        ordered: entries_t,
        bins_x: ti.i32,
        bin_bits: ti.i32,
        width: ti.i32,
        height: ti.i32,
        id_bits: ti.i32,
        depth_shift: ti.i32,
    ):
        """Bin the triangles into square bins of ``2**bin_bits`` pixels (8 or 16; a bin
        never straddles two launch tiles), one ``phase`` per launch:

        0. ``cursor[c, b]`` += how many triangles of chunk ``c`` may cover a pixel
           centre of bin ``b`` (``cursor`` zeroed; the other buffers are not used and
           may be dummies);
        1. with ``cursor[c, b]`` where chunk ``c``'s entries of bin ``b`` start (see
           ``lamina.plugins.oit.renderers.binning.cursors``), write every bin's boxes
           and sort keys (``bin_triangle``);
        2. per bin, sort it, write its entries and its order flag (``sort_bin``).

        Phases 0 and 1 run a thread per chunk of consecutive triangles, one chunk
        per row of ``cursor``: no atomics, and no cursor's cache line passing
        between cores, which at 1M random triangles (each bin's count touched
        from either core in turn) cost more than the rest of the phases.  A chunk
        is every CHUNK_STRIDE-th iteration of the loop, the others idle: Taichi's
        CPU backend runs a loop in tasks of 512 iterations (its adaptive block
        size, which ``ti.loop_config`` does not override), so 32 chunks in 32
        iterations would all run on one core.

        One compiled kernel with a runtime phase, not three kernels (nor
        ``ti.static`` phases, which compile separately): Taichi loads and
        JIT-compiles every kernel once per process, 0.05-0.15 s each, a cost that
        a first render pays.  Each phase is the kernel's one top-level loop, so it
        runs in parallel."""
        n = cursor.shape[0] * CHUNK_STRIDE
        if phase == 2:
            n = bin_start.shape[0] - 1
        size = (table.shape[0] + cursor.shape[0] - 1) // cursor.shape[0]  # of a chunk
        for q in range(n):
            if phase == 2:
                rect = bin_rect(q % bins_x, q // bins_x, bin_bits, width, height)
                sort_bin(
                    table, bin_start, bin_entries, scratch, gaps, boxes, ordered, q, rect,
                    bin_bits, id_bits, depth_shift,
                )  # fmt: skip
            elif q % CHUNK_STRIDE == 0:
                chunk = q // CHUNK_STRIDE
                for r in range(chunk * size, ti.min(chunk * size + size, table.shape[0])):
                    bin_triangle(
                        table, bbox, cursor, boxes, scratch, r, chunk, phase, bins_x,
                        bin_bits, width, height, id_bits, depth_shift,
                    )  # fmt: skip

    return SimpleNamespace(
        classify=classify,
        bin_tiles=bin_tiles,
        hit_boxed=hit_boxed,
        sort_keys=sort_keys,
        shell_sort=shell_sort,
        vec4=vec4,
        real=real,
        bin_span=bin_span,
        bin_of=bin_of,
        id_mask=id_mask,
        under=under,
        behind=behind,
        pack=pack,
        packed_rgba=packed_rgba,
        load4=load4,
        store4=store4,
        kbuffer_insert=kbuffer_insert,
        insert=insert,
        pixel=pixel,
        covers=covers,
        hit=hit,
        key=key,
        rgba=rgba,
        tile_scan=tile_scan,
        finish=finish,
    )
