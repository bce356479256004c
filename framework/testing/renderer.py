"""Checks for renderers: ``render(scene, camera, size)``."""

from __future__ import annotations

import numpy as np

from lamina.errors import LaminaError
from lamina.kinds.renderer import Rendering
from lamina.registry import ComponentInfo
from lamina.testing._common import build, expect_input_error, unchanged
from lamina.testing._runner import Check, SkipCheck

_SIZE = (24, 32)


def _scene():  # type: ignore[no-untyped-def]
    from lamina.scene import Camera, Scene

    # Two overlapping quads, one tilted through the other, and a partial triangle.
    quad = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], float)
    tilted = np.array([[-0.8, -0.8, -0.5], [0.8, -0.8, 0.5], [0.8, 0.8, 0.5], [-0.8, 0.8, -0.5]])
    triangle = np.array([[-0.5, -0.9, 0.2], [0.9, -0.2, 0.2], [0.0, 0.7, 0.2]])
    vertices = np.vstack([quad, tilted, triangle])
    faces = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7], [8, 9, 10]])
    colors = np.array(
        [
            [0.9, 0.2, 0.1, 0.5],
            [0.9, 0.2, 0.1, 0.5],
            [0.1, 0.8, 0.3, 0.4],
            [0.1, 0.8, 0.3, 0.4],
            [0.2, 0.3, 0.9, 0.6],
        ]
    )
    scene = Scene(vertices=vertices, faces=faces, face_colors=colors, background=(1, 1, 1, 1))
    camera = Camera(eye=(0.3, 0.2, 4.0), target=(0, 0, 0), projection="perspective", fov_y=40)
    return scene, camera


def check_rendering_well_formed(info: ComponentInfo) -> None:
    scene, camera = _scene()
    with unchanged(scene.vertices, scene.faces, scene.face_colors):
        result = build(info).render(scene, camera, _SIZE)
    assert isinstance(result, Rendering), f"render returned {type(result).__name__}"
    image = result.image
    assert image.shape == (*_SIZE, 4), f"image shape {image.shape}, expected {(*_SIZE, 4)}"
    assert image.dtype == np.float32, f"image dtype {image.dtype}, expected float32"
    assert np.all(np.isfinite(image)), "image has NaN or infinite values"
    assert image.min() >= -1e-6 and image.max() <= 1 + 1e-6, "image leaves [0, 1]"
    assert np.all(image[..., :3] <= image[..., 3:] + 1e-5), (
        "colour exceeds alpha: not premultiplied"
    )
    complexity = result.depth_complexity
    assert complexity.shape == _SIZE, f"depth complexity shape {complexity.shape}"
    assert np.issubdtype(complexity.dtype, np.integer), "depth complexity is not integer"
    assert complexity.max() >= 2, "overlapping geometry gave depth complexity < 2"
    stats = result.stats
    assert stats.fragments == int(complexity.sum()), (
        f"stats.fragments {stats.fragments} != sum of the depth-complexity map {complexity.sum()}"
    )
    assert stats.geometry_passes >= 1 and stats.seconds >= 0, "stats not filled in"


def check_matches_reference(info: ComponentInfo) -> None:
    from lamina.host import get_host

    try:
        reference = get_host().create(info.kind, "reference")
    except LaminaError as error:
        raise SkipCheck(f"no reference renderer: {error}") from None
    scene, camera = _scene()
    expected = reference.render(scene, camera, _SIZE).image
    found = build(info).render(scene, camera, _SIZE).image
    largest = float(np.abs(found.astype(np.float64) - expected).max())
    assert largest <= 1e-5, f"max error {largest:.3g} against the reference renderer exceeds 1e-5"


def check_deterministic(info: ComponentInfo) -> None:
    scene, camera = _scene()
    first = build(info).render(scene, camera, _SIZE).image
    second = build(info).render(scene, camera, _SIZE).image
    assert np.array_equal(first, second), "two renders of the same scene differ"


def check_bad_input(info: ComponentInfo) -> None:
    renderer = build(info)
    scene, camera = _scene()
    expect_input_error(lambda: renderer.render(scene, camera, (0, 32)), "size (0, 32)")
    expect_input_error(lambda: renderer.render(scene, camera, (10**6, 10**6)), "size 10^6 x 10^6")


def checks(info: ComponentInfo) -> list[Check]:
    """The renderer checks that apply to ``info``, chosen by its tags (the renderer
    kind's :attr:`~lamina.kinds.Kind.checks`)."""
    result = [
        Check("renderer_rendering_well_formed", check_rendering_well_formed),
        Check("renderer_bad_input", check_bad_input),
    ]
    if info.tags.exact:
        result.append(Check("renderer_matches_reference", check_matches_reference))
    if info.tags.deterministic:
        result.append(Check("renderer_deterministic", check_deterministic))
    return result
