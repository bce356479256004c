"""Triangle setup shared by every renderer: the one definition of coverage and depth.

Everything here runs once per frame in float64 numpy.  It turns a
:class:`~lamina.scene.Scene` seen by a
:class:`~lamina.scene.Camera` into *raster triangles* whose
coverage and depth at a pixel centre are integer formulas.  The reference
renderer evaluates them with numpy ``int64`` and the Taichi kernels with
``i64``; integer arithmetic is exact on every backend (no FMA contraction,
no fast-math reassociation), so all renderers see exactly the same fragments
in exactly the same order, and their images agree to float rounding in the
compositing alone.

The rules
---------
Clipping
    Triangles are clipped in homogeneous clip space against the near and far
    planes and against a guard band three viewports wide on each side
    (Sutherland-Hodgman), then fanned back into triangles.  So a triangle
    crossing the near plane is rendered correctly (its visible part), never
    rejected.  An edge crossing a plane is always cut from its inside
    endpoint, so two triangles sharing that edge get bit-identical new
    vertices and stay watertight.
Snapping
    Screen positions (x right, y down, pixel (i, j) has its centre at
    ``(i + 0.5, j + 0.5)``) are rounded to 1/256 pixel (8 sub-pixel bits),
    as GPUs do; images are at most :data:`lamina.limits.MAX_IMAGE_SIDE` (16384 = 2**14)
    pixels on a side.
Coverage
    A pixel centre is covered when the three integer edge functions of the
    (counter-clockwise re-oriented) triangle are >= 0, where a value of
    exactly 0 counts only on *top* edges (horizontal, interior below) and
    *left* edges (interior to their right): the Direct3D top-left rule, so
    triangles sharing an edge neither overlap nor leave gaps.  Both windings
    are rendered (no culling).
Depth
    Window depth ``(z_ndc + 1) / 2`` in [0, 1], which is affine in screen
    space for both projections, quantised to 40 bits: a plane
    ``z = (z_ref + gx * (i - i_ref) + gy * (j - j_ref)) >> 8`` with integer
    coefficients (8 extra fractional bits) about an anchor pixel.  The plane is solved from the exact (unsnapped)
    screen positions and depths of the vertices and rounded once, at the
    centre of an anchor pixel near the triangle; it is never moved to fit a
    sample, and the clamp to the triangle's own vertex depth range only
    catches rounding at the tips of slivers.  So the depth at any pixel is
    the true depth to within about ``2**-34`` of the near-far range, however
    small, thin, steep or clipped the triangle (tested against an
    independent float64 ray caster), up to a gradient of its whole depth
    range per ``2**-13`` of the triangle's extent (a sliver that much thinner
    than long covers next to no pixel centre).
Order
    Fragments at a pixel are ordered by the 64-bit key
    ``depth << id_bits | index`` where ``index`` is the raster triangle's
    position; raster triangles are sorted by face index (a clipped face's
    pieces never overlap), so fragments whose quantised depths are equal are
    ordered by face index, nearer first, and every key at a pixel is
    distinct.  Faces with the same three vertex positions (in the same
    order) get the same plane bit for bit, so a duplicated face is always
    ordered by face index, from either side.  Coplanar faces with different
    vertices get planes that agree to rounding: where their rounded depths
    differ by one unit the order follows the rounding (about 2**-40 of the
    depth range; which face is nearer then may change across the overlap).
Colour
    Straight RGBA, per face or per vertex.  Vertex colours are interpolated
    perspective-correctly: ``colour / w`` and ``1 / w`` are affine in screen
    space, so each gets a plane solved, like depth, from the exact vertex
    positions (``shade``); their ratio at a pixel centre is the colour, which
    is premultiplied per fragment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import cast

import numpy as np

from lamina.errors import InputError
from lamina.limits import MAX_COORDINATE, MAX_IMAGE_SIDE
from lamina.scene import Camera, Scene
from lamina.scene.camera import check_magnification
from lamina.scene.core import power_of_two_scaled

__all__ = [
    "DEPTH_BITS",
    "SUBPIXEL_BITS",
    "TILE",
    "RasterTriangles",
    "check_size",
    "float32_shade",
    "setup",
]

SUBPIXEL_BITS = 8
DEPTH_BITS = 40
#: Extra fractional bits of the per-pixel depth gradients.
GRADIENT_BITS = 8
#: Guard band half-width in NDC units: |x/w|, |y/w| <= GUARD after clipping.
GUARD = 3.0
#: Side of the square screen tiles the Taichi kernels bin triangles into.
TILE = 16

#: Depth planes are evaluated from the anchor pixel: ``Z + GX (i - i_ref) + GY (j -
#: j_ref)``, each gradient capped at ``2**GRADIENT_SPAN_BITS >> bit_length(extent)``
#: (the extent: the triangle's box about its anchor plus ``_BIN_REACH``), so the sum
#: stays inside int64 at every pixel a kernel evaluates it at.  A triangle whose box
#: is small may be as steep as its depth range over a 1/256-pixel width; a global cap
#: (2**47, for pixels up to 2**14 from (0, 0)) flattened the near-clipped pieces of a
#: face 0.5 px wide, which then sorted behind faces 2.5 units farther.
GRADIENT_SPAN_BITS = 62
#: How far outside its box a triangle's plane is evaluated: the corners and centre of
#: a bin it overlaps (bins are at most 16 px; ``oit_common.bin_order``).
_BIN_REACH = 16
_ANCHOR_LIMIT = 1 << 52  # depth at the anchor, in 1/256 units: far beyond [0, 2**48]
#: The anchor pixel's column and row ride above the depth bounds in COL_ZLO and COL_ZHI.
ANCHOR_SHIFT = 48
_DEPTH_FIELD = (1 << ANCHOR_SHIFT) - 1
_GRADIENT_SCALE = float(1 << GRADIENT_BITS)
_DEPTH_MAX = (1 << DEPTH_BITS) - 1

# Columns of RasterTriangles.table (int64), shared with the Taichi kernels.
COL_Z, COL_GX, COL_GY, COL_ZLO, COL_ZHI = range(5)
COL_EDGE = 5  # then A, B, C, threshold for each of the three edges
TABLE_COLUMNS = COL_EDGE + 12
#: Faces set up at once: bounds the setup's scratch memory (16 MiB), and small
#: temporaries reuse the heap instead of first-touching fresh pages (measured 25 %
#: less CPU time than chunks of 65,536 faces).
SETUP_CHUNK = 1 << 13
#: Measured peak scratch bytes per face of a chunk (tracemalloc: 1.2 KB unclipped;
#: clipped faces make up to 7 fan triangles, each as large).
SETUP_BYTES_PER_FACE = 2048
SETUP_CHUNK_BYTES = SETUP_CHUNK * SETUP_BYTES_PER_FACE
#: Faces from which ``setup(..., arch=...)`` runs the Taichi setup kernel: on the
#: process's first frame of at least :data:`SETUP_KERNEL_MIN_FACES` faces only from
#: :data:`SETUP_KERNEL_FIRST_FACES` (the kernel's one-off front end and JIT with a
#: warm offline cache, measured 0.19 s at load 2 and 0.9 s at load 11, cost more than
#: it saves below that: about 0.7 of the numpy setup's 1.0-2.5 us per face), on every
#: later frame from :data:`SETUP_KERNEL_MIN_FACES`.
SETUP_KERNEL_MIN_FACES = 1 << 14
SETUP_KERNEL_FIRST_FACES = 1 << 18
_large_frames = 0  # frames of SETUP_KERNEL_MIN_FACES faces or more set up so far
#: Bytes each raster triangle keeps after the setup (table, shade, bbox, face), at most
#: (face colours keep 104 fewer).
KEPT_BYTES_PER_TRIANGLE = 8 * (17 + 17 + 4 + 1)
# RasterTriangles.shade: 5 planes (r/w, g/w, b/w, a/w, 1/w) as value, i step, j step,
# then the anchor pixel. The setup kernel counts its planes from these columns
# ((SHADE_COLUMNS - 2) // 3): a column added here is a plane there.
SHADE_ANCHOR = 15
SHADE_COLUMNS = 17


#: Range of 1/w (the divisor plane of perspective-correct colour) that float32 kernels
#: take as it is; outside it each triangle's planes are rescaled (:func:`float32_shade`).
FLOAT32_SAFE_INV_W = (2.0**-60, 2.0**60)


def float32_shade(tris: RasterTriangles) -> np.ndarray:
    """``tris.shade`` for float32 kernels. Where 1/w may leave :data:`FLOAT32_SAFE_INV_W`
    (a scene and camera at 2**100 world units have 1/w near 2**-100, which float32
    flushed to 0: NaN pixels), each triangle's five planes are multiplied by the power
    of two that brings its 1/w into [0.5, 1); only the ratio colour/w over 1/w is used,
    so colours are unchanged bit for bit. The anchor columns stay. Decided from the
    camera's range of 1/w, so ordinary frames pay nothing."""
    low, high = FLOAT32_SAFE_INV_W
    smallest, largest = tris.inv_w_range
    if tris.flat or not len(tris.shade) or (smallest >= low and largest <= high):
        return tris.shade
    rescaled = tris.shade.copy()
    # By 1/w's own power of two: the colour planes are at most 1/w, and the steps
    # across a pixel stay within a few powers of two of it.
    rescaled[:, :SHADE_ANCHOR] = power_of_two_scaled(rescaled[:, :SHADE_ANCHOR], rescaled[:, 4])[0]
    return rescaled


