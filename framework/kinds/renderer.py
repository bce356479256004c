"""The renderer kind: ``render(scene, camera, size)`` returns a :class:`Rendering`."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from lamina.kinds import Kind, ResultType, TagField, Template

if TYPE_CHECKING:  # numpy is imported when first needed: `lamina --help` never needs it
    import numpy as np

__all__ = ["KIND", "RenderStats", "Renderer", "Rendering"]


@runtime_checkable
class Renderer(Protocol):
    def render(self, scene: Any, camera: Any, size: tuple[int, int]) -> Rendering:
        """Render ``scene`` seen by ``camera`` at ``size`` = (height, width)."""


@dataclass
class RenderStats:
    """What a renderer did to produce one frame."""

    geometry_passes: int = 0
    layers: int = 0
    fragments: int = 0
    max_depth_complexity: int = 0
    peak_memory_bytes: int = 0
    bound_hit: bool = False
    tiles: int = 1
    seconds: float = 0.0
    early_stop_error: float | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class Rendering:
    """A rendered frame: premultiplied RGBA float32 ``image`` of shape (H, W, 4),
    the per-pixel ``depth_complexity`` (H, W) and the ``stats``."""

    image: np.ndarray
    depth_complexity: np.ndarray
    stats: RenderStats


class RenderingResult(ResultType):
    """A rendering in a pipeline: written as a straight-alpha PNG, the premultiplied
    float32 ``.npy`` and its stats as JSON; pictured and tabulated by its stats."""

    tabular = False

    def write(self, value: Rendering, stem: Path, *, durable: bool) -> list[Path]:
        from lamina.io import unpremultiply, write_image, write_json

        write_image(stem.with_suffix(".png"), unpremultiply(value.image), durable=durable)
        write_image(stem.with_suffix(".npy"), value.image, durable=durable)
        write_json(stem.with_suffix(".json"), value.stats.as_dict(), durable=durable)
        return [stem.with_suffix(s) for s in (".png", ".npy", ".json")]

    def picture(self, value: Rendering) -> np.ndarray:
        from lamina.io import unpremultiply

        return unpremultiply(value.image)

    def scalars(self, value: Rendering) -> dict[str, Any]:
        stats = value.stats.as_dict()
        return {k: v for k, v in stats.items() if isinstance(v, (int, float, bool))}


_TEMPLATE = """\
\"\"\"{title}: a lamina renderer.\"\"\"

from __future__ import annotations

import time

import numpy as np

from lamina import Camera, InputError, Rendering, RenderStats, Scene
from lamina.limits import MAX_IMAGE_SIDE
from lamina.memory import array_bytes, check_allocation


