"""Pipeline operations on scenes and renderings (any renderer): load a scene, move it by
sub-pixel amounts, turn renderings into a table for learners."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lamina.errors import InputError
from lamina.scene.core import Camera, Scene
from lamina.types import Rendering

if TYPE_CHECKING:  # scenes are core, the pipeline a layer above: only its type is named
    from lamina.pipeline.operations import Context

__all__ = ["OPERATIONS", "move_in_image", "patch_features", "scene"]


def scene(*, source: str, context: Context, opacity: float | None = None) -> dict[str, Any]:
    """Load a scene: a mesh or ``.toml`` scene file (relative to the pipeline) or
    ``procedural:NAME[:N]``; returns ``{"scene", "camera", "size"}``."""
    from lamina.scene.files import load

    where = source if source.startswith("procedural:") else context.base_dir / source
    loaded = load(where, opacity=opacity)
    return {"scene": loaded.scene, "camera": loaded.camera, "size": loaded.size}


def _scene_files(arguments: dict[str, Any], base_dir: Path) -> list[Path]:
    """The files ``scene`` reads: the scene file and, for a ``.toml``, the meshes
    its ``[[mesh]]`` tables name (relative to it), so their bytes key the task."""
    source = str(arguments["source"])
    if source.startswith("procedural:"):
        return []
    path = base_dir / source
    files = [path]
    if path.suffix.lower() == ".toml":
        try:
            meshes = tomllib.loads(path.read_text(encoding="utf-8")).get("mesh", [])
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            return files  # the task itself reports the damaged file
        files += [
            path.parent / str(mesh["path"])
            for mesh in meshes
            if isinstance(mesh, dict) and "path" in mesh
        ]
    return files


scene.reads = _scene_files  # type: ignore[attr-defined]


def move_in_image(
    *, scene: Scene, camera: Camera, size: tuple[int, ...], dy: float, dx: float
) -> dict[str, Any]:
    """Translate ``scene`` parallel to the image plane of an orthographic ``camera``
    so its picture at ``size`` = (height, width) moves by exactly (dy, dx) pixels
    (rows down, columns right): a motion whose truth is known to any precision.
    Returns ``{"scene", "dy", "dx"}``."""
    if camera.projection != "orthographic":
        raise InputError(
            "move_in_image needs an orthographic camera: under perspective the image "
            "motion depends on depth"
        )
    if len(size) != 2 or min(size) < 1:
        raise InputError(f"size must be (height, width), got {size}")
    pixel = camera.ortho_height / size[0]
    side, up = camera.view_matrix()[0, :3], camera.view_matrix()[1, :3]
    offset = pixel * (dx * side - dy * up)
    matrix = np.eye(4)
    matrix[:3, 3] = offset
    return {"scene": scene.transformed(matrix), "dy": dy, "dx": dx}


def patch_features(*, renderings: Sequence[Rendering], size: int = 8) -> dict[str, Any]:
    """A table of ``size`` x ``size`` patches of rendered frames: features are the
    mean and spread of each premultiplied channel; the class is the depth complexity
    (number of transparent surfaces) at the patch centre."""
    if size < 2:
        raise InputError(f"size must be >= 2, got {size}")
    features, labels = [], []
    for rendering in renderings:
        image, complexity = rendering.image, rendering.depth_complexity
        rows, cols = image.shape[0] // size, image.shape[1] // size
        blocks = image[: rows * size, : cols * size].reshape(rows, size, cols, size, 4)
        mean = blocks.mean(axis=(1, 3)).reshape(-1, 4)
        spread = blocks.std(axis=(1, 3)).reshape(-1, 4)[:, :3]
        features.append(np.hstack([mean, spread]))
        labels.append(complexity[size // 2 :: size, size // 2 :: size][:rows, :cols].ravel())
    names = [f"mean_{c}" for c in "rgba"] + [f"std_{c}" for c in "rgb"]
    return {"X": np.vstack(features), "y": np.concatenate(labels), "feature_names": names}


OPERATIONS = {"scene": scene, "move_in_image": move_in_image, "patch_features": patch_features}
