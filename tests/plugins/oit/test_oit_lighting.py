"""Lighting: hand-computed pixels, both sides, edge opacity, and every renderer alike."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lamina.errors import InputError
from lamina.plugins.oit.reference import Reference
from lamina.plugins.oit.renderers import (
    DepthPeeling,
    DualDepthPeeling,
    FragmentList,
    MultiLayerDepthPeeling,
)
from lamina.scene import Camera, Scene
from lamina.scene.lighting import MAX_LIGHTS, Light, Lighting, shade, vertex_normals
from lamina.scene.procedural import nested_spheres

SQUARE = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], float)
FACES = np.array([[0, 1, 2], [0, 2, 3]])
ORTHO = Camera.look_at((0, 0, 3), (0, 0, 0), projection="orthographic", ortho_height=3)
SIZE = (16, 16)


def centre_pixel(scene: Scene, camera: Camera, renderer=None) -> np.ndarray:
    out = (renderer or Reference()).render(scene, camera, SIZE)
    return out.image[8, 8].astype(np.float64)


def tilted(degrees: float, rgba=(0.8, 0.4, 0.2, 0.5)) -> Scene:
    """The square turned ``degrees`` about the y axis: normal (sin, 0, cos)."""
    a = math.radians(degrees)
    rotation = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    return Scene(vertices=SQUARE @ rotation.T, faces=FACES, face_colors=rgba)


@pytest.mark.parametrize("renderer", [Reference, FragmentList])
def test_headlight_on_a_facing_quad_by_hand(renderer):
    # N.L = N.H = 1: rgb = base * (0.25 + 0.7) + 0.3, clipped; alpha 0.5 over nothing.
    lit = shade(tilted(0.0), ORTHO)
    expected = np.array([1.0, 0.4 * 0.95 + 0.3, 0.2 * 0.95 + 0.3]) * 0.5
    np.testing.assert_allclose(centre_pixel(lit, ORTHO, renderer()), [*expected, 0.5], atol=1e-6)


def test_two_coloured_lights_on_a_tilted_quad_by_hand():
    scene = tilted(60.0)
    lights = (Light((1, 0, 1), color=(1.0, 0.5, 0.5)), Light((0, 1, 0), intensity=2.0))
    lighting = Lighting(lights=lights, ambient=0.1, diffuse=0.6, specular=0.5, shininess=4)
    n = np.array([math.sin(math.radians(60)), 0, math.cos(math.radians(60))])
    v = np.array([0.0, 0.0, 1.0])  # orthographic: against the viewing direction
    rgb = np.array([0.8, 0.4, 0.2]) * 0.1
    for direction, colour in ((np.array([1, 0, 1]) / math.sqrt(2), [1.0, 0.5, 0.5]),
                              (np.array([0.0, 1, 0]), [2.0, 2.0, 2.0])):  # fmt: skip
        half = (direction + v) / np.linalg.norm(direction + v)
        lambert = max(n @ direction, 0.0)
        highlight = max(n @ half, 0.0) ** 4 if lambert > 0 else 0.0
        rgb += np.array([0.8, 0.4, 0.2]) * 0.6 * lambert * np.array(colour)
        rgb += 0.5 * highlight * np.array(colour)
    rgb = np.clip(rgb, 0, 1)
    found = centre_pixel(shade(scene, ORTHO, lighting), ORTHO)
    np.testing.assert_allclose(found, [*(rgb * 0.5), 0.5], atol=1e-6)


def test_two_sided_lighting_lights_the_back_like_the_front():
    front = Camera.look_at((0, 0, 3), (0, 0, 0), projection="orthographic", ortho_height=3)
    back = Camera.look_at((0, 0, -3), (0, 0, 0), projection="orthographic", ortho_height=3)
    scene = tilted(30.0)
    seen = [centre_pixel(shade(scene, camera), camera) for camera in (front, back)]
    np.testing.assert_allclose(seen[0], seen[1], atol=1e-6)
    # One-sided: the back gets the ambient term only.
    one_sided = centre_pixel(shade(scene, back, Lighting(two_sided=False)), back)
    np.testing.assert_allclose(
        one_sided, [0.8 * 0.25 * 0.5, 0.4 * 0.25 * 0.5, 0.2 * 0.25 * 0.5, 0.5]
    )


@pytest.mark.parametrize("degrees", [0.0, 40.0, 75.0])
def test_edge_opacity_grows_as_the_surface_turns_edge_on(degrees):
    lit = shade(tilted(degrees), ORTHO, Lighting(edge_opacity=0.8))
    cosine = math.cos(math.radians(degrees))
    expected = 0.5 + 0.5 * 0.8 * (1 - cosine) ** 2
    assert centre_pixel(lit, ORTHO)[3] == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    "cls", [FragmentList, DepthPeeling, DualDepthPeeling, MultiLayerDepthPeeling]
)
def test_every_renderer_shades_like_the_reference(cls):
    scene, camera = nested_spheres(2)
    lit = shade(scene, camera, Lighting(edge_opacity=0.5, lights=(Light((1, 1, 1)),)))
    expected = Reference().render(lit, camera, (24, 32))
    found = cls().render(lit, camera, (24, 32))
    np.testing.assert_array_equal(found.depth_complexity, expected.depth_complexity)
    assert np.abs(found.image.astype(np.float64) - expected.image).max() <= 1e-5


def test_lit_spheres_read_as_shapes():
    """Lighting varies across a sphere (no flat silhouette): centre bright, rim dark."""
    scene, camera = nested_spheres(1)
    flat = Scene(vertices=scene.vertices, faces=scene.faces, face_colors=(0.7, 0.7, 0.7, 0.4))
    image = Reference().render(shade(flat, camera), camera, (48, 48)).image
    straight = image[..., 0] / np.maximum(image[..., 3], 1e-9)
    covered = image[..., 3] > 0
    assert straight[24, 24] > straight[covered].min() + 0.2


def test_vertex_normals_of_a_sphere_point_outwards():
    scene, _ = nested_spheres(1)
    normals = vertex_normals(scene.vertices, scene.faces)
    radial = scene.vertices[scene.faces]
    radial = radial / np.linalg.norm(radial, axis=-1, keepdims=True)
    cosines = np.abs((normals * radial).sum(-1))  # (either orientation)
    assert cosines.min() > 0.98
    np.testing.assert_allclose(np.linalg.norm(normals, axis=-1), 1.0)


def test_given_normals_are_used_and_vertex_topology_kept():
    scene = Scene(vertices=SQUARE, faces=FACES, vertex_colors=(0.5, 0.5, 0.5, 0.5))
    sideways = np.tile([1.0, 0.0, 0.0], (4, 1))  # perpendicular to the headlight
    lit = shade(scene, ORTHO, Lighting(ambient=0.2, specular=0.0), normals=sideways)
    assert lit.n_vertices == 4
    np.testing.assert_allclose(lit.vertex_colors[:, :3], 0.5 * 0.2)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Lighting(lights=tuple(Light((0, 0, 1)) for _ in range(MAX_LIGHTS + 1))),
        lambda: Lighting(ambient=-0.1),
        lambda: Lighting(shininess=0.5),
        lambda: Light((0, 0, 0)),
        lambda: Light((0, 0, 1), color=(2, 0, 0)),
        lambda: shade(tilted(0), ORTHO, normals=np.zeros((4, 3))),
    ],
)
def test_bad_lighting_raises_input_error(make):
    with pytest.raises(InputError):
        make()
