"""The float64 numpy reference renderer: every fragment, sorted, composited.

Deliberately plain: for every raster triangle, test every pixel centre of its
bounding box with :mod:`lamina.plugins.oit.raster`'s integer rules, collect
all fragments (pixel, key, premultiplied colour), sort them by (pixel, key)
and composite each pixel front to back in float64, then the background
behind.  It does not use the tile bins of the Taichi renderers, so it checks
them independently, and it is the baseline of the benchmarks.
"""

from __future__ import annotations

import numpy as np

from lamina.plugins.oit import raster
from lamina.plugins.oit.renderers.base import OITRenderer
from lamina.types import RenderStats

__all__ = ["Reference", "fragments"]

#: Candidate (triangle, pixel) pairs tested at once; bounds the scratch memory.
_CHUNK = 1 << 21


def _candidates(tris: raster.RasterTriangles, rows: tuple[int, int]):
    """Yield (triangle, i, j) arrays for the pixels of each bounding box in ``rows``."""
    j_lo, j_hi = rows
    i0, i1 = tris.bbox[:, 0], tris.bbox[:, 1]
    j0, j1 = np.maximum(tris.bbox[:, 2], j_lo), np.minimum(tris.bbox[:, 3], j_hi - 1)
    nx = i1 - i0 + 1
    area = np.where(j1 >= j0, nx * (j1 - j0 + 1), 0)
    first = 0
    while first < tris.n:
        # At least one triangle per chunk, as many more as fit.
        last = first + max(1, int(np.searchsorted(np.cumsum(area[first:]), _CHUNK, "right")))
        counts = area[first:last]
        index = np.repeat(np.arange(first, last), counts)
        local = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        yield index, i0[index] + local % nx[index], j0[index] + local // nx[index]
        first = last


