"""Separable resampling with precomputed block-banded weight matrices.

An axis resize is a sparse matrix: output pixel ``j`` is a weighted sum of a
few consecutive input pixels. Output pixels are grouped in blocks; each block
reads one contiguous window of input pixels, so its part of the matrix is a
small dense array and applying it is one BLAS matrix product on a strided view
of the image -- no transposes and no Python loop over pixels. Windows that
reach past the image edge are gathered through the edge mode first.

The plans are cached per (filter, sizes, edge mode, axis), so resizing many
images of one size (or the steps of a stairstep schedule, twice) pays for the
weights once.

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
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np

from lamina.plugins.interpolate.filters import Filter

__all__ = [
    "EDGE_MODES",
    "AxisPlan",
    "EdgeMode",
    "axis_plan",
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
    first = first + pad
    n_source = n_in + 2 * pad
    width = weights.shape[1]
    expand = channels if axis == 1 else 1
    block_size = _block_size(n_in, n_out, expand)
    starts = np.arange(0, n_out, block_size)
    stops = np.minimum(starts + block_size, n_out)
    lows = first[starts]
    highs = first[stops - 1] + width
    # One padded dense array for all blocks, filled in a single scatter.
    rows = np.arange(n_out)
    dense = np.zeros((len(starts), block_size, int((highs - lows).max())))
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
    height, width, channels = image.shape
    if channels > _MAX_INTERLEAVED_CHANNELS:
        planes = [
            resample(
                np.ascontiguousarray(image[:, :, c : c + 1]),
                shape,
                filter,
                antialias=antialias,
                edge=edge,
                cval=cval,
                pad=pad,
            )
            for c in range(channels)
        ]
        return np.concatenate(planes, axis=2)
    n_rows, n_columns = height - 2 * pad[0], width - 2 * pad[1]
    rows = columns = None
    if shape[0] != n_rows or pad[0]:
        rows = axis_plan(
            filter, n_rows, shape[0], antialias=antialias, edge=edge, axis=0, pad=pad[0]
        )
    if shape[1] != n_columns or pad[1]:
        columns = axis_plan(
            filter,
            n_columns,
            shape[1],
            antialias=antialias,
            edge=edge,
            axis=1,
            channels=channels,
            pad=pad[1],
        )
    data = image.reshape(height, width * channels)
    if rows is not None and columns is not None:
        rows_first = rows.flops * width * channels + columns.flops * shape[0]
        columns_first = columns.flops * height + rows.flops * shape[1] * channels
        order = (rows, columns) if rows_first <= columns_first else (columns, rows)
    else:
        order = tuple(p for p in (rows, columns) if p is not None)
    # Our own threads split the blocks; BLAS threads on top of them would
    # oversubscribe the CPUs, and BLAS's spin-waiting threads degrade badly on
    # a busy machine (scikit-learn's KMeans limits BLAS the same way).
    with _single_threaded_blas():
        for plan in order:
            data = plan.apply(data, cval)
    if not order:
        data = data.copy()
    return data.reshape(shape[0], shape[1], channels)


def working_bytes(in_shape: tuple[int, ...], shape: tuple[int, int], channels: int) -> int:
    """An upper bound of the float32 bytes one :func:`resample` call allocates:
    the output plus the larger of the two possible intermediates."""
    height, width = in_shape[:2]
    out = shape[0] * shape[1]
    intermediate = max(shape[0] * width, height * shape[1])
    return 4 * channels * (out + intermediate)
