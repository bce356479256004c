"""The OIT renderers: the four Taichi methods against the float64 reference, the
reference against independent truths (hand compositing, ray casting), pass
counts against theory, bounded memory, early stopping and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

import lamina
from lamina.plugins.oit import raster
from lamina.plugins.oit.reference import Reference
from lamina.plugins.oit.renderers import (
    DepthPeeling,
    DualDepthPeeling,
    FragmentList,
    MultiLayerDepthPeeling,
)
from lamina.scene import Camera, Scene

SIZE = (24, 32)
SQUARE = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], float)
QUAD_FACES = np.array([[0, 1, 2], [0, 2, 3]])
ORTHO = Camera.look_at((0, 0, 5), (0, 0, 0), projection="orthographic", ortho_height=2.5)
PERSPECTIVE = Camera.look_at((0.4, 0.3, 4.0), (0, 0, 0), fov_y=40)


def quad(corners: np.ndarray, rgba: tuple, *, vertex_rgba: np.ndarray | None = None) -> Scene:
    if vertex_rgba is not None:
        return Scene(vertices=corners, faces=QUAD_FACES, vertex_colors=vertex_rgba)
    return Scene(vertices=corners, faces=QUAD_FACES, face_colors=rgba)


def palette(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(0.05, 0.95, (n, 3)), rng.uniform(0.15, 0.6, n)])


def stacked(n: int, *, scale: float = 2.2, background=(0.0, 0.0, 0.0, 0.0)) -> Scene:
    """``n`` view-filling quads at z = 0, -0.1, ..., in shuffled order."""
    colors = palette(n)
    order = np.random.default_rng(1).permutation(n)
    parts = [quad(SQUARE * [scale, scale, 1] + [0, 0, -0.1 * k], tuple(colors[k])) for k in order]
    scene = Scene.concatenate(parts)
    return Scene(
        vertices=scene.vertices,
        faces=scene.faces,
        face_colors=scene.face_colors,
        background=background,
    )


def intersecting(n: int) -> Scene:
    """Quads tilted about the y axis by different angles, all crossing at x = 0."""
    colors = palette(n, seed=2)
    parts = []
    for k in range(n):
        angle = math.radians(-60 + 120 * k / max(n - 1, 1))
        rotation = np.array(
            [
                [math.cos(angle), 0, math.sin(angle)],
                [0, 1, 0],
                [-math.sin(angle), 0, math.cos(angle)],
            ]
        )
        parts.append(quad(SQUARE * [1.5, 1.3, 1] @ rotation.T, tuple(colors[k])))
    return Scene.concatenate(parts)


def coplanar() -> Scene:
    """Exactly coplanar faces: the same quad three times, then the same plane split
    along the other diagonal, with different colours."""
    other = np.array([[0, 1, 3], [1, 2, 3]])
    colors = palette(4, seed=3)
    parts = [quad(SQUARE, tuple(colors[k])) for k in range(3)]
    parts.append(Scene(vertices=SQUARE * [0.7, 0.9, 1], faces=other, face_colors=tuple(colors[3])))
    return Scene.concatenate(parts)


def partial() -> Scene:
    """Small quads and triangles with edges at arbitrary sub-pixel positions, some
    sharing edges, some off screen in part."""
    rng = np.random.default_rng(4)
    parts = []
    for k in range(12):
        centre = rng.uniform(-1.3, 1.3, 2)
        half = rng.uniform(0.1, 0.6, 2)
        corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float) * half + centre
        z = rng.uniform(-1, 1)
        parts.append(quad(np.column_stack([corners, np.full(4, z)]), tuple(palette(1, seed=k)[0])))
    triangles = Scene(
        vertices=rng.uniform(-1.4, 1.4, (15, 3)),
        faces=np.arange(15).reshape(5, 3),
        face_colors=palette(5, seed=9),
    )
    return Scene.concatenate([*parts, triangles])


def vertex_coloured() -> Scene:
    rng = np.random.default_rng(5)
    tilted = np.array([[-1.2, -1, -1.0], [1.2, -1, 0.8], [1.2, 1, 0.8], [-1.2, 1, -1.0]])
    parts = [
        quad(
            tilted,
            (),
            vertex_rgba=np.column_stack([rng.uniform(0, 1, (4, 3)), rng.uniform(0.2, 0.9, 4)]),
        ),
        quad(SQUARE * [0.8, 1.2, 1] + [0.2, 0, 0.1], (0.3, 0.6, 0.9, 0.5)),
    ]
    return Scene.concatenate(parts)


def near_crossing() -> tuple[Scene, Camera]:
    """A floor and a wall reaching behind the camera: both cross the near plane."""
    floor = np.array([[-3, -0.5, 6], [3, -0.5, 6], [3, -0.5, -6], [-3, -0.5, -6]], float)
    wall = np.array([[0.4, -1, 8], [0.4, -1, -8], [0.4, 1, -8], [0.4, 1, 8]], float)
    scene = Scene.concatenate(
        [
            quad(floor, (0.2, 0.7, 0.3, 0.6)),
            quad(wall, (), vertex_rgba=palette(4, seed=6)),
            quad(np.add(SQUARE, (0, 0, -2)), (0.9, 0.3, 0.2, 0.4)),
        ]
    )
    return scene, Camera.look_at((0, 0, 2), (0, 0, -1), fov_y=60, near=0.5)


SCENES = {
    "stacked": (stacked(7, background=(0.2, 0.3, 0.4, 1.0)), ORTHO),
    "stacked-perspective": (stacked(6), PERSPECTIVE),
    "intersecting": (intersecting(5), PERSPECTIVE),
    "intersecting-ortho": (intersecting(4), ORTHO),
    "coplanar": (coplanar(), ORTHO),
    "coplanar-perspective": (coplanar(), PERSPECTIVE),
    "partial": (partial(), ORTHO),
    "vertex-colours": (vertex_coloured(), PERSPECTIVE),
    "near-plane": near_crossing(),
}
TAICHI = {
    "fragment-list": FragmentList,
    "depth-peeling": DepthPeeling,
    "dual-depth-peeling": DualDepthPeeling,
    "multilayer-depth-peeling": MultiLayerDepthPeeling,
}


def spilling_fragment_list(**params) -> FragmentList:
    """A fragment list whose threads hold one key: every list of two or more fragments
    outside an ordered tile is spilled to the global count -> prefix sum -> fill path."""
    renderer = FragmentList(**params)
    renderer._local_keys = 1
    return renderer


#: The registered methods and the fragment list's global-buffer path.
METHODS = {**TAICHI, "fragment-list-spilled": spilling_fragment_list}


@pytest.fixture(scope="session")
def references():
    """Reference renderings of every scene, once."""
    return {
        name: Reference().render(scene, camera, SIZE) for name, (scene, camera) in SCENES.items()
    }


@pytest.mark.parametrize(
    ("n", "seed", "size"),
    [(5_000, 0, (40, 56)), (9_000, 1, (24, 32)), (20_000, 2, (56, 40)), (40_000, 3, (32, 48))],
)
def test_many_triangles_bin_in_chunks_and_equal_reference(n, seed, size, monkeypatch):
    """Scenes of thousands of triangles, which the SCENES above are not: binning
    splits them into 2-8 chunks with their own cursors (2,048 triangles or more
    each) and, from 2**14 faces, sets them up in a kernel; every pixel's fragments
    are still those of the float64 reference."""
    from lamina.plugins.oit.renderers import binning
    from lamina.scene.procedural import random_triangles

    monkeypatch.setattr(raster, "_large_frames", 1)  # past the first frame: kernel setup
    scene, camera = random_triangles(n, seed=seed)
    assert binning.chunks(n, 1) >= 2
    expected = Reference().render(scene, camera, size)
    for method in ("fragment-list", "fragment-list-spilled", "dual-depth-peeling"):
        found = METHODS[method]().render(scene, camera, size)
        np.testing.assert_array_equal(found.depth_complexity, expected.depth_complexity)
        assert found.stats.fragments == expected.stats.fragments > 0
        error = np.abs(found.image.astype(np.float64) - expected.image).max()
        assert error <= 1e-5, f"{method}, {n} triangles: max error {error:.3g}"


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", SCENES)
def test_taichi_methods_equal_reference(method, name, references):
    scene, camera = SCENES[name]
    expected = references[name]
    kwargs = {"k": 3} if method == "multilayer-depth-peeling" else {}
    found = METHODS[method](**kwargs).render(scene, camera, SIZE)
    assert found.image.dtype == np.float32 and found.image.shape == (*SIZE, 4)
    np.testing.assert_array_equal(found.depth_complexity, expected.depth_complexity)
    error = np.abs(found.image.astype(np.float64) - expected.image).max()
    assert error <= 1e-5, f"{method} on {name}: max error {error:.3g}"
    assert found.stats.fragments == expected.stats.fragments > 0
    assert found.stats.layers == expected.stats.max_depth_complexity
    assert found.stats.early_stop_error is None and not found.stats.bound_hit


def test_scenes_exercise_what_they_claim(references):
    assert references["stacked"].stats.max_depth_complexity == 7
    assert references["stacked"].depth_complexity.min() == 7
    assert references["coplanar"].stats.max_depth_complexity == 4
    assert references["partial"].depth_complexity.min() == 0
    scene, camera = SCENES["near-plane"]
    assert raster.setup(scene, camera, SIZE).n > scene.n_triangles  # clipping made fans
    assert references["near-plane"].stats.max_depth_complexity == 3


# ---------------------------------------------------------------- independent truths


def test_reference_hand_composited():
    # Three view-filling quads, front to back: red 0.5, green 0.25, blue 1.0, over grey.
    colours = [(1, 0, 0, 0.5), (0, 1, 0, 0.25), (0, 0, 1, 1.0)]
    parts = [quad(SQUARE * 2 + [0, 0, -z], c) for z, c in zip((0, 1, 2), colours, strict=True)]
    # Submitted back to front, so submission order is the wrong order.
    scene = Scene.concatenate(parts[::-1])
    scene = Scene(
        vertices=scene.vertices,
        faces=scene.faces,
        face_colors=scene.face_colors,
        background=(0.5, 0.5, 0.5, 1.0),
    )
    out = Reference().render(scene, ORTHO, SIZE)
    # C = 0.5 red + 0.5 * 0.25 green + 0.5 * 0.75 * 1.0 blue; nothing of the grey.
    np.testing.assert_allclose(out.image[5, 7], [0.5, 0.125, 0.375, 1.0], atol=1e-7)
    # Half-transparent blue at the back instead: grey shows through 0.5 * 0.75 * 0.5.
    scene = Scene(
        vertices=scene.vertices,
        faces=scene.faces,
        face_colors=np.array([(0, 0, 1, 0.5)] * 2 + [colours[1]] * 2 + [colours[0]] * 2),
        background=(0.5, 0.5, 0.5, 1.0),
    )
    out = Reference().render(scene, ORTHO, SIZE)
    t = 0.5 * 0.75 * 0.5
    np.testing.assert_allclose(
        out.image[20, 30], [0.5 + t * 0.5, 0.125 + t * 0.5, 0.1875 + t * 0.5, 1.0], atol=1e-7
    )


def test_coplanar_ties_break_by_face_index():
    first, second = (1.0, 0.0, 0.0, 0.5), (0.0, 0.0, 1.0, 0.5)
    scene = Scene.concatenate([quad(SQUARE * 2, first), quad(SQUARE * 2, second)])
    expected = [0.5, 0.0, 0.25, 0.75]  # face 0 (red) in front of face 2 (blue)
    for renderer in (Reference(), *(cls() for cls in TAICHI.values())):
        np.testing.assert_allclose(
            renderer.render(scene, ORTHO, SIZE).image[3, 3], expected, atol=1e-6
        )


def test_coverage_is_watertight():
    # A jittered grid mesh wider than the view, seen in perspective through the near
    # plane: every pixel centre is covered exactly once (no gaps, no double hits).
    n = 13
    rng = np.random.default_rng(7)
    u, v = np.meshgrid(np.linspace(-12, 12, n), np.linspace(-8, 8, n))
    u[1:-1, 1:-1] += rng.uniform(-0.6, 0.6, (n - 2, n - 2))
    v[1:-1, 1:-1] += rng.uniform(-0.4, 0.4, (n - 2, n - 2))
    # The plane z = 0.9 y: every view ray hits it; its top runs behind the camera.
    vertices = np.column_stack([u.ravel(), v.ravel(), 0.9 * v.ravel()])
    idx = np.arange(n * n).reshape(n, n)
    a, b, c, d = (
        idx[:-1, :-1].ravel(),
        idx[:-1, 1:].ravel(),
        idx[1:, 1:].ravel(),
        idx[1:, :-1].ravel(),
    )
    faces = np.concatenate([np.column_stack([a, b, c]), np.column_stack([a, c, d])])
    scene = Scene(vertices=vertices, faces=faces, face_colors=(0.5, 0.5, 0.5, 0.5))
    camera = Camera.look_at((0, 0, 3), (0, 0, 0), fov_y=70, near=0.3)
    for size in (SIZE, (37, 23), (64, 48)):
        tris = raster.setup(scene, camera, size)
        assert len(np.unique(tris.face)) < tris.n, "expected faces clipped by the near plane"
        out = Reference().render(scene, camera, size)
        np.testing.assert_array_equal(out.depth_complexity, np.ones(size, np.int32))
        assert FragmentList().render(scene, camera, size).depth_complexity.max() == 1


def grid_mesh(
    nx: int, ny: int, x: tuple, y: tuple, z: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    u, v = np.meshgrid(np.linspace(*x, nx), np.linspace(*y, ny))
    vertices = np.column_stack([u.ravel(), v.ravel(), np.full(u.size, z)])
    idx = np.arange(nx * ny).reshape(ny, nx)
    a, b, c, d = (
        idx[:-1, :-1].ravel(),
        idx[:-1, 1:].ravel(),
        idx[1:, 1:].ravel(),
        idx[1:, :-1].ravel(),
    )
    # Alternate the diagonal so both diagonal directions meet pixel centres.
    flip = (np.add.outer(np.arange(ny - 1), np.arange(nx - 1)) % 2).ravel().astype(bool)
    first = np.where(flip[:, None], np.column_stack([a, b, d]), np.column_stack([a, b, c]))
    second = np.where(flip[:, None], np.column_stack([b, c, d]), np.column_stack([a, c, d]))
    return vertices, np.concatenate([first, second])


def test_top_left_rule_on_edges_through_pixel_centres():
    # Orthographic, 0.1 world units per pixel: grid vertices sit on pixel centres, so
    # horizontal, vertical and diagonal edges run exactly through rows of centres.
    camera = Camera.look_at((0, 0, 5), (0, 0, 0), projection="orthographic", ortho_height=2.4)
    centre = 0.05  # pixel centres are at odd multiples of 0.05
    vertices, faces = grid_mesh(
        9,
        7,
        (-1.6 - 4 * 0.1 + centre, 1.6 + 4 * 0.1 - centre),
        (-1.2 - 3 * 0.1 + centre, 1.2 + 3 * 0.1 - centre),
    )
    scene = Scene(vertices=vertices, faces=faces, face_colors=(0.2, 0.4, 0.6, 0.5))
    for cls in (Reference, FragmentList, DepthPeeling):
        out = cls().render(scene, camera, SIZE)
        np.testing.assert_array_equal(out.depth_complexity, np.ones(SIZE, np.int32))
    # A triangle fan around one pixel centre: exactly one of the six owns it.
    angles = np.radians(np.arange(0, 360, 60) + 15)
    ring = np.column_stack([np.cos(angles), np.sin(angles), np.zeros(6)]) * 0.3
    fan = Scene(
        vertices=np.vstack([[centre, centre, 0], np.add(ring, (centre, centre, 0))]),
        faces=np.array([[0, 1 + k, 1 + (k + 1) % 6] for k in range(6)]),
        face_colors=(1, 1, 1, 0.5),
    )
    for cls in (Reference, FragmentList):
        complexity = cls().render(fan, camera, SIZE).depth_complexity
        assert complexity[11, 16] == 1 and complexity.max() == 1


def _ray_cast(scene: Scene, camera: Camera, size: tuple[int, int]):
    """Per pixel centre: (distance along the view axis, face, colour) of every hit,
    from float64 ray-triangle intersection in world space, plus a mask of pixel
    centres farther than a small margin from every triangle edge on screen."""
    height, width = size
    aspect = width / height
    view = camera.view_matrix()
    inverse = np.linalg.inv(camera.projection_matrix(aspect) @ view)
    jj, ii = np.mgrid[0:height, 0:width]
    x_ndc = (ii + 0.5) / width * 2 - 1
    y_ndc = 1 - (jj + 0.5) / height * 2
    near = np.stack([x_ndc, y_ndc, -np.ones_like(x_ndc), np.ones_like(x_ndc)], -1) @ inverse.T
    far = np.stack([x_ndc, y_ndc, np.ones_like(x_ndc), np.ones_like(x_ndc)], -1) @ inverse.T
    origin = near[..., :3] / near[..., 3:]
    direction = far[..., :3] / far[..., 3:] - origin
    hits = [[[] for _ in range(width)] for _ in range(height)]
    ambiguous = np.zeros(size, bool)
    corners = scene.vertices[scene.faces]
    colours = (
        scene.vertex_colors[scene.faces]
        if scene.vertex_colors is not None
        else np.repeat(scene.face_colors[:, None], 3, axis=1)
    )
    for f, (p0, p1, p2) in enumerate(corners):
        e1, e2 = p1 - p0, p2 - p0
        pvec = np.cross(direction, e2)
        det = pvec @ e1
        with np.errstate(divide="ignore", invalid="ignore"):
            tvec = origin - p0
            b1 = (tvec * pvec).sum(-1) / det
            qvec = np.cross(tvec, e1)
            b2 = (direction * qvec).sum(-1) / det
            t = (qvec @ e2) / det
        b0 = 1 - b1 - b2
        depth = -(
            np.concatenate([origin + t[..., None] * direction, np.ones((*size, 1))], -1) @ view.T
        )[..., 2]
        inside = (b0 >= 0) & (b1 >= 0) & (b2 >= 0) & (depth >= camera.near) & (depth <= camera.far)
        # Screen-space distance to the edges, in pixels, via barycentric gradients.
        margin = np.minimum.reduce([np.abs(b) for b in (b0, b1, b2)])
        step = np.max(
            [np.abs(np.diff(b, axis=a, append=np.nan)) for b in (b0, b1, b2) for a in (0, 1)],
            axis=0,
        )
        with np.errstate(invalid="ignore"):
            ambiguous |= np.nan_to_num(margin < 0.05 * np.nan_to_num(step, nan=1.0), nan=True)
        for j, i in zip(*np.nonzero(inside), strict=True):
            weights = np.array([b0[j, i], b1[j, i], b2[j, i]])
            rgba = weights @ colours[f]
            hits[j][i].append((depth[j, i], f, rgba))
    return hits, ambiguous


@pytest.mark.parametrize(
    "name", ["stacked-perspective", "intersecting", "vertex-colours", "near-plane", "partial"]
)
def test_reference_matches_ray_casting(name, references):
    """World-space ray casting (float64, no rasterisation at all) gives the same
    pixels wherever the pixel centre is clearly inside or outside every triangle."""
    scene, camera = SCENES[name]
    hits, ambiguous = _ray_cast(scene, camera, SIZE)
    expected = np.zeros((*SIZE, 4))
    bg = scene.premultiplied_background()
    checked = 0
    for j in range(SIZE[0]):
        for i in range(SIZE[1]):
            if ambiguous[j, i]:
                continue
            colour, transmittance = np.zeros(4), 1.0
            for _, _, rgba in sorted(hits[j][i], key=lambda h: (h[0], h[1])):
                colour += transmittance * np.append(rgba[:3] * rgba[3], rgba[3])
                transmittance *= 1 - rgba[3]
            expected[j, i] = colour + transmittance * bg
            checked += 1
            assert len(hits[j][i]) == references[name].depth_complexity[j, i], (j, i)
    assert checked > 0.6 * SIZE[0] * SIZE[1]
    found = references[name].image.astype(np.float64)
    # Depth and colour planes come from the exact vertex positions (issue 17): only
    # coverage is snapped, and these pixels are clear of every edge.
    error = np.abs(found - expected)[~ambiguous].max()
    assert error < 1e-6, error


# ---------------------------------------------------------------- passes and stats


@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_pass_counts_match_theory(n):
    scene = stacked(n)
    assert DepthPeeling().render(scene, ORTHO, SIZE).stats.geometry_passes == n
    assert DualDepthPeeling().render(scene, ORTHO, SIZE).stats.geometry_passes == 1 + math.ceil(
        n / 2
    )
    for k in (1, 3, 4, 8):
        stats = MultiLayerDepthPeeling(k=k).render(scene, ORTHO, SIZE).stats
        assert stats.geometry_passes == math.ceil(n / k), (n, k)
    # Screen-parallel quads: every list arrives sorted and is resolved in the one pass.
    stats = FragmentList().render(scene, ORTHO, SIZE).stats
    assert stats.geometry_passes == 1 and stats.layers == n == stats.max_depth_complexity
    assert stats.fragments == n * SIZE[0] * SIZE[1]
    assert stats.notes["spilled_fragments"] == 0


def test_fragment_list_sorts_in_threads_and_spills_long_lists(references):
    """Short unsorted lists are sorted in the pixel's own array (one geometry pass);
    longer ones go through count -> prefix sum -> fill (a second pass), exactly."""
    scene, camera = SCENES["intersecting"]
    expected = references["intersecting"]
    local = FragmentList().render(scene, camera, SIZE)
    spilled = spilling_fragment_list().render(scene, camera, SIZE)
    assert local.stats.geometry_passes == 1 and local.stats.notes["spilled_fragments"] == 0
    assert spilled.stats.geometry_passes == 2
    assert 0 < spilled.stats.notes["spilled_fragments"] <= expected.stats.fragments
    for out in (local, spilled):
        np.testing.assert_array_equal(out.depth_complexity, expected.depth_complexity)
        np.testing.assert_allclose(out.image, expected.image, rtol=0, atol=1e-5)
    # Early stopping on the spilled path reports a true bound too.
    stopped = spilling_fragment_list(early_stop_transmittance=0.5).render(scene, camera, SIZE)
    error = np.abs(stopped.image - expected.image.astype(np.float64)).max()
    assert 0 < error <= stopped.stats.early_stop_error + 1e-6


@pytest.mark.parametrize("small_box", [0, None])
@pytest.mark.parametrize("name", [*SCENES, "random"])
def test_fragment_list_rows_per_thread_give_the_same_bits(name, small_box, monkeypatch):
    """The CPU resolve's threads take a bin's rows of 8 pixels one after the other,
    an 8x8 bin all at once while its lists fit ``BIN_KEYS`` keys; a GPU's take one
    row each.  Every split gives the same image, bit for bit, in 8x8 bins and
    (``SMALL_BOX`` 0) 16x16 ones, early stopping and spilling included."""
    from lamina.kernels.oit_fragments import BIN_KEYS
    from lamina.plugins.oit.renderers import binning, fragment_list
    from lamina.scene.procedural import random_triangles

    if small_box is not None:
        monkeypatch.setattr(binning, "SMALL_BOX", small_box)
    scene, camera = random_triangles(12_000, seed=4) if name == "random" else SCENES[name]
    size = (40, 56)
    renders = {}
    for rows in (1, 8):
        monkeypatch.setattr(fragment_list, "_THREAD_ROWS", rows)
        for params in ({}, {"early_stop_transmittance": 0.4}):
            for local in (64, 2):
                renderer = FragmentList(**params)
                renderer._local_keys = local
                out = renderer.render(scene, camera, size)
                assert out.stats.notes["bin_size"] == (16 if small_box == 0 else 8)
                renders.setdefault((local, *params), []).append(out)
    for outs in renders.values():
        for out in outs[1:]:
            np.testing.assert_array_equal(out.image, outs[0].image)
            np.testing.assert_array_equal(out.depth_complexity, outs[0].depth_complexity)
    if name == "random":
        # Bins whose lists fit BIN_KEYS keys, and bins that fall back to rows after part
        # of a walk (fewer fragments than 64 full lists, one list longer); with 2 keys
        # (local 2) most bins hold more fragments than 64 lists of 2 and skip the walk.
        depth = outs[0].depth_complexity.reshape(5, 8, 7, 8)
        longest, total = depth.max(axis=(1, 3)), depth.sum(axis=(1, 3))
        assert (longest <= BIN_KEYS).any()
        assert ((longest > BIN_KEYS) & (total <= 64 * BIN_KEYS)).any()
        assert ((longest > 2) & (total <= 64 * 2)).any() and (total > 64 * 2).any()


def test_empty_view_renders_background():
    scene = Scene(
        vertices=np.add(SQUARE, (10, 0, 0)),
        faces=QUAD_FACES,
        face_colors=(1, 0, 0, 1),
        background=(0.1, 0.2, 0.3, 0.5),
    )
    expected = np.broadcast_to(np.float32([0.05, 0.1, 0.15, 0.5]), (*SIZE, 4))
    for cls in (Reference, *TAICHI.values()):
        out = cls().render(scene, ORTHO, SIZE)
        np.testing.assert_allclose(out.image, expected, atol=1e-7)
        assert out.stats.fragments == 0 and out.depth_complexity.max() == 0


def test_renderers_pickle_without_their_buffers():
    import pickle

    scene, camera = SCENES["stacked"]
    renderer = MultiLayerDepthPeeling(k=2, max_fragments=4096)
    first = renderer.render(scene, camera, SIZE).image
    clone = pickle.loads(pickle.dumps(renderer))
    assert clone.k == 2 and clone.max_fragments == 4096
    assert clone._buffers == {} and clone._setup_buffers == {}
    np.testing.assert_array_equal(clone.render(scene, camera, SIZE).image, first)


def test_parameters_follow_the_shared_params_protocol():
    """get_params / set_params / repr are lamina.params.Parameterized's: set_params checks
    again (through __init__) and a changed renderer renders as a new one would."""
    renderer = MultiLayerDepthPeeling(k=2, arch="cpu")
    assert repr(renderer) == "MultiLayerDepthPeeling(arch='cpu', k=2)"
    assert repr(Reference()) == "Reference()"
    assert renderer.get_params() == {
        "arch": "cpu",
        "early_stop_transmittance": 0.0,
        "k": 2,
        "max_fragments": None,
    }
    with pytest.raises(lamina.InputError, match="k must be"):
        renderer.set_params(k=0)
    scene, camera = SCENES["stacked"]
    changed = renderer.set_params(k=3, max_fragments=4096).render(scene, camera, SIZE)
    fresh = MultiLayerDepthPeeling(k=3, max_fragments=4096, arch="cpu").render(scene, camera, SIZE)
    np.testing.assert_array_equal(changed.image, fresh.image)
    assert changed.stats.geometry_passes == fresh.stats.geometry_passes


def test_deterministic_and_input_untouched():
    scene, camera = SCENES["intersecting"]
    before = scene.vertices.copy()
    for cls in METHODS.values():
        first = cls().render(scene, camera, SIZE).image
        np.testing.assert_array_equal(first, cls().render(scene, camera, SIZE).image)
    np.testing.assert_array_equal(scene.vertices, before)


def test_pooled_buffers_never_carry_over_between_frames(monkeypatch):
    """A renderer keeps its buffers (the setup's, the bins', the pixels') for the next
    frame: frames of other scenes and sizes, in any order and from several threads at
    once, are bit for bit what a fresh renderer makes."""
    import threading

    from lamina.scene.procedural import random_triangles

    monkeypatch.setattr(raster, "_large_frames", 1)  # past the first frame: kernel setup
    frames = [
        (*random_triangles(30_000, seed=1), (40, 72)),  # setup kernel, 8x8 bins
        (*SCENES["intersecting"], SIZE),  # numpy setup, 16x16 bins
        (*random_triangles(20_000, seed=2, opacity=0.6), (56, 48)),  # fewer, smaller
    ]
    expected = [FragmentList(arch="cpu").render(*frame) for frame in frames]
    renderer = FragmentList(arch="cpu")
    for k in (0, 1, 2, 0, 2, 1, 0):
        out = renderer.render(*frames[k])
        np.testing.assert_array_equal(out.image, expected[k].image)
        np.testing.assert_array_equal(out.depth_complexity, expected[k].depth_complexity)
    results: dict[int, list] = {}

    def render_all(k: int) -> None:
        results[k] = [renderer.render(*frames[k]).image for _ in range(3)]

    threads = [threading.Thread(target=render_all, args=(k,)) for k in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for k, images in results.items():
        for image in images:
            np.testing.assert_array_equal(image, expected[k].image)


# ---------------------------------------------------------------- bounded memory


def test_fragment_list_tiles_exactly_under_a_tiny_budget():
    # Lists that do not fit a thread (one key here) are held in the global key buffer,
    # whose size the budget bounds.
    scene, camera = SCENES["intersecting"]
    size = (40, 72)  # several 16 x 16 tiles
    exact = FragmentList().render(scene, camera, size)
    untiled = spilling_fragment_list().render(scene, camera, size)
    spilled = untiled.stats.notes["spilled_fragments"]
    budget = 600  # far below the spilled fragments; one 16 x 16 tile spills up to 1280
    tiled = spilling_fragment_list(max_fragments=budget).render(scene, camera, size)
    assert spilled > 3 * budget
    assert tiled.stats.bound_hit and tiled.stats.tiles > 1
    assert tiled.stats.notes["batched_tiles"] > 0  # a tile alone is over budget: batches
    np.testing.assert_array_equal(tiled.depth_complexity, exact.depth_complexity)
    np.testing.assert_allclose(tiled.image, exact.image, rtol=0, atol=1e-6)
    # Never more keys held than the budget (the pooled key buffers' sizes).
    renderer = spilling_fragment_list(max_fragments=budget)
    renderer.render(scene, camera, size)
    held = {name: shape for name, (_, shape, _) in renderer._buffers.items()}
    assert held["keys"][0] <= budget and "kbuffer" not in held  # batches need no buffer
    # A budget that fits whole tiles but not the frame: regions of tiles, no batches,
    # the same image bit for bit.
    regions = spilling_fragment_list(max_fragments=1300).render(scene, camera, size)
    assert regions.stats.tiles > 1 and regions.stats.notes["batched_tiles"] == 0
    np.testing.assert_array_equal(regions.image, untiled.image)
    np.testing.assert_allclose(regions.image, exact.image, rtol=0, atol=1e-6)
    assert not untiled.stats.bound_hit and untiled.stats.tiles == 1


def test_multilayer_and_reference_respect_the_budget(references):
    scene, camera = SCENES["intersecting"]
    expected = references["intersecting"]
    tiled = MultiLayerDepthPeeling(k=8, max_fragments=1024).render(scene, camera, SIZE)
    assert tiled.stats.bound_hit and tiled.stats.notes["k"] == 4
    assert tiled.stats.tiles == 4  # one 16 x 16 tile (4 * 256 keys) at a time
    np.testing.assert_allclose(tiled.image, expected.image, rtol=0, atol=1e-5)
    banded = Reference(max_fragments=300).render(scene, camera, SIZE)
    assert banded.stats.tiles > 1 and banded.stats.bound_hit
    np.testing.assert_array_equal(banded.image, expected.image)


# ---------------------------------------------------------------- early stopping


@pytest.mark.parametrize("cls", [Reference, *METHODS.values()])
def test_early_stop_reports_a_true_error_bound(cls, references):
    scene, camera = SCENES["stacked"]
    exact = references["stacked"].image.astype(np.float64)
    out = cls(early_stop_transmittance=0.3).render(scene, camera, SIZE)
    bound = out.stats.early_stop_error
    assert bound is not None and 0 < bound < 0.3
    error = np.abs(out.image - exact).max()
    assert 0 < error <= bound + 1e-6
    assert out.stats.layers < 7


# ---------------------------------------------------------------- registry and bad input


def test_registered_with_tags():
    infos = {c.name: c for c in lamina.components("renderer") if c.plugin == "oit"}
    assert set(infos) == {*TAICHI, "reference"}
    for name in TAICHI:
        assert infos[name].tags.exact and infos[name].tags.deterministic and infos[name].tags.gpu
    renderer = lamina.create("renderer", "multilayer-depth-peeling", k=2)
    assert isinstance(renderer, MultiLayerDepthPeeling) and renderer.k == 2


@pytest.mark.parametrize(
    "cls, params",
    [
        (FragmentList, {"max_fragments": 10}),
        (FragmentList, {"max_fragments": 2.5}),
        (DepthPeeling, {"early_stop_transmittance": 1.0}),
        (DualDepthPeeling, {"early_stop_transmittance": -0.1}),
        (MultiLayerDepthPeeling, {"k": 0}),
        (MultiLayerDepthPeeling, {"k": True}),
        (FragmentList, {"arch": "metal"}),
        (Reference, {"max_fragments": -1}),
    ],
)
def test_bad_parameters(cls, params):
    with pytest.raises(lamina.InputError, match=next(iter(params))):
        cls(**params)


@pytest.mark.parametrize("size", [(0, 32), (24, -1), (10**6, 10), (24.0, 32), (24,), "24x32"])
def test_bad_size(size):
    scene, camera = SCENES["stacked"]
    for cls in (Reference, FragmentList):
        with pytest.raises(lamina.InputError, match="size"):
            cls().render(scene, camera, size)


def test_bad_scene_or_camera_type():
    scene, camera = SCENES["stacked"]
    with pytest.raises(lamina.InputError, match="scene"):
        FragmentList().render(scene.vertices, camera, SIZE)
    with pytest.raises(lamina.InputError, match="camera"):
        Reference().render(scene, None, SIZE)


@pytest.mark.parametrize("local", [1, 3, 5])
@pytest.mark.parametrize("stop", [0.0, 0.3])
def test_batched_lists_equal_the_unbudgeted_render(local, stop):
    """Tiles over the budget peel their lists in batches of ``local`` keys in each
    thread's own array (issue 17: the batched mode was 140x slower than unbudgeted)."""
    from lamina.scene.procedural import intersecting_quads

    scene, camera = intersecting_quads(12, seed=3)
    size = (32, 48)
    exact = FragmentList(early_stop_transmittance=stop).render(scene, camera, size)
    renderer = FragmentList(max_fragments=256, early_stop_transmittance=stop)
    renderer._local_keys = local
    batched = renderer.render(scene, camera, size)
    assert batched.stats.notes["batched_tiles"] > 0
    np.testing.assert_array_equal(batched.depth_complexity, exact.depth_complexity)
    np.testing.assert_allclose(batched.image, exact.image, rtol=0, atol=1e-6)
    if stop:
        assert batched.stats.early_stop_error <= stop
    else:
        expected = Reference().render(scene, camera, size)
        np.testing.assert_allclose(batched.image, expected.image, rtol=0, atol=1e-5)
