"""Triangle setup in one Taichi kernel, parallel over faces, bit for bit the numpy setup.

:func:`lamina.plugins.oit.raster.setup` defines the setup (snapping, orientation,
pixel boxes, integer edge functions, depth and colour planes) in float64 numpy;
:func:`build`'s ``setup`` kernel repeats it per face, operation for operation in
the same float64 order, so its table is the numpy table bit for bit (tested).
That needs Taichi started with ``fast_math=False`` (no FMA contraction, no
reciprocal division; :mod:`lamina.kernels.runtime` does so) and a backend with
float64.  ``numpy.rint`` (round half to even) is :func:`rint` below.

Only faces wholly inside the clip volume (near and far planes, guard band) with
``w > 0`` at every corner are set up here: those are the (nearly) all faces of a
mesh in view.  Faces that must be clipped are flagged (``route``) and left to
the numpy clipper, which makes their fan triangles.

The kernel runs twice per frame (``fill`` 0 then 1, one compiled kernel):

``fill = 0``
    per face: ``route`` (0: set up here, 1: clip in numpy) and ``count`` (the
    raster triangles the face makes here: 0 or 1, visible or not);
``fill = 1``
    after the caller has placed every face's raster triangles (the exclusive
    prefix sum ``start`` over the kernel's and the clipper's counts), writes
    row ``start[f]`` of ``table``, ``bbox``, ``shade`` and ``face`` for each
    visible kernel-routed face.
"""

import functools
from types import SimpleNamespace

import taichi as ti

from lamina.kernels.oit_common import (
    ANCHOR_SHIFT,
    COL_EDGE,
    COL_GX,
    COL_GY,
    COL_Z,
    COL_ZHI,
    COL_ZLO,
    GRADIENT_BITS,
    SHADE_ANCHOR,
    SUBPIXEL_BITS,
)

__all__ = ["DEPTH_BITS", "GUARD", "build"]

# Must match lamina.plugins.oit.raster (checked by the tests).
DEPTH_BITS = 40
GUARD = 3.0
GRADIENT_SPAN_BITS = 62  # |gradient| <= 2**62 >> bit_length(extent + 2 * BIN_REACH)
BIN_REACH = 16
ANCHOR_LIMIT_BITS = 52  # |depth at the anchor| <= 2**52
SUBPIXEL_SCALE = float(1 << SUBPIXEL_BITS)
_ROUNDER = 1.5 * 2.0**52  # rint's constant (needs fast_math=False: no reassociation)
_EXACT_BELOW = 2.0**51
GRADIENT_SCALE = float(1 << GRADIENT_BITS)

f64v3 = ti.types.vector(3, ti.f64)
i64v3 = ti.types.vector(3, ti.i64)
f64_2d = ti.types.ndarray(dtype=ti.f64, ndim=2)
i64_2d = ti.types.ndarray(dtype=ti.i64, ndim=2)
i64_1d = ti.types.ndarray(dtype=ti.i64, ndim=1)
i8_1d = ti.types.ndarray(dtype=ti.i8, ndim=1)


@ti.func
def rint(v: ti.f64) -> ti.f64:
    """``numpy.rint``: round to the nearest integer, halves to even (up to the sign of
    zero, which every caller casts away).  Below 2**51 in magnitude, adding and
    subtracting 1.5 * 2**52 rounds exactly so, in the default rounding mode (the sum
    lies where float64 spacing is 1, the constant is even); larger values, infinities
    and NaNs take ``v - floor(v)``, exact there.  About 1.2 ns a rounding instead of
    14 with ``ti.floor`` here: the setup's count pass spent 80 % of its time in its
    six roundings per face."""
    r = (v + _ROUNDER) - _ROUNDER
    if not ti.abs(v) < _EXACT_BELOW:
        f = ti.floor(v)
        d = v - f
        r = f
        if d > 0.5 or (d == 0.5 and ti.floor(f * 0.5) * 2.0 != f):  # (a half: to even f + 1)
            r = f + 1.0
    return r


@ti.func
def clamp(v, lo, hi):
    """``numpy.clip`` for one value: ``min(max(v, lo), hi)``."""
    return ti.min(ti.max(v, lo), hi)


@ti.func
def swap12(v: ti.template()):
    """Exchange corners 1 and 2 of a per-corner vector (orientation flip)."""
    t = v[1]
    v[1] = v[2]
    v[2] = t


