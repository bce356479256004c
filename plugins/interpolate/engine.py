"""Separable resampling with precomputed block-banded weight matrices.

An axis resize is a sparse matrix: output pixel ``j`` is a weighted sum of a
few consecutive input pixels. Output pixels are grouped in blocks; each block
reads one contiguous window of input pixels, so its part of the matrix is a
small dense array and applying it is one BLAS matrix product on a strided view
of the image -- no transposes and no Python loop over pixels. Windows that
reach past the image edge are gathered through the edge mode first.

The plans are cached per (filter, sizes, edge mode, axis), so resizing many
images of one size pays for the weights once. The same resample is also
available as a sparse matrix (:func:`axis_matrix`, :class:`AxisOperator`),
and :func:`banded_plan` turns any banded sparse matrix -- such as stairstep's
product of all its steps' matrices -- into blocks applied the same way.

Images travel as C-contiguous float32 ``(H, W, C)`` arrays viewed as
``(H, W * C)``: the row pass multiplies whole rows, the column pass uses the
block weights expanded with an identity over the channels (``kron(D, I_C)``),
so colour needs no reshuffling either.

Large passes split their blocks over a few worker threads (BLAS releases the
GIL), with BLAS itself limited to one thread meanwhile: nested BLAS threads
oversubscribe the CPUs, and their spin-waiting made a stairstep resize up to
ten times slower on a busy machine.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np

from lamina.plugins.interpolate.filters import Filter, KernelFilter

__all__ = [
    "EDGE_MODES",
    "AxisOperator",
    "AxisPlan",
    "EdgeMode",
    "apply_separable",
    "axis_matrix",
    "axis_plan",
    "band_indices",
    "banded_plan",
    "edge_indices",
    "resample",
    "working_bytes",
]

EdgeMode = Literal["reflect", "mirror", "clamp", "wrap", "constant"]
EDGE_MODES: tuple[str, ...] = ("reflect", "mirror", "clamp", "wrap", "constant")


def _block_size(n_in: int, n_out: int, channels: int) -> int:
    """Output pixels per block.

    A block's dense weights span ``block * n_in / n_out + taps`` input pixels,
    of which only ``taps`` per output pixel are non-zero: small blocks waste
    fewer multiply-adds, large ones make fewer calls. About 8 output pixels
    per unit of enlargement (8 to 32) measured best on 512 -> 2048 and
    1862 <-> 2048 resizes; column blocks are expanded by the channel count,
    so they hold fewer pixels.
    """
    return max(4, int(np.clip(round(8 * n_out / n_in), 8, 32)) // channels)


#: Below this many multiply-adds a pass runs on the calling thread alone.
_PARALLEL_MIN_FLOPS = 4_000_000

#: Above this many channels the Kronecker expansion wastes more than it saves,
#: so channels are resampled one plane at a time.
_MAX_INTERLEAVED_CHANNELS = 4


def edge_indices(index: np.ndarray, n: int, edge: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Map possibly out-of-range pixel indices into ``[0, n)`` by the edge mode.

    ==========  ==========================  =============================
    edge        extension of ``a b c d``    numpy.pad / scipy.ndimage
    ==========  ==========================  =============================
    reflect     ``b a | a b c d | d c``     symmetric / reflect
    mirror      ``c b | a b c d | c b``     reflect / mirror
    clamp       ``a a | a b c d | d d``     edge / nearest
    wrap        ``c d | a b c d | a b``     wrap / grid-wrap
    constant    ``k k | a b c d | k k``     constant / grid-constant
    ==========  ==========================  =============================

    Returns the mapped indices and, for ``constant``, a mask of the indices
    that fell outside (their value is the constant, not a pixel).
    """
    index = np.asarray(index, dtype=np.int64)
    if edge == "reflect":
        folded = np.mod(index, 2 * n)
        return np.where(folded < n, folded, 2 * n - 1 - folded), None
    if edge == "mirror":
        if n == 1:
            return np.zeros_like(index), None
        folded = np.mod(index, 2 * n - 2)
        return np.where(folded < n, folded, 2 * n - 2 - folded), None
    if edge == "clamp":
        return np.clip(index, 0, n - 1), None
    if edge == "wrap":
        return np.mod(index, n), None
    if edge == "constant":
        outside = (index < 0) | (index >= n)
        return np.clip(index, 0, n - 1), (outside if outside.any() else None)
    raise ValueError(f"unknown edge mode {edge!r}")


