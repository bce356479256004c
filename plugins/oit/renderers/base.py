"""What every OIT renderer shares, :class:`~lamina.plugins.oit.reference.Reference`
included: parameter checks, the memory check before a frame allocates, and the
``render`` frame around the triangle setup of :mod:`lamina.plugins.oit.raster`."""

from __future__ import annotations

import time

import numpy as np

from lamina.errors import InputError
from lamina.limits import MAX_FRAGMENTS
from lamina.memory import check_allocation
from lamina.params import Parameterized
from lamina.plugins.oit import raster
from lamina.scene import Camera, Scene
from lamina.types import Rendering, RenderStats

__all__ = ["MIN_BUDGET", "TILE_PIXELS", "OITRenderer", "default_max_fragments"]

#: Pixels of one screen tile (the kernels' unit of work).
TILE_PIXELS = raster.TILE * raster.TILE
#: Smallest budget: one screen tile must fit one fragment per pixel.
MIN_BUDGET = TILE_PIXELS


def default_max_fragments(bytes_per_fragment: int) -> int:
    """A quarter of the memory available now, in fragments of ``bytes_per_fragment``."""
    import psutil

    available = psutil.virtual_memory().available
    return int(min(MAX_FRAGMENTS, max(MIN_BUDGET, available // 4 // bytes_per_fragment)))


class OITRenderer(Parameterized):
    """Parameter checks and the ``render`` frame shared by every renderer; its parameters
    (``get_params``, ``set_params``, ``repr``) are :class:`lamina.params.Parameterized`'s."""

    #: Bytes one fragment record costs against ``max_fragments``.
    bytes_per_fragment = 8
    #: Bytes of per-pixel buffers (outputs and state): with the setup, what the
    #: memory guard checks before a frame allocates anything.
    bytes_per_pixel = 40

    def __init__(
        self, *, max_fragments: int | None = None, early_stop_transmittance: float = 0.0
    ) -> None:
        if max_fragments is not None:
            if isinstance(max_fragments, bool) or not isinstance(max_fragments, int | np.integer):
                raise InputError(f"max_fragments must be an integer or None, got {max_fragments!r}")
            if not MIN_BUDGET <= max_fragments <= MAX_FRAGMENTS:
                raise InputError(
                    f"max_fragments must lie in [{MIN_BUDGET}, {MAX_FRAGMENTS}] "
                    f"(lamina.limits.MAX_FRAGMENTS), got {max_fragments}"
                )
            max_fragments = int(max_fragments)
        if isinstance(early_stop_transmittance, bool) or not isinstance(
            early_stop_transmittance, int | float | np.floating
        ):
            raise InputError(
                f"early_stop_transmittance must be a number, got {early_stop_transmittance!r}"
            )
        if not 0.0 <= early_stop_transmittance < 1.0:
            raise InputError(
                f"early_stop_transmittance must lie in [0, 1), got {early_stop_transmittance}"
            )
        self.max_fragments = max_fragments
        self.early_stop_transmittance = float(early_stop_transmittance)

    def budget(self) -> int:
        """The fragment budget this frame works within."""
        if self.max_fragments is not None:
            return self.max_fragments
        return default_max_fragments(self.bytes_per_fragment)

    def render(self, scene: Scene, camera: Camera, size: tuple[int, int]) -> Rendering:
        """Render ``scene`` seen by ``camera`` at ``size`` = (height, width).

        Returns
        -------
        lamina.Rendering
            Premultiplied RGBA float32 image (H, W, 4), the per-pixel depth
            complexity (H, W) int32 and the :class:`lamina.RenderStats`.
        """
        began = time.perf_counter()
        self._check_memory(scene, size)
        tris = self._setup(scene, camera, size)
        image, depth_complexity, stats = self._render(tris)
        # Upper bound of the frame's peak: the setup's scratch or the render's buffers,
        # on top of the setup's arrays.
        stats.peak_memory_bytes = tris.nbytes + max(tris.setup_bytes, stats.peak_memory_bytes)
        stats.fragments = int(depth_complexity.sum(dtype=np.int64))
        stats.max_depth_complexity = int(depth_complexity.max(initial=0))
        stats.notes.setdefault("raster_triangles", tris.n)
        stats.seconds = time.perf_counter() - began
        return Rendering(image=image, depth_complexity=depth_complexity, stats=stats)

    def _setup(self, scene: Scene, camera: Camera, size: tuple[int, int]) -> raster.RasterTriangles:
        """The frame's triangle setup (here the numpy one)."""
        return raster.setup(scene, camera, size)

    def _render(self, tris: raster.RasterTriangles) -> tuple[np.ndarray, np.ndarray, RenderStats]:
        raise NotImplementedError

    def memory_estimate(self, scene: Scene, size: tuple[int, int]) -> int:
        """Bytes a frame of ``scene`` at ``size`` needs besides its fragment records:
        per-pixel buffers and the triangle setup (what :meth:`render` checks first)."""
        height, width = raster.check_size(size)
        return (
            height * width * self.bytes_per_pixel
            + min(scene.n_triangles, raster.SETUP_CHUNK) * raster.SETUP_BYTES_PER_FACE
            + scene.n_triangles * raster.KEPT_BYTES_PER_TRIANGLE
        )

    def _check_memory(self, scene: Scene, size: tuple[int, int]) -> None:
        """Refuse, before allocating, a frame whose pixels and setup cannot fit."""
        if not isinstance(scene, Scene):
            return  # raster.setup names the wrong type
        height, width = raster.check_size(size)
        check_allocation(
            self.memory_estimate(scene, size),
            what=f"a {width} x {height} render of {scene.n_triangles} triangles "
            f"({type(self).__name__})",
            fix="choose a smaller size (--size) or a smaller scene",
        )

    def _early_stop_error(self, residual: np.ndarray) -> float | None:
        if self.early_stop_transmittance == 0.0:
            return None
        return float(residual.max(initial=0.0))