@functools.cache
def build() -> SimpleNamespace:
    """The setup kernel (compiled on first use; float64 throughout)."""

    @ti.func
    def solve(v: f64v3, px: f64v3, py: f64v3, det: ti.f64, ax: ti.f64, ay: ti.f64) -> f64v3:
        """(d/di, d/dj, value at the anchor) of the plane through (px, py, v), in
        ``raster._Planes.solve``'s operation order."""
        d1 = v[1] - v[0]
        d2 = v[2] - v[0]
        gx = (d1 * (py[2] - py[0]) - d2 * (py[1] - py[0])) / det
        gy = (d2 * (px[1] - px[0]) - d1 * (px[2] - px[0])) / det
        return f64v3(gx, gy, v[0] + gx * ax + gy * ay)

    @ti.kernel
    def setup(
        vertices: f64_2d,
        matrix: f64_2d,
        faces: i64_2d,
        colors: f64_2d,
        route: i8_1d,
        count: i64_1d,
        start: i64_1d,
        table: i64_2d,
        bbox: i64_2d,
        shade: f64_2d,
        face_out: i64_1d,
        width: ti.i32,
        height: ti.i32,
        flat: ti.i32,
        fill: ti.i32,
    ):
        """See the module notes.  ``matrix``: projection @ view (4, 4); ``colors``:
        (F, 4) face colours when ``flat``, else (V, 4) vertex colours."""
        scale = ti.f64(SUBPIXEL_SCALE)
        depth_scale = ti.cast(ti.i64(1) << DEPTH_BITS, ti.f64)
        depth_max = ti.cast((ti.i64(1) << DEPTH_BITS) - 1, ti.f64)
        anchor_limit = ti.cast(ti.i64(1) << ANCHOR_LIMIT_BITS, ti.f64)
        gradient_scale = ti.f64(GRADIENT_SCALE)
        half = ti.i64(1 << (SUBPIXEL_BITS - 1))
        for f in range(faces.shape[0]):
            px, py, pz, pw = f64v3(0.0), f64v3(0.0), f64v3(0.0), f64v3(0.0)
            for k in range(3):  # (loops over corners, not ti.static: one copy to compile)
                # raster.clip_positions' operation order.
                v = faces[f, k]
                x, y, z = vertices[v, 0], vertices[v, 1], vertices[v, 2]
                px[k] = x * matrix[0, 0] + y * matrix[0, 1] + z * matrix[0, 2] + matrix[0, 3]
                py[k] = x * matrix[1, 0] + y * matrix[1, 1] + z * matrix[1, 2] + matrix[1, 3]
                pz[k] = x * matrix[2, 0] + y * matrix[2, 1] + z * matrix[2, 2] + matrix[2, 3]
                pw[k] = x * matrix[3, 0] + y * matrix[3, 1] + z * matrix[3, 2] + matrix[3, 3]
            # raster._clip's tests: inside when no corner is behind any plane, outside
            # when all three are behind one.
            inside = 1
            outside = 0
            for plane in range(6):  # (a loop, not ti.static: one copy to compile)
                # w + z, w - z, G w - x, G w + x, G w - y, G w + y: the same bits as
                # written out (1 * w is w; a - b is a + -b).
                guard = ti.select(plane < 2, 1.0, GUARD)  # (not `scale`: the kernel's)
                sign = ti.select(plane == 0 or plane == 3 or plane == 5, 1.0, -1.0)
                behind = 0
                for k in range(3):
                    coordinate = ti.select(plane < 2, pz[k], ti.select(plane < 4, px[k], py[k]))
                    if guard * pw[k] + sign * coordinate < 0.0:
                        behind += 1
                if behind > 0:
                    inside = 0
                if behind == 3:
                    outside = 1
            here = inside
            for k in range(3):
                if pw[k] <= 0.0:
                    here = 0
            if fill == 0:
                route[f] = ti.i8(0)
                if here == 0 and outside == 0:
                    route[f] = ti.i8(1)
            visible = 0
            if here:
                # raster._screen, corner by corner.
                xs, ys, depth, inv_w = f64v3(0.0), f64v3(0.0), f64v3(0.0), f64v3(0.0)
                x, y = i64v3(0), i64v3(0)
                for k in range(3):
                    nx = px[k] / pw[k]
                    ny = py[k] / pw[k]
                    nz = pz[k] / pw[k]
                    xs[k] = (nx + 1.0) * 0.5 * ti.cast(width, ti.f64)
                    ys[k] = (1.0 - ny) * 0.5 * ti.cast(height, ti.f64)
                    x[k] = ti.cast(rint(xs[k] * scale), ti.i64)
                    y[k] = ti.cast(rint(ys[k] * scale), ti.i64)
                    depth[k] = clamp((nz + 1.0) * 0.5, 0.0, 1.0) * depth_scale
                    inv_w[k] = 1.0 / pw[k]
                area2 = (x[1] - x[0]) * (y[2] - y[0]) - (y[1] - y[0]) * (x[2] - x[0])
                flip = area2 < 0
                if flip:
                    swap12(x)
                    swap12(y)
                    swap12(xs)
                    swap12(ys)
                    swap12(depth)
                    swap12(inv_w)
                    area2 = -area2
                lo_x = ti.min(ti.min(x[0], x[1]), x[2])
                lo_y = ti.min(ti.min(y[0], y[1]), y[2])
                i0 = ti.max(-((half - lo_x) >> SUBPIXEL_BITS), 0)
                i1 = ti.min((ti.max(ti.max(x[0], x[1]), x[2]) - half) >> SUBPIXEL_BITS, width - 1)
                j0 = ti.max(-((half - lo_y) >> SUBPIXEL_BITS), 0)
                j1 = ti.min((ti.max(ti.max(y[0], y[1]), y[2]) - half) >> SUBPIXEL_BITS, height - 1)
                if area2 > 0 and i0 <= i1 and j0 <= j1:
                    visible = 1
                if fill == 1 and visible:
                    row = start[f]
                    face_out[row] = f
                    bbox[row, 0], bbox[row, 1], bbox[row, 2], bbox[row, 3] = i0, i1, j0, j1
                    iref = clamp((x[0] + x[1] + x[2]) // (3 << SUBPIXEL_BITS), i0, i1)
                    jref = clamp((y[0] + y[1] + y[2]) // (3 << SUBPIXEL_BITS), j0, j1)
                    xref = (iref << SUBPIXEL_BITS) + half
                    yref = (jref << SUBPIXEL_BITS) + half
                    for k in range(3):
                        n = (k + 1) % 3
                        dx, dy = x[n] - x[k], y[n] - y[k]
                        column = COL_EDGE + 4 * k
                        table[row, column] = -dy
                        table[row, column + 1] = dx
                        table[row, column + 2] = (
                            dx * (yref - y[k])
                            - dy * (xref - x[k])
                            + dy * (iref << SUBPIXEL_BITS)
                            - dx * (jref << SUBPIXEL_BITS)
                        )
                        threshold = 1
                        if dy < 0 or (dy == 0 and dx > 0):  # top or left edge
                            threshold = 0
                        table[row, column + 3] = threshold
                    # raster._Planes: the exact positions unless snapping changed the
                    # triangle's area by more than half.
                    snapped_area = ti.cast(area2, ti.f64) / ti.f64(SUBPIXEL_SCALE**2)
                    exact_area = (xs[1] - xs[0]) * (ys[2] - ys[0]) - (ys[1] - ys[0]) * (
                        xs[2] - xs[0]
                    )
                    pxs, pys = xs, ys
                    det = exact_area
                    if not ti.abs(exact_area - snapped_area) <= 0.5 * snapped_area:
                        for k in ti.static(range(3)):
                            pxs[k] = ti.cast(x[k], ti.f64) / scale
                            pys[k] = ti.cast(y[k], ti.f64) / scale
                        det = snapped_area
                    ax = ti.cast(iref, ti.f64) + 0.5 - pxs[0]
                    ay = ti.cast(jref, ti.f64) + 0.5 - pys[0]
                    plane = solve(depth, pxs, pys, det, ax, ay)
                    # raster._screen's cap: 2**62 >> bit_length of the plane's reach
                    reach = (
                        ti.max(i1 - iref, iref - i0) + ti.max(j1 - jref, jref - j0) + 2 * BIN_REACH
                    )
                    bits = 0
                    while reach >> bits:
                        bits += 1
                    cap = ti.cast(ti.i64(1) << (GRADIENT_SPAN_BITS - bits), ti.f64)
                    gx = clamp(rint(plane[0] * gradient_scale), -cap, cap)
                    gy = clamp(rint(plane[1] * gradient_scale), -cap, cap)
                    zref = clamp(rint(plane[2] * gradient_scale), -anchor_limit, anchor_limit)
                    table[row, COL_GX] = ti.cast(gx, ti.i64)
                    table[row, COL_GY] = ti.cast(gy, ti.i64)
                    table[row, COL_Z] = ti.cast(zref, ti.i64)
                    low = ti.min(ti.min(depth[0], depth[1]), depth[2])
                    high = ti.max(ti.max(depth[0], depth[1]), depth[2])
                    table[row, COL_ZLO] = ti.cast(clamp(ti.floor(low), 0.0, depth_max), ti.i64) | (
                        iref << ANCHOR_SHIFT
                    )
                    table[row, COL_ZHI] = ti.cast(clamp(ti.ceil(high), 0.0, depth_max), ti.i64) | (
                        jref << ANCHOR_SHIFT
                    )
                    if flat:
                        for c in ti.static(range(4)):
                            shade[row, c] = colors[f, c]
                    else:
                        # Perspective-correct: colour / w and 1 / w are affine on screen.
                        # (A loop, not ti.static: one copy of solve to compile; over
                        # the planes of shade's columns, 3 each and the anchor's 2, a
                        # count LLVM cannot unroll.)
                        for c in range((shade.shape[1] - 2) // 3):
                            v = inv_w
                            if c < 4:
                                for k in ti.static(range(3)):
                                    v[k] = colors[faces[f, k], c]
                                if flip:
                                    swap12(v)
                                for k in ti.static(range(3)):
                                    v[k] = v[k] * inv_w[k]
                            p = solve(v, pxs, pys, det, ax, ay)
                            shade[row, 5 + c] = p[0]
                            shade[row, 10 + c] = p[1]
                            shade[row, c] = p[2]
                        shade[row, SHADE_ANCHOR] = ti.cast(iref, ti.f64)
                        shade[row, SHADE_ANCHOR + 1] = ti.cast(jref, ti.f64)
            if fill == 0:
                count[f] = visible

    return SimpleNamespace(setup=setup)
