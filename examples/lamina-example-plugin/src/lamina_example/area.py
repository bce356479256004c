"""Area-averaging resampling with exact pixel-overlap weights."""

from __future__ import annotations

import numpy as np

from lamina import InputError


def _overlap_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) matrix: the share of output pixel i's footprint covered by input j."""
    edges_out = np.linspace(0.0, n_in, n_out + 1)
    lo = np.maximum(edges_out[:-1, None], np.arange(n_in)[None, :])
    hi = np.minimum(edges_out[1:, None], np.arange(1, n_in + 1)[None, :])
    overlap = np.clip(hi - lo, 0.0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


class AreaInterpolator:
    """Resample by averaging over each output pixel's footprint in the input.

    Parameters
    ----------
    dtype : str, default "float32"
        Precision of the weight matrices ("float32" or "float64"); the output is float32.

    Examples
    --------
    >>> import numpy as np
    >>> AreaInterpolator().resize(np.arange(4, dtype=np.float32).reshape(2, 2), (1, 1))
    array([[1.5]], dtype=float32)
    """

    def __init__(self, *, dtype: str = "float32") -> None:
        if dtype not in ("float32", "float64"):
            raise InputError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
        self.dtype = dtype

    def resize(self, image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        array = np.asarray(image)
        if array.ndim not in (2, 3) or array.shape[0] == 0 or array.shape[1] == 0:
            raise InputError(
                f"image must be a non-empty (H, W) or (H, W, C) array, got {array.shape}"
            )
        if not np.all(np.isfinite(array)):
            raise InputError("image contains NaN or infinite values")
        height, width = (int(v) for v in shape)
        if height < 1 or width < 1:
            raise InputError(f"shape must be two positive sizes, got {tuple(shape)}")
        rows = _overlap_weights(array.shape[0], height).astype(self.dtype)
        cols = _overlap_weights(array.shape[1], width).astype(self.dtype)
        data = array.astype(self.dtype)
        out = np.einsum("ij,jk...,lk->il...", rows, data, cols)
        return np.clip(out, array.min(), array.max()).astype(np.float32)
