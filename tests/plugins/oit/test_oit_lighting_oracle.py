"""Lighting on scenes nobody picked, against a closed form that shares no code with lamina.

Each seed draws a triangle, its vertex colours, a perspective or orthographic camera
anywhere around it, up to :data:`lamina.limits.MAX_LIGHTS` coloured lights (or the
headlight), the model's weights, one- or two-sided lighting, edge opacity, and
normals computed or given per vertex. The oracle below re-derives every covered
pixel from the model as ``lamina.scene.lighting`` documents it (Gouraud: shade the
three corners, clip to [0, 1], interpolate the straight colours at the ray's world-space
hit, which is what perspective-correct interpolation is, then premultiply), with its
own rays, in float64 numpy. Pixels whose hit lies within 2 % of an edge (barycentric)
are left out: coverage there is the rasteriser's rule, tested elsewhere. Raise
``SEEDS`` to widen the grid.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from lamina.plugins.oit.reference import Reference
from lamina.plugins.oit.renderers import (
    DepthPeeling,
    DualDepthPeeling,
    FragmentList,
    MultiLayerDepthPeeling,
)
from lamina.scene import Camera, Scene
from lamina.scene.lighting import Light, Lighting, shade

SEEDS = range(24)
SIZE = (20, 24)  # height, width
MARGIN = 0.02


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def draw(seed: int) -> dict:
    """Everything one case needs, as plain numbers."""
    rng = np.random.default_rng(seed)
    corners = rng.uniform(-1, 1, (3, 3))
    while np.linalg.norm(np.cross(corners[1] - corners[0], corners[2] - corners[0])) < 1.0:
        corners = rng.uniform(-1, 1, (3, 3))
    normal = unit(np.cross(corners[1] - corners[0], corners[2] - corners[0]))
    eye = unit(rng.normal(size=3))
    while abs(eye @ normal) < 0.4:  # not edge-on: some pixels to compare
        eye = unit(rng.normal(size=3))
    count = int(rng.integers(0, 5))  # 0: the headlight
    return {
        "corners": corners,
        "rgba": np.column_stack([rng.uniform(0, 1, (3, 3)), rng.uniform(0.1, 0.9, 3)]),
        "eye": eye * rng.uniform(3.5, 6),
        "up": rng.normal(size=3),
        "ortho": bool(rng.integers(0, 2)),
        "fov": float(rng.uniform(30, 60)),
        "lights": [
            (unit(rng.normal(size=3)), rng.uniform(0, 1, 3), float(rng.uniform(0, 2)))
            for _ in range(count)
        ],
        "ambient": float(rng.uniform(0, 0.5)),
        "diffuse": float(rng.uniform(0, 1)),
        "specular": float(rng.uniform(0, 1)),
        "shininess": float(rng.uniform(1, 64)),
        "two_sided": bool(rng.integers(0, 2)),
        "edge": float(rng.uniform(0, 1)) if rng.integers(0, 2) else 0.0,
        "normals": unit(rng.normal(size=(3, 3))) if rng.integers(0, 2) else None,
    }


def oracle(case: dict) -> tuple[np.ndarray, np.ndarray]:
    """(premultiplied RGBA (H, W, 4), mask of pixels to compare) by the closed form."""
    corners, eye = case["corners"], case["eye"]
    face_normal = unit(np.cross(corners[1] - corners[0], corners[2] - corners[0]))
    normals = case["normals"] if case["normals"] is not None else np.tile(face_normal, (3, 1))
    forward = unit(-eye)  # the camera looks at the origin
    views = np.tile(-forward, (3, 1)) if case["ortho"] else unit(eye - corners)
    lit = np.empty((3, 4))
    for k in range(3):
        n, v, base = normals[k], views[k], case["rgba"][k]
        facing = n @ v
        front = facing >= 0
        if case["two_sided"] and not front:
            n = -n
        lights = case["lights"] or [(v, np.ones(3), 1.0)]
        rgb = base[:3] * case["ambient"]
        for direction, colour, intensity in lights:
            lambert = max(n @ direction, 0.0)
            if not (case["two_sided"] or front):
                lambert = 0.0
            half = unit(direction + v)
            highlight = max(n @ half, 0.0) ** case["shininess"] if lambert > 0 else 0.0
            rgb = rgb + base[:3] * case["diffuse"] * lambert * colour * intensity
            rgb = rgb + case["specular"] * highlight * colour * intensity
        alpha = base[3] + (1 - base[3]) * case["edge"] * (1 - min(abs(facing), 1.0)) ** 2
        lit[k] = np.clip([*rgb, alpha], 0, 1)
    # Rays through pixel centres, from the camera's own basis.
    side = unit(np.cross(forward, case["up"]))
    true_up = np.cross(side, forward)
    height, width = SIZE
    rows, cols = np.mgrid[0:height, 0:width]
    x = ((cols + 0.5) / width * 2 - 1) * width / height
    y = 1 - (rows + 0.5) / height * 2
    if case["ortho"]:
        half_height = np.linalg.norm(eye) * math.tan(math.radians(case["fov"]) / 2)
        origins = eye + half_height * (x[..., None] * side + y[..., None] * true_up)
        directions = np.broadcast_to(forward, origins.shape)
    else:
        t = math.tan(math.radians(case["fov"]) / 2)
        origins = np.broadcast_to(eye, (height, width, 3))
        directions = forward + t * (x[..., None] * side + y[..., None] * true_up)
    # Ray-triangle intersection (Moller-Trumbore) for barycentrics at every pixel.
    e1, e2 = corners[1] - corners[0], corners[2] - corners[0]
    p = np.cross(directions, e2)
    det = p @ e1
    s = origins - corners[0]
    b1 = (s * p).sum(-1) / det
    q = np.cross(s, e1)
    b2 = (directions * q).sum(-1) / det
    b = np.stack([1 - b1 - b2, b1, b2], axis=-1)
    inside = (b >= MARGIN).all(-1) & ((q @ e2) / det > 0)
    straight = b @ lit
    image = np.concatenate([straight[..., :3] * straight[..., 3:], straight[..., 3:]], -1)
    return np.where(inside[..., None], image, 0.0), inside


def lamina_inputs(case: dict) -> tuple[Scene, Camera, Lighting]:
    scene = Scene(vertices=case["corners"], faces=np.array([[0, 1, 2]]), vertex_colors=case["rgba"])
    distance = float(np.linalg.norm(case["eye"]))
    common = {"up": tuple(case["up"]), "near": 0.5, "far": 2 * distance}
    if case["ortho"]:
        height = 2 * distance * math.tan(math.radians(case["fov"]) / 2)
        camera = Camera.look_at(case["eye"], (0, 0, 0), projection="orthographic",
                                ortho_height=height, **common)  # fmt: skip
    else:
        camera = Camera.look_at(case["eye"], (0, 0, 0), fov_y=case["fov"], **common)
    lighting = Lighting(
        lights=tuple(Light(tuple(d), color=tuple(c), intensity=i) for d, c, i in case["lights"]),
        ambient=case["ambient"],
        diffuse=case["diffuse"],
        specular=case["specular"],
        shininess=case["shininess"],
        two_sided=case["two_sided"],
        edge_opacity=case["edge"],
    )
    return scene, camera, lighting


@pytest.fixture(scope="module")
def rendered() -> dict[int, tuple[np.ndarray, np.ndarray, Scene, Camera]]:
    out = {}
    for seed in SEEDS:
        case = draw(seed)
        scene, camera, lighting = lamina_inputs(case)
        lit = shade(scene, camera, lighting, normals=case["normals"])
        out[seed] = (Reference().render(lit, camera, SIZE).image, *oracle(case), lit, camera)
    return out


@pytest.mark.parametrize("seed", SEEDS)
def test_reference_shades_like_the_closed_form(rendered, seed):
    image, expected, inside, _, _ = rendered[seed]
    assert inside.sum() >= 3, "the draw must cover some pixels"
    np.testing.assert_allclose(image[inside], expected[inside], rtol=0, atol=2e-6)


def test_the_grid_reaches_every_branch(rendered):
    """The draws cover what they are meant to: several lights, the headlight, both
    projections, both sidedness settings with surfaces seen from behind, given normals."""
    cases = [draw(seed) for seed in SEEDS]
    assert {len(c["lights"]) for c in cases} == {0, 1, 2, 3, 4}
    assert {c["ortho"] for c in cases} == {True, False}
    behind = [
        c for c in cases
        if np.cross(c["corners"][1] - c["corners"][0], c["corners"][2] - c["corners"][0])
        @ (c["eye"] - c["corners"][0]) < 0
    ]  # fmt: skip
    assert {c["two_sided"] for c in behind} == {True, False}
    assert any(c["normals"] is not None for c in cases) and any(c["edge"] for c in cases)


@pytest.mark.parametrize(
    "cls", [FragmentList, DepthPeeling, DualDepthPeeling, MultiLayerDepthPeeling]
)
def test_taichi_renderers_shade_like_the_reference(rendered, cls):
    renderer = cls()
    for seed in SEEDS:
        image, _, _, lit, camera = rendered[seed]
        found = renderer.render(lit, camera, SIZE).image
        assert np.abs(found.astype(np.float64) - image).max() <= 1e-6, seed
