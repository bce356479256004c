"""Noise level from one image or from a stack of a stationary scene."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lamina.plugins.subpixel.checks import as_image, as_stack

__all__ = ["MAD_TO_SIGMA", "StackNoise", "haar_diagonal", "noise_from_image", "noise_from_stack"]

#: Median of |N(0, 1)|: turns a median absolute value into a standard deviation.
MAD_TO_SIGMA = 0.6744897501960817


def noise_from_image(image: np.ndarray) -> float:
    """Standard deviation of white noise in one image, robust to the image content.

    The finest diagonal Haar wavelet coefficients ``(a - b - c + d) / 2`` of the
    2x2 blocks hold noise of the same variance as the pixels and almost nothing of
    smooth content; their median absolute value over 0.6745 is the noise sigma
    (Donoho & Johnstone 1994, as in :func:`skimage.restoration.estimate_sigma`,
    here without the PyWavelets dependency). Textured images bias it upward.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> image = 0.5 + rng.normal(0, 0.02, (256, 256))
    >>> round(noise_from_image(image), 3)
    0.02
    """
    data = as_image(image, "image", min_size=2)
    return float(np.median(np.abs(haar_diagonal(data))) / MAD_TO_SIGMA)


def haar_diagonal(image: np.ndarray) -> np.ndarray:
    """The finest diagonal Haar wavelet coefficients ``(a - b - c + d) / 2`` of the
    2x2 blocks of a 2-D array (an odd last row or column left out): white noise of
    variance sigma**2 per pixel gives them variance sigma**2, smooth content
    almost nothing."""
    height, width = (image.shape[0] // 2) * 2, (image.shape[1] // 2) * 2
    blocks = image[:height, :width]
    return (blocks[0::2, 0::2] - blocks[0::2, 1::2] - blocks[1::2, 0::2] + blocks[1::2, 1::2]) / 2


@dataclass
class StackNoise:
    """Noise measured on a stack of frames of a stationary scene."""

    #: Root mean over pixels of the per-pixel temporal variance (ddof=1).
    temporal: float
    #: ``std(frame[t+1] - frame[t]) / sqrt(2)`` pooled: insensitive to slow drifts
    #: of brightness or position that inflate the temporal standard deviation.
    difference: float
    #: Per-pixel temporal standard deviation, shape (H, W).
    std_map: np.ndarray
    #: Noise against brightness: bin centres of the temporal mean and the median
    #: temporal std in each (shot noise makes it grow with brightness).
    level_function: dict[str, list[float]] = field(default_factory=dict)
    frames: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "temporal": self.temporal,
            "difference": self.difference,
            "frames": self.frames,
            "level_function": self.level_function,
        }


def noise_from_stack(frames: Any, *, bins: int = 8) -> StackNoise:
    """Noise of a stationary scene from its temporal fluctuations.

    Parameters
    ----------
    frames : sequence of 2-D arrays or (N, H, W) array
        At least two frames of the same scene, same exposure.
    bins : int
        Brightness bins of the noise level function.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> scene = np.linspace(0.2, 0.8, 64 * 64).reshape(64, 64)
    >>> stack = [scene + rng.normal(0, 0.01, scene.shape) for _ in range(20)]
    >>> round(noise_from_stack(stack).temporal, 3)
    0.01
    """
    stack = np.stack(as_stack(frames, min_frames=2, min_size=2))
    std_map = stack.std(axis=0, ddof=1)
    differences = np.diff(stack, axis=0)
    difference = float(np.sqrt(np.mean(differences**2) / 2.0))
    mean_map = stack.mean(axis=0)
    edges = np.quantile(mean_map, np.linspace(0, 1, bins + 1))
    centres, levels = [], []
    for low, high in itertools.pairwise(edges):
        selected = (mean_map >= low) & (mean_map <= high)
        if np.any(selected):
            centres.append(float(np.mean(mean_map[selected])))
            levels.append(float(np.median(std_map[selected])))
    # The mean of the per-pixel variances is the unbiased pooled estimate (a
    # median of standard deviations would sit below it).
    temporal = float(np.sqrt(np.mean(std_map**2)))
    return StackNoise(
        temporal=temporal,
        difference=difference,
        std_map=std_map,
        level_function={"brightness": centres, "sigma": levels},
        frames=len(stack),
    )
