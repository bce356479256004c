"""How much a registration pair can say, and in which directions: the verdicts behind
``feasible`` and the ``warnings`` of a :class:`~lamina.ShiftEstimate`.

Only two things make a shift unmeasurable: images without any variation, and
texture that is one-directional beyond the noise (the aperture problem, which
has a direction to name). Everything else gets an estimate; what limits it (low
SNR, a small overlap, a periodic scene, aliasing, a fit that did not settle) is
named in a warning and is reflected in the reported uncertainty.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lamina.errors import InputError
from lamina.plugins.subpixel.windows import sum_product

__all__ = ["Texture", "texture_significance"]

#: Standard errors a direction's gradient energy must reach to count as texture.
SIGNIFICANT_Z = 5.0

#: The weak direction of one-directional texture: below this many standard errors ...
_APERTURE_WEAK_Z = 2.0
#: ... and below this fraction of the strong direction's energy.
_APERTURE_RATIO = 0.05


@dataclass(frozen=True)
class Texture:
    """Gradient energy of the content along its two principal directions.

    ``energy[i]`` is ``u_i^T G u_i`` for the eigenvectors ``u_i`` (columns of
    ``directions``) of the structure tensor ``G = sum w**2 grad g grad g^T`` with
    its noise power subtracted, smallest first; ``error[i]`` is what noise alone
    makes it vary by.
    """

    energy: np.ndarray
    error: np.ndarray
    directions: np.ndarray

    @property
    def z(self) -> np.ndarray:
        """Significance of each direction, in standard errors."""
        z = np.full(self.energy.shape, np.inf)
        np.divide(self.energy, self.error, out=z, where=self.error > 0)
        return np.where((self.error > 0) | (self.energy > 0), z, 0.0)

    @property
    def weak_angle(self) -> float:
        """Angle of the weakest direction, degrees from the x axis in [0, 180)."""
        vy, vx = self.directions[:, 0]
        return float(np.degrees(np.arctan2(vy, vx))) % 180.0

    def require_two_directions(self) -> None:
        """Refuse texture that is one-directional beyond the noise (aperture problem):
        strong along one direction, insignificant and far weaker along the other."""
        weak, strong = self.energy
        weak_z, strong_z = self.z
        # Sure beyond the noise: even the weak direction's upper bound is small.
        bound = weak + 3.0 * self.error[0]
        if (
            strong_z >= SIGNIFICANT_Z
            and weak_z < _APERTURE_WEAK_Z
            and bound <= 2 * _APERTURE_RATIO * strong
        ):
            raise InputError(
                "not feasible: the images have texture in one direction only (aperture "
                f"problem); motion along {self.weak_angle:.0f} degrees from the x axis cannot "
                "be measured"
            )

    def warnings(self) -> list[str]:
        """``low SNR`` warnings for directions whose texture does not stand out of the noise."""
        weak_z, strong_z = self.z
        if strong_z < SIGNIFICANT_Z:
            return [
                f"low SNR: the texture stands only {max(strong_z, 0.0):.1f} standard errors above "
                "the noise; the estimate may be far off and its uncertainty is large"
            ]
        if weak_z < SIGNIFICANT_Z:
            return [
                f"low SNR: along {self.weak_angle:.0f} degrees from the x axis the texture stands "
                f"only {max(weak_z, 0.0):.1f} standard errors above the noise"
            ]
        return []


def texture_significance(
    reference: np.ndarray,
    moving: np.ndarray,
    windows: tuple[np.ndarray, np.ndarray],
    sigma: float,
) -> Texture:
    """Structure tensor of a windowed pair's content and its noise.

    The spectrum of a windowed image also holds the window's own edges, which
    move with the shift estimate and would pass for information; so the test uses
    the content's gradients (central differences, noise variance sigma**2 / 2 per
    axis) weighted by the squared windows: ``G = sum w**2 grad g grad g^T``, less
    its noise. Along a unit direction ``u``, ``u^T G u`` varies by
    ``4 (u.grad g)**2 n + 2 n**2`` per pixel with noise power ``n``.
    """
    moments = np.zeros((2, 2))
    squared = np.zeros(2)
    noise = 0.5 * sigma**2
    for image, window in zip((reference, moving), windows, strict=True):
        # central differences on the interior (the windows vanish at the border)
        gy = (image[2:, 1:-1] - image[:-2, 1:-1]) / 2
        gx = (image[1:-1, 2:] - image[1:-1, :-2]) / 2
        weight = window[1:-1, 1:-1] ** 2
        yy = sum_product(weight, gy * gy)
        yx = sum_product(weight, gy * gx)
        xx = sum_product(weight, gx * gx)
        moments += np.array([[yy, yx], [yx, xx]])
        squared += [np.sum(weight, dtype=np.float64), sum_product(weight, weight)]
    moments = moments / 2.0 - noise * squared[0] / 2.0 * np.eye(2)
    eigenvalues, vectors = np.linalg.eigh(moments)
    errors = np.sqrt(
        np.maximum(
            4.0 * noise * np.maximum(eigenvalues, 0.0) * squared[1] / squared[0]
            + 2.0 * noise**2 * squared[1],
            0.0,
        )
    )
    return Texture(eigenvalues, errors, vectors)