@dataclass(frozen=True)
class _Block:
    start: int  # first output element
    stop: int
    lo: int  # input element window [lo, hi); lo < 0 or hi > n * channels needs gathering
    hi: int
    weights: np.ndarray  # float32; (out, window) for rows, (window, out) for columns
    gather: np.ndarray | None  # element indices of the window when it crosses the edge
    outside: np.ndarray | None  # window elements that take the constant value


@dataclass(frozen=True)
class AxisPlan:
    """The precomputed weights that resize one axis of an image.

    ``flops`` is the multiply-adds per image line, used to pick the cheaper
    order of the two passes.
    """

    n_in: int
    n_out: int
    axis: int
    channels: int
    blocks: tuple[_Block, ...]
    flops: int

    def apply(self, image: np.ndarray, cval: float) -> np.ndarray:
        """Resample ``image`` (H, W * channels), C-contiguous float32, along the plan's axis.

        Blocks write disjoint slices of the output, so groups of them run on
        the worker threads (BLAS releases the GIL) when the work is large.
        """
        if self.axis == 0:
            out = np.empty((self.n_out, image.shape[1]), dtype=np.float32)
            lines = image.shape[1]
        else:
            out = np.empty((image.shape[0], self.n_out * self.channels), dtype=np.float32)
            lines = image.shape[0]

        def run(blocks: tuple[_Block, ...]) -> None:
            for block in blocks:
                window = _window(image, block, cval, axis=self.axis)
                if self.axis == 0:
                    np.matmul(block.weights, window, out=out[block.start : block.stop])
                else:
                    np.matmul(window, block.weights, out=out[:, block.start : block.stop])

        workers = min(_worker_count(), len(self.blocks))
        if workers < 2 or self.flops * lines < _PARALLEL_MIN_FLOPS:
            run(self.blocks)
        else:
            bounds = np.linspace(0, len(self.blocks), workers + 1).round().astype(int)
            groups = [self.blocks[a:b] for a, b in itertools.pairwise(bounds)]
            list(_thread_pool().map(run, groups))
        return out


def _worker_count() -> int:
    """CPUs this process may run on (at most 8: the passes are memory bound)."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        available = os.cpu_count() or 1
    return max(1, min(available, 8))


_pool: tuple[int, ThreadPoolExecutor] | None = None
_pool_lock = threading.Lock()


def _thread_pool() -> ThreadPoolExecutor:
    """The shared worker threads, recreated after a fork (threads do not survive one)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (
                os.getpid(),
                ThreadPoolExecutor(_worker_count(), thread_name_prefix="lamina-resample"),
            )
        return _pool[1]


@lru_cache(maxsize=1)
def _blas_controller() -> Any:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # a dependency of lamina; without it BLAS keeps its own threads
        return None
    return ThreadpoolController()


def _single_threaded_blas() -> contextlib.AbstractContextManager[Any]:
    controller = _blas_controller()
    if controller is None:
        return contextlib.nullcontext()
    return controller.limit(limits=1, user_api="blas")


def _window(image: np.ndarray, block: _Block, cval: float, *, axis: int) -> np.ndarray:
    if block.gather is None:
        return image[block.lo : block.hi] if axis == 0 else image[:, block.lo : block.hi]
    window = image.take(block.gather, axis=axis)
    if block.outside is not None:
        if axis == 0:
            window[block.outside] = cval
        else:
            window[:, block.outside] = cval
    return window


@lru_cache(maxsize=128)
def axis_plan(
    filter: Filter,
    n_in: int,
    n_out: int,
    *,
    antialias: bool,
    edge: str,
    axis: int,
    channels: int = 1,
    pad: int = 0,
) -> AxisPlan:
    """The cached plan that resizes ``axis`` (0: rows, 1: columns of ``channels``
    interleaved values) from ``n_in`` to ``n_out`` pixels with ``filter``.

    ``pad`` says the source already carries that many extra pixels on each
    side of the ``n_in`` that define the geometry (used for prefiltered data).
    """
    first, weights = filter.taps(n_in, n_out, antialias=antialias)
    expand = channels if axis == 1 else 1
    return _plan(
        first + pad,
        weights,
        n_in,
        pad,
        edge=edge,
        axis=axis,
        expand=expand,
        block_size=_block_size(n_in, n_out, expand),
    )


