"""Per-pixel fragment lists: gather, sort by (depth, primitive) key, composite.

Each pixel thread gathers its own list from its tile's bin of triangles, so
no compare-and-swap is needed.  :func:`build` makes two kernels:

``resolve`` (one geometry pass over the whole frame)
    counts every pixel's fragments (the depth complexity) and resolves every
    list that fits in a per-thread array of ``local`` keys: it fills the
    array with 64-bit keys, sorts it (insertion sort, linear on the nearly
    sorted lists that depth-ordered bins give, with a Shell-sort fallback)
    and composites it front to back.  In a bin that is in key order at
    every pixel (``bin_ordered``, see
    :func:`lamina.kernels.oit_common.build`'s ``bin_order``) the lists
    arrive sorted whatever their length: they are composited as they are
    gathered, without keys.  A longer list anywhere else is *spilled*: its
    count goes to ``pending`` and ``spilled[0]`` is set.
``resolve_spilled`` (one geometry pass per region of tiles)
    after an exclusive prefix sum of ``pending`` (``tile_scan``) has placed
    the spilled lists in a global key buffer, fills them, sorts them in
    place and composites them.  This is the count -> prefix sum -> fill
    construction of GPU fragment lists, used for the lists that do not fit
    a thread's registers.

The per-thread array is a dynamically indexed local vector: stack memory on
the CPU, local memory on CUDA, a function-scope array on Vulkan.

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

#: Keys per pixel of ``resolve``'s whole-bin walk (``gather_bin``): 8 KiB for an 8x8
#: bin.  At 100k random triangles, 1024x1024, 0.04 % of the pixels hold more.
BIN_KEYS = 16


@functools.cache
def build(real: object) -> SimpleNamespace:
    """The fragment-list kernels with colour arithmetic in ``real``."""
    c = common.build(real)
    vec4 = c.vec4

    @ti.func
    def fragment_key(table: ti.template(), packed: ti.template(), r: ti.i32, i: ti.i32, j: ti.i32,
            id_bits: ti.i32, depth_shift: ti.i32, flat: ti.template()) -> ti.i64:  # fmt: skip
        """``key`` of :func:`lamina.kernels.oit_common.build`, reading a face-coloured
        triangle's depth plane from its packed record (``pack``), beside its colour."""
        result = ti.i64(0)
        if ti.static(flat):
            result = c.key(packed, r, i, j, id_bits, depth_shift)
        else:
            result = c.key(table, r, i, j, id_bits, depth_shift)
        return result

    @ti.func
    def fragment_rgba(shade: ti.template(), packed: ti.template(), r: ti.i32, i: ti.i32,
                      j: ti.i32, flat: ti.template()) -> vec4:  # fmt: skip
        """``rgba`` of :func:`lamina.kernels.oit_common.build`, reading a face-coloured
        triangle's colour from its packed record (``pack``), beside its depth plane."""
        color = vec4(0.0)
        # (Not a conditional expression: Taichi would compile both branches' reads.)
        if ti.static(flat):  # noqa: SIM108
            color = c.packed_rgba(packed, r)
        else:
            color = c.rgba(shade, r, i, j, flat)
        return color

    @ti.func
    def composite(
        keys: ti.template(),
        start: ti.i32,
        n: ti.i32,
        shade: ti.template(),
        packed: ti.template(),
        i: ti.i32,
        j: ti.i32,
        mask: ti.i64,
        threshold: ti.f32,
        flat: ti.template(),
        stop: ti.template(),
        acc: ti.template(),
        transmittance: ti.template(),
        done: ti.template(),
    ):
        """Composite the sorted ``keys[start:start + n]`` front to back into the
        caller's ``acc``, ``transmittance`` and ``done`` (layers composited so far),
        which ``ti.template()`` passes by reference; ``keys`` is a global buffer or
        the thread's own vector."""
        while done < n:
            if ti.static(stop) and transmittance < threshold:
                break
            r = ti.cast(keys[start + done] & mask, ti.i32)
            c.behind(fragment_rgba(shade, packed, r, i, j, flat), acc, transmittance)
            done += 1

    @ti.func
    def write(
        image: ti.template(),
        layers: ti.template(),
        residual: ti.template(),
        i: ti.i32,
        j: ti.i32,
        acc: vec4,
        transmittance: real,
        done: ti.i32,
        n: ti.i32,
        background: vec4,
        stop: ti.template(),
    ):
        """Write a finished pixel.  Without early stopping every layer is composited,
        so the layer count is the depth complexity and no residual is left: only
        the image is written."""
        if ti.static(stop):
            layers[j, i] = done
            c.finish(image, residual, i, j, acc, transmittance, done < n, background)
        else:
            out = acc + transmittance * background
            for channel in ti.static(range(4)):
                image[j, i, channel] = ti.cast(out[channel], ti.f32)

    @ti.func
    def candidates(boxes: ti.template(), e: ti.i32, lj: ti.i32, half: ti.i32,
                   bin_bits: ti.i32) -> ti.i32:  # fmt: skip
        """Bit ``li`` set for each pixel ``li`` of a thread's 8 (row ``lj`` of its bin,
        columns ``8 * half`` to ``8 * half + 7``) that bin entry ``e`` may cover: in an
        8x8 bin exactly those it covers (row ``lj`` of its coverage mask), in a 16x16
        bin those in its pixel box, each still to be tested with ``hit``."""
        box = boxes[e]
        m = ti.i64(0)
        if bin_bits == 3:
            m = (box >> (lj << 3)) & 255
        elif (box >> 8) & 15 <= lj <= (box >> 12) & 15:
            columns = ((ti.i64(2) << ((box >> 4) & 15)) - 1) & ~((ti.i64(1) << (box & 15)) - 1)
            m = (columns >> (half << 3)) & 255
        return ti.cast(m, ti.i32)

    @ti.func
    def prefetch(table: ti.template(), shade: ti.template(), packed: ti.template(),
                 bin_entries: ti.template(), span: ti.math.ivec2, sink: ti.template(),
                 flat: ti.template()):  # fmt: skip
        """Read the first word of the rows the bin's fragments will read (the packed
        records, or the table's and shade's rows of vertex-coloured triangles), in a
        loop of independent loads that the CPU overlaps, so that the walks find them
        in cache.  The triangles of a bin lie anywhere in memory, and read as the
        walks need them, one at a time, these misses took half of the resolve at 1M
        random triangles.  (The sum goes to ``sink`` under a condition the compiler
        cannot rule out, so the loads are not optimised away; nothing reads it.)"""
        touch = ti.i64(0)
        for e in range(span[0], span[1]):
            r = bin_entries[e] >> 1
            if ti.static(flat):
                touch += packed[r, common.COL_Z]
            else:
                touch += table[r, common.COL_Z] + ti.cast(shade[r, 0], ti.i64)
        if touch == ti.i64(common.MAX_KEY):
            sink[1] = 1

    @ti.func
    def settle(image: ti.template(), depth_complexity: ti.template(), layers: ti.template(),
               residual: ti.template(), pending: ti.template(), spilled: ti.template(),
               i: ti.i32, j: ti.i32, acc: vec4, transmittance: real, done: ti.i32, n: ti.i32,
               spill: ti.i32, background: vec4, stop: ti.template()):  # fmt: skip
        """``resolve``'s end of a pixel with ``n`` fragments: its depth complexity, and
        either its finished colour or (``spill``) its count left for the spilled pass."""
        depth_complexity[j, i] = n
        if spill:
            pending[j, i] = n
            spilled[0] = 1
        else:
            pending[j, i] = 0
            write(image, layers, residual, i, j, acc, transmittance, done, n, background, stop)

    @ti.func
    def ordered_walk(table: ti.template(), shade: ti.template(), bin_entries: ti.template(),
                     bin_boxes: ti.template(), packed: ti.template(), span: ti.math.ivec2,
                     i: ti.i32, j: ti.i32, bin_bits: ti.i32, threshold: ti.f32,
                     flat: ti.template(), stop: ti.template(), acc: ti.template(),
                     transmittance: ti.template(), done: ti.template()) -> ti.i32:  # fmt: skip
        """Pixel (i, j) of a bin whose every list arrives sorted: composite its hits
        into the caller's ``acc``, ``transmittance`` and ``done`` as they come,
        whatever their number, keeping no key; return the count."""
        n = 0
        for e in range(span[0], span[1]):
            entry = bin_entries[e]
            if c.hit_boxed(table, bin_boxes, e, entry, i, j, bin_bits):
                n += 1
                if not ti.static(stop) or transmittance >= threshold:
                    c.behind(fragment_rgba(shade, packed, entry >> 1, i, j, flat), acc,
                             transmittance)  # fmt: skip
                    done += 1
        return n

    @ti.func
    def gather_bin(table: ti.template(), bin_entries: ti.template(), bin_boxes: ti.template(),
                   packed: ti.template(), keys: ti.template(), count: ti.template(),
                   span: ti.math.ivec2, b: ti.i32, bins_x: ti.i32, id_bits: ti.i32,
                   depth_shift: ti.i32, flat: ti.template(),
                   capacity: ti.template()) -> ti.i32:  # fmt: skip
        """The sorted lists of the 64 pixels of 8x8 bin ``b`` (not in key order) at
        once, when none is longer than ``capacity`` keys: one walk of the bin, each
        entry's coverage mask handing every covered pixel its key, kept sorted by
        insertion in the pixel's ``capacity`` slots of ``keys`` (its count in
        ``count``).  Returns 0 as soon as a list would be longer, without a walk
        when the bin's coverage masks hold more fragments than 64 such lists
        (``gather_row`` then takes the bin row by row).  Against ``gather_row``,
        the loop over an entry's covered pixels runs once per entry instead of once
        per entry and row: its exit, a mispredicted branch each time, was the
        largest cost of the resolve at 100k random triangles, 1024x1024 (6
        fragments per pixel, 27 entries per bin)."""
        i0, j0 = (b % bins_x) << 3, (b // bins_x) << 3
        for p in range(64):
            count[p] = 0
        # More fragments than 64 lists of ``capacity`` hold: some list is longer (so
        # a bin of deep lists, such as intersecting quads', wastes no walk).
        covered = 0
        for e in range(span[0], span[1]):
            covered += ti.cast(ti.math.popcnt(bin_boxes[e]), ti.i32)
        fits = ti.cast(covered <= 64 * capacity, ti.i32)
        for e in range(span[0], span[1] if fits else span[0]):
            m = bin_boxes[e]  # (pixels outside the frame too, in a full entry)
            r = bin_entries[e] >> 1
            while m:
                low = m & -m
                m ^= low
                p = ti.cast(ti.math.popcnt(low - 1), ti.i32)
                n = count[p]
                if n == capacity:
                    fits = 0
                    break
                k = fragment_key(table, packed, r, i0 + (p & 7), j0 + (p >> 3), id_bits,
                                 depth_shift, flat)  # fmt: skip
                c.insert(keys, p * capacity, n, k)  # (few moves: the bin is nearly in order)
                count[p] = n + 1
            if not fits:
                break
        return fits

    @ti.func
    def row_of(q: ti.i32, bins_x: ti.i32, bin_bits: ti.i32) -> ti.math.ivec4:
        """(i0, j, lj, half) of ``resolve``'s row ``q`` of 8 pixels: pixels i0 to i0 + 7
        of image row j, row ``lj`` of its bin, columns from ``8 * half`` (a bin has
        ``2**(bin_bits - 3)`` rows of 8 pixels to a pixel row)."""
        b = q >> (2 * bin_bits - 3)
        lj = (q >> (bin_bits - 3)) & ((1 << bin_bits) - 1)
        half = q & ((1 << (bin_bits - 3)) - 1)
        return ti.math.ivec4(
            ((b % bins_x) << bin_bits) | (half << 3), ((b // bins_x) << bin_bits) | lj, lj, half
        )

    @ti.func
    def gather_row(table: ti.template(), bin_entries: ti.template(), bin_boxes: ti.template(),
                   packed: ti.template(), keys: ti.template(), count: ti.template(),
                   unsorted: ti.template(), span: ti.math.ivec2, row: ti.math.ivec4,
                   bin_bits: ti.i32, id_bits: ti.i32, depth_shift: ti.i32, flat: ti.template(),
                   local: ti.template()):  # fmt: skip
        """The lists of the 8 pixels ``row`` (``row_of``) of a bin that is not in key
        order: it walks the bin once, handing each entry's covered pixels
        (``candidates``) their keys, each pixel's list kept sorted by insertion in
        its ``local`` slots of ``keys`` (nearly sorted: few moves; past 8 * local
        moves the rest is appended and ``unsorted`` flagged); ``count`` gets each
        list's length, which may pass ``local`` (the list spills).  A walk per 8
        pixels instead of one per pixel, and a branch per entry and fragment
        instead of one per entry and pixel."""
        i0, j, lj, half = row[0], row[1], row[2], row[3]
        last = ti.Vector([ti.i64(-1)] * 8, dt=ti.i64)  # each list's largest key so far
        moves = ti.Vector([ti.i32(0)] * 8, dt=ti.i32)  # (one literal each: see resolve's keys)
        for li in range(8):
            count[li] = 0
            unsorted[li] = 0
        for e in range(span[0], span[1]):
            m = candidates(bin_boxes, e, lj, half, bin_bits)
            if m:
                entry = bin_entries[e]
                while m:
                    low = m & -m
                    m ^= low
                    li = ti.math.popcnt(low - 1)
                    covered = 1  # (Taichi's `or` would read the table anyway)
                    if bin_bits != 3:
                        covered = c.hit(table, entry, i0 + li, j)
                    if covered:
                        k = fragment_key(
                            table, packed, entry >> 1, i0 + li, j, id_bits, depth_shift, flat
                        )
                        n = count[li]
                        if n < local:
                            if k < last[li] and moves[li] < 8 * local:
                                moves[li] += n - c.insert(keys, li * local, n, k)
                            else:
                                unsorted[li] |= ti.cast(k < last[li], ti.i32)
                                keys[li * local + n] = k
                        last[li] = ti.max(last[li], k)
                        count[li] = n + 1

    @ti.kernel
    def resolve(
        table: common.table_t,
        shade: common.shade_t,
        bin_start: common.starts_t,
        bin_entries: common.entries_t,
        bin_boxes: common.boxes_t,
        packed: common.table_t,
        bin_ordered: common.entries_t,
        gaps: common.keys_t,
        image: common.image_t,
        depth_complexity: common.map_i32_t,
        layers: common.map_i32_t,
        residual: common.map_f32_t,
        pending: common.map_i32_t,
        spilled: common.entries_t,
        bins_x: ti.i32,
        bin_bits: ti.i32,
        id_bits: ti.i32,
        depth_shift: ti.i32,
        background: common.background_t,
        threshold: ti.f32,
        flat: ti.template(),
        stop: ti.template(),
        local: ti.template(),
        rows: ti.template(),
    ):
        """Count every pixel's fragments and resolve the lists that fit ``local`` keys
        or arrive sorted; mark the others in ``pending`` (their counts) and
        ``spilled[0]`` (``spilled[1]``: ``prefetch``'s sink).

        A thread takes ``rows`` rows of 8 pixels of one bin, one after the other
        (``gather_row``): 8, a whole 8x8 bin, on the CPU, where the zeroing of the
        key array is per thread; 1 on a GPU, for parallelism.  On the CPU the lists
        of a whole 8x8 bin are first tried at once (``gather_bin``).  Whichever way
        a pixel's list came (sorted keys, or composited as it came in a bin in key
        order), one piece of code composites and writes it: each copy of it was
        compiled anew in every process."""
        height, width = image.shape[0], image.shape[1]
        bg = vec4(background)  # in the accumulation type
        mask = c.id_mask(id_bits)
        bin_keys = ti.static(min(local, BIN_KEYS))
        whole_keys = ti.static(64 * bin_keys if rows == 8 else 0)  # gather_bin's keys
        spread = 2 * bin_bits - 3  # log2 of the rows of 8 pixels per bin
        for t in range(((bin_start.shape[0] - 1) << spread) // rows):
            b = (t * rows) >> spread  # (rows divides a bin's rows: all of t's are in b)
            span = c.bin_span(bin_start, b)
            if (t * rows) & ((1 << spread) - 1) == 0:  # the bin's first thread
                prefetch(table, shade, packed, bin_entries, span, spilled, flat)
            ordered = bin_ordered[b]
            # (Declared once per thread: Taichi zeroes a thread's arrays, 4 KiB of keys
            # (8 KiB with a whole bin's), which cost as much as a tenth of the resolve
            # when every row of 8 pixels was a thread.  Filled with one zero, not with
            # 1024 literals, each of which Taichi's front end checks and converts.)
            zero = ti.i64(0)
            keys = ti.Vector([zero] * max(8 * local, whole_keys), dt=ti.i64)
            count = ti.Vector([ti.i32(0)] * ti.static(64 if whole_keys else 8), dt=ti.i32)
            unsorted = ti.Vector([ti.i32(0)] * 8, dt=ti.i32)
            whole = 0
            # (Nested: Taichi compiles away only a whole `if ti.static(...)`; a GPU's
            # kernel goes without.)
            if ti.static(whole_keys):  # noqa: SIM102
                if bin_bits == 3 and not ordered:  # the thread holds the whole bin
                    whole = gather_bin(table, bin_entries, bin_boxes, packed, keys, count, span,
                                       b, bins_x, id_bits, depth_shift, flat,
                                       bin_keys)  # fmt: skip
            capacity = local
            if whole:
                capacity = bin_keys
            for u in range(1 if whole else rows):
                row = row_of(t * rows + u, bins_x, bin_bits)
                if not whole and not ordered:
                    gather_row(table, bin_entries, bin_boxes, packed, keys, count, unsorted,
                               span, row, bin_bits, id_bits, depth_shift, flat,
                               local)  # fmt: skip
                for p in range(64 if whole else 8):
                    i, j = row[0] + p, row[1]
                    if whole:
                        i, j = ((b % bins_x) << 3) + (p & 7), ((b // bins_x) << 3) + (p >> 3)
                    if i < width and j < height:
                        acc = vec4(0.0)
                        transmittance = c.real(1.0)
                        done = 0
                        n = 0
                        start = p * capacity
                        if ordered:
                            n = ordered_walk(table, shade, bin_entries, bin_boxes, packed, span,
                                             i, j, bin_bits, threshold, flat, stop, acc,
                                             transmittance, done)  # fmt: skip
                        else:
                            n = count[p]
                            # (p & 7: Taichi evaluates every operand of `and`, and a
                            # whole bin's p runs to 63; unsorted holds a row's 8)
                            if n <= capacity and unsorted[p & 7] and not whole:
                                c.sort_keys(keys, gaps, start, n)
                        spill = n > capacity and not ordered
                        if not spill and not ordered:  # (ordered: the walk composited)
                            composite(keys, start, n, shade, packed, i, j, mask, threshold,
                                      flat, stop, acc, transmittance, done)  # fmt: skip
                        settle(image, depth_complexity, layers, residual, pending, spilled, i,
                               j, acc, transmittance, done, n, spill, bg, stop)  # fmt: skip

    @ti.kernel
    def resolve_spilled(
        table: common.table_t,
        shade: common.shade_t,
        bin_start: common.starts_t,
        bin_entries: common.entries_t,
        bin_boxes: common.boxes_t,
        packed: common.table_t,
        pending: common.map_i32_t,
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
        bins_x: ti.i32,
        bin_bits: ti.i32,
        base: ti.i64,
        id_bits: ti.i32,
        depth_shift: ti.i32,
        background: common.background_t,
        threshold: ti.f32,
        flat: ti.template(),
        stop: ti.template(),
    ):
        """Fill, sort and composite the spilled lists of ``n_pixels`` pixels from tile
        ``tile0``; ``keys`` holds the region's lists, which start at global offset ``base``."""
        height, width = image.shape[0], image.shape[1]
        bg = vec4(background)  # in the accumulation type
        mask = c.id_mask(id_bits)
        for q in range(n_pixels):
            p = c.pixel(q, tile0, tiles_x)
            i, j = p[1], p[2]
            if i < width and j < height and pending[ti.min(j, height - 1), ti.min(i, width - 1)]:
                # Region-local list start; regions hold < 2**31 keys (the budget's bound).
                start = ti.cast(tile_base[p[0]] + offsets[j, i] - base, ti.i32)
                n = 0
                span = c.bin_span(bin_start, c.bin_of(i, j, bins_x, bin_bits))
                for e in range(span[0], span[1]):
                    entry = bin_entries[e]
                    if c.hit_boxed(table, bin_boxes, e, entry, i, j, bin_bits):
                        keys[start + n] = fragment_key(
                            table, packed, entry >> 1, i, j, id_bits, depth_shift, flat
                        )
                        n += 1
                c.sort_keys(keys, gaps, start, n)
                acc = vec4(0.0)
                transmittance = c.real(1.0)
                done = 0
                composite(
                    keys, start, n, shade, packed, i, j, mask, threshold, flat, stop,
                    acc, transmittance, done,
                )  # fmt: skip
                write(image, layers, residual, i, j, acc, transmittance, done, n, bg, stop)

    @ti.kernel
    def resolve_batched(
        table: common.table_t,
        shade: common.shade_t,
        bin_start: common.starts_t,
        bin_entries: common.entries_t,
        bin_boxes: common.boxes_t,
        packed: common.table_t,
        pending: common.map_i32_t,
        batched: common.entries_t,
        image: common.image_t,
        layers: common.map_i32_t,
        residual: common.map_f32_t,
        n_pixels: ti.i32,
        tiles_x: ti.i32,
        bins_x: ti.i32,
        bin_bits: ti.i32,
        id_bits: ti.i32,
        depth_shift: ti.i32,
        background: common.background_t,
        threshold: ti.f32,
        flat: ti.template(),
        stop: ti.template(),
        local: ti.template(),
    ):
        """Resolve the spilled lists of the tiles flagged in ``batched`` without any
        global key buffer: each pixel peels its list in batches of its ``local``
        nearest keys behind the last batch, held sorted in the thread's own array
        (a k-buffer in registers), compositing each batch before the next walk of
        the bin.  ceil(n / local) walks for a list of n keys, all in one launch."""
        height, width = image.shape[0], image.shape[1]
        bg = vec4(background)  # in the accumulation type
        mask = c.id_mask(id_bits)
        for q in range(n_pixels):
            p = c.pixel(q, 0, tiles_x)
            i, j = p[1], p[2]
            if (
                i < width
                and j < height
                and batched[p[0]]
                and pending[ti.min(j, height - 1), ti.min(i, width - 1)]
            ):
                n = pending[j, i]
                acc = vec4(0.0)
                transmittance = c.real(1.0)
                done = 0
                behind = ti.i64(-1)
                keys = ti.Vector([0] * local, dt=ti.i64)
                while done < n:
                    if ti.static(stop) and transmittance < threshold:
                        break
                    held = 0
                    span = c.bin_span(bin_start, c.bin_of(i, j, bins_x, bin_bits))
                    for e in range(span[0], span[1]):
                        entry = bin_entries[e]
                        if c.hit_boxed(table, bin_boxes, e, entry, i, j, bin_bits):
                            key = fragment_key(
                                table, packed, entry >> 1, i, j, id_bits, depth_shift, flat
                            )
                            if key > behind:
                                held = c.kbuffer_insert(keys, 0, held, local, key)
                    if held == 0:
                        break  # (cannot happen: n counted these keys)
                    batch = 0
                    composite(
                        keys, 0, held, shade, packed, i, j, mask, threshold, flat, stop,
                        acc, transmittance, batch,
                    )  # fmt: skip
                    done += batch
                    behind = keys[held - 1]
                    if batch < held:
                        break  # stopped early inside the batch
                write(image, layers, residual, i, j, acc, transmittance, done, n, bg, stop)

    return SimpleNamespace(
        resolve=resolve, resolve_spilled=resolve_spilled, resolve_batched=resolve_batched
    )