def check_size(size: object) -> tuple[int, int]:
    """Validate an image ``size`` = (height, width); return it as ints."""
    try:
        height, width = cast("tuple[object, object]", size)
    except (TypeError, ValueError):
        raise InputError(f"size must be (height, width), got {size!r}") from None
    out = []
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise InputError(f"size {name} must be an integer, got {value!r}")
        if not 1 <= value <= MAX_IMAGE_SIDE:
            raise InputError(
                f"size {name} must lie in [1, {MAX_IMAGE_SIDE}] pixels "
                f"(lamina.limits.MAX_IMAGE_SIDE), got {value}"
            )
        out.append(int(value))
    return out[0], out[1]


@dataclass(frozen=True)
class RasterTriangles:
    """Screen-space triangles ready to rasterise (see the module notes for the rules).

    Attributes
    ----------
    size : (height, width)
    face : (R,) int64
        Scene face each raster triangle comes from (non-decreasing).
    table : (R, 17) int64
        Per triangle: depth plane ``z_ref, gx, gy`` about its anchor pixel
        (depth at pixel (i, j) is ``(z_ref + gx * (i - i_ref) + gy * (j - j_ref))
        >> 8``), depth clamp range (the anchor's column and row above bit
        ``ANCHOR_SHIFT`` of the two), then
        (A, B, C, threshold) of each edge, where the edge function at pixel
        (i, j) is ``A * (i << 8) + B * (j << 8) + C`` and the centre is inside
        the edge when it is ``>= threshold`` (0 on top-left edges, 1
        elsewhere).
    bbox : (R, 4) int64
        Inclusive pixel ranges i0, i1, j0, j1 that can hold covered centres.
    shade : (R, 17) or, for face colours, (R, 4) float64
        Colour planes: columns 0-4 hold ``(r, g, b, a) / w`` and ``1 / w`` at
        the centre of the anchor pixel (columns 15, 16: its i, j), columns
        5-9 their steps per pixel in i, 10-14 in j; the straight RGBA at
        pixel (i, j) is the first four planes divided by the fifth.  Face
        colours need no plane: the face's straight RGBA.
    flat : bool
        True when colours are per face (no interpolation needed).
    id_bits, depth_shift : int
        ``key = ((depth >> depth_shift) << id_bits) | index``.
    background : (4,) float64
        Premultiplied background colour.
    setup_bytes : int
        Estimated peak scratch memory of the setup (one chunk of faces).
    inv_w_range : (float, float)
        Bounds of 1/w over every fragment: (1/far, 1/near) in perspective (clipping
        keeps w in [near, far]), (1, 1) orthographic.
    """

    size: tuple[int, int]
    face: np.ndarray
    table: np.ndarray
    bbox: np.ndarray
    shade: np.ndarray
    flat: bool
    id_bits: int
    depth_shift: int
    background: np.ndarray
    setup_bytes: int = 0
    inv_w_range: tuple[float, float] = (1.0, 1.0)

    @property
    def nbytes(self) -> int:
        """Bytes held by the setup's arrays."""
        return sum(a.nbytes for a in (self.face, self.table, self.bbox, self.shade))

    @property
    def n(self) -> int:
        return len(self.face)

    @cached_property
    def _edges(self) -> tuple[np.ndarray, ...]:
        """Contiguous (R, 3) columns A, B, C, threshold of the edge functions."""
        edges = self.table[:, COL_EDGE : COL_EDGE + 12].reshape(-1, 3, 4)
        return tuple(np.ascontiguousarray(edges[:, :, k]) for k in range(4))

    def edge_values(self, index: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """The three edge functions (..., 3) of triangles ``index`` at pixels (i, j)."""
        a, b, c, _ = self._edges
        x = (np.asarray(i) << SUBPIXEL_BITS)[..., None]
        y = (np.asarray(j) << SUBPIXEL_BITS)[..., None]
        return a[index] * x + b[index] * y + c[index]

    def covers(self, index: np.ndarray, edges: np.ndarray) -> np.ndarray:
        """Coverage from :meth:`edge_values` (top-left rule)."""
        return (edges >= self._edges[3][index]).all(axis=-1)

    def rgba(self, index: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Straight RGBA (..., 4) float64 of triangles ``index`` at pixels (i, j)."""
        shade = self.shade[index]
        if self.flat:
            return shade[..., :4]
        di = (np.asarray(i) - shade[..., SHADE_ANCHOR])[..., None]
        dj = (np.asarray(j) - shade[..., SHADE_ANCHOR + 1])[..., None]
        planes = shade[..., :5] + shade[..., 5:10] * di + shade[..., 10:15] * dj
        return planes[..., :4] / planes[..., 4:5]

    def keys(self, index: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Sort keys (int64) of triangles ``index`` at pixels (i, j)."""
        column = self.table[:, COL_Z : COL_ZHI + 1].T
        zref, gx, gy, low, high = (c[index] for c in column)
        di, dj = i - (low >> ANCHOR_SHIFT), j - (high >> ANCHOR_SHIFT)
        z = (zref + gx * di + gy * dj) >> GRADIENT_BITS
        z = np.clip(z, low & _DEPTH_FIELD, high & _DEPTH_FIELD)
        return ((z >> self.depth_shift) << self.id_bits) | index


def setup(
    scene: Scene,
    camera: Camera,
    size: tuple[int, int],
    *,
    arch: str | None = None,
    pool: dict[str, np.ndarray] | None = None,
) -> RasterTriangles:
    """Transform, clip, snap and set up the triangles of ``scene`` for ``size`` = (h, w).

    With ``arch=None`` (the reference implementation) faces are set up in float64
    numpy in chunks of :data:`SETUP_CHUNK`, so the scratch memory is bounded
    whatever the triangle count.  With a Taichi ``arch`` (``"auto"``, ``"cpu"``,
    ...), scenes of at least :data:`SETUP_KERNEL_MIN_FACES` faces (on a process's
    first such frame :data:`SETUP_KERNEL_FIRST_FACES`) are set up by
    :mod:`lamina.kernels.oit_setup`, parallel over faces and bit for bit the same
    (only faces that need clipping go through numpy); its scratch is 17 bytes per
    face.  What stays is :data:`KEPT_BYTES_PER_TRIANGLE` per raster triangle.

    ``pool`` (the kernel setup only): arrays kept from the caller's last frame, reused
    for this frame's results, which are then views of them (valid until the next
    frame set up with the same ``pool``).  First-touching fresh pages costs more on
    this project's VM than the kernel's arithmetic (0.3 ms per MB: a 1 M-triangle
    frame's 200 MB).
    """
    if not isinstance(scene, Scene):
        raise InputError(f"scene must be a lamina.scene.Scene, got {type(scene).__name__}")
    if not isinstance(camera, Camera):
        raise InputError(f"camera must be a lamina.scene.Camera, got {type(camera).__name__}")
    height, width = check_size(size)
    # past it the float64 projection misplaces edges (the command line checks first,
    # naming its options; this covers library calls)
    check_magnification(camera, (height, width), cause="camera")
    matrix = camera.projection_matrix(width / height) @ camera.view_matrix()
    _check_clip_range(scene, matrix)
    flat = scene.vertex_colors is None
    if arch is not None and _kernel_pays(scene.n_triangles) and _has_float64(arch):
        face, table, bbox, shade, setup_bytes = _kernel_setup(scene, matrix, (height, width), pool)
    else:
        clip = clip_positions(scene.vertices, matrix)
        everything = np.arange(scene.n_triangles)
        face, table, bbox, shade = _numpy_setup(
            scene, everything, clip.__getitem__, (height, width)
        )
        setup_bytes = clip.nbytes + min(scene.n_triangles, SETUP_CHUNK) * SETUP_BYTES_PER_FACE
    id_bits = max(1, (len(face) - 1).bit_length())
    return RasterTriangles(
        size=(height, width),
        face=face,
        table=table,
        bbox=bbox,
        shade=shade,
        flat=flat,
        id_bits=id_bits,
        depth_shift=max(0, DEPTH_BITS + id_bits - 63),
        background=np.asarray(scene.premultiplied_background(), dtype=np.float64),
        setup_bytes=setup_bytes,
        inv_w_range=(
            (1.0 / camera.far, 1.0 / camera.near)
            if camera.projection == "perspective"
            else (1.0, 1.0)
        ),
    )


def _check_clip_range(scene: Scene, matrix: np.ndarray) -> None:
    """Refuse a camera that maps the scene beyond :data:`lamina.limits.MAX_COORDINATE` in
    clip space (a huge zoom, a field of view or orthographic height near zero), where
    clipping's differences would overflow float64; bounded by the rows of ``matrix``."""
    with np.errstate(over="ignore", invalid="ignore"):
        bound = np.abs(matrix[:, :3]).sum(axis=1) * scene.extent + np.abs(matrix[:, 3])
    if not (np.isfinite(bound).all() and bound.max() <= MAX_COORDINATE):
        raise InputError(
            f"the camera maps the scene to clip-space coordinates up to {bound.max():.3g}, "
            f"beyond {MAX_COORDINATE:g} (lamina.limits.MAX_COORDINATE): widen the view "
            "(a smaller zoom, a larger field of view or orthographic height)"
        )


def clip_positions(vertices: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Homogeneous clip-space positions (V, 4) of ``vertices`` (V, 3) under the 4 x 4
    ``matrix``: ``x * m0 + y * m1 + z * m2 + m3`` per row ``m``, summed left to right.

    One fixed operation order (the setup kernel repeats it), where a BLAS matrix
    product's order and use of fused multiply-adds depend on the machine.
    """
    x, y, z = vertices[:, 0], vertices[:, 1], vertices[:, 2]
    clip = np.empty((len(vertices), 4))
    for c, m in enumerate(matrix):
        clip[:, c] = x * m[0] + y * m[1] + z * m[2] + m[3]
    return clip


def _numpy_setup(
    scene: Scene,
    faces: np.ndarray,
    positions: Callable[[np.ndarray], np.ndarray],
    size: tuple[int, int],
) -> tuple[np.ndarray, ...]:
    """(face, table, bbox, shade) of the scene faces ``faces`` (increasing indices), set
    up in float64 numpy in chunks of :data:`SETUP_CHUNK` faces; ``positions`` gives
    the clip-space positions (K, 3, 4) of the corners (K, 3) of K faces."""
    vertex_colors = scene.vertex_colors
    flat = vertex_colors is None
    parts = [(np.zeros(0, np.int64), np.zeros((0, TABLE_COLUMNS), np.int64),
              np.zeros((0, 4), np.int64), np.zeros((0, 4 if flat else SHADE_COLUMNS)))]  # fmt: skip
    for first in range(0, len(faces), SETUP_CHUNK):
        index = faces[first : first + SETUP_CHUNK]
        corners = scene.faces[index]
        if vertex_colors is None:
            # A Scene fills face colours when it has no vertex colours.
            assert scene.face_colors is not None
            vertex_rgba = np.repeat(scene.face_colors[index, None], 3, axis=1)
        else:
            vertex_rgba = vertex_colors[corners]
        clipped, rgba, face = _clip(positions(corners), vertex_rgba, index)
        parts.append(_screen(clipped, rgba, face, size, flat=flat))
    if len(parts) == 2:
        return parts[1]
    return tuple(np.concatenate(columns) for columns in zip(*parts, strict=True))


def _kernel_pays(faces: int) -> bool:
    """Whether the setup kernel beats the numpy setup for a frame of ``faces`` faces
    (see :data:`SETUP_KERNEL_MIN_FACES`)."""
    global _large_frames
    if faces < SETUP_KERNEL_MIN_FACES:
        return False
    _large_frames += 1
    return _large_frames > 1 or faces >= SETUP_KERNEL_FIRST_FACES


def kernels_pay(rows: int) -> bool:
    """Whether a frame of ``rows`` raster triangles takes the kernels whose one-off
    compilation pays only past a process's first large frame, as its setup did
    (:func:`_kernel_pays`, which has counted the frame already)."""
    return rows >= SETUP_KERNEL_MIN_FACES and (
        _large_frames > 1 or rows >= SETUP_KERNEL_FIRST_FACES
    )


def _has_float64(arch: str) -> bool:
    """Start Taichi on ``arch``; whether the kernel setup can run there (it needs
    float64, which many Vulkan devices lack)."""
    from lamina.kernels import runtime

    return runtime.init(arch) != "vulkan"


def _pooled(
    pool: dict[str, np.ndarray] | None, name: str, shape: tuple[int, ...], dtype: type
) -> np.ndarray:
    """An uninitialised array of ``shape``: a view of ``pool[name]`` when that has the
    columns and dtype and at least the rows, else a new array kept there."""
    if pool is None:
        return np.empty(shape, dtype)
    held = pool.get(name)
    if held is None or held.dtype != dtype or held.shape[1:] != shape[1:] or len(held) < shape[0]:
        pool.pop(name, None)  # free before allocating the replacement
        held = pool[name] = np.empty(shape, dtype)
    return held[: shape[0]]


def _kernel_setup(
    scene: Scene, matrix: np.ndarray, size: tuple[int, int], pool: dict[str, np.ndarray] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """:func:`setup`'s (face, table, bbox, shade) by :mod:`lamina.kernels.oit_setup`
    (see its notes), in ``pool``'s arrays, and the scratch bytes it used."""
    from lamina.kernels import oit_setup

    kernel = oit_setup.build().setup
    height, width = size
    flat = scene.vertex_colors is None
    n = scene.n_triangles
    colors = np.ascontiguousarray(scene.face_colors if flat else scene.vertex_colors, np.float64)
    faces = np.ascontiguousarray(scene.faces, np.int64)
    vertices = np.ascontiguousarray(scene.vertices, np.float64)
    matrix = np.ascontiguousarray(matrix, np.float64)
    route = _pooled(pool, "route", (n,), np.int8)
    start = _pooled(pool, "start", (n + 1,), np.int64)
    start[0] = 0
    count = start[1:]  # per face (every one written), then its running sum in place
    shade_columns = 4 if flat else SHADE_COLUMNS
    one_row = (np.empty((1, TABLE_COLUMNS), np.int64), np.empty((1, 4), np.int64),
               np.empty((1, shade_columns)), np.empty(1, np.int64))  # fmt: skip
    extent = {"width": width, "height": height, "flat": int(flat)}
    kernel(vertices, matrix, faces, colors, route, count, start, *one_row, **extent, fill=0)
    # Faces that must be clipped: the numpy clipper's fans, counted with their face.
    clipped = np.flatnonzero(route)
    fans = _numpy_setup(
        scene,
        clipped,
        lambda corners: clip_positions(scene.vertices[corners.ravel()], matrix).reshape(-1, 3, 4),
        size,
    )
    count += np.bincount(fans[0], minlength=n)
    np.cumsum(count, out=count)
    rows = int(start[-1])
    length = max(rows, 1)
    out = (_pooled(pool, "face", (length,), np.int64),
           _pooled(pool, "table", (length, TABLE_COLUMNS), np.int64),
           _pooled(pool, "bbox", (length, 4), np.int64),
           _pooled(pool, "shade", (length, shade_columns), np.float64))  # fmt: skip
    kernel(vertices, matrix, faces, colors, route, count, start, *out[1:], out[0], **extent,
           fill=1)  # fmt: skip
    face, table, bbox, shade = (a[:rows] for a in out)
    if len(fans[0]):
        # A face's fans are consecutive: they go to its rows in order.
        first = np.searchsorted(fans[0], fans[0])
        place = start[fans[0]] + np.arange(len(fans[0])) - first
        for array, values in zip((face, table, bbox, shade), fans, strict=True):
            array[place] = values
    scratch = route.nbytes + start.nbytes + min(len(clipped), SETUP_CHUNK) * SETUP_BYTES_PER_FACE
    return face, table, bbox, shade, scratch


# Reductions over a triangle's three corners, as two elementwise operations: numpy's
# axis reductions over a length-3 axis cost 10-20x more (measured 612 us against
# 35 us for 8,192 triangles), and the setup makes a dozen of them per chunk.
def _bit_length(values: np.ndarray) -> np.ndarray:
    """``int.bit_length`` of non-negative int64 values below 2**53."""
    return np.frexp(values.astype(np.float64))[1]


def _corner_min(a: np.ndarray) -> np.ndarray:
    return np.minimum(np.minimum(a[:, 0], a[:, 1]), a[:, 2])


def _corner_max(a: np.ndarray) -> np.ndarray:
    return np.maximum(np.maximum(a[:, 0], a[:, 1]), a[:, 2])


def _corner_sum(a: np.ndarray) -> np.ndarray:
    return a[:, 0] + a[:, 1] + a[:, 2]


def _any_column(mask: np.ndarray) -> np.ndarray:
    """Row-wise any of a (N, K) boolean array with small K, column by column."""
    result = mask[:, 0].copy()
    for k in range(1, mask.shape[1]):
        result |= mask[:, k]
    return result


def _plane_distances(p: np.ndarray) -> np.ndarray:
    """Signed distances (..., 6) to the clip planes; inside when >= 0."""
    x, y, z, w = p[..., 0], p[..., 1], p[..., 2], p[..., 3]
    return np.stack(
        [w + z, w - z, GUARD * w - x, GUARD * w + x, GUARD * w - y, GUARD * w + y], axis=-1
    )


def _clip(
    positions: np.ndarray, rgba: np.ndarray, face: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clip (F, 3, 4) clip-space triangles; return triangles sorted by face."""
    distances = _plane_distances(positions)  # (F, 3, 6)
    # Per plane, the nearest and farthest vertex: outside when all three are behind one
    # plane, inside when none is behind any.
    lowest = _corner_min(distances)
    outside = _any_column(_corner_max(distances) < 0)
    inside = ~_any_column(lowest < 0)
    crossing = ~inside & ~outside
    if not crossing.any():
        if inside.all():  # (the usual case: no copies)
            return positions, rgba, face
        return positions[inside], rgba[inside], face[inside]
    polygons, counts = _clip_polygons(np.concatenate([positions[crossing], rgba[crossing]], axis=2))
    # Fan (v0, vk, vk+1) for k = 1 .. count - 2 (none when nothing is left).
    fans_per_polygon = np.maximum(counts - 2, 0)
    fan_face = np.repeat(face[crossing], fans_per_polygon)
    owner = np.repeat(np.arange(len(counts)), fans_per_polygon)
    first_fan = np.cumsum(fans_per_polygon) - fans_per_polygon
    k = np.arange(len(owner)) - np.repeat(first_fan, fans_per_polygon) + 1
    fans = np.stack([polygons[owner, 0], polygons[owner, k], polygons[owner, k + 1]], axis=1)
    positions = np.concatenate([positions[inside], fans[..., :4]])
    rgba = np.concatenate([rgba[inside], fans[..., 4:]])
    face = np.concatenate([face[inside], fan_face])
    order = np.argsort(face, kind="stable")
    return positions[order], rgba[order], face[order]


def _clip_polygons(triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sutherland-Hodgman on (T, 3, 8) triangles [x, y, z, w, r, g, b, a] against
    the six planes, vectorised over triangles; returns (T, 9, 8) polygons and
    their vertex counts (< 3 when nothing is left)."""
    size = 3 + 6  # each plane adds at most one vertex to a convex polygon
    count = np.full(len(triangles), 3)
    polygons = np.zeros((len(triangles), size, triangles.shape[2]))
    polygons[:, :3] = triangles
    slots = np.arange(size)
    rows = np.arange(len(triangles))[:, None]
    for plane in range(6):
        valid = slots < count[:, None]
        following = np.where(slots + 1 < count[:, None], slots + 1, 0)
        distance = _plane_distances(polygons[..., :4])[..., plane]
        d_next = np.take_along_axis(distance, following, axis=1)
        keep = valid & (distance >= 0)
        cut = valid & ((distance >= 0) != (d_next >= 0))
        # Always interpolate from the inside endpoint: bit-identical for both
        # triangles that share the edge.
        ins = np.where(distance >= 0, slots, following)
        out = np.where(distance >= 0, following, slots)
        d_in = np.take_along_axis(distance, ins, axis=1)
        d_out = np.take_along_axis(distance, out, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(cut, d_in / (d_in - d_out), 0.0)
        p_in, p_out = polygons[rows, ins], polygons[rows, out]
        crossing_point = p_in + t[..., None] * (p_out - p_in)
        # Output order per edge: the current vertex (if kept), then the crossing.
        emitted = keep.astype(np.int64) + cut
        first = np.cumsum(emitted, axis=1) - emitted
        result = np.zeros_like(polygons)
        r, c = np.nonzero(keep)
        result[r, first[r, c]] = polygons[r, c]
        r, c = np.nonzero(cut)
        result[r, first[r, c] + keep[r, c]] = crossing_point[r, c]
        polygons, count = result, emitted.sum(axis=1)
    return polygons, count


def _screen(
    positions: np.ndarray,
    rgba: np.ndarray,
    face: np.ndarray,
    size: tuple[int, int],
    *,
    flat: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Snap, orient and set up clipped triangles: (face, table, bbox, shade)."""
    height, width = size
    scale = float(1 << SUBPIXEL_BITS)
    w = positions[..., 3]
    ndc = positions[..., :3] / w[..., None]
    xs = (ndc[..., 0] + 1.0) * 0.5 * width  # exact screen position, in pixels
    ys = (1.0 - ndc[..., 1]) * 0.5 * height
    x = np.rint(xs * scale).astype(np.int64)
    y = np.rint(ys * scale).astype(np.int64)
    depth = np.clip((ndc[..., 2] + 1.0) * 0.5, 0.0, 1.0) * float(1 << DEPTH_BITS)
    inv_w = 1.0 / w

    # Orient every triangle so that its interior is on the positive side of all edges.
    area2 = (x[:, 1] - x[:, 0]) * (y[:, 2] - y[:, 0]) - (y[:, 1] - y[:, 0]) * (x[:, 2] - x[:, 0])
    flip = area2 < 0
    # (Face colours are equal at the three corners: nothing to swap.)
    for array in (x, y, xs, ys, depth, inv_w) + (() if flat else (rgba,)):
        array[flip, 1], array[flip, 2] = array[flip, 2].copy(), array[flip, 1].copy()
    area2 = np.abs(area2)

    half = 1 << (SUBPIXEL_BITS - 1)
    # Pixel ranges whose centres (i << 8) + half can lie inside the triangle.
    i0 = np.maximum(-((half - _corner_min(x)) >> SUBPIXEL_BITS), 0)  # ceil((min - half) / 256)
    i1 = np.minimum((_corner_max(x) - half) >> SUBPIXEL_BITS, width - 1)
    j0 = np.maximum(-((half - _corner_min(y)) >> SUBPIXEL_BITS), 0)
    j1 = np.minimum((_corner_max(y) - half) >> SUBPIXEL_BITS, height - 1)
    visible = (area2 > 0) & (i0 <= i1) & (j0 <= j1)
    if not visible.all():  # (a mesh in view usually is: no copies then)
        x, y, xs, ys, depth, inv_w, rgba, face, area2 = (
            a[visible] for a in (x, y, xs, ys, depth, inv_w, rgba, face, area2)
        )
        i0, i1, j0, j1 = (a[visible] for a in (i0, i1, j0, j1))
    n = len(face)

    # Anchor pixel: the pixel of the centroid, kept inside the pixel box.  Planes are
    # evaluated relative to it, so their rounding does not grow with the image size.
    iref = np.clip(_corner_sum(x) // (3 << SUBPIXEL_BITS), i0, i1)
    jref = np.clip(_corner_sum(y) // (3 << SUBPIXEL_BITS), j0, j1)
    xref = (iref << SUBPIXEL_BITS) + half
    yref = (jref << SUBPIXEL_BITS) + half

    table = np.zeros((n, TABLE_COLUMNS), dtype=np.int64)
    for k in range(3):
        a_x, a_y = x[:, k], y[:, k]
        dx, dy = x[:, (k + 1) % 3] - a_x, y[:, (k + 1) % 3] - a_y
        # E(p) = dx * (p.y - a.y) - dy * (p.x - a.x): positive inside.
        column = COL_EDGE + 4 * k
        table[:, column] = -dy
        table[:, column + 1] = dx
        # C at pixel (0, 0), exactly: E(i, j) = A * (i << 8) + B * (j << 8) + C.
        table[:, column + 2] = (
            dx * (yref - a_y)
            - dy * (xref - a_x)
            + dy * (iref << SUBPIXEL_BITS)
            - dx * (jref << SUBPIXEL_BITS)
        )
        top_left = (dy < 0) | ((dy == 0) & (dx > 0))
        table[:, column + 3] = np.where(top_left, 0, 1)

    # Depth and colour are affine (colour over 1/w) in screen space: their planes come
    # from the exact, unsnapped vertex positions, evaluated at the anchor pixel's centre.
    plane = _Planes(xs, ys, x, y, area2, iref, jref)
    gx, gy, zref = plane.solve(depth)
    extent = np.maximum(i1 - iref, iref - i0) + np.maximum(j1 - jref, jref - j0)
    cap = np.ldexp(1.0, GRADIENT_SPAN_BITS - _bit_length(extent + 2 * _BIN_REACH))
    table[:, COL_GX] = np.clip(np.rint(gx * _GRADIENT_SCALE), -cap, cap)
    table[:, COL_GY] = np.clip(np.rint(gy * _GRADIENT_SCALE), -cap, cap)
    # z(i, j) = (Z + GX (i - i_ref) + GY (j - j_ref)) >> 8 is the rounded plane at the
    # anchor; the clamp to the vertex range only catches rounding at the edges of
    # slivers.
    zref = np.clip(np.rint(zref * _GRADIENT_SCALE), -_ANCHOR_LIMIT, _ANCHOR_LIMIT)
    table[:, COL_Z] = zref.astype(np.int64)
    low = np.clip(np.floor(_corner_min(depth)), 0, _DEPTH_MAX).astype(np.int64)
    high = np.clip(np.ceil(_corner_max(depth)), 0, _DEPTH_MAX).astype(np.int64)
    table[:, COL_ZLO] = low | (iref << ANCHOR_SHIFT)
    table[:, COL_ZHI] = high | (jref << ANCHOR_SHIFT)

    if flat:
        shade = np.ascontiguousarray(rgba[:, 0])  # the face's straight RGBA
    else:
        # Perspective-correct: (colour / w) and 1 / w are the affine quantities.
        shade = np.zeros((n, SHADE_COLUMNS))
        values = np.concatenate([rgba * inv_w[..., None], inv_w[..., None]], axis=2)
        for c in range(5):
            shade[:, 5 + c], shade[:, 10 + c], shade[:, c] = plane.solve(values[..., c])
        shade[:, SHADE_ANCHOR] = iref
        shade[:, SHADE_ANCHOR + 1] = jref

    return face, table, np.stack([i0, i1, j0, j1], axis=1), shade


class _Planes:
    """Affine interpolation over screen triangles: gradients per pixel and the value at
    the anchor pixel's centre, from the exact vertex positions.

    Snapping moves a vertex by up to 1/512 pixel, which would move a depth or colour
    plane by its gradient times that (a whole depth range on a thin, steep
    triangle); the exact positions keep every pixel's value to float rounding.  Only
    when the exact triangle is far from its snapped shape (a sliver that snapping
    fattened, with a near-zero exact area) do the snapped positions stand in.
    """

    def __init__(
        self,
        xs: np.ndarray,
        ys: np.ndarray,
        x: np.ndarray,
        y: np.ndarray,
        area2: np.ndarray,
        iref: np.ndarray,
        jref: np.ndarray,
    ) -> None:
        snapped_area = area2 / float(1 << (2 * SUBPIXEL_BITS))  # pixels**2, > 0
        exact_area = (xs[:, 1] - xs[:, 0]) * (ys[:, 2] - ys[:, 0]) - (ys[:, 1] - ys[:, 0]) * (
            xs[:, 2] - xs[:, 0]
        )
        # Both orientations agree after the flip in _screen (same vertex order).
        exact = np.abs(exact_area - snapped_area) <= 0.5 * snapped_area
        scale = float(1 << SUBPIXEL_BITS)
        self.x = np.where(exact[:, None], xs, x / scale)
        self.y = np.where(exact[:, None], ys, y / scale)
        self.det = np.where(exact, exact_area, snapped_area)
        self.ax = iref + 0.5 - self.x[:, 0]
        self.ay = jref + 0.5 - self.y[:, 0]

    def solve(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(d/di, d/dj, value at the anchor) of the plane through (x, y, ``values``)."""
        x, y = self.x, self.y
        d1, d2 = values[:, 1] - values[:, 0], values[:, 2] - values[:, 0]
        gx = (d1 * (y[:, 2] - y[:, 0]) - d2 * (y[:, 1] - y[:, 0])) / self.det
        gy = (d2 * (x[:, 1] - x[:, 0]) - d1 * (x[:, 2] - x[:, 0])) / self.det
        return gx, gy, values[:, 0] + gx * self.ax + gy * self.ay