def band_indices(matrix: Any, *, wrap: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The row and the column of every stored entry of a CSR ``matrix``
    (``n_out``, ``n_in``) that resamples an axis.

    With ``wrap`` (a periodic matrix, whose rows near the border reach both
    ends) each column is moved by whole periods to within half a period of
    the row's sampling position, so every row's entries form one band.
    """
    n_out, n_in = matrix.shape
    rows = np.repeat(np.arange(n_out), np.diff(matrix.indptr))
    index = matrix.indices.astype(np.int64)
    if wrap:
        centres = (2.0 * np.arange(n_out) + 1.0) * (n_in / (2.0 * n_out)) - 0.5
        index += n_in * np.round((centres[rows] - index) / n_in).astype(np.int64)
    return rows, index


def banded_plan(matrix: Any, *, axis: int, channels: int = 1, wrap: bool = False) -> AxisPlan:
    """The plan that applies a sparse ``(n_out, n_in)`` matrix along ``axis``.

    Each row's non-zeros must form a band (as in a product of resampling
    matrices): a row is applied as the dense run from its first to its last
    non-zero, so zeros inside the band cost multiply-adds. The matrix already
    encodes the edge mode, so windows stay inside the image, except with
    ``wrap`` (see :func:`band_indices`), whose windows crossing the border
    wrap around. Not cached: the caller owns the matrix and caches the plan.
    """
    matrix = matrix.tocsr()
    n_out, n_in = matrix.shape
    rows, index = band_indices(matrix, wrap=wrap)
    # Per-row extremes; a row without weights reads one pixel with weight 0.
    first = np.full(n_out, np.iinfo(np.int64).max)
    stop = np.full(n_out, np.iinfo(np.int64).min)
    np.minimum.at(first, rows, index)
    np.maximum.at(stop, rows, index + 1)
    empty = np.diff(matrix.indptr) == 0
    first[empty] = np.minimum(np.arange(n_out) * n_in // n_out, n_in - 1)[empty]
    stop[empty] = first[empty] + 1
    width = int((stop - first).max())
    if not wrap:
        # Rows near the far edge start early enough for their window to fit.
        first = np.minimum(first, n_in - width)
        stop = np.maximum(stop, first + 1)
    weights = np.zeros((n_out, width))
    weights[rows, index - first[rows]] = matrix.data
    expand = channels if axis == 1 else 1
    return _plan(
        first,
        weights,
        n_in,
        0,
        edge="wrap" if wrap else "clamp",
        axis=axis,
        expand=expand,
        block_size=_block_size(n_in, n_out, expand),
        stop=stop,
    )


def _plan(
    first: np.ndarray,
    weights: np.ndarray,
    n_in: int,
    pad: int,
    *,
    edge: str,
    axis: int,
    expand: int,
    block_size: int,
    stop: np.ndarray | None = None,
) -> AxisPlan:
    """Group the taps (``first`` index and ``weights`` row of each output
    pixel) into blocks of dense weights over contiguous windows of the
    ``n_in + 2 * pad`` source pixels.

    ``stop`` ends each row's non-zero weights where it is shorter than
    ``weights`` (default: all of it), so that a few wide rows do not widen
    every block's window.
    """
    n_source = n_in + 2 * pad
    n_out, width = weights.shape
    if stop is None:
        stop = first + width
    starts = np.arange(0, n_out, block_size)
    stops = np.minimum(starts + block_size, n_out)
    # Rows of a composite need not start in order, so take each block's extremes.
    lows = np.minimum.reduceat(first, starts)
    highs = np.maximum.reduceat(stop, starts)
    # One padded dense array for all blocks, filled in a single scatter.
    rows = np.arange(n_out)
    span = int((np.maximum.reduceat(first, starts) - lows).max()) + width
    dense = np.zeros((len(starts), block_size, span))
    columns = first[:, None] - lows[rows // block_size, None] + np.arange(width)
    dense[(rows // block_size)[:, None], (rows % block_size)[:, None], columns] = weights
    eye = np.eye(expand, dtype=np.float32)
    blocks = []
    flops = 0
    for k, (start, stop, lo, hi) in enumerate(zip(starts, stops, lows, highs, strict=True)):
        matrix = dense[k, : stop - start, : hi - lo].astype(np.float32)
        if expand > 1:
            matrix = np.kron(matrix, eye)
        if axis == 1:
            matrix = np.ascontiguousarray(matrix.T)
        matrix.flags.writeable = False  # shared by every caller of the cached plan
        gather = outside = None
        if lo < 0 or hi > n_source:
            pixels, outside = edge_indices(np.arange(lo, hi), n_source, edge)
            gather = (pixels[:, None] * expand + np.arange(expand)).ravel()
            if outside is not None:
                outside = np.repeat(outside, expand)
        flops += matrix.size
        blocks.append(
            _Block(
                int(start) * expand,
                int(stop) * expand,
                int(lo) * expand,
                int(hi) * expand,
                matrix,
                gather,
                outside,
            )
        )
    return AxisPlan(n_in, n_out, axis, expand, tuple(blocks), flops)


def axis_matrix(
    filter: Filter, n_in: int, n_out: int, *, antialias: bool, edge: str, pad: int = 0
) -> Any:
    """The sparse ``(n_out, n_in + 2 * pad)`` matrix of the resample that
    :func:`axis_plan` performs, with the edge mode folded in: taps past the
    border are added to the pixels the edge mode maps them to.

    For ``edge="constant"`` the taps that read the constant are left out, so
    the matrix ``M`` is the linear part of an affine map: since every row of
    taps sums to one, resampling ``x`` gives ``cval + M @ (x - cval)``.
    Returns a ``scipy.sparse.csr_array`` of float64; the identity when the
    length does not change and there is no padding (the engine leaves such
    an axis untouched).
    """
    from scipy import sparse

    n_source = n_in + 2 * pad
    if n_in == n_out and not pad:
        return sparse.csr_array(sparse.identity(n_in))
    first, weights = filter.taps(n_in, n_out, antialias=antialias)
    pixels, outside = edge_indices(
        first[:, None] + pad + np.arange(weights.shape[1]), n_source, edge
    )
    if outside is not None:
        weights = np.where(outside, 0.0, weights)
    rows = np.repeat(np.arange(n_out), weights.shape[1])
    # Duplicate (row, pixel) pairs -- taps folded back by the edge -- are summed.
    matrix = sparse.csr_array((weights.ravel(), (rows, pixels.ravel())), shape=(n_out, n_source))
    matrix.eliminate_zeros()
    return matrix


@dataclass(frozen=True)
class AxisOperator:
    """The linear map one axis of a separable resize applies, as a value.

    ``filter`` resamples the axis with ``antialias`` and the ``edge`` mode;
    with a ``prefilter`` (the B-spline's), the axis is first prefiltered onto
    a grid extended by :meth:`margin` pixels on each side through the edge
    mode, then resampled from that grid. Hashable, so that the matrices of
    many resizes can be cached under it.
    """

    filter: Filter
    antialias: bool
    edge: str
    prefilter: Filter | None = None

    def margin(self, n_in: int, n_out: int) -> int:
        """Extra prefiltered pixels needed past each border: the filter's reach."""
        if self.prefilter is None or n_in == n_out:
            return 0
        if not isinstance(self.filter, KernelFilter):
            raise TypeError(
                f"a prefiltered axis needs a kernel filter of finite radius to pad by, "
                f"not {type(self.filter).__name__}"
            )
        stretch = n_in / n_out if self.antialias and n_out < n_in else 1.0
        return math.ceil(self.filter.radius * stretch) + 1

    def matrix(self, n_in: int, n_out: int) -> Any:
        """The ``(n_out, n_in)`` ``scipy.sparse.csr_array`` of the map (see
        :func:`axis_matrix`; for ``edge="constant"`` the linear part)."""
        if self.prefilter is None or n_in == n_out:
            return axis_matrix(self.filter, n_in, n_out, antialias=self.antialias, edge=self.edge)
        margin = self.margin(n_in, n_out)
        coefficients = axis_matrix(
            self.prefilter, n_in, n_in + 2 * margin, antialias=False, edge=self.edge
        )
        # The extended grid covers the filter's reach, so the edge mode of
        # this second resample never matters; clamp is what the engine uses.
        kernel = axis_matrix(
            self.filter, n_in, n_out, antialias=self.antialias, edge="clamp", pad=margin
        )
        return (kernel @ coefficients).tocsr()


def resample(
    image: np.ndarray,
    shape: tuple[int, int],
    filter: Filter,
    *,
    antialias: bool,
    edge: str,
    cval: float = 0.0,
    pad: tuple[int, int] = (0, 0),
) -> np.ndarray:
    """Resize ``image`` (H, W, C), C-contiguous float32, to ``shape`` with ``filter``.

    ``pad`` gives the extra pixels ``image`` carries on each side of each axis
    (see :func:`axis_plan`). Axes whose length does not change, and carry no
    padding, are left untouched. The two passes run in the order with fewer
    multiply-adds.
    """
    sizes = (image.shape[0] - 2 * pad[0], image.shape[1] - 2 * pad[1])

    def plan(axis: int, channels: int) -> AxisPlan | None:
        if shape[axis] == sizes[axis] and not pad[axis]:
            return None
        return axis_plan(
            filter,
            sizes[axis],
            shape[axis],
            antialias=antialias,
            edge=edge,
            axis=axis,
            channels=channels,
            pad=pad[axis],
        )

    return apply_separable(image, shape, plan, cval=cval)


def apply_separable(
    image: np.ndarray,
    shape: tuple[int, int],
    plan: Callable[[int, int], AxisPlan | None],
    *,
    cval: float = 0.0,
    max_intermediate: int | None = None,
) -> np.ndarray:
    """Resize ``image`` (H, W, C), C-contiguous float32, to ``shape`` with the
    plans ``plan(axis, channels)`` gives (None leaves that axis as it is).

    The two passes run in the order with fewer multiply-adds, unless its
    intermediate image would hold more than ``max_intermediate`` pixels: then
    in the other order, whose intermediate is the smaller.
    """
    height, width, channels = image.shape
    if channels > _MAX_INTERLEAVED_CHANNELS:
        planes = [
            apply_separable(
                np.ascontiguousarray(image[:, :, c : c + 1]),
                shape,
                plan,
                cval=cval,
                max_intermediate=max_intermediate,
            )
            for c in range(channels)
        ]
        return np.concatenate(planes, axis=2)
    rows, columns = plan(0, 1), plan(1, channels)
    data = image.reshape(height, width * channels)
    passes: tuple[AxisPlan, ...]
    if rows is not None and columns is not None:
        rows_first = rows.flops * width * channels + columns.flops * shape[0]
        columns_first = columns.flops * height + rows.flops * shape[1] * channels
        intermediate = shape[0] * width if rows_first <= columns_first else height * shape[1]
        if max_intermediate is not None and intermediate > max_intermediate:
            rows_first, columns_first = shape[0] * width, height * shape[1]
        passes = (rows, columns) if rows_first <= columns_first else (columns, rows)
    else:
        passes = tuple(p for p in (rows, columns) if p is not None)
    # Our own threads split the blocks; BLAS threads on top of them would
    # oversubscribe the CPUs, and BLAS's spin-waiting threads degrade badly on
    # a busy machine (scikit-learn's KMeans limits BLAS the same way).
    with _single_threaded_blas():
        for step in passes:
            data = step.apply(data, cval)
    if not passes:
        data = data.copy()
    return data.reshape(shape[0], shape[1], channels)


def working_bytes(in_shape: tuple[int, ...], shape: tuple[int, int], channels: int) -> int:
    """An upper bound of the float32 bytes one :func:`resample` call allocates:
    the output plus the larger of the two possible intermediates."""
    height, width = in_shape[:2]
    out = shape[0] * shape[1]
    intermediate = max(shape[0] * width, height * shape[1])
    return 4 * channels * (out + intermediate)