def fragments(
    tris: raster.RasterTriangles, rows: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All fragments in image ``rows`` = [start, stop): flat pixel index
    ``j * width + i``, sort key, and premultiplied RGBA (float64), unsorted."""
    height, width = tris.size
    pixel, keys, colors = [], [], []
    for index, i, j in _candidates(tris, rows or (0, height)):
        edges = tris.edge_values(index, i, j)
        covered = tris.covers(index, edges)
        index, i, j = index[covered], i[covered], j[covered]
        pixel.append(j * width + i)
        keys.append(tris.keys(index, i, j))
        rgba = tris.rgba(index, i, j)
        colors.append(np.concatenate([rgba[:, :3] * rgba[:, 3:], rgba[:, 3:]], axis=1))
    if not pixel:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 4))
    return np.concatenate(pixel), np.concatenate(keys), np.concatenate(colors)


def composite(
    pixel: np.ndarray,
    keys: np.ndarray,
    colors: np.ndarray,
    n_pixels: int,
    background: np.ndarray,
    threshold: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Front-to-back compositing of unsorted fragments over ``n_pixels`` pixels.

    Returns the premultiplied image (n_pixels, 4), the fragments and the
    layers composited per pixel and, per pixel, the transmittance left where
    compositing stopped early (else 0).
    """
    order = np.lexsort((keys, pixel))
    pixel, colors = pixel[order], colors[order]
    count = np.bincount(pixel, minlength=n_pixels)
    start = np.cumsum(count) - count
    image = np.zeros((n_pixels, 4))
    transmittance = np.ones(n_pixels)
    layers = np.zeros(n_pixels, dtype=np.int64)
    for rank in range(int(count.max(initial=0))):
        # Pixels that still have a fragment at this rank and have not stopped.
        live = np.flatnonzero((count > rank) & (transmittance >= threshold))
        color = colors[start[live] + rank]
        image[live] += transmittance[live, None] * color
        transmittance[live] *= 1.0 - color[:, 3]
        layers[live] += 1
    stopped = layers < count
    image[~stopped] += transmittance[~stopped, None] * background
    residual = np.where(stopped, transmittance, 0.0)
    return image, count, layers, residual


class Reference(OITRenderer):
    """Exact OIT in float64 numpy: all fragments, sorted, composited (for tests).

    Parameters
    ----------
    max_fragments : int or None
        Most fragments held at once (up to 160 bytes each here); ``None`` sizes
        it from a quarter of the available memory.  Larger frames are
        resolved in bands of whole image rows (``stats.tiles``); one row is
        the smallest band, so a single row holding more fragments than the
        budget is still resolved at once (``stats.notes["rows_over_budget"]``).
    early_stop_transmittance : float
        0 (default) composites every fragment; above 0 a pixel stops once its
        transmittance falls below it and ``stats.early_stop_error`` reports
        the largest transmittance left (an upper bound on the error).

    Notes
    -----
    Shares only the triangle setup (:mod:`lamina.plugins.oit.raster`: the
    coverage, depth and ordering rules) with the Taichi renderers.

    Examples
    --------
    >>> import numpy as np
    >>> from lamina.scene import Camera, Scene
    >>> quad = Scene(
    ...     vertices=np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], float),
    ...     faces=np.array([[0, 1, 2], [0, 2, 3]]),
    ...     face_colors=(1.0, 0.0, 0.0, 0.5),
    ...     background=(1.0, 1.0, 1.0, 1.0),
    ... )
    >>> camera = Camera.look_at((0, 0, 3), (0, 0, 0), projection="orthographic", ortho_height=4)
    >>> out = Reference().render(quad, camera, (24, 32))
    >>> out.image[12, 16].tolist(), out.image[0, 0].tolist()
    ([1.0, 0.5, 0.5, 1.0], [1.0, 1.0, 1.0, 1.0])
    """

    #: pixel, key and float64 RGBA per fragment, their concatenation and sort
    bytes_per_fragment = 160
    #: float64 image, counts, layers, residual and transmittance; float32 outputs
    bytes_per_pixel = 112

    def _render(self, tris: raster.RasterTriangles) -> tuple[np.ndarray, np.ndarray, RenderStats]:
        height, width = tris.size
        budget = self.budget()
        spans = tris.bbox[:, 1::2] - tris.bbox[:, 0::2] + 1
        row_total = None
        if int(np.prod(spans, axis=1).sum()) <= budget:
            bands = [(0, height)]  # even every candidate pixel fits: one band
        else:
            # A counting pass first, to cut the image into bands that fit.
            count = np.zeros(height * width, dtype=np.int64)
            for index, i, j in _candidates(tris, (0, height)):
                covered = tris.covers(index, tris.edge_values(index, i, j))
                count += np.bincount((j * width + i)[covered], minlength=height * width)
            row_total = count.reshape(height, width).sum(axis=1)
            bands = _bands(row_total, budget)
        image = np.empty((height * width, 4))
        complexity = np.empty(height * width, dtype=np.int64)
        layers = np.empty(height * width, dtype=np.int64)
        residual = np.empty(height * width)
        largest = 0
        for r0, r1 in bands:
            pixel, keys, colors = fragments(tris, (r0, r1))
            largest = max(largest, len(keys))
            band = slice(r0 * width, r1 * width)
            image[band], complexity[band], layers[band], residual[band] = composite(
                pixel - r0 * width,
                keys,
                colors,
                (r1 - r0) * width,
                tris.background,
                self.early_stop_transmittance,
            )
        stats = RenderStats(
            geometry_passes=len(bands) + (row_total is not None),
            layers=int(layers.max(initial=0)),
            peak_memory_bytes=largest * self.bytes_per_fragment + 4 * image.nbytes,
            bound_hit=len(bands) > 1,
            tiles=len(bands),
            early_stop_error=self._early_stop_error(residual),
        )
        stats.notes.update(
            budget=budget,
            rows_over_budget=0 if row_total is None else int((row_total > budget).sum()),
        )
        return (
            image.reshape(height, width, 4).astype(np.float32),
            complexity.reshape(height, width).astype(np.int32),
            stats,
        )


def _bands(row_total: np.ndarray, budget: int) -> list[tuple[int, int]]:
    """Consecutive row ranges whose fragments fit ``budget`` (at least one row each)."""
    bands = []
    r0, running = 0, 0
    for r, n in enumerate(row_total.tolist()):
        if running + n > budget and r > r0:
            bands.append((r0, r))
            r0, running = r, 0
        running += n
    bands.append((r0, len(row_total)))
    return bands