class {cls}:
    \"\"\"Painter's algorithm: whole triangles sorted far to near by their mean
    depth, each composited over the image with premultiplied alpha.

    Not exact where triangles interpenetrate or overlap cyclically (lamina's
    ``fragment-list`` renderer is); triangles reaching behind the camera are
    left out, and vertex colours are averaged per face.

    Examples
    --------
    >>> import numpy as np
    >>> from lamina import Camera, Scene
    >>> quad = Scene(
    ...     vertices=np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], float),
    ...     faces=np.array([[0, 1, 2], [0, 2, 3]]),
    ...     face_colors=(1.0, 0.0, 0.0, 0.5),
    ... )
    >>> camera = Camera(eye=(0, 0, 4), target=(0, 0, 0))
    >>> {cls}().render(quad, camera, (8, 8)).image[4, 4].tolist()
    [0.5, 0.0, 0.0, 0.5]
    \"\"\"

    def render(self, scene: Scene, camera: Camera, size: tuple[int, int]) -> Rendering:
        \"\"\"Render ``scene`` seen by ``camera`` at ``size`` = (height, width).\"\"\"
        start = time.perf_counter()
        height, width = (int(side) for side in size)
        if not (1 <= height <= MAX_IMAGE_SIDE and 1 <= width <= MAX_IMAGE_SIDE):
            raise InputError(
                f"size: expected height and width in 1..{{MAX_IMAGE_SIDE}}, got {{tuple(size)}}"
            )
        check_allocation(
            array_bytes((height, width, 6), np.float32),
            what=f"a {{height}} x {{width}} image and its depth-complexity map",
            fix="ask for a smaller size",
        )
        transform = camera.projection_matrix(width / height) @ camera.view_matrix()
        clip = np.c_[scene.vertices, np.ones(len(scene.vertices))] @ transform.T
        w = clip[:, 3]
        safe_w = np.where(w > 1e-12, w, 1.0)
        columns = (clip[:, 0] / safe_w + 1.0) * 0.5 * width
        rows = (1.0 - clip[:, 1] / safe_w) * 0.5 * height
        depth = clip[:, 2] / safe_w
        faces = scene.faces
        if scene.face_colors is not None:
            colors = np.asarray(scene.face_colors, np.float64)
        else:
            colors = np.asarray(scene.vertex_colors, np.float64)[faces].mean(axis=1)
        in_front = (w[faces] > 1e-12).all(axis=1)
        order = np.argsort(-depth[faces].mean(axis=1), kind="stable")  # far first
        image = np.empty((height, width, 4), np.float64)
        image[:] = scene.premultiplied_background()
        complexity = np.zeros((height, width), np.int32)
        for face in order[in_front[order]]:
            ys, xs = rows[faces[face]], columns[faces[face]]
            top, bottom = max(int(np.floor(ys.min())), 0), min(int(np.ceil(ys.max())), height)
            left, right = max(int(np.floor(xs.min())), 0), min(int(np.ceil(xs.max())), width)
            if top >= bottom or left >= right:
                continue
            py, px = np.mgrid[top:bottom, left:right] + 0.5  # pixel centres
            edges = [
                (xs[(k + 1) % 3] - xs[k]) * (py - ys[k]) - (ys[(k + 1) % 3] - ys[k]) * (px - xs[k])
                for k in range(3)
            ]
            inside = (edges[0] >= 0) & (edges[1] >= 0) & (edges[2] >= 0)
            inside |= (edges[0] <= 0) & (edges[1] <= 0) & (edges[2] <= 0)  # either winding
            r, g, b, alpha = colors[face]
            window = image[top:bottom, left:right]
            window[inside] = np.array([r * alpha, g * alpha, b * alpha, alpha]) + (
                1.0 - alpha
            ) * window[inside]
            complexity[top:bottom, left:right] += inside
        stats = RenderStats(
            geometry_passes=1,
            layers=int(complexity.max()),
            fragments=int(complexity.sum()),
            max_depth_complexity=int(complexity.max()),
            seconds=time.perf_counter() - start,
        )
        return Rendering(np.clip(image, 0.0, 1.0).astype(np.float32), complexity, stats)
"""


KIND = Kind(
    name="renderer",
    plural="renderers",
    summary="Draws a scene seen by a camera: premultiplied RGBA, depth complexity and stats.",
    protocol="lamina.kinds.renderer:Renderer",
    calls={"render": ("scene", "camera", "size")},
    tags=(
        TagField(
            "exact",
            False,
            "Renderer output equals the float64 reference within 1e-5 per channel.",
            (False, True),
        ),
    ),
    checks="lamina.testing.renderer:checks",
    results=(
        RenderingResult("lamina.kinds.renderer:Rendering"),
        ResultType("lamina.kinds.renderer:RenderStats"),
        # What a renderer draws: pipelines pass scenes and cameras between steps.
        ResultType("lamina.scene.core:Scene"),
        ResultType("lamina.scene.core:Camera"),
    ),
    commands=(
        (
            "render",
            "lamina.scene.command:render",
            "Render SCENE with exact order-independent transparency.",
        ),
    ),
    exclusive=True,
    template=Template("painter's algorithm: triangles sorted by depth", _TEMPLATE),
)
